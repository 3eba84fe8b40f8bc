"""What the guardrail does with a scan report: flag records what is new, block names the first finding
(type, place, line, fingerprint; never the secret), the allow-list lets through by fingerprint or
by the file a tool result came from, and a recorded finding reads back. The two-phase scan (plan on
the loop, scan anywhere, finish on the loop) gives the one-call answer."""

from __future__ import annotations

import json
import random

from core.policy.guardrails import prepare_guardrails
from core.policy.schema import GuardrailAllow, Guardrails
from core.secrets.incremental import Where, finish_request, plan_request, scan_request, scan_texts
from core.secrets.origin import tool_result_path
from core.secrets.scan import SecretScanner
from core.secrets.seen import SeenBlocks
from core.secrets.verdict import MAX_RECORDED, describe_record, judge, parse_finding, place

SALT = b"verdict-test-salt-0123"
KEY = "ghp_" + "q7Xk2LmP9vRt4WzB8nYc3HdF6jS1aGe5uKo0"
AWS = "AKIA" + "Q7XK2LMP9VRT4WZB"
TABLE = prepare_guardrails(Guardrails())


def _body(*results: tuple[str, str, str]) -> dict[str, object]:
    """A prompt, then one Read (id, path) and its result (text) per item."""
    messages: list[dict[str, object]] = [{"role": "user", "content": "fix the config loader"}]
    for tool_id, path, text in results:
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": f"reading {KEY}", "signature": "sig"},
            {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": path}}]})
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": text}]})
    return {"system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1;"}], "messages": messages}


def _scan(body: dict[str, object], seen: SeenBlocks | None = None, session: str | None = "s"):  # type: ignore[no-untyped-def]
    return scan_request(SecretScanner(SALT), seen if seen is not None else SeenBlocks(), session, body)


def test_flag_records_new_findings_only_and_never_the_secret() -> None:
    seen: SeenBlocks = SeenBlocks()
    body = _body(("t1", "/r/app.py", f"TOKEN = '{KEY}'\n"))
    verdict = judge(_scan(body, seen), TABLE, "flag", body)
    assert verdict.outcome == "flagged" and verdict.block_message is None
    (record,) = (json.loads(text) for text in verdict.recorded)
    assert record == {"rule": "github_token", "message": 2, "block": 0, "kind": "tool_result", "line": 1,
                      "offset": 9, "fingerprint": record["fingerprint"]}
    assert KEY not in "".join(verdict.recorded) and KEY[4:] not in "".join(verdict.recorded)
    again = judge(_scan(body, seen), TABLE, "flag", body)  # the same history next turn
    assert (again.outcome, again.recorded, again.new) == (None, (), ())


def test_block_names_type_place_line_and_fingerprint_then_the_rest() -> None:
    body = _body(("t1", "/r/app.py", f"x = 1\nTOKEN = '{KEY}'\n"), ("t2", "/r/aws.py", f"id = {AWS}\n"))
    verdict = judge(_scan(body), TABLE, "block", body)
    assert verdict.outcome == "blocked" and verdict.block_message is not None
    message = verdict.block_message
    assert message.startswith("Request blocked by the gateway's secret guardrail: it contains a GitHub token in a "
                              "tool result (messages[2].content[0]), line 2.")
    assert "Also found: an AWS access key id in a tool result (messages[4].content[0]), line 1." in message
    assert "Esc twice" in message and json.loads(verdict.recorded[0])["fingerprint"] in message
    assert KEY not in message and AWS not in message
    # a retried request: the findings are repeats, still blocking, still named
    seen: SeenBlocks = SeenBlocks()
    _scan(body, seen)
    retried = judge(_scan(body, seen), TABLE, "block", body)
    assert retried.outcome == "blocked" and retried.new == ()
    assert [json.loads(t).get("repeat") for t in retried.recorded] == [True, True]


def test_the_allow_list_by_fingerprint_and_by_the_tool_results_file() -> None:
    body = _body(("t1", "/r/tests/fixtures/creds.py", f"TOKEN = '{KEY}'\n"), ("t2", "/r/src/aws.py", f"{AWS}\n"))
    fingerprint = json.loads(judge(_scan(body), TABLE, "flag", body).recorded[1])["fingerprint"]
    table = prepare_guardrails(Guardrails(allow=GuardrailAllow(fingerprints=(fingerprint,),
                                                               paths=("*/tests/fixtures/*",))))
    verdict = judge(_scan(body), table, "block", body)
    assert (verdict.outcome, verdict.block_message, verdict.allowed) == ("allowed", None, 2)
    assert [json.loads(t)["allowed"] for t in verdict.recorded] == ["path", "fingerprint"]


def test_the_file_of_a_tool_result_comes_from_its_tool_call() -> None:
    body = _body(("t1", "/r/a.py", "x"), ("t2", "/r/b.py", "y"))
    assert tool_result_path(body, Where(4, 0, None, "tool_result")) == "/r/b.py"
    assert tool_result_path(body, Where(2, 0, None, "tool_result")) == "/r/a.py"
    assert tool_result_path(body, Where(0, 0, None, "text")) is None
    assert tool_result_path(body, Where(40, 0, None, "tool_result")) is None
    body["messages"][1]["content"][1]["input"] = {"command": "cat a.py"}  # type: ignore[index]
    assert tool_result_path(body, Where(2, 0, None, "tool_result")) is None


def test_many_findings_are_capped_on_the_turn_and_all_counted() -> None:
    rng = random.Random(21)
    results = [(f"t{n}", f"/r/{n}.py", "\n".join("AKIA" + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ234567", k=16))
                                                 for _ in range(60))) for n in range(2)]
    body = _body(*results)
    verdict = judge(_scan(body), TABLE, "flag", body)
    assert len(verdict.recorded) == MAX_RECORDED and len(verdict.new) == 120


def test_places_in_words_and_recorded_findings_read_back() -> None:
    assert place(Where(-1, 2, None, "system")) == "the system prompt (system[2])"
    assert place(Where(3, 1, 0, "tool_result")) == "a tool result (messages[3].content[1].content[0])"
    record = parse_finding('{"rule":"jwt","message":3,"block":1,"kind":"text","line":7,"fingerprint":"x"}')
    assert record is not None and describe_record(record) == "a signed JSON Web Token in a text block " \
        "(messages[3].content[1]), line 7"
    assert parse_finding("not json") is None and parse_finding('["rule"]') is None
    assert describe_record({"rule": "jwt", "message": "3"}) == "a signed JSON Web Token"


def test_planning_and_finishing_around_a_scan_elsewhere_gives_the_same_report() -> None:
    body = _body(("t1", "/r/a.py", f"TOKEN = '{KEY}'\n"), ("t2", "/r/a.py", f"TOKEN = '{KEY}'\n"))
    seen: SeenBlocks = SeenBlocks()
    plan = plan_request(seen, "s", body)
    assert len(plan.to_scan) == 2  # the prompt and one tool result: the identical second one is not scanned twice
    report = finish_request(seen, plan, scan_texts(SecretScanner(SALT), plan.to_scan))
    assert report == scan_request(SecretScanner(SALT), SeenBlocks(), "s", body)
    assert [f.repeat for f in report.findings] == [False, True]

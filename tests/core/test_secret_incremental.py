"""Incremental scanning: a session pays once per block, findings come back with their location on
every request that carries them (marked as repeats), caps hold, and oversized blocks are counted."""

from __future__ import annotations

import pytest

from core.secrets.incremental import Where, scan_request
from core.secrets.scan import SecretScanner
from core.secrets.seen import SeenBlocks

SALT = b"test-salt-0123456789"
KEY = "ghp_" + "q7Xk2LmP9vRt4WzB8nYc3HdF6jS1aGe5uKo0"


def _turns(n: int, secret_at: int | None = None) -> dict[str, object]:
    """A Claude-Code-like history of ``n`` tool loops; the tool result of loop ``secret_at`` leaks KEY."""
    messages: list[dict[str, object]] = [{"role": "user", "content": [{"type": "text", "text": "fix the bug"}]}]
    for i in range(n):
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": f"look at file {i} {KEY}", "signature": "s"},
            {"type": "tool_use", "id": f"t{i}", "name": "Read", "input": {"file_path": f"f{i}.py"}}]})
        result = f"def f{i}():\n    return {i}\n" + (f"TOKEN={KEY}\n" if i == secret_at else "")
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}",
                                                      "content": result}]})
    return {"system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"},
                       {"type": "text", "text": "You are Claude Code."}], "messages": messages}


def test_each_turn_scans_only_new_blocks() -> None:
    scanner, seen = SecretScanner(SALT), SeenBlocks[tuple]()  # type: ignore[type-arg]
    first = scan_request(scanner, seen, "s1", _turns(3))
    assert (first.blocks, first.blocks_scanned) == (5, 5)  # system, prompt, three tool results
    second = scan_request(scanner, seen, "s1", _turns(4))
    assert (second.blocks, second.blocks_scanned) == (6, 1)
    assert second.chars_scanned == len("def f3():\n    return 3\n")
    # another session pays for its own blocks
    assert scan_request(scanner, seen, "s2", _turns(4)).blocks_scanned == 6


def test_a_finding_is_new_once_then_a_repeat_with_its_location() -> None:
    scanner, seen = SecretScanner(SALT), SeenBlocks[tuple]()  # type: ignore[type-arg]
    assert scan_request(scanner, seen, "s", _turns(2)).findings == ()
    leaked = scan_request(scanner, seen, "s", _turns(3, secret_at=2))
    (finding,) = leaked.findings
    assert finding.rule == "github_token" and not finding.repeat
    assert finding.where == Where(message_index=6, block_index=0, part_index=None, kind="tool_result")
    assert (finding.offset, finding.line) == (len("def f2():\n    return 2\nTOKEN="), 3)
    later = scan_request(scanner, seen, "s", _turns(5, secret_at=2))
    assert [(f.where.message_index, f.repeat, f.fingerprint) for f in later.findings] == [
        (6, True, finding.fingerprint)]
    assert later.new_findings == ()


def test_thinking_blocks_are_never_scanned() -> None:
    # KEY sits in every thinking block of _turns: nothing is found without a tool result leaking it
    report = scan_request(SecretScanner(SALT), SeenBlocks(), None, _turns(4))
    assert report.findings == ()


def test_without_a_session_everything_is_scanned_and_nothing_remembered() -> None:
    scanner, seen = SecretScanner(SALT), SeenBlocks[tuple]()  # type: ignore[type-arg]
    for _ in range(2):
        report = scan_request(scanner, seen, None, _turns(3, secret_at=1))
        assert report.blocks_scanned == 5 and [f.repeat for f in report.findings] == [False]
    assert len(seen) == 0


def test_oversized_blocks_are_counted_not_scanned() -> None:
    body = {"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "x" * 5000 + KEY},
        {"type": "text", "text": KEY},
        {"type": "image", "source": {"type": "base64", "data": "iVBOR"}}]}]}
    seen = SeenBlocks[tuple]()  # type: ignore[type-arg]
    for _ in range(2):  # reported on every request that carries it, never remembered as clean
        report = scan_request(SecretScanner(SALT), seen, "s", body, max_block_chars=4096)
        assert [(u.where.block_index, u.reason, u.chars) for u in report.unscanned] == [
            (0, "too_large", 5000 + len(KEY)), (2, "binary", 0)]
        assert [f.where.block_index for f in report.findings] == [1]


def test_session_and_block_caps_evict_least_recently_used() -> None:
    seen = SeenBlocks[int](max_sessions=2, max_blocks_per_session=3)
    a = seen.session("a")
    for i in range(5):
        seen.remember(a, (i, i), i)
    assert list(a) == [(2, 2), (3, 3), (4, 4)] and seen.evicted_blocks == 2
    assert seen.lookup(a, (2, 2)) == (True, 2)  # touching it keeps it
    seen.remember(a, (5, 5), 5)
    assert list(a) == [(4, 4), (2, 2), (5, 5)]
    seen.session("b")
    seen.session("a")  # a is now the most recent
    seen.session("c")  # evicts b
    assert len(seen) == 2 and seen.evicted_sessions == 1
    assert seen.lookup(seen.session("a"), (5, 5)) == (True, 5)
    assert seen.lookup(seen.session("b"), (5, 5)) == (False, None)  # b was forgotten
    assert seen.block_count() <= 2 * 3


def test_forgotten_blocks_are_scanned_again_never_missed() -> None:
    scanner = SecretScanner(SALT)
    seen = SeenBlocks[tuple](max_sessions=1, max_blocks_per_session=1)  # type: ignore[type-arg]
    scan_request(scanner, seen, "s", _turns(2, secret_at=0))
    scan_request(scanner, seen, "other", _turns(1))  # evicts "s"
    again = scan_request(scanner, seen, "s", _turns(2, secret_at=0))
    assert [f.repeat for f in again.findings] == [False]


def test_caps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SeenBlocks(max_sessions=0)

"""What the guardrail does with a request's scan report, under the action the policy gives it. Pure.

- ``flag``: the request goes on unchanged; the findings new to the session are recorded on the
  turn (span attributes, the Findings page) and counted.
- ``block``: if any finding is not allowed, the request is answered with a 400 naming the first
  finding's type and place (never the secret), so Claude Code shows the developer what to remove.
- The allow-list lets a finding through by its fingerprint, or by the file its tool result came
  from (core/secrets/origin.py); allowed findings are recorded as such, never blocked.

A finding on the turn is one compact JSON object (a span attribute's string, a JSON array item in
the store): rule, where (message, block, part, kind), line and offset in that block, fingerprint,
and whether it was seen before in the session or allowed. Never the secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.policy.guardrails import GuardrailTable
from core.secrets.blocks import SYSTEM
from core.secrets.incremental import LocatedFinding, ScanReport, Where
from core.secrets.origin import tool_result_path
from core.secrets.rules import RULES

Outcome = Literal["blocked", "flagged", "allowed", "unscanned"]
MAX_RECORDED = 32  # findings kept on one turn; the counters count every one
_LABELS = {rule.id: rule.label for rule in RULES}
_KIND_WORDS = {"text": "a text block", "tool_result": "a tool result", "document": "a document",
               "search_result": "a search result", "system": "a system message"}


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome | None  # None: nothing worth recording (clean, or only findings recorded before)
    recorded: tuple[str, ...]  # the findings for the turn, encoded (finding_json)
    new: tuple[LocatedFinding, ...]  # findings new to the session and not allowed: what is counted
    allowed: int  # findings let through by the allow-list
    too_large: int  # blocks not scanned for their size
    block_message: str | None  # set when the request must not be forwarded


def finding_json(finding: LocatedFinding, allowed: str | None = None) -> str:
    where = finding.where
    record: dict[str, Any] = {"rule": finding.rule, "message": where.message_index, "block": where.block_index}
    if where.part_index is not None:
        record["part"] = where.part_index
    record.update(kind=where.kind, line=finding.line, offset=finding.offset, fingerprint=finding.fingerprint)
    if finding.repeat:
        record["repeat"] = True
    if allowed is not None:
        record["allowed"] = allowed
    return json.dumps(record, separators=(",", ":"))


def parse_finding(text: str) -> dict[str, Any] | None:
    """A recorded finding back as a dict (None for anything that is not one: ingest stores what a
    proxy sent, and a reader must not trust its shape)."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("rule"), str):
        return None
    return record


def place(where: Where) -> str:
    """Where a finding is, in words and as the request's own path: 'a tool result
    (messages[6].content[0])'."""
    if where.message_index == SYSTEM:
        path = f"system[{where.block_index}]"
        words = "the system prompt"
    else:
        path = f"messages[{where.message_index}].content[{where.block_index}]"
        words = _KIND_WORDS.get(where.kind, where.kind)
    if where.part_index is not None:
        path += f".content[{where.part_index}]"
    return f"{words} ({path})"


def describe(finding: LocatedFinding) -> str:
    return f"{_LABELS.get(finding.rule, finding.rule)} in {place(finding.where)}, line {finding.line}"


def describe_record(record: Mapping[str, Any]) -> str:
    """:func:`describe` of a recorded finding (parse_finding's dict), as far as its fields allow."""
    label = _LABELS.get(str(record.get("rule")), str(record.get("rule")))
    message, block, part = record.get("message"), record.get("block"), record.get("part")
    if not isinstance(message, int) or not isinstance(block, int):
        return label
    where = Where(message, block, part if isinstance(part, int) else None, str(record.get("kind") or ""))
    line = record.get("line")
    return f"{label} in {place(where)}" + (f", line {line}" if isinstance(line, int) else "")


def block_message(blocking: Sequence[LocatedFinding]) -> str:
    first, rest = blocking[0], blocking[1:]
    more = ""
    if rest:
        others = "; ".join(describe(f) for f in rest[:3]) + ("; …" if len(rest) > 3 else "")
        more = f" Also found: {others}."
    return (f"Request blocked by the gateway's secret guardrail: it contains {describe(first)}.{more} Remove it "
            "from the conversation (press Esc twice to rewind, or /clear) and try again. Nothing was sent to the "
            f"model. Fingerprint {first.fingerprint}: if this is not a secret, an admin can allow-list it.")


def _allowed_by(table: GuardrailTable, body: Mapping[str, object], finding: LocatedFinding) -> str | None:
    if table.allows_fingerprint(finding.fingerprint):
        return "fingerprint"
    if table.path_regex is not None and table.allows_path(tool_result_path(body, finding.where)):
        return "path"
    return None


def judge(report: ScanReport, table: GuardrailTable, action: Literal["flag", "block"],
          body: Mapping[str, object]) -> Verdict:
    recorded: list[str] = []
    new: list[LocatedFinding] = []
    blocking: list[LocatedFinding] = []
    allowed = 0
    for finding in report.findings:
        why = _allowed_by(table, body, finding)
        if why is not None:
            allowed += 1
            if not finding.repeat:
                recorded.append(finding_json(finding, why))
            continue
        blocking.append(finding)
        if not finding.repeat:
            new.append(finding)
        if not finding.repeat or action == "block":  # a block names every finding that caused it
            recorded.append(finding_json(finding))
    too_large = sum(1 for item in report.unscanned if item.reason == "too_large")
    message = block_message(blocking) if blocking and action == "block" else None
    outcome: Outcome | None
    if message is not None:
        outcome = "blocked"
    elif new:
        outcome = "flagged"
    elif too_large:
        outcome = "unscanned"
    elif recorded:
        outcome = "allowed"
    else:
        outcome = None
    return Verdict(outcome, tuple(recorded[:MAX_RECORDED]), tuple(new), allowed, too_large, message)

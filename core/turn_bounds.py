"""What a turn must look like to be stored: bounds that keep one sender's garbage or malice from
becoming someone's bill, an IPS weight of 10^12, a month finance already closed, or a 900 KB name
that every dashboard query drags along.

Pure: the caller says when "now" is and which months are closed. Ingest rejects a turn that
breaks a bound (per item, with the reason); the proxy and `switchyard keys create` use the same
identity limit, so nothing they produce is refused here for its length.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from core.spans import Turn

MAX_IDENTITY_CHARS = 256  # developer, team, repo, session, model, … ids
MAX_MESSAGE_CHARS = 4096  # an error message
MAX_LIST_ITEMS = 4096  # tool-use ids and names per turn
NS_PER_S = 1_000_000_000

# Every string field but the error message is an identifier or a short label.
IDENTITY_FIELDS = (
    "method", "path", "session_id", "developer", "team", "repo", "cli_version", "agent_id", "parent_agent_id",
    "request_class", "agent_type", "prompt_id", "requested_model", "served_model", "response_id",
    "upstream_request_id", "target", "region", "server_address", "policy_version", "rule", "stop_reason",
    "error_type", "budget_state", "guardrail",
)
LIST_FIELDS = ("fallback_hops", "dropped_capabilities", "tool_use_ids", "tool_use_names", "tool_result_ids",
               "tool_result_error_ids", "secret_findings")
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                "cache_creation_1h_tokens", "estimated_input_tokens")


def month_of_ns(unix_ns: int) -> str:
    """'YYYY-MM' (UTC) of a unix-nanosecond time: the unit finance closes."""
    moment = datetime.fromtimestamp(unix_ns // NS_PER_S, UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


@dataclass(frozen=True, slots=True)
class TurnBounds:
    max_age_s: float = 90 * 86400  # the retention window: older turns are refused (and purged)
    max_future_s: float = 300  # clock skew allowed into the future
    max_duration_s: float = 86400
    max_tokens_per_field: int = 2_000_000  # the largest context plus output a real model allows, with room
    min_propensity: float = 1e-4  # an IPS weight above 10^4 would let one turn decide a replay
    max_identity_chars: int = MAX_IDENTITY_CHARS

    def problem(self, turn: Turn, now_ns: int, closed_months: Collection[str] = ()) -> str | None:
        """Why ``turn`` may not be stored, or None."""
        return (self._time_problem(turn, now_ns, closed_months) or self._count_problem(turn)
                or self._text_problem(turn))

    def _time_problem(self, turn: Turn, now_ns: int, closed_months: Collection[str]) -> str | None:
        if turn.end_ns < turn.start_ns:
            return "end time is before start time"
        if turn.start_ns < now_ns - int(self.max_age_s * NS_PER_S):
            return f"starts more than {self.max_age_s / 86400:g} days ago (outside the retention window)"
        if turn.start_ns > now_ns + int(self.max_future_s * NS_PER_S):
            return f"starts more than {self.max_future_s:g} s in the future"
        if turn.end_ns - turn.start_ns > int(self.max_duration_s * NS_PER_S):
            return f"lasts longer than {self.max_duration_s:g} s"
        month = month_of_ns(turn.start_ns)
        if month in closed_months:
            return f"starts in {month}, a month closed for chargeback (an admin can reopen it)"
        return None

    def _count_problem(self, turn: Turn) -> str | None:
        for name in TOKEN_FIELDS:
            value = getattr(turn, name)
            if value is not None and not 0 <= value <= self.max_tokens_per_field:
                return f"{name} {value} is outside 0..{self.max_tokens_per_field}"
        if turn.propensity is not None and not self.min_propensity <= turn.propensity <= 1:
            return f"propensity {turn.propensity} is outside [{self.min_propensity:g}, 1]"
        return None

    def _text_problem(self, turn: Turn) -> str | None:
        for name in IDENTITY_FIELDS:
            value = getattr(turn, name)
            if value is not None and len(value) > self.max_identity_chars:
                return f"{name} is longer than {self.max_identity_chars} characters"
        if turn.error_message is not None and len(turn.error_message) > MAX_MESSAGE_CHARS:
            return f"error_message is longer than {MAX_MESSAGE_CHARS} characters"
        for name in LIST_FIELDS:
            items = getattr(turn, name)
            if len(items) > MAX_LIST_ITEMS:
                return f"{name} has more than {MAX_LIST_ITEMS} items"
            if any(len(item) > self.max_identity_chars for item in items):
                return f"an item of {name} is longer than {self.max_identity_chars} characters"
        return None


def identity_problem(name: str, value: str | None, limit: int = MAX_IDENTITY_CHARS) -> str | None:
    """Why ``value`` cannot name a developer/team/repo (for key creation), or None."""
    if value is None:
        return None
    if len(value) > limit:
        return f"{name} is longer than {limit} characters"
    if not value.strip():
        return f"{name} is empty"
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return f"{name} contains a control character"
    return None


def shortened(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, ending in a digest of the whole: two different long
    values stay different (a session id still groups its turns), and the cut shows."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{value[: limit - 14]}…~{digest}"


def within_bounds(turn: Turn, max_identity_chars: int = MAX_IDENTITY_CHARS) -> Turn:
    """``turn`` with every string and list cut to what ingest stores (a copy; ``turn`` itself when
    nothing needed cutting). The proxy applies it before export: ids and names a developer's request
    carries (session id, repo tag, hint headers, tool_result ids, the model asked for) are theirs to
    choose, and a turn ingest refused for their length would be spend nobody is billed for."""
    changes: dict[str, object] = {}
    for name in IDENTITY_FIELDS:
        value = getattr(turn, name)
        if value is not None and len(value) > max_identity_chars:
            changes[name] = shortened(value, max_identity_chars)
    if turn.error_message is not None and len(turn.error_message) > MAX_MESSAGE_CHARS:
        changes["error_message"] = shortened(turn.error_message, MAX_MESSAGE_CHARS)
    for name in LIST_FIELDS:
        items: tuple[str, ...] = getattr(turn, name)
        if len(items) > MAX_LIST_ITEMS or any(len(item) > max_identity_chars for item in items):
            kept = [shortened(item, max_identity_chars) for item in items[:MAX_LIST_ITEMS]]
            if len(items) > MAX_LIST_ITEMS:  # the cut shows as the last item
                kept[-1] = f"…~{len(items) - MAX_LIST_ITEMS + 1} more"
            changes[name] = tuple(kept)
    return dataclasses.replace(turn, **changes) if changes else turn  # type: ignore[arg-type]

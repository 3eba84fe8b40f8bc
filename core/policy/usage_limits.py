"""A budget as Claude Code shows it: the ``anthropic-ratelimit-unified-*`` headers of a successful
response, the 429 ``billing_error`` at the cap, and the body of ``GET /api/oauth/usage``.

The names and meanings are the ones the CLI reads (Claude Code 2.1.x, read off its bundle; see
docs/identity.md): ``-status`` (``allowed`` / ``allowed_warning`` / ``rejected``), ``-reset`` and
``-overage-reset`` (Unix seconds), ``-representative-claim: overage`` with ``-overage-status``,
``-overage-utilization`` (a fraction, kept below 1 until the cap) and
``-overage-surpassed-threshold`` (``0.75`` or ``0.95``, strictly passed: what makes the CLI print
"You've used NN% …"). At the cap the claim and overage status are left off, so the CLI prints the
429's message as it is. Pure: the proxy passes the verdict and the time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal

from .budgets import BudgetVerdict
from .schema import PERIOD_ADJECTIVES

Headers = list[tuple[bytes, bytes]]
PREFIX = b"anthropic-ratelimit-"
THRESHOLDS = (Decimal("0.95"), Decimal("0.75"))  # highest first: the one passed is reported
PERIOD_WORDS = PERIOD_ADJECTIVES
_BELOW_CAP = Decimal("0.99")
_CENT = Decimal("0.01")


def shown_utilization(verdict: BudgetVerdict) -> Decimal:
    """Utilization as the headers say it: two decimals, never 1 before the cap (the CLI reads 1 as
    "reached"), exactly 1 at it."""
    if verdict.state == "hard" and verdict.action == "block":
        return Decimal(1)
    return min(verdict.utilization.quantize(_CENT, rounding=ROUND_FLOOR), _BELOW_CAP)


def _reset(verdict: BudgetVerdict) -> bytes:
    assert verdict.resets_at is not None
    return str(int(verdict.resets_at.timestamp())).encode()


def usage_headers(verdict: BudgetVerdict) -> Headers:
    """The headers of a successful response for a caller a budget applies to (its binding one)."""
    utilization = shown_utilization(verdict)
    passed = next((t for t in THRESHOLDS if verdict.utilization > t), None)
    status = b"allowed_warning" if passed is not None else b"allowed"
    reset = _reset(verdict)
    headers = [
        (b"anthropic-ratelimit-unified-status", status),
        (b"anthropic-ratelimit-unified-reset", reset),
        (b"anthropic-ratelimit-unified-representative-claim", b"overage"),
        (b"anthropic-ratelimit-unified-overage-status", status),
        (b"anthropic-ratelimit-unified-overage-reset", reset),
        (b"anthropic-ratelimit-unified-overage-utilization", str(utilization).encode()),
    ]
    if passed is not None:
        headers.append((b"anthropic-ratelimit-unified-overage-surpassed-threshold", str(passed).encode()))
    return headers


def _whose(verdict: BudgetVerdict) -> str:
    scope, name = verdict.scope, verdict.principal
    if scope == "developer":
        return "Your"
    if scope == "group":
        return f"Group {name}'s pooled"
    return f"{(scope or '').capitalize()} {name}'s"


def retry_after_s(verdict: BudgetVerdict, now: datetime) -> int:
    assert verdict.resets_at is not None
    return max(1, math.ceil((verdict.resets_at - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class CapRefusal:
    """The 429 ``billing_error`` for a turn at a budget's cap: its one-sentence message and headers."""

    message: str
    headers: Headers


def cap_refusal(verdict: BudgetVerdict, now: datetime) -> CapRefusal:
    assert verdict.budget is not None and verdict.resets_at is not None
    period = verdict.budget.cadence
    when = verdict.resets_at.strftime("%a %d %b %H:%M UTC")
    message = (f"{_whose(verdict)} {PERIOD_WORDS[period]} spend limit of ${verdict.hard_usd:.2f} is reached "
               f"(${verdict.spent:.2f} spent); it resets {when}, so wait until then or ask an admin to raise it.")
    reset = _reset(verdict)
    headers = [
        (b"retry-after", str(retry_after_s(verdict, now)).encode()),
        (b"x-should-retry", b"false"),
        (b"anthropic-ratelimit-unified-status", b"rejected"),
        (b"anthropic-ratelimit-unified-reset", reset),
        (b"anthropic-ratelimit-unified-overage-reset", reset),
        (b"anthropic-ratelimit-unified-overage-utilization", b"1"),
        (b"anthropic-ratelimit-unified-overage-surpassed-threshold", b"1"),
        (b"anthropic-ratelimit-unified-overage-period", PERIOD_WORDS[period].encode()),
        (b"anthropic-ratelimit-unified-overage-disabled-reason", b"org_spend_cap_reached"),
    ]
    if verdict.scope == "group":
        headers.append((b"anthropic-ratelimit-unified-overage-scope", b"group_pool"))
    return CapRefusal(message, headers)


def without_upstream_limits(headers: Sequence[tuple[bytes, bytes]]) -> Headers:
    """``headers`` without the upstream's own ``anthropic-ratelimit-*`` (they describe the provider
    account's limits, which would contradict the budget's)."""
    return [(name, value) for name, value in headers if not name.lower().startswith(PREFIX)]


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC as claude.ai writes it (``2026-12-01T00:00:00.000Z``): the client pairs it
    with the ``-overage-reset`` header to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _cents(usd: Decimal) -> int:
    return int((usd * 100).to_integral_value(rounding=ROUND_FLOOR))


def _severity(verdict: BudgetVerdict) -> str:
    if verdict.state == "hard" or verdict.utilization > THRESHOLDS[0]:
        return "critical"
    return "warning" if verdict.utilization > THRESHOLDS[1] else "normal"


def usage_document(verdicts: Sequence[BudgetVerdict], month_spent: Decimal) -> dict[str, object]:
    """The body of ``GET /api/oauth/usage``: amounts in cents of USD (as the CLI reads them). With
    budgets, ``extra_usage`` shows the binding one (``verdicts[0]``) and ``limits`` one row per
    budget; without, the caller's own spend this month and no limit (which the CLI does not show)."""
    if not verdicts:
        return {"extra_usage": {"is_enabled": True, "monthly_limit": None, "used_credits": _cents(month_spent),
                                "utilization": None, "currency": "USD"},
                "limits": []}
    binding = verdicts[0]
    rows = []
    for verdict in verdicts:
        assert verdict.budget is not None and verdict.resets_at is not None
        rows.append({"kind": "spend", "group": PERIOD_WORDS[verdict.budget.cadence],
                     "percent": int(shown_utilization(verdict) * 100),
                     "resets_at": _iso(verdict.resets_at),
                     "severity": _severity(verdict), "is_active": verdict is binding,
                     "budget": f"{verdict.scope} {verdict.principal}"})
    return {"extra_usage": {"is_enabled": True, "monthly_limit": _cents(binding.hard_usd),
                            "used_credits": _cents(binding.spent),
                            "utilization": int(shown_utilization(binding) * 100), "currency": "USD"},
            "limits": rows}

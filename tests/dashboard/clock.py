"""A clock for dashboard tests that seed turns some time before "now" and then read today's numbers:
run just after midnight UTC, those turns were yesterday's (a CI run at 01:13 UTC read "spend today"
as $0.00). The dashboard and the store are given the same clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def same_day_now(seeded_before: timedelta) -> datetime:
    """Now (naive UTC, as dashboard.context.utc_now), or, when turns seeded ``seeded_before`` ago
    would fall on yesterday, the earliest moment today at which they do not."""
    real = datetime.now(UTC).replace(tzinfo=None)
    midnight = real.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(real, midnight + seeded_before + timedelta(minutes=10))

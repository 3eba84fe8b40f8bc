"""The period a chargeback covers: a calendar month (``2026-11``) or a custom range of whole UTC
days (``2026-11-03`` to ``2026-11-17``, both days included). Pure.

Both come from people (a URL, a form, the command line), so each is checked and refused with a
sentence, never clamped: a range that ends before it starts, a date that is not one, a range
longer than MAX_RANGE_DAYS (a year: it bounds the rollup rows one request reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from store.balances import month_bounds

MAX_RANGE_DAYS = 366
MAX_PERIODS = 36  # months in one export
_EARLIEST, _LATEST = date(2000, 1, 1), date(2099, 12, 31)


class PeriodError(ValueError):
    """A period that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class Period:
    label: str  # "2026-11", or "2026-11-03..2026-11-17"
    start: datetime  # first instant, naive UTC
    end: datetime  # first instant after it
    month: str | None  # the calendar month, when the period is one

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def months(self) -> list[str]:
        """The calendar months the period touches, oldest first."""
        touched, day = [], self.first_day.replace(day=1)
        while day <= self.last_day:
            touched.append(f"{day:%Y-%m}")
            day = (day + timedelta(days=32)).replace(day=1)
        return touched


def month_period(month: str) -> Period:
    try:
        start, end = month_bounds(month)
    except ValueError as error:
        raise PeriodError(f"not a month: {month[:40]!r} (write YYYY-MM, e.g. 2026-11)") from error
    if not _EARLIEST <= start.date() <= _LATEST:
        raise PeriodError(f"{month} is outside {_EARLIEST:%Y} to {_LATEST:%Y}")
    return Period(month, start, end, month)


def _day(text: str, name: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{name} {text[:40]!r} is not a date: write YYYY-MM-DD, e.g. 2026-11-03") from None
    if not _EARLIEST <= day <= _LATEST:
        raise PeriodError(f"{name} {day} is outside {_EARLIEST:%Y} to {_LATEST:%Y}")
    return day


def range_period(first: str, last: str) -> Period:
    """The UTC days ``first`` to ``last``, both included (YYYY-MM-DD)."""
    start, end = _day(first, "from"), _day(last, "to")
    if end < start:
        raise PeriodError(f"the range ends ({end}) before it starts ({start}): make \"to\" the later day")
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise PeriodError(f"the range is {days} days long; at most {MAX_RANGE_DAYS} (export longer spans "
                          "a range at a time, or by months)")
    return Period(f"{start}..{end}", datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time()),
                  None)


def periods_from(months: list[str], first: str | None, last: str | None) -> list[Period]:
    """Months (one period each, as given) or one range (``first`` and ``last``), not both."""
    first, last = (first or "").strip() or None, (last or "").strip() or None
    if months and (first or last):
        raise PeriodError("give months or a range (from, to), not both")
    if first or last:
        if not (first and last):
            raise PeriodError("a range needs both ends: from and to (YYYY-MM-DD)")
        return [range_period(first, last)]
    if not months:
        raise PeriodError("give at least one month (YYYY-MM) or a range (from, to)")
    if len(months) > MAX_PERIODS:
        raise PeriodError(f"{len(months)} months asked for; at most {MAX_PERIODS} in one export")
    repeated = sorted({month for month in months if months.count(month) > 1})
    if repeated:
        raise PeriodError(f"{repeated[0][:40]} is asked for twice: each month once")
    return [month_period(month) for month in months]

"""The dashboard's global filters, read from the URL (``/?period=7d&team=platform&model=…``): a
period and any of team, developer, repo and model. They live in the query string, so a filtered
view is a link that can be shared and survives a reload, and the navigation carries them from
page to page.

The URL is anyone's to type: an unknown period or a value no stored name can have (too long,
control characters; the Sessions search's rules) is refused with a sentence saying why and that
filter is not applied; the page says so above its numbers, never silently. A name that simply matches nothing filters to
nothing, and the page shows zeros for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from dashboard.session_query import query_text

PERIODS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
                                 "90d": timedelta(days=90)}
PERIOD_WORDS = {"24h": "the last 24 hours", "7d": "the last 7 days", "30d": "the last 30 days",
                "90d": "the last 90 days"}
# the rollup's and the turns' grouping columns a page can be narrowed to ("model": the served model)
DIMENSIONS = ("team", "developer", "repo", "model")
FIELDS = ("period", *DIMENSIONS)


@dataclass(frozen=True, slots=True)
class Filters:
    period: str
    team: str | None = None
    developer: str | None = None
    repo: str | None = None
    model: str | None = None
    problems: tuple[str, ...] = field(default=())
    period_given: bool = False  # whether the URL named the period (else the page's default)

    def named(self) -> dict[str, str]:
        """The dimensions that narrow the page, e.g. {"team": "platform"} (the rollup's filter form)."""
        return {name: value for name in DIMENSIONS if (value := getattr(self, name)) is not None}

    def start(self, now: datetime) -> datetime:
        """The period's first hour: whole hours, like the rollup it is read from."""
        return (now - PERIODS[self.period]).replace(minute=0, second=0, microsecond=0)

    def query(self) -> dict[str, str]:
        """The URL parameters that reproduce these filters (the default period left out)."""
        return {**({"period": self.period} if self.period_given else {}), **self.named()}

    def search(self) -> str:
        """``?period=7d&team=…`` (percent-encoded), or "" with no filter."""
        asked = self.query()
        return f"?{urlencode(asked)}" if asked else ""

    def words(self) -> str:
        """"the last 7 days, team platform and model claude-opus-4-5" — what the numbers cover."""
        narrowed = [f"{name} {value}" for name, value in self.named().items()]
        said = PERIOD_WORDS[self.period]
        if narrowed:
            said += ", " + " and ".join(narrowed)
        return said


EVERYONE = Filters(period="30d")  # no filter: what a page shows when the URL asks nothing


def read_filters(query: Mapping[str, str], default_period: str = "30d") -> Filters:
    """The filters ``query`` asks for; ``default_period`` when it names none (or an unknown one)."""
    problems: list[str] = []
    asked = (query.get("period") or "").strip()
    period = default_period
    if asked in PERIODS:
        period = asked
    elif asked:
        problems.append(f"period {asked[:20]!r} is not one of {', '.join(PERIODS)}: showing {PERIOD_WORDS[period]}")
    names = {name: query_text(query, name, problems) for name in DIMENSIONS}
    return Filters(period=period, problems=tuple(problems), period_given=asked in PERIODS, **names)

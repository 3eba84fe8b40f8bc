"""The global filters: what a URL may ask (and the sentences for what it may not), the links that
carry them, and the reads they narrow, on SQLite and PostgreSQL: every turn read through a filter
belongs to it, and the rollup read through the same filter sums to the same turns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dashboard.filter_bar import carried, filter_choices
from dashboard.filters import EVERYONE, read_filters
from dashboard.reads import fallback_chains, recent_turns, turn_health
from store.queries import rollup_frame
from tests.dashboard.conftest import utc_now
from tests.dashboard.fleet import MODELS, seed_turns


def test_a_plain_url_filters_nothing() -> None:
    filters = read_filters({})
    assert filters == EVERYONE and filters.named() == {} and filters.search() == ""
    assert filters.words() == "the last 30 days"


def test_the_url_names_the_period_and_the_dimensions() -> None:
    asked = {"period": "7d", "team": " platform ", "model": "claude-opus-4-5", "other": "kept out"}
    filters = read_filters(asked, "24h")
    assert (filters.period, filters.team, filters.model, filters.developer) == ("7d", "platform", "claude-opus-4-5",
                                                                               None)
    assert filters.named() == {"team": "platform", "model": "claude-opus-4-5"}
    assert filters.search() == "?period=7d&team=platform&model=claude-opus-4-5"
    assert filters.words() == "the last 7 days, team platform and model claude-opus-4-5"
    assert read_filters({}, "24h").period == "24h" and read_filters({}, "24h").search() == ""


@pytest.mark.parametrize(("query", "problem"), [
    ({"period": "forever"}, "period 'forever' is not one of 24h, 7d, 30d, 90d: showing the last 30 days"),
    ({"developer": "d" * 257}, "developer is longer than 256 characters: no stored developer is"),
    ({"repo": "a\nb"}, "repo holds control characters"),
    ({"team": "t\x7f"}, "team holds control characters"),
])
def test_what_no_stored_name_can_be_is_refused_in_words(query: dict[str, str], problem: str) -> None:
    filters = read_filters(query)
    assert filters.problems == (problem,)
    assert filters.named() == {} and filters.period == "30d"  # refused, not clamped into something else


def test_the_navigation_carries_only_the_filters() -> None:
    assert carried("?team=a&session=s1&period=7d&trace=x") == "?team=a&period=7d"
    assert carried("?session=s1") == "" and carried(None) == ""
    assert carried("?team=a%26b") == "?team=a%26b"  # encoded again, never spliced raw


def test_reads_narrowed_by_the_filters_hold_only_their_turns(db_engine: Engine) -> None:
    now = utc_now()
    seed_turns(db_engine, now, count=240)  # dev{i%5}, team{i%3}, repo{i%4}, MODELS[i%3]
    since = now - timedelta(days=90)
    def seeded(index: int) -> dict[str, str]:
        return {"developer": f"dev{index % 5}", "team": f"team{index % 3}", "repo": f"repo{index % 4}",
                "model": MODELS[index % 3]}

    for named in ({"team": "team1"}, {"developer": "dev2", "repo": "repo0"}, {"model": MODELS[2]}):
        narrowed = recent_turns(db_engine, limit=500, named=named)
        expected = sum(1 for i in range(240) if named.items() <= seeded(i).items())
        assert 0 < narrowed.height == expected < 240, named
        for name, value in named.items():
            column = {"model": "served_model"}.get(name, name)
            if column in narrowed.columns:  # the turn list shows no team column
                assert set(narrowed[column]) == {value}
        assert turn_health(db_engine, since, named=named).height == narrowed.height
        rolled = rollup_frame(db_engine, since.replace(minute=0, second=0, microsecond=0), None, by=(), **named)
        assert rolled["requests"][0] == narrowed.height
    chains = fallback_chains(db_engine, since, named={"team": "team1"})
    assert chains["turns"].sum() == sum(1 for i in range(240) if i % 11 == 0 and i % 3 == 1)
    assert recent_turns(db_engine, named={"team": "nobody"}).is_empty()


def test_the_choices_are_the_busiest_names_of_the_last_90_days(db_engine: Engine, settings: object) -> None:
    from core.pricing import builtin_price_table
    from dashboard.context import DashboardContext

    now = utc_now()
    seed_turns(db_engine, now, count=120)
    ctx = DashboardContext(db_engine, settings, builtin_price_table(), lambda: now)  # type: ignore[arg-type]
    choices = filter_choices(ctx)
    assert sorted(choices["team"]) == ["team0", "team1", "team2"]
    assert sorted(choices["developer"]) == [f"dev{n}" for n in range(5)]
    assert set(choices["model"]) == set(MODELS)
    assert choices["repo"][0] in {"repo0", "repo1"}  # 120 turns over 4 repos: repo0 and repo1 have one more

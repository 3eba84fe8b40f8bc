"""The global filters in a real browser (headless Debian Chromium): choosing a team on the Overview
changes its numbers to that team's, puts the filter in the URL, survives a reload, travels with the
navigation to Routes (whose turn list then holds only that team's turns), and a URL asking for
something no stored name can be says so instead of silently showing everything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine, func, select

from dashboard.app import create_app
from dashboard.components import cents
from dashboard.settings import DashboardSettings
from ingest.local import LocalIngest, fixed_clock
from store.engine import make_engine
from store.schema import turns
from store.testing import migrated_sqlite_url, sample_turn
from tests.dashboard.browser import chromium, sign_in_page
from tests.dashboard.clock import same_day_now
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.serving import serve_wsgi

TEAMS = {"alpha": ("ann", "claude-opus-4-5", 6), "beta": ("bob", "claude-haiku-4-5", 9)}


def _store(directory: Path, now: datetime) -> Engine:
    engine = make_engine(migrated_sqlite_url(directory))
    started = int((now - timedelta(hours=2)).replace(tzinfo=UTC).timestamp() * 1e9)
    rows, index = [], 0
    for team, (developer, model, count) in TEAMS.items():
        for _ in range(count):
            at = started + index * 10_000_000_000
            rows.append(sample_turn(index, team=team, developer=developer, served_model=model, requested_model=model,
                                    start_ns=at, end_ns=at + 1_000_000_000, session_id=f"{team}-session"))
            index += 1
    LocalIngest(engine, clock=fixed_clock(now)).write(rows, [])
    return engine


def _spend(engine: Engine, team: str | None = None) -> str:
    query = select(func.sum(turns.c.cost_usd))
    if team is not None:
        query = query.where(turns.c.team == team)
    with engine.connect() as connection:
        return cents(Decimal(connection.execute(query).scalar_one()))


@pytest.fixture(scope="module")
def now() -> datetime:
    """The dashboard's and the store's clock (tests.dashboard.clock): the turns are stored two hours
    before it, and the Overview counts today's spend."""
    return same_day_now(timedelta(hours=2, minutes=5))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, now: datetime) -> Iterator[Engine]:
    engine = _store(tmp_path_factory.mktemp("filters"), now)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def served(settings: DashboardSettings, store: Engine, now: datetime) -> Iterator[str]:
    with serve_wsgi(create_app(settings, store, clock=lambda: now).server) as url:
        yield url


@pytest.fixture
def page(served: str) -> Iterator[Page]:
    with chromium() as browser:
        yield _signed_in(browser, served)


def _signed_in(browser: Browser, url: str) -> Page:
    opened = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    opened.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)
    sign_in_page(opened, url, "ada", PASSWORDS["ada"])
    return opened


def _choose(page: Page, name: str, value: str) -> None:
    page.select_option(f"#filter-{name}", value)
    page.click("#filters-apply")


def test_a_team_filter_changes_the_numbers_stays_in_the_url_and_travels(page: Page, served: str,
                                                                        store: Engine) -> None:
    everyone, alpha = _spend(store), _spend(store, "alpha")
    assert everyone != alpha  # the test can fail: the filter must change the number
    page.goto(f"{served}/")
    expect(page.locator("#kpi-spend-today")).to_have_text(everyone)
    expect(page.locator("#filters-words")).to_contain_text("everyone")

    _choose(page, "team", "alpha")
    page.wait_for_url("**/?*team=alpha*")
    expect(page.locator("#kpi-spend-today")).to_have_text(alpha)
    expect(page.locator("#filters-words")).to_contain_text("team alpha")

    page.reload()
    expect(page.locator("#kpi-spend-today")).to_have_text(alpha)

    routes = page.locator("#nav-routes")
    expect(routes).to_have_attribute("href", re.compile(r"^/routes\?.*team=alpha"))
    routes.click()
    expect(page.locator("#filters-words")).to_contain_text("team alpha")
    page.wait_for_selector("#routes-turns .ag-row")
    developers = page.locator("#routes-turns .ag-row [col-id=developer]").all_inner_texts()
    assert developers and set(developers) == {"ann"}, developers

    # the period is the Routes page's own control, kept with the team
    _choose(page, "period", "30d")
    page.wait_for_url("**/routes?*period=30d*")
    assert "team=alpha" in page.url
    expect(page.locator("#filters-words")).to_contain_text("the last 30 days, team alpha")

    page.click("#filters-clear")
    expect(page.locator("#filters-words")).to_contain_text("everyone")


def test_a_filter_nothing_can_match_is_refused_in_words(page: Page, served: str) -> None:
    page.goto(f"{served}/routes?period=forever&developer=" + "x" * 600)
    problems = page.locator("#filters-problems")
    expect(problems).to_contain_text("period 'forever' is not one of 24h, 7d, 30d, 90d")
    expect(problems).to_contain_text("developer is longer than")
    expect(page.locator("#filters-words")).to_contain_text("everyone")

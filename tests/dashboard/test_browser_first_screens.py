"""The first screens of a new install in a real browser (headless Debian Chromium): an empty store,
and a store holding one turn (written through ingest's pipeline a few minutes ago, as after
`switchyard up` and one Claude Code request). Every page renders; every axis plotly draws spans a
sensible window (no "23:59:59.9996 … 00:00:00.0004" from ranging one instant), count axes tick in
whole numbers, and the Overview says "no data yet" or draws its one turn, its cache-hit ratio "–"
rather than 0 %. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from ingest.local import LocalIngest, fixed_clock
from store.engine import make_engine
from store.testing import migrated_sqlite_url, sample_turn
from tests.dashboard.browser import chromium, drawn_marks, plot_axes, screenshot, sign_in_page
from tests.dashboard.clock import same_day_now
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.serving import serve_wsgi

PAGES = ("/", "/routes", "/attribution", "/sessions", "/failures", "/policies", "/proposals", "/chargeback",
         "/keys")
OVERVIEW = ("overview-spend", "overview-tokens", "overview-cache", "overview-latency", "overview-savings")
# axes that count things (tokens, turns, calls): their ticks must be whole numbers
COUNT_AXES = {("overview-tokens", "yaxis"), ("routes-fallbacks", "xaxis"), ("sessions-tools", "xaxis")}
_FRACTIONAL_SECONDS = re.compile(r"\d:\d\d\.\d")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T")[:26])


def _store(directory: Path, turns: int, now: datetime) -> Engine:
    engine = make_engine(migrated_sqlite_url(directory))
    if turns:
        started = int((now - timedelta(minutes=3)).replace(tzinfo=UTC).timestamp() * 1e9)
        # a first turn of a session: it writes the prompt cache and reads nothing from it
        first = sample_turn(0, start_ns=started, end_ns=started + 2_400_000_000, ttfb_ms=410.0, cache_read_tokens=0,
                            cache_creation_tokens=18_000, session_id="first-session")
        LocalIngest(engine, clock=fixed_clock(now)).write([first], [])
    return engine


@contextmanager
def _served(settings: DashboardSettings, directory: Path, turns: int) -> Iterator[str]:
    now = same_day_now(timedelta(minutes=3))  # the store's and the dashboard's: the turn is today's
    engine = _store(directory, turns, now)
    with serve_wsgi(create_app(settings, engine, clock=lambda: now).server) as url:
        yield url
    engine.dispose()


@pytest.fixture(scope="module")
def empty_store(settings: DashboardSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _served(settings, tmp_path_factory.mktemp("empty-store"), 0) as url:
        yield url


@pytest.fixture(scope="module")
def one_turn_store(settings: DashboardSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _served(settings, tmp_path_factory.mktemp("one-turn-store"), 1) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)
    yield opened
    context.close()


def _graph_ids(page: Page) -> list[str]:
    page.wait_for_selector("#page .page")
    return list(page.evaluate("() => Array.from(document.querySelectorAll('#page .dash-graph')).map(g => g.id)"))


def _check_axes(page: Page, graph_id: str) -> list[dict[str, object]]:
    """Every visible axis of ``graph_id`` is sane; returns them for further checks."""
    axes = plot_axes(page, graph_id)
    for axis in axes:
        if not axis["visible"]:
            continue
        where = (graph_id, axis["name"], axis["range"], axis["labels"])
        labels = [label for label in axis["labels"] if isinstance(label, str)]  # type: ignore[union-attr]
        assert len(labels) == len(set(labels)), where  # "1, 1, 2, 2": whole-number labels on fractional ticks
        if axis["type"] == "date":
            start, end = (_moment(str(value)) for value in axis["range"])  # type: ignore[union-attr]
            assert end - start >= timedelta(minutes=10), where  # a window, not an instant
            assert not any(_FRACTIONAL_SECONDS.search(label) for label in labels), where
        if (graph_id, axis["name"]) in COUNT_AXES:
            assert all(float(value) == int(value) for value in axis["values"]), where  # type: ignore[union-attr]
    return axes


@pytest.mark.parametrize("store", ["empty_store", "one_turn_store"])
def test_every_page_renders_with_sane_axes(page: Page, store: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(store)
    sign_in_page(page, url, "ada", PASSWORDS["ada"])
    for path in PAGES:
        page.goto(f"{url}{path}")
        page.wait_for_selector("#page .page")
        assert page.locator("#page-error").count() == 0, path
        for graph_id in _graph_ids(page):
            _check_axes(page, graph_id)
        screenshot(page, f"first-screen-{store}-{path.strip('/') or 'overview'}")


def test_the_overview_of_an_empty_store_says_there_is_no_data_yet(page: Page, empty_store: str) -> None:
    sign_in_page(page, empty_store, "victor", PASSWORDS["victor"])
    expect(page.locator("#overview-empty")).to_contain_text("No turns yet")
    for graph_id in OVERVIEW:
        assert drawn_marks(page, graph_id) == 0, graph_id
        assert not any(axis["visible"] for axis in plot_axes(page, graph_id)), graph_id  # a sentence, not axes
    expect(page.locator("#kpi-cache-hit")).to_have_text("–")
    expect(page.locator("#kpi-savings")).to_have_text("–")
    expect(page.locator("#kpi-spend-30d")).to_have_text("$0.00")


def test_the_overview_of_one_turn_draws_it_on_a_30_day_axis(page: Page, one_turn_store: str) -> None:
    sign_in_page(page, one_turn_store, "victor", PASSWORDS["victor"])
    expect(page.locator("#overview-empty")).to_have_count(0)
    for graph_id in ("overview-spend", "overview-tokens", "overview-savings"):
        assert drawn_marks(page, graph_id) > 0, graph_id  # one day of data is visible, the savings chart too
        [x_axis] = [axis for axis in _check_axes(page, graph_id) if axis["name"] == "xaxis"]
        start, end = (_moment(str(value)) for value in x_axis["range"])  # type: ignore[union-attr]
        assert end - start >= timedelta(days=29), graph_id
    [x_axis] = [axis for axis in _check_axes(page, "overview-latency") if axis["name"] == "xaxis"]
    start, end = (_moment(str(value)) for value in x_axis["range"])  # type: ignore[union-attr]
    assert timedelta(hours=23) < end - start <= timedelta(hours=25)
    assert drawn_marks(page, "overview-latency") > 0
    # a first turn writes the cache and cannot read it: no ratio yet, and the card says why
    expect(page.locator("#kpi-cache-hit")).to_have_text("–")
    expect(page.locator(".card", has=page.locator("#kpi-cache-hit"))).to_contain_text("1 turn")
    assert drawn_marks(page, "overview-cache") == 0
    expect(page.locator("#overview-cache")).to_contain_text("Needs two turns")
    expect(page.locator("#kpi-spend-today")).not_to_have_text("$0.00")  # the turn cost something
    assert page.locator("#kpi-savings").inner_text() not in ("–", "$0.00")
    screenshot(page, "first-screen-one-turn-overview-checked")


def test_the_one_turn_session_has_a_readable_time_line(page: Page, one_turn_store: str) -> None:
    sign_in_page(page, one_turn_store, "victor", PASSWORDS["victor"])
    page.goto(f"{one_turn_store}/sessions?session=first-session")
    page.locator("#sessions-list .ag-row[row-index='0'] .ag-cell").first.click()
    axes = _check_axes(page, "sessions-timeline")
    dates = [axis for axis in axes if axis["type"] == "date"]
    assert dates and all(_moment(str(a["range"][1])) - _moment(str(a["range"][0])) >= timedelta(minutes=10)  # type: ignore[index]
                         for a in dates)
    assert drawn_marks(page, "sessions-timeline") > 0
    _check_axes(page, "sessions-tools")
    screenshot(page, "first-screen-one-turn-session")

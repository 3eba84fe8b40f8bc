"""Following a failure to its turns and finding any session, in a real browser (headless Debian
Chromium through Playwright) on a store routed by the real decide(): a cluster click reaches its
turns and sessions, every cluster is in the trend legend, a session is found by id (and by
developer, repo and time, with the search kept in the URL), and each turn says why it went where
it went: a rule with its threshold, an exploration arm with its propensity, the default."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine

from core.pricing import builtin_price_table
from dashboard.app import create_app
from dashboard.decision import explain_decision
from dashboard.links import turn_href
from dashboard.reads import decision_policy, one_turn
from dashboard.settings import DashboardSettings
from store.engine import make_engine
from store.testing import migrated_sqlite_url
from tests.dashboard.browser import screenshot, sign_in_page
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.routed_fleet import CLUSTERS, RUN_ID, RoutedFleet, seed_routed, seed_routed_clusters
from tests.dashboard.serving import serve_wsgi
from tests.dashboard.test_browser import browser, page  # noqa: F401 (the shared Chromium fixtures)


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, RoutedFleet]]:
    engine = make_engine(migrated_sqlite_url(tmp_path_factory.mktemp("follow-db")))
    now = datetime.now(UTC).replace(tzinfo=None)
    fleet = seed_routed(engine, now)
    seed_routed_clusters(engine, now, fleet)
    yield engine, fleet
    engine.dispose()


@pytest.fixture(scope="module")
def base_url(settings: DashboardSettings, routed: tuple[Engine, RoutedFleet]) -> Iterator[str]:
    with serve_wsgi(create_app(settings, routed[0]).server) as url:
        yield url


def test_a_cluster_click_reaches_its_turns_and_sessions(page: Page, base_url: str,  # noqa: F811
                                                        routed: tuple[Engine, RoutedFleet]) -> None:
    engine, fleet = routed
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/failures")
    page.wait_for_selector("#failures-trends .legend")
    assert page.locator("#failures-trends .legend .traces").count() == CLUSTERS  # every cluster, not 8
    page.locator("#failures-clusters .ag-row[row-index='0'] .ag-cell[col-id='size']").click()
    expect(page.locator("#failures-cluster-name")).to_have_text(fleet.names[0])
    expect(page.locator("#failures-features")).to_contain_text(
        "Features: tool calls failing; tool Edit; mostly haiku; 9 in 10 turns above 20 400 tokens.")
    expect(page.locator("#failures-features")).not_to_contain_text("{")
    expect(page.locator("#failures-trend")).to_contain_text("Sessions touched per window: 2 → 4 → 9 → 14 (rising).")
    expect(page.locator("#failures-trend")).to_contain_text("judged it falling")
    examples = page.locator("#failures-examples a")
    expect(examples).to_have_count(3)
    assert examples.first.get_attribute("href") == turn_href(*fleet.members[0][0])
    assert fleet.members[0][0][0] not in examples.first.inner_text()  # when, who and model: not trace:span hex
    expect(examples.first).to_contain_text(" · dev")
    screenshot(page, "failures-cluster")

    first_member = page.locator("#failures-members .ag-row[row-index='0'] .ag-cell[col-id='turn'] a")
    href = first_member.get_attribute("href")
    assert href is not None and href.startswith("/turn?trace=")
    first_member.click()
    page.wait_for_url(f"{base_url}{href}")
    trace_id, span_id = fleet.members[0][0]
    turn = one_turn(engine, trace_id, span_id)
    assert turn is not None
    expect(page.locator("#turn-why")).to_have_text(
        explain_decision(turn, builtin_price_table(), decision_policy(engine, "r1")))
    expect(page.locator("#turn-why")).to_contain_text("no rule matched (")
    expect(page.locator("#turn-clusters")).to_contain_text(fleet.names[0])
    expect(page.locator("#turn-scores")).to_contain_text("Edit: string to replace not found")
    page.locator("#turn-facts a").first.click()  # the session
    expect(page.locator("#sessions-title")).to_have_text(f"Session {turn['session_id']}")
    page.wait_for_selector("#sessions-timeline .js-plotly-plot")

    page.goto(f"{base_url}/failures?run={RUN_ID}&cluster=3")  # an alert's link opens the cluster at once
    expect(page.locator("#failures-cluster-name")).to_have_text(fleet.names[3])
    page.goto(f"{base_url}/failures?cluster=-1")
    expect(page.locator("#failures-empty")).to_contain_text("cluster must be a whole number")


def test_a_session_is_found_by_id_developer_repo_and_time(page: Page, base_url: str,  # noqa: F811
                                                          routed: tuple[Engine, RoutedFleet]) -> None:
    _, fleet = routed
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/sessions")
    oldest = fleet.sessions[0]
    page.fill("#sessions-session", oldest)
    page.click("#sessions-search-button")
    expect(page.locator("#sessions-title")).to_have_text(f"Session {oldest}")
    assert "session=" + oldest in page.url
    expect(page.locator("#sessions-found")).to_have_text("The session with that id.")
    page.wait_for_selector("#sessions-timeline .js-plotly-plot")
    expect(page.locator("#sessions-list .ag-row")).to_have_count(1)
    screenshot(page, "sessions-found")

    page.goto(f"{base_url}/sessions")
    page.fill("#sessions-developer", "dev1")
    page.fill("#sessions-repo", "repo1")
    page.click("#sessions-search-button")
    expected = [s for s in fleet.sessions if fleet.developer_of[s] == "dev1" and fleet.repo_of[s] == "repo1"]
    found = f"{len(expected)} sessions of developer dev1 and repo repo1, most recently active first."
    expect(page.locator("#sessions-found")).to_have_text(found)
    page.reload()  # the search is the URL: it survives a reload
    expect(page.locator("#sessions-found")).to_have_text(found)
    expect(page.locator("#sessions-developer")).to_have_value("dev1")

    start, end = fleet.started_of[fleet.sessions[10]], fleet.started_of[fleet.sessions[13]]
    page.goto(f"{base_url}/sessions?from={start:%Y-%m-%d %H:%M}&to={end:%Y-%m-%d %H:%M}")
    expect(page.locator("#sessions-found")).to_contain_text("3 sessions of anyone in the range")
    page.goto(f"{base_url}/sessions?from=yesterday")
    expect(page.locator("#sessions-problems")).to_contain_text("from 'yesterday' is not a date")


@pytest.mark.parametrize(("rule", "phrases"), [
    ("small-turns", ["rule small-turns: estimated input ", " tokens < 15 000 → haiku;"]),
    ("exploration", ["exploration of 10% of sessions: session bucket ", "; exploration arm (propensity 1/3) → "]),
    ("default", ["no rule matched (exploration: session bucket ", "small-turns: estimated input ",
                 "not < 15 000): default → "]),
])
def test_the_turn_page_says_why(page: Page, base_url: str, routed: tuple[Engine, RoutedFleet],  # noqa: F811
                                rule: str, phrases: list[str]) -> None:
    engine, fleet = routed
    assert fleet.keys_by_rule.get(rule), f"the fleet has no {rule} turn"
    trace_id, span_id = fleet.keys_by_rule[rule][0]
    turn = one_turn(engine, trace_id, span_id)
    assert turn is not None
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}{turn_href(trace_id, span_id)}")
    why = page.locator("#turn-why")
    expect(why).to_have_text(explain_decision(turn, builtin_price_table(), decision_policy(engine, "r1")))
    for phrase in phrases:
        expect(why).to_contain_text(phrase)
    screenshot(page, f"turn-{rule}")

"""The dashboard in a real browser (headless Debian Chromium through Playwright), on a seeded
SQLite store served on loopback: signing in, every page with data in its figures, the turn
drill-down, activating and rolling back a policy and approving the optimizer's proposal (and the
store following), the chargeback CSV
(checked against the store), and a logged-out browser reaching nothing. Screenshots go to
test-artifacts/dashboard/."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from core.pricing import builtin_price_table
from dashboard.app import create_app
from dashboard.chargeback import chargeback_csv, chargeback_request, chargeback_rows
from dashboard.decision import explain_decision
from dashboard.reads import decision_policy, one_turn, recent_turns
from dashboard.settings import DashboardSettings
from store.balances import month_bounds, month_of
from store.engine import make_engine
from store.policies import active_state
from store.proposals import list_proposals
from store.testing import migrated_sqlite_url
from tests.dashboard.browser import chromium, screenshot, sign_in_page, trace_count
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.fleet import exact_turn_total, seed_clusters, seed_policies, seed_proposal, seed_turns
from tests.dashboard.serving import serve_wsgi

PAGES = {
    "/": ["overview-spend", "overview-tokens", "overview-cache", "overview-latency", "overview-savings"],
    "/routes": ["routes-by-rule", "routes-by-target", "routes-fallbacks"],
    "/attribution": ["attribution-developer", "attribution-team", "attribution-repo"],
    "/failures": ["failures-sizes", "failures-trends"],
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(migrated_sqlite_url(tmp_path_factory.mktemp("browser-db")))
    now = datetime.now(UTC).replace(tzinfo=None)
    seed_turns(engine, now)
    seed_policies(engine)
    seed_proposal(engine)
    seed_clusters(engine, now)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def base_url(settings: DashboardSettings, store: Engine) -> Iterator[str]:
    with serve_wsgi(create_app(settings, store).server) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    # Dash answers a click with a callback round trip; on a loaded CI machine that can take more
    # than expect()'s default 5 s (seen once: the approval status was still empty at 5 s).
    expect.set_options(timeout=15_000)
    yield opened
    context.close()


def test_a_logged_out_browser_reaches_no_page_and_no_csv(page: Page, base_url: str) -> None:
    for path in [*PAGES, "/sessions", "/policies", "/proposals", "/chargeback"]:
        page.goto(f"{base_url}{path}")
        expect(page.locator("#sign-in")).to_be_visible()
        assert page.url.startswith(f"{base_url}/login?next="), path
        assert page.locator(".js-plotly-plot").count() == 0
    month = month_of(datetime.now(UTC))
    assert page.request.get(f"{base_url}/export/chargeback.csv?month={month}&by=team").status == 401
    screenshot(page, "logged-out")


def test_every_page_shows_figures_with_data(page: Page, base_url: str) -> None:
    sign_in_page(page, base_url, "alice", PASSWORDS["alice"])
    expect(page.locator("#nav-user")).to_have_text("alice (approver)")
    for path, graphs in PAGES.items():
        page.goto(f"{base_url}{path}")
        for graph in graphs:
            assert trace_count(page, graph) > 0, (path, graph)
        screenshot(page, path.strip("/") or "overview")
    page.goto(f"{base_url}/")
    for card in ["kpi-spend-30d", "kpi-cache-hit", "kpi-ttfb", "kpi-errors", "kpi-fallbacks", "kpi-savings"]:
        assert page.locator(f"#{card}").inner_text() not in ("", "–"), card


def test_a_session_opens_on_its_timeline(page: Page, base_url: str) -> None:
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/sessions")
    page.locator("#sessions-list .ag-row[row-index='0'] .ag-cell").first.click()
    assert trace_count(page, "sessions-timeline") > 0 and trace_count(page, "sessions-tools") > 0
    expect(page.locator("#sessions-summary")).to_contain_text("tool results reported by Claude Code")
    screenshot(page, "sessions")


def test_a_turn_drills_down_to_its_routing_decision(page: Page, base_url: str, store: Engine) -> None:
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/routes")
    page.locator("#routes-turns .ag-row[row-index='0'] .ag-cell").first.click()
    newest = recent_turns(store, limit=1).row(0, named=True)
    turn = one_turn(store, newest["trace_id"], newest["span_id"])
    assert turn is not None
    expected = explain_decision(turn, builtin_price_table(), decision_policy(store, turn["policy_version"]))
    expect(page.locator("#routes-decision-text")).to_have_text(expected)
    # the rule's condition with the turn's value and the threshold; the newest turn fell back (and failed)
    assert expected.startswith("rule small-turns: estimated input 14 203 tokens < 20 000 → haiku; "
                               "primary 529 → secondary (policy v1)")
    screenshot(page, "routes-decision")


def test_an_approver_activates_a_version_and_rolls_back(page: Page, base_url: str, store: Engine) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_page(page, base_url, "alice", PASSWORDS["alice"])
    page.goto(f"{base_url}/policies")
    expect(page.locator("#policies-diff")).to_contain_text("changed: estimated input tokens below 20,000 → 12,000")
    page.click("#policies-activate")
    expect(page.locator("#policies-active")).to_contain_text("v2")
    expect(page.locator("#policies-status")).to_contain_text("v2 is now active (was v1), activated by alice")
    state = active_state(store)
    assert state is not None and (state.version, state.activated_by) == ("v2", "alice")
    screenshot(page, "policies-activated")
    page.click("#policies-rollback")
    expect(page.locator("#policies-active")).to_contain_text("v1")
    state = active_state(store)
    assert state is not None and (state.version, state.activated_by) == ("v1", "alice")
    # the optimizer's pending proposal was made against v1 while v2 was activated: superseded, not left
    # to block the loop (it is proposed again, against v1, below)
    assert [p.status for p in list_proposals(store)] == ["superseded"]


def test_an_approver_approves_the_optimizers_proposal(page: Page, base_url: str, store: Engine) -> None:
    if not list_proposals(store, status="proposed"):  # an activation above superseded the first one
        seed_proposal(store)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_page(page, base_url, "alice", PASSWORDS["alice"])
    page.goto(f"{base_url}/proposals")
    expect(page.locator("#proposals-rationale")).to_contain_text("cuts replayed cost by 6.1%")
    expect(page.locator("#proposals-diff")).to_contain_text("policy v1 → v3")
    expect(page.locator("#proposals-clusters")).to_contain_text(
        "haiku · 8–20K · Edit fails: 212 of 240 turns move (haiku → sonnet 212)")
    screenshot(page, "proposals")
    page.click("#proposals-approve")
    expect(page.locator("#proposals-status")).to_contain_text("Approved: v3 is now active (was v1), by alice")
    state = active_state(store)
    assert state is not None and (state.version, state.activated_by) == ("v3", "alice")
    expect(page.locator("#proposals-list")).to_contain_text("approved")


def test_a_viewer_sees_policies_but_cannot_change_them(page: Page, base_url: str) -> None:
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/policies")
    expect(page.locator("#policies-activate")).to_be_disabled()
    expect(page.locator("#policies-rollback")).to_be_disabled()
    expect(page.locator("#policies-readonly")).to_be_visible()
    page.goto(f"{base_url}/proposals")
    expect(page.locator("#proposals-approve")).to_be_disabled()
    expect(page.locator("#proposals-reject")).to_be_disabled()


def test_the_chargeback_csv_downloads_and_matches_the_store(page: Page, base_url: str, store: Engine,
                                                            tmp_path: Path) -> None:
    sign_in_page(page, base_url, "victor", PASSWORDS["victor"])
    page.goto(f"{base_url}/chargeback")
    page.select_option("#chargeback-by", "developer")
    page.click("#chargeback-show")
    expect(page.locator("#chargeback-download")).to_have_attribute("href", "/export/chargeback.csv?month="
                                                                   f"{month_of(datetime.now(UTC))}&by=developer")
    with page.expect_download() as download_info:
        page.click("#chargeback-download")
    target = tmp_path / "chargeback.csv"
    download_info.value.save_as(target)
    text = target.read_text()
    month = month_of(datetime.now(UTC))
    assert text == chargeback_csv(chargeback_rows(store, chargeback_request(months=[month], by="developer")))
    lines = list(csv.DictReader(io.StringIO(text)))
    assert {line["developer"] for line in lines} == {f"dev{n}" for n in range(5)}
    assert sum(Decimal(line["cost_usd"]) for line in lines) == exact_turn_total(store, *month_bounds(month))
    screenshot(page, "chargeback")

"""Reviewing policy changes in a real browser (headless Debian Chromium through Playwright) on a
SQLite store served on loopback (issue 19, items 1 and 2): a reviewer reads the changed rules'
conditions, the summary and the evidence of a proposal; rejects with a reason (stored and audited,
the result shown) and approves with one; a superseded proposal shows its successor and links to it;
the Policies page shows any version's whole YAML. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from core.policy.schema import Policy
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from store.audit import list_audit
from store.engine import make_engine
from store.policies import activate, active_state, get_version
from store.proposals import get_proposal
from store.testing import migrated_sqlite_url
from tests.dashboard.browser import chromium, screenshot, sign_in_page, trace_count
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.fleet import seed_policies
from tests.dashboard.review_fleet import seed_review_proposal
from tests.dashboard.serving import serve_wsgi


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    """v1 active, v2 stored (each test decides on proposals of its own)."""
    engine = make_engine(migrated_sqlite_url(tmp_path))
    seed_policies(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def base_url(settings: DashboardSettings, store: Engine) -> Iterator[str]:
    with serve_wsgi(create_app(settings, store).server) as url:
        yield url


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)  # a callback round trip on a loaded machine
    opened.on("dialog", lambda dialog: dialog.accept())
    sign_in_page(opened, base_url, "alice", PASSWORDS["alice"])
    yield opened
    context.close()


def test_a_reviewer_reads_the_changed_rules_and_the_evidence(page: Page, base_url: str, store: Engine) -> None:
    seed_review_proposal(store, "v3")
    page.goto(f"{base_url}/proposals")
    changes = page.locator("#proposals-diff")
    # the changed rule in full, before and after, with only the moved threshold reported as the change
    expect(changes).to_contain_text("~ rule small-turns (changed, position 1 → 2 of 2)")
    expect(changes).to_contain_text("before: when estimated input tokens < 20,000 → route haiku, then primary")
    expect(changes).to_contain_text("after: when estimated input tokens < 8,000 → route haiku, then primary")
    expect(changes).to_contain_text("changed: estimated input tokens below 20,000 → 8,000")
    # the added rule with its conditions, route and model
    expect(changes).to_contain_text("+ rule thinking-opus (added, position 1 of 2)")
    expect(changes).to_contain_text("when estimated input tokens ≥ 30,000 and thinking on → route primary, then "
                                    "secondary; model claude-opus-4-5")
    after = yaml.safe_load(page.locator("#proposals-yaml-after").inner_text())
    assert [rule["name"] for rule in after["rules"]] == ["thinking-opus", "small-turns"]
    assert after["rules"][1]["when"] == {"input_tokens": {"lt": 8000}}
    before = yaml.safe_load(page.locator("#proposals-yaml-before").inner_text())
    assert before["rules"] == [{"name": "small-turns", "when": {"input_tokens": {"lt": 20000}},
                                "route": ["haiku", "primary"]}]
    summary = page.locator("#proposals-summary")
    expect(summary).to_contain_text("It changes 1 rule and adds 1.")
    expect(summary).to_contain_text("Quality here is the share of turns with no failing evaluator")
    expect(summary).to_contain_text("The margin is the half-width of the active policy's own 95% interval "
                                    "(0.9412 ± 0.0080)")
    segments = page.locator("#proposals-segments")
    expect(segments).to_contain_text("turns with thinking on")
    expect(segments).to_contain_text("+0.0104 (+0.0031 … +0.0180)")
    expect(segments).to_contain_text("effective sample (turns)")
    # judged candidates (met / below the floor), the active policy, the proposal
    assert trace_count(page, "proposals-candidates") == 4
    screenshot(page, "proposal-review")


def test_reject_needs_a_reason_and_keeps_it(page: Page, base_url: str, store: Engine) -> None:
    proposal = seed_review_proposal(store, "v4")
    page.goto(f"{base_url}/proposals?id={proposal.id}")
    page.click("#proposals-reject")
    status = page.locator("#proposals-status")
    expect(status).to_contain_text("Refused: say why you reject it")
    expect(status).to_have_class("result result-refused")
    assert get_proposal(store, proposal.id).status == "proposed"

    reason = "Moves the monorepo's thinking turns to opus: too costly this quarter."
    page.fill("#proposals-reason", reason)
    page.click("#proposals-reject")
    expect(status).to_have_text(f"Rejected the proposal for v4, by alice. Reason: {reason}")
    expect(status).to_have_class("result result-done")
    expect(page.locator("#proposals-badge")).to_have_text("rejected")
    expect(page.locator("#proposals-decision")).to_contain_text("Rejected by alice on ")
    expect(page.locator("#proposals-decision")).to_contain_text(f"Reason: {reason}")
    expect(page.locator("#proposals-reason")).to_have_value("")
    expect(page.locator("#proposals-reject")).to_be_disabled()
    decided = get_proposal(store, proposal.id)
    assert (decided.status, decided.decided_by, decided.note) == ("rejected", "alice", reason)
    (entry,) = list_audit(store, subject=proposal.id, action="proposal.reject")
    assert (entry.actor, entry.detail["note"]) == ("alice", reason)
    # a decided proposal stays readable with its evidence
    page.goto(f"{base_url}/proposals?id={proposal.id}")
    expect(page.locator("#proposals-diff")).to_contain_text("+ rule thinking-opus")
    expect(page.locator("#proposals-list")).to_contain_text(reason)
    screenshot(page, "proposal-rejected")


def test_approve_with_a_reason_shows_the_result(page: Page, base_url: str, store: Engine) -> None:
    proposal = seed_review_proposal(store, "v5")
    page.goto(f"{base_url}/proposals?id={proposal.id}")
    page.fill("#proposals-reason", "Checked the thinking segment's interval.")
    page.click("#proposals-approve")
    expect(page.locator("#proposals-status")).to_have_text(
        "Approved: v5 is now active (was v1), by alice. Reason: Checked the thinking segment's interval.")
    state = active_state(store)
    assert state is not None and (state.version, state.activated_by) == ("v5", "alice")
    assert get_proposal(store, proposal.id).note == "Checked the thinking segment's interval."


def test_a_superseded_proposal_shows_its_successor(page: Page, base_url: str, store: Engine) -> None:
    stale = seed_review_proposal(store, "v6")
    activate(store, "v2", actor="bob")  # made against v1: superseded in the activation's transaction
    assert get_proposal(store, stale.id).status == "superseded"
    page.goto(f"{base_url}/proposals?id={stale.id}")
    expect(page.locator("#proposals-badge")).to_have_text("superseded")
    expect(page.locator("#proposals-decision")).to_contain_text("v2 became the active version before anyone decided")
    expect(page.locator("#proposals-successor-none")).to_be_visible()  # the optimizer has not run again yet
    expect(page.locator("#proposals-approve")).to_be_disabled()  # nothing left to decide
    expect(page.locator("#proposals-reject")).to_be_disabled()

    successor = seed_review_proposal(store, "v7", parent="v2")
    page.goto(f"{base_url}/proposals?id={stale.id}")
    link = page.locator("#proposals-successor")
    expect(link).to_contain_text("v2 → v7 (proposed")
    expect(link).to_have_attribute("href", f"/proposals?id={successor.id}")
    screenshot(page, "proposal-superseded")
    link.click()
    expect(page.locator("#proposals-badge")).to_have_text("proposed")
    expect(page.locator("#proposals-diff")).to_contain_text("policy v2 → v7")
    assert page.url.endswith(f"/proposals?id={successor.id}")
    # any proposal in the list opens with a click on its row
    page.locator("#proposals-list .ag-row", has_text="v1 → v6").locator(".ag-cell").first.click()
    expect(page.locator("#proposals-badge")).to_have_text("superseded")
    expect(page.locator("#proposals-diff")).to_contain_text("policy v1 → v6")


def test_the_policies_page_shows_any_versions_yaml(page: Page, base_url: str, store: Engine) -> None:
    page.goto(f"{base_url}/policies")
    whole = page.locator("#policies-yaml")
    expect(whole).to_contain_text("version: v2")  # the newest, against the active v1
    expect(page.locator("#policies-diff")).to_contain_text("changed: estimated input tokens below 20,000 → 12,000")
    assert Policy.model_validate(yaml.safe_load(whole.inner_text())) == get_version(store, "v2").policy()
    page.click("#policies-version")
    page.get_by_role("option", name="v1", exact=True).click()
    expect(whole).to_contain_text("version: v1")
    assert Policy.model_validate(yaml.safe_load(whole.inner_text())) == get_version(store, "v1").policy()
    expect(page.locator("#policies-diff")).to_contain_text("(no changes)")
    page.goto(f"{base_url}/policies?version=v2")  # a link opens a version
    expect(whole).to_contain_text("version: v2")
    screenshot(page, "policies-yaml")

"""Key management in a real browser (headless Debian Chromium), end to end through a real proxy:
an admin creates a key on the Keys page and copies it from there (the only place it is shown); a
proxy that takes its keys from ingest's snapshot (on the dashboard's database) accepts it for a
Claude-Code-shaped turn, which is stored and shows as the key's last use; the admin revokes it on
the page and the proxy refuses it. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from ingest.app import create_app as create_ingest
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.audit import list_audit
from store.engine import make_engine
from store.testing import migrated_sqlite_url
from tests.control.server import SNAPSHOT_TOKEN, control_settings
from tests.dashboard.browser import chromium, screenshot, sign_in_page
from tests.dashboard.conftest import PASSWORDS
from tests.dashboard.serving import serve_wsgi
from tests.gateway import INGEST_TOKENS, PROVIDER_KEY, Gateway, make_gateway
from tests.loopback import serve_in_thread

PROPAGATION_S = 10.0  # a change reaches the proxy within a few 0.2 s snapshot polls; this bounds the wait


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _within(seconds: float, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = migrated_sqlite_url(tmp_path / "db")
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def gateway(tmp_path: Path, store: tuple[str, Engine]) -> Iterator[Gateway]:
    """A proxy whose keys come from ingest's snapshot, and whose spans go to that ingest (so its
    turns are stored in the dashboard's database)."""
    url, engine = store
    settings = control_settings(url).model_copy(update={"ingest_tokens": INGEST_TOKENS})
    ingest = create_ingest(settings, engine, clock=_utc_now)
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            serve_in_thread(ingest) as ingest_url:
        # no test receiver: the proxy exports to the real ingest (the pair's first half is unused)
        yield from make_gateway(tmp_path / "proxy", upstream, (None, ingest_url),  # type: ignore[arg-type]
                                snapshot_url=ingest_url + "/v1/snapshot", snapshot_token=SNAPSHOT_TOKEN,
                                snapshot_interval_s=0.2)


@pytest.fixture
def dashboard(settings: DashboardSettings, store: tuple[str, Engine]) -> Iterator[str]:
    with serve_wsgi(create_app(settings, store[1]).server) as url:
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


def _turn(gateway: Gateway, key: str, seed: int) -> int:
    session = make_session(seed)
    body = encode_body(build_request_body(seed, session=session, history_chars=0, model="claude-sonnet-4-5"))
    return httpx.post(gateway.url + "/v1/messages", headers=build_headers(session, api_key=key), content=body,
                      timeout=30).status_code


def test_a_key_made_in_the_dashboard_works_through_the_proxy_until_revoked_there(
        page: Page, dashboard: str, gateway: Gateway, store: tuple[str, Engine]) -> None:
    engine = store[1]
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_page(page, dashboard, "ada", PASSWORDS["ada"])
    page.click("#nav-keys")
    page.fill("#keys-developer", "dana")
    page.fill("#keys-team", "payments")
    page.fill("#keys-repos", "*")
    page.click("#keys-create")
    expect(page.locator("#keys-status")).to_contain_text("Created key")
    key = page.locator("#keys-new-key").inner_text().strip()
    assert key.startswith("sk-sy-")
    screenshot(page, "keys-created")

    _within(PROPAGATION_S, lambda: _turn(gateway, key, 1) == 200)  # the proxy learnt it from the snapshot
    _within(PROPAGATION_S, lambda: _last_turn_shown(page))  # the turn was stored: the key's last use
    [key_id] = [e.subject for e in list_audit(engine, action="key.create")]

    page.locator("#keys-list .ag-row", has_text=key_id).locator(".ag-cell").first.click()
    expect(page.locator("#keys-picked-text")).to_contain_text(f"Picked key {key_id} of dana")
    page.click("#keys-revoke")
    expect(page.locator("#keys-status")).to_contain_text(f"Revoked key {key_id} of dana, by ada")
    expect(page.locator("#keys-list .ag-row", has_text=key_id)).to_contain_text("revoked")
    _within(PROPAGATION_S, lambda: _turn(gateway, key, 2) == 401)
    screenshot(page, "keys-revoked")
    assert [(e.action, e.actor) for e in reversed(list_audit(engine)) if e.action.startswith("key.")] == [
        ("key.create", "ada"), ("key.revoke", "ada")]


def _last_turn_shown(page: Page) -> bool:
    """Whether the Keys page, reloaded, shows a last turn for dana's key."""
    page.reload()
    page.wait_for_selector("#keys-list .ag-row")
    return "none yet" not in page.locator("#keys-list .ag-row", has_text="dana").first.inner_text()

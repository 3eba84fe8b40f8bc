"""Findings from the real proxy to the Findings page along the one write path (proxy span → ingest →
the turns table), on SQLite and PostgreSQL: by type, developer and repo, a block counted, the
fingerprint shown, the secret nowhere (not in the database, not on the page); then the page in
headless Chromium with its figures drawn."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, select

from dashboard.app import create_app as create_dashboard
from dashboard.settings import DashboardSettings
from ingest.app import create_app as create_ingest
from ingest.settings import IngestSettings
from sim.claude_shapes import build_headers, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.findings import finding_rows, guardrail_turns
from store.schema import turns
from switchyard.keys_cli import create_key
from tests.dashboard.browser import chromium, screenshot, sign_in_page, trace_count
from tests.dashboard.client import call_callback, sign_in
from tests.dashboard.conftest import PASSWORDS, utc_now
from tests.dashboard.serving import serve_wsgi
from tests.gateway import INGEST_TOKENS, PROVIDER_KEY, make_gateway, wait_for_key
from tests.loopback import serve_in_thread
from tests.otlp_receiver import OtlpReceiver
from tests.secret_requests import KEY, leaky_body

AWS_ID = "AKIA" + "Q7XK2LMP9VRT4WZB"


def _by_id(node: Any, found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every component with an id in a Dash callback answer: id → its children."""
    found = {} if found is None else found
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and "id" in props:
            found[str(props["id"])] = props.get("children")
        for value in node.values():
            _by_id(value, found)
    elif isinstance(node, list):
        for item in node:
            _by_id(item, found)
    return found


def _through_the_gateway(tmp_path: Path, db_url: str, db_engine: Engine) -> str:
    """alice (payments, flag) leaks a GitHub token in repo web; bob (platform, block) an AWS key id in
    repo infra; returns the fingerprint of alice's finding."""
    policy = {"version": "f1", "targets": [{"name": "up", "base_url": "http://placeholder"}],
              "default": {"route": ["up"]},
              "guardrails": {"secrets": "flag", "overrides": [{"scope": "team", "name": "platform",
                                                               "secrets": "block"}]}}
    settings = IngestSettings(database_url=db_url, ingest_tokens=INGEST_TOKENS)
    with serve_in_thread(create_ingest(settings, db_engine)) as ingest_url, \
            FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as fake:
        policy["targets"][0]["base_url"] = fake.base_url  # type: ignore[index]
        (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
        for gateway in make_gateway(tmp_path, fake, (OtlpReceiver(), ingest_url), policy_file=tmp_path / "policy.yaml",
                                    guardrail_salt="findings-test-salt-0123456789"):
            bob = create_key(gateway.keys_file, "bob", "platform")
            wait_for_key(gateway, bob)
            for key, repo, body, status in ((gateway.key, "web", leaky_body(), 200),
                                            (bob, "infra", leaky_body(leak=AWS_ID, seed=4), 400)):
                headers = build_headers(make_session(3), auth_token=key)
                headers["x-switchyard-repo"] = repo
                response = httpx.post(gateway.url + "/v1/messages", headers=headers, content=encode_body(body),
                                      timeout=30)
                assert response.status_code == status, response.text
    # leaving the gateway stopped the proxy, which flushed its spans to ingest
    rows = guardrail_turns(db_engine, utc_now() - timedelta(hours=1))
    return next(f["fingerprint"] for row in rows for f in row["findings"] if row["developer"] == "alice")


def test_findings_reach_the_store_through_ingest_and_the_page_never_shows_the_secret(
        tmp_path: Path, db_url: str, db_engine: Engine, settings: DashboardSettings) -> None:
    fingerprint = _through_the_gateway(tmp_path, db_url, db_engine)
    with db_engine.connect() as connection:
        stored = " ".join(str(row) for row in connection.execute(select(turns)))
    assert KEY not in stored and AWS_ID not in stored and KEY[4:20] not in stored

    rows = guardrail_turns(db_engine, utc_now() - timedelta(hours=1))
    assert sorted((r["developer"], r["repo"], r["outcome"]) for r in rows) == [
        ("alice", "web", "flagged"), ("bob", "infra", "blocked")]
    findings = finding_rows(rows)
    assert sorted(findings["rule"].to_list()) == ["aws_access_key_id", "github_token"]
    assert guardrail_turns(db_engine, utc_now() - timedelta(hours=1), outcomes=("blocked",))[0]["developer"] == "bob"

    with serve_wsgi(create_dashboard(settings, db_engine).server) as url, httpx.Client(base_url=url) as client:
        sign_in(client, "victor", PASSWORDS["victor"])
        page = call_callback(client, ["page.children"], {"url.pathname": "/findings"}, {"url.search": ""},
                             "url.pathname")
        assert page.status_code == 200 and "page-error" not in page.text
        assert fingerprint in page.text and "GitHub token" in page.text and "AWS access key id" in page.text
        assert KEY not in page.text and AWS_ID not in page.text
        cards = _by_id(page.json())
        shown = [cards[name] for name in ("findings-count", "findings-blocked", "findings-developers")]
        assert shown == ["2", "1", "2"]
        # another window: the callback answers the same findings
        other = call_callback(client, ["findings-content.children"], {"findings-window.value": "24h"}, {},
                              "findings-window.value")
        assert other.status_code == 200 and fingerprint in other.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_findings_page_in_a_browser(tmp_path: Path, db_url: str, db_engine: Engine,
                                        settings: DashboardSettings) -> None:
    _through_the_gateway(tmp_path, db_url, db_engine)
    with serve_wsgi(create_dashboard(settings, db_engine).server) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(15_000)
        sign_in_page(page, url, "victor", PASSWORDS["victor"])
        page.goto(f"{url}/findings")
        for graph in ("findings-by-type", "findings-trend", "findings-by-developer", "findings-by-repo"):
            assert trace_count(page, graph) > 0, graph
        page.wait_for_selector("#findings-recent .ag-row")
        assert page.locator("#findings-recent .ag-row").count() == 2
        assert KEY not in page.content()
        screenshot(page, "findings")

"""Budgets the CLI shows: the ``anthropic-ratelimit-unified-*`` headers on successful responses (the
upstream's own ``anthropic-ratelimit-*`` replaced), the 429 ``billing_error`` at the cap, and
``GET /api/oauth/usage``, for a /login bearer and for a virtual key."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.gateway import PROVIDER_KEY

from .group_gateway import group_gateway, policy

NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)
MONTH_END = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
WEEK_END = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())
UNIFIED = "anthropic-ratelimit-unified-"


@pytest.fixture
def upstream():
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as fake:
        yield fake


def _budgets(upstream: FakeUpstream) -> dict[str, object]:
    return policy(upstream, budgets=[
        {"scope": "developer", "name": "*", "monthly_usd": "100", "soft": 0.5, "hard": 1.0},
        {"scope": "group", "name": "eng", "period": "week", "limit_usd": "1000", "hard": 1.0},
    ])


def _unified(response: httpx.Response) -> dict[str, str]:
    return {name[len(UNIFIED):]: value for name, value in response.headers.items() if name.startswith(UNIFIED)}


@pytest.mark.parametrize(("spent", "status", "utilization", "threshold"), [
    ("74", "allowed", "0.74", None),
    ("76", "allowed_warning", "0.76", "0.75"),
    ("96", "allowed_warning", "0.96", "0.95"),
    ("99.999", "allowed_warning", "0.99", "0.95"),  # never 1 before the cap: the CLI reads 1 as "reached"
])
@pytest.mark.parametrize("credential", ["bearer", "virtual key"])
def test_usage_headers_replace_the_upstreams(tmp_path, upstream, receiver, spent: str, status: str,
                                             utilization: str, threshold: str | None, credential: str) -> None:
    with group_gateway(tmp_path, upstream, receiver, _budgets(upstream), now=NOW) as gw:
        developer = "alice@example.com" if credential == "bearer" else "alice"
        gw.gateway.app.ledger.current()
        gw.gateway.app.ledger.totals[("2026-11", "developer", developer)] = Decimal(spent)
        if credential == "bearer":
            response = gw.turn(gw.token("alice@example.com", "eng"))
        else:
            response = gw.turn(gw.gateway.key, bearer=False)
        assert response.status_code == 200
        expected = {"status": status, "reset": str(MONTH_END), "representative-claim": "overage",
                    "overage-status": status, "overage-reset": str(MONTH_END), "overage-utilization": utilization}
        if threshold is not None:
            expected["overage-surpassed-threshold"] = threshold
        # exactly ours: the fake upstream's own (5h-status, representative-claim five_hour…) are gone
        assert _unified(response) == expected
        assert not [n for n in response.headers if n.startswith("anthropic-ratelimit-") and not n.startswith(UNIFIED)]
        # everything else the upstream sent is relayed as it came
        assert response.headers["request-id"].startswith("req_") and "anthropic-organization-id" in response.headers


def test_without_a_budget_the_upstreams_headers_are_relayed_untouched(tmp_path, upstream, receiver) -> None:
    with group_gateway(tmp_path, upstream, receiver, policy(upstream), now=NOW) as gw:
        response = gw.turn(gw.token("alice", "eng"))
        assert response.status_code == 200
        assert _unified(response)["representative-claim"] == "five_hour"  # the fake upstream's
        assert _unified(response)["5h-status"] == "allowed"


def test_an_upstream_error_keeps_the_upstreams_headers(tmp_path, upstream, receiver) -> None:
    with group_gateway(tmp_path, upstream, receiver, _budgets(upstream), now=NOW) as gw:
        response = gw.turn(gw.token("alice", "eng"), **{"x-sim-fault": "429:7"})
        assert response.status_code == 429 and response.json()["error"]["type"] == "rate_limit_error"
        assert response.headers[UNIFIED + "status"] == "rejected"  # the upstream's, relayed
        assert UNIFIED + "overage-utilization" not in response.headers


def test_the_cap_is_a_429_billing_error_saying_when_it_resets(tmp_path, upstream, receiver) -> None:
    with group_gateway(tmp_path, upstream, receiver, _budgets(upstream), now=NOW) as gw:
        gw.gateway.app.ledger.current()
        gw.gateway.app.ledger.totals[("2026-11", "developer", "alice")] = Decimal("100")
        sent = len(upstream.requests)
        response = gw.turn(gw.token("alice", "eng"))
        assert response.status_code == 429 and len(upstream.requests) == sent
        body = response.json()
        assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
        assert body["error"] == {"type": "billing_error", "message": (
            "Your monthly spend limit of $100.00 is reached ($100.00 spent); it resets Tue 01 Dec 00:00 UTC, "
            "so wait until then or ask an admin to raise it.")}
        assert response.headers["retry-after"] == str(MONTH_END - int(NOW.timestamp()))
        assert response.headers["x-should-retry"] == "false"
        assert response.headers["content-length"] == str(len(response.content))
        assert _unified(response) == {"status": "rejected", "reset": str(MONTH_END), "overage-reset": str(MONTH_END),
                                      "overage-utilization": "1", "overage-surpassed-threshold": "1",
                                      "overage-period": "monthly",
                                      "overage-disabled-reason": "org_spend_cap_reached"}
        # (no representative-claim or overage-status: the CLI then prints the message as it is)


def test_the_usage_endpoint_shows_the_callers_budgets(tmp_path, upstream, receiver) -> None:
    with group_gateway(tmp_path, upstream, receiver, _budgets(upstream), now=NOW) as gw:
        ledger = gw.gateway.app.ledger
        ledger.current()
        ledger.totals[("2026-11", "developer", "alice@example.com")] = Decimal("80.5")
        ledger.totals[("2026-W47", "group", "eng")] = Decimal("120")
        response = httpx.get(gw.url + "/api/oauth/usage", headers={
            "authorization": f"Bearer {gw.token('alice@example.com', 'eng')}"}, timeout=10)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-store"
        assert response.json() == {
            "extra_usage": {"is_enabled": True, "monthly_limit": 10000, "used_credits": 8050, "utilization": 80,
                            "currency": "USD"},
            "limits": [
                {"kind": "spend", "group": "monthly", "percent": 80, "resets_at": "2026-12-01T00:00:00.000Z",
                 "severity": "warning", "is_active": True, "budget": "developer alice@example.com"},
                {"kind": "spend", "group": "weekly", "percent": 12, "resets_at": "2026-11-23T00:00:00.000Z",
                 "severity": "normal", "is_active": False, "budget": "group eng"},
            ]}
        # a virtual key (x-api-key, as ANTHROPIC_API_KEY sends it) sees its own developer's
        by_key = httpx.get(gw.url + "/api/oauth/usage", headers={"x-api-key": gw.gateway.key}, timeout=10).json()
        assert by_key["extra_usage"]["used_credits"] == 0 and [r["budget"] for r in by_key["limits"]] == [
            "developer alice"]


def test_the_usage_endpoint_without_budgets_or_credentials(tmp_path, upstream, receiver) -> None:
    with group_gateway(tmp_path, upstream, receiver, policy(upstream), now=NOW) as gw:
        assert gw.turn(gw.gateway.key, bearer=False).status_code == 200
        plain = httpx.get(gw.url + "/api/oauth/usage", headers={"x-api-key": gw.gateway.key}, timeout=10).json()
        assert plain["extra_usage"]["monthly_limit"] is None and plain["limits"] == []
        assert plain["extra_usage"]["used_credits"] > 0  # the turn above, in cents
        anonymous = httpx.get(gw.url + "/api/oauth/usage", timeout=10)
        assert anonymous.status_code == 401 and anonymous.headers["x-should-retry"] == "false"
        assert anonymous.json()["error"]["type"] == "authentication_error"
        forged = httpx.get(gw.url + "/api/oauth/usage", headers={"authorization": "Bearer eyJ.eyJ.sig"}, timeout=10)
        assert forged.status_code == 401 and "eyJ.eyJ.sig" not in forged.text
        wrong = httpx.post(gw.url + "/api/oauth/usage", headers={"x-api-key": gw.gateway.key}, timeout=10)
        assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"


def test_a_key_with_several_repos_reads_its_usage_without_naming_one(tmp_path, upstream, receiver) -> None:
    from switchyard.keys_cli import create_key
    from tests.gateway import wait_for_key

    with group_gateway(tmp_path, upstream, receiver, _budgets(upstream), now=NOW) as gw:
        key = create_key(gw.gateway.keys_file, "dana", None, repos=("payments-api", "billing"))
        wait_for_key(gw.gateway, key)
        response = httpx.get(gw.url + "/api/oauth/usage", headers={"authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200, response.text  # the repo list is about model requests
        assert [row["budget"] for row in response.json()["limits"]] == ["developer dana"]
        wrong = httpx.get(gw.url + "/api/oauth/usage", headers={"x-api-key": key + "x"}, timeout=10)
        assert wrong.status_code == 401 and key not in wrong.text

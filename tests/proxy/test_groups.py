"""Groups in the policy, through a loopback gateway with /login bearer tokens signed by the sign-in
service's code: the ``group`` predicate, per-group model allowlists (400 or downgrade), a group's
budget pooled by its members, and each budget period starting over at its UTC boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.keys_cli import create_key
from tests.gateway import PROVIDER_KEY, wait_for_key

from .group_gateway import HAIKU, OPUS, SONNET, group_gateway, policy


@pytest.fixture
def upstream():
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as fake:
        yield fake


def _sent_model(upstream: FakeUpstream) -> str:
    return upstream.requests[-1].json()["model"]


def test_the_group_predicate_matches_a_callers_groups_only(tmp_path, upstream, receiver) -> None:
    document = policy(upstream, rules=[{"name": "platform-to-haiku", "when": {"group": ["platform", "sre"]},
                                        "route": ["haiku"]}])
    with group_gateway(tmp_path, upstream, receiver, document) as gw:
        assert gw.turn(gw.token("alice", "eng", "platform")).status_code == 200
        assert _sent_model(upstream) == HAIKU  # one of her groups is listed
        assert gw.turn(gw.token("bob", "eng")).status_code == 200
        assert _sent_model(upstream) == SONNET  # none of his is: the default route keeps the model asked
        # a virtual key has no groups unless its record lists them: the client cannot claim one
        plain = gw.gateway.key
        assert gw.turn(plain, bearer=False, **{"x-switchyard-group": "platform"}).status_code == 200
        assert _sent_model(upstream) == SONNET
        listed = create_key(gw.gateway.keys_file, "ci-bot", None, groups=("sre",))
        wait_for_key(gw.gateway, listed)
        assert json.loads(gw.gateway.keys_file.read_text())["keys"][-1]["groups"] == ["sre"]
        assert gw.turn(listed, bearer=False).status_code == 200
        assert _sent_model(upstream) == HAIKU


def test_a_denied_model_is_a_400_naming_the_allowlist(tmp_path, upstream, receiver) -> None:
    document = policy(upstream, model_access=[{"group": "contractors", "models": ["haiku", SONNET]}])
    with group_gateway(tmp_path, upstream, receiver, document) as gw:
        contractor = gw.token("carol", "contractors")
        sent = len(upstream.requests)
        for path in ("/v1/messages", "/v1/messages/count_tokens"):
            denied = gw.turn(contractor, model=OPUS, path=path)
            assert denied.status_code == 400, denied.text
            error = denied.json()["error"]
            assert error["type"] == "invalid_request_error"
            assert error["message"].startswith(f"model '{OPUS}' is not in the model allowlist of group contractors "
                                               f"(model_access: haiku, {SONNET})")
            assert denied.headers["content-length"] == str(len(denied.content))
        assert len(upstream.requests) == sent  # nothing was forwarded
        assert gw.turn(contractor, model=HAIKU).status_code == 200  # allowed by tier
        assert gw.turn(contractor, model=SONNET).status_code == 200  # allowed by id
        # someone in no listed group may use any model (there is no "*" entry)
        assert gw.turn(gw.token("dave", "eng"), model=OPUS).status_code == 200
        assert _sent_model(upstream) == OPUS


def test_a_denied_model_is_downgraded_when_the_policy_says_so(tmp_path, upstream, receiver) -> None:
    document = policy(upstream, model_access=[
        {"group": "interns", "models": ["haiku"], "on_denied": "downgrade", "downgrade_to": "haiku"},
        {"group": "*", "models": ["sonnet"]}])
    with group_gateway(tmp_path, upstream, receiver, document) as gw:
        downgraded = gw.turn(gw.token("erin", "interns"), model=OPUS)
        assert downgraded.status_code == 200
        assert _sent_model(upstream) == HAIKU
        # the "*" entry: callers in none of the listed groups, virtual keys without groups included
        assert gw.turn(gw.gateway.key, model=OPUS, bearer=False).status_code == 400
        assert gw.turn(gw.gateway.key, model=SONNET, bearer=False).status_code == 200
        (span, *_) = [t for t in gw.gateway.receiver.wait_for_turns(3) if t.rule == "model-access-downgrade"]
        assert span.served_model == HAIKU


def test_a_group_budget_is_one_pool_for_all_its_members(tmp_path, upstream, receiver) -> None:
    document = policy(upstream, budgets=[
        {"scope": "group", "name": "eng", "period": "week", "limit_usd": "0.0001", "hard": 1.0}])
    with group_gateway(tmp_path, upstream, receiver, document) as gw:
        alice, bob, carol = gw.token("alice", "eng"), gw.token("bob", "web", "eng"), gw.token("carol", "ops")
        first = gw.turn(alice)
        assert first.status_code == 200  # the pool is empty: admitted, and it spends past the limit
        blocked = gw.turn(bob)  # bob has spent nothing himself: the pool is what is used up
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["error"]["type"] == "billing_error"
        assert blocked.json()["error"]["message"].startswith("Group eng's pooled weekly spend limit")
        assert blocked.headers["anthropic-ratelimit-unified-overage-scope"] == "group_pool"
        assert blocked.headers["anthropic-ratelimit-unified-overage-period"] == "weekly"
        assert gw.turn(alice).status_code == 429
        assert gw.turn(carol).status_code == 200  # not a member
        spent = gw.gateway.app.ledger.current()[("2026-W47", "group", "eng")]
        assert spent > 0 and ("2026-W47", "group", "ops") not in gw.gateway.app.ledger.current()


@pytest.mark.parametrize(("period", "last_second", "words"), [
    ("day", datetime(2026, 11, 18, 23, 59, 59, tzinfo=UTC), "daily"),
    ("week", datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC), "weekly"),  # Sunday night: ISO weeks end
    ("month", datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "monthly"),
])
def test_each_period_starts_over_at_its_utc_boundary(tmp_path, upstream, receiver, period: str,
                                                      last_second: datetime, words: str) -> None:
    document = policy(upstream, budgets=[
        {"scope": "developer", "name": "*", "period": period, "limit_usd": "0.0001", "hard": 1.0}])
    with group_gateway(tmp_path, upstream, receiver, document, now=last_second) as gw:
        token = gw.token("alice", "eng")
        assert gw.turn(token).status_code == 200
        blocked = gw.turn(token)
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "1"  # one second to the boundary
        assert blocked.headers["anthropic-ratelimit-unified-overage-period"] == words
        reset = last_second + timedelta(seconds=1)
        assert blocked.headers["anthropic-ratelimit-unified-reset"] == str(int(reset.timestamp()))
        gw.clock.now = reset
        assert gw.turn(token).status_code == 200  # a new period, a new bucket: nothing spent in it
        assert gw.turn(token).status_code == 429

"""The proxy applies routing decisions: tiers by size with model rewrite, fallback before the first
byte, circuit breaking with retry-after, budgets, and hot reload of the policy file."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.gateway import PROVIDER_KEY, Gateway, make_gateway

SECONDARY_KEY = "sk-ant-api03-SECONDARY-provider-key"


def _policy(primary: str, secondary: str, version: str = "v1", **overrides: object) -> dict:
    policy = {
        "version": version,
        "targets": [
            {"name": "haiku-us", "base_url": primary, "model": "claude-haiku-4-5", "tier": "haiku", "region": "us"},
            {"name": "sonnet-us", "base_url": primary, "model": "claude-sonnet-4-5", "tier": "sonnet",
             "region": "us"},
            {"name": "sonnet-eu", "base_url": secondary, "model": "claude-sonnet-4-5", "tier": "sonnet",
             "region": "eu", "provider_key": "eu"},
        ],
        "rules": [
            {"name": "small-to-haiku", "when": {"input_tokens": {"lt": 20000}}, "route": ["haiku-us", "sonnet-eu"]},
        ],
        "default": {"route": ["sonnet-us", "sonnet-eu"]},
        "fallback": {"cooldown_s": 30, "max_hops": 3},
    }
    policy.update(overrides)
    return policy


@pytest.fixture
def two_upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as primary, \
            FakeUpstream(UpstreamConfig(expected_api_key=SECONDARY_KEY)) as secondary:
        yield primary, secondary


@contextmanager
def _routed_gateway(tmp_path: Path, primary: FakeUpstream, secondary: FakeUpstream, receiver,
                    policy: dict | None = None) -> Iterator[Gateway]:
    policy_file = tmp_path / "policy.yaml"
    policy = policy or _policy(primary.base_url, secondary.base_url)
    policy_file.write_text(yaml.safe_dump(policy))
    # the operator's allowlist: the fakes the policy names (loopback, so http is allowed)
    allowed = sorted({target["base_url"] for target in policy["targets"]})
    yield from make_gateway(tmp_path, primary, receiver, policy_file=policy_file,
                            provider_keys={"eu": SECONDARY_KEY}, allowed_upstreams=allowed)


def _turn(gateway: Gateway, seed: int = 1, history: int = 50_000, **headers: str) -> httpx.Response:
    session = make_session(seed)
    sent = build_headers(session, api_key=gateway.key)
    sent.update(headers)
    body = encode_body(build_request_body(seed, session=session, history_chars=history,
                                          model="claude-opus-4-5-20251101"))
    return httpx.post(gateway.url + "/v1/messages", headers=sent, content=body, timeout=30)


def test_rules_route_by_size_and_rewrite_only_the_model(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    with _routed_gateway(tmp_path, primary, secondary, receiver) as gateway:
        small = _turn(gateway, seed=1, history=0)
        assert small.status_code == 200
        sent = primary.requests[-1].json()
        assert sent["model"] == "claude-haiku-4-5"
        original = build_request_body(1, session=make_session(1), history_chars=0, model="claude-opus-4-5-20251101")
        assert {k: v for k, v in sent.items() if k != "model"} == {k: v for k, v in original.items() if k != "model"}
        assert list(sent) == list(original)  # key order kept
        large = _turn(gateway, seed=2, history=100_000)
        assert large.status_code == 200
        assert primary.requests[-1].json()["model"] == "claude-sonnet-4-5"
        small_turn, large_turn = sorted(gateway.receiver.wait_for_turns(2), key=lambda t: t.estimated_input_tokens)
        assert (small_turn.rule, small_turn.target, small_turn.region) == ("small-to-haiku", "haiku-us", "us")
        assert (large_turn.rule, large_turn.target) == ("default", "sonnet-us")
        assert small_turn.policy_version == large_turn.policy_version == "v1"
        assert small_turn.propensity == 1.0
        assert small_turn.requested_model == "claude-opus-4-5-20251101"
        assert small_turn.served_model == "claude-haiku-4-5"


def test_a_529_wall_on_the_primary_is_invisible_to_the_client(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    with _routed_gateway(tmp_path, primary, secondary, receiver) as gateway:
        primary.inject("529", times=1)
        response = _turn(gateway)
        assert response.status_code == 200
        assert secondary.requests[-1].header("x-api-key") == SECONDARY_KEY
        assert response.headers["x-switchyard-fallback"] == "sonnet-us:529"
        # the primary's circuit is open now: the next turns go straight to the secondary, and say
        # so (the decided target passed over is the first hop, in the header and in the record)
        for seed in range(3, 8):
            skipped = _turn(gateway, seed=seed)
            assert skipped.status_code == 200
            assert skipped.headers["x-switchyard-fallback"] == "sonnet-us:breaker_open"
        assert len([r for r in primary.requests if r.path == "/v1/messages"]) == 1
        turns = gateway.receiver.wait_for_turns(6)
        assert sorted(t.fallback_hops for t in turns) == (
            [("sonnet-us:529", "sonnet-eu:200")] + [("sonnet-us:breaker_open", "sonnet-eu:200")] * 5)
        assert {(t.target, t.region, t.rule) for t in turns} == {("sonnet-eu", "eu", "default")}
        # every turn carries its decision's propensity (the decided target's), rescued or passed over
        assert {t.propensity for t in turns} == {1.0}
        assert gateway.app.breaker.open_targets() == ["sonnet-us"]


def test_retry_after_sets_the_cooldown(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    policy = _policy(primary.base_url, secondary.base_url, fallback={"cooldown_s": 0, "max_retry_after_s": 60})
    with _routed_gateway(tmp_path, primary, secondary, receiver, policy) as gateway:
        primary.inject("429:1")
        assert _turn(gateway).status_code == 200
        assert _turn(gateway, seed=3).status_code == 200  # within retry-after: secondary
        assert len([r for r in primary.requests if r.path == "/v1/messages"]) == 1
        time.sleep(1.1)
        assert _turn(gateway, seed=4).status_code == 200  # after it: the primary again
        assert len([r for r in primary.requests if r.path == "/v1/messages"]) == 2


def test_connection_refused_falls_to_the_next_hop(tmp_path, receiver) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with FakeUpstream(UpstreamConfig(expected_api_key=SECONDARY_KEY)) as secondary:
        with _routed_gateway(tmp_path, secondary, secondary, receiver, _policy(dead, secondary.base_url)) as gateway:
            response = _turn(gateway)
            assert response.status_code == 200
            assert response.headers["x-switchyard-fallback"] == "sonnet-us:connect"


def test_exhausted_chain_relays_the_last_upstream_error_unmodified(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    with _routed_gateway(tmp_path, primary, secondary, receiver) as gateway:
        primary.inject("529")
        secondary.inject("429:9")
        response = _turn(gateway)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "9"
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert response.headers["x-switchyard-fallback"] == "sonnet-us:529"


def test_no_upstream_answering_is_an_anthropic_529(tmp_path, receiver) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(f"http://127.0.0.1:{sock.getsockname()[1]}")
    with FakeUpstream(UpstreamConfig()) as unused:
        with _routed_gateway(tmp_path, unused, unused, receiver, _policy(*ports)) as gateway:
            response = _turn(gateway)
            assert response.status_code == 529
            assert response.json()["error"]["type"] == "overloaded_error"
            assert response.headers["x-switchyard-fallback"] == "sonnet-us:connect,sonnet-eu:connect"


def test_budgets_soft_header_then_hard_block(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    policy = _policy(primary.base_url, secondary.base_url,
                     budgets=[{"scope": "developer", "name": "*", "monthly_usd": "0.5", "soft": 0.5, "hard": 1.0}])
    with _routed_gateway(tmp_path, primary, secondary, receiver, policy) as gateway:
        states = []
        for seed in range(40):
            response = _turn(gateway, seed=seed, history=60_000)
            states.append(response.headers.get("x-switchyard-budget", "ok").split(";")[0])
            if response.status_code == 429:
                payload = response.json()
                assert payload["error"]["type"] == "billing_error"
                assert payload["error"]["message"].startswith("Your monthly spend limit of $0.50 is reached")
                assert "developer alice" in response.headers["x-switchyard-budget"]
                assert response.headers["x-should-retry"] == "false"
                break
        else:
            pytest.fail(f"the hard budget never blocked: {states}")
        assert "soft" in states and states[0] == "ok"
        # every turn sent (the blocked one too) is a span; the soft ones say so
        assert any(t.budget_state == "soft" for t in gateway.receiver.wait_for_turns(len(states)))


def test_budget_downgrade_routes_to_the_cheaper_target(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    policy = _policy(primary.base_url, secondary.base_url, budgets=[
        {"scope": "team", "name": "payments", "monthly_usd": "0.0001", "action": "downgrade",
         "downgrade_to": "haiku-us"}])
    with _routed_gateway(tmp_path, primary, secondary, receiver, policy) as gateway:
        _turn(gateway, seed=1, history=60_000)  # spends past the (tiny) budget
        response = _turn(gateway, seed=2, history=60_000)
        assert response.status_code == 200
        assert primary.requests[-1].json()["model"] == "claude-haiku-4-5"
        assert response.headers["x-switchyard-budget"].startswith("hard")


def test_policy_file_hot_reload_under_load(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    with _routed_gateway(tmp_path, primary, secondary, receiver) as gateway:
        failures: list[int] = []
        versions: list[tuple[float, str]] = []
        stop = threading.Event()

        def load() -> None:
            seed = 100
            while not stop.is_set():
                seed += 1
                response = _turn(gateway, seed=seed, history=1_000)
                if response.status_code != 200:
                    failures.append(response.status_code)
                version = httpx.get(gateway.url + "/healthz").json()["policy"]
                versions.append((time.monotonic(), version))  # when the answer came

        def seen(version: str, within_s: float) -> float | None:
            """When ``version`` was first answered, waiting up to ``within_s`` (a loaded machine is slow)."""
            deadline = time.monotonic() + within_s
            while time.monotonic() < deadline:
                times = [t for t, v in list(versions) if v == version]
                if times:
                    return min(times)
                time.sleep(0.05)
            return None

        workers = [threading.Thread(target=load) for _ in range(3)]
        for worker in workers:
            worker.start()
        try:
            assert seen("v1", 20) is not None
            new = _policy(primary.base_url, secondary.base_url, version="v2", parent="v1")
            new["rules"][0]["route"] = ["sonnet-eu"]
            (tmp_path / "policy.yaml").write_text(yaml.safe_dump(new))
            switched = seen("v2", 20)
            assert switched is not None
            time.sleep(1.5)  # turns keep flowing through the new version
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert failures == []
        # once one answer said v2, none later than the requests then in flight goes back to v1
        assert all(v == "v2" for t, v in versions if t > switched + 0.5)
        turns = gateway.receiver.wait_for_turns(len(versions) // 2)
        assert any(t.policy_version == "v2" and t.target == "sonnet-eu" for t in turns)


def test_a_bad_policy_file_is_refused_and_the_running_one_stays(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    with _routed_gateway(tmp_path, primary, secondary, receiver) as gateway:
        bad = _policy(primary.base_url, secondary.base_url, version="broken")
        bad["default"]["route"] = ["nowhere"]
        (tmp_path / "policy.yaml").write_text(yaml.safe_dump(bad))
        time.sleep(0.3)
        assert _turn(gateway).status_code == 200
        assert gateway.app.routing.version == "v1"
        (tmp_path / "policy.yaml").write_text("{not: yaml: at all")
        time.sleep(0.3)
        assert gateway.app.routing.version == "v1"


def test_side_endpoints_use_the_default_route(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    with _routed_gateway(tmp_path, primary, secondary, receiver) as gateway:
        response = httpx.get(gateway.url + "/v1/models", headers={"x-api-key": gateway.key}, timeout=10)
        assert response.status_code == 200
        assert primary.requests[-1].path == "/v1/models"
        body = orjson.dumps({"model": "claude-opus-4-5", "messages": [{"role": "user", "content": "hi"}]})
        counted = httpx.post(gateway.url + "/v1/messages/count_tokens", headers={"x-api-key": gateway.key},
                             content=body, timeout=10)
        assert counted.status_code == 200
        assert primary.requests[-1].json()["model"] == "claude-haiku-4-5"  # routed like the turn would be


def test_healthz_is_valid_json_whatever_the_policy_version_says(tmp_path, two_upstreams, receiver) -> None:
    primary, secondary = two_upstreams
    version = 'v1 "quoted" \\ back\\slash'
    policy = _policy(primary.base_url, secondary.base_url, version=version)
    with _routed_gateway(tmp_path, primary, secondary, receiver, policy) as gateway:
        assert httpx.get(gateway.url + "/healthz", timeout=5).json() == {"status": "ok", "policy": version}

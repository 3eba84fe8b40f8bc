"""A real gateway on loopback for tests: the proxy under uvicorn in front of a fake upstream, with
an OTLP receiver standing in for ingest."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.spans import Turn
from proxy.app import ProxyApp
from proxy.bearer import BearerVerifier
from proxy.settings import ProxySettings
from sim.fleet_client import ProxyRun, run_through_proxy
from sim.fleet_config import FleetConfig, roster
from sim.fleet_plan import SessionPlan
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.keys_cli import create_key
from tests.loopback import serve_in_thread
from tests.otlp_receiver import OtlpReceiver

PROVIDER_KEY = "sk-ant-api03-PROVIDER-SECRET-never-leaks-0123456789"
# The proxy's credential at ingest in the tests (a real ingest takes it as a proxy token).
INGEST_TOKEN = "proxy-ingest-token-for-the-tests-0123"
INGEST_TOKENS = {INGEST_TOKEN: "proxy"}


@dataclass
class Gateway:
    url: str
    key: str
    upstream: FakeUpstream
    receiver: OtlpReceiver
    app: ProxyApp
    keys_file: Path


def make_gateway(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str], *,
                 bearer: BearerVerifier | None = None, clock: Callable[[], datetime] | None = None,
                 **settings: object) -> Iterator[Gateway]:
    """Yield one running gateway (a generator so callers can ``for gateway in make_gateway(...)``
    and have it stopped when the loop ends). ``bearer``: accept /login bearer tokens too;
    ``clock``: the time budgets read (their periods)."""
    keys_file = tmp_path / "keys.json"
    key = create_key(keys_file, "alice", "payments")
    otlp, otlp_url = receiver
    values: dict[str, object] = dict(
        upstream_url=upstream.base_url, upstream_api_key=PROVIDER_KEY, keys_file=keys_file,
        otlp_endpoint=otlp_url + "/v1/traces", otlp_token=INGEST_TOKEN, export_interval_s=0.05,
        reload_interval_s=0.05,
        spool_dir=tmp_path / "spool",
    )
    values.update(settings)
    app = ProxyApp(ProxySettings(**values), bearer=bearer, clock=clock)  # type: ignore[arg-type]
    with serve_in_thread(app) as url:
        yield Gateway(url=url, key=key, upstream=upstream, receiver=otlp, app=app, keys_file=keys_file)


# The same, as a context manager: `with running_gateway(...) as gateway:`.
running_gateway = contextmanager(make_gateway)


@contextmanager
def running_gateways(tmp_path: Path, upstream: FakeUpstream, receiver: tuple[OtlpReceiver, str], count: int,
                     **settings: object) -> Iterator[list[Gateway]]:
    """``count`` gateways on one upstream and receiver, each with its own directory (keys, spool)."""
    with ExitStack() as stack:
        gateways = []
        for index in range(count):
            directory = tmp_path / f"proxy{index}"
            directory.mkdir(parents=True)
            gateways.append(stack.enter_context(running_gateway(directory, upstream, receiver, **settings)))
        yield gateways


def wait_for_key(gateway: Gateway, key: str, timeout_s: float = 10.0) -> None:
    """Block until the proxy accepts ``key`` (a key added to the file is picked up within one
    reload interval; under load that can take a while)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while httpx.get(gateway.url + "/v1/models", headers={"x-api-key": key}, timeout=5).status_code == 401:
        if time.monotonic() > deadline:
            raise AssertionError("the proxy did not pick up the new key")
        time.sleep(0.05)


def fleet_through_gateway(directory: Path, config: FleetConfig, plans: Sequence[SessionPlan], *,
                          slow_first_byte_s: float, truth_path: Path | None = None) -> tuple[ProxyRun, list[Turn]]:
    """Drive a fleet's ``plans`` through a real gateway (a virtual key per developer of ``config``)
    against a fake upstream; (what the clients saw, the turns the proxy's spans recorded)."""
    expected = sum(len(plan.turns) for plan in plans)
    receiver = OtlpReceiver()
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            serve_in_thread(receiver, lifespan="off") as receiver_url:
        for gateway in make_gateway(directory, upstream, (receiver, receiver_url)):
            keys = {developer.name: create_key(gateway.keys_file, developer.name, developer.team)
                    for developer in roster(config)}
            wait_for_key(gateway, keys[roster(config)[-1].name])  # the last one written: all are loaded
            run = run_through_proxy(plans, gateway.url, keys, concurrency=6, slow_first_byte_s=slow_first_byte_s,
                                    truth_path=truth_path)
            return run, receiver.wait_for_turns(expected, timeout=30)
    raise AssertionError("make_gateway yielded no gateway")

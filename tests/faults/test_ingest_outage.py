"""A minute of ingest outage under steady load, and — at the same time, to pay for one minute of CI
instead of two — a minute-long upstream first byte (tests/faults/slow_upstream.py).

Ingest outage: the proxy runs as its own process (``python -m proxy``, a real disk spool), so its
latency is not disturbed by the other scenario's threads in this process. A client sends rounds of one
request straight to the fake upstream and one through the proxy, in seeded random order, at a steady
rate: 12 s with ingest up (the baseline), 30 s with ingest answering 503, 30 s with ingest stopped
(connection refused), then ingest back at the same address. The proxy's latency during the outage must
match the baseline, every turn must wait on disk (in the proxy's turn journal) and be delivered once
ingest is back, none lost.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.keys_cli import create_key
from switchyard.processes import Supervisor, free_port
from tests.faults.slow_upstream import check_slow_upstream, run_slow_upstream
from tests.gateway import PROVIDER_KEY
from tests.loopback import serve_in_thread, wait_until
from tests.otlp_receiver import OtlpReceiver

ROUNDS_PER_S = 8  # each round: one request direct, one through the proxy
WARMUP_S, BASELINE_S, REFUSING_S, STOPPED_S, RECOVERED_S = 2.0, 12.0, 30.0, 30.0, 3.0
# The exporter backs off up to 30 s between attempts while ingest is down, so delivery can take that
# long after ingest is back (plus the redelivery itself).
DELIVERY_TIMEOUT_S = 45.0


@dataclass
class Load:
    """Steady open-loop rounds from a thread; each request recorded as (phase, target, seconds, ok)."""

    direct_url: str
    proxy_url: str
    key: str
    phase: str = "warm-up"
    records: list[tuple[str, str, float, bool]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            assert not self._thread.is_alive(), "the load thread did not stop"

    def proxied(self, phase: str | None = None) -> list[tuple[str, str, float, bool]]:
        return [r for r in self.records if r[1] == "proxy" and (phase is None or r[0] == phase)]

    def seconds(self, target: str, phases: tuple[str, ...]) -> list[float]:
        return [r[2] for r in self.records if r[1] == target and r[0] in phases]

    def _run(self) -> None:
        rng = random.Random(7)
        sessions = [make_session(700 + i) for i in range(16)]
        bodies = [encode_body(build_request_body(700 + i, session=s, history_chars=rng.randint(2_000, 20_000)))
                  for i, s in enumerate(sessions)]
        targets = {"direct": (self.direct_url, PROVIDER_KEY), "proxy": (self.proxy_url, self.key)}
        with httpx.Client(timeout=30) as client:
            started = time.monotonic()
            index = 0
            while not self.stopping.wait(max(0.0, started + index / ROUNDS_PER_S - time.monotonic())):
                phase = self.phase
                order = list(targets)
                rng.shuffle(order)
                for target in order:
                    url, key = targets[target]
                    session, body = sessions[index % 16], bodies[index % 16]
                    t0 = time.perf_counter()
                    response = client.post(url + "/v1/messages", headers=build_headers(session, api_key=key),
                                           content=body)
                    ok = response.status_code == 200 and b"event: message_stop" in response.content
                    self.records.append((phase, target, time.perf_counter() - t0, ok))
                index += 1


def _metrics(proxy_url: str) -> dict[str, float]:
    values = {}
    for line in httpx.get(proxy_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("switchyard_span"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _span_ids(receiver: OtlpReceiver) -> set[bytes]:
    """Span ids received so far, read off the raw requests (cheap enough to poll)."""
    return {span.span_id for request in list(receiver.requests) for resource in request.resource_spans
            for scope in resource.scope_spans for span in scope.spans}


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _ingest_outage(tmp_path: Path, supervisor: Supervisor) -> None:
    key = create_key(tmp_path / "keys.json", "carol", "platform")
    spool = tmp_path / "spool"
    ingest_port, proxy_port = free_port(), free_port()
    receiver = OtlpReceiver()
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    # A short request recorder: this process's RSS is the slow-upstream scenario's memory check.
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY, recorded_requests_limit=10)) as upstream:
        env = {
            "SWITCHYARD_PROXY_HOST": "127.0.0.1", "SWITCHYARD_PROXY_PORT": str(proxy_port),
            "SWITCHYARD_UPSTREAM_URL": upstream.base_url, "SWITCHYARD_UPSTREAM_API_KEY": PROVIDER_KEY,
            "SWITCHYARD_KEYS_FILE": str(tmp_path / "keys.json"), "SWITCHYARD_SPOOL_DIR": str(spool),
            "SWITCHYARD_OTLP_ENDPOINT": f"http://127.0.0.1:{ingest_port}/v1/traces",
            "SWITCHYARD_EXPORT_INTERVAL_S": "0.2", "SWITCHYARD_LOG_LEVEL": "warning",
        }
        load = Load(upstream.base_url, proxy_url, key)
        pause = load.stopping.wait  # the phases are durations of load, not waits for a state
        try:
            with serve_in_thread(receiver, lifespan="off", port=ingest_port):
                supervisor.start("proxy", ["-m", "proxy"], env, proxy_url + "/healthz")
                load.start()
                pause(WARMUP_S)
                load.phase = "baseline"
                pause(BASELINE_S)
                load.phase = "ingest 503"
                receiver.fail_with = 503
                pause(REFUSING_S)
            load.phase = "ingest stopped"
            pause(STOPPED_S)
            # Everything served since the outage began waits on disk (journaled turns are fsync'd).
            outage = len(load.proxied("ingest 503")) + len(load.proxied("ingest stopped"))
            # (the last answers' turns reach the journal with its next flush: wait for it)
            wait_until(lambda: _metrics(proxy_url)["switchyard_spans_pending"] >= outage, timeout=5,
                       what=f"the {outage} turns served during the outage on disk")
            assert list(spool.glob("*.journal"))
            receiver.fail_with = None
            with serve_in_thread(receiver, lifespan="off", port=ingest_port):
                load.phase = "ingest back"
                pause(RECOVERED_S)
                load.stop()
                sent = len(load.proxied())
                wait_until(lambda: len(_span_ids(receiver)) >= sent, timeout=DELIVERY_TIMEOUT_S,
                           what=f"all {sent} turns delivered after ingest came back")
                wait_until(lambda: _metrics(proxy_url)["switchyard_spans_pending"] == 0, timeout=10,
                           what="the journal acknowledged every delivery")
                stats = _metrics(proxy_url)
        finally:
            load.stop()

    # Every request answered, in every phase, on both paths.
    assert all(ok for *_, ok in load.records), [r for r in load.records if not r[3]][:5]
    # Zero lost: each turn reached ingest (exactly its span ids), the failed ones redelivered, none dropped.
    delivered = {turn.span_id for turn in receiver.turns()}
    assert len(delivered) == sent, (len(delivered), sent)
    assert stats["switchyard_spans_journaled_total"] == stats["switchyard_spans_exported_total"] == sent, stats
    assert 0 < stats["switchyard_spans_redelivered_total"] <= sent, stats
    assert stats["switchyard_span_export_failed_batches_total"] > 0, stats
    for lost in ("dropped_queue_full", "dropped_journal_full", "dead_lettered"):
        assert stats[f"switchyard_spans_{lost}_total"] == 0, stats

    # Latency: the proxy's client-observed total time during the outage against the baseline. The proxy
    # adds ~2 ms to a request (bench/README.md) and the client never waits for telemetry, so a healthy
    # outage changes nothing. What this must catch is the client paying for the outage: an export or
    # its 5 s timeout awaited on the hot path, a synchronous spool write per turn, a blocked event loop
    # — each costs ≥ 5 ms per request, usually seconds. What it must not flag is the shared 2-core
    # machine: other processes, this process's GIL (5 ms switch interval) with the slow-upstream
    # scenario's threads. Hence ×1.5 + 5 ms at p50 and ×1.5 + 10 ms at p95 (p95 of ~100 baseline samples
    # is noisier), plus whatever the same machine added to the requests sent straight to the upstream
    # in the same windows (measured side by side, so a busier machine does not fail the proxy).
    outage_phases = ("ingest 503", "ingest stopped")
    proxy_base, proxy_out = load.seconds("proxy", ("baseline",)), load.seconds("proxy", outage_phases)
    direct_base, direct_out = load.seconds("direct", ("baseline",)), load.seconds("direct", outage_phases)
    assert len(proxy_base) >= BASELINE_S * ROUNDS_PER_S / 2 and len(proxy_out) >= 60 * ROUNDS_PER_S / 2
    for q, slack_s in ((50, 0.005), (95, 0.010)):
        drift = max(0.0, _p(direct_out, q) - _p(direct_base, q))
        allowed = _p(proxy_base, q) * 1.5 + slack_s + drift
        figures = {"proxy baseline": _p(proxy_base, q), "proxy outage": _p(proxy_out, q),
                   "direct baseline": _p(direct_base, q), "direct outage": _p(direct_out, q)}
        print(f"p{q} ms:", {name: round(value * 1000, 2) for name, value in figures.items()},
              f"allowed {allowed * 1000:.2f}")  # shown by pytest -s, or on failure
        assert _p(proxy_out, q) <= allowed, (f"p{q} (s)", figures, "allowed", allowed)


def test_a_minute_of_ingest_outage_and_a_minute_of_slow_upstream(tmp_path: Path, receiver) -> None:
    """Both minute-long scenarios at once; each asserts its own outcome (see the module docstrings)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="slow-upstream") as pool:
        (tmp_path / "slow").mkdir()
        (tmp_path / "outage").mkdir()
        slow = pool.submit(run_slow_upstream, tmp_path / "slow", receiver)
        with Supervisor(tmp_path / "logs") as supervisor:  # here: it installs a signal handler
            _ingest_outage(tmp_path / "outage", supervisor)
        report = slow.result(timeout=120)
    check_slow_upstream(report)

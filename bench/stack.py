"""The processes a proxy benchmark needs — OTLP sink, fake upstream, the proxy itself — started as
real processes, each on its core, and the proxy's start-up timed to its first streamed response."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.loadgen import MESSAGES_PATH, BodyMix, LoadResult, LoadSpec, build_requests
from bench.procs import Proc, ProcessGroup, free_port, wait_for_port

PROXY_CORE = 0
LOAD_CORE = 1  # load generator, fake upstream, OTLP sink, profiler
PROVIDER_KEY = "sk-ant-bench-provider-key"


@dataclass(frozen=True, slots=True)
class Service:
    proc: Proc
    url: str


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment without any SWITCHYARD_* setting that could leak into a run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    env.update(extra)
    return env


def _module(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", name, *args]


def start_sink(group: ProcessGroup) -> Service:
    port = free_port()
    proc = group.start("otlp-sink", _module("bench.otlp_sink", "--port", str(port)), core=LOAD_CORE, env=_env(),
                       cwd=group.log_dir)
    wait_for_port(port, proc)
    return Service(proc, f"http://127.0.0.1:{port}")


def start_upstream(group: ProcessGroup, *, instant: bool, event_interval_ms: float = 20,
                   text_deltas: int = 18, fake: str = "sim.upstream") -> Service:
    """A fake upstream process: the fake Anthropic, or another provider's fake (``sim.bedrock``)."""
    port = free_port()
    pacing = ["--instant"] if instant else ["--event-interval-ms", str(event_interval_ms)]
    cmd = _module(fake, "--port", str(port), "--text-deltas", str(text_deltas), *pacing)
    kind = "" if fake == "sim.upstream" else "-" + fake.rsplit(".", 1)[-1]
    proc = group.start(("upstream-instant" if instant else "upstream-paced") + kind, cmd, core=LOAD_CORE, env=_env(),
                       cwd=group.log_dir)
    wait_for_port(port, proc)
    return Service(proc, f"http://127.0.0.1:{port}")


def start_proxy(group: ProcessGroup, *, upstream: Service, sink: Service, keys_file: Path, key: str,
                name: str = "proxy", cmd: Sequence[str] = (), env: dict[str, str] | None = None
                ) -> tuple[Service, float]:
    """Start ``python -m proxy`` (or ``cmd``, e.g. a variant for an A/B experiment) and return it with its
    start-up time: from just before the fork to the end of its first successful streamed response.
    cwd is the run directory so no stray .env is read."""
    port = free_port()
    settings = _env(
        SWITCHYARD_PROXY_HOST="127.0.0.1", SWITCHYARD_PROXY_PORT=str(port), SWITCHYARD_UPSTREAM_URL=upstream.url,
        SWITCHYARD_UPSTREAM_API_KEY=PROVIDER_KEY, SWITCHYARD_KEYS_FILE=str(keys_file),
        SWITCHYARD_OTLP_ENDPOINT=sink.url + "/v1/traces", SWITCHYARD_LOG_LEVEL="warning", **(env or {}),
    )
    proc = group.start(name, list(cmd) or _module("proxy"), core=PROXY_CORE, env=settings, cwd=group.log_dir)
    body, headers = build_requests(BodyMix(seed=7, count=1, history_min=20_000, history_max=20_000), key)[0]
    deadline = time.monotonic() + 30
    while True:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"the proxy exited with {proc.popen.returncode}; see {group.log_dir}/{name}.log")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("POST", MESSAGES_PATH, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise RuntimeError("the proxy did not start listening within 30 s") from None
            time.sleep(0.005)
            continue
        finally:
            connection.close()
        if response.status != 200 or b"message_stop" not in data:
            raise RuntimeError(f"the proxy's first response was HTTP {response.status}: {data[:300]!r}")
        return Service(proc, f"http://127.0.0.1:{port}"), time.monotonic() - proc.started


def start_bare_relay(group: ProcessGroup, upstream: Service) -> Service:
    """The floor to compare the proxy with (bench/bare_relay.py), on the proxy's core."""
    port = free_port()
    cmd = _module("bench.bare_relay", "--port", str(port), "--upstream", upstream.url)
    proc = group.start("bare-relay", cmd, core=PROXY_CORE, env=_env(), cwd=group.log_dir)
    wait_for_port(port, proc)
    return Service(proc, f"http://127.0.0.1:{port}")


def sink_counts(sink: Service) -> dict[str, int]:
    host, port = sink.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/stats")
        return dict(orjson.loads(connection.getresponse().read()))
    finally:
        connection.close()


def run_loadgen(group: ProcessGroup, spec: LoadSpec,
                on_start: Callable[[Proc], None] | None = None) -> tuple[LoadResult, Proc]:
    """Run the generator process on the load core with ``spec``; ``on_start(proc)`` is called once it runs."""
    proc = group.start("loadgen", _module("bench.loadgen"), core=LOAD_CORE, env=_env(), cwd=group.log_dir, piped=True)
    if on_start is not None:
        on_start(proc)
    try:
        out, _ = proc.popen.communicate(spec.to_json(), timeout=spec.duration_s + 600)
    except subprocess.TimeoutExpired:
        raise RuntimeError("the load generator did not finish") from None
    finally:
        group.stop(proc)
    if proc.popen.returncode != 0:
        raise RuntimeError(f"the load generator failed ({proc.popen.returncode}); see {group.log_dir}/loadgen.log")
    return LoadResult.from_json(out), proc

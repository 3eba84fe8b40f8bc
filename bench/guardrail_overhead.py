"""What the egress secret guardrail adds to a Claude Code turn, with it on and off side by side in one
run (issue 21, item 5). Realistic growing sessions: bench/secret_scan.py's session_bodies (tool
results of real source files from this repo and the installed packages, a few planted secrets, the
history compacted past ~150 K tokens), made into full Claude Code requests (model, 17 tools,
thinking, metadata, the CLI's headers).

1. The step alone, in process: CPU (process time: the worker thread included) of the proxy's own
   ``SecretGuard.inspect`` per turn — plan against the session's memory, scan what is new, verdict,
   counters — with the policy's guardrail on (flag) and off. JSON parsing is not in it: the proxy
   parses the body for its facts whether the guardrail runs or not.
2. Through real proxies: two ``python -m proxy`` on one core, identical but for the policy
   (``guardrails: {secrets: flag}`` vs ``{secrets: off}``), the fake upstream (``--instant``) and the
   OTLP sink on the other core; each turn's body sent to both, in seeded random order, one request in
   flight: TTFB (to the first body byte) p50/p99 on and off and their difference, and CPU per turn
   of each proxy process (utime + stime over the run / turns).

    .venv/bin/python bench/guardrail_overhead.py [--sessions 3] [--turns 200] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import yaml

from bench.procs import ProcessGroup, can_pin, cpu_seconds, tree_pids
from bench.secret_scan import session_bodies, tool_result_pool
from bench.stack import start_proxy, start_sink, start_upstream
from core.facts import extract_facts
from core.keys import KeyRecord
from core.policy.schema import Default, Guardrails, Policy, Target
from proxy.flow import Flow
from proxy.guardrails import SecretGuard
from proxy.metrics import ProxyMetrics
from proxy.routing import routing_for
from proxy.settings import ProxySettings
from sim.claude_shapes import build_headers, make_session
from sim.claude_tools import claude_code_tools
from switchyard.keys_cli import create_key
from tests.core.secret_samples import planted

SALT = "bench-guardrail-salt-0123456789"
MODEL = "claude-sonnet-4-5"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _line(label: str, values: list[float], unit: str = "ms") -> str:
    return (f"  {label:44s} p50 {_percentile(values, 0.5):7.3f}  p99 {_percentile(values, 0.99):7.3f}  "
            f"max {max(values):7.3f}  mean {statistics.fmean(values):7.3f} {unit}")


def sessions(count: int, turns: int) -> list[tuple[dict[str, str], list[bytes]]]:
    """(headers without credentials, request bodies turn by turn) of ``count`` sessions."""
    pool = tool_result_pool()
    fakes = planted(seed=11, per_rule=count)
    tools = claude_code_tools(17)
    out = []
    for index in range(count):
        secrets = [text for _, text in fakes[index::count][index % 4::4]]
        session = make_session(500 + index)
        user_id = json.dumps({"device_id": session.device_id, "account_uuid": session.account_uuid,
                              "session_id": session.session_id}, separators=(",", ":"))
        bodies = [orjson.dumps({"model": MODEL, "max_tokens": 32_000, "stream": True, "metadata": {"user_id": user_id},
                                "thinking": {"type": "adaptive"}, "tools": tools, **body})
                  for body in session_bodies(random.Random(index), pool, turns, secrets)]
        headers = build_headers(session)
        out.append((headers, bodies))
    return out


def _guard_policy(action: str) -> Policy:
    return Policy(version=f"bench-{action}", targets=(Target(name="up", base_url="http://127.0.0.1:9"),),
                  default=Default(route=("up",)), guardrails=Guardrails(secrets=action))  # type: ignore[arg-type]


async def _step(runs: list[tuple[dict[str, str], list[bytes]]], action: str) -> tuple[list[float], int]:
    settings = ProxySettings(guardrail_salt=SALT, upstream_url="http://127.0.0.1:9", keys_file=Path("/nonexistent"))
    guard = SecretGuard(settings, ProxyMetrics(lambda: None))
    routing = routing_for(_guard_policy(action), {"default": "x"}, passthrough=False)
    record = KeyRecord(key_id="bench", salt="", secret_hash="", developer="dev", team="team")
    times, flagged = [], 0
    for headers, bodies in runs:
        scope = {"method": "POST", "path": "/v1/messages", "raw_path": b"/v1/messages", "query_string": b"",
                 "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
        for raw in bodies:
            flow = Flow.of(scope, routing)
            flow.record, flow.parsed = record, orjson.loads(raw)
            flow.facts = extract_facts(flow.header_map, flow.parsed, len(raw))
            start = time.process_time_ns()
            await guard.inspect(flow)
            times.append((time.process_time_ns() - start) / 1e6)
            flagged += flow.guardrail == "flagged"
    guard.close()
    return times, flagged


def step(runs: list[tuple[dict[str, str], list[bytes]]], repeat: int) -> None:
    turns = sum(len(bodies) for _, bodies in runs)
    print(f"== 1. the guardrail step in process, {len(runs)} sessions × {turns // len(runs)} turns, {repeat} rounds "
          "(on and off alternating, a fresh memory each): CPU per turn, the median round's percentiles")
    # the proxy's own collector settings (proxy/server.py): no collection of the young generation
    # every 700 allocations in the middle of a request
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    results: dict[str, list[list[float]]] = {"flag": [], "off": []}
    flagged = 0
    for _ in range(repeat):
        for action in ("flag", "off"):
            times, count = asyncio.run(_step(runs, action))
            results[action].append(times)
            flagged = max(flagged, count)
            gc.collect()
    for action, label in (("flag", "on (flag): SecretGuard.inspect"), ("off", "off: SecretGuard.inspect")):
        rounds = results[action]
        shown = {q: statistics.median(_percentile(times, q) for times in rounds) for q in (0.5, 0.99)}
        print(f"  {label:44s} p50 {shown[0.5]:7.3f}  p99 {shown[0.99]:7.3f}  "
              f"max {statistics.median(max(t) for t in rounds):7.3f}  "
              f"mean {statistics.median(statistics.fmean(t) for t in rounds):7.3f} ms  "
              f"(p50 of the rounds: {', '.join(f'{_percentile(t, 0.5):.3f}' for t in rounds)})")
    print(f"  turns flagged (a planted secret new to its session): {flagged}")


def _post(port: int, raw: bytes, headers: dict[str, str]) -> float:
    """TTFB in ms: from sending the request to the first body byte."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        start = time.perf_counter()
        connection.request("POST", "/v1/messages?beta=true", body=raw, headers=headers)
        response = connection.getresponse()
        first = response.read1(1)
        ttfb = (time.perf_counter() - start) * 1000
        rest = response.read()
        if response.status != 200 or not (first + rest).rstrip().endswith(b"}"):
            raise RuntimeError(f"HTTP {response.status}: {(first + rest)[:300]!r}")
        return ttfb
    finally:
        connection.close()


def through_proxies(runs: list[tuple[dict[str, str], list[bytes]]], workdir: Path) -> None:
    pin = can_pin()
    print(f"== 2. through two proxies (on: flag, off), instant upstream, one request in flight"
          f"{'' if pin else ' (unpinned: taskset or a second core missing)'}")
    keys_file = workdir / "keys.json"
    key = create_key(keys_file, "dev", "team")
    with ProcessGroup(workdir, pin=pin) as group:
        upstream = start_upstream(group, instant=True)
        sink = start_sink(group)
        proxies = {}
        for action in ("flag", "off"):
            policy_file = workdir / f"policy-{action}.yaml"
            policy = _guard_policy(action).model_dump(mode="json")
            policy["targets"][0]["base_url"] = upstream.url
            policy_file.write_text(yaml.safe_dump(policy))
            service, _ = start_proxy(group, upstream=upstream, sink=sink, keys_file=keys_file, key=key,
                                     name=f"proxy-{action}", env={
                                         "SWITCHYARD_POLICY_FILE": str(policy_file),
                                         "SWITCHYARD_SPOOL_DIR": str(workdir / f"spool-{action}"),
                                         "SWITCHYARD_GUARDRAIL_SALT": SALT})
            proxies[action] = service
        ports = {action: int(service.url.rsplit(":", 1)[1]) for action, service in proxies.items()}
        pids = {action: service.proc.pid for action, service in proxies.items()}
        rng = random.Random(2026)
        ttfb: dict[str, list[float]] = {"flag": [], "off": []}
        cpu_before = {action: sum(cpu_seconds(p) for p in tree_pids(pid)) for action, pid in pids.items()}
        started = time.monotonic()
        for headers, bodies in runs:
            sent = dict(headers, authorization=f"Bearer {key}")
            sent.pop("accept-encoding", None)
            for raw in bodies:
                order = ["flag", "off"]
                rng.shuffle(order)
                for action in order:
                    ttfb[action].append(_post(ports[action], raw, sent))
        cpu = {action: (sum(cpu_seconds(p) for p in tree_pids(pid)) - cpu_before[action]) * 1000 / len(ttfb[action])
               for action, pid in pids.items()}
        print(f"  {len(ttfb['flag'])} turns to each in {time.monotonic() - started:.0f} s")
    print(_line("TTFB, guardrail on", ttfb["flag"]))
    print(_line("TTFB, guardrail off", ttfb["off"]))
    differences = [on - off for on, off in zip(ttfb["flag"], ttfb["off"], strict=True)]
    print(f"  added TTFB (on − off): p50 {_percentile(ttfb['flag'], 0.5) - _percentile(ttfb['off'], 0.5):+.3f} ms, "
          f"p99 {_percentile(ttfb['flag'], 0.99) - _percentile(ttfb['off'], 0.99):+.3f} ms; "
          f"per turn paired: median {statistics.median(differences):+.3f} ms")
    print(f"  CPU per turn (proxy process, utime+stime): on {cpu['flag']:.3f} ms, off {cpu['off']:.3f} ms, "
          f"added {cpu['flag'] - cpu['off']:+.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the in-process step")
    parser.add_argument("--quick", action="store_true", help="one session of 40 turns")
    args = parser.parse_args()
    count, turns = (1, 40) if args.quick else (args.sessions, args.turns)
    runs = sessions(count, turns)
    sizes = [len(raw) for _, bodies in runs for raw in bodies]
    print(f"bodies: median {statistics.median(sizes) / 1e3:.0f} KB, max {max(sizes) / 1e3:.0f} KB")
    step(runs, 1 if args.quick else args.repeat)
    with tempfile.TemporaryDirectory(prefix="sy-guardrail-bench-") as workdir:
        through_proxies(runs, Path(workdir))


if __name__ == "__main__":
    main()

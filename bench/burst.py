"""Burst: offered load ramps from 20 to 200 requests/s within a minute, then drops back to 20.

    .venv/bin/python bench/burst.py            # full run, about 2 minutes
    .venv/bin/python bench/burst.py --quick    # a ~30 s look

Method (BENCHMARKS.md, as bench/proxy_overhead.py, whose ``Run`` this uses): the proxy on core 0; the
load generator, the paced fake upstream (24 SSE events 20 ms apart, ~0.5 s per stream) and the OTLP
sink on core 1. Open loop: every round sends the same ~50 KB Claude-Code-shaped body ``weight`` times
through the proxy and once straight to the fake upstream, in seeded random order, so the direct path
is the side-by-side control. Reported: failures and errors (target: none), the added p99 (proxy minus
direct) over the ramp and the peak (target ≤ 15 ms), the time after the burst until proxied requests
are back at their pre-burst latency (target ≤ 5 s), and the 529s of admission control.

"Back at baseline": requests after the burst are grouped into 1 s windows by the time they were
scheduled; a window is at baseline when the median proxied TTFB in it is at most the pre-burst p95. The
recovery time is the start of the first window that begins 3 s of windows all at baseline (0 when the
burst left no backlog); later isolated windows above it are counted and printed, not hidden.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.loadgen import RECORD_FIELDS, LoadResult, burst_phases
from bench.procs import can_pin
from bench.proxy_overhead import MIX_50KB, Run
from bench.report import Comparison, Target, comparison_table, percentile, targets_table
from bench.stack import LOAD_CORE, sink_counts

F = {name: index for index, name in enumerate(RECORD_FIELDS)}


@dataclass(frozen=True, slots=True)
class BurstPlan:
    low: float = 20  # proxied requests/s before and after
    high: float = 200  # proxied requests/s at the peak
    warmup_s: float = 5
    before_s: float = 10
    ramp_s: float = 40  # low → high in `steps` equal steps...
    steps: int = 8
    hold_s: float = 10  # ...then held at high: the burst is ramp_s + hold_s (≤ a minute)
    after_s: float = 20
    weight: int = 4  # proxied requests per direct one (the load core cannot drive 2 × 200/s)
    window_s: float = 1.0  # recovery windows
    settle_s: float = 3.0  # back at baseline = this long without a window above it


FULL = BurstPlan()
QUICK = BurstPlan(warmup_s=3, before_s=5, ramp_s=10, steps=4, hold_s=5, after_s=10)


@dataclass
class BurstResults:
    rows: list[Comparison] = field(default_factory=list)
    proxied: int = 0
    direct: int = 0
    failed: int = 0  # requests that did not end in 200 with a complete stream (errors included)
    errors: dict[str, int] = field(default_factory=dict)  # why they failed, by kind, from the generator
    status_529: int = 0  # 529s the clients saw
    admission_529: int = 0  # 529s the proxy made itself (its /metrics)
    added_ttfb_p99_ms: float = math.nan  # over the ramp and the peak
    added_total_p99_ms: float = math.nan
    baseline_band_ms: float = math.nan  # pre-burst proxied TTFB p95
    windows: list[tuple[float, float]] = field(default_factory=list)  # (start s after burst, proxied TTFB p50 ms)
    recovery_s: float = math.nan
    later_spikes: int = 0  # windows above baseline after the recovery (noise from the shared machine)
    spans: int = 0


def _ms(records: Sequence[Sequence[float]], q: float, end: str = "first_byte") -> float:
    return percentile([(r[F[end]] - r[F["start"]]) * 1000 for r in records if r[F["ok"]]], q)


def analyse(result: LoadResult, labels: list[str], plan: BurstPlan) -> BurstResults:
    """Everything but the per-phase rows, from the generator's raw records (phases indexed as ``labels``)."""
    records = result.records
    out = BurstResults(errors=dict(result.errors))
    out.proxied = sum(1 for r in records if r[F["target"]] == 1)
    out.direct = len(records) - out.proxied
    out.failed = sum(1 for r in records if not r[F["ok"]])
    out.status_529 = sum(1 for r in records if r[F["status"]] == 529)
    burst = {i for i, label in enumerate(labels) if label not in ("warm-up", "burst: before", "burst: after")}
    during = [r for r in records if r[F["phase"]] in burst]
    proxied = [r for r in during if r[F["target"]] == 1]
    direct = [r for r in during if r[F["target"]] == 0]
    out.added_ttfb_p99_ms = _ms(proxied, 99) - _ms(direct, 99)
    out.added_total_p99_ms = _ms(proxied, 99, "end") - _ms(direct, 99, "end")
    before = labels.index("burst: before")
    out.baseline_band_ms = _ms([r for r in records if r[F["phase"]] == before and r[F["target"]] == 1], 95)
    after = [r for r in records if r[F["phase"]] == labels.index("burst: after") and r[F["target"]] == 1]
    if not after:
        return out
    burst_end = min(r[F["scheduled"]] for r in after)
    count = max(1, math.ceil(plan.after_s / plan.window_s))
    buckets: list[list[Sequence[float]]] = [[] for _ in range(count)]
    for r in after:
        buckets[min(count - 1, int((r[F["scheduled"]] - burst_end) / plan.window_s))].append(r)
    out.windows = [(k * plan.window_s, _ms(bucket, 50)) for k, bucket in enumerate(buckets) if bucket]
    at_baseline = [p50 <= out.baseline_band_ms for _, p50 in out.windows]
    settle = max(1, round(plan.settle_s / plan.window_s))
    for index, (start, _) in enumerate(out.windows):
        if all(at_baseline[index:index + settle]) and index + settle <= len(out.windows):
            out.recovery_s = start
            out.later_spikes = sum(1 for ok in at_baseline[index:] if not ok)
            break
    return out


def _admission_529s(proxy_url: str) -> int:
    text = httpx.get(proxy_url + "/metrics", timeout=10).text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("switchyard_proxy_requests_total{") and 'code="529"' in line
               and 'origin="proxy"' in line)


def measure(plan: BurstPlan, workdir: Path, *, pin: bool = True) -> BurstResults:
    """Run the burst; every process it starts is stopped before it returns (or raises)."""
    with Run.open(workdir, pin=pin) as run:
        group, sink = run.group, run.sink
        upstream, proxy = run.start_stack(instant=False)
        phases = burst_phases(plan.low, plan.high, weight=plan.weight, warmup_s=plan.warmup_s,
                              before_s=plan.before_s, ramp_s=plan.ramp_s, steps=plan.steps, hold_s=plan.hold_s,
                              after_s=plan.after_s)
        kept: list[LoadResult] = []
        rows = run.compare(upstream, proxy, phases, proxy_weight=plan.weight, mix=MIX_50KB, keep=kept)
        results = analyse(kept[0], [label for label, _, _ in phases], plan)
        results.rows = rows
        results.admission_529 = _admission_529s(proxy.url)
        group.stop(proxy.proc)  # flushes its spans, so the sink's count is complete
        group.stop(upstream.proc)
        results.spans = sink_counts(sink)["spans"]
    return results


def render(r: BurstResults, plan: BurstPlan) -> str:
    windows = " ".join(f"{p50:.0f}" for _, p50 in r.windows)
    return "\n".join([
        f"Burst {plan.low:g} → {plan.high:g} proxied requests/s: ramp in {plan.steps} steps over {plan.ramp_s:g} s, "
        f"{plan.hold_s:g} s at the peak, then {plan.after_s:g} s back at {plan.low:g}/s",
        "(ms; d = direct to the fake upstream, p = through the proxy, interleaved, one direct per "
        f"{plan.weight} proxied; ~50 KB bodies; Δ = proxy − direct; CPU: proxy core 0, generator and "
        "upstream core 1, others = the rest of the machine):",
        comparison_table(r.rows), "",
        f"requests: {r.proxied} proxied, {r.direct} direct; failed {r.failed}; errors {r.errors or 'none'}",
        f"529s seen by clients: {r.status_529}; made by the proxy's admission control: {r.admission_529}",
        f"added p99 over the ramp and peak: TTFB {r.added_ttfb_p99_ms:+.2f} ms, total {r.added_total_p99_ms:+.2f} ms",
        f"after the burst, proxied TTFB p50 per {plan.window_s:g} s window (ms): {windows}",
        f"back at baseline (window p50 ≤ pre-burst p95 = {r.baseline_band_ms:.1f} ms) after "
        + (f"{r.recovery_s:.1f} s ({r.later_spikes} later windows above it)" if math.isfinite(r.recovery_s)
           else f"more than {plan.after_s:g} s (not in run)"),
        f"spans received by the OTLP sink: {r.spans} (for {r.proxied} proxied requests + 1 start-up probe)", "",
        targets_table([
            Target("failed requests (errors included)", r.failed, "", 0),
            Target("added TTFB p99 during the burst", r.added_ttfb_p99_ms, "ms", 15),
            Target("added total p99 during the burst", r.added_total_p99_ms, "ms", 15),
            Target("back to baseline after the burst", r.recovery_s, "s", 5),
        ]),
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a shorter ramp (~30 s)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = parser.parse_args(argv)
    pin = not args.no_pin and can_pin()
    if not pin:
        print("warning: running unpinned (no taskset, fewer than 2 cores, or --no-pin)", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the process group stops all
    if pin:
        os.sched_setaffinity(0, {LOAD_CORE})
    plan = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-burst-"))
    started = time.monotonic()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}: measuring; logs in {workdir}", file=sys.stderr)
    try:
        results = measure(plan, workdir, pin=pin)
    except BaseException:
        print(f"failed or interrupted; logs kept in {workdir}", file=sys.stderr)
        raise
    print(render(results, plan))
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()

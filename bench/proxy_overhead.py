"""What the proxy costs: added latency at offered load, CPU per request at saturation, memory, start-up.

    .venv/bin/python bench/proxy_overhead.py            # full run, about 4 minutes
    .venv/bin/python bench/proxy_overhead.py --quick    # smoke run, about 1 minute
    .venv/bin/python bench/proxy_overhead.py --profile  # + a py-spy profile of the saturated proxy
    .venv/bin/python bench/proxy_overhead.py --baseline DIR  # CPU per request: this tree against DIR's proxy

Method (BENCHMARKS.md): the proxy runs on core 0; the load generator, the fake upstream and the OTLP
sink on core 1. Latency: open loop at fixed rates, each round sends the same Claude-Code-shaped body
straight to the fake upstream and through the proxy in random order, so the two sides see the same
load; the figure is the difference of their percentiles. CPU: a closed loop against an instant
upstream, the proxy's CPU time from /proc divided by the requests completed in the same window.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import BodyMix, LoadResult, LoadSpec, Phase, burst_phases
from bench.procs import ProcessGroup, Sampler, can_pin
from bench.pyspy import start_py_spy, summarise
from bench.report import (
    Comparison,
    Latency,
    Machine,
    Saturation,
    Target,
    comparison_table,
    completed_between,
    in_flight,
    lag_p99_ms,
    phase_records,
    saturation_table,
    span,
    targets_table,
)
from bench.stack import (
    LOAD_CORE,
    Service,
    run_loadgen,
    sink_counts,
    start_bare_relay,
    start_proxy,
    start_sink,
    start_upstream,
)
from switchyard.keys_cli import create_key

MIX_CLAUDE = BodyMix(seed=1, history_min=20_000, history_max=200_000)  # bodies of ~60–240 KB
MIX_50KB = BodyMix(seed=2, history_min=8_000, history_max=10_000)  # the references' ~50 KB bodies


@dataclass(frozen=True, slots=True)
class Plan:
    startups: int  # proxy start-ups timed
    saturation_warmup_s: float
    saturation_s: float  # measured per slice
    saturation_rounds: int  # slices per relay, alternating proxy and bare relay
    concurrency: int  # closed-loop workers at saturation
    warmup_s: float  # open loop, before each measured phase (connections, caches)
    # (proxied streams in flight, proxied requests per direct one): the proxied rate is in flight ÷
    # stream duration. At 50 in flight only every other round also goes direct, so the load core
    # (fake upstream + generator) is not itself the bottleneck.
    levels: tuple[tuple[int, int], ...]
    level_s: tuple[float, ...]  # measuring time per level
    floor_levels: tuple[int, ...]  # levels that also go through the bare relay (bench/bare_relay.py)
    # (low, high proxied rate, seconds per step), ~50 KB bodies as in the references' burst; a quarter
    # as many requests go direct, for the same reason.
    burst: tuple[float, float, float] | None
    calibrate_s: float = 3
    profile_s: int = 15


FULL = Plan(startups=3, saturation_warmup_s=1.5, saturation_s=4, saturation_rounds=3, concurrency=64, warmup_s=3,
            levels=((1, 1), (10, 1), (50, 2)), level_s=(60, 20, 20), floor_levels=(1, 10), burst=(20, 200, 10))
QUICK = Plan(startups=1, saturation_warmup_s=1.5, saturation_s=4, saturation_rounds=1, concurrency=64, warmup_s=2,
             levels=((1, 1), (10, 1), (50, 2)), level_s=(10, 6, 6), floor_levels=(1,), burst=None, profile_s=8)


@dataclass
class Results:
    comparisons: list[Comparison] = field(default_factory=list)
    saturations: list[Saturation] = field(default_factory=list)
    startups: list[float] = field(default_factory=list)
    stream_s: float = math.nan  # one paced stream, direct, one at a time
    proxied: int = 0  # requests sent through the proxy (for the span count)
    spans: int = 0  # spans the OTLP sink received
    profile: str = ""

    @property
    def peak_rss_mib(self) -> float:
        """The proxy's peak RSS over the levels and saturation (not the burst: an overload test)."""
        machines = [c.machine for c in self.comparisons if not c.label.startswith("burst")]
        return max(m.proxy_rss_mib for m in machines + [s.machine for s in self.saturations])


@dataclass
class Run:
    """One benchmark run: its processes, the /proc sampler and what has been measured so far."""

    group: ProcessGroup
    sampler: Sampler
    keys_file: Path
    key: str
    sink: Service
    results: Results = field(default_factory=Results)

    @classmethod
    @contextmanager
    def open(cls, workdir: Path, *, pin: bool) -> Iterator[Run]:
        """A run's key, process group, /proc sampler and OTLP sink; every process stopped on exit."""
        keys_file = workdir / "keys.json"
        key = create_key(keys_file, "bench", "bench")
        with ProcessGroup(workdir, pin=pin) as group, Sampler() as sampler:
            sink = start_sink(group)
            sampler.watch("sink", sink.proc.pid)
            yield cls(group, sampler, keys_file, key, sink)

    def load(self, spec: LoadSpec) -> LoadResult:
        result, _ = run_loadgen(self.group, spec, on_start=lambda proc: self.sampler.watch("loadgen", proc.pid))
        return result

    def machine(self, t0: float, t1: float, relay: str = "proxy") -> Machine:
        """CPU shares over the window; ``relay`` (the proxy or the bare relay) is the one reported."""
        names = ("proxy", "bare", "baseline", "loadgen", "upstream", "sink", "core0", "core1", "other-upstream")
        use = {name: self.sampler.utilisation(name, t0, t1) if name in self.sampler else 0.0 for name in names}
        load = use["loadgen"] + use["upstream"] + use["sink"] + use["other-upstream"]
        return Machine(proxy=use[relay], generator=use["loadgen"], upstream=use["upstream"] + use["sink"],
                       others=(use["core0"] - use["proxy"] - use["bare"] - use["baseline"], use["core1"] - load),
                       proxy_rss_mib=self.sampler.peak_rss_kib(relay, t0, t1) / 1024)

    def start_stack(self, *, instant: bool) -> tuple[Service, Service]:
        upstream = start_upstream(self.group, instant=instant)
        self.sampler.watch("upstream", upstream.proc.pid)
        proxy, startup_s = start_proxy(self.group, upstream=upstream, sink=self.sink, keys_file=self.keys_file,
                                       key=self.key)
        self.results.proxied += 1
        if instant:  # behind a paced upstream the first response itself takes half a second
            self.results.startups.append(startup_s)
        self.sampler.watch("proxy", proxy.proc.pid)
        return upstream, proxy

    def saturate(self, relays: list[tuple[str, Service]], label: str, mix: BodyMix, plan: Plan,
                 keys: Mapping[str, str] | None = None) -> list[Saturation]:
        """Closed loop on each relay in turn, ``plan.saturation_rounds`` times (ABAB…, so drift in the
        machine's other load hits both alike); a row per relay summing its slices. ``keys``: the
        credential a relay's requests carry, by relay name (default: the run's virtual key)."""
        slices: dict[str, list[Saturation]] = {name: [] for name, _ in relays}
        for _ in range(plan.saturation_rounds):
            for name, service in relays:
                spec = LoadSpec(targets=[service.url], key=(keys or {}).get(name, self.key), mix=mix, mode="closed",
                                concurrency=plan.concurrency, duration_s=plan.saturation_warmup_s + plan.saturation_s)
                result = self.load(spec)
                if name == "proxy":
                    self.results.proxied += len(result.records)
                start, end = span(result.records)
                first, last = self.sampler.window(name, start + plan.saturation_warmup_s, end - 0.3)
                slices[name].append(Saturation(
                    label=label if name == "proxy" else f"{label}, {name}", concurrency=plan.concurrency,
                    body_kib=statistics.mean(result.body_bytes) / 1024,
                    requests=completed_between(result.records, first.t, last.t),
                    failed=sum(1 for r in result.records if not r[-1]), window_s=last.t - first.t,
                    cpu_s=last.cpu_s - first.cpu_s, machine=self.machine(first.t, last.t, name),
                ))
        return [Saturation.total(parts) for parts in slices.values()]

    def compare(self, direct: Service, proxy: Service, phases: list[tuple[str, Phase, bool]],
                proxy_weight: int = 1, mix: BodyMix = MIX_CLAUDE, bare: Service | None = None,
                keep: list[LoadResult] | None = None) -> list[Comparison]:
        """One open-loop run over ``phases`` (label, phase, measured?); a comparison per measured phase.
        Each round sends one request direct, ``proxy_weight`` through the proxy and, given ``bare``,
        one through the bare relay (a second row per phase). ``keep`` receives the raw load result."""
        relays = [("proxy", proxy, proxy_weight, "")] + ([("bare", bare, 1, ", bare")] if bare else [])
        spec = LoadSpec(targets=[direct.url] + [service.url for _, service, _, _ in relays],
                        weights=[1] + [weight for _, _, weight, _ in relays], key=self.key, mix=mix,
                        mode="open", phases=[phase for _, phase, _ in phases])
        result = self.load(spec)
        if keep is not None:
            keep.append(result)
        self.results.proxied += sum(1 for r in result.records if r[1] == 1)
        rows = []
        for index, (label, phase, measured) in enumerate(phases):
            records = phase_records(result.records, index)
            if not measured or not records:
                continue
            t0, t1 = span(records)
            for target, (name, _, weight, suffix) in enumerate(relays, start=1):
                relayed = phase_records(records, index, target)
                rows.append(Comparison(
                    label=label + suffix, proxied_rate=phase.rate * weight, in_flight=in_flight(relayed),
                    direct=Latency.of(phase_records(records, index, 0)), proxy=Latency.of(relayed),
                    lag_p99_ms=lag_p99_ms(records), machine=self.machine(t0, t1, name),
                ))
        return rows

    def stream_seconds(self, direct: Service, seconds: float) -> float:
        """How long one paced stream takes, straight from the upstream, one at a time (sets the rates)."""
        result = self.load(LoadSpec(targets=[direct.url], key=self.key, mix=MIX_CLAUDE, mode="closed",
                                    concurrency=1, duration_s=seconds))
        return Latency.of(result.records).total_mean / 1000


def measure(plan: Plan, workdir: Path, *, pin: bool = True, profile: Path | None = None) -> Results:
    """Run the whole benchmark; every process it starts is stopped before it returns (or raises)."""
    with Run.open(workdir, pin=pin) as run:
        group, sampler, sink, keys_file, key = run.group, run.sampler, run.sink, run.keys_file, run.key
        results = run.results

        # 1. Start-up, and CPU per request at saturation (instant upstream, closed loop).
        upstream, proxy = run.start_stack(instant=True)
        bare = start_bare_relay(group, upstream)
        sampler.watch("bare", bare.proc.pid)
        for _ in range(plan.startups - 1):  # more start-up samples: restart the proxy alone
            group.stop(proxy.proc)
            proxy, startup_s = start_proxy(group, upstream=upstream, sink=sink, keys_file=keys_file, key=key)
            results.startups.append(startup_s)
            results.proxied += 1
            sampler.watch("proxy", proxy.proc.pid)
        relays = [("proxy", proxy), ("bare", bare)]
        results.saturations = (run.saturate(relays, "~50 KB (as references)", MIX_50KB, plan)
                               + run.saturate(relays, "20–200 K history", MIX_CLAUDE, plan))
        if profile is not None:
            spy = start_py_spy(group, proxy.proc.pid, profile, plan.profile_s, LOAD_CORE)
            load = run.load(LoadSpec(targets=[proxy.url], key=key, mix=MIX_50KB, mode="closed",
                                     concurrency=plan.concurrency, duration_s=plan.profile_s + 2))
            results.proxied += len(load.records)
            spy.popen.wait(timeout=60)
            group.stop(spy)
            results.profile = summarise(profile)
        group.stop(bare.proc)
        group.stop(proxy.proc)
        group.stop(upstream.proc)

        # 2. Added latency at offered load (paced upstream, open loop, direct and proxied interleaved).
        upstream, proxy = run.start_stack(instant=False)
        paced_bare = start_bare_relay(group, upstream) if plan.floor_levels else None
        if paced_bare is not None:
            sampler.watch("bare", paced_bare.proc.pid)
        results.stream_s = run.stream_seconds(upstream, plan.calibrate_s)
        for (level, weight), seconds in zip(plan.levels, plan.level_s, strict=True):
            rounds = level / results.stream_s / weight
            results.comparisons += run.compare(upstream, proxy, [
                ("warm-up", Phase(rounds, plan.warmup_s), False), (f"{level} in flight", Phase(rounds, seconds), True),
            ], proxy_weight=weight, bare=paced_bare if level in plan.floor_levels else None)
        if paced_bare is not None:
            group.stop(paced_bare.proc)
        if plan.burst is not None:  # bench/burst.py measures a longer ramp in more detail
            low, high, step = plan.burst
            results.comparisons += run.compare(upstream, proxy, burst_phases(
                low, high, weight=4, warmup_s=plan.warmup_s, before_s=step, ramp_s=0, steps=0, hold_s=step,
                after_s=step), proxy_weight=4, mix=MIX_50KB)
        # Stopping the proxy flushes its span buffer, so the sink's count is complete afterwards.
        group.stop(proxy.proc)
        group.stop(upstream.proc)
        results.spans = sink_counts(sink)["spans"]
    return results


def render(results: Results) -> str:
    r = results
    lines = [
        "Added latency at offered load (ms; d = direct to the fake upstream, p = through the proxy, interleaved;",
        f"one paced stream takes {r.stream_s * 1000:.0f} ms; rate = proxied requests/s; in flight = proxied streams;",
        "Δ = proxy − direct; CPU columns: share of one core — proxy on core 0, generator and fake upstream (+ sink)",
        "on core 1, others = everything else on core 0 / core 1, i.e. noise from the shared machine;",
        "the burst uses ~50 KB bodies and sends a quarter as many requests direct; rows marked \"bare\" go",
        "through bench/bare_relay.py instead of the proxy: the floor for any Python relay on this stack):",
        comparison_table(r.comparisons), "",
        "CPU per request at saturation (instant upstream, closed loop; CPU-ms from /proc of the proxy tree):",
        saturation_table(r.saturations),
        "CPU per request, proxy ÷ bare relay (side by side): " + ", ".join(
            f"{p.cpu_ms_per_request / b.cpu_ms_per_request:.2f}× ({p.label})"
            for p, b in zip(r.saturations[::2], r.saturations[1::2], strict=True)), "",
        f"start-up to first streamed response: {', '.join(f'{s:.2f}' for s in r.startups)} s; "
        f"spans received by the OTLP sink: {r.spans} for {r.proxied} proxied requests", "",
        targets_table(_targets(r)),
    ]
    disturbed = [c.label for c in r.comparisons if c.machine.disturbed]
    disturbed += [s.label for s in r.saturations if s.machine.disturbed]
    if disturbed:
        lines += ["", f"! disturbed: other processes took more than {Machine.DISTURBED:.0%} of a benchmark core "
                  f"during: {'; '.join(disturbed)}. Side-by-side ratios hold up best; rerun on a quieter "
                  "machine for absolute figures."]
    if r.profile:
        lines += ["", "py-spy profile of the saturated proxy (~50 KB bodies):", r.profile]
    return "\n".join(lines)


def _targets(r: Results) -> list[Target]:
    by_label = {c.label: c.added for c in r.comparisons}
    nan4 = (math.nan,) * 4
    one, fifty = by_label.get("1 in flight", nan4), by_label.get("50 in flight", nan4)
    sat = r.saturations[0]
    return [
        Target("added TTFB p50, 1 in flight", one[0], "ms", 1, litellm=12, portkey=30),
        Target("added TTFB p99, 1 in flight", one[1], "ms", 5, litellm=14),
        Target("added TTFB p50, 50 in flight", fifty[0], "ms", 1),
        Target("added TTFB p99, 50 in flight", fifty[1], "ms", 5),
        Target("CPU per request at saturation, ~50 KB", sat.cpu_ms_per_request, "ms", 1, litellm=21, portkey=3.9),
        Target("requests/s per core, ~50 KB", sat.req_per_core_s, "req/s", 1000, lower_is_better=False,
               litellm=48, portkey=250),
        Target("peak RSS under load (levels, saturation)", r.peak_rss_mib, "MiB", 100, litellm=300, portkey=263),
        Target("start-up to first streamed response (median)", statistics.median(r.startups), "s", 1,
               litellm=5, portkey=0.5),
    ]


def measure_against(baseline: Path, plan: Plan, workdir: Path, *, pin: bool) -> list[Saturation]:
    """CPU per request at saturation of this tree's proxy and of the proxy in ``baseline`` (a checkout of
    another commit, e.g. ``git archive HEAD~1 core proxy | tar -x -C DIR``), alternating slices."""
    with Run.open(workdir, pin=pin) as run:
        upstream, proxy = run.start_stack(instant=True)
        cmd = [sys.executable, "-c", f"import runpy, sys; sys.path.insert(0, {str(baseline.resolve())!r}); "
                                     "runpy.run_module('proxy', run_name='__main__')"]
        other, _ = start_proxy(run.group, upstream=upstream, sink=run.sink, keys_file=run.keys_file, key=run.key,
                               name="baseline", cmd=cmd)
        run.sampler.watch("baseline", other.proc.pid)
        relays = [("proxy", proxy), ("baseline", other)]
        return (run.saturate(relays, "~50 KB (as references)", MIX_50KB, plan)
                + run.saturate(relays, "20–200 K history", MIX_CLAUDE, plan))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run")
    parser.add_argument("--profile", nargs="?", const="", default=None, metavar="FILE",
                        help="also record py-spy stacks of the saturated proxy (raw/collapsed format)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="only CPU per request at saturation, against the proxy (and core) found in DIR")
    args = parser.parse_args(argv)
    pin = not args.no_pin and can_pin()
    if not pin:
        print("warning: running unpinned (no taskset, fewer than 2 cores, or --no-pin)", file=sys.stderr)
    # A SIGTERM unwinds like Ctrl-C, so the process group stops everything it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if pin:
        os.sched_setaffinity(0, {LOAD_CORE})
    # The run directory (keys file, process logs) is removed after a successful run, kept after a failure.
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    profile = None if args.profile is None else Path(args.profile or workdir / "proxy.collapsed")
    started = time.monotonic()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}: measuring ({'quick' if args.quick else 'full'} run); "
          f"logs in {workdir}", file=sys.stderr)
    if args.baseline is not None:
        rows = measure_against(args.baseline, QUICK if args.quick else FULL, workdir, pin=pin)
        print(saturation_table(rows))
        shutil.rmtree(workdir)
        return
    try:
        results = measure(QUICK if args.quick else FULL, workdir, pin=pin, profile=profile)
    except KeyboardInterrupt:  # every process is stopped by now; say where the logs are
        sys.exit(f"interrupted; logs kept in {workdir}")
    except BaseException:
        print(f"failed; logs kept in {workdir}", file=sys.stderr)
        raise
    print(render(results))
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()

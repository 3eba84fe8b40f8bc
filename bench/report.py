"""Figures from load-generator records: percentiles, direct-vs-proxy differences, the printed tables."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.loadgen import RECORD_FIELDS

_F = {name: index for index, name in enumerate(RECORD_FIELDS)}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Latency:
    """TTFB and total time of one target's successful requests, in ms."""

    count: int
    failed: int
    ttfb_p50: float
    ttfb_p99: float
    total_p50: float
    total_p99: float
    total_mean: float

    @classmethod
    def of(cls, records: Iterable[Sequence[float]]) -> Latency:
        rows = list(records)
        good = [r for r in rows if r[_F["ok"]]]
        ttfb = [(r[_F["first_byte"]] - r[_F["start"]]) * 1000 for r in good]
        total = [(r[_F["end"]] - r[_F["start"]]) * 1000 for r in good]
        mean = sum(total) / len(total) if total else math.nan
        return cls(len(rows), len(rows) - len(good), percentile(ttfb, 50), percentile(ttfb, 99),
                   percentile(total, 50), percentile(total, 99), mean)


@dataclass(frozen=True, slots=True)
class Machine:
    """Where the CPU went during a window, as shares of one core, and the proxy's peak RSS in it."""

    proxy: float  # core 0
    generator: float  # core 1
    upstream: float  # fake upstream + OTLP sink, core 1
    others: tuple[float, float]  # everything outside the benchmark on core 0 and core 1: noise
    proxy_rss_mib: float

    HEADER = f"{'proxy':>7}{'gen':>6}{'upstr':>7}{'others 0/1':>13}{'RSS MiB':>9}"
    # Above this share of a benchmark core taken by other processes, a row is marked disturbed ("!").
    DISTURBED = 0.2

    @property
    def disturbed(self) -> bool:
        return max(self.others) > self.DISTURBED

    def columns(self) -> str:
        others = f"{self.others[0]:.0%}/{self.others[1]:.0%}{' !' if self.disturbed else '  '}"
        return (f"{self.proxy:>7.0%}{self.generator:>6.0%}{self.upstream:>7.0%}{others:>13}"
                f"{self.proxy_rss_mib:>9.0f}")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One open-loop phase: direct and through-proxy latencies, and the load-side health."""

    label: str
    proxied_rate: float  # requests/s sent through the proxy
    in_flight: float  # mean proxied streams in flight (Little's law over the phase)
    direct: Latency
    proxy: Latency
    lag_p99_ms: float  # how late the generator started requests (its own health)
    machine: Machine

    @property
    def added(self) -> tuple[float, float, float, float]:
        """Added TTFB p50, p99 and added total p50, p99 (proxy minus direct), ms."""
        d, p = self.direct, self.proxy
        return (p.ttfb_p50 - d.ttfb_p50, p.ttfb_p99 - d.ttfb_p99, p.total_p50 - d.total_p50,
                p.total_p99 - d.total_p99)


def phase_records(records: Sequence[Sequence[float]], phase: int, target: int | None = None) -> list[Sequence[float]]:
    return [r for r in records if r[_F["phase"]] == phase and (target is None or r[_F["target"]] == target)]


def span(records: Sequence[Sequence[float]]) -> tuple[float, float]:
    """From the first start to the last end."""
    return min(r[_F["start"]] for r in records), max(r[_F["end"]] for r in records)


def lag_p99_ms(records: Sequence[Sequence[float]]) -> float:
    return percentile([(r[_F["start"]] - r[_F["scheduled"]]) * 1000 for r in records], 99)


def in_flight(records: Sequence[Sequence[float]]) -> float:
    start, end = span(records)
    return sum(r[_F["end"]] - r[_F["start"]] for r in records) / (end - start)


def completed_between(records: Sequence[Sequence[float]], t0: float, t1: float) -> int:
    return sum(1 for r in records if r[_F["ok"]] and t0 < r[_F["end"]] <= t1)


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.2f}"


def comparison_table(rows: Sequence[Comparison]) -> str:
    head = (f"{'phase':<14}{'rate/s':>8}{'in flight':>10}{'n (d/p)':>12}{'fail':>6}"
            f"{'TTFB p50 d/p':>16}{'TTFB p99 d/p':>16}{'ΔTTFB p50':>11}{'ΔTTFB p99':>11}"
            f"{'Δtotal p50':>12}{'Δtotal p99':>12}{'lag p99':>9}{Machine.HEADER}")
    lines = [head, "-" * len(head)]
    for c in rows:
        d, p = c.direct, c.proxy
        a = c.added
        lines.append(
            f"{c.label:<14}{c.proxied_rate:>8.1f}{c.in_flight:>10.1f}{f'{d.count}/{p.count}':>12}"
            f"{d.failed + p.failed:>6}{f'{d.ttfb_p50:.1f}/{p.ttfb_p50:.1f}':>16}"
            f"{f'{d.ttfb_p99:.1f}/{p.ttfb_p99:.1f}':>16}{_ms(a[0]):>11}{_ms(a[1]):>11}{_ms(a[2]):>12}"
            f"{_ms(a[3]):>12}{c.lag_p99_ms:>8.1f}m{c.machine.columns()}"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Saturation:
    label: str
    concurrency: int
    body_kib: float  # mean request body size
    requests: int  # completed inside the CPU window
    failed: int
    window_s: float
    cpu_s: float  # the proxy tree's CPU time inside the window
    machine: Machine

    @classmethod
    def total(cls, parts: Sequence[Saturation]) -> Saturation:
        """Slices of one relay's saturation summed: requests and CPU add up, machine shares average."""
        first = parts[0]
        machine = Machine(
            proxy=statistics.mean(p.machine.proxy for p in parts),
            generator=statistics.mean(p.machine.generator for p in parts),
            upstream=statistics.mean(p.machine.upstream for p in parts),
            others=(statistics.mean(p.machine.others[0] for p in parts),
                    statistics.mean(p.machine.others[1] for p in parts)),
            proxy_rss_mib=max(p.machine.proxy_rss_mib for p in parts),
        )
        return cls(first.label, first.concurrency, first.body_kib, sum(p.requests for p in parts),
                   sum(p.failed for p in parts), sum(p.window_s for p in parts), sum(p.cpu_s for p in parts),
                   machine)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1000 / self.requests if self.requests else math.nan

    @property
    def req_per_s(self) -> float:
        return self.requests / self.window_s

    @property
    def req_per_core_s(self) -> float:
        return 1000 / self.cpu_ms_per_request


def saturation_table(rows: Sequence[Saturation]) -> str:
    head = (f"{'bodies':<28}{'conc':>6}{'body KiB':>10}{'requests':>10}{'fail':>6}{'req/s':>9}"
            f"{'CPU-ms/req':>12}{'req/s/core':>12}{Machine.HEADER}")
    lines = [head, "-" * len(head)]
    for s in rows:
        lines.append(f"{s.label:<28}{s.concurrency:>6}{s.body_kib:>10.0f}{s.requests:>10}{s.failed:>6}"
                     f"{s.req_per_s:>9.0f}{s.cpu_ms_per_request:>12.3f}{s.req_per_core_s:>12.0f}{s.machine.columns()}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Target:
    """One line of the summary: our figure, the target, and the references measured the same way
    (BENCHMARKS.md; the middle of a range where a range was given) as "N× better" ratios."""

    figure: str
    ours: float
    unit: str
    target: float
    lower_is_better: bool = True
    litellm: float | None = None
    portkey: float | None = None

    @property
    def met(self) -> bool:
        return self.ours <= self.target if self.lower_is_better else self.ours >= self.target

    def ratio(self, reference: float | None) -> str:
        if reference is None or math.isnan(self.ours):
            return ""
        if self.ours <= 0:
            return f"{reference:g} vs ≤0"
        times = reference / self.ours if self.lower_is_better else self.ours / reference
        return f"{reference:g}: {times:.1f}×"


def targets_table(rows: Sequence[Target]) -> str:
    head = f"{'figure':<46}{'switchyard':>16}{'target':>16}{'met':>5}   {'LiteLLM (ratio)':<18}{'Portkey (ratio)':<16}"
    lines = [head, "-" * len(head)]
    for t in rows:
        sign = "≤" if t.lower_is_better else "≥"
        ours = "n/a" if math.isnan(t.ours) else f"{t.ours:.2f} {t.unit}"
        lines.append(f"{t.figure:<46}{ours:>16}{f'{sign} {t.target:g} {t.unit}':>16}"
                     f"{('yes' if t.met else 'NO'):>5}   {t.ratio(t.litellm):<18}{t.ratio(t.portkey):<16}")
    return "\n".join(lines)

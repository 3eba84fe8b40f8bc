"""Soak: steady open-loop load through the proxy for a while (10 minutes by default), sampling the
proxy's RSS and open file descriptors; prints the RSS slope (least squares, MiB per hour, after a
warm-up) and the descriptor growth. Bounded in time, loopback only, stops everything it starts.

    .venv/bin/python bench/soak.py                 # 10 minutes at 20 streams/s
    .venv/bin/python bench/soak.py --minutes 1     # a quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.loadgen import BodyMix, LoadSpec, Phase
from bench.procs import ProcessGroup, status_kib, tree_pids
from bench.stack import run_loadgen, start_proxy, start_sink, start_upstream
from switchyard.keys_cli import create_key


def _fds(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{p}/fd")) for p in tree_pids(pid))


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value), scaled to one hour."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 3600


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="proxied requests per second")
    parser.add_argument("--warmup-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="switchyard-soak-") as tmp, ProcessGroup(Path(tmp)) as group:
        keys_file = Path(tmp) / "keys.json"
        key = create_key(keys_file, "soak", "bench")
        upstream = start_upstream(group, instant=False, event_interval_ms=20)
        sink = start_sink(group)
        proxy, _ = start_proxy(group, upstream=upstream, sink=sink, keys_file=keys_file, key=key)
        samples: list[tuple[float, float, int]] = []  # (seconds, RSS MiB, fds)
        stop = threading.Event()
        started = time.monotonic()

        def sample() -> None:
            while not stop.wait(5.0):
                pids = tree_pids(proxy.proc.pid)
                rss = sum(status_kib(p, "VmRSS") for p in pids) / 1024
                samples.append((time.monotonic() - started, rss, _fds(proxy.proc.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        spec = LoadSpec(targets=[proxy.url], key=key, mix=BodyMix(seed=3, count=32, history_min=20_000,
                                                                   history_max=120_000),
                        mode="open", phases=[Phase(args.rate, duration)], duration_s=duration)
        result, _ = run_loadgen(group, spec)
        stop.set()
        sampler.join()
    steady = [(t, rss) for t, rss, _ in samples if t >= args.warmup_s]
    fds = [f for t, _, f in samples if t >= args.warmup_s]
    failed = sum(result.errors.values())
    print(f"soak: {len(result.records)} requests over {args.minutes:g} min at {args.rate:g}/s, {failed} failed")
    print("load average (1/5/15 min) at start {:.2f} {:.2f} {:.2f}, at end {:.2f} {:.2f} {:.2f}".format(
        *load_before, *os.getloadavg()))
    if steady:
        print(f"RSS after warm-up: {steady[0][1]:.1f} → {steady[-1][1]:.1f} MiB, peak {max(r for _, r in steady):.1f};"
              f" slope {slope_per_hour(steady):+.1f} MiB/hour")
        print(f"open descriptors: {fds[0]} → {fds[-1]} (min {min(fds)}, max {max(fds)})")


if __name__ == "__main__":
    main()

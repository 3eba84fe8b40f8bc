"""Where does the proxy's RSS go over a soak? A bench-only harness (nothing here is in proxy/).

``serve`` runs the unchanged proxy app (``proxy.server`` settings, ``tune_gc``, uvicorn) with a
background thread that every few seconds appends one JSON line to ``--out``: RSS, glibc's
``mallinfo2`` (heap in use vs. free-but-kept: fragmentation), ``tracemalloc``'s traced total, the
gc counters and the number of gc-tracked objects, the sizes of the proxy's own dicts, lists and
deques, and (every ``--types-every`` samples) the most common object types. With ``--snapshot-at``
it also dumps ``tracemalloc`` snapshots, which ``compare`` diffs by traceback.

``run`` starts the usual soak stack (paced fake upstream, OTLP sink, loadgen) with the proxy under
``serve`` and prints a summary of the probe's log.

    .venv/bin/python -m bench.memprobe run --minutes 4 --snapshot-at 60,230
    .venv/bin/python -m bench.memprobe run --minutes 3 --malloc-arena-max 2 --collect-every 6
    .venv/bin/python -m bench.memprobe compare /tmp/x/snap-60.tm /tmp/x/snap-230.tm
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import json
import logging
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

_MIB = 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def mallinfo() -> dict[str, float]:
    """glibc's heap: ``arena`` (sbrk'd main + other arenas), ``hblkhd`` (mmap'd blocks), ``uordblks``
    (in use), ``fordblks`` (free but kept by malloc), in MiB. Empty when not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {name: round(getattr(info, name) / _MIB, 2) for name in ("arena", "hblkhd", "uordblks", "fordblks")}


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _sizes(app: Any) -> dict[str, int]:
    """len() of every container the proxy keeps between requests."""
    exporter = app.exporter
    sizes = {
        "ledger.local": len(app.ledger._local),
        "ledger.totals": len(app.ledger.totals),
        "ledger.baseline": len(app.ledger._baseline),
        "prices.days": len(app.prices._days),
        "prices.tiers": len(app.prices._tiers),
        "breaker.open": len(app.breaker._open_until),
        "admission.gates": len(app.admission._gates),
        "admission.waiters": sum(len(g._waiters) for g in app.admission._gates.values()),
        "rate_buckets": len(app._rate_buckets),
        "background": len(app._background),
        "exporter.pending": len(exporter._pending) if exporter is not None else -1,
        "keyring": len(app.keyring),
    }
    session = app._session
    if session is not None and session.connector is not None:
        connector = session.connector
        sizes["aiohttp.conns"] = sum(len(v) for v in connector._conns.values())
        sizes["aiohttp.acquired"] = len(connector._acquired)
    for metric in (app.metrics.requests,):
        sizes["metrics.children"] = len(metric._metrics)
    return sizes


def _types(limit: int = 25) -> list[tuple[str, int]]:
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    return counts.most_common(limit)


_PAUSES: dict[int, list[float]] = {}  # generation -> [collections, total ms, max ms]
_STARTED: list[float] = [0.0]


def _time_collections(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _STARTED[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _STARTED[0]) * 1000
    entry = _PAUSES.setdefault(info["generation"], [0, 0.0, 0.0])
    entry[0] += 1
    entry[1] += ms
    entry[2] = max(entry[2], ms)


def _probe(app: Any, out: Path, *, interval_s: float, types_every: int, collect_every: int,
           snapshot_at: list[float], snapshot_dir: Path) -> None:
    started = time.monotonic()
    pending = sorted(snapshot_at)
    n = 0
    with out.open("a") as log:
        while True:
            time.sleep(interval_s)
            n += 1
            t = time.monotonic() - started
            collected = None
            if collect_every and n % collect_every == 0:
                collected = gc.collect()
            row: dict[str, Any] = {"t": round(t, 1), "rss": round(_rss_mib(), 2), "malloc": mallinfo(),
                                   "gc_count": gc.get_count(), "gc_stats": [s["collections"] for s in gc.get_stats()],
                                   "gc_tracked": len(gc.get_objects()), "gc_frozen": gc.get_freeze_count(),
                                   "collected": collected, "threads": threading.active_count(),
                                   "pauses": {g: [int(n), round(total, 2), round(top, 2)]
                                              for g, (n, total, top) in sorted(_PAUSES.items())}}
            if tracemalloc.is_tracing():
                row["traced"] = round(tracemalloc.get_traced_memory()[0] / _MIB, 2)
            try:
                row["sizes"] = _sizes(app)
            except (AttributeError, RuntimeError) as exc:  # a dict changed size while read
                row["sizes"] = {"error": repr(exc)}
            if types_every and n % types_every == 0:
                row["types"] = _types()
            while pending and t >= pending[0]:
                at = pending.pop(0)
                if tracemalloc.is_tracing():
                    tracemalloc.take_snapshot().dump(str(snapshot_dir / f"snap-{int(at)}.tm"))
                    row["snapshot"] = int(at)
            log.write(json.dumps(row) + "\n")
            log.flush()


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from proxy.app import ProxyApp
    from proxy.server import collect_garbage, tune_gc, uvicorn_config
    from proxy.settings import ProxySettings

    if args.trace_frames:
        tracemalloc.start(args.trace_frames)
    settings = ProxySettings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = ProxyApp(settings)
    if not args.default_gc:
        tune_gc()
        if not args.no_timed_gc:
            app.jobs.append(collect_garbage)
    gc.callbacks.append(_time_collections)
    snapshot_at = [float(x) for x in args.snapshot_at.split(",")] if args.snapshot_at else []
    threading.Thread(target=_probe, args=(app, Path(args.out)), daemon=True, kwargs={
        "interval_s": args.interval_s, "types_every": args.types_every, "collect_every": args.collect_every,
        "snapshot_at": snapshot_at, "snapshot_dir": Path(args.out).parent}).start()
    uvicorn.Server(uvicorn_config(app, settings)).run()


def compare(first: str, second: str, limit: int = 25, key: str = "traceback") -> None:
    old, new = tracemalloc.Snapshot.load(first), tracemalloc.Snapshot.load(second)
    filters = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib*")]
    old, new = old.filter_traces(filters), new.filter_traces(filters)
    total_old = sum(s.size for s in old.statistics("filename"))
    total_new = sum(s.size for s in new.statistics("filename"))
    print(f"traced: {total_old / _MIB:.2f} → {total_new / _MIB:.2f} MiB")
    for stat in new.compare_to(old, key)[:limit]:
        print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks (now {stat.size / 1024:.1f} KiB)")
        for line in stat.traceback.format()[-8:]:
            print("      " + line)


def _slope(points: list[tuple[float, float]]) -> float:
    from bench.soak import slope_per_hour

    return slope_per_hour(points)


def summarize(path: Path, warmup_s: float) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    steady = [r for r in rows if r["t"] >= warmup_s]
    if not steady:
        print("no samples after the warm-up")
        return
    first, last = steady[0], steady[-1]

    def series(get: Any) -> str:
        points = [(r["t"], float(get(r))) for r in steady]
        return f"{points[0][1]:8.2f} → {points[-1][1]:8.2f}  slope {_slope(points):+8.1f}/h"

    print(f"samples {len(rows)}, steady {len(steady)} ({first['t']:.0f}–{last['t']:.0f} s)")
    print(f"  rss MiB        {series(lambda r: r['rss'])}")
    for name in ("arena", "hblkhd", "uordblks", "fordblks"):
        if name in first["malloc"]:
            print(f"  malloc.{name:<8}{series(lambda r, n=name: r['malloc'][n])}")
    if "traced" in first:
        print(f"  traced MiB     {series(lambda r: r['traced'])}")
    print(f"  gc tracked     {series(lambda r: r['gc_tracked'])}")
    print(f"  gc collections {first['gc_stats']} → {last['gc_stats']}; threads {first['threads']} → {last['threads']}")
    print("  gc pauses (generation: collections, total ms, max ms, all run): "
          + "; ".join(f"{g}: {n}, {total:.1f}, {top:.1f}" for g, (n, total, top) in last.get("pauses", {}).items()))
    for name in first["sizes"]:
        values = [r["sizes"].get(name, 0) for r in steady]
        print(f"  len {name:<18}{values[0]:>8} → {values[-1]:>8} (max {max(values)})")
    typed = [r for r in steady if "types" in r]
    if len(typed) >= 2:
        a, b = dict(typed[0]["types"]), dict(typed[-1]["types"])
        grown = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)[:10]
        print(f"  types grown {typed[0]['t']:.0f}→{typed[-1]['t']:.0f} s: "
              + ", ".join(f"{k} {d:+d}" for d, k in grown))


def run(args: argparse.Namespace) -> None:
    from bench.loadgen import BodyMix, LoadSpec, Phase
    from bench.procs import ProcessGroup
    from bench.stack import run_loadgen, start_proxy, start_sink, start_upstream
    from switchyard.keys_cli import create_key

    duration = args.minutes * 60
    out_dir = Path(args.out_dir or tempfile.mkdtemp(prefix="switchyard-memprobe-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "probe.jsonl"
    log.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.memprobe", "serve", "--out", str(log), "--interval-s", str(args.interval_s),
           "--trace-frames", str(args.trace_frames), "--types-every", str(args.types_every),
           "--collect-every", str(args.collect_every), "--snapshot-at", args.snapshot_at]
    cmd += ["--default-gc"] if args.default_gc else []
    cmd += ["--no-timed-gc"] if args.no_timed_gc else []
    if args.malloc_arena_max:
        cmd = ["env", f"MALLOC_ARENA_MAX={args.malloc_arena_max}", *cmd]
    with tempfile.TemporaryDirectory(prefix="switchyard-memprobe-") as tmp, ProcessGroup(Path(tmp)) as group:
        keys_file = Path(tmp) / "keys.json"
        key = create_key(keys_file, "probe", "bench")
        upstream = start_upstream(group, instant=False, event_interval_ms=20)
        sink = start_sink(group)
        proxy, _ = start_proxy(group, upstream=upstream, sink=sink, keys_file=keys_file, key=key, cmd=cmd)
        spec = LoadSpec(targets=[proxy.url], key=key, mix=BodyMix(seed=3, count=args.sessions, history_min=20_000,
                                                                   history_max=120_000),
                        mode="open", phases=[Phase(args.rate, duration)], duration_s=duration)
        result, _ = run_loadgen(group, spec)
        time.sleep(args.interval_s + 0.5)
        print(f"{len(result.records)} requests, {sum(result.errors.values())} failed; probe log {log}")
    summarize(log, args.warmup_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "run"):
        p = sub.add_parser(name)
        p.add_argument("--interval-s", type=float, default=5.0)
        p.add_argument("--trace-frames", type=int, default=0, help="tracemalloc frames (0: off)")
        p.add_argument("--types-every", type=int, default=12, help="object types every N samples (0: never)")
        p.add_argument("--collect-every", type=int, default=0, help="gc.collect() every N samples (0: never)")
        p.add_argument("--snapshot-at", default="", help="seconds at which to dump tracemalloc snapshots")
        p.add_argument("--default-gc", action="store_true", help="skip proxy.server.tune_gc")
        p.add_argument("--no-timed-gc", action="store_true", help="without proxy.server.collect_garbage")
    sub.choices["serve"].add_argument("--out", required=True)
    r = sub.choices["run"]
    r.add_argument("--minutes", type=float, default=4.0)
    r.add_argument("--rate", type=float, default=20.0)
    r.add_argument("--sessions", type=int, default=32, help="distinct request bodies (sessions) in the mix")
    r.add_argument("--warmup-s", type=float, default=30.0)
    r.add_argument("--malloc-arena-max", type=int, default=0)
    r.add_argument("--out-dir", default="")
    c = sub.add_parser("compare")
    c.add_argument("first")
    c.add_argument("second")
    c.add_argument("--key", default="traceback")
    c.add_argument("--limit", type=int, default=25)
    s = sub.add_parser("summary")
    s.add_argument("log")
    s.add_argument("--warmup-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
    elif args.command == "run":
        run(args)
    elif args.command == "compare":
        compare(args.first, args.second, args.limit, args.key)
    else:
        summarize(Path(args.log), args.warmup_s)


if __name__ == "__main__":
    main()

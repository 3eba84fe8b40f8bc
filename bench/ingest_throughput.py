"""Ingest throughput: spans/s for 512-span OTLP protobuf batches posted over HTTP to one ingest
process (uvicorn, pinned to one core), on SQLite and on PostgreSQL, printed beside the in-process
cost of decoding alone and of the whole pure pipeline (decode → normalise → price → redact → rows).

    .venv/bin/python bench/ingest_throughput.py [--batches 80] [--concurrency 4] [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procs import ProcessGroup, can_pin, cpu_seconds, free_port, tree_pids, wait_for_port
from core.pricing import builtin_price_table
from core.spans import turns_to_request
from ingest.body import Encoding
from ingest.decode import OtlpDecoder
from ingest.pricer import Pricer
from ingest.spans_pipeline import SpanPipeline
from ingest.wire import build_wire_classes
from store.engine import make_engine
from store.schema import turns
from store.testing import migrated_sqlite_url, sample_turn, throwaway_postgres_schema

BATCH_SIZE = 512
TARGET_SPANS_PER_S = 20_000


def make_batches(count: int, first_batch: int = 0) -> list[bytes]:
    """``count`` protobuf export requests of BATCH_SIZE spans with ids unique across all batches."""
    return [
        turns_to_request(sample_turn(b * BATCH_SIZE + i, error_message=None if i % 50 else "mail a@example.com")
                         for i in range(BATCH_SIZE)).SerializeToString()
        for b in range(first_batch, first_batch + count)
    ]


def in_process_rates(batches: list[bytes]) -> tuple[float, float]:
    """(decode-only spans/s, full pure pipeline spans/s) in this process, one thread."""
    decoder = OtlpDecoder(build_wire_classes(), 1 << 20)
    pipeline = SpanPipeline.build(Pricer(builtin_price_table()), require_gen_ai=True, redact=True)
    from datetime import datetime

    started = time.perf_counter()
    decoded = [decoder.spans(body, Encoding.PROTOBUF) for body in batches]
    decode_s = time.perf_counter() - started
    now = datetime(2025, 1, 1)
    started = time.perf_counter()
    for body in batches:
        prepared = pipeline.run(decoder.spans(body, Encoding.PROTOBUF), now)
        assert not prepared.rejections, prepared.rejections[:1]
    pipeline_s = time.perf_counter() - started
    spans = sum(batch.total for batch in decoded)
    return spans / decode_s, spans / pipeline_s


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield migrated_sqlite_url(Path(directory))
    else:
        with throwaway_postgres_schema() as url:
            yield url


def post_all(base_url: str, batches: list[bytes], concurrency: int) -> float:
    """Post every batch with ``concurrency`` client threads; returns the wall time in seconds."""
    queue = list(reversed(batches))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=60) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = http.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
                if response.status_code != 200 or response.content:
                    failures.append(f"{response.status_code} {response.content[:200]!r}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed, e.g. {failures[0]}")
    return wall


def run_http(kind: str, batches: list[bytes], warmup: list[bytes], concurrency: int,
             log_dir: Path) -> tuple[float, float]:
    """(spans/s over HTTP, server CPU-µs per span) for one database kind."""
    pin = can_pin()
    with database(kind) as url, ProcessGroup(log_dir, pin=pin) as group:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "SWITCHYARD_MIGRATE_ON_START": "false"}
        server = group.start(
            f"ingest-{kind}",
            [sys.executable, "-m", "uvicorn", "--factory", "ingest.main:app_from_env", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log"],
            core=0, env=env, cwd=Path(__file__).resolve().parent.parent,
        )
        wait_for_port(port, server)
        base_url = f"http://127.0.0.1:{port}"
        post_all(base_url, warmup, concurrency)
        cpu_before = sum(cpu_seconds(pid) for pid in tree_pids(server.pid))
        wall = post_all(base_url, batches, concurrency)
        cpu_used = sum(cpu_seconds(pid) for pid in tree_pids(server.pid)) - cpu_before
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                stored = connection.execute(select(func.count()).select_from(turns)).scalar()
        finally:
            engine.dispose()
        expected = (len(batches) + len(warmup)) * BATCH_SIZE
        if stored != expected:
            raise RuntimeError(f"{kind}: {stored} turns stored, expected {expected}")
    spans = len(batches) * BATCH_SIZE
    return spans / wall, cpu_used / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=80)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    if can_pin():
        os.sched_setaffinity(0, {1})  # the client on core 1, the server on core 0
    warmup = make_batches(4)
    batches = make_batches(args.batches, first_batch=4)
    decode_rate, pipeline_rate = in_process_rates(batches[:20])
    print(f"ingest throughput: {args.batches} batches x {BATCH_SIZE} spans (protobuf, no gzip), "
          f"{args.concurrency} client threads, server pinned: {can_pin()}")
    print(f"  {'decode only (in process)':<38} {decode_rate:>10,.0f} spans/s")
    print(f"  {'decode+normalise+price+redact+rows':<38} {pipeline_rate:>10,.0f} spans/s")
    with tempfile.TemporaryDirectory() as log_dir:
        for kind in args.db.split(","):
            rate, cpu_us = run_http(kind, batches, warmup, args.concurrency, Path(log_dir))
            verdict = "meets" if rate >= TARGET_SPANS_PER_S else "BELOW"
            print(f"  {'HTTP -> ' + kind + ' (one uvicorn process)':<38} {rate:>10,.0f} spans/s"
                  f"   {cpu_us:5.1f} server CPU-us/span   {rate / decode_rate:5.1%} of decode-only"
                  f"   ({verdict} the {TARGET_SPANS_PER_S:,} target)")


if __name__ == "__main__":
    main()

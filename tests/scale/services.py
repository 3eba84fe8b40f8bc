"""Real processes for the scale-out tests: ingest and proxies started through the `switchyard` CLI
by a :class:`~switchyard.processes.Supervisor` (which stops every one it started), on loopback, on a
throwaway PostgreSQL schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from store.testing import PostgresUnavailableError, throwaway_postgres_schema
from switchyard.processes import Supervisor, free_port
from tests.conftest import require_or_skip
from tests.gateway import INGEST_TOKENS

# A process's first start imports FastAPI, SQLAlchemy, … on a busy machine: generous, yet bounded.
START_TIMEOUT_S = 40.0


@contextmanager
def postgres_schema(*, migrate: bool = True) -> Iterator[str]:
    """A URL on a fresh schema of the test server (dropped afterwards); skips, with the reason, when
    the server is unreachable (a failure under SWITCHYARD_REQUIRE_SERVICES=1)."""
    try:
        schema = throwaway_postgres_schema(migrate=migrate)
        url = schema.__enter__()
    except PostgresUnavailableError as error:
        require_or_skip(False, str(error))
        raise  # not reached: require_or_skip raised
    try:
        yield url
    finally:
        schema.__exit__(None, None, None)


def ingest_env(database_url: str, port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "SWITCHYARD_INGEST_HOST": "127.0.0.1",
            "SWITCHYARD_INGEST_PORT": str(port), "SWITCHYARD_DATA_DIR": str(data_dir),
            "SWITCHYARD_INGEST_TOKENS": json.dumps(INGEST_TOKENS), **extra}


def start_together(supervisor: Supervisor, specs: list[tuple[str, list[str], dict[str, str], str]]) -> None:
    """Start several processes at the same moment (each ``(name, args, env, health URL)``) and wait
    until all answer; a failure raises, and the supervisor still stops the others."""
    with ThreadPoolExecutor(len(specs)) as pool:
        futures = [pool.submit(supervisor.start, *spec, timeout_s=START_TIMEOUT_S) for spec in specs]
        for future in futures:
            future.result()


def start_ingests(supervisor: Supervisor, database_url: str, tmp_path: Path, count: int,
                  **extra: str) -> list[str]:
    """``count`` `switchyard ingest` processes on one database, started at once; their base URLs."""
    specs, urls = [], []
    for index in range(count):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = ingest_env(database_url, port, tmp_path / f"ingest{index}", **extra)
        specs.append((f"ingest{index}", ["-m", "switchyard", "ingest"], env, url + "/readyz"))
        urls.append(url)
    start_together(supervisor, specs)  # each answered /readyz below 500: its database is reachable
    return urls


def counter(base_url: str, name: str, **labels: str) -> float:
    """The value of one Prometheus counter sample on ``base_url``/metrics (0 when absent)."""
    text = httpx.get(base_url + "/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name + "_total" and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


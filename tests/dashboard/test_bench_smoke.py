"""bench/dashboard.py runs end to end on a small fleet: every page answers through the signed-in
Flask app and every figure comes out. Nothing about speed is asserted: that is the benchmark's job."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bench.dashboard import cost_centres, fill, measure, render, write_cluster_run_of_failures, write_keys
from store.engine import make_engine
from store.schema import turns
from store.testing import migrated_sqlite_url


def test_a_small_run_measures_every_page(tmp_path: Path) -> None:
    engine = make_engine(migrated_sqlite_url(tmp_path))
    try:
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        fill(engine, 3_000, now)
        assert write_cluster_run_of_failures(engine, now) > 0
        write_keys(engine, developers=20)
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(turns)).scalar_one() == 3_000
        results = measure(engine, repeats=1, centres=cost_centres(tmp_path))
    finally:
        engine.dispose()
    assert len(results) == 29
    assert all(math.isfinite(r.median_ms) and r.kilobytes > 0 for r in results)
    assert "page /attribution" in render("SQLite", 1.0, 3_000, 10, results)

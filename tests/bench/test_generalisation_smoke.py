"""bench/generalisation.py runs end to end at a tiny size (the real chain: ingest, evals, clustering,
``optimizer.propose``, the judge and the oracle) and prints a row with every figure. Nothing about
the figures themselves is asserted here: at this size they are noise; the suite's run is in
bench/README.md and docs/generalisation.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.generalisation import Case, row, run_case, verdict
from sim.world_prices import price_tables

ROOT = Path(__file__).resolve().parents[2]


def test_one_case_produces_every_figure(tmp_path: Path) -> None:
    case = run_case(tmp_path, "size-only", "narrow", price_tables()["narrow"], 1, 120, trials=20)
    assert isinstance(case, Case) and case.turns > 500
    assert 0 < case.oracle_cost <= case.base_cost * 1.000001 and case.oracle_quality >= case.base_quality - 1e-12
    assert case.ari is not None and case.ari_before is not None
    assert all(summary.split(" · ")[0] for summary in case.clusters)
    assert [name for name, _ in case.phases] == ["ingest", "evals", "clusters", "propose", "judge"]
    rendered = row(case)
    assert rendered.startswith("| size-only | narrow | 1 |") and rendered.count("|") == 13
    assert verdict(case)


def test_the_script_prints_a_markdown_table() -> None:
    done = subprocess.run([sys.executable, "bench/generalisation.py", "--quick", "--sessions", "100", "--trials",
                           "10", "--worlds", "no-cheaper", "--prices", "today"], cwd=ROOT, capture_output=True,
                          text=True, timeout=280, check=True)
    lines = done.stdout.splitlines()
    assert any(line.startswith("| world | prices |") for line in lines)
    assert any(line.startswith("| no-cheaper | today | 1 |") for line in lines), done.stdout
    assert "1 cases in" in done.stdout

"""The notebooks run top to bottom against a store filled by the simulated fleet, so they never rot."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from core.pricing import builtin_price_table
from sim.fleet import run_fast
from sim.fleet_config import FleetConfig
from store.direct_writes import write_event_records, write_turn_records
from store.engine import make_engine
from store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def fleet_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('nb') / 'fleet.sqlite3'}"
    engine = make_engine(url)
    prices = builtin_price_table()
    try:
        upgrade(engine)
        run_fast(FleetConfig(seed=7, sessions=40), prices,
                 lambda turns, events: (write_turn_records(engine, turns, prices), write_event_records(engine, events)))
    finally:
        engine.dispose()
    return url


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean(path: Path, fleet_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_NOTEBOOK_DATABASE_URL", fleet_database)
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # the kernel's own start-up chatter is not ours to judge
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "total cost $" in text or "estimated" in text
    assert os.environ["SWITCHYARD_NOTEBOOK_DATABASE_URL"] == fleet_database


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 1

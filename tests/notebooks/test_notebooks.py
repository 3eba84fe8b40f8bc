"""The notebooks run top to bottom against a store filled by the simulated fleet, so they never rot.

The store is shaped like the demo's: the demo's starting policy is the active version, the fleet's
turns are there for the money notebook, and a routing world with a known truth
(``bench.optimizer_world``, routed by that same policy, so every turn has its logged propensity,
and scored) is there for the what-if replay, whose estimates are checked against the truth.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from bench.optimizer_world import World, generate
from core.policy.schema import Policy
from core.pricing import builtin_price_table
from ingest.local import LocalIngest, fixed_clock
from optimizer.replay import Thresholds
from sim.fleet import run_fast
from sim.fleet_config import FleetConfig
from store.engine import make_engine
from switchyard.demo import demo_policy, prepare_store
from tests.optimizer.stored import store_world

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PROBE = "NOTEBOOK-PROBE "


@dataclass(frozen=True)
class NotebookStore:
    url: str
    world: World  # the scored, propensity-logged turns and their truth


@pytest.fixture(scope="module")
def notebook_store(tmp_path_factory: pytest.TempPathFactory) -> NotebookStore:
    url = f"sqlite:///{tmp_path_factory.mktemp('nb') / 'fleet.sqlite3'}"
    prices = builtin_price_table()
    prepare_store(url, "http://127.0.0.1:9")  # schema + the demo's starting policy, active
    policy = Policy.model_validate(demo_policy("http://127.0.0.1:9"))
    world = generate(policy, prices, turns=6_000, seed=11, days=7.0)
    engine = make_engine(url)
    try:
        fleet = FleetConfig(seed=7, sessions=40)
        # ingested a day after the fleet's week (its last sessions run on for hours)
        ingested = fleet.start + timedelta(days=fleet.days + 1)
        run_fast(fleet, prices, LocalIngest(engine, prices=prices, clock=fixed_clock(ingested)).write)
        store_world(engine, world, prices)
    finally:
        engine.dispose()
    return NotebookStore(url, world)


def check_what_if(found: dict[str, Any], store: NotebookStore) -> None:
    """The replay's table: both policies, sensible estimates, near the known truth, and the guard's
    verdict consistent with the numbers it printed."""
    rows = {row["policy"]: row for row in [*found["estimates"], *found["extremes"]]}
    assert set(rows) == {"current", "what-if", "all-haiku", "all-opus"}
    current, what_if = rows["current"], rows["what-if"]
    assert (current["haiku_below"], current["opus_from"]) == (15_000, 45_000)  # demo-1's thresholds
    assert what_if["haiku_below"] > current["haiku_below"] and what_if["opus_from"] == current["opus_from"]
    n = store.world.frame.height
    # far from the logged policy a naive mean of the agreeing turns is off by 0.1 or more (those turns
    # are the easy ones for haiku, the hard ones for opus); the off-policy estimate must not be
    for row in rows.values():
        assert 0 < row["ess"] <= row["agreeing_turns"] <= n
        assert row["dr_low"] <= row["quality_dr"] <= row["dr_high"] and row["dr_low"] < row["dr_high"]
        assert 0 <= row["snips_low"] <= row["quality_snips"] <= row["snips_high"] <= 1
        assert row["share_haiku"] + row["share_sonnet"] + row["share_opus"] == pytest.approx(1)
        # off-policy estimate against the truth of this very sample (every tier's success probability)
        truth = store.world.true_quality(Thresholds(row["haiku_below"], row["opus_from"]))
        assert abs(row["quality_dr"] - truth) <= row["dr_high"] - row["dr_low"], (row, truth)
        true_cost = store.world.true_cost(Thresholds(row["haiku_below"], row["opus_from"]))
        assert row["cost_usd"] == pytest.approx(true_cost, rel=0.1)
    assert what_if["cost_usd"] < current["cost_usd"]  # more turns on the cheapest tier
    # the what-if leans on exploration turns: fewer agree with it, and they weigh more
    assert what_if["ess"] < current["ess"]
    delta, margin = found["delta"], found["margin"]
    assert delta["low"] <= delta["value"] <= delta["high"] and margin > 0
    accepted = found["ess_floor"] <= what_if["ess"] and delta["low"] >= -margin
    assert ("would accept" in found["verdict"]) == accepted, found


CHECKS: dict[str, tuple[str, Callable[[dict[str, Any], NotebookStore], None]]] = {
    "what_if_replay": (
        # the notebook's own replay() on the two extremes too: every turn on haiku, every turn on opus
        f"import json\nprint({PROBE!r} + json.dumps({{'estimates': estimates.to_dicts(), 'delta': delta.to_dict(), "
        "'margin': margin, 'ess_floor': defaults.min_ess, 'verdict': verdict, "
        "'extremes': [replay('all-haiku', Thresholds(10**9, 10**9)), replay('all-opus', Thresholds(0, 0))]}))",
        check_what_if),
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean(path: Path, notebook_store: NotebookStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_NOTEBOOK_DATABASE_URL", notebook_store.url)
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # the kernel's own start-up chatter is not ours to judge
    notebook = nbformat.read(path, as_version=4)
    probe, check = CHECKS.get(path.stem, (None, None))
    if probe is not None:  # runs after the notebook's own cells, in the same kernel
        notebook.cells.append(nbformat.v4.new_code_cell(probe))
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "total cost $" in text or "estimated" in text
    assert os.environ["SWITCHYARD_NOTEBOOK_DATABASE_URL"] == notebook_store.url
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures, "every notebook shows at least one figure"
    if check is not None:
        lines = [line for line in text.splitlines() if line.startswith(PROBE)]
        assert len(lines) == 1, text[-2000:]
        check(json.loads(lines[0].removeprefix(PROBE)), notebook_store)


def test_there_are_notebooks() -> None:
    assert {"where_the_money_goes", "what_if_replay"} <= {p.stem for p in NOTEBOOKS}

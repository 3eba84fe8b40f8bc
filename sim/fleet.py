"""A simulated Claude Code fleet with a known ground truth.

Two ways to run the same seeded plan (:mod:`sim.fleet_plan`):

* :func:`run_fast` hands the records to a sink, in process (no HTTP, no proxy): for scale tests,
  the optimizer's proofs and the demo's history. The sink receives batches of ``core.spans.Turn``
  records and telemetry event mappings (``session_id``, ``event_name``, ``time_ns``,
  ``attributes``); ``ingest.local.LocalIngest(engine).write`` stores them through ingest's own
  pipeline, encoded as the proxy and Claude Code export them, so they are stored (bounded, redacted,
  priced) exactly as real traffic is.
* :func:`sim.fleet_client.run_through_proxy` drives the sessions as Claude Code would, through the
  real proxy against the fake upstream (turn outcomes forced with the ``x-sim-script`` header).

Both write the ground truth (:mod:`sim.fleet_truth`) as they go.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.pricing import PriceTable
from core.spans import Turn
from sim.fleet_config import FleetConfig
from sim.fleet_plan import plan_sessions
from sim.fleet_records import session_records
from sim.fleet_truth import TruthWriter, truth_row

Sink = Callable[[Sequence[Turn], Sequence[dict[str, Any]]], None]


@dataclass(frozen=True, slots=True)
class FleetSummary:
    sessions: int
    turns: int
    events: int


def run_fast(config: FleetConfig, prices: PriceTable, sink: Sink, *, truth_path: Path | None = None,
             batch_turns: int = 20_000) -> FleetSummary:
    """Generate every session's records and hand them to ``sink`` in batches of about
    ``batch_turns`` turns; write the ground truth to ``truth_path`` when given."""
    writer = TruthWriter(truth_path) if truth_path is not None else None
    turns: list[Turn] = []
    events: list[dict[str, Any]] = []
    sessions = total_turns = total_events = 0
    try:
        for plan in plan_sessions(config, prices):
            records, session_events = session_records(plan)
            if writer is not None:
                writer.write(truth_row(plan, planned, turn.span_id.hex())
                             for planned, turn in zip(plan.turns, records, strict=True))
            turns.extend(records)
            events.extend(session_events)
            sessions += 1
            if len(turns) >= batch_turns:
                sink(turns, events)
                total_turns, total_events = total_turns + len(turns), total_events + len(events)
                turns, events = [], []
        if turns or events:
            sink(turns, events)
            total_turns, total_events = total_turns + len(turns), total_events + len(events)
    finally:
        if writer is not None:
            writer.close()
    return FleetSummary(sessions, total_turns, total_events)

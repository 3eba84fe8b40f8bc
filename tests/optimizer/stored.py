"""Put a synthetic world (bench.optimizer_world) into a real store: turns through ingest's pipeline
(ingest.local), one score per turn (the world's 0/1 outcome) as the eval runner would write it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from bench.optimizer_world import World, turn_records
from core.policy.schema import Policy
from core.pricing import PriceTable
from core.spans import Turn
from ingest.local import LocalIngest, fixed_clock
from store.eval_queries import write_scores

EVALUATOR = "fleet-truth"


def world_store(directory: Path, *, turns: int, seed: int, haiku_below: int = 2_000,
                opus_from: int = 150_000) -> tuple[str, Engine, Policy]:
    """A migrated SQLite store under ``directory`` whose active policy ``v1`` (30 % exploration, haiku
    below ``haiku_below``, opus from ``opus_from``) routed ``turns`` stored turns of the synthetic
    world: (URL, engine, policy)."""
    from bench.optimizer_world import START, default_policy, generate
    from core.pricing import builtin_price_table
    from store.engine import make_engine
    from store.policies import activate, create_version
    from store.testing import migrated_sqlite_url

    url = migrated_sqlite_url(directory)
    engine = make_engine(url)
    prices = builtin_price_table()
    policy = default_policy("v1", haiku_below=haiku_below, opus_from=opus_from, explore=30)
    create_version(engine, policy, actor="alice", now=START)
    activate(engine, "v1", actor="alice", now=START)
    store_world(engine, generate(policy, prices, turns=turns, seed=seed), prices)
    return url, engine, policy


def store_world(engine: Engine, world: World, prices: PriceTable,
                edit: Callable[[list[Turn]], list[Turn]] | None = None) -> None:
    """``edit`` may change the Turn records before they are ingested (e.g. tag some turns with facts
    the world's routing did not look at)."""
    records = turn_records(world)
    if edit is not None:
        records = edit(records)
    # ingested an hour after the world's last turn: inside ingest's time bounds whenever the test runs
    last_start = max(record.start_ns for record in records)
    ingested = datetime.fromtimestamp(last_start / 1e9, UTC) + timedelta(hours=1)
    LocalIngest(engine, prices=prices, clock=fixed_clock(ingested)).write_turns(records)
    now = datetime(2026, 12, 1)
    rows = [{"trace_id": record.trace_id.hex(), "span_id": record.span_id.hex(), "evaluator": EVALUATOR,
             "version": "1", "value": float(reward), "label": "ok" if reward else "fail", "reason": None,
             "session_id": record.session_id, "started_at": started.replace(tzinfo=None), "scored_at": now}
            for record, reward, started in zip(records, world.frame["reward"], world.frame["started_at"], strict=True)]
    write_scores(engine, rows)


def drop_optuna_storage(db_url: str) -> None:
    """Remove what optimizer.search.storage_url set up next to a test database."""
    import re
    from pathlib import Path

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from store.engine import make_engine

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).with_suffix(".optuna.sqlite3").unlink(missing_ok=True)
        return
    found = re.search(r"-csearch_path=([A-Za-z0-9_]+)", str(url.query.get("options", "")))
    if found is None:
        return
    admin = make_engine(url.set(query={}))
    try:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{found.group(1)}_optuna" CASCADE'))
    finally:
        admin.dispose()

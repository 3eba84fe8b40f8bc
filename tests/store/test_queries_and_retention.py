from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from store.cli import store_app
from store.queries import UnknownColumnError, logs_frame, rollup_frame, session_summary, turns_frame
from store.retention import parse_duration, purge, purge_cutoff
from store.rows import Pricing, ns_to_datetime, turn_row
from store.testing import sample_turn
from store.writer import write_logs, write_turns

HOUR_NS = 3600 * 10**9
T0 = 1_750_000_000_000_000_000  # 2025-06-15 15:06:40 UTC


def write_hours(engine: Engine, hours: int, per_hour: int = 3) -> None:
    pricing = Pricing(Decimal("0.5"), True, "p")
    rows = [
        turn_row(sample_turn(h * per_hour + i, start_ns=T0 + h * HOUR_NS + i, end_ns=T0 + h * HOUR_NS + i + 10),
                 pricing, datetime(2025, 7, 1))
        for h in range(hours) for i in range(per_hour)
    ]
    write_turns(engine, rows)


def log_row(index: int, time_ns: int, session: str, event: str, success: bool | None) -> dict[str, object]:
    return {"record_hash": f"{index:064x}", "session_id": session, "event_name": event,
            "timestamp": ns_to_datetime(time_ns), "time_ns": time_ns, "severity": None, "body": None,
            "success": success, "trace_id": None, "span_id": None, "attributes": {"n": index},
            "ingested_at": datetime(2025, 7, 1)}


def test_turns_filter_by_time_and_dimensions(db_engine: Engine) -> None:
    write_hours(db_engine, 4)
    start = ns_to_datetime(T0 + HOUR_NS)
    assert turns_frame(db_engine, start).height == 9
    assert turns_frame(db_engine, start, ns_to_datetime(T0 + 2 * HOUR_NS)).height == 3
    assert set(turns_frame(db_engine, team="team1")["team"]) == {"team1"}
    assert turns_frame(db_engine, model="claude-sonnet-4-5").height == 12
    assert turns_frame(db_engine, session_id="session-0", limit=1).height == 1
    with pytest.raises(UnknownColumnError):
        turns_frame(db_engine, cost_usd="1")


def test_rollups_group_by_any_subset_and_filter(db_engine: Engine) -> None:
    write_hours(db_engine, 3)
    by_hour = rollup_frame(db_engine, by=("hour",))
    assert by_hour["requests"].to_list() == [3, 3, 3]
    assert by_hour["cost_usd"].to_list() == [Decimal("1.5")] * 3
    by_team = rollup_frame(db_engine, by=("team", "developer"), team="team0")
    assert set(by_team["team"]) == {"team0"} and by_team["requests"].sum() == 3
    third_hour = ns_to_datetime(T0 + 2 * HOUR_NS).replace(minute=0, second=0)
    assert rollup_frame(db_engine, third_hour, by=())["requests"].to_list() == [3]
    # rollup rows are selected by the start of their hour: 17:06 excludes the 17:00 row
    assert rollup_frame(db_engine, ns_to_datetime(T0 + 2 * HOUR_NS), by=())["requests"].to_list() == [0]
    with pytest.raises(UnknownColumnError):
        rollup_frame(db_engine, by=("session_id",))


def test_logs_and_session_summary(db_engine: Engine) -> None:
    write_hours(db_engine, 1, per_hour=7)
    write_logs(db_engine, [log_row(1, T0, "session-1", "claude_code.tool_result", False),
                           log_row(2, T0 + 1, "session-1", "claude_code.tool_result", True),
                           log_row(3, T0 + 2, "nobody", "claude_code.user_prompt", None)])
    assert write_logs(db_engine, [log_row(1, T0, "session-1", "x", None)]).inserted == 0
    frame = logs_frame(db_engine, session_id="session-1")
    assert frame.height == 2 and json.loads(frame["attributes"][0]) == {"n": 1}
    assert logs_frame(db_engine, event_name="claude_code.user_prompt").height == 1
    summary = session_summary(db_engine)
    assert summary.height == 7  # sessions without turns ("nobody") are not listed
    row = summary.filter(session_id="session-1").row(0, named=True)
    assert (row["turns"], row["tool_results"], row["tool_failures"], row["user_prompts"]) == (1, 2, 1, 0)


def test_purge_removes_whole_hours_and_keeps_the_rollup_consistent(db_engine: Engine) -> None:
    write_hours(db_engine, 5)
    write_logs(db_engine, [log_row(i, T0 + i * HOUR_NS, "s", "e", None) for i in range(5)])
    now = ns_to_datetime(T0 + 5 * HOUR_NS)  # 20:06:40; 3h30m back floors to 16:00
    deleted = purge(db_engine, timedelta(hours=3, minutes=30), now=now)
    assert deleted == 3 + 1 + 3  # the 3 turns of 15:xx, the log of 15:06, their 3 rollup rows (3 developers)
    assert turns_frame(db_engine).height == 12
    assert rollup_frame(db_engine, by=())["requests"].to_list() == [12]
    assert logs_frame(db_engine).height == 4
    assert purge(db_engine, timedelta(hours=3, minutes=30), now=now) == 0


def test_durations_and_cutoff() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration(" 12h ") == timedelta(hours=12)
    assert parse_duration("2w") == timedelta(weeks=2)
    for bad in ("", "90", "d", "-1d", "1.5h", "10y"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert purge_cutoff(timedelta(minutes=30), datetime(2025, 1, 1, 12, 10)) == datetime(2025, 1, 1, 11, 0)


def test_cli_migrate_and_purge(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    migrated = runner.invoke(store_app, ["migrate", "--database-url", url])
    assert migrated.exit_code == 0, migrated.output
    purged = runner.invoke(store_app, ["purge", "--older-than", "90d"], env={"DATABASE_URL": url})
    assert purged.exit_code == 0, purged.output
    assert "deleted 0 rows older than 90d" in purged.output
    bad = runner.invoke(store_app, ["purge", "--older-than", "soon", "--database-url", url])
    assert bad.exit_code != 0 and "not a duration" in bad.output

"""`switchyard export chargeback` and `switchyard dashboard hash-password`, run through typer."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from dashboard.chargeback import (
    chargeback_csv,
    chargeback_request,
    chargeback_rows,
    load_cost_centres,
    months_with_data,
)
from dashboard.passwords import verify_password
from store.audit import list_audit
from store.months import closed_month_names
from switchyard.chargeback_cli import export_app
from switchyard.dashboard_cli import dashboard_app
from tests.dashboard.conftest import utc_now
from tests.dashboard.fleet import seed_turns

# mounted the way switchyard/cli.py mounts them
CLI = typer.Typer()
CLI.add_typer(export_app, name="export")
CLI.add_typer(dashboard_app, name="dashboard")


def test_export_chargeback_prints_the_csv_and_audits_it(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    seed_turns(db_engine, utc_now(), count=150)
    months = months_with_data(db_engine)
    args = ["export", "chargeback", "--by", "team", "--database-url", db_url]
    for month in months:
        args += ["--month", month]
    result = CliRunner().invoke(CLI, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == chargeback_csv(chargeback_rows(db_engine, chargeback_request(months=months, by="team")))
    out = tmp_path / "chargeback.csv"
    written = CliRunner().invoke(CLI, [*args, "--out", str(out)])
    assert written.exit_code == 0 and out.read_text() == result.stdout
    entries = list_audit(db_engine, action="chargeback.export")
    assert len(entries) == 2 and all(e.actor.startswith("cli:") and e.detail["periods"] == months for e in entries)


def test_export_chargeback_close_closes_the_months_audited(db_url: str, db_engine: Engine) -> None:
    args = ["export", "chargeback", "--by", "team", "--database-url", db_url, "--month", "2025-05", "--month",
            "2025-06", "--close"]
    result = CliRunner().invoke(CLI, args)
    assert result.exit_code == 0, result.output
    assert closed_month_names(db_engine) == {"2025-05", "2025-06"}
    assert [e.subject for e in reversed(list_audit(db_engine, action="month.close"))] == ["2025-05", "2025-06"]
    future = CliRunner().invoke(CLI, [*args[:-1], "--month", "2098-01", "--close"])
    assert future.exit_code == 1 and "has not ended yet" in future.stderr


def test_export_chargeback_refuses_a_bad_month(db_url: str) -> None:
    result = CliRunner().invoke(CLI, ["export", "chargeback", "--month", "2026-13", "--database-url", db_url])
    assert result.exit_code == 1 and "YYYY-MM" in result.stderr


def test_export_chargeback_by_two_dimensions_over_a_range_with_cost_centres(db_url: str, db_engine: Engine,
                                                                           tmp_path: Path) -> None:
    now = utc_now()
    seed_turns(db_engine, now, count=150)
    centres = tmp_path / "centres.yaml"
    centres.write_text("teams:\n  team0: '4100-PAY'\ndefault: '9999-REST'\n")
    first, last = f"{now - timedelta(days=20):%Y-%m-%d}", f"{now:%Y-%m-%d}"
    result = CliRunner().invoke(CLI, ["export", "chargeback", "--from", first, "--to", last, "--by", "developer",
                                      "--then", "repo", "--database-url", db_url],
                                env={"SWITCHYARD_COST_CENTRES_FILE": str(centres)})
    assert result.exit_code == 0, result.output
    asked = chargeback_request(first=first, last=last, by="developer", then="repo")
    assert result.stdout == chargeback_csv(chargeback_rows(db_engine, asked, load_cost_centres(centres)))
    lines = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {line["period"] for line in lines} == {f"{first}..{last}"}
    assert {(line["team"], line["cost_centre"]) for line in lines} == {
        ("team0", "4100-PAY"), ("team1", "9999-REST"), ("team2", "9999-REST")}
    [entry] = list_audit(db_engine, action="chargeback.export")
    assert entry.detail["by"] == "developer+repo" and entry.detail["cost_centres"] == str(centres)
    closing = CliRunner().invoke(CLI, ["export", "chargeback", "--from", first, "--to", last, "--close",
                                       "--database-url", db_url])
    assert closing.exit_code == 1 and "whole months" in closing.stderr
    centres.write_text("teams:\n  team0: 4100\n")
    broken = CliRunner().invoke(CLI, ["export", "chargeback", "--month", f"{now:%Y-%m}", "--database-url", db_url,
                                      "--cost-centres", str(centres)])
    assert broken.exit_code == 1 and "quote it" in broken.stderr


def test_hash_password_prints_a_hash_that_verifies() -> None:
    result = CliRunner().invoke(CLI, ["dashboard", "hash-password", "--stdin"], input="s3cret\n")
    assert result.exit_code == 0, result.output
    assert verify_password("s3cret", result.stdout.strip()) and not verify_password("other", result.stdout.strip())


def test_hash_password_can_print_a_users_entry() -> None:
    result = CliRunner().invoke(CLI, ["dashboard", "hash-password", "--stdin", "--user", "alice", "--role", "approver",
                                                "--scheme", "pbkdf2_sha256"], input="pw\n")
    entry = json.loads(result.stdout)["alice"]
    assert entry["role"] == "approver" and entry["password_hash"].startswith("pbkdf2_sha256$")
    assert verify_password("pw", entry["password_hash"])


def test_hash_password_refuses_an_empty_password() -> None:
    assert CliRunner().invoke(CLI, ["dashboard", "hash-password", "--stdin"], input="\n").exit_code == 1


def test_hash_password_prompts_on_stderr_so_stdout_is_only_the_hash() -> None:
    """`export SWITCHYARD_DASHBOARD_USERS="$(switchyard dashboard hash-password --user alice)"` (the
    README's line) must capture the JSON entry alone, not the prompts."""
    result = CliRunner().invoke(CLI, ["dashboard", "hash-password", "--user", "alice"], input="pw\npw\n")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)["alice"]
    assert verify_password("pw", entry["password_hash"])
    assert "Password" in result.stderr and "Password" not in result.stdout

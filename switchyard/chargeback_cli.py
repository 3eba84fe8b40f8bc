"""`switchyard export chargeback --month 2026-11 --by team [--out FILE]`: the chargeback CSV (columns
in docs/chargeback.md) on standard output or into a file, with exact costs; every export is
written to the audit log. Mount with ``app.add_typer(export_app, name="export")``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from dashboard.chargeback import (
    GROUPINGS,
    ChargebackError,
    chargeback_csv,
    chargeback_rows,
    check_request,
    record_export,
)
from store.engine import make_engine

export_app = typer.Typer(help="Exports for finance and reporting.", no_args_is_help=True)


@export_app.callback()
def exports() -> None:
    """Exports for finance and reporting (a group, so more exports can join chargeback)."""


def _os_user() -> str:
    try:
        return getpass.getuser()
    except OSError:  # no login name in this environment (e.g. a container without USER)
        return "unknown"


@export_app.command("chargeback")
def chargeback(
    month: Annotated[list[str], typer.Option(help="A month, YYYY-MM (UTC); repeat for several.")],
    by: Annotated[str, typer.Option(help=f"Group by: {', '.join(GROUPINGS)}.")] = "team",
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", envvar="DATABASE_URL")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="SWITCHYARD_DATA_DIR")] = Path("data"),
) -> None:
    """One CSV row per month and group: requests, tokens by kind and exact cost in USD."""
    try:
        check_request(month, by)
    except ChargebackError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    engine = make_engine(database_url, data_dir=data_dir)
    try:
        rows = chargeback_rows(engine, month, by)
        record_export(engine, actor=f"cli:{_os_user()}", months=month, by=by, rows=rows, channel="cli")
    finally:
        engine.dispose()
    text = chargeback_csv(rows)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{len(rows)} rows written to {out}", err=True)

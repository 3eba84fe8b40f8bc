"""`switchyard export chargeback --month 2026-11 --by team [--then model] [--out FILE] [--close]` (or
``--from 2026-11-03 --to 2026-11-17`` instead of months): the chargeback CSV (columns in
docs/chargeback.md) on standard output or into a file, with exact costs and, with
``--cost-centres`` (``SWITCHYARD_COST_CENTRES_FILE``), each team's cost centre; every export is
written to the audit log, and so is closing the month (``--close``: its numbers are then final).
Mount with ``app.add_typer(export_app, name="export")``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from dashboard.chargeback import (
    DIMENSIONS,
    ChargebackError,
    chargeback_csv,
    chargeback_request,
    chargeback_rows,
    load_cost_centres,
    record_export,
)
from store.engine import make_engine
from store.errors import ConflictError
from store.months import close_month

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
    month: Annotated[list[str] | None, typer.Option(help="A month, YYYY-MM (UTC); repeat for several.")] = None,
    first: Annotated[str | None, typer.Option(
        "--from", help="Instead of months, a range of UTC days from this one (YYYY-MM-DD) …")] = None,
    last: Annotated[str | None, typer.Option("--to", help="… to this one, included (at most a year).")] = None,
    by: Annotated[str, typer.Option(help=f"Group by: {', '.join(DIMENSIONS)}.")] = "team",
    then: Annotated[str | None, typer.Option(help="A second dimension to group by (e.g. --by team --then model).")]
    = None,
    cost_centres: Annotated[Path | None, typer.Option(
        "--cost-centres", envvar="SWITCHYARD_COST_CENTRES_FILE",
        help="Finance's team → cost centre mapping (YAML; docs/chargeback.md).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", envvar="DATABASE_URL")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="SWITCHYARD_DATA_DIR")] = Path("data"),
    close: Annotated[bool, typer.Option(
        "--close", help="After exporting, close the months: their numbers are final and ingest refuses turns "
                        "dated inside them (an admin can reopen one through the admin API).")] = False,
) -> None:
    """One CSV row per period and group: requests, tokens by kind and exact cost in USD."""
    try:
        asked = chargeback_request(months=month or [], first=first, last=last, by=by, then=then)
        centres = load_cost_centres(cost_centres)
    except ChargebackError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    if close and any(period.month is None for period in asked.periods):
        typer.echo("--close closes whole months: give --month, not a range", err=True)
        raise typer.Exit(1)
    engine = make_engine(database_url, data_dir=data_dir)
    try:
        rows = chargeback_rows(engine, asked, centres)
        actor = f"cli:{_os_user()}"
        record_export(engine, actor=actor, request=asked, rows=rows, channel="cli", centres=centres)
        if close:
            for period in asked.periods:
                try:
                    close_month(engine, period.label, actor=actor)
                except ConflictError as error:
                    typer.echo(f"not closed: {error}", err=True)
                    raise typer.Exit(1) from None
                typer.echo(f"closed {period.label}: ingest refuses turns dated inside it from now on", err=True)
    finally:
        engine.dispose()
    text = chargeback_csv(rows)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{len(rows)} rows written to {out}", err=True)

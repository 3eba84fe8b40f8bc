"""`switchyard audit verify`: check the audit log's hash chain in the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from store.audit import audit_head, verify_audit
from store.engine import make_engine

audit_app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    database_url: Annotated[str | None, typer.Option("--database-url", envvar="DATABASE_URL")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="SWITCHYARD_DATA_DIR")] = Path("data"),
    expect_head: Annotated[str | None, typer.Option(
        help="The newest hash recorded elsewhere: detects entries deleted from the end.")] = None,
) -> None:
    """Exit 0 when every entry is as written; 1 and each problem otherwise."""
    engine = make_engine(database_url, data_dir=data_dir)
    try:
        problems = [str(p) for p in verify_audit(engine)]
        head = audit_head(engine)
    finally:
        engine.dispose()
    if expect_head is not None and (head is None or head[1] != expect_head):
        problems.append(f"the newest entry's hash is not {expect_head}: entries were removed from the end")
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {head[0] if head else 0} entries, head {head[1] if head else '-'}")

"""`switchyard audit verify`: check the audit log's HMAC chain in the database against the audit
key and the head checkpoint, both kept outside it (``SWITCHYARD_AUDIT_KEY``/``_FILE``, the data dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from store.audit import audit_head, audit_report
from store.audit_trust import AuditKeyError
from store.engine import make_engine

audit_app = typer.Typer(help="The append-only, HMAC-chained audit log.", no_args_is_help=True)


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
        report = audit_report(engine)
        head = audit_head(engine)
    except AuditKeyError as error:
        typer.echo(f"cannot verify: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    problems = [str(p) for p in report.problems]
    if expect_head is not None and (head is None or head[1] != expect_head):
        problems.append(f"the newest entry's hash is not {expect_head}: entries were removed from the end")
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {report.entries} entries, head {head[1] if head else '-'}")
    if report.unkeyed:
        typer.echo(f"note: the first {report.unkeyed} entries predate the audit key; they are checked by the "
                   "old unkeyed rule (see docs/security.md)")
    if not report.checkpoints and report.entries:
        typer.echo("note: no head checkpoint here, so entries deleted from the end cannot be seen; pass "
                   "--expect-head or run this where the writers keep their data dir")

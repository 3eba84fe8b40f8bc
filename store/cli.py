"""``switchyard db …``-style commands: migrate and purge. The lead mounts ``store_app`` into the main
CLI; the database comes from ``--database-url`` or ``DATABASE_URL`` (default: the SQLite file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from store.engine import DEFAULT_DATA_DIR, make_engine
from store.migrate import upgrade
from store.retention import parse_duration, purge

store_app = typer.Typer(help="Database maintenance: migrations and retention.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="DATABASE_URL",
                 help="SQLAlchemy URL; default: SQLite in --data-dir"),
]
DataDir = Annotated[Path, typer.Option("--data-dir", envvar="SWITCHYARD_DATA_DIR")]


@store_app.command("migrate")
def migrate_command(database_url: DatabaseUrl = None, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Create or upgrade the schema to the newest migration."""
    engine = make_engine(database_url, data_dir=data_dir)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    typer.echo("database is at the newest migration")


@store_app.command("purge")
def purge_command(
    older_than: Annotated[str, typer.Option("--older-than", help="e.g. 90d, 12h, 2w")] = "90d",
    database_url: DatabaseUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Delete turns, log events and rollups older than --older-than."""
    try:
        age = parse_duration(older_than)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--older-than") from error
    engine = make_engine(database_url, data_dir=data_dir)
    try:
        deleted = purge(engine, age)
    finally:
        engine.dispose()
    typer.echo(f"deleted {deleted} rows older than {older_than}")

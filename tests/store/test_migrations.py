from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from store.migrate import alembic_config, downgrade, upgrade
from store.schema import metadata


def test_upgrade_from_empty_matches_the_schema_module(db_engine: Engine) -> None:
    # db_engine is already migrated from an empty database; the migration must equal schema.py.
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_upgrade_is_idempotent_and_downgrade_removes_everything(db_engine: Engine) -> None:
    upgrade(db_engine)
    downgrade(db_engine, "base")
    assert set(inspect(db_engine).get_table_names()) <= {"alembic_version"}
    upgrade(db_engine)
    assert {"turns", "logs", "rollup_hourly"} <= set(inspect(db_engine).get_table_names())

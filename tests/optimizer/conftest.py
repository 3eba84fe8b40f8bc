from collections.abc import Iterator

import optuna
import pytest

from tests.store.databases import db_engine, db_url, postgres_url

__all__ = ["db_engine", "db_url", "postgres_url"]


@pytest.fixture(autouse=True)
def quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial at INFO; the tests read results, not logs."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(before)

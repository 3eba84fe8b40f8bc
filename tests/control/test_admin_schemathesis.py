"""Schemathesis against the control plane's OpenAPI description, with an admin token, over real
HTTP: every generated request (valid and invalid) gets a documented status and a body matching the
schema, invalid input a 4xx, and never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ingest.app import create_app
from store.engine import make_engine
from store.testing import migrated_sqlite_url
from tests.control.server import ADMIN_TOKEN, SettableClock, control_settings
from tests.loopback import serve_in_thread

CONTROL_PLANE = ("/admin/", "/v1/snapshot")


@schemathesis.serializer("application/yaml")
def _yaml_text(_context: Any, value: Any) -> bytes:
    # the schema declares the YAML body as a string; anything else is sent as its text
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """SQLite only: this checks the HTTP contract; the database-specific behaviour is tested on both
    databases by the other tests here."""
    url = migrated_sqlite_url(tmp_path_factory.mktemp("db"))
    engine = make_engine(url)
    app = create_app(control_settings(url), engine, clock=SettableClock())
    with serve_in_thread(app) as base_url:
        yield app, base_url
    engine.dispose()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_control_plane_conforms_to_its_schema(served: tuple[Any, str], mode: GenerationMode) -> None:
    app, base_url = served
    schema = schemathesis.openapi.from_dict(app.openapi())

    @schema.auth()
    class AdminToken:  # an explicit credential: schemathesis also probes without it and with a wrong one
        def get(self, case: Any, context: Any) -> str:
            return ADMIN_TOKEN

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(CONTROL_PLANE)]
    # 19, + PUT /admin/keys/{key_id}/repos (issue 15, item 8), + /admin/clusters and its members (issue 16)
    assert len(operations) == 22
    with requests.Session() as session:
        for operation in operations:

            @settings(max_examples=20 if mode is GenerationMode.POSITIVE else 10, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                # A schema-valid body is not necessarily a valid policy (references must resolve, …),
                # so "valid data must be accepted" does not apply; every other built-in check does.
                case.call_and_validate(base_url=base_url, session=session,
                                       excluded_checks=[positive_data_acceptance])

            check()

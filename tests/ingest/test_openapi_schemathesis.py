"""Schemathesis against ingest's own OpenAPI description, over real HTTP to uvicorn: every generated
request (valid and invalid JSON bodies, random protobuf bytes, wrong content types) must get a
documented status code and content type, a response matching the schema, and never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection
from sqlalchemy import Engine

from store.testing import migrated_sqlite_url
from tests.ingest.conftest import PROXY_TOKEN
from tests.ingest.otlp import PROTOBUF


@schemathesis.serializer(PROTOBUF)
def _protobuf_bytes(_context: Any, value: Any) -> bytes:
    # the schema declares protobuf bodies as binary strings; schemathesis generates bytes or text
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only here: this checks the HTTP contract, which does not depend on the database (the
    database-specific bad inputs are tested on both in test_traces / test_logs), and generating
    schema cases is slow enough to matter twice."""
    return migrated_sqlite_url(tmp_path_factory.mktemp("db"))


# The control plane's endpoints need credentials; tests/control/test_admin_schemathesis.py covers them.
CONTROL_PLANE = ("/admin/", "/v1/snapshot")


def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_dict(app.openapi())

    @schema.auth()
    class ProxyToken:  # an explicit credential: schemathesis also probes without it and with a wrong one (ST401)
        def get(self, case: Any, context: Any) -> str:
            return PROXY_TOKEN

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    found = (result.ok() for result in schema.get_all_operations())
    return [operation for operation in found if not operation.path.startswith(CONTROL_PLANE)]


def test_every_endpoint_documents_its_content_types(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path in ("/v1/traces", "/v1/logs", "/v1/metrics"):
        operation = paths[path]["post"]
        assert set(operation["requestBody"]["content"]) == {PROTOBUF, "application/json"}
        assert {"200", "400", "401", "403", "413", "415", "503"} <= set(operation["responses"])
        assert operation["security"] == [{"ingest token": []}]
    assert {op.path for op in operations(app)} == {"/v1/traces", "/v1/logs", "/v1/metrics", "/healthz", "/readyz",
                                                   "/metrics"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(app: FastAPI, base_url: str, db_engine: Engine, mode: GenerationMode) -> None:
    with requests.Session() as session:
        for operation in operations(app):
            if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
                continue  # GET endpoints take no input that could be made invalid

            # negative generation of the nested OTLP/JSON schema is slow (~0.3 s per example): fewer
            @settings(max_examples=25 if mode is GenerationMode.POSITIVE else 8, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                # OTLP answers 200 with partial_success for batches whose spans are invalid, by design,
                # so "invalid data must get a 4xx" does not apply; every other built-in check does.
                case.call_and_validate(base_url=base_url, session=session,
                                       excluded_checks=[negative_data_rejection])

            check()

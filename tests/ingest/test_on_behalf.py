"""Only a proxy may attribute telemetry to a developer it authenticated (x-switchyard-on-behalf), and
only telemetry: a developer's own credential cannot name someone else, spans are never on behalf."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy import Engine, select

from ingest.on_behalf import HEADER
from store.schema import logs
from tests.ingest.conftest import TELEMETRY_TOKEN
from tests.ingest.otlp import PROTOBUF, request_of
from tests.ingest.test_logs import claude_code_events, logs_request

BOB = {"developer": "bob@example.com", "team": "eng", "key_id": "bearer:u-bob", "email": "bob@example.com",
       "attribution": "bearer"}


def _header(who: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(who).encode()).decode()


def test_a_proxy_names_the_developer_and_the_rows_claims_are_overwritten(client: httpx.Client,
                                                                        db_engine: Engine) -> None:
    body = logs_request(claude_code_events()[:1]).SerializeToString()
    answer = client.post("/v1/logs", content=body, headers={"content-type": PROTOBUF, HEADER: _header(BOB)})
    assert answer.status_code == 200, answer.text
    with db_engine.connect() as connection:
        (attributes,) = connection.execute(select(logs.c.attributes)).scalars().all()
    assert attributes["switchyard.developer"] == "bob@example.com"
    assert attributes["switchyard.attribution"] == "bearer" and attributes["user.email"] == "bob@example.com"


def test_a_telemetry_token_may_not_name_a_developer(client: httpx.Client, db_engine: Engine) -> None:
    body = logs_request(claude_code_events()[:1]).SerializeToString()
    answer = client.post("/v1/logs", content=body, headers={
        "content-type": PROTOBUF, HEADER: _header(BOB), "authorization": f"Bearer {TELEMETRY_TOKEN}"})
    assert answer.status_code == 403
    with db_engine.connect() as connection:
        assert connection.execute(select(logs)).all() == []


def test_spans_are_never_on_behalf(client: httpx.Client) -> None:
    answer = client.post("/v1/traces", content=request_of(1).SerializeToString(),
                         headers={"content-type": PROTOBUF, HEADER: _header(BOB)})
    assert answer.status_code == 403


@pytest.mark.parametrize("value", ["%%%", _header([1]), _header({**BOB, "attribution": "admin"}),
                                   _header({**BOB, "developer": "bob\nmallory"}), "A" * 5000])
def test_a_bad_header_is_400(client: httpx.Client, value: str) -> None:
    body = logs_request(claude_code_events()[:1]).SerializeToString()
    answer = client.post("/v1/logs", content=body, headers={"content-type": PROTOBUF, HEADER: value})
    assert answer.status_code == 400, answer.text

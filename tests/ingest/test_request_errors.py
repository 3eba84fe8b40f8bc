"""Whole-request failures: a clear status and a google.rpc.Status body, never a 500."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from ingest.app import create_app
from ingest.settings import IngestSettings
from ingest.wire import build_wire_classes
from store.queries import turns_frame
from tests.ingest.conftest import INGEST_TOKENS, PROXY_AUTH
from tests.ingest.otlp import JSON, PROTOBUF, post, request_of
from tests.loopback import serve_in_thread


def status_message(response: httpx.Response) -> str:
    if response.headers["content-type"] == PROTOBUF:
        return str(build_wire_classes().status.FromString(response.content).message)
    body = response.json()
    assert isinstance(body["code"], int)
    return str(body["message"])


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs"])
@pytest.mark.parametrize("body, content_type, expected", [
    (b"\xff\xff\xff\xff", PROTOBUF, "not a valid OTLP"),
    (b"{not json", JSON, "not valid JSON"),
    (b"\xff\xfe{}", JSON, "not valid JSON"),
    (b"[1, 2]", JSON, "must be a JSON object"),
    (b'{"resourceSpans": {"x": 1}, "resourceLogs": 7}', JSON, "must be an array"),
    (b"[" * 100_000, JSON, "not valid JSON"),
])
def test_undecodable_bodies_are_400_in_the_request_encoding(client: httpx.Client, path: str, body: bytes,
                                                            content_type: str, expected: str) -> None:
    response = post(client, path, body, content_type)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == content_type
    assert expected in status_message(response) or "must be" in status_message(response)


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/grpc", "multipart/form-data"])
def test_unsupported_content_types_are_415(client: httpx.Client, content_type: str) -> None:
    response = post(client, "/v1/traces", request_of(1).SerializeToString(), content_type)
    assert response.status_code == 415
    assert "unsupported content type" in status_message(response)


def test_unsupported_content_encoding_is_415(client: httpx.Client) -> None:
    response = post(client, "/v1/traces", zlib.compress(request_of(1).SerializeToString()),
                    headers={"content-encoding": "br"})
    assert response.status_code == 415
    assert "content encoding" in status_message(response)


def test_corrupt_and_truncated_gzip_are_400(client: httpx.Client) -> None:
    compressed = gzip.compress(request_of(3).SerializeToString())
    for body in (b"\x1f\x8b not gzip at all", compressed[: len(compressed) // 2]):
        response = post(client, "/v1/traces", body, headers={"content-encoding": "gzip"})
        assert response.status_code == 400
        assert "gzip" in status_message(response)


def test_content_type_parameters_and_concatenated_gzip_members_are_accepted(client: httpx.Client,
                                                                             db_engine: Engine) -> None:
    first, second = request_of(2), request_of(2, start=2)
    body = gzip.compress(first.SerializeToString()) + gzip.compress(second.SerializeToString())
    response = post(client, "/v1/traces", body, "application/x-protobuf; charset=binary",
                    headers={"content-encoding": "gzip"})
    assert response.status_code == 200
    assert turns_frame(db_engine).height == 4  # two serialized requests concatenated = one merged request


@pytest.fixture(scope="module")
def small_server(db_url: str) -> Iterator[str]:
    from store.engine import make_engine

    engine = make_engine(db_url)
    settings = IngestSettings(database_url=db_url, max_body_bytes=64 * 1024, max_decompressed_bytes=256 * 1024,
                              ingest_tokens=INGEST_TOKENS)
    try:
        with serve_in_thread(create_app(settings, engine)) as url:
            yield url
    finally:
        engine.dispose()


def test_a_body_over_the_limit_is_413(small_server: str, db_engine: Engine) -> None:
    with httpx.Client(base_url=small_server, headers=PROXY_AUTH) as http:
        response = post(http, "/v1/traces", request_of(200).SerializeToString())
        assert response.status_code == 413
        assert "exceeds the limit" in status_message(response)
        streamed = http.post("/v1/traces", content=iter([b"\x00" * 50_000] * 3),
                             headers={"content-type": PROTOBUF})  # chunked: no Content-Length to trust
        assert streamed.status_code == 413
    assert turns_frame(db_engine).height == 0


def test_a_gzip_bomb_is_413_not_an_exhausted_process(small_server: str) -> None:
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024), compresslevel=9)  # ~50 KB on the wire
    assert len(bomb) < 64 * 1024
    with httpx.Client(base_url=small_server, headers=PROXY_AUTH) as http:
        response = post(http, "/v1/traces", bomb, headers={"content-encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed body exceeds" in status_message(response)


def test_errors_are_counted_in_metrics(client: httpx.Client) -> None:
    post(client, "/v1/traces", b"\xff", PROTOBUF)
    post(client, "/v1/traces", json.dumps({}).encode(), "text/plain")
    text = client.get("/metrics").text
    assert 'switchyard_ingest_requests_total{signal="traces",status="400"}' in text
    assert 'switchyard_ingest_requests_total{signal="traces",status="415"}' in text

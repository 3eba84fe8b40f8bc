"""What a client meets before the application sees its request (issue 15, item 2), on the real
processes (`switchyard proxy`, `switchyard ingest`): header limits (431), a header deadline that
closes slow clients (slowloris), and the proxy refusing an unauthenticated upload without reading it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.keys_cli import create_key
from switchyard.processes import Supervisor, free_port
from tests.faults.front_door import chunked_upload, exchange, rss_bytes, status_of, trickle
from tests.gateway import PROVIDER_KEY

HEADER_TIMEOUT_S = 1.5
MB = 1 << 20


@dataclass
class Service:
    url: str
    pid: int
    key: str = ""


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("front-door-proxy")
    keys_file = directory / "keys.json"
    key = create_key(keys_file, "alice", "payments")
    port = free_port()
    env = {"SWITCHYARD_UPSTREAM_API_KEY": PROVIDER_KEY, "SWITCHYARD_KEYS_FILE": str(keys_file),
           "SWITCHYARD_PROXY_PORT": str(port), "SWITCHYARD_SPOOL_DIR": str(directory / "spool"),
           "SWITCHYARD_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            Supervisor(directory / "logs") as supervisor:
        env["SWITCHYARD_UPSTREAM_URL"] = upstream.base_url
        url = f"http://127.0.0.1:{port}"
        child = supervisor.start("proxy", ["-m", "switchyard", "proxy"], env, url + "/healthz", timeout_s=40)
        yield Service(url, child.process.pid, key)


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    directory = tmp_path_factory.mktemp("front-door-ingest")
    port = free_port()
    env = {"DATABASE_URL": f"sqlite:///{directory / 'store.db'}", "SWITCHYARD_DATA_DIR": str(directory),
           "SWITCHYARD_INGEST_PORT": str(port), "SWITCHYARD_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    with Supervisor(directory / "logs") as supervisor:
        url = f"http://127.0.0.1:{port}"
        child = supervisor.start("ingest", ["-m", "switchyard", "ingest"], env, url + "/healthz", timeout_s=40)
        yield Service(url, child.process.pid)


@pytest.fixture(params=["proxy", "ingest"])
def service(request: pytest.FixtureRequest) -> Service:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _head(*headers: str) -> bytes:
    return ("GET /healthz HTTP/1.1\r\nhost: x\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode()


def test_headers_beyond_64_kb_get_431_and_the_connection_closes(service: Service) -> None:
    answer = exchange(service.url, _head("x-big: " + "a" * (100 * 1024)))
    assert status_of(answer) == 431, answer[:200]
    assert b"exceed 65536 bytes" in answer and b"connection: close" in answer.lower()
    # the same size spread over many headers is refused the same way
    answer = exchange(service.url, _head(*(f"x-h{i}: {'b' * 900}" for i in range(80))))
    assert status_of(answer) == 431


def test_more_than_100_headers_get_431(service: Service) -> None:
    answer = exchange(service.url, _head(*(f"x-h{i}: 1" for i in range(150))))
    assert status_of(answer) == 431 and b"more than 100 request headers" in answer
    # within the limits a request is served as before
    assert status_of(exchange(service.url, _head(*(f"x-h{i}: 1" for i in range(60)), "connection: close"))) == 200


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_deadline(service: Service) -> None:
    slow = trickle(service.url, _head("x-pad: " + "p" * 200), every_s=0.2, give_up_s=HEADER_TIMEOUT_S + 6)
    assert slow.closed_after_s < HEADER_TIMEOUT_S + 2, slow
    assert status_of(slow.answer) == 408
    # a connection that never sends a byte is closed too
    silent = exchange(service.url, b"", timeout_s=HEADER_TIMEOUT_S + 4)
    assert status_of(silent) == 408


def test_unauthenticated_uploads_are_refused_without_being_read(proxy: Service) -> None:
    """Four concurrent 60 MB chunked uploads without a key each get their 401 at once, and the
    proxy's memory does not grow with them (measured on main before: 241 → 470 MB, 401 after the
    whole upload)."""
    before = rss_bytes(proxy.pid)
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    with ThreadPoolExecutor(4) as pool:
        uploads = list(pool.map(lambda _: chunked_upload(proxy.url, "/v1/messages", headers, 60 * MB), range(4)))
    grown = rss_bytes(proxy.pid, "VmHWM") - before
    for upload in uploads:
        assert upload.status == 401, upload
        assert upload.answered_after_s < 1.0, upload
        assert upload.bytes_sent < 30 * MB, upload
    assert grown < 50 * MB, f"RSS peak grew by {grown / MB:.0f} MB"
    # a wrong key is refused the same way
    wrong = chunked_upload(proxy.url, "/v1/messages", {**headers, "x-api-key": "sk-sy-nope.nope"}, 60 * MB)
    assert wrong.status == 401 and wrong.answered_after_s < 1.0


def test_an_authenticated_upload_is_still_read_and_judged(proxy: Service) -> None:
    headers = {"content-type": "application/json", "x-api-key": proxy.key}
    upload = chunked_upload(proxy.url, "/v1/messages", headers, 2 * MB, chunk_bytes=256 * 1024)
    assert upload.status == 400  # read whole, then refused as not JSON
    assert upload.bytes_sent == 2 * MB


def test_a_slow_client_does_not_hold_the_other_clients_up(proxy: Service) -> None:
    with ThreadPoolExecutor(8) as pool:
        slow = [pool.submit(trickle, proxy.url, _head("x-pad: " + "p" * 100), 0.3, HEADER_TIMEOUT_S + 6)
                for _ in range(6)]
        assert status_of(exchange(proxy.url, _head("connection: close"))) == 200
        assert all(s.result().closed_after_s < HEADER_TIMEOUT_S + 2 for s in slow)


def test_default_limits_are_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for name in ("SWITCHYARD_MAX_HEADER_BYTES", "SWITCHYARD_MAX_HEADER_COUNT", "SWITCHYARD_HEADER_TIMEOUT_S",
                 "SWITCHYARD_DASHBOARD_HEADER_TIMEOUT_S", "SWITCHYARD_DASHBOARD_MAX_HEADER_BYTES"):
        assert name in docs, name

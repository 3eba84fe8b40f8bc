"""Start, stop and the standalone process: nothing leaks, in-flight streams are cut at shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from sim.upstream import FakeUpstream, build_parser, config_from_args
from sim.upstream_config import UpstreamConfig
from tests.sim.wire import RawExchange, post_messages, simple_body


def server_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "fake-anthropic-upstream"]


def test_stop_frees_the_port_and_the_thread() -> None:
    fake = FakeUpstream().start()
    port = fake.port
    assert httpx.get(f"{fake.base_url}/v1/models").status_code == 200
    fake.stop()
    fake.stop()  # idempotent
    assert server_threads() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError):
        _ = fake.port


def test_start_twice_and_port_in_use_are_errors() -> None:
    with FakeUpstream() as fake:
        with pytest.raises(RuntimeError):
            fake.start()
        with pytest.raises(RuntimeError, match="failed to start"):
            FakeUpstream(port=fake.port).start()
    assert server_threads() == []


def test_stop_cuts_a_stream_in_flight() -> None:
    fake = FakeUpstream(UpstreamConfig(event_interval_s=0.2, text_deltas=50, shutdown_timeout_s=0.2)).start()
    answers: list[RawExchange] = []
    client = threading.Thread(target=lambda: answers.append(post_messages(fake.port, simple_body())))
    client.start()
    fake.wait_for_requests(1)
    time.sleep(0.1)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 3
    client.join(5)
    (answer,) = answers
    assert answer.status == 200 and not answer.finished
    assert server_threads() == []


def test_cli_flags_build_the_config() -> None:
    flags = ["--event-interval-ms", "20", "--text-deltas", "18", "--instant", "--api-key", "k"]
    args = build_parser().parse_args(flags)
    config = config_from_args(args)
    assert (config.event_interval_s, config.text_deltas, config.instant, config.expected_api_key) == (
        0.02, 18, True, "k",
    )  # fmt: skip


def test_standalone_process_serves_and_exits_on_sigint() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.upstream", "--port", str(port), "--text-deltas", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "fake Anthropic upstream on" in (process.stdout.readline() if process.stdout else "")
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = post_messages(port, simple_body())
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert answer.status == 200 and answer.finished
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

"""The fake Bedrock and the fake Vertex AI start and stop cleanly in a thread, and run standalone
(``python -m sim.bedrock`` / ``python -m sim.vertex``) with the flags the demo and benchmarks use."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from sim import bedrock as bedrock_module
from sim import vertex as vertex_module
from sim.bedrock import FakeBedrock
from sim.bedrock_client import HAIKU_PROFILE, invoke_body, model_path, post_signed
from sim.fake_credentials import TEST_VERTEX_ACCESS_TOKEN
from sim.vertex import FakeVertex
from tests.sim.wire import simple_body

VERTEX_BODY = {**{k: v for k, v in simple_body("hi").items() if k != "model"}, "anthropic_version": "vertex-2023-10-16"}


def _threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


@pytest.mark.parametrize(("fake_type", "thread_name"), [(FakeBedrock, "fake-bedrock"), (FakeVertex, "fake-vertex")])
def test_stop_frees_the_port_and_the_thread(fake_type: type[FakeBedrock] | type[FakeVertex], thread_name: str) -> None:
    fake = fake_type().start()
    port = fake.port
    with pytest.raises(RuntimeError):
        fake.start()
    fake.stop()
    fake.stop()
    assert _threads(thread_name) == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_and_ask(module: str, flags: list[str], banner: str, ask: Callable[[int], int]) -> None:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *flags],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert banner in (process.stdout.readline() if process.stdout else "")
        deadline = time.monotonic() + 10
        while True:
            try:
                status = ask(port)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert status == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_bedrock_standalone_serves_signed_requests_and_exits_on_sigint() -> None:
    def ask(port: int) -> int:
        base = f"http://127.0.0.1:{port}"
        body = invoke_body(simple_body("hi"))
        return post_signed(base, model_path(HAIKU_PROFILE), body, region="eu-west-3").status_code

    _serve_and_ask("sim.bedrock", ["--region", "eu-west-3", "--text-deltas", "3"], "fake Bedrock (eu-west-3) on", ask)


def test_vertex_standalone_serves_and_exits_on_sigint() -> None:
    def ask(port: int) -> int:
        url = (f"http://127.0.0.1:{port}/v1/projects/demo-project/locations/global/publishers/anthropic/models/"
               "claude-opus-4-6:streamRawPredict")
        headers = {"authorization": "Bearer extra-token"}
        assert httpx.post(url, json=VERTEX_BODY, headers={"authorization": f"Bearer {TEST_VERTEX_ACCESS_TOKEN}"},
                          timeout=10).status_code == 200
        return httpx.post(url, json=VERTEX_BODY, headers=headers, timeout=10).status_code

    flags = ["--project", "demo-project", "--region", "global", "--access-token", "extra-token"]
    _serve_and_ask("sim.vertex", flags, "fake Vertex AI (demo-project, global) on", ask)


def test_cli_flags_build_the_configs() -> None:
    bedrock = bedrock_module.config_from(bedrock_module.build_parser().parse_args(
        ["--region", "us-west-2", "--api-key", "ABSKextra", "--max-input-tokens", "9", "--reject-foreign-signatures",
         "--event-interval-ms", "20", "--instant"]))
    assert (bedrock.region, bedrock.api_keys[-1], bedrock.max_input_tokens, bedrock.reject_foreign_signatures) == (
        "us-west-2", "ABSKextra", 9, True)
    assert (bedrock.pacing.event_interval_s, bedrock.pacing.instant) == (0.02, True)
    vertex = vertex_module.config_from(vertex_module.build_parser().parse_args(["--text-deltas", "18"]))
    assert (vertex.project, vertex.region, vertex.pacing.text_deltas) == ("switchyard-test", "us-east5", 18)

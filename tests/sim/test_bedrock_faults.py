"""Every fault the fake Bedrock can inject, by header or by queue, in Bedrock's own shapes."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import httpx
import orjson
import pytest

from sim.aws_errors import STREAM_ERROR_MESSAGE, THROTTLING_MESSAGE
from sim.bedrock import FakeBedrock
from sim.bedrock_client import (
    HAIKU_PROFILE,
    Frame,
    decode_frames,
    invoke_body,
    iter_frames,
    model_path,
    post_signed,
    signed_headers,
)
from sim.bedrock_config import BedrockConfig
from sim.provider_faults import ProviderFaultKind, parse_bedrock_faults, parse_provider_faults, parse_sse_faults
from sim.upstream_config import UpstreamConfig
from tests.sim.wire import exchange, http_request, simple_body

STREAM = model_path(HAIKU_PROFILE)
BODY = invoke_body(simple_body("hello"))

Ask = Callable[[FakeBedrock, str], httpx.Response]


def by_header(bedrock: FakeBedrock, spec: str) -> httpx.Response:
    return post_signed(bedrock.base_url, STREAM, BODY, extra_headers={"x-sim-fault": spec})


def by_queue(bedrock: FakeBedrock, spec: str) -> httpx.Response:
    bedrock.inject(spec)
    return post_signed(bedrock.base_url, STREAM, BODY)


ASKS = pytest.mark.parametrize("ask", [by_header, by_queue], ids=["header", "queue"])


@ASKS
@pytest.mark.parametrize(
    ("spec", "status", "code", "message"),
    [
        ("429", 429, "ThrottlingException", THROTTLING_MESSAGE),
        ("503", 503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
        ("500", 500, "InternalServerException", ""),
        ("408", 408, "ModelTimeoutException", ""),
        ("too-long", 400, "ValidationException", "Input is too long for requested model."),
    ],
)
def test_http_errors_in_bedrocks_shape(
    bedrock: FakeBedrock, ask: Ask, spec: str, status: int, code: str, message: str
) -> None:
    response = ask(bedrock, spec)
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"].split(":")[0] == code
    assert set(response.json()) == {"message"} and response.json()["message"].startswith(message)
    assert "retry-after" not in response.headers  # Bedrock sends none; a gateway picks its own back-off


def _split(frames: list[Frame]) -> tuple[list[Frame], list[Frame]]:
    return [f for f in frames if not f.is_exception], [f for f in frames if f.is_exception]


@ASKS
@pytest.mark.parametrize(
    ("spec", "chunks", "exception_type", "message"),
    [
        ("exception", 4, "modelStreamErrorException", STREAM_ERROR_MESSAGE),
        ("exception:throttlingException:2", 2, "throttlingException", THROTTLING_MESSAGE),
        ("exception::1", 1, "modelStreamErrorException", STREAM_ERROR_MESSAGE),
        ("error-event:3", 3, "modelStreamErrorException", STREAM_ERROR_MESSAGE),
    ],
)
def test_an_exception_frame_after_some_chunks(
    bedrock: FakeBedrock, ask: Ask, spec: str, chunks: int, exception_type: str, message: str
) -> None:
    response = ask(bedrock, spec)
    assert response.status_code == 200  # the failure comes after the 200, inside the stream
    events, exceptions = _split(decode_frames(response.content))
    assert len(events) == chunks and len(exceptions) == 1
    assert decode_frames(response.content)[-1].is_exception  # and it is the last frame
    (frame,) = exceptions
    assert frame.headers == {":exception-type": exception_type, ":content-type": "application/json",
                             ":message-type": "exception"}
    assert orjson.loads(frame.payload) == {"message": message}


def test_a_silent_pause_mid_stream() -> None:
    with FakeBedrock(BedrockConfig(pacing=UpstreamConfig(text_deltas=3))) as bedrock:
        bedrock.inject("pause:0.5:3")
        raw = orjson.dumps(BODY)
        url = bedrock.base_url + STREAM
        arrivals = []
        with httpx.stream("POST", url, content=raw, headers=signed_headers("POST", url, raw), timeout=10) as response:
            for frame in iter_frames(response.iter_raw()):
                arrivals.append((time.monotonic(), frame))
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(arrivals)]
    assert gaps.index(max(gaps)) == 2 and max(gaps) >= 0.4  # silence between the 3rd and 4th frames (client clock)
    assert arrivals[-1][1].event["type"] == "message_stop"  # then the rest, complete


def test_disconnect_mid_stream_and_before_response(bedrock: FakeBedrock) -> None:
    raw = orjson.dumps(BODY)
    headers = signed_headers("POST", f"http://127.0.0.1{STREAM}", raw)
    cut = exchange(bedrock.port, http_request(STREAM, raw, {**headers, "x-sim-fault": "disconnect-mid-stream:2"}))
    assert cut.status == 200 and not cut.finished and len(decode_frames(cut.body)) == 2
    before = {**headers, "x-sim-fault": "disconnect-before-response"}
    dropped = exchange(bedrock.port, http_request(STREAM, raw, before))
    assert dropped.recvs == [] and dropped.status == 0


def test_slow_first_byte(bedrock: FakeBedrock) -> None:
    started = time.monotonic()
    assert by_header(bedrock, "slow-first-byte:0.3").status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(("outcome", "status", "code"), [("overloaded", 503, "ServiceUnavailableException"),
                                                         ("timeout", 408, "ModelTimeoutException")])
def test_a_scripted_failure_in_bedrocks_terms(bedrock: FakeBedrock, outcome: str, status: int, code: str) -> None:
    response = post_signed(bedrock.base_url, STREAM, BODY, extra_headers={"x-sim-script": f"outcome={outcome}"})
    assert response.status_code == status and response.headers["x-amzn-ErrorType"].startswith(code)


def test_a_bad_fault_header_says_why(bedrock: FakeBedrock) -> None:
    response = by_header(bedrock, "explode")
    assert response.status_code == 400 and "unknown fault" in response.json()["message"]


def test_queued_faults_are_consumed_in_order(bedrock: FakeBedrock) -> None:
    bedrock.inject("429", times=2)
    bedrock.inject("503")
    statuses = [post_signed(bedrock.base_url, STREAM, BODY).status_code for _ in range(4)]
    assert statuses == [429, 429, 503, 200]


@pytest.mark.parametrize("spec", ["explode", "200", "429:5", "pause", "pause:x", "slow-first-byte:-1",
                                  "exception:nope", "too-long:3", "error-event:1:2", "http-error"])
def test_parse_rejects_nonsense(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_bedrock_faults(spec)


def test_parse_reads_arguments_and_each_fake_takes_only_what_it_can_do() -> None:
    pause, exception = parse_bedrock_faults("pause:1.5:3, exception:throttlingException:2")
    assert (pause.kind, pause.seconds, pause.events) == (ProviderFaultKind.PAUSE, 1.5, 3)
    assert (exception.exception_type, exception.events) == ("throttlingException", 2)
    with pytest.raises(ValueError, match="does not do"):
        parse_sse_faults("exception")
    with pytest.raises(ValueError, match="does not do"):
        parse_provider_faults("error-event")  # the common grammar has neither kind of mid-stream error

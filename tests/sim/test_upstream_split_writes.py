"""Multi-byte characters really leave the server in two writes, cut inside the character."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sim.responses import split_evenly
from sim.upstream import FakeUpstream
from sim.upstream_app import split_point
from sim.upstream_config import UpstreamConfig
from tests.sim.wire import RawExchange, parse_sse, post_messages, simple_body


def ends_inside_a_character(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.reason == "unexpected end of data"
    return False


def torn_chunks(answer: RawExchange) -> list[bytes]:
    return [chunk for chunk in answer.chunks if ends_inside_a_character(chunk)]


def test_each_multibyte_event_is_written_as_two_http_chunks_cut_inside_a_character() -> None:
    # aiohttp frames every write() as one HTTP chunk, so chunk boundaries are write boundaries.
    with FakeUpstream(UpstreamConfig(instant=True)) as fake:
        answer = post_messages(fake.port, simple_body())
    events = parse_sse(answer.body)  # the whole body is still valid UTF-8 and valid SSE
    multibyte_events = [data for _, data in events if not str(data).isascii()]
    assert multibyte_events
    assert len(torn_chunks(answer)) == len(multibyte_events)
    for index, chunk in enumerate(answer.chunks[:-1]):
        if ends_inside_a_character(chunk):
            assert (chunk + answer.chunks[index + 1]).decode("utf-8")
            assert 0x80 <= answer.chunks[index + 1][0] <= 0xBF  # the next write starts with a continuation byte


def test_the_halves_arrive_in_separate_tcp_reads() -> None:
    with FakeUpstream(UpstreamConfig(split_write_pause_s=0.2, text_deltas=2)) as fake:
        answer = post_messages(fake.port, simple_body())
    assert torn_chunks(answer)
    # Re-read the stream as it came off the socket: after some recv() the body so far ends mid-character.
    received = b""
    torn_reads = 0
    for data in answer.recvs:
        received += data
        torn_reads += ends_inside_a_character(b"".join(_chunks_so_far(received)))
    assert torn_reads >= 1


def _chunks_so_far(raw: bytes) -> list[bytes]:
    _, _, rest = raw.partition(b"\r\n\r\n")
    chunks = []
    while (line_end := rest.find(b"\r\n")) > 0:
        size = int(rest[:line_end], 16)
        payload = rest[line_end + 2 : line_end + 2 + size]
        if size == 0 or len(payload) < size:
            break
        chunks.append(payload)
        rest = rest[line_end + 2 + size + 2 :]
    return chunks


def test_splitting_can_be_turned_off() -> None:
    with FakeUpstream(UpstreamConfig(split_multibyte_writes=False)) as fake:
        answer = post_messages(fake.port, simple_body())
    assert answer.finished and not torn_chunks(answer)


@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1))
def test_split_point_is_inside_the_first_multibyte_character(text: str) -> None:
    event = b"data: " + text.encode("utf-8")
    cut = split_point(event)
    if event.isascii():
        assert cut is None
        return
    assert cut is not None
    assert ends_inside_a_character(event[:cut])
    assert 0x80 <= event[cut] <= 0xBF


@given(st.text(), st.integers(min_value=1, max_value=40))
def test_split_evenly_keeps_every_character(text: str, pieces: int) -> None:
    parts = split_evenly(text, pieces)
    assert "".join(parts) == text
    assert len(parts) == max(1, min(pieces, len(text)))
    assert all(parts) or text == ""

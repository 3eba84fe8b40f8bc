"""The turn journal on a real directory: what a crash leaves is replayed (undelivered turns, turns
that never finished become ``interrupted``), a torn tail is ignored, acked turns are not replayed and
their segments go, the cap drops the oldest and counts them; and the pieces around it (span cut to
size, the export envelope, the start record's encoding)."""

from __future__ import annotations

import threading
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from core.spans import Turn, fill_span, span_to_turn, turns_in_request, turns_to_request
from proxy.journal import Journal
from proxy.journal_records import Pending
from proxy.otlp_envelope import Envelope
from proxy.span_fit import fit_span
from proxy.stats import ExportStats
from proxy.turn_record import INTERRUPTED, turn_from_json, turn_to_json
from tests.loopback import wait_until

MIB = 1024 * 1024


def _turn(n: int, developer: str = "alice", **fields: object) -> Turn:
    start = 1_700_000_000_000_000_000 + n
    return Turn(trace_id=bytes([n % 250 + 1]) * 16, span_id=n.to_bytes(8, "big"), start_ns=start,
                end_ns=start + 10**9, developer=developer, requested_model="claude-sonnet-4-5",
                **fields)  # type: ignore[arg-type]


def _journal(directory: Path | None, **options: object) -> tuple[Journal, ExportStats]:
    stats = ExportStats()
    values: dict[str, object] = dict(max_bytes=64 * MIB, max_span_bytes=MIB, resident=1000, stats=stats,
                                     flush_interval_s=0.02)
    values.update(options)
    return Journal(directory, **values), stats  # type: ignore[arg-type]


class _Fresh:
    """Collects what the journal hands the exporter (the test plays the exporter)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.items: list[Pending] = []
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.items.extend(self.journal.take_fresh())


def _crash(journal: Journal) -> None:
    """Stop the writer thread after its last flush, as kill -9 would find the files (no close-time work
    beyond what already reached the disk)."""
    wait_until(lambda: journal.backlog == 0, timeout=5, what="the journal flushed")
    journal._stopping = True
    journal._kick.set()
    assert journal._thread is not None
    journal._thread.join()
    if journal._handle is not None:
        journal._handle.close()


def test_a_crash_replays_undelivered_turns_and_turns_in_flight_become_interrupted(tmp_path: Path) -> None:
    journal, stats = _journal(tmp_path)
    fresh = _Fresh(journal)
    journal.start(fresh)
    delivered, finished, streaming, silent = (_turn(n) for n in (1, 2, 3, 4))
    for turn in (delivered, finished):
        journal.done(turn, journal.open(turn))
    opened = journal.open(streaming)
    journal.progress(opened, _turn(3, input_tokens=1200, cache_read_tokens=30_000, served_model="claude-sonnet-4-5"))
    journal.open(silent)  # started, nothing counted yet
    wait_until(lambda: len(fresh.items) == 2, timeout=5, what="two finished turns handed over")
    journal.ack([fresh.items[0].seq])  # ingest took the first
    _crash(journal)

    again, stats_again = _journal(tmp_path)
    replay = _Fresh(again)
    recovered = again.start(replay)
    assert [p.label for p in recovered.unacked] == [fresh.items[1].label]  # the delivered one is not resent
    by_span = {turn.span_id: turn for _, turn in recovered.interrupted}
    assert set(by_span) == {streaming.span_id, silent.span_id}
    cut_short = by_span[streaming.span_id]
    assert cut_short.error_type == INTERRUPTED and cut_short.developer == "alice"
    assert (cut_short.input_tokens, cut_short.cache_read_tokens) == (1200, 30_000)  # what the tap had counted
    assert by_span[silent.span_id].requested_model == "claude-sonnet-4-5"
    # the interrupted turns are journaled as finished: handed to the exporter, and only once
    wait_until(lambda: len(replay.items) == 3, timeout=5, what="the replay handed over")
    assert stats_again.interrupted == 2 and stats_again.recovered == 1
    spans = [Span.FromString(again.read(p) or b"") for p in replay.items]
    assert sorted(span.span_id for span in spans) == sorted([finished.span_id, streaming.span_id, silent.span_id])
    again.ack([p.seq for p in replay.items])
    _crash(again)

    third, stats_third = _journal(tmp_path)
    recovered = third.start(_Fresh(third))
    assert recovered.unacked == [] and recovered.interrupted == []  # nothing is exported twice
    third.close()
    assert stats.interrupted == 0 and stats_third.interrupted == 0


def test_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    journal, _ = _journal(tmp_path)
    journal.start(lambda: None)
    journal.done(_turn(1))
    _crash(journal)
    (segment,) = tmp_path.glob("*.journal")
    whole = segment.read_bytes()
    with segment.open("ab") as handle:  # a second record cut off mid-write by the crash
        handle.write(whole[: len(whole) // 2])
    again, _ = _journal(tmp_path)
    recovered = again.start(lambda: None)
    assert len(recovered.unacked) == 1 and recovered.torn == 1
    again.close()


def test_acked_segments_are_deleted_and_the_cap_drops_the_oldest(tmp_path: Path) -> None:
    journal, stats = _journal(tmp_path, max_bytes=400_000, segment_bytes=64 * 1024)
    fresh = _Fresh(journal)
    journal.start(fresh)
    big = tuple(f"{i:03d}" + "x" * 197 for i in range(100))  # each finished turn ~20 KB: the cap holds about 20
    for n in range(1, 61):
        journal.done(_turn(n, tool_use_ids=big))
    wait_until(lambda: stats.journaled == 60 and journal.backlog == 0, timeout=10, what="60 turns journaled")
    assert stats.dropped_journal_full > 0
    assert journal.pending + stats.dropped_journal_full == 60
    assert sum(p.stat().st_size for p in tmp_path.glob("*.journal")) <= 400_000
    survivors = [p for p in fresh.items if journal.live(p.seq)]
    assert survivors and survivors[-1].seq == fresh.items[-1].seq  # the newest are kept
    journal.ack([p.seq for p in survivors])
    wait_until(lambda: journal.pending == 0, timeout=5, what="all acked")
    journal.done(_turn(99))  # a new record moves the writer on; the acked segments are gone
    wait_until(lambda: len(list(tmp_path.glob("*.journal"))) == 1, timeout=5, what="acked segments deleted")
    journal.close()


def test_without_a_directory_the_journal_is_memory_only_and_capped(tmp_path: Path) -> None:
    journal, stats = _journal(None, max_bytes=100_000)
    fresh = _Fresh(journal)
    journal.start(fresh)
    for n in range(1, 21):
        journal.done(_turn(n, tool_use_ids=tuple(f"{i:03d}" + "y" * 197 for i in range(50))))  # ~10 KB each
    wait_until(lambda: stats.journaled == 20, timeout=5, what="20 turns")
    assert stats.dropped_journal_full > 0 and journal.pending + stats.dropped_journal_full == 20
    assert not list(tmp_path.iterdir())
    journal.close()


def test_an_oversized_span_is_cut_to_fit_and_keeps_its_numbers() -> None:
    ids = tuple(f"toolu_{n:0250d}" for n in range(12_000))  # ~3 MB of tool_result ids
    turn = _turn(7, tool_result_ids=ids, input_tokens=50_000, output_tokens=900, error_message="e" * 400_000)
    span = Span()
    fill_span(span, turn)
    data, truncated = fit_span(span, MIB)
    assert truncated and len(data) <= MIB
    back = span_to_turn(Span.FromString(data))
    assert (back.span_id, back.developer, back.input_tokens, back.output_tokens) == (turn.span_id, "alice", 50_000, 900)
    assert back.tool_result_ids[-1].startswith("…[truncated by switchyard")
    assert back.tool_result_ids[:100] == ids[:100]
    small = Span()
    fill_span(small, _turn(8))
    assert fit_span(small, MIB) == (small.SerializeToString(), False)


def test_the_envelope_around_encoded_spans_is_the_export_request() -> None:
    turns = [_turn(n) for n in (1, 2, 3)]
    spans = []
    for turn in turns:
        span = Span()
        fill_span(span, turn)
        spans.append(span.SerializeToString())
    request = ExportTraceServiceRequest.FromString(Envelope(version="1.2").request(spans))
    assert request == turns_to_request(turns, version="1.2")
    assert [span_to_turn(s).span_id for s in turns_in_request(request)] == [t.span_id for t in turns]


def test_the_start_record_round_trips() -> None:
    turn = _turn(5, tool_use_ids=("a", "b"), fallback_hops=("x",), propensity=0.5, thinking=True)
    assert turn_from_json(turn_to_json(turn)) == turn


def test_journal_and_dead_letters_are_private_whatever_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    from proxy.dead_letters import DeadLetters

    previous = os.umask(0o022)
    try:
        journal, stats = _journal(tmp_path / "spool")
        journal.start(lambda: None)
        journal.done(_turn(1))
        wait_until(lambda: stats.journaled == 1, timeout=5, what="the turn journaled")
        letters = DeadLetters(tmp_path / "spool" / "dead-letters", 1 << 20, stats)
        letters.put(1, "trace/span (alice)", b"\x0a\x00", "HTTP 400")
        journal.close()
    finally:
        os.umask(previous)
    files = [p for p in (tmp_path / "spool").rglob("*") if p.is_file()]
    assert len(files) >= 3  # a journal segment, a dead letter and its index
    for path in [*files, tmp_path / "spool", tmp_path / "spool" / "dead-letters"]:
        others = stat.S_IMODE(path.stat().st_mode) & 0o077
        assert others == 0, f"{path} is open to others: {oct(path.stat().st_mode)}"

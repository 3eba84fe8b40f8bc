"""The span pipeline, pure steps in order: normalise (span → Turn) → check bounds → redact → price →
row. Each span either becomes a row or a rejection with a reason; nothing here does I/O (the caller
says which months are closed)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from core.pricing import UsageError
from core.redact import RecordRedactor
from core.spans import SpanDecodeError, Turn, span_to_turn
from core.turn_bounds import TurnBounds
from ingest.decode import Batch, Rejection
from ingest.pricer import Pricer
from store.rows import turn_problem, turn_row

GEN_AI_PREFIX = "gen_ai."


@dataclass(slots=True)
class PreparedSpans:
    rows: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # each row's position in the request
    rejections: list[Rejection] = field(default_factory=list)


def is_gen_ai(span: Span) -> bool:
    return any(kv.key.startswith(GEN_AI_PREFIX) for kv in span.attributes)


def normalise(span: Span, *, require_gen_ai: bool) -> Turn:
    """Span → Turn, or SpanDecodeError saying why not."""
    if require_gen_ai and not is_gen_ai(span):
        raise SpanDecodeError("no gen_ai.* attributes: not an LLM call")
    turn = span_to_turn(span)
    problem = turn_problem(turn)
    if problem is not None:
        raise SpanDecodeError(problem)
    return turn


class SpanPipeline:
    def __init__(self, pricer: Pricer, *, require_gen_ai: bool, redactor: Callable[[Turn], Turn] | None,
                 bounds: TurnBounds) -> None:
        self._pricer = pricer
        self._require_gen_ai = require_gen_ai
        self._redact = redactor
        self._bounds = bounds

    @classmethod
    def build(cls, pricer: Pricer, *, require_gen_ai: bool, redact: bool,
              keep_fields: frozenset[str] = frozenset(), bounds: TurnBounds | None = None) -> SpanPipeline:
        redactor = RecordRedactor(Turn, keep=keep_fields) if redact else None
        return cls(pricer, require_gen_ai=require_gen_ai, redactor=redactor, bounds=bounds or TurnBounds())

    def run(self, batch: Batch[Span], ingested_at: datetime, closed_months: Collection[str] = ()) -> PreparedSpans:
        """``ingested_at`` (naive UTC) is "now" for the time bounds."""
        prepared = PreparedSpans(rejections=list(batch.rejections))
        now_ns = int(ingested_at.replace(tzinfo=UTC).timestamp() * 1e9)
        for index, span in batch.items:
            try:
                turn = normalise(span, require_gen_ai=self._require_gen_ai)
            except SpanDecodeError as error:
                prepared.rejections.append(Rejection(index, str(error), span.span_id.hex() or None))
                continue
            problem = self._bounds.problem(turn, now_ns, closed_months)
            if problem is not None:
                prepared.rejections.append(Rejection(index, problem, span.span_id.hex()))
                continue
            if self._redact is not None:
                turn = self._redact(turn)
            try:
                pricing = self._pricer.price(turn)
            except UsageError as error:  # e.g. more 1-hour cache writes than cache writes
                prepared.rejections.append(Rejection(index, str(error), span.span_id.hex() or None))
                continue
            prepared.rows.append(turn_row(turn, pricing, ingested_at))
            prepared.indexes.append(index)
        prepared.rejections.sort(key=lambda rejection: rejection.index)
        return prepared

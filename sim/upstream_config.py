"""Settings of the fake Anthropic upstream: pacing, sizes, identity.

One frozen value passed to the server; nothing here does I/O. Benchmarks build it from CLI flags,
tests build it directly (``UpstreamConfig(event_interval_s=0.02)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MODELS: tuple[str, ...] = (
    "claude-opus-5-5",
    "claude-opus-4-6",
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """How the fake upstream paces and shapes its answers.

    ``event_interval_s`` is the pause between two SSE events (the first event is never delayed,
    so time-to-first-byte stays the real server's). ``instant`` overrides every pause, including
    the one between the two halves of a split multi-byte character, for saturation benchmarks.
    """

    event_interval_s: float = 0.0
    first_event_delay_s: float = 0.0
    instant: bool = False
    # Number of text_delta events a plain-text answer is cut into (≥ 1). With thinking off a text
    # answer is text_deltas + 6 events (message_start, block start, ping, …, block stop,
    # message_delta, message_stop), so 18 gives the 24-event response the benchmarks use.
    text_deltas: int = 8
    # Write the first multi-byte character of an event in two transport writes; the pause between
    # them lets a reader on the other side of the socket observe the halves separately.
    split_multibyte_writes: bool = True
    split_write_pause_s: float = 0.002
    # None: answer with the model the request named (as Anthropic does).
    model_override: str | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    # When set, requests must carry it as x-api-key or "Authorization: Bearer …" (else 401).
    expected_api_key: str | None = None
    default_retry_after_s: int = 1
    # This share of /v1/messages calls answer 529 overloaded_error (a seeded draw): the demo's
    # "Anthropic is overloaded" wall, which a policy with a Bedrock fallback rides through.
    overloaded_share: float = 0.0
    # How many events disconnect-mid-stream / error-event let through before failing.
    events_before_fault: int = 4
    recorded_requests_limit: int = 1000
    prompt_cache_entries: int = 100_000
    # Streams still running at shutdown get this long to finish before they are cancelled.
    shutdown_timeout_s: float = 0.5
    extra_response_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.text_deltas < 1:
            raise ValueError("text_deltas must be at least 1")
        if not 0.0 <= self.overloaded_share <= 1.0:
            raise ValueError("overloaded_share must be between 0 and 1")
        if self.event_interval_s < 0 or self.first_event_delay_s < 0 or self.split_write_pause_s < 0:
            raise ValueError("delays must not be negative")

    @property
    def pause_between_events_s(self) -> float:
        return 0.0 if self.instant else self.event_interval_s

    @property
    def pause_before_first_event_s(self) -> float:
        return 0.0 if self.instant else self.first_event_delay_s

    @property
    def pause_inside_split_s(self) -> float:
        return 0.0 if self.instant else self.split_write_pause_s

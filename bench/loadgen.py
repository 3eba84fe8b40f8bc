"""The load generator: Claude-Code-shaped streaming requests at a fixed rate (open loop) or as fast as
the server answers (closed loop), timed per request.

It runs in its own process, pinned to the load core, so its work never lands on the proxy's core:
``python -m bench.loadgen < spec.json > result.json`` (aiohttp client on uvloop). ``run_load`` is the
same thing in-process (the smoke test). Times are ``time.monotonic()``, which is one clock for every
process on the machine, so the caller can line records up with its /proc samples.
"""

from __future__ import annotations

import asyncio
import random
import resource
import sys
import time
from dataclasses import asdict, dataclass, field

import aiohttp
import orjson

from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session

MESSAGES_PATH = "/v1/messages?beta=true"
# Fields of one record, in order (a list per request keeps the result small).
RECORD_FIELDS = ("phase", "target", "scheduled", "start", "first_byte", "end", "status", "events", "ok")


@dataclass(frozen=True, slots=True)
class BodyMix:
    """A pool of request bodies: one Claude Code session each, history drawn uniformly from the range."""

    seed: int = 1
    count: int = 48
    history_min: int = 20_000
    history_max: int = 200_000
    tool_count: int = 15


@dataclass(frozen=True, slots=True)
class Phase:
    rate: float  # rounds per second (open loop); a round sends each target `weight` requests
    duration_s: float


def burst_phases(low: float, high: float, *, weight: int, warmup_s: float, before_s: float, ramp_s: float,
                 steps: int, hold_s: float, after_s: float) -> list[tuple[str, Phase, bool]]:
    """A burst as (label, phase, measured?) for ``Run.compare`` in bench/proxy_overhead.py: a warm-up
    and a measured stretch at ``low``, a ramp of ``steps`` equal steps over ``ramp_s`` up to ``high``
    (none with ``steps=0``), ``hold_s`` at ``high`` ("burst: peak"), then ``after_s`` back at ``low``.
    Rates are proxied requests/s; a round sends ``weight`` requests through the proxy and one direct."""
    phases = [("warm-up", Phase(low / weight, warmup_s), False), ("burst: before", Phase(low / weight, before_s), True)]
    for step in range(1, steps + 1):
        rate = low + (high - low) * step / steps
        phases.append((f"burst: {rate:.0f}/s", Phase(rate / weight, ramp_s / steps), True))
    if hold_s > 0:
        phases.append(("burst: peak", Phase(high / weight, hold_s), True))
    phases.append(("burst: after", Phase(low / weight, after_s), True))
    return phases


@dataclass(frozen=True, slots=True)
class LoadSpec:
    targets: list[str]  # base URLs; open-loop requests alternate between them in seeded random order
    key: str  # sent as Authorization: Bearer (the virtual key; the fake upstream accepts any)
    weights: list[int] = field(default_factory=list)  # requests per round per target (default: 1 each)
    mix: BodyMix = field(default_factory=BodyMix)
    mode: str = "open"  # "open": phases at fixed rates; "closed": `concurrency` workers back to back
    phases: list[Phase] = field(default_factory=list)
    concurrency: int = 1
    duration_s: float = 0.0
    expected_events: int = 24
    timeout_s: float = 60.0

    @classmethod
    def from_json(cls, raw: bytes) -> LoadSpec:
        data = orjson.loads(raw)
        data["mix"] = BodyMix(**data["mix"])
        data["phases"] = [Phase(**p) for p in data["phases"]]
        return cls(**data)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))


@dataclass(slots=True)
class LoadResult:
    records: list[list[float]]  # RECORD_FIELDS per request
    errors: dict[str, int]
    cpu_s: float  # the generator's own CPU time over the run
    wall_s: float
    body_bytes: list[int]

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> LoadResult:
        return cls(**orjson.loads(raw))


def build_requests(mix: BodyMix, key: str) -> list[tuple[bytes, dict[str, str]]]:
    """Encoded bodies and headers, built before the clock starts. Thinking is off so the fake upstream
    answers with 18 text deltas + 6 framing events = 24 events."""
    rng = random.Random(mix.seed)
    requests = []
    for index in range(mix.count):
        session = make_session(mix.seed * 100_000 + index)
        body = build_request_body(mix.seed * 100_000 + index, session=session, tool_count=mix.tool_count,
                                  history_chars=rng.randint(mix.history_min, mix.history_max), thinking=False)
        requests.append((encode_body(body), build_headers(session, auth_token=key)))
    return requests


class _Client:
    def __init__(self, session: aiohttp.ClientSession, spec: LoadSpec) -> None:
        self.session = session
        self.spec = spec
        self.records: list[list[float]] = []
        self.errors: dict[str, int] = {}

    async def request(self, phase: int, target: int, scheduled: float, body: bytes, headers: dict[str, str]) -> None:
        """One streamed request. OK means 200, the expected number of events and a final message_stop."""
        start = time.monotonic()
        first = 0.0
        events = 0
        status = -1
        tail = b""
        try:
            async with self.session.post(self.spec.targets[target] + MESSAGES_PATH, data=body,
                                         headers=headers) as response:
                status = response.status
                async for chunk in response.content.iter_any():
                    if not first:
                        first = time.monotonic()
                    events += chunk.count(b"event: ")
                    tail = (tail + chunk)[-1024:]  # message_stop can carry a provider's metrics (Bedrock)
        except (aiohttp.ClientError, TimeoutError) as exc:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
        end = time.monotonic()
        ok = status == 200 and events == self.spec.expected_events and b"message_stop" in tail
        if status != -1 and not ok:
            reason = f"HTTP {status}, {events} events"
            self.errors[reason] = self.errors.get(reason, 0) + 1
        self.records.append([phase, target, scheduled, start, first, end, status, events, int(ok)])


def _schedule(spec: LoadSpec) -> list[tuple[int, int, float, int]]:
    """(phase, target, seconds after start, body index) for every open-loop request, evenly spaced.
    Each round sends the same body to every target, in a seeded random order, so both sides see the
    same mix."""
    rng = random.Random(spec.mix.seed)
    weights = spec.weights or [1] * len(spec.targets)
    width = sum(weights)
    slots = []
    offset = 0.0
    round_index = 0
    for phase_index, phase in enumerate(spec.phases):
        gap = 1.0 / (phase.rate * width)
        rounds = max(1, round(phase.rate * phase.duration_s))
        for k in range(rounds):
            order = [target for target, weight in enumerate(weights) for _ in range(weight)]
            rng.shuffle(order)
            for j, target in enumerate(order):
                slots.append((phase_index, target, offset + (k * width + j) * gap, round_index))
            round_index += 1
        offset += rounds / phase.rate
    return slots


async def _open_loop(client: _Client, requests: list[tuple[bytes, dict[str, str]]]) -> None:
    tasks = []
    t0 = time.monotonic() + 0.1
    for phase, target, at, index in _schedule(client.spec):
        scheduled = t0 + at
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        body, headers = requests[index % len(requests)]
        tasks.append(asyncio.create_task(client.request(phase, target, scheduled, body, headers)))
    await asyncio.gather(*tasks)


async def _closed_loop(client: _Client, requests: list[tuple[bytes, dict[str, str]]]) -> None:
    deadline = time.monotonic() + client.spec.duration_s
    concurrency = client.spec.concurrency

    async def worker(index: int) -> None:
        while (now := time.monotonic()) < deadline:
            body, headers = requests[index % len(requests)]
            await client.request(0, 0, now, body, headers)
            index += concurrency

    await asyncio.gather(*(worker(i) for i in range(concurrency)))


async def run_load(spec: LoadSpec) -> LoadResult:
    requests = build_requests(spec.mix, spec.key)
    started_cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        client = _Client(session, spec)
        await (_open_loop if spec.mode == "open" else _closed_loop)(client, requests)
    ended_cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ended_cpu.ru_utime - started_cpu.ru_utime) + (ended_cpu.ru_stime - started_cpu.ru_stime)
    return LoadResult(client.records, client.errors, cpu, time.monotonic() - started,
                      [len(body) for body, _ in requests])


def main() -> None:
    import uvloop

    spec = LoadSpec.from_json(sys.stdin.buffer.read())
    result = uvloop.run(run_load(spec))
    sys.stdout.buffer.write(result.to_json())


if __name__ == "__main__":
    main()

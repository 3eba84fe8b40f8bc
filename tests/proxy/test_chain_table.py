"""The fallback chain's state machine, socket-free: each row scripts what every target answers and
states what the client gets, which hops are recorded, and which circuits open (mitmproxy's
Playbook style, beside the loopback tests in test_routing.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from core.policy.schema import Fallback, Target
from proxy.breaker import CircuitBreaker
from proxy.chain import FALLBACK_HEADER, walk_chain
from proxy.errors import ProxyError, UpstreamFailure
from proxy.relay import HeldResponse

A, B, C = (Target(name=n, base_url="https://api.anthropic.com") for n in "abc")
BEDROCK = Target(name="bedrock", provider="bedrock", region="us-east-1", model="us.anthropic.claude-haiku-4-5-v1:0")

# A script entry: an int is the status the target answers; "connect"/"timeout" make it fail before
# answering; "529:7" answers 529 with retry-after 7.
Script = dict[str, list[str | int]]


@dataclass
class Played:
    attempts: list[tuple[str, frozenset[int], bytes]] = field(default_factory=list)
    responded: list[tuple[int, bytes]] = field(default_factory=list)


def play(chain: tuple[Target, ...], script: Script, fallback: Fallback | None = None,
         breaker: CircuitBreaker | None = None):
    fallback = fallback or Fallback()
    breaker = breaker or CircuitBreaker(clock=lambda: 0.0)
    played = Played()
    queues = {name: list(answers) for name, answers in script.items()}

    async def attempt(target: Target, hold: frozenset[int], trail: list[tuple[bytes, bytes]]):
        played.attempts.append((target.name, hold, dict(trail).get(FALLBACK_HEADER, b"")))
        answer = queues[target.name].pop(0)
        if answer in ("connect", "timeout"):
            raise UpstreamFailure(str(answer), f"{target.name} {answer}", status=502 if answer == "connect" else 504)
        status, _, retry = str(answer).partition(":")
        if int(status) in hold:
            return HeldResponse(int(status), [], b"held", float(retry) if retry else None)
        return int(status)

    async def respond(held: HeldResponse, trail: list[tuple[bytes, bytes]]) -> None:
        played.responded.append((held.status, dict(trail)[FALLBACK_HEADER]))

    try:
        outcome = asyncio.run(walk_chain(chain, fallback, breaker, attempt, respond))
    except ProxyError as error:
        return played, error, breaker
    return played, outcome, breaker


ROWS = [
    # chain, script, client gets, hops, served by
    ((A, B), {"a": [200]}, 200, ["a:200"], "a"),
    ((A, B), {"a": [529], "b": [200]}, 200, ["a:529", "b:200"], "b"),
    ((A, BEDROCK), {"a": [529], "bedrock": [200]}, 200, ["a:529", "bedrock:200"], "bedrock"),
    ((A, BEDROCK), {"a": ["timeout"], "bedrock": [200]}, 200, ["a:timeout", "bedrock:200"], "bedrock"),
    ((A, B, C), {"a": ["connect"], "b": [429], "c": [200]}, 200, ["a:connect", "b:429", "c:200"], "c"),
    ((A, B), {"a": [400]}, 400, ["a:400"], "a"),  # a client error is not the target's fault: no fallback
    ((A, B), {"a": [529], "b": [529]}, 529, ["a:529", "b:529"], "b"),  # the last target's answer, as it came
]


@pytest.mark.parametrize(("chain", "script", "status", "hops", "served"), ROWS)
def test_the_chain_table(chain, script, status, hops, served) -> None:
    played, outcome, _ = play(chain, script)
    assert outcome.hops == hops
    assert outcome.status == status
    assert (outcome.served_by.name if outcome.served_by else None) == served
    # every attempt after the first tells the next upstream what was tried before it
    for index, (_, _, trail) in enumerate(played.attempts):
        assert trail == ",".join(hops[:index]).encode()


def test_the_last_target_is_never_held_back_and_failed_targets_open_their_circuit() -> None:
    played, outcome, breaker = play((A, BEDROCK), {"a": [503], "bedrock": [503]})
    assert [hold for _, hold, _ in played.attempts][-1] == frozenset()  # nowhere else to go: relayed
    assert outcome.status == 503 and outcome.served_by is BEDROCK
    assert not breaker.available("a") and not breaker.available("bedrock")


def _open(*names: str) -> CircuitBreaker:
    breaker = CircuitBreaker(clock=lambda: 0.0)
    for name in names:
        breaker.trip(name, 30)
    return breaker


def test_an_open_circuit_is_skipped_and_a_success_closes_it() -> None:
    played, outcome, _ = play((A, B), {"b": [200]}, breaker=_open("a"))
    assert [name for name, _, _ in played.attempts] == ["b"] and outcome.hops == ["a:breaker_open", "b:200"]


# Open circuits: chain, the targets whose circuit is open, seconds on the clock (each trip lasts
# 30 s from 0), script, what the client gets, hops (the recorded ones), targets tried, circuits
# open after the walk. A target passed over is a hop where the walk passes it, so the first hop
# names the decided target; one the walk never needed (after the target that served) is not.
BREAKER_ROWS = [
    # the primary's circuit is open: passed over, recorded, the second serves
    ((A, B), "a", 0, {"b": [200]}, 200, ["a:breaker_open", "b:200"], ["b"], ["a"]),
    # the one in the middle: recorded in route order
    ((A, B, C), "b", 0, {"a": [529], "c": [200]}, 200, ["a:529", "b:breaker_open", "c:200"], ["a", "c"], ["a", "b"]),
    # two open before the one that serves
    ((A, B, C), "ab", 0, {"c": [200]}, 200, ["a:breaker_open", "b:breaker_open", "c:200"], ["c"], ["a", "b"]),
    # open after the target that served: never reached, not a hop
    ((A, B), "b", 0, {"a": [200]}, 200, ["a:200"], ["a"], ["b"]),
    # the primary serves once its cooldown is over (the probe after the open circuit) and stays closed
    ((A, B), "a", 31, {"a": [200]}, 200, ["a:200"], ["a"], []),
    # the probe fails: the circuit opens again and the walk falls back
    ((A, B), "a", 31, {"a": [529], "b": [200]}, 200, ["a:529", "b:200"], ["a", "b"], ["a"]),
    # every circuit open: the first is tried anyway, the rest are never reached
    ((A, B), "ab", 0, {"a": [200]}, 200, ["a:200"], ["a"], ["b"]),
    ((A, B), "ab", 0, {"a": [529]}, 529, ["a:529"], ["a"], ["a", "b"]),
    # an open primary and a second that fails too: the last answer, with the hops that led to it
    ((A, B), "a", 0, {"b": [529]}, 529, ["a:breaker_open", "b:529"], ["b"], ["a", "b"]),
]


@pytest.mark.parametrize(("chain", "opened", "now", "script", "status", "hops", "tried", "open_after"), BREAKER_ROWS)
def test_the_chain_table_with_open_circuits(chain, opened, now, script, status, hops, tried, open_after) -> None:
    clock = [0.0]
    breaker = CircuitBreaker(clock=lambda: clock[0])
    for name in opened:
        breaker.trip(name, 30)
    clock[0] = now
    played, outcome, _ = play(chain, script, breaker=breaker)
    assert outcome.hops == hops and outcome.status == status
    assert outcome.fallback_hops == (tuple(hops) if len(hops) > 1 else ())
    assert [name for name, _, _ in played.attempts] == tried
    # each upstream is told every hop before it, passed-over circuits included
    for name, _, trail in played.attempts:
        assert trail == ",".join(hops[:hops.index(f"{name}:{script[name][0]}")]).encode()
    assert sorted(breaker.open_targets()) == open_after


def test_an_open_primary_before_a_failing_second_is_said_in_the_gateways_own_answer() -> None:
    _, error, _ = play((A, B, C), {"b": ["connect"], "c": ["timeout"]}, breaker=_open("a"))
    assert isinstance(error, ProxyError) and error.status == 529
    assert dict(error.headers)[FALLBACK_HEADER] == b"a:breaker_open,b:connect,c:timeout"
    # one upstream tried behind an open circuit: still its own plain 504, the skip in the header
    _, error, _ = play((A, B), {"b": ["timeout"]}, breaker=_open("a"))
    assert isinstance(error, UpstreamFailure) and error.status == 504
    assert dict(error.headers)[FALLBACK_HEADER] == b"a:breaker_open,b:timeout"


def test_passed_over_circuits_are_not_tries_against_max_hops() -> None:
    played, outcome, _ = play((A, B, C), {"b": [529], "c": [200]}, Fallback(max_hops=2), breaker=_open("a"))
    assert [name for name, _, _ in played.attempts] == ["b", "c"]
    assert outcome.hops == ["a:breaker_open", "b:529", "c:200"]


def test_retry_after_skips_the_immediate_retry_and_is_relayed_when_nothing_else_answers() -> None:
    played, _, _ = play((A, B), {"a": ["529:7"], "b": ["connect", "connect"]},
                              Fallback(retries_per_target=1, max_hops=4))
    assert [name for name, _, _ in played.attempts] == ["a", "b", "b"]
    assert played.responded == [(529, b"a:529,b:connect,b:connect")]


def test_no_upstream_answering_at_all_is_the_gateways_own_529() -> None:
    _, error, _ = play((A, BEDROCK), {"a": ["connect"], "bedrock": ["connect"]})
    assert isinstance(error, ProxyError) and error.status == 529
    assert dict(error.headers)[FALLBACK_HEADER] == b"a:connect,bedrock:connect"


def test_a_single_target_that_fails_says_so_plainly() -> None:
    _, error, _ = play((A,), {"a": ["timeout"]})
    assert isinstance(error, UpstreamFailure) and error.status == 504

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


def test_an_open_circuit_is_skipped_and_a_success_closes_it() -> None:
    breaker = CircuitBreaker(clock=lambda: 0.0)
    breaker.trip("a", 30)
    played, outcome, _ = play((A, B), {"b": [200]}, breaker=breaker)
    assert [name for name, _, _ in played.attempts] == ["b"] and outcome.hops == ["b:200"]


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

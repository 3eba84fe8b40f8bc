"""The pieces of a hardened sign-in, each on its own: the throttle's back-off and lockout, the
session registry's idle and absolute limits, the ``next`` check, scrypt at OWASP's parameters and
the rehash check. Time is a settable clock (a list holding "now"), not sleeps."""

from __future__ import annotations

import base64
import hashlib

import pytest

from dashboard.next_path import safe_next
from dashboard.passwords import (
    PBKDF2_ITERATIONS,
    SCRYPT_N,
    PasswordHashError,
    hash_password,
    needs_rehash,
    verify_password,
)
from dashboard.session_registry import SessionRegistry
from dashboard.throttle import SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttle(clock: Clock, **overrides: float) -> SignInThrottle:
    options = {"free_per_user": 3, "free_per_address": 10, "backoff_seconds": 1.0, "lockout_seconds": 60.0}
    return SignInThrottle(**{**options, **overrides}, clock=clock)  # type: ignore[arg-type]


def test_failures_past_the_free_ones_lock_the_name_for_a_doubling_capped_time() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    seconds = []
    for _ in range(10):
        assert throttle.retry_after("victor", "10.0.0.1") == 0  # the caller waits each lock out
        locks = throttle.failed("victor", "10.0.0.1")
        seconds.append([lock.seconds for lock in locks if lock.kind == "user"])
        clock.now += max([0.0, *(lock.seconds for lock in locks)])
    assert seconds == [[], [], [], [1.0], [2.0], [4.0], [8.0], [16.0], [32.0], [60.0]]


def test_a_lock_holds_whatever_comes_next_until_it_ends() -> None:
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(4):
        throttle.failed("victor", "10.0.0.1")
    assert throttle.retry_after("victor", "10.0.0.1") == 1.0
    assert throttle.retry_after("victor", "10.0.0.2") == 1.0  # the name is locked from everywhere
    assert throttle.retry_after("alice", "10.0.0.1") == 0  # the address is still within its free ones
    clock.now += 1.0
    assert throttle.retry_after("victor", "10.0.0.1") == 0
    throttle.succeeded("victor", "10.0.0.1")
    assert throttle.failed("victor", "10.0.0.1") == []  # a success starts the count afresh


def test_an_address_trying_many_names_is_locked_too() -> None:
    clock = Clock()
    throttle = _throttle(clock, free_per_user=100, free_per_address=5)
    locks = [throttle.failed(f"user{n}", "10.0.0.9") for n in range(6)]
    assert locks[:5] == [[]] * 5 and [(lock.kind, lock.key) for lock in locks[5]] == [("address", "10.0.0.9")]
    assert throttle.retry_after("somebody-else", "10.0.0.9") == 1.0
    assert throttle.retry_after("somebody-else", "10.0.0.8") == 0


def test_old_failures_are_forgotten_and_the_table_stays_bounded() -> None:
    clock = Clock()
    throttle = _throttle(clock, max_entries=50)
    for _ in range(3):
        throttle.failed("victor", "10.0.0.1")
    clock.now += 61  # a full lockout with no failure
    throttle.failed("other", "10.0.0.2")
    assert throttle.failed("victor", "10.0.0.1") == []  # counted from one again
    for n in range(500):
        throttle.failed(f"name{n}", f"10.1.{n // 250}.{n % 250}")
    assert len(throttle._records) <= 50


def test_sessions_end_when_idle_at_their_absolute_limit_or_when_ended() -> None:
    clock = Clock()
    registry = SessionRegistry(idle_seconds=10, absolute_seconds=20, clock=clock)
    first = registry.start("victor")
    for _ in range(4):  # active every 6 s: the idle limit never hits, the absolute one does
        assert registry.user_of(first) == "victor"
        clock.now += 6
    assert registry.user_of(first) is None
    idle = registry.start("victor")
    clock.now += 10
    assert registry.user_of(idle) is None
    one, two, other = registry.start("victor"), registry.start("victor"), registry.start("alice")
    assert registry.active() == {"victor": 2, "alice": 1}
    registry.end(one)
    assert registry.user_of(one) is None and registry.user_of(two) == "victor"
    assert registry.end_user("victor") == 1 and registry.user_of(two) is None
    assert registry.user_of(other) == "alice" and registry.user_of("forged") is None


@pytest.mark.parametrize("target", [
    "//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
    "/\r\n/evil.example", "%2f%2fevil.example", "/%2f%2fevil.example", "/%2F/evil.example", "/%5cevil.example",
    "/%5C%5Cevil.example", "/%252f%252fevil.example", "/./%2f/evil.example", "/../evil", "/%2e%2e/evil",
    "/a//b", "/ /evil", "/\x00/evil", "/\u3000/evil", "javascript:alert(1)", "http:/evil.example", "evil.example",
    "", "/" + "a" * 3000,
])
def test_next_refuses_anything_but_a_plain_path_on_this_site(target: str) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/routes", "/routes/", "/chargeback?month=2026-11&by=team",
                                    "/sessions?session=a%20b"])
def test_next_keeps_a_plain_path_and_its_query(target: str) -> None:
    assert safe_next(target) == target


def _scrypt_hash(password: str, n: int) -> str:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"scrypt${n}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_new_hashes_use_owasp_parameters_and_older_ones_still_verify_but_ask_for_a_rehash() -> None:
    hashed = hash_password("correct horse")
    assert SCRYPT_N >= 2**17 and hashed.startswith(f"scrypt${2**17}$8$1$") and not needs_rehash(hashed)
    old = _scrypt_hash("correct horse", 2**14)
    assert verify_password("correct horse", old) and needs_rehash(old)
    assert needs_rehash(f"pbkdf2_sha256${PBKDF2_ITERATIONS - 1}$AAAA$AAAA")
    assert not needs_rehash(hash_password("x", scheme="pbkdf2_sha256"))
    with pytest.raises(PasswordHashError):
        needs_rehash("md5$abc")

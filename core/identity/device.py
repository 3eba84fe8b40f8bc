"""The device flow (RFC 8628) as a state machine: user codes, and what a token poll is answered.

A grant starts ``pending`` when Claude Code asks for a code; the verification page moves it to
``signed_in`` once the human has signed in at the IdP, then ``approved`` or ``denied`` on their click;
the poll that finds it ``approved`` is the one that gets the tokens, and moves it to ``issued`` (so a
device code works once). Device codes and refresh tokens are stored only as their SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

# RFC 8628 §6.1: base-20, no vowels (no words), no lookalike digits; 20^8 ≈ 2.6e10 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
# How much longer a client must wait after each slow_down (RFC 8628 §3.5).
SLOW_DOWN_STEP_S = 5
# A poll that arrives this much early is still on time: the client's timer and the network jitter.
POLL_TOLERANCE_S = 1.0


class GrantStatus(StrEnum):
    PENDING = "pending"
    SIGNED_IN = "signed_in"
    APPROVED = "approved"
    DENIED = "denied"
    ISSUED = "issued"


def secret_hash(value: str) -> str:
    """How a device code, refresh token or sign-in state is stored and looked up. The values are
    ≥ 256 random bits, so a fast hash is enough (nothing to brute-force)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def new_user_code(randbelow: Callable[[int], int]) -> str:
    """``WDJB-MJHT``: ``randbelow`` is ``secrets.randbelow`` (passed in: this module does no I/O)."""
    chars = "".join(USER_CODE_ALPHABET[randbelow(len(USER_CODE_ALPHABET))] for _ in range(USER_CODE_LENGTH))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_user_code(text: str) -> str | None:
    """What a human typed (any case, spaces, dashes) as a stored user code, or None if it cannot be one."""
    if len(text) > 64:
        return None
    chars = "".join(c for c in text.upper() if c not in " -\t")
    if len(chars) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in chars):
        return None
    return f"{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    status: GrantStatus
    expires_at: float
    interval_s: int
    last_poll_at: float | None = None


@dataclass(frozen=True, slots=True)
class PollAnswer:
    """``error`` (an RFC 8628 error code) or ``issue`` (hand out the tokens now); ``interval_s`` is the
    interval to store for the next poll."""

    error: str | None
    interval_s: int
    issue: bool = False
    description: str = ""


def answer_poll(grant: DeviceGrant | None, now: float) -> PollAnswer:
    if grant is None or now >= grant.expires_at:
        return PollAnswer("expired_token", 0, description="the code expired: run /login again")
    if grant.status is GrantStatus.DENIED:
        return PollAnswer("access_denied", grant.interval_s, description="the sign-in was denied")
    if grant.status is GrantStatus.ISSUED:
        return PollAnswer("invalid_grant", grant.interval_s, description="this device code was already used")
    if grant.status is GrantStatus.APPROVED:
        return PollAnswer(None, grant.interval_s, issue=True)
    if grant.last_poll_at is not None and now - grant.last_poll_at < grant.interval_s - POLL_TOLERANCE_S:
        return PollAnswer("slow_down", grant.interval_s + SLOW_DOWN_STEP_S,
                          description=f"poll at most every {grant.interval_s + SLOW_DOWN_STEP_S} s")
    return PollAnswer("authorization_pending", grant.interval_s)

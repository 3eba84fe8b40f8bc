"""Refresh tokens: opaque, stored as their hash, rotated on every use, revocable per sign-in.

A sign-in (``sid``) is a family of refresh tokens, each used once: using one makes its successor. A
token presented a second time means two parties hold it (a stolen copy), so the whole sign-in is
revoked (OAuth 2.0 Security BCP, refresh token rotation). A sign-in also ends on its own after the
session lifetime, or earlier when the IdP says the developer is gone (the deprovisioning hook).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# A second use this soon after the first is a concurrent refresh by the same machine, not a thief.
REUSE_GRACE_S = 30.0


class RefreshState(StrEnum):
    ACTIVE = "active"
    ROTATED = "rotated"  # used once: its successor is the live one
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class RefreshRefusal:
    """Why a refresh is refused (``invalid_grant``), and whether the whole sign-in must be revoked."""

    reason: str
    revoke_sign_in: bool = False


def refresh_refusal(state: RefreshState | None, session_ends_at: float | None, now: float,
                    used_at: float | None = None) -> RefreshRefusal | None:
    """None when a refresh token in ``state`` (first used at ``used_at``) may be used at ``now``."""
    if state is None or session_ends_at is None:
        return RefreshRefusal("unknown refresh token: run /login")
    if state is RefreshState.REVOKED:
        return RefreshRefusal("this sign-in was revoked: run /login")
    if state is RefreshState.ROTATED and not (used_at is not None and 0 <= now - used_at < REUSE_GRACE_S):
        return RefreshRefusal("this refresh token was already used, so every token of this sign-in is now "
                              "revoked: run /login", revoke_sign_in=True)
    if now >= session_ends_at:
        return RefreshRefusal("this sign-in has reached its maximum age: run /login")
    return None

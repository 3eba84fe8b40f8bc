"""Actions the dashboard refuses a signed-in user for their role (approve, reject, activate, roll
back, close a month, end sessions), audited as ``dashboard.refused``: the actor is the user, the
detail says which action, their role and why. The user is signed in, so each refusal is written:
a viewer clicking "approve" is worth knowing about, and a flood of them names its sender."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from dashboard.auth import AccessDeniedError, SignedInUser
from dashboard.sign_in_audit import record

REFUSED = "dashboard.refused"
_DETAIL_CHARS = 200  # what the request named (a version, a month) is the client's: bounded in the log


def refused(engine: Engine, user: SignedInUser, action: str, error: AccessDeniedError, **detail: Any) -> str:
    """Audit the refusal; the sentence the page shows."""
    named = {key: value[:_DETAIL_CHARS] if isinstance(value, str) else value for key, value in detail.items()}
    record(engine, REFUSED, user.name, {"action": action, "role": user.role.value, "reason": str(error), **named},
           actor=user.name)
    return f"Refused: {error}."

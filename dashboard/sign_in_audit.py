"""Audit entries for sign-in events (``dashboard.sign_in``, ``dashboard.sign_in_failed``,
``dashboard.locked_out``, ``dashboard.sign_out``, ``dashboard.sessions_ended``): actor is the user
name as typed (cut to 64 characters), subject ``user:<name>``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from store.audit import append, audited

log = logging.getLogger(__name__)
_NAME_CHARS = 64


def record(engine: Engine, action: str, name: str, detail: Mapping[str, Any], *, actor: str | None = None) -> bool:
    """Write the entry; False (and an error in the log) when the database refused it."""
    user = name[:_NAME_CHARS]
    at = datetime.now(UTC).replace(tzinfo=None)
    try:
        audited(engine, lambda connection: append(connection, at=at, actor=actor or user or "(empty)", action=action,
                                                  subject=f"user:{user}", detail=detail))
    except SQLAlchemyError:
        log.exception("could not write the audit entry %s for %r", action, user)
        return False
    return True

"""Behind Anthropic's gateway: the developer a fronting gateway names in its request headers.

Anthropic's gateway (``claude gateway``) signs developers in itself and, with
``forward_user_identity: true`` on an upstream, adds ``x-claude-gateway-user-id`` (the IdP subject)
and ``x-claude-gateway-user-email`` to what it forwards, percent-encoding anything outside printable
ASCII (and ``%``). switchyard believes those headers only from a virtual key marked
``fronting_gateway``: from any other caller they would let a developer bill someone else, so a
request that carries them is refused (400), never silently attributed to the key's own developer.
Pure: headers in, the record to attribute the request to (or the reason to refuse) out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from core.keys import KeyRecord
from core.turn_bounds import identity_problem

USER_ID_HEADER = "x-claude-gateway-user-id"
USER_EMAIL_HEADER = "x-claude-gateway-user-email"
ASSERTION_HEADERS = (USER_ID_HEADER, USER_EMAIL_HEADER)


@dataclass(frozen=True, slots=True)
class Assertion:
    """What the request amounts to: ``record`` to attribute it to, or ``refused`` (why, for a 400)."""

    record: KeyRecord | None
    refused: str | None = None


def _decoded(raw: str, header: str) -> tuple[str | None, str | None]:
    """(the header's value, percent-decoded; or why it is unusable)."""
    try:
        value = unquote(raw.strip(), errors="strict")
    except UnicodeDecodeError:
        return None, f"{header} is not percent-encoded UTF-8"
    problem = identity_problem(header, value)
    return (None, problem) if problem else (value, None)


def asserted(record: KeyRecord, headers: Mapping[str, str]) -> Assertion:
    """The record ``record``'s request is attributed to. A fronting gateway's key with an asserted
    user becomes that user (the developer is the email when sent, as switchyard's own sign-in names
    developers by default; else the user id), keeping the key's team, rate limit and repos; a
    fronting key with no assertion stays itself (the gateway's own calls); any other key asserting
    a user is refused."""
    present = [name for name in ASSERTION_HEADERS if headers.get(name) is not None]
    if not present:
        return Assertion(record)
    if not record.fronting_gateway:
        return Assertion(None, f"{present[0]} names a developer, which only a key marked as a fronting gateway "
                               "may do (switchyard keys create --fronting-gateway); this key's requests are "
                               "attributed to its own developer")
    values: dict[str, str] = {}
    for name in present:
        value, problem = _decoded(headers[name], name)
        if problem:
            return Assertion(None, problem)
        assert value is not None
        values[name] = value
    email = values.get(USER_EMAIL_HEADER)
    developer = email or values[USER_ID_HEADER]
    return Assertion(dataclasses.replace(record, developer=developer))

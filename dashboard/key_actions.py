"""Virtual keys from the dashboard: create (the plaintext is returned to be shown once) and revoke,
for admins only, through the same store functions as the admin API (store.keys: one write path,
which audits who and when in the same transaction). A non-admin's attempt is refused and audited
(dashboard.refusals). Returns sentences for the page; raises nothing a person could cause.

The form's fields are anyone's typing: each is bounded and checked here, with the reason when it
is refused (never trimmed to fit): the developer and team as ingest will store them
(core.turn_bounds), the repos as the proxy checks them (core.keys), the rate limit as the admin
API bounds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from core.keys import parse_repos
from core.turn_bounds import MAX_IDENTITY_CHARS, identity_problem
from dashboard.auth import AccessDeniedError, SignedInUser
from dashboard.refusals import refused
from dashboard.settings import Role
from store.errors import NotFoundError
from store.keys import CREATE, REVOKE, create_key, revoke_key

MAX_RATE_LIMIT_RPM = 1_000_000  # as the admin API
_MAX_FIELD_CHARS = 8 * 1024  # a repo list of 100 long names fits; anything longer is refused unread


class KeyFormError(ValueError):
    """A field of the new-key form that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class NewKey:
    developer: str
    team: str | None
    repos: tuple[str, ...] | None  # None: no list (any repo, the client's word)
    rate_limit_rpm: int | None  # None: unlimited


def _name(value: str | None, field: str, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise KeyFormError(f"a key needs a {field}")
        return None
    problem = identity_problem(field, text, MAX_IDENTITY_CHARS)
    if problem is not None:
        raise KeyFormError(problem)
    return text


def new_key(developer: str | None, team: str | None, repos: str | None, rate_limit_rpm: str | int | None) -> NewKey:
    """The form's fields as a key to create; KeyFormError naming the first field that is wrong."""
    for field, value in (("developer", developer), ("team", team), ("repos", repos)):
        if isinstance(value, str) and len(value) > _MAX_FIELD_CHARS:
            raise KeyFormError(f"{field} is longer than {_MAX_FIELD_CHARS} characters")
    name = _name(developer, "developer", required=True)
    assert name is not None
    allowed = None
    if (repos or "").strip():
        try:
            allowed = parse_repos(str(repos))
        except ValueError as error:
            raise KeyFormError(str(error)) from None
    rpm = None
    if rate_limit_rpm not in (None, ""):
        text = str(rate_limit_rpm).strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_RATE_LIMIT_RPM:
            raise KeyFormError(f"requests a minute must be a whole number from 1 to {MAX_RATE_LIMIT_RPM:,} "
                               "(or empty for unlimited)")
        rpm = int(text)
    return NewKey(name, _name(team, "team", required=False), allowed, rpm)


@dataclass(frozen=True, slots=True)
class Created:
    sentence: str
    key_id: str | None = None
    plaintext: str | None = None  # shown once, never stored or logged


def create_for(engine: Engine, user: SignedInUser, fields: dict[str, str | None], now: datetime) -> Created:
    try:
        user.require(Role.admin)
    except AccessDeniedError as error:
        return Created(refused(engine, user, CREATE, error, developer=fields.get("developer") or ""))
    try:
        asked = new_key(fields.get("developer"), fields.get("team"), fields.get("repos"),
                        fields.get("rate_limit_rpm"))
        plaintext, stored = create_key(engine, developer=asked.developer, team=asked.team, actor=user.name,
                                       rate_limit_rpm=asked.rate_limit_rpm, repos=asked.repos, now=now)
    except ValueError as error:  # KeyFormError, or a name store.keys refuses
        return Created(f"Not created: {error}.")
    return Created(f"Created key {stored.record.key_id} for {asked.developer}, by {user.name}. Copy it now: it is "
                   "shown only this once (switchyard keeps a salted hash); proxies accept it within one snapshot "
                   "interval.", stored.record.key_id, plaintext)


def revoke_for(engine: Engine, user: SignedInUser, key_id: str | None, now: datetime) -> str:
    try:
        user.require(Role.admin)
    except AccessDeniedError as error:
        return refused(engine, user, REVOKE, error, key_id=key_id or "")
    if not key_id:
        return "Pick a key in the list first."
    try:
        stored = revoke_key(engine, key_id, actor=user.name, now=now)
    except NotFoundError as error:
        return f"Refused: {error}."
    if stored.revoked_at is not None and stored.revoked_at < now.replace(microsecond=0):  # revoked before: no change
        return f"Key {key_id} was already revoked (by {stored.revoked_by}, {stored.revoked_at:%Y-%m-%d %H:%M} UTC)."
    return (f"Revoked key {key_id} of {stored.record.developer}, by {user.name}: proxies refuse it within one "
            "snapshot interval.")

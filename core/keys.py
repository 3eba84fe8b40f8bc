"""Virtual keys: the credential a developer's Claude Code presents to the gateway.

A key reads ``sk-sy-<key id>.<secret>``. Only the key id, a random salt and the salted SHA-256 of
the secret are ever stored. The secret is 32 random bytes, so a fast hash is enough (there is no
password to brute-force); comparison is constant-time. Randomness is passed in by the caller:
this module does no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from core.turn_bounds import identity_problem

KEY_PREFIX = "sk-sy-"
_SEPARATOR = "."


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    salt: str  # hex
    secret_hash: str  # hex sha256(salt || secret)
    developer: str
    team: str | None = None
    created_at: str = ""
    revoked: bool = False
    # Requests a minute this key may make (None: unlimited).
    rate_limit_rpm: int | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> KeyRecord:
        return cls(
            key_id=str(data["key_id"]),
            salt=str(data["salt"]),
            secret_hash=str(data["secret_hash"]),
            developer=str(data["developer"]),
            team=None if data.get("team") is None else str(data["team"]),
            created_at=str(data.get("created_at", "")),
            revoked=bool(data.get("revoked", False)),
            rate_limit_rpm=None if data.get("rate_limit_rpm") is None else int(str(data["rate_limit_rpm"])),
        )


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.sha256(salt + secret.encode("utf-8", "surrogatepass")).hexdigest()


def mint_key(
    *, key_id: str, secret: str, salt: bytes, developer: str, team: str | None, created_at: str,
    rate_limit_rpm: int | None = None,
) -> tuple[str, KeyRecord]:
    """The plaintext key (shown once) and the record that is stored in its place. The developer and
    team must be names ingest will store (:func:`core.turn_bounds.identity_problem`): a key whose
    turns ingest refused would spend without ever being billed."""
    if not key_id.isalnum() or not secret or _SEPARATOR in secret:
        raise ValueError("key_id must be alphanumeric and secret non-empty without '.'")
    problem = identity_problem("developer", developer) or identity_problem("team", team)
    if problem is not None:
        raise ValueError(problem)
    record = KeyRecord(
        key_id=key_id,
        salt=salt.hex(),
        secret_hash=hash_secret(secret, salt),
        developer=developer,
        team=team,
        created_at=created_at,
        rate_limit_rpm=rate_limit_rpm,
    )
    return f"{KEY_PREFIX}{key_id}{_SEPARATOR}{secret}", record


def parse_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a switchyard key, or None when it is not one of ours."""
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = presented[len(KEY_PREFIX) :].partition(_SEPARATOR)
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


class KeyRing:
    """An immutable set of key records, looked up by key id. Swapped whole on reload."""

    __slots__ = ("_records",)

    def __init__(self, records: Iterable[KeyRecord] = ()) -> None:
        self._records = {r.key_id: r for r in records}

    @classmethod
    def from_document(cls, document: object) -> KeyRing:
        """The ring in a keys file's parsed JSON (``{"keys": [record, …]}``); ValueError otherwise."""
        try:
            return cls(KeyRecord.from_dict(item) for item in document["keys"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a switchyard keys document ({exc})") from exc

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[KeyRecord]:
        return list(self._records.values())

    def authenticate(self, presented: str) -> KeyRecord | None:
        """The record for a valid, unrevoked key; None otherwise."""
        parsed = parse_key(presented)
        if parsed is None:
            return None
        key_id, secret = parsed
        record = self._records.get(key_id)
        if record is None or record.revoked:
            return None
        candidate = hash_secret(secret, bytes.fromhex(record.salt))
        return record if hmac.compare_digest(candidate, record.secret_hash) else None

"""Virtual keys: the credential a developer's Claude Code presents to the gateway.

A key reads ``sk-sy-<key id>.<secret>``. Only the key id, a random salt and the salted SHA-256 of
the secret are ever stored. The secret is 32 random bytes, so a fast hash is enough (there is no
password to brute-force); comparison is constant-time. Randomness is passed in by the caller:
this module does no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from core.turn_bounds import MAX_IDENTITY_CHARS, identity_problem

KEY_PREFIX = "sk-sy-"
_SEPARATOR = "."
# A key's repo list: ``None`` (no list: any repo, the client's word — keys made before lists
# existed), ``("*",)`` (any repo, said explicitly), or the names it may tag.
ANY_REPO = "*"
MAX_REPOS = 100
# Names as git hosts spell them (``payments-api``, ``org/billing``): they reach budgets, reports and
# CSV cells verbatim, so no blanks, no quotes, and never a leading ``= + - @`` (a spreadsheet formula).
_REPO_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")


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
    # The repos its requests may tag with x-switchyard-repo (None: no list; see ANY_REPO).
    repos: tuple[str, ...] | None = None
    # A fronting gateway's key (Anthropic's gateway in front of switchyard, forward_user_identity):
    # only such a key may name the developer with x-claude-gateway-user-* (core/fronting.py).
    fronting_gateway: bool = False
    # The policy groups its turns belong to (group predicates, model allowlists, group budgets). A
    # virtual key has none unless its record lists them: groups are an admin's statement, never
    # the client's; a /login bearer's come from the IdP (proxy/bearer.py).
    groups: tuple[str, ...] = ()

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
            repos=repos_from(data.get("repos")),
            fronting_gateway=data.get("fronting_gateway") is True,  # a hand-edited "false" is not true
            groups=groups_from(data.get("groups")),
        )


MAX_GROUPS = 100


def groups_from(value: object) -> tuple[str, ...]:
    """A stored group list (a JSON array, or None for none) as a key's ``groups``; ValueError when
    unusable, so a hand-edited keys file with a bad list is refused whole."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > MAX_GROUPS:
        raise ValueError(f"groups must be a list of at most {MAX_GROUPS} group names")
    for name in value:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_IDENTITY_CHARS:
            raise ValueError(f"groups: a group name is a non-blank string of at most {MAX_IDENTITY_CHARS} characters")
    return tuple(dict.fromkeys(value))


def repos_problem(repos: Iterable[object]) -> str | None:
    """Why ``repos`` cannot be a key's repo list (the message names the bad entry), or None."""
    names = list(repos)
    if not names:
        return "repos must name at least one repo (or be * for any; leave it out for no list)"
    if len(names) > MAX_REPOS:
        return f"repos lists {len(names)} names; at most {MAX_REPOS}"
    if ANY_REPO in names and len(names) > 1:
        return "repos: * (any repo) cannot be combined with names"
    for name in names:
        if name == ANY_REPO:
            continue
        if not isinstance(name, str) or not name:
            return "repos: a repo name must be a non-empty string"
        if len(name) > MAX_IDENTITY_CHARS:
            return f"repos: {name[:40]!r}… is longer than {MAX_IDENTITY_CHARS} characters"
        if _REPO_NAME.fullmatch(name) is None:
            return (f"repos: {name[:80]!r} is not a repo name (letters, digits, '_', '.', '-', '/'; "
                    "starting with a letter, digit or '_')")
    return None


def repos_from(value: object) -> tuple[str, ...] | None:
    """A stored repo list (a JSON array, or None) as a key's ``repos``; ValueError when unusable,
    so a hand-edited keys file with a bad list is refused whole rather than read as "any repo"."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise ValueError("repos must be a list of repo names")
    problem = repos_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return tuple(dict.fromkeys(str(name) for name in value))


def parse_repos(text: str) -> tuple[str, ...]:
    """The command line's ``--repos payments-api,billing`` (or ``*``); ValueError naming a bad name."""
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise ValueError(f"repos: {text!r} has an empty name (a stray comma?)")
    repos = repos_from(names)
    assert repos is not None
    return repos


@dataclass(frozen=True, slots=True)
class RepoClaim:
    """What a request's repo header amounts to under its key: the repo to attribute (None: none),
    whether the key vouches for it, or why the request is refused."""

    repo: str | None
    verified: bool
    refused: str | None = None


def _listed(repos: tuple[str, ...], limit: int = 10) -> str:
    shown = ", ".join(repos[:limit])
    return shown + (f" and {len(repos) - limit} more" if len(repos) > limit else "")


def claim_repo(record: KeyRecord | None, claimed: str | None) -> RepoClaim:
    """Check the repo a request names (``x-switchyard-repo``; None or empty when absent) against its
    key. Without a list (or with ``*``) the repo is the client's word: kept, unverified. With a list,
    a listed repo is verified, another one is refused, and no header is the key's repo when it has
    exactly one (so leaving the header out cannot dodge a repo budget) and refused when it has
    several (the request must say which)."""
    claimed = claimed or None
    if record is None or record.repos is None or ANY_REPO in record.repos:
        return RepoClaim(claimed, False)
    repos = record.repos
    if claimed is None:
        if len(repos) == 1:
            return RepoClaim(repos[0], True)
        return RepoClaim(None, False, f"key {record.key_id} must name its repo in x-switchyard-repo: "
                                      f"one of {_listed(repos)}")
    if claimed in repos:
        return RepoClaim(claimed, True)
    shown = claimed if len(claimed) <= 80 else claimed[:80] + "…"
    return RepoClaim(None, False, f"key {record.key_id} may not tag repo {shown!r} "
                                  f"(x-switchyard-repo); it may tag: {_listed(repos)}")


def hash_secret(secret: str, salt: bytes) -> str:
    return hashlib.sha256(salt + secret.encode("utf-8", "surrogatepass")).hexdigest()


def mint_key(
    *, key_id: str, secret: str, salt: bytes, developer: str, team: str | None, created_at: str,
    rate_limit_rpm: int | None = None, repos: Iterable[str] | None = None, fronting_gateway: bool = False,
    groups: Iterable[str] = (),
) -> tuple[str, KeyRecord]:
    """The plaintext key (shown once) and the record that is stored in its place. The developer and
    team must be names ingest will store (:func:`core.turn_bounds.identity_problem`): a key whose
    turns ingest refused would spend without ever being billed."""
    if not key_id.isalnum() or not secret or _SEPARATOR in secret:
        raise ValueError("key_id must be alphanumeric and secret non-empty without '.'")
    problem = identity_problem("developer", developer) or identity_problem("team", team)
    if problem is not None:
        raise ValueError(problem)
    allowed = repos_from(None if repos is None else list(repos))
    record = KeyRecord(
        key_id=key_id,
        salt=salt.hex(),
        secret_hash=hash_secret(secret, salt),
        developer=developer,
        team=team,
        created_at=created_at,
        rate_limit_rpm=rate_limit_rpm,
        repos=allowed,
        fronting_gateway=fronting_gateway,
        groups=groups_from(list(groups)),
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

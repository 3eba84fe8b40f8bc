"""Redaction of secrets and personal data from strings before they are stored. Pure.

Covered: Anthropic/OpenAI-style ``sk-`` keys and other well-known API token shapes, AWS access key
ids, PEM private key blocks, JWTs, bearer tokens, e-mail addresses. Each match becomes
``[REDACTED:<kind>]`` so a reader can tell something was there.

Every pattern is anchored on a left boundary (a lookbehind) and uses possessive quantifiers, so the
scan is linear even on hostile megabyte strings. ``redact`` first runs one combined search and
returns the string itself (no copy) when nothing matches, which is the common case.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Generic, TypeVar

# (kind, pattern). Order matters: earlier kinds win where matches overlap (a JWT inside a bearer
# header is reported as a bearer token, an sk-ant key before the generic sk- shape).
_RULES: tuple[tuple[str, str], ...] = (
    ("private_key",
     r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----(?:.*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----|.*+)"),
    ("bearer", r"(?<![A-Za-z0-9_])(?i:bearer)[ \t]++[A-Za-z0-9\-._~+/]++=*+"),
    ("anthropic_key", r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{8,}+"),
    ("api_key", r"(?<![A-Za-z0-9_-])sk-(?:proj-)?[A-Za-z0-9_-]{20,}+"),
    ("api_key", r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,}+|github_pat_[A-Za-z0-9_]{30,}+"
                r"|xox[abposr]-[A-Za-z0-9-]{10,}+|AIza[A-Za-z0-9_-]{35})"),
    ("aws_access_key", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("jwt", r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]++\.eyJ[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+"),
    # bounded repetitions keep backtracking constant per start position
    ("email", r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
              r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"),
)

_COMBINED = re.compile(
    "|".join(f"(?P<g{index}>{pattern})" for index, (_, pattern) in enumerate(_RULES)), re.DOTALL
)
_KINDS = tuple(kind for kind, _ in _RULES)


def _replacement(match: re.Match[str]) -> str:
    index = int((match.lastgroup or "g0")[1:])
    kind = _KINDS[index]
    if kind == "bearer":
        # keep the scheme word so the stored text still reads naturally
        return match.group(0).split(None, 1)[0] + " [REDACTED:bearer]"
    return f"[REDACTED:{kind}]"


# Literal fragments at least one of which every pattern above needs (bearer is checked lower-cased).
# Plain substring tests are far cheaper than the combined regex, and almost nothing has them.
_TRIGGERS = ("@", "sk-", "eyJ", "PRIVATE KEY", "AKIA", "ASIA", "ABIA", "ACCA", "ghp_", "gho_", "ghu_",
             "ghs_", "ghr_", "github_pat_", "xox", "AIza")


def _may_contain_secret(text: str) -> bool:
    return any(trigger in text for trigger in _TRIGGERS) or "bearer" in text.lower()


def redact(text: str) -> str:
    """``text`` with every secret or e-mail address replaced; the same object when there is none."""
    if not _may_contain_secret(text) or _COMBINED.search(text) is None:
        return text
    return _COMBINED.sub(_replacement, text)


def contains_secret(text: str) -> bool:
    return _may_contain_secret(text) and _COMBINED.search(text) is not None


JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def redact_json(value: JsonValue) -> JsonValue:
    """Every string (values, not keys) inside a JSON-like value redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, dict):
        return {key: redact_json(item) for key, item in value.items()}
    return value


Record = TypeVar("Record")


class RecordRedactor(Generic[Record]):
    """Redacts every ``str`` field, and every string in tuple fields, of one dataclass type; fields
    named in ``keep`` are left alone. Built once (the field list is looked up here, not per record);
    returns the record itself when nothing changes, decided by one check over all its strings."""

    def __init__(self, record_type: type[Record], *, keep: Iterable[str] = ()) -> None:
        if not dataclasses.is_dataclass(record_type):
            raise TypeError("RecordRedactor expects a dataclass type")
        kept = frozenset(keep)
        self._names = tuple(f.name for f in dataclasses.fields(record_type) if f.name not in kept)

    def __call__(self, record: Record) -> Record:
        strings: list[str] = []
        for name in self._names:
            value = getattr(record, name)
            if value.__class__ is str:
                strings.append(value)
            elif value.__class__ is tuple:
                strings.extend(item for item in value if item.__class__ is str)
        if not contains_secret("\n".join(strings)):
            return record
        changes: dict[str, object] = {}
        for name in self._names:
            value = getattr(record, name)
            if isinstance(value, str):
                cleaned: object = redact(value)
            elif isinstance(value, tuple):
                cleaned = tuple(redact(item) if isinstance(item, str) else item for item in value)
            else:
                continue
            if cleaned != value:
                changes[name] = cleaned
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]


def redact_record(record: Record, *, keep: Iterable[str] = ()) -> Record:
    """One-off form of :class:`RecordRedactor` for a dataclass instance."""
    if isinstance(record, type) or not dataclasses.is_dataclass(record):
        raise TypeError("redact_record expects a dataclass instance")
    return RecordRedactor(type(record), keep=keep)(record)

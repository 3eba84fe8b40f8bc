"""The Sessions page's search, read from its URL (``/sessions?developer=dev3&from=2026-01-05``):
session id, developer, repo and a time range, each bounded, or the problems that make it unusable.

The URL is anyone's to type: a value longer than any stored id, a date that is not one, or a
range that ends before it starts is refused with a sentence saying why, never clamped or ignored.
Times are UTC, like every time the dashboard shows; a bare date in "to" means the end of that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.turn_bounds import MAX_IDENTITY_CHARS

FIELDS = ("session", "developer", "repo", "from", "to")
_EARLIEST, _LATEST = datetime(2000, 1, 1), datetime(2100, 1, 1)
_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True, slots=True)
class SessionQuery:
    session: str | None = None
    developer: str | None = None
    repo: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def filtered(self) -> bool:
        return any(value is not None for value in (self.developer, self.repo, self.start, self.end))


def query_text(query: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    """The stripped value of ``name`` in a URL's query, or None when absent, empty or unusable (the
    reason appended to ``problems``): longer than any stored name, or holding control characters."""
    value = (query.get(name) or "").strip()
    if not value:
        return None
    if len(value) > MAX_IDENTITY_CHARS:
        problems.append(f"{name} is longer than {MAX_IDENTITY_CHARS} characters: no stored {name} is")
        return None
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        problems.append(f"{name} holds control characters")
        return None
    return value


def _moment(query: Mapping[str, str], name: str, problems: list[str]) -> datetime | None:
    value = (query.get(name) or "").strip()
    if not value:
        return None
    for form in _FORMATS:
        try:
            moment = datetime.strptime(value[:40], form)
        except ValueError:
            continue
        if not _EARLIEST <= moment < _LATEST:
            problems.append(f"{name} {value!r} is outside {_EARLIEST:%Y} to {_LATEST:%Y}")
            return None
        whole_day = form == _FORMATS[0]
        return moment + timedelta(days=1) if whole_day and name == "to" else moment
    problems.append(f"{name} {value[:40]!r} is not a date: write 2026-01-31 or 2026-01-31 14:00 (UTC)")
    return None


def session_query(query: Mapping[str, str]) -> SessionQuery:
    problems: list[str] = []
    session, developer, repo = (query_text(query, name, problems) for name in ("session", "developer", "repo"))
    start, end = _moment(query, "from", problems), _moment(query, "to", problems)
    if start is not None and end is not None and end <= start:
        problems.append("the range ends before it starts: make \"to\" later than \"from\"")
    return SessionQuery(session, developer, repo, start, end, tuple(problems))

"""Server-side sessions: the signed cookie carries only a random session id, and this registry
says whether that id is still signed in, so logging out (or an admin ending a user's sessions)
ends a copied cookie too. Each session has an idle limit and an absolute one (from sign-in).

The registry is this process's memory: one dashboard process (``switchyard dashboard`` runs one,
multi-threaded), and sessions end when it restarts. Several processes behind a balancer would each
have their own registry and refuse each other's cookies.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Session:
    user: str
    started: float
    last_seen: float
    role: str | None = None  # set by a sign-in through the IdP (from groups); None: the settings' user


class SessionRegistry:
    def __init__(self, *, idle_seconds: float, absolute_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle_seconds
        self._absolute = absolute_seconds
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def start(self, user: str, *, role: str | None = None) -> str:
        """A new session for ``user`` (``role``: the one the IdP's groups gave; None: a local user,
        whose role is read from the settings on every request); its id goes into the cookie."""
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions = {key: value for key, value in self._sessions.items() if self._alive(value, now)}
            self._sessions[session_id] = _Session(user, now, now, role)
        return session_id

    def user_of(self, session_id: str) -> str | None:
        """The user of a live session (and it counts as activity), or None."""
        found = self.session_of(session_id)
        return None if found is None else found[0]

    def session_of(self, session_id: str) -> tuple[str, str | None] | None:
        """(user, role given at sign-in or None) of a live session (it counts as activity), or None."""
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if not self._alive(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session.user, session.role

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def end_user(self, user: str) -> int:
        """End every session of ``user``; how many there were."""
        with self._lock:
            ended = [key for key, value in self._sessions.items() if value.user == user]
            for key in ended:
                del self._sessions[key]
        return len(ended)

    def active(self) -> dict[str, int]:
        """Live sessions per user."""
        now = self._clock()
        with self._lock:
            return dict(Counter(value.user for value in self._sessions.values() if self._alive(value, now)))

    def _alive(self, session: _Session, now: float) -> bool:
        return now - session.last_seen < self._idle and now - session.started < self._absolute

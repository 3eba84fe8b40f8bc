"""Google access tokens for Vertex AI: Application Default Credentials (a service-account file,
workload identity, the metadata server, `gcloud auth application-default`), refreshed ahead of
expiry. google-auth's refresh is blocking I/O, so it runs in a thread, one at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# refresh this long before the token expires, so a request never carries one about to lapse
_MARGIN = dt.timedelta(minutes=5)


class TokenUnavailable(Exception):
    """No Google access token could be had (the message says why, never a token)."""


class GoogleTokens:
    def __init__(self, credentials: Any = None) -> None:
        self._credentials = credentials
        self._lock = asyncio.Lock()

    def _refresh(self) -> str:
        try:
            if self._credentials is None:
                self._credentials, _ = google.auth.default(scopes=list(SCOPES))
            self._credentials.refresh(google.auth.transport.requests.Request())
        except google.auth.exceptions.GoogleAuthError as exc:
            raise TokenUnavailable(f"Google credentials could not be used: {type(exc).__name__}") from None
        token = self._credentials.token
        if not token:
            raise TokenUnavailable("Google credentials gave no access token")
        return str(token)

    def _valid(self) -> str | None:
        credentials = self._credentials
        if credentials is None or not credentials.token:
            return None
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        if expiry is not None and expiry - _MARGIN <= dt.datetime.now(dt.UTC).replace(tzinfo=None):
            return None
        return str(credentials.token)

    async def token(self) -> str:
        token = self._valid()
        if token is not None:
            return token
        async with self._lock:
            valid = self._valid()
            return valid if valid is not None else await asyncio.to_thread(self._refresh)

    async def check(self) -> str | None:
        try:
            await self.token()
        except TokenUnavailable as exc:
            return str(exc)
        return None

"""AWS credentials (botocore's standard chain: environment, shared files and profiles, web identity,
container and instance roles) and SigV4 signing for Bedrock and Bedrock Mantle.

Loading and refreshing credentials can block (STS, the instance metadata service), so both run in a
thread; signing itself is CPU only and runs inline. Credentials never leave this module except as
the signed ``authorization`` header: not in logs, spans or errors."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import botocore.session
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError
from yarl import URL

from core.providers.sigv4 import sign

log = logging.getLogger("switchyard.proxy.aws")


class CredentialsUnavailable(Exception):
    """No AWS credentials could be loaded (the message says from where, never what)."""


class AwsCredentials:
    """The process's AWS credentials, loaded once and refreshed ahead of expiry off the event loop."""

    def __init__(self, session: botocore.session.Session | None = None) -> None:
        self._session = session
        self._source: Credentials | None = None
        self._frozen: ReadOnlyCredentials | None = None
        self._lock = asyncio.Lock()

    def _load(self) -> ReadOnlyCredentials:
        try:
            if self._source is None:
                session = self._session or botocore.session.Session()
                self._source = session.get_credentials()
            if self._source is None:
                raise CredentialsUnavailable("no AWS credentials in the standard chain (environment, "
                                             "~/.aws, web identity, container or instance role)")
            return self._source.get_frozen_credentials()
        except BotoCoreError as exc:  # e.g. a profile that names a role it cannot assume
            raise CredentialsUnavailable(f"AWS credentials could not be loaded: {type(exc).__name__}") from None

    def _fresh(self) -> bool:
        if self._frozen is None:
            return False
        source = self._source
        return not (isinstance(source, RefreshableCredentials) and source.refresh_needed())

    async def current(self) -> ReadOnlyCredentials:
        if self._fresh():
            assert self._frozen is not None
            return self._frozen
        async with self._lock:  # one refresh at a time; the others wait for its result
            if not self._fresh():
                self._frozen = await asyncio.to_thread(self._load)
            assert self._frozen is not None
            return self._frozen

    async def check(self) -> str | None:
        """Why these credentials cannot be used, or None (start-up and `doctor`)."""
        try:
            await self.current()
        except CredentialsUnavailable as exc:
            return str(exc)
        return None


def sigv4_headers(credentials: ReadOnlyCredentials, service: str, region: str, url: URL,
                  headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    """``headers`` plus SigV4's (``x-amz-date``, ``x-amz-security-token``, ``authorization``) for a
    POST of ``body`` to ``url`` (already percent-encoded, exactly as it will be sent)."""
    host = (url.raw_host or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if url.explicit_port is not None and not url.is_default_port():
        host = f"{host}:{url.explicit_port}"
    return sign(method="POST", host=host, path=url.raw_path, query=url.raw_query_string, headers=headers, body=body,
                access_key=credentials.access_key, secret_key=credentials.secret_key, token=credentials.token,
                service=service, region=region, now=datetime.now(UTC))

"""What every sign-in endpoint works with: settings, the database, the IdP, the signing keys, the
per-IP throttles, the clock, and where revocations are published (the proxy's bearer check)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Engine

from core.identity.claims import Identity, IdentityProblem, admission_problem, identity_from_claims
from core.identity.keyset import KeySet
from core.identity.throttle import ClientThrottle
from signin.oidc import OidcClient
from signin.settings import SigninSettings
from store.signin import live_revocations, revoke, utc

log = logging.getLogger("switchyard.signin")
T = TypeVar("T")


@dataclass
class SigninContext:
    settings: SigninSettings
    engine: Engine
    oidc: OidcClient
    keys: KeySet  # replaced whole when the key set rotates
    clock: Callable[[], float] = time.time
    on_revocations: Callable[[frozenset[str]], None] | None = None
    device_throttle: ClientThrottle = field(init=False)
    verify_throttle: ClientThrottle = field(init=False)

    def __post_init__(self) -> None:
        self.device_throttle = ClientThrottle(self.settings.signin_device_rate_per_minute)
        self.verify_throttle = ClientThrottle(self.settings.signin_verify_rate_per_minute)

    @property
    def base(self) -> str:
        return self.settings.base

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def idp_origin(self) -> str:
        parts = urlsplit(self.oidc.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    def admission(self, identity: Identity) -> str | None:
        """Why ``identity`` may not use this gateway (SWITCHYARD_OIDC_ALLOWED_*), or None."""
        return admission_problem(identity, allowed_domains=self.settings.oidc_allowed_email_domains,
                                 allowed_groups=self.settings.oidc_allowed_groups)

    def identity_of(self, claims: dict[str, Any]) -> Identity:
        """The developer verified ID token claims name, if they may use this gateway; IdentityProblem
        saying why not otherwise."""
        identity = identity_from_claims(claims, developer_claim=self.settings.oidc_developer_claim,
                                        groups_claim=self.settings.oidc_groups_claim)
        problem = self.admission(identity)
        if problem is not None:
            raise IdentityProblem(problem)
        return identity

    def now(self) -> float:
        return self.clock()

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call, off the event loop: the proxy relaying streams on this loop must not wait on
        the database."""
        return await asyncio.to_thread(functools.partial(function, self.engine, *args, **kwargs))

    async def publish_revocations(self) -> None:
        revoked = await self.db(live_revocations, utc(self.now()))
        if self.on_revocations is not None:
            self.on_revocations(revoked)

    async def revoke(self, token_id: str, kind: str, *, forget_after: float, reason: str) -> None:
        await self.db(revoke, token_id=token_id, kind=kind, now=utc(self.now()), forget_after=utc(forget_after),
                      reason=reason)
        log.info("revoked %s (%s)", kind, reason)
        await self.publish_revocations()

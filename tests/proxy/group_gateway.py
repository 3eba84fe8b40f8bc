"""A loopback gateway that accepts /login bearer tokens beside virtual keys, with a policy file and a
clock the test moves: what the group and budget tests drive (issue 18)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from core.identity.bearer import mint_bearer
from core.identity.claims import Identity
from core.identity.keyset import KeySet, keyset_document, new_signing_key
from proxy.bearer import BearerVerifier
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from tests.gateway import Gateway, make_gateway

ISSUER = "https://gw.example"
HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-5-20251101"


class Clock:
    """The time budgets read; a test sets ``now``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class GroupGateway:
    gateway: Gateway
    keyset: KeySet
    clock: Clock

    @property
    def url(self) -> str:
        return self.gateway.url

    def token(self, developer: str, *groups: str) -> str:
        """A bearer token as /login issues it (the signing code of core.identity.bearer)."""
        identity = Identity(f"sub-{developer}", developer, f"{developer}@example.com", groups)
        now = int(time.time())
        return mint_bearer(identity, key=self.keyset.current, issuer=ISSUER, audience=ISSUER, now=now, ttl_s=3600,
                           jti=f"jti-{developer}-{now}", sid=f"sid-{developer}")

    def turn(self, credential: str, *, model: str = SONNET, seed: int = 1, bearer: bool = True,
             path: str = "/v1/messages", max_tokens: int = 1000, **headers: str) -> httpx.Response:
        """One Claude-Code-shaped streaming turn with ``credential`` (a bearer, or a virtual key)."""
        session = make_session(seed)
        sent = build_headers(session, auth_token=credential) if bearer else build_headers(session, api_key=credential)
        sent.update(headers)
        body = encode_body(build_request_body(seed, session=session, history_chars=2_000, model=model,
                                              max_tokens=max_tokens))
        return httpx.post(self.url + path, headers=sent, content=body, timeout=30)


def policy(upstream: FakeUpstream, **sections: object) -> dict[str, object]:
    """Three tiers on one fake upstream, every turn to sonnet unless a rule or a section says otherwise."""
    document: dict[str, object] = {
        "version": "groups-v1",
        "targets": [{"name": "haiku", "base_url": upstream.base_url, "model": HAIKU, "tier": "haiku"},
                    {"name": "sonnet", "base_url": upstream.base_url, "model": SONNET, "tier": "sonnet"},
                    {"name": "opus", "base_url": upstream.base_url, "tier": "opus"}],
        "default": {"route": ["opus"]},
        "fallback": {"max_hops": 1},
    }
    document.update(sections)
    return document


@contextmanager
def group_gateway(tmp_path: Path, upstream: FakeUpstream, receiver, document: dict[str, object],
                  now: datetime = datetime(2026, 11, 18, 12, tzinfo=UTC), keyset: KeySet | None = None,
                  **settings: object) -> Iterator[GroupGateway]:
    """``keyset``: another gateway's signing keys (two proxies behind one sign-in); ``settings``:
    more ProxySettings (``redis_url``, say)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    keyset = keyset or KeySet((new_signing_key("ES256", int(time.time())),))
    keys_path = tmp_path / "signin-keys.json"
    keys_path.write_text(json.dumps(keyset_document(keyset)))
    os.chmod(keys_path, 0o600)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(document))
    clock = Clock(now)
    bearer = BearerVerifier(keys_path, issuer=ISSUER, audience=ISSUER)
    for gateway in make_gateway(tmp_path, upstream, receiver, bearer=bearer, clock=clock, policy_file=policy_file,
                                allowed_upstreams=[upstream.base_url], **settings):
        yield GroupGateway(gateway, keyset, clock)

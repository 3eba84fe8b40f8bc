"""Shared by the gateway-protocol tests (issue 18): bearer tokens signed with the sign-in service's
own code, a verifier reading them from a real key file, and a policy file with managed settings."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from core.identity.bearer import mint_bearer
from core.identity.claims import Identity
from core.identity.keyset import KeySet, keyset_document, new_signing_key
from proxy.bearer import BearerVerifier

ISSUER = "https://gw.example"
ALICE = Identity("u-alice", "alice@example.com", "alice@example.com", ("eng", "platform"))
CAROL = Identity("u-carol", "carol@example.com", "carol@example.com", ("sales",))


class Signer:
    """A key set on disk (mode 600, as the sign-in service writes it) and tokens signed with it."""

    def __init__(self, directory: Path) -> None:
        self.keyset = KeySet((new_signing_key("ES256", int(time.time())),))
        self.path = directory / "signin-keys.json"
        self.path.write_text(json.dumps(keyset_document(self.keyset)))
        os.chmod(self.path, 0o600)

    def verifier(self) -> BearerVerifier:
        return BearerVerifier(self.path, issuer=ISSUER, audience=ISSUER)

    def token(self, identity: Identity, ttl_s: int = 600) -> str:
        return mint_bearer(identity, key=self.keyset.current, issuer=ISSUER, audience=ISSUER, now=int(time.time()),
                           ttl_s=ttl_s, jti=uuid.uuid4().hex, sid=uuid.uuid4().hex)


def policy_file(path: Path, upstream_url: str, version: str = "v1", **extra: Any) -> Path:
    policy = {"version": version,
              "targets": [{"name": "sonnet", "base_url": upstream_url, "model": "claude-sonnet-4-5",
                           "tier": "sonnet"}],
              "default": {"route": ["sonnet"]}, **extra}
    path.write_text(yaml.safe_dump(policy, allow_unicode=True))
    return path


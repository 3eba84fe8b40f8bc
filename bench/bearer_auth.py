"""What authenticating one request costs: a virtual key (salted SHA-256) against a /login bearer
(ES256 and RS256 JWT: first use, verified; later uses, remembered), measured side by side in one run.

    .venv/bin/python bench/bearer_auth.py [--rounds 5]

Only the credential check (proxy/bearer.py, core/keys.py); the whole request path with a bearer is
bench/proxy_overhead.py's job (not yet run with one).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.identity.bearer import mint_bearer
from core.identity.claims import Identity
from core.identity.keyset import KeySet, keyset_document, new_signing_key
from core.keys import KeyRing, mint_key
from proxy.bearer import BearerVerifier

ISS = "https://gw.example"
ALICE = Identity("u1", "alice@example.com", "alice@example.com", ("platform", "claude-users"))


def per_call_us(call: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def verifier_for(alg: str, directory: Path) -> tuple[BearerVerifier, KeySet]:
    keyset = KeySet((new_signing_key(alg, int(time.time())),))
    path = directory / f"{alg}.json"
    path.write_text(json.dumps(keyset_document(keyset)))
    os.chmod(path, 0o600)
    return BearerVerifier(path, issuer=ISS, audience=ISS), keyset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    plain, record = mint_key(key_id="bench1", secret=secrets.token_urlsafe(32), salt=secrets.token_bytes(16),
                             developer="alice@example.com", team="platform", created_at="")
    ring = KeyRing([record])
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        verifiers = {alg: verifier_for(alg, Path(directory)) for alg in ("ES256", "RS256")}
        for _ in range(rounds):  # interleaved, so drift on a shared machine hits every figure alike
            results.setdefault("virtual key", []).append(per_call_us(lambda: ring.authenticate(plain), 20_000))
            for alg, (verifier, keyset) in verifiers.items():
                fresh = [mint_bearer(ALICE, key=keyset.current, issuer=ISS, audience=ISS, now=int(time.time()),
                                     ttl_s=3600, jti=secrets.token_hex(8), sid="s") for _ in range(200)]
                tokens = iter(fresh)
                results.setdefault(f"bearer {alg}, first use", []).append(
                    per_call_us(lambda v=verifier, t=tokens: v.authenticate(next(t)), len(fresh)))
                results.setdefault(f"bearer {alg}, remembered", []).append(
                    per_call_us(lambda v=verifier, t=fresh[0]: v.authenticate(t), 20_000))
    base = statistics.median(results["virtual key"])
    print(f"{'credential check':32} {'µs/call (median of ' + str(rounds) + ')':>24} {'× virtual key':>14}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:32} {median:24.1f} {median / base:14.2f}")


if __name__ == "__main__":
    main()

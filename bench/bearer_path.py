"""What a signed-in developer's bearer token costs beside a virtual key: one proxy with the sign-in
service mounted (`switchyard.proxy_process`, as `switchyard up` runs it), the same Claude-Code-shaped
requests, one run; the only difference between the two sides is the credential the requests carry:
a virtual key (a SHA-256 lookup in the key snapshot) or a switchyard bearer token (an ES256 JWT:
its signature is checked once, then the verified token is remembered and each use re-checks expiry,
revocation and that its key is still in the key file; proxy/bearer.py).

    .venv/bin/python bench/bearer_path.py            # about 2 minutes
    .venv/bin/python bench/bearer_path.py --quick    # about 1 minute

CPU per request at saturation: a closed loop against the instant fake, the two credentials in
alternating slices (ABAB) through the same process, its CPU from /proc over each slice. Issue 18's
target: the bearer path within 5 % of the virtual-key path. See bench/README.md.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path

from bench.entry import run_bench
from bench.proxy_overhead import MIX_50KB, MIX_CLAUDE, Plan, Run
from bench.report import saturation_table
from bench.stack import _module, start_proxy, start_upstream
from core.identity.bearer import mint_bearer
from core.identity.claims import Identity
from signin.keys_file import load_or_create
from sim.idp import TestIdP

PUBLIC_URL = "https://gateway.bench.example"  # the tokens' issuer and audience (never dialled)
DEVELOPER = Identity("bench-subject", "bench@example.com", "bench@example.com", ("bench", "claude-users"))


def measure(plan: Plan, workdir: Path, *, pin: bool) -> str:
    data_dir = workdir / "signin"
    data_dir.mkdir()
    keys_file = data_dir / "signin-keys.json"
    now = int(time.time())
    # the proxy reads the same file; made here first so the token exists before the proxy starts
    keyset = load_or_create(keys_file, "ES256", now)
    token = mint_bearer(DEVELOPER, key=keyset.current, issuer=PUBLIC_URL, audience=PUBLIC_URL, now=now,
                        ttl_s=3600, jti=uuid.uuid4().hex, sid=uuid.uuid4().hex)
    with TestIdP() as idp, Run.open(workdir, pin=pin) as run:
        upstream = start_upstream(run.group, instant=True)
        run.sampler.watch("upstream", upstream.proc.pid)
        env = {"SWITCHYARD_OIDC_ISSUER": idp.issuer, "SWITCHYARD_OIDC_CLIENT_ID": "switchyard",
               "SWITCHYARD_OIDC_CLIENT_SECRET": "switchyard-secret", "SWITCHYARD_PUBLIC_URL": PUBLIC_URL,
               "SWITCHYARD_DATA_DIR": str(data_dir)}
        proxy, _ = start_proxy(run.group, upstream=upstream, sink=run.sink, keys_file=run.keys_file, key=run.key,
                               cmd=_module("switchyard.proxy_process"), env=env)
        # one process, two names (the sampler's "baseline" is the bearer side): its CPU is read over
        # each slice of either credential
        run.sampler.watch("proxy", proxy.proc.pid)
        run.sampler.watch("baseline", proxy.proc.pid)
        relays = [("proxy", proxy), ("baseline", proxy)]
        keys = {"baseline": token}
        rows = (run.saturate(relays, "~50 KB", MIX_50KB, plan, keys)
                + run.saturate(relays, "20–200 K history", MIX_CLAUDE, plan, keys))
    rows = [dataclasses.replace(row, label=row.label.replace(", baseline", ", bearer token")) for row in rows]
    failed = sum(row.failed for row in rows)
    return "\n".join([
        "CPU per request at saturation (instant fake, closed loop; CPU-ms from /proc of the one proxy process):",
        saturation_table(rows), "",
        "bearer token ÷ virtual key: " + ", ".join(
            f"{b.cpu_ms_per_request / a.cpu_ms_per_request:.3f}× ({a.label})"
            for a, b in zip(rows[::2], rows[1::2], strict=True)),
        f"failed requests: {failed}",
    ])


def main(argv: list[str] | None = None) -> None:
    run_bench(__doc__ or "", lambda plan, workdir, pin: measure(plan, workdir, pin=pin), "switchyard-bench-bearer-",
              argv)


if __name__ == "__main__":
    main()

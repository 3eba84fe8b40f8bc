"""Budgets under a burst, proxies as real processes: 50 concurrent streaming turns at 99 % of a $1
hard budget, through two proxies sharing Redis at their default settings (the 50 ms Redis
timeout). Reports what was admitted, what was spent, and how many Redis calls failed open.

    .venv/bin/python bench/budget_burst.py [--redis redis://127.0.0.1:6379/0] [--proxies 2] [--turns 50]

The fault test (tests/faults/test_budget_concurrency.py) runs everything in one Python process,
where the proxies share a GIL with the clients and the upstream; this is the same burst with each
proxy in its own process, to see whether the default timeout holds up on a healthy Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import secrets
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
import redis
import yaml

from bench.procs import ProcessGroup, free_port, wait_for_port
from bench.stack import _env, _module, start_sink, start_upstream
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from switchyard.keys_cli import create_key
from tests.gateway import PROVIDER_KEY

MODEL = "claude-sonnet-4-5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--proxies", type=int, default=2)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--warm", action="store_true", help="a first burst (not counted) to warm the Redis pools")
    parser.add_argument("--timeout-s", default=None, help="SWITCHYARD_REDIS_TIMEOUT_S (default: the proxy's)")
    args = parser.parse_args()
    developer, team = "bench-" + secrets.token_hex(4), "bench-" + secrets.token_hex(4)
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    client = redis.Redis.from_url(args.redis)
    try:
        with tempfile.TemporaryDirectory() as tmp, ProcessGroup(Path(tmp), pin=False) as group:
            directory = Path(tmp)
            sink = start_sink(group)
            upstream = start_upstream(group, instant=False, event_interval_ms=20, text_deltas=10)
            policy = directory / "policy.yaml"
            policy.write_text(yaml.safe_dump({
                "version": "bench", "targets": [{"name": "up", "base_url": upstream.url}],
                "default": {"route": ["up"]},
                "budgets": [{"scope": "developer", "name": developer, "monthly_usd": "1", "hard": 1.0}]}))
            keys_file = directory / "keys.json"
            key = create_key(keys_file, developer, team)
            urls = []
            for index in range(args.proxies):
                port = free_port()
                extra = {"SWITCHYARD_REDIS_TIMEOUT_S": args.timeout_s} if args.timeout_s else {}
                env = _env(SWITCHYARD_PROXY_HOST="127.0.0.1", SWITCHYARD_PROXY_PORT=str(port),
                           SWITCHYARD_UPSTREAM_URL=upstream.url, SWITCHYARD_UPSTREAM_API_KEY=PROVIDER_KEY,
                           SWITCHYARD_KEYS_FILE=str(keys_file), SWITCHYARD_POLICY_FILE=str(policy),
                           SWITCHYARD_REDIS_URL=args.redis, SWITCHYARD_OTLP_ENDPOINT=sink.url + "/v1/traces",
                           SWITCHYARD_SPOOL_DIR=str(directory / f"spool{index}"), SWITCHYARD_LOG_LEVEL="warning",
                           **extra)
                proc = group.start(f"proxy{index}", _module("proxy"), core=None, env=env, cwd=directory)
                wait_for_port(port, proc)
                urls.append(f"http://127.0.0.1:{port}")
            time.sleep(1.0)
            client.set(f"switchyard:spend:{month}:developer:{developer}", 990_000)

            bodies = []
            for seed in range(args.turns):
                session = make_session(seed)
                body = build_request_body(seed, session=session, history_chars=20_000, model=MODEL, max_tokens=8_000)
                bodies.append((encode_body(body), build_headers(session, api_key=key)))

            async def burst() -> list[int]:
                async def turn(url: str, body: bytes, headers: dict[str, str]) -> int:
                    async with http.stream("POST", url + "/v1/messages", content=body, headers=headers) as response:
                        async for _ in response.aiter_raw():
                            pass
                        return response.status_code

                async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=args.turns * 2)) as http:
                    return await asyncio.gather(*(turn(urls[i % len(urls)], *item) for i, item in enumerate(bodies)))

            if args.warm:
                asyncio.run(burst())
                time.sleep(1.0)
                for url in urls:
                    metrics = httpx.get(url + "/metrics", timeout=5).text
                    print("warm-up failures", [line for line in metrics.splitlines()
                                               if line.startswith("switchyard_redis_failures_total")])
                client.set(f"switchyard:spend:{month}:developer:{developer}", 990_000)
            started = time.monotonic()
            statuses = asyncio.run(burst())
            elapsed = time.monotonic() - started
            time.sleep(1.0)  # settlements run after each client has its last byte
            spent = Decimal(int(client.get(f"switchyard:spend:{month}:developer:{developer}"))) / 1_000_000
            failures = []
            for url in urls:
                metrics = httpx.get(url + "/metrics", timeout=5).text
                failures.append(sum(float(line.split()[-1]) for line in metrics.splitlines()
                                    if line.startswith("switchyard_redis_failures_total")))
            admitted, refused = statuses.count(200), statuses.count(429)
            print(f"{args.turns} turns in {elapsed:.2f} s through {len(urls)} proxies: {admitted} admitted, "
                  f"{refused} refused, other {len(statuses) - admitted - refused}; "
                  f"spent ${spent} of $1 (started at $0.99); Redis failures per proxy: {failures}")
    finally:
        for pattern in (f"switchyard:*:developer:{developer}", f"switchyard:*:team:{team}"):
            for name in client.scan_iter(pattern):
                client.delete(name)
        client.close()


if __name__ == "__main__":
    main()

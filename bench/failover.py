"""Failover cost: the added time-to-first-byte when the first target answers 529 and the proxy
falls back to the second, measured side by side with a proxy whose chain starts at the second.

Proxy A routes [wall, upstream]: "wall" answers every request 529 overloaded_error at once and its
circuit is never opened (cooldown 0), so every request pays one failed hop. Proxy B routes
[upstream]. Requests alternate A/B, one in flight; the difference of the medians (and p99s) is the
failover cost. Loopback only, bounded, stops everything it starts.

    .venv/bin/python bench/failover.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from bench.procs import ProcessGroup, free_port, wait_for_port
from bench.stack import PROVIDER_KEY, _env, start_upstream
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from switchyard.keys_cli import create_key

WALL_BODY = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_wall"}'


def _serve_wall(port: int, ready: threading.Event, stop: threading.Event) -> None:
    async def overloaded(_: web.Request) -> web.Response:
        return web.Response(status=529, body=WALL_BODY, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", overloaded)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    asyncio.run(main())


def _policy(path: Path, route: list[str], wall: str, upstream: str) -> None:
    path.write_text(yaml.safe_dump({
        "version": path.stem,
        "targets": [{"name": "wall", "base_url": wall}, {"name": "upstream", "base_url": upstream}],
        "default": {"route": route},
        "fallback": {"cooldown_s": 0, "max_hops": 2},
    }))


async def _measure(urls: dict[str, str], key: str, requests: int) -> dict[str, list[float]]:
    session_shape = make_session(5)
    body = encode_body(build_request_body(5, session=session_shape, history_chars=20_000, thinking=False))
    headers = build_headers(session_shape, auth_token=key)
    ttfb: dict[str, list[float]] = {name: [] for name in urls}
    async with aiohttp.ClientSession() as client:
        for index in range(requests * len(urls)):
            name = list(urls)[index % len(urls)]
            started = time.perf_counter()
            async with client.post(urls[name] + "/v1/messages", data=body, headers=headers) as response:
                assert response.status == 200, await response.text()
                await response.content.readany()
                ttfb[name].append((time.perf_counter() - started) * 1000)
                await response.read()
    return ttfb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="per proxy")
    args = parser.parse_args(argv)
    wall_port = free_port()
    ready, stop = threading.Event(), threading.Event()
    wall = threading.Thread(target=_serve_wall, args=(wall_port, ready, stop), daemon=True)
    wall.start()
    ready.wait(10)
    try:
        with tempfile.TemporaryDirectory(prefix="switchyard-failover-") as tmp, ProcessGroup(Path(tmp)) as group:
            upstream = start_upstream(group, instant=True)
            keys_file = Path(tmp) / "keys.json"
            key = create_key(keys_file, "bench", "bench")
            urls = {}
            for name, route in (("with failover", ["wall", "upstream"]), ("direct chain", ["upstream"])):
                policy = Path(tmp) / f"{name.replace(' ', '-')}.yaml"
                _policy(policy, route, f"http://127.0.0.1:{wall_port}", upstream.url)
                port = free_port()
                proc = group.start(name.replace(" ", "-"), [sys.executable, "-m", "proxy"], core=None, cwd=Path(tmp),
                                   env=_env(SWITCHYARD_PROXY_PORT=str(port), SWITCHYARD_UPSTREAM_API_KEY=PROVIDER_KEY,
                                            SWITCHYARD_KEYS_FILE=str(keys_file), SWITCHYARD_POLICY_FILE=str(policy),
                                            SWITCHYARD_LOG_LEVEL="warning"))
                wait_for_port(port, proc)
                urls[name] = f"http://127.0.0.1:{port}"
            asyncio.run(_measure(urls, key, 20))  # warm-up
            ttfb = asyncio.run(_measure(urls, key, args.requests))
    finally:
        stop.set()
        wall.join(timeout=5)
    p50 = {n: statistics.median(v) for n, v in ttfb.items()}
    p99 = {n: statistics.quantiles(v, n=100)[98] for n, v in ttfb.items()}
    print(f"{'chain':16s} {'n':>5s} {'TTFB p50 ms':>12s} {'TTFB p99 ms':>12s}")
    for name in ttfb:
        print(f"{name:16s} {len(ttfb[name]):5d} {p50[name]:12.2f} {p99[name]:12.2f}")
    print(f"failover cost (first alternate): +{p50['with failover'] - p50['direct chain']:.2f} ms p50, "
          f"+{p99['with failover'] - p99['direct chain']:.2f} ms p99 (target ≤ 10 ms)")


if __name__ == "__main__":
    main()

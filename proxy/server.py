"""Run the proxy under uvicorn with uvloop and httptools (the measured fast path)."""

from __future__ import annotations

import asyncio
import gc
import logging

import uvicorn

from serving.guarded_http import HeaderLimits, guarded_protocol

from .app import ProxyApp
from .settings import ProxySettings


def uvicorn_config(app: ProxyApp, settings: ProxySettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools, with limits on the headers' size, count and arrival time (serving/guarded_http.py)
        http=guarded_protocol(HeaderLimits(settings.max_header_bytes, settings.max_header_count,
                                           settings.header_timeout_s)),
        lifespan="on",
        access_log=False,
        # The upstream's own Date and Server headers are relayed; uvicorn must not add a second pair.
        server_header=False,
        date_header=False,
        log_level=settings.log_level,
        timeout_keep_alive=75,
        # X-Forwarded-* rewriting costs CPU on every request and trusts headers blindly; off.
        proxy_headers=False,
    )


def main(settings: ProxySettings | None = None, app: ProxyApp | None = None) -> None:
    """Serve ``app`` (by default a plain proxy; switchyard.proxy_process builds one with sign-in)."""
    settings = settings or ProxySettings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every background request (snapshot polls, span export) at INFO: too chatty.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    app = app if app is not None else ProxyApp(settings)
    tune_gc()
    app.jobs.append(collect_garbage)
    uvicorn.Server(uvicorn_config(app, settings)).run()


def tune_gc() -> None:
    """The hot path frees everything by reference counting; the cyclic collector only finds a few
    hundred objects a second (from httpx) but, at default thresholds, walks every live request's
    parsed JSON: measured 26 % of CPU and 50–200 ms pauses that stall every stream at once
    (bench/README.md). Freeze what start-up allocated and collect far less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


# With threshold 0 at 50 000, allocation alone starts a collection only every ~15 minutes at 20
# requests/s (about 50 objects/s survive reference counting, nearly all the cycles httpx leaves per
# span export or snapshot poll); the garbage held meanwhile showed as RSS growing by ~120 MiB/hour
# in a soak. So young objects are also collected on a clock, and everything now and then: cheap,
# because only what is not frozen is walked (~10 000 objects at 20 streams in flight).
YOUNG_COLLECT_S = 10.0
FULL_COLLECT_EVERY = 30  # every 30th collection is a full one: every 5 minutes


async def collect_garbage(interval_s: float = YOUNG_COLLECT_S, full_every: int = FULL_COLLECT_EVERY) -> None:
    """Collect generations 0–1 every ``interval_s`` and all of them every ``full_every`` times,
    whatever the allocation counters say: garbage lives a bounded time, not a bounded count."""
    ticks = 0
    while True:
        await asyncio.sleep(interval_s)
        ticks += 1
        gc.collect(2 if ticks % full_every == 0 else 1)

"""Claude Code's own telemetry on the gateway's base URL: ``POST /v1/metrics``, ``/v1/logs`` and
``/v1/traces`` with the developer's bearer (or virtual key), as Claude Code's gateway protocol has it.

The proxy authenticates the caller from the headers alone (app.py, before a byte of the body is
read), reads the body within ``SWITCHYARD_TELEMETRY_MAX_BODY_BYTES``, answers 200 at once (an
OTLP exporter that gets a 404 or an error logs on every flush) and hands the body to ingest in the
background, where it is stored as telemetry, never as spend:
- logs and metrics go to ingest's ``/v1/logs`` and ``/v1/metrics`` with the proxy's ingest token
  and ``x-switchyard-on-behalf``: who the proxy authenticated (developer, team, key, email).
  Ingest believes that header only from a proxy token, and stamps every row with it, overwriting
  whatever the rows' own attributes claim: a caller cannot assert another developer;
- traces are dropped (counted): ingest's ``/v1/traces`` is the proxy's own spans, which are spend.
At most ``MAX_IN_FLIGHT`` hand-offs run at once; past that, and when no ingest is configured or it
fails, the body is dropped and counted on ``switchyard_client_telemetry{signal,outcome}``.
"""

from __future__ import annotations

import asyncio
import base64
import logging

import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter

from core.keys import KeyRecord

from .bearer import BearerRecord

log = logging.getLogger("switchyard.proxy.telemetry")

SIGNALS = {"/v1/metrics": "metrics", "/v1/logs": "logs", "/v1/traces": "traces"}
ON_BEHALF_HEADER = "x-switchyard-on-behalf"
MAX_IN_FLIGHT = 16  # × SWITCHYARD_TELEMETRY_MAX_BODY_BYTES is what the hand-offs may hold in memory
_STORED = ("logs", "metrics")


def on_behalf(record: KeyRecord) -> str:
    """Who sent it, for ingest: base64url of a small JSON object (a developer's name may be any
    UTF-8, which a header cannot carry as is)."""
    if isinstance(record, BearerRecord):
        who = {"developer": record.developer, "team": record.team, "key_id": record.key_id,
               "email": record.email, "attribution": "bearer"}
    else:
        who = {"developer": record.developer, "team": record.team, "key_id": record.key_id, "email": None,
               "attribution": "fronting_gateway" if record.fronting_gateway else "virtual_key"}
    return base64.urlsafe_b64encode(orjson.dumps(who)).decode("ascii")


def empty_answer(content_type: str | None) -> tuple[bytes, bytes]:
    """(body, content type) of an empty Export*ServiceResponse in the request's encoding."""
    if content_type is not None and content_type.split(";")[0].strip().lower() == "application/json":
        return b"{}", b"application/json"
    return b"", b"application/x-protobuf"


class TelemetryRelay:
    def __init__(self, traces_endpoint: str | None, token: str | None, registry: CollectorRegistry, *,
                 timeout_s: float = 5.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._base: str | None = None
        if traces_endpoint is not None:
            if traces_endpoint.rstrip("/").endswith("/v1/traces"):
                self._base = traces_endpoint.rstrip("/")[: -len("/v1/traces")]
            else:
                log.error("client telemetry is dropped: SWITCHYARD_OTLP_ENDPOINT %s does not end in /v1/traces, "
                          "so ingest's /v1/logs and /v1/metrics cannot be found from it", traces_endpoint)
        self._token = token
        self._timeout_s = timeout_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.outcomes = Counter("switchyard_client_telemetry",
                                "Claude Code telemetry received on the base URL, by signal and outcome",
                                ["signal", "outcome"], registry=registry)

    def relay(self, signal: str, body: bytes, headers: dict[str, str], record: KeyRecord) -> None:
        """Hand ``body`` to ingest in the background (or drop it, counted); never raises, never waits."""
        if signal not in _STORED:
            self.outcomes.labels(signal, "dropped_not_stored").inc()
            return
        if self._base is None:
            self.outcomes.labels(signal, "dropped_no_ingest").inc()
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self.outcomes.labels(signal, "dropped_busy").inc()
            return
        out = {ON_BEHALF_HEADER: on_behalf(record),
               "content-type": headers.get("content-type") or "application/x-protobuf"}
        if self._token:
            out["authorization"] = f"Bearer {self._token}"
        if headers.get("content-encoding"):
            out["content-encoding"] = headers["content-encoding"]
        task = asyncio.create_task(self._send(signal, body, out), name="switchyard-client-telemetry")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, signal: str, body: bytes, headers: dict[str, str]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport)
        try:
            response = await self._client.post(f"{self._base}/v1/{signal}", content=body, headers=headers)
        except httpx.HTTPError as error:
            log.warning("client telemetry (%s) not delivered: ingest unreachable (%s)", signal, type(error).__name__)
            self.outcomes.labels(signal, "dropped_ingest_failed").inc()
            return
        if response.is_success:
            self.outcomes.labels(signal, "sent").inc()
        else:  # the status only: ingest's message may quote the body
            log.warning("client telemetry (%s) refused by ingest: HTTP %d", signal, response.status_code)
            self.outcomes.labels(signal, "dropped_refused").inc()

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._timeout_s)
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()

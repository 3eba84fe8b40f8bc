"""One oversized turn never stops spend recording (issue 14, item 3), against the REAL ingest
(``create_app`` on loopback) on SQLite and PostgreSQL, through the real proxy.

One developer sends a turn whose span would be ~3 MB (12 000 tool_result ids: the kind of turn that
made ingest answer 413 and then blocked every later batch of every developer); then ten others send
100 ordinary turns. All 100 must be stored within 30 s. The oversized turn is either stored, cut to
ingest's per-span limit (when the proxy's ``max_span_bytes`` matches ingest's), or — when ingest's
limits are tighter than the proxy's (a 413 for any batch carrying it, then for it alone) — in the
dead letters; either way it is counted.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from ingest.app import create_app
from ingest.settings import IngestSettings
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.engine import make_engine
from store.schema import turns
from store.testing import empty_all_tables
from switchyard.keys_cli import create_key
from tests.gateway import PROVIDER_KEY, running_gateway, wait_for_key
from tests.loopback import serve_in_thread, wait_until
from tests.store.databases import db_url, postgres_url

__all__ = ["db_url", "postgres_url"]

MIB = 1024 * 1024
TOKEN = "proxy-ingest-token-0123456789"
ORDINARY = 100


def _oversized_body() -> bytes:
    blocks = [{"type": "tool_result", "tool_use_id": f"toolu_{n:0250d}", "content": "ok"} for n in range(12_000)]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": True,
            "messages": [{"role": "user", "content": "run the tools"},
                         {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
                         {"role": "user", "content": blocks}]}
    return orjson.dumps(body)


def _stored(engine, developer_is_mallory: bool) -> int:  # type: ignore[no-untyped-def]
    condition = turns.c.developer == "mallory" if developer_is_mallory else turns.c.developer != "mallory"
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(turns).where(condition)).scalar_one())


@pytest.mark.parametrize("ingest_limits", ["matching", "tighter"])
def test_an_oversized_turn_never_holds_up_the_others(tmp_path: Path, db_url: str, ingest_limits: str) -> None:
    engine = make_engine(db_url)
    empty_all_tables(engine)
    tight = ingest_limits == "tighter"
    settings = IngestSettings(
        database_url=db_url, ingest_tokens={TOKEN: "proxy"}, require_gen_ai=True, redact=True,
        max_span_bytes=256 * 1024 if tight else MIB, max_body_bytes=512 * 1024 if tight else 32 * MIB,
        max_decompressed_bytes=64 * MIB)
    try:
        with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
                serve_in_thread(create_app(settings, engine)) as ingest_url, \
                running_gateway(tmp_path, upstream, (None, ingest_url), otlp_token=TOKEN,  # type: ignore[arg-type]
                                export_interval_s=0.2, max_span_bytes=MIB) as gateway:
            mallory = create_key(gateway.keys_file, "mallory", "red-team")
            others = [create_key(gateway.keys_file, f"dev{n}", "platform") for n in range(10)]
            wait_for_key(gateway, others[-1])
            with httpx.Client(timeout=60) as client:
                response = client.post(gateway.url + "/v1/messages", content=_oversized_body(),
                                       headers=build_headers(make_session(1), api_key=mallory))
                assert response.status_code == 200

                def ordinary(n: int) -> int:
                    session = make_session(1000 + n)
                    return client.post(gateway.url + "/v1/messages",
                                       headers=build_headers(session, api_key=others[n % 10]),
                                       content=encode_body(build_request_body(n, session=session,
                                                                              history_chars=1_000))).status_code

                with ThreadPoolExecutor(max_workers=8) as pool:
                    assert list(pool.map(ordinary, range(ORDINARY))) == [200] * ORDINARY
            served = time.monotonic()
            wait_until(lambda: _stored(engine, False) == ORDINARY, timeout=30,
                       what=f"the {ORDINARY} ordinary turns stored")
            print(f"{ORDINARY} stored {time.monotonic() - served:.2f} s after the last was served")
            stats = gateway.app.exporter.stats
            assert stats.truncated == 1  # the proxy cut it to its own 1 MiB either way
            if tight:  # ingest refuses even the cut span: a 413 for every batch with it, then alone
                wait_until(lambda: stats.dead_lettered == 1, timeout=30, what="the oversized turn dead-lettered")
                assert _stored(engine, True) == 0
                index = (tmp_path / "spool" / "dead-letters" / "index.jsonl").read_bytes()
                assert b"'mallory'" in index and b"HTTP 413" in index
            else:
                wait_until(lambda: _stored(engine, True) == 1, timeout=30, what="the oversized turn stored, cut")
                with engine.connect() as connection:
                    ids = connection.execute(select(turns.c.tool_result_ids)
                                             .where(turns.c.developer == "mallory")).scalar_one()
                assert 1000 < len(ids) < 12_000 and ids[-1].startswith("…[truncated by switchyard")
                assert stats.dead_lettered == 0
            metrics = httpx.get(gateway.url + "/metrics", timeout=5).text
            assert "switchyard_spans_truncated_total 1.0" in metrics
            wait_until(lambda: gateway.app.exporter.pending == 0, timeout=10, what="nothing left waiting")
        assert _stored(engine, False) == ORDINARY  # each once: no duplicates
    finally:
        engine.dispose()

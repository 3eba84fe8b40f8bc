"""Claude Code CLI → proxy → fake upstream, and the proxy's spans → ingest → the database, on
SQLite and PostgreSQL: every turn the real CLI made is stored once, attributed and priced."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.pricing import Usage, builtin_price_table
from ingest.app import create_app
from ingest.settings import IngestSettings
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.queries import turns_frame
from tests.e2e.claude_cli import require_claude, run_claude
from tests.gateway import INGEST_TOKENS, PROVIDER_KEY, make_gateway
from tests.loopback import serve_in_thread
from tests.otlp_receiver import OtlpReceiver
from tests.store.databases import db_engine, db_url, postgres_url

__all__ = ["db_engine", "db_url", "postgres_url"]
pytestmark = pytest.mark.e2e


def test_cli_turns_land_in_the_store_attributed_and_priced(tmp_path: Path, db_url: str, db_engine: Engine) -> None:
    require_claude()
    work = tmp_path / "work"
    work.mkdir()
    settings = IngestSettings(database_url=db_url, require_gen_ai=True, redact=True, ingest_tokens=INGEST_TOKENS)
    with serve_in_thread(create_app(settings, db_engine)) as ingest_url, \
            FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as fake:
        unused = OtlpReceiver()
        for gateway in make_gateway(tmp_path, fake, (unused, ingest_url)):
            run = run_claude(f"Make a file. [[sim:write {work / 'a.txt'} content-✓]]", gateway.url, gateway.key, work,
                             extra_env={"ANTHROPIC_CUSTOM_HEADERS": "x-switchyard-repo: store-repo"})
            assert run.returncode == 0, run.describe()
        # leaving the gateway stops the proxy, which flushes its spans to ingest
        starts = [line.event["event"]["message"]
                  for line in run.stream_events("message_start")]
    turns = turns_frame(db_engine)
    assert turns.height == len(starts) >= 2
    prices = builtin_price_table()
    by_response = {row["response_id"]: row for row in turns.iter_rows(named=True)}
    for message in starts:
        row = by_response[message["id"]]
        usage = message["usage"]
        assert (row["developer"], row["team"], row["repo"]) == ("alice", "payments", "store-repo")
        assert row["session_id"] == run.session_id
        assert row["input_tokens"] == usage["input_tokens"]
        assert row["cache_read_tokens"] == usage.get("cache_read_input_tokens", 0)
        assert row["cache_creation_tokens"] == usage.get("cache_creation_input_tokens", 0)
        assert row["priced"] is True
        expected = prices.cost(row["served_model"], Usage(
            input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
            cache_creation_tokens=row["cache_creation_tokens"],
            cache_creation_1h_tokens=row["cache_creation_1h_tokens"],
            cache_read_tokens=row["cache_read_tokens"]), date.today()).usd
        assert Decimal(str(row["cost_usd"])).quantize(Decimal("1e-9")) == expected.quantize(Decimal("1e-9"))
    assert len(set(turns["trace_id"])) == 1

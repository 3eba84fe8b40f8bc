"""A developer chooses their session id, repo tag, hint headers, tool_result ids and the model they
ask for. Values longer than ingest stores must not turn their spend into a span ingest refuses
(dead-lettered: used, never billed): the proxy cuts them (with a digest, so different values stay
different) and the turn lands in the REAL ingest, billed to the key's developer."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from ingest.app import create_app
from ingest.settings import IngestSettings
from sim.claude_shapes import build_headers, build_request_body, encode_body, make_session
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from store.engine import make_engine
from store.schema import turns
from store.testing import migrated_sqlite_url
from switchyard.keys_cli import create_key
from tests.gateway import PROVIDER_KEY, running_gateway, wait_for_key
from tests.loopback import serve_in_thread, wait_until

TOKEN = "proxy-ingest-token-0123456789"


def test_over_long_ids_from_a_developer_are_cut_and_billed_not_dead_lettered(tmp_path: Path) -> None:
    db_url = migrated_sqlite_url(tmp_path)
    engine = make_engine(db_url)
    settings = IngestSettings(database_url=db_url, ingest_tokens={TOKEN: "proxy"})
    try:
        with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
                serve_in_thread(create_app(settings, engine)) as ingest_url, \
                running_gateway(tmp_path, upstream, (None, ingest_url), otlp_token=TOKEN,  # type: ignore[arg-type]
                                export_interval_s=0.1) as gateway:
            mallory = create_key(gateway.keys_file, "mallory", "red-team")
            wait_for_key(gateway, mallory)
            with httpx.Client(timeout=30) as client:
                for n in range(2):
                    session = make_session(n)
                    headers = {**build_headers(session, api_key=mallory, hint_headers=True),
                               "x-claude-code-session-id": f"{n}" + "s" * 5000,
                               "x-switchyard-repo": "r" * 1000, "x-claude-code-agent-type": "a" * 700}
                    request = build_request_body(n, session=session, history_chars=500)
                    request["messages"].append({"role": "user", "content": [  # ids the developer's client chose
                        {"type": "tool_result", "tool_use_id": f"toolu_{n}_" + "x" * 400, "content": "ok"}]})
                    body = encode_body(request)
                    assert client.post(gateway.url + "/v1/messages", content=body, headers=headers).status_code == 200
            wait_until(lambda: _rows(engine) and len(_rows(engine)) == 2, timeout=30, what="both turns stored")
            assert gateway.app.exporter.stats.dead_lettered == 0
        rows = _rows(engine)
        assert {row.developer for row in rows} == {"mallory"}
        assert all(len(row.session_id) <= 256 and len(row.repo) <= 256 and len(row.agent_type) <= 256
                   for row in rows)
        assert rows[0].session_id != rows[1].session_id  # two different long ids stay two sessions
        assert all(len(row.tool_result_ids[-1]) <= 256 and "…~" in row.tool_result_ids[-1] for row in rows)
        assert rows[0].tool_result_ids[-1] != rows[1].tool_result_ids[-1]  # the digest keeps them apart
        assert all(row.cost_usd > 0 for row in rows)
    finally:
        engine.dispose()


def _rows(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(select(turns.c.developer, turns.c.session_id, turns.c.repo, turns.c.agent_type,
                                         turns.c.tool_result_ids, turns.c.cost_usd)).all()

"""`switchyard settings …` against ingest on loopback: a group's document stored as a new policy
version (not served until approved), approval is an audited activation, list/show read what is served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from core.policy.managed_settings import HINT_HEADERS, checksum
from store.audit import list_audit
from store.engine import make_engine
from store.policies import activate, active_policy, active_state, create_version
from switchyard.settings_cli import settings_app
from tests.control.policies import policy
from tests.control.server import ADMIN_TOKEN, serve_ingest

ENG = {"model": "opus", "env": {"DISABLE_TELEMETRY": "0"}}


@pytest.fixture(scope="module")
def base_url(db_url: str) -> Iterator[str]:
    engine = make_engine(db_url)
    with serve_ingest(db_url, engine) as url:
        yield url
    engine.dispose()


@pytest.fixture
def env(base_url: str, db_engine: Engine) -> dict[str, str]:
    create_version(db_engine, policy("v1"), actor="alice")
    activate(db_engine, "v1", actor="alice")
    return {"SWITCHYARD_ADMIN_URL": base_url, "SWITCHYARD_ADMIN_TOKEN": ADMIN_TOKEN}


def _run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(settings_app, list(args), env=env)


def test_put_stores_a_version_that_is_served_only_once_approved(tmp_path: Path, env: dict[str, str],
                                                                db_engine: Engine) -> None:
    path = tmp_path / "eng.json"
    path.write_text(json.dumps(ENG))
    put = _run(env, "put", str(path), "--group", "eng", "--version", "v2-eng")
    assert put.exit_code == 0, put.output
    assert "switchyard settings approve v2-eng" in put.stdout
    state = active_state(db_engine)
    assert state is not None and state.version == "v1"  # stored, not served

    approved = _run(env, "approve", "v2-eng")
    assert approved.exit_code == 0, approved.output
    assert "managed_settings" in approved.stdout and "activated v2-eng (was v1)" in approved.stdout
    active = active_policy(db_engine)
    assert active is not None and active.version == "v2-eng" and active.parent == "v1"
    served = active.policy().managed_settings
    assert [(g.group, g.settings) for g in served.groups] == [("eng", ENG)]
    actions = [(e.action, e.subject, e.actor) for e in list_audit(db_engine, limit=10)]
    assert ("policy.create", "v2-eng", "alice") in actions and ("policy.activate", "v2-eng", "alice") in actions

    shown = _run(env, "show", "--group", "eng")
    expected = {**ENG, "env": {HINT_HEADERS: "1", **ENG["env"]}}
    assert json.loads(shown.stdout) == {"entry": "group:eng", "checksum": checksum(expected), "settings": expected}
    listed = _run(env, "list")
    assert listed.exit_code == 0 and "group eng" in listed.stdout and "default" in listed.stdout


@pytest.mark.parametrize("content", ['["not", "an", "object"]', '{"env": {"X": 1}}', "{broken", '{"__proto__": {}}'])
def test_a_document_claude_code_would_refuse_is_refused_before_storing(
        tmp_path: Path, env: dict[str, str], db_engine: Engine, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = _run(env, "put", str(path), "--group", "eng")
    assert result.exit_code == 1
    assert [v.version for v in [active_policy(db_engine)] if v] == ["v1"]


def test_the_default_document_can_be_replaced(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "default.json"
    path.write_text(json.dumps({"env": {HINT_HEADERS: "1", "CLAUDE_CODE_PROPAGATE_TRACEPARENT": "1"}}))
    put = _run(env, "put", str(path))
    assert put.exit_code == 0, put.output
    version = put.stdout.split()[1]
    assert version.startswith("v1+settings-")
    assert _run(env, "approve", version).exit_code == 0
    shown = json.loads(_run(env, "show").stdout)
    assert shown["entry"] == "default" and shown["settings"]["env"]["CLAUDE_CODE_PROPAGATE_TRACEPARENT"] == "1"

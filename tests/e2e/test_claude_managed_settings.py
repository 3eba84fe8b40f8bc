"""The real Claude Code CLI, signed in to switchyard with ``/login``, sends its own telemetry to the
gateway's base URL with its bearer, and fetches its managed settings from the gateway and takes them:
the default document turns on the routing hint headers, which its model requests then carry, with
the checksum of the settings it applied — ours, to the byte.

(The pinned CLI, 2.1.330, signed in to a gateway, fetched unconditionally at every start: it sent no
If-None-Match, so the 304 path is tested over loopback with the header its code sends, in
tests/proxy/test_managed_settings.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.policy.managed_settings import DEFAULT_SETTINGS, checksum
from ingest.app import create_app
from ingest.settings import IngestSettings
from store.engine import make_engine
from store.schema import logs, turns
from store.testing import migrated_sqlite_url
from tests.e2e.claude_cli import require_claude, run_claude
from tests.e2e.claude_login import interactive_env, login_command, prepare_home, run_login
from tests.e2e.terminal import Terminal
from tests.gateway import INGEST_TOKENS
from tests.loopback import serve_in_thread, wait_until
from tests.signin.harness import signin_gateway

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _answers(app: object, status: int) -> float:
    registry = app.metrics.registry  # type: ignore[attr-defined]
    return registry.get_sample_value("switchyard_managed_settings_total", {"status": str(status)}) or 0.0


def _asked(app: object) -> float:
    """Every time the CLI asked: a 200, or a 304 when it sent the ETag it kept from an earlier answer
    (whether the login's process kept it before its terminal closed is a matter of timing: a CI run
    saw no new 200)."""
    return _answers(app, 200) + _answers(app, 304)


def test_the_cli_takes_its_managed_settings_from_the_gateway(tmp_path: Path) -> None:
    binary = require_claude()
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    prepare_home(home, work)
    with signin_gateway(tmp_path / "gateway", migrated_sqlite_url(tmp_path)) as gateway:
        terminal = Terminal(login_command(binary, home, tmp_path, gateway.url, "user-settings"),
                            env=interactive_env(home), cwd=work)
        try:
            run_login(terminal, gateway, "alice", "alice-password")
            # once signed in, the CLI asks the gateway for its settings: the document, with its ETag
            wait_until(lambda: _answers(gateway.app, 200) >= 1, timeout=60, what="GET /managed/settings answered")
        finally:
            terminal.close()
        fetched = _asked(gateway.app)

        run = run_claude("Say hello.", None, None, work, home=home)
        assert run.returncode == 0, run.describe()
        calls = [r for r in gateway.upstream.requests if r.path == "/v1/messages"]
        assert calls, "no model request reached the upstream"
        # the hint headers the default document switched on, and the checksum of what the CLI applied
        assert all(r.header("x-claude-code-request-class") for r in calls), [r.headers for r in calls]
        assert {r.header("x-claude-code-managed-settings-checksum") for r in calls} == {checksum(DEFAULT_SETTINGS)}
        assert _asked(gateway.app) > fetched  # the new process asked for them again at its start


def test_the_signed_in_cli_sends_its_telemetry_to_the_base_url_with_its_bearer(tmp_path: Path) -> None:
    """No OTEL headers set: the CLI signed in to the gateway sends its own bearer with its OTLP export,
    and ingest stores the rows as the bearer's developer's (whatever they claim), never as turns."""
    binary = require_claude()
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    prepare_home(home, work)
    ingest_db = migrated_sqlite_url(tmp_path / "ingest-db")
    engine = make_engine(ingest_db)
    # developers named by e-mail: the operator keeps the developer field out of redaction (configuration.md)
    settings = IngestSettings(database_url=ingest_db, ingest_tokens=INGEST_TOKENS, keys_file=None,
                              data_dir=tmp_path / "ingest", redact_keep_fields=frozenset({"developer"}))
    with serve_in_thread(create_app(settings, engine)) as ingest_url, \
            signin_gateway(tmp_path / "gateway", migrated_sqlite_url(tmp_path),
                           proxy={"otlp_endpoint": ingest_url + "/v1/traces"}) as gateway:
        terminal = Terminal(login_command(binary, home, tmp_path, gateway.url, "user-settings"),
                            env=interactive_env(home), cwd=work)
        try:
            run_login(terminal, gateway, "alice", "alice-password")
        finally:
            terminal.close()
        telemetry = {"CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_LOGS_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp",
                     "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": gateway.url,
                     "OTEL_METRIC_EXPORT_INTERVAL": "1000", "OTEL_LOGS_EXPORT_INTERVAL": "500"}
        run = run_claude("Say hello.", None, None, work, home=home, extra_env=telemetry)
        assert run.returncode == 0, run.describe()

        def stored() -> list[dict[str, object]]:
            with engine.connect() as connection:
                return [row.attributes for row in connection.execute(select(logs.c.attributes))]

        wait_until(lambda: len(stored()) > 0, timeout=30, what="Claude Code's telemetry stored by ingest")
        rows = stored()
        assert {(r["switchyard.developer"], r["switchyard.attribution"]) for r in rows} == {
            ("alice@example.com", "bearer")}
        with engine.connect() as connection:  # only the proxy's own turn: telemetry is never spend
            developers = connection.execute(select(turns.c.developer)).scalars().all()
        assert set(developers) <= {"alice@example.com"} and len(developers) <= 1
    engine.dispose()

"""`switchyard doctor` says what is wrong, and is quiet (exit 0) when nothing is."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from store.migrate import upgrade
from switchyard.cli import app
from switchyard.keys_cli import create_key


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("SWITCHYARD_POLICY_FILE", "SWITCHYARD_OTLP_ENDPOINT", "SWITCHYARD_SNAPSHOT_URL",
                 "SWITCHYARD_REDIS_URL", "SWITCHYARD_PASSTHROUGH", "ANTHROPIC_API_KEY",
                 "SWITCHYARD_ALLOWED_UPSTREAMS"):
        monkeypatch.delenv(name, raising=False)
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", database)
    monkeypatch.setenv("SWITCHYARD_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path, database


def test_a_sound_setup_passes(environment, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path, database = environment
    upgrade(database)
    create_key(tmp_path / "keys.json", "alice", "payments")
    # doctor only opens a TCP connection to the upstream: a listening socket is all it needs
    with socket.create_server(("127.0.0.1", 0)) as upstream:
        monkeypatch.setenv("SWITCHYARD_UPSTREAM_URL", f"http://127.0.0.1:{upstream.getsockname()[1]}")
        monkeypatch.setenv("SWITCHYARD_UPSTREAM_API_KEY", "sk-ant-doctor-test")
        result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "problem" not in result.output
    assert "sk-ant-doctor-test" not in result.output  # keys are never shown


def test_problems_are_named_with_what_to_do(environment, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path, _ = environment
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: v1\ntargets: [{name: a, base_url: 'http://127.0.0.1:1'}]\ndefault: {route: [b]}\n")
    monkeypatch.setenv("SWITCHYARD_POLICY_FILE", str(policy))
    monkeypatch.delenv("SWITCHYARD_UPSTREAM_API_KEY", raising=False)
    monkeypatch.setenv("SWITCHYARD_UPSTREAM_URL", "http://127.0.0.1:1")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    for expected in ("SWITCHYARD_UPSTREAM_API_KEY", "switchyard keys create", "switchyard store migrate",
                     "policy.yaml", "not reachable"):
        assert expected in result.output, expected


def test_a_policy_target_outside_the_allowlist_is_a_problem(environment, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path, _ = environment
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: v1\ntargets: [{name: a, base_url: 'http://127.0.0.1:6379'}]\ndefault: {route: [a]}\n")
    monkeypatch.setenv("SWITCHYARD_POLICY_FILE", str(policy))
    monkeypatch.setenv("SWITCHYARD_UPSTREAM_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("SWITCHYARD_UPSTREAM_API_KEY", "sk-ant-doctor-test")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "not in SWITCHYARD_ALLOWED_UPSTREAMS" in " ".join(result.output.split())


@pytest.mark.parametrize(("token", "expected"), [
    (None, "SWITCHYARD_OTLP_TOKEN is not set"),
    ("wrong-token-for-the-doctor-test", "SWITCHYARD_OTLP_TOKEN is not one of ingest's"),
    ("telemetry-token-for-the-doctor-test", "SWITCHYARD_OTLP_TOKEN is a telemetry token"),
    ("proxy-token-for-the-doctor-test", "takes this proxy's spans"),
])
def test_the_proxys_ingest_token_is_checked_against_the_real_ingest(environment, monkeypatch: pytest.MonkeyPatch,
                                                                   token: str | None, expected: str) -> None:
    from ingest.app import create_app
    from ingest.settings import IngestSettings
    from store.engine import make_engine
    from tests.loopback import serve_in_thread

    _, database = environment
    upgrade(database)
    engine = make_engine(database)
    settings = IngestSettings(database_url=database, ingest_tokens={
        "proxy-token-for-the-doctor-test": "proxy", "telemetry-token-for-the-doctor-test": "telemetry"})
    monkeypatch.setenv("SWITCHYARD_UPSTREAM_API_KEY", "sk-ant-doctor-test")
    if token is None:
        monkeypatch.delenv("SWITCHYARD_OTLP_TOKEN", raising=False)
    else:
        monkeypatch.setenv("SWITCHYARD_OTLP_TOKEN", token)
    try:
        with serve_in_thread(create_app(settings, engine)) as url:
            monkeypatch.setenv("SWITCHYARD_OTLP_ENDPOINT", f"{url}/v1/traces")
            result = CliRunner().invoke(app, ["doctor"])
    finally:
        engine.dispose()
    assert expected in result.output, result.output
    assert token is None or token not in result.output  # tokens are never shown


def test_sign_in_is_checked_against_the_idp(environment, monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.idp import TestIdP

    tmp_path, database = environment
    upgrade(database)
    create_key(tmp_path / "keys.json", "alice", "payments")
    monkeypatch.setenv("SWITCHYARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHYARD_UPSTREAM_API_KEY", "sk-ant-doctor-test")
    with TestIdP() as idp, socket.create_server(("127.0.0.1", 0)) as upstream:
        monkeypatch.setenv("SWITCHYARD_UPSTREAM_URL", f"http://127.0.0.1:{upstream.getsockname()[1]}")
        monkeypatch.setenv("SWITCHYARD_OIDC_ISSUER", idp.issuer)
        missing = CliRunner().invoke(app, ["doctor"])
        assert missing.exit_code == 1 and "SWITCHYARD_OIDC_CLIENT_ID and SWITCHYARD_PUBLIC_URL" in missing.output
        monkeypatch.setenv("SWITCHYARD_OIDC_CLIENT_ID", "switchyard")
        monkeypatch.setenv("SWITCHYARD_PUBLIC_URL", "http://127.0.0.1:4000")
        sound = CliRunner().invoke(app, ["doctor"])
        assert sound.exit_code == 0, sound.output
        assert f"IdP {idp.issuer} answers" in sound.output
        monkeypatch.setenv("SWITCHYARD_OIDC_ISSUER", idp.issuer + "/realms/other")
        wrong = CliRunner().invoke(app, ["doctor"])
        assert wrong.exit_code == 1 and "discovery document" in wrong.output
        monkeypatch.setenv("SWITCHYARD_OIDC_ISSUER", idp.issuer)
        idp.go_down()
        down = CliRunner().invoke(app, ["doctor"])
        assert down.exit_code == 1 and "is the IdP reachable" in down.output


@pytest.mark.parametrize("credentials", [True, False], ids=["found", "missing"])
def test_a_bedrock_targets_aws_credentials_are_checked(environment, monkeypatch: pytest.MonkeyPatch,
                                                        credentials: bool) -> None:
    tmp_path, database = environment
    upgrade(database)
    create_key(tmp_path / "keys.json", "alice", "payments")
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: v1\ntargets:\n  - {name: bedrock-us, provider: bedrock, region: us-east-1, "
                      "model: us.anthropic.claude-haiku-4-5-20251001-v1:0}\ndefault: {route: [bedrock-us]}\n")
    monkeypatch.setenv("SWITCHYARD_POLICY_FILE", str(policy))
    monkeypatch.setenv("SWITCHYARD_ALLOWED_UPSTREAMS", '["https://bedrock-runtime.us-east-1.amazonaws.com"]')
    monkeypatch.setenv("SWITCHYARD_UPSTREAM_API_KEY", "sk-ant-doctor-test")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDOCTORTEST")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "doctor-secret-never-shown")
    result = CliRunner().invoke(app, ["doctor"])
    line = next(line for line in result.output.splitlines() if "provider credentials" in line)
    if credentials:
        assert "bedrock-us (bedrock, aws)" in line
    else:
        assert "no AWS credentials" in line and result.exit_code != 0
    assert "doctor-secret-never-shown" not in result.output

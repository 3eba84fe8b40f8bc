"""`switchyard keys create` refuses names ingest would not store (their spend would never be billed)."""

from __future__ import annotations

import os
import stat

from typer.testing import CliRunner

from core.keys import KEY_PREFIX
from proxy.keyfile import load_keyring
from store.audit import list_audit, verify_audit
from store.engine import make_engine
from store.migrate import upgrade
from switchyard.keys_cli import keys_app


def test_keys_create_refuses_a_name_past_the_limit(tmp_path):
    keys_file = tmp_path / "keys.json"
    result = CliRunner().invoke(keys_app, ["create", "--developer", "d" * 3000, "--keys-file", str(keys_file)])
    assert result.exit_code == 2 and "longer than 256" in result.output
    assert not keys_file.exists()
    ok = CliRunner().invoke(keys_app, ["create", "--developer", "d" * 256, "--keys-file", str(keys_file)])
    assert ok.exit_code == 0 and ok.stdout.strip().startswith(KEY_PREFIX)


def test_keys_made_and_revoked_with_the_cli_are_audited_in_the_database_beside_them(tmp_path):
    keys_file = tmp_path / "keys.json"
    engine = make_engine(None, data_dir=tmp_path)
    try:
        upgrade(engine)
        runner = CliRunner()
        made = runner.invoke(keys_app, ["create", "--developer", "dana", "--team", "pay",
                                        "--keys-file", str(keys_file)])
        assert made.exit_code == 0, made.output
        assert "audited as key.create" in made.output
        key_id = load_keyring(keys_file).records()[0].key_id
        revoked = runner.invoke(keys_app, ["revoke", key_id, "--keys-file", str(keys_file)])
        assert revoked.exit_code == 0 and "audited as key.revoke" in revoked.output
        entries = list_audit(engine)
        assert [(e.action, e.subject, e.detail["developer"]) for e in entries] == [
            ("key.revoke", key_id, "dana"), ("key.create", key_id, "dana")]
        assert verify_audit(engine) == []
    finally:
        engine.dispose()


def test_without_a_database_the_cli_says_the_change_is_not_audited(tmp_path):
    keys_file = tmp_path / "keys.json"
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(keys_app, ["create", "--developer", "dana", "--keys-file", str(keys_file)])
    finally:
        os.umask(old)
    assert result.exit_code == 0 and "not audited: no DATABASE_URL" in result.output
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600


def test_keys_create_fronting_gateway_marks_only_that_key(tmp_path):
    from proxy.keyfile import load_keyring

    keys_file = tmp_path / "keys.json"
    runner = CliRunner()
    made = runner.invoke(keys_app, ["create", "--developer", "claude-gateway", "--fronting-gateway",
                                    "--keys-file", str(keys_file)])
    assert made.exit_code == 0, made.output
    assert runner.invoke(keys_app, ["create", "--developer", "dana", "--keys-file", str(keys_file)]).exit_code == 0
    flags = {r.developer: r.fronting_gateway for r in load_keyring(keys_file).records()}
    assert flags == {"claude-gateway": True, "dana": False}

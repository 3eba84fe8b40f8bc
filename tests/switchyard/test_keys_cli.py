"""`switchyard keys create` refuses names ingest would not store (their spend would never be billed)."""

from __future__ import annotations

from typer.testing import CliRunner

from core.keys import KEY_PREFIX
from switchyard.keys_cli import keys_app


def test_keys_create_refuses_a_name_past_the_limit(tmp_path):
    keys_file = tmp_path / "keys.json"
    result = CliRunner().invoke(keys_app, ["create", "--developer", "d" * 3000, "--keys-file", str(keys_file)])
    assert result.exit_code == 2 and "longer than 256" in result.output
    assert not keys_file.exists()
    ok = CliRunner().invoke(keys_app, ["create", "--developer", "d" * 256, "--keys-file", str(keys_file)])
    assert ok.exit_code == 0 and ok.stdout.strip().startswith(KEY_PREFIX)

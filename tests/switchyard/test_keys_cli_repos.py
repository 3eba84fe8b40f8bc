"""`switchyard keys create --repos` and `keys set-repos` (issue 15, item 8): the list lands in the
keys file the proxy reads, bad lists are usage errors naming the option, changes are audited."""

from __future__ import annotations

from typer.testing import CliRunner

from proxy.keyfile import load_keyring
from store.audit import list_audit, verify_audit
from store.engine import make_engine
from store.migrate import upgrade
from switchyard.keys_cli import keys_app


def test_repos_at_creation_and_later_are_in_the_keys_file_listed_and_audited(tmp_path):
    keys_file = tmp_path / "keys.json"
    engine = make_engine(None, data_dir=tmp_path)
    try:
        upgrade(engine)
        runner = CliRunner()
        made = runner.invoke(keys_app, ["create", "--developer", "dana", "--repos", "payments-api, billing",
                                        "--keys-file", str(keys_file)])
        assert made.exit_code == 0, made.output
        (record,) = load_keyring(keys_file).records()
        assert record.repos == ("payments-api", "billing")
        listed = runner.invoke(keys_app, ["list", "--keys-file", str(keys_file)], env={"COLUMNS": "200"})
        assert "payments-api,billing" in listed.output
        changed = runner.invoke(keys_app, ["set-repos", record.key_id, "*", "--keys-file", str(keys_file)])
        assert changed.exit_code == 0, changed.output
        assert load_keyring(keys_file).records()[0].repos == ("*",)
        cleared = runner.invoke(keys_app, ["set-repos", record.key_id, "--clear", "--keys-file", str(keys_file)])
        assert cleared.exit_code == 0, cleared.output
        assert load_keyring(keys_file).records()[0].repos is None
        assert "any (no list)" in runner.invoke(keys_app, ["list", "--keys-file", str(keys_file)],
                                                env={"COLUMNS": "200"}).output
        entries = list_audit(engine)
        assert [(e.action, e.detail.get("repos", e.detail.get("after"))) for e in entries] == [
            ("key.set_repos", None), ("key.set_repos", ["*"]), ("key.create", ["payments-api", "billing"])]
        assert entries[0].detail["before"] == ["*"]
        assert verify_audit(engine) == []
    finally:
        engine.dispose()


def test_bad_repo_lists_are_usage_errors_and_change_nothing(tmp_path):
    keys_file = tmp_path / "keys.json"
    runner = CliRunner()
    for bad in ("", "a,,b", "=HYPERLINK(1)", "*,billing", "pay ments"):
        result = runner.invoke(keys_app, ["create", "--developer", "dana", "--repos", bad,
                                          "--keys-file", str(keys_file)])
        assert result.exit_code == 2 and "--repos" in result.output, (bad, result.output)
    assert not keys_file.exists()
    runner.invoke(keys_app, ["create", "--developer", "dana", "--keys-file", str(keys_file)])
    key_id = load_keyring(keys_file).records()[0].key_id
    for args in (["set-repos", key_id], ["set-repos", key_id, "a", "--clear"], ["set-repos", key_id, "=x"],
                 ["set-repos", "nope", "a"]):
        result = runner.invoke(keys_app, [*args, "--keys-file", str(keys_file)])
        assert result.exit_code == 2, (args, result.output)
    assert load_keyring(keys_file).records()[0].repos is None

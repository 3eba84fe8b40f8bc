"""`switchyard policy …`: validate and diff files locally; apply, list, show and roll back against
ingest served on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from core.policy.diff import diff
from core.policy.schema import Policy
from store.audit import list_audit
from store.engine import make_engine
from store.policies import active_state, create_version
from store.proposals import create_proposal
from switchyard.policy_cli import policy_app
from tests.control.policies import document
from tests.control.server import ADMIN_TOKEN, serve_ingest


@pytest.fixture(scope="module")
def base_url(db_url: str) -> Iterator[str]:
    engine = make_engine(db_url)
    with serve_ingest(db_url, engine) as url:
        yield url
    engine.dispose()


@pytest.fixture
def env(base_url: str, db_engine: Engine) -> dict[str, str]:
    """The environment fallbacks the CLI reads (db_engine empties the tables first)."""
    return {"SWITCHYARD_ADMIN_URL": base_url, "SWITCHYARD_ADMIN_TOKEN": ADMIN_TOKEN}


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(policy_app, list(args), env=env or {"SWITCHYARD_ADMIN_TOKEN": ""})


def policy_of(doc: dict) -> Policy:
    return Policy.model_validate(doc)


def _file(tmp_path: Path, name: str, doc: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if name.endswith(".yaml") else json.dumps(doc))
    return path


def test_validate_prints_every_problem_and_fails_on_errors(tmp_path: Path) -> None:
    good = _file(tmp_path, "good.yaml", document("v1"))
    result = _run("validate", str(good))
    assert result.exit_code == 0 and "policy v1 is valid (0 warning(s))" in result.stdout

    bad_doc = document("v2", rules=[{"name": "x", "when": {"team": []}, "route": ["nowhere"]}])
    bad_doc["default"] = {"route": ["missing"]}
    result = _run("validate", str(_file(tmp_path, "bad.json", bad_doc)))
    assert result.exit_code == 1
    assert "error: rules[0].route[0]: unknown target 'nowhere'" in result.stdout
    assert "error: default.route[0]: unknown target 'missing'" in result.stdout
    assert "warning: rules[0].when.team" in result.stdout
    assert "2 error(s), 1 warning(s)" in result.stderr

    unloadable = tmp_path / "broken.yaml"
    unloadable.write_text("version: v1\ntargets: {}\n")
    result = _run("validate", str(unloadable))
    assert result.exit_code == 1 and "cannot be loaded" in result.stderr and "default" in result.stderr
    assert _run("validate", str(tmp_path / "absent.yaml")).exit_code == 2  # click: no such file


REVIEW_OF_V2 = [  # the rule-level review of document("v1") → document("v2", …) with a tighter small rule
    "policy v1 → v2", "rules (first match wins): 1 in v1, 1 in v2",
    "~ rule small (changed, position 1 of 1)",
    "    before: when estimated input tokens < 20,000 → route haiku, then sonnet",
    "    after:  when estimated input tokens < 12,000 → route haiku, then sonnet",
    "    changed: estimated input tokens below 20,000 → 12,000",
    "= default (no rule matches): route sonnet (unchanged)",
    "other changes:", "~ target haiku: model claude-haiku-4-5 → claude-haiku-5"]


def _v2() -> dict:
    doc = document("v2", "v1", small_model="claude-haiku-5")
    doc["rules"][0]["when"] = {"input_tokens": {"lt": 12000}}
    return doc


def test_diff_of_two_files_rule_by_rule(tmp_path: Path) -> None:
    old = _file(tmp_path, "old.yaml", document("v1"))
    new = _file(tmp_path, "new.json", _v2())
    result = _run("diff", str(old), str(new))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == REVIEW_OF_V2
    with_yaml = _run("diff", str(old), str(new), "--yaml")
    assert with_yaml.stdout.startswith(result.stdout)
    before, _, after = with_yaml.stdout.split("\n--- before (v1)\n")[1].partition("\n+++ after (v2)\n")
    assert yaml.safe_load(before)["rules"] == [{"name": "small", "when": {"input_tokens": {"lt": 20000}},
                                               "route": ["haiku", "sonnet"]}]
    assert yaml.safe_load(after)["rules"][0]["when"] == {"input_tokens": {"lt": 12000}}


def test_diff_needs_two_policies_or_a_proposal(tmp_path: Path) -> None:
    old = _file(tmp_path, "old.yaml", document("v1"))
    for args in (["diff", str(old)], ["diff"], ["diff", str(old), str(old), "--proposal", "p1"]):
        result = _run(*args)
        assert result.exit_code == 2 and "give OLD and NEW, or --proposal ID" in result.stderr, args
    missing = _run("diff", str(old), "no-such-version")
    assert missing.exit_code == 2 and "no-such-version: no such file (and no admin token" in missing.stderr


def test_diff_of_stored_versions_and_of_a_proposal(tmp_path: Path, env: dict[str, str], db_engine: Engine) -> None:
    assert _run("apply", str(_file(tmp_path, "v1.yaml", document("v1"))), env=env).exit_code == 0
    v2 = policy_of(_v2())
    create_version(db_engine, v2, actor="setup")
    stored = _run("diff", "v1", "v2", env=env)
    assert stored.exit_code == 0, stored.output
    assert stored.stdout.splitlines() == REVIEW_OF_V2
    mixed = _run("diff", str(tmp_path / "v1.yaml"), "v2", env=env)  # a file against a stored version
    assert mixed.stdout.splitlines() == REVIEW_OF_V2
    found = create_proposal(db_engine, parent_version="v1", candidate_version="v2", document=v2.model_dump(mode="json"),
                            diff=diff(policy_of(document("v1")), v2).to_dict(), evidence={}, actor="optimizer")
    by_proposal = _run("diff", "--proposal", found.id, env=env)
    assert by_proposal.exit_code == 0, by_proposal.output
    assert by_proposal.stdout.splitlines() == REVIEW_OF_V2
    unknown = _run("diff", "--proposal", "nope", env=env)
    assert unknown.exit_code == 1 and "404" in unknown.stderr
    absent = _run("diff", "v1", "v9", env=env)
    assert absent.exit_code == 1 and "404" in absent.stderr


def test_apply_list_show_rollback(tmp_path: Path, env: dict[str, str], db_engine: Engine) -> None:
    first = _run("apply", str(_file(tmp_path, "v1.yaml", document("v1"))), "--note", "initial", env=env)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == ["stored v1", "activated v1 (no policy was active)"]

    second = _run("apply", str(_file(tmp_path, "v2.json", _v2())), env=env)
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines() == ["stored v2", *REVIEW_OF_V2, "activated v2 (was v1)"]
    again = _run("apply", str(tmp_path / "v2.json"), env=env)
    assert again.stdout.splitlines() == ["v2 was already stored (identical)", "v2 is already active"]

    listing = _run("list", env=env)
    assert listing.exit_code == 0
    rows = [[cell for cell in line.split() if cell != "│"] for line in listing.stdout.splitlines()
            if " v1 " in line or " v2 " in line]
    assert [row[:2] for row in rows] == [["v1", "-"], ["*", "v2"]]
    assert "initial" in listing.stdout

    shown = _run("show", "v2", env=env)
    assert shown.exit_code == 0 and yaml.safe_load(shown.stdout)["targets"][0]["model"] == "claude-haiku-5"

    back = _run("rollback", env=env)
    assert back.exit_code == 0
    assert back.stdout.splitlines()[-1] == "rolled back to v1 (was v2)"
    assert "policy v2 → v1" in back.stdout
    assert "    changed: estimated input tokens below 12,000 → 20,000" in back.stdout.splitlines()
    assert active_state(db_engine).version == "v1"  # type: ignore[union-attr]
    assert {e.actor for e in list_audit(db_engine)} == {"alice"}


def test_refusals_print_the_reason_and_exit_1(tmp_path: Path, env: dict[str, str]) -> None:
    bad = document("v1")
    bad["default"] = {"route": ["missing"]}
    result = _run("apply", str(_file(tmp_path, "bad.yaml", bad)), env=env)
    assert result.exit_code == 1
    assert "error: 422: the policy has 1 error(s)" in result.stderr
    assert "error: default.route[0]: unknown target 'missing'" in result.stderr
    assert _run("show", "nope", env=env).exit_code == 1
    nothing = _run("rollback", env=env)
    assert nothing.exit_code == 1 and "no policy is active" in nothing.stderr
    wrong = _run("list", "--token", "wrong-token-0123456789", env=env)
    assert wrong.exit_code == 1 and "401" in wrong.stderr


def test_missing_token_or_unreachable_server_exit_2(env: dict[str, str]) -> None:
    no_token = _run("list", "--url", env["SWITCHYARD_ADMIN_URL"])
    assert no_token.exit_code == 2 and "no admin token" in no_token.stderr
    unreachable = _run("list", "--url", "http://127.0.0.1:1", "--token", ADMIN_TOKEN)
    assert unreachable.exit_code == 2 and "cannot reach" in unreachable.stderr


def test_apply_outside_the_allowlist_is_refused_naming_the_target(tmp_path: Path, env: dict[str, str],
                                                                   db_engine: Engine) -> None:
    result = _run("apply", str(_file(tmp_path, "v1.yaml", document("v1", base_url="http://127.0.0.1:6379"))), env=env)
    assert result.exit_code == 1
    assert "error: targets[0].base_url: target 'haiku': 'http://127.0.0.1:6379' is not in" in result.stderr
    assert active_state(db_engine) is None


def test_validate_checks_the_allowlist_when_given(tmp_path: Path) -> None:
    path = _file(tmp_path, "gw.yaml", document("v1", base_url="https://gateway.example/anthropic"))
    assert _run("validate", str(path)).exit_code == 0  # no allowlist here: left to ingest
    refused = _run("validate", str(path), env={"SWITCHYARD_ALLOWED_UPSTREAMS": '["https://api.anthropic.com"]'})
    assert refused.exit_code == 1 and "target 'sonnet'" in refused.stdout
    listed = _run("validate", str(path), "--allowed-upstreams", '["https://gateway.example/anthropic"]')
    assert listed.exit_code == 0, listed.output
    bad = _run("validate", str(path), "--allowed-upstreams", '["http://gateway.example"]')
    assert bad.exit_code == 2 and "https is required" in bad.stderr

"""A policy file the proxy applies or refuses is recorded on the audit logger with the file's
SHA-256 (issue 15, item 7): the proxy has no database, so a log line is its audit entry."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os

import pytest
import yaml

from proxy.app import ProxyApp
from proxy.settings import ProxySettings

UPSTREAM = "https://api.anthropic.com"


def _policy(version: str) -> dict:
    return {"version": version,
            "targets": [{"name": "sonnet", "base_url": UPSTREAM, "model": "claude-sonnet-4-5", "tier": "sonnet"}],
            "default": {"route": ["sonnet"]}}


def _write(path, document: dict | str, bump: int) -> str:
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    path.write_text(text)
    stamp = 1_800_000_000 + bump  # a distinct mtime whatever the file system's resolution
    os.utime(path, (stamp, stamp))
    return hashlib.sha256(text.encode()).hexdigest()


def test_policy_file_loads_and_reloads_are_audited_with_the_files_digest(tmp_path, caplog) -> None:
    policy_file = tmp_path / "policy.yaml"
    first = _write(policy_file, _policy("v1"), 0)
    app = ProxyApp(ProxySettings(upstream_url=UPSTREAM, upstream_api_key="sk-ant-test-0123456789",
                                 keys_file=tmp_path / "keys.json", policy_file=policy_file,
                                 spool_dir=tmp_path / "spool"))
    caplog.set_level(logging.INFO, logger="switchyard.audit")

    async def start_and_stop() -> None:
        tasks = await app.control.start()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(start_and_stop())
    second = _write(policy_file, _policy("v2"), 1)
    assert app.control.reload_policy()
    broken = _policy("v3")
    broken["default"]["route"] = ["nowhere"]
    third = _write(policy_file, broken, 2)
    assert not app.control.reload_policy()
    assert not app.control.reload_policy()  # unchanged since: nothing new to record
    lines = [r.getMessage() for r in caplog.records if r.name == "switchyard.audit"]
    assert lines[0] == f"policy file in force at start: path={policy_file} sha256={first} version=v1"
    assert lines[1] == f"policy file applied: path={policy_file} sha256={second} version=v2 previous=v1"
    assert lines[2].startswith(f"policy file refused: path={policy_file} sha256={third} kept=v2 reason=")
    assert "nowhere" in lines[2]
    assert len(lines) == 3
    assert [r.levelno for r in caplog.records if r.name == "switchyard.audit"][2] == logging.WARNING


@pytest.mark.parametrize("garbage", ["{not: yaml: at all", "\udcff"])
def test_an_unparsable_policy_file_is_recorded_as_refused(tmp_path, caplog, garbage: str) -> None:
    policy_file = tmp_path / "policy.yaml"
    _write(policy_file, _policy("v1"), 0)
    app = ProxyApp(ProxySettings(upstream_url=UPSTREAM, upstream_api_key="sk-ant-test-0123456789",
                                 keys_file=tmp_path / "keys.json", policy_file=policy_file,
                                 spool_dir=tmp_path / "spool"))
    caplog.set_level(logging.INFO, logger="switchyard.audit")
    policy_file.write_bytes(garbage.encode("utf-8", "surrogateescape"))
    os.utime(policy_file, (1_800_000_005, 1_800_000_005))
    assert not app.control.reload_policy()
    digest = hashlib.sha256(policy_file.read_bytes()).hexdigest()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "switchyard.audit"]
    assert line.startswith(f"policy file refused: path={policy_file} sha256={digest} kept=v1 reason=")

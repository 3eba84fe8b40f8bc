"""The real Claude Code CLI against the fake upstream, nothing in between: the scripted tool loops finish."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.e2e.claude_cli import require_claude, run_claude

pytestmark = pytest.mark.e2e


def test_write_directive_completes_a_tool_loop(tmp_path: Path) -> None:
    require_claude()
    target = tmp_path / "note.txt"
    with FakeUpstream(UpstreamConfig(event_interval_s=0.005, split_write_pause_s=0.01)) as upstream:
        run = run_claude(f"[[sim:write {target} héllo_✓_日本語]]", upstream.base_url, "sk-test-fake", tmp_path)
        requests = upstream.requests
    assert run.returncode == 0, run.describe()
    assert target.read_text(encoding="utf-8") == "héllo_✓_日本語"
    assert (run.final_text or "").startswith("Done ✅ — the file is written. 日本語テキスト 🚀")
    assert [(r.path, r.query_string) for r in requests] == [("/v1/messages", "beta=true")] * 2
    follow_up = requests[1].json()
    results = [b for m in follow_up["messages"] if isinstance(m["content"], list) for b in m["content"]]
    assert any(b.get("type") == "tool_result" and not b.get("is_error") for b in results)


def test_bash_directive_and_a_retried_overload(tmp_path: Path) -> None:
    require_claude()
    with FakeUpstream(UpstreamConfig(instant=True)) as upstream:
        upstream.inject("529")  # the CLI retries an overloaded_error on its own
        run = run_claude(
            "[[sim:bash echo sim-ok]]", upstream.base_url, "sk-test-fake", tmp_path,
            extra_args=("--allowedTools", "Bash(echo:*)"),
        )  # fmt: skip
        requests = upstream.requests
    assert run.returncode == 0, run.describe()
    assert len(requests) == 3  # 529, then the tool_use, then the answer to the tool_result
    results = [b for m in requests[2].json()["messages"] if isinstance(m["content"], list) for b in m["content"]]
    outputs = [b for b in results if b.get("type") == "tool_result"]
    assert outputs and "sim-ok" in str(outputs[-1]["content"]) and not outputs[-1].get("is_error")

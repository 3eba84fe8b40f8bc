"""The real Claude Code CLI in its own Vertex AI mode against the fake Vertex AI, nothing in between: the
URL it builds passes the fake's checks, the betas it drops after "Unexpected value(s) …" are the ones
the fake named, and the scripted tool loop finishes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.fake_credentials import TEST_VERTEX_ACCESS_TOKEN, TEST_VERTEX_PROJECT, TEST_VERTEX_REGION
from sim.provider_capabilities import VERTEX_CAPABILITIES, header_betas
from sim.provider_requests import fingerprint
from sim.provider_signatures import provider_signature
from sim.upstream_config import UpstreamConfig
from sim.vertex import FakeVertex
from sim.vertex_config import VertexConfig
from tests.e2e.claude_cli import require_claude, run_claude

pytestmark = pytest.mark.e2e


def test_the_cli_completes_a_tool_loop_against_the_fake_vertex(tmp_path: Path) -> None:
    require_claude()
    target = tmp_path / "note.txt"
    config = VertexConfig(pacing=UpstreamConfig(event_interval_s=0.005, split_write_pause_s=0.01))
    with FakeVertex(config) as vertex:
        env = {
            "CLAUDE_CODE_USE_VERTEX": "1",
            "ANTHROPIC_VERTEX_BASE_URL": vertex.base_url + "/v1",
            "ANTHROPIC_VERTEX_PROJECT_ID": TEST_VERTEX_PROJECT,
            "CLOUD_ML_REGION": TEST_VERTEX_REGION,
            # No Google credentials offline: skip the CLI's own token minting and hand it the token instead.
            "CLAUDE_CODE_SKIP_VERTEX_AUTH": "1",
            "ANTHROPIC_CUSTOM_HEADERS": f"Authorization: Bearer {TEST_VERTEX_ACCESS_TOKEN}",
        }
        run = run_claude(f"[[sim:write {target} héllo_✓_日本語]]", "http://127.0.0.1:9", "unused", tmp_path,
                         extra_env=env, timeout=120)
        requests = vertex.requests
    assert run.returncode == 0, run.describe()
    assert target.read_text(encoding="utf-8") == "héllo_✓_日本語"
    assert (run.final_text or "").startswith("Done ✅ — the file is written. 日本語テキスト 🚀")

    predictions = [r for r in requests if r.path.endswith(":streamRawPredict")]
    prefix = f"/v1/projects/{TEST_VERTEX_PROJECT}/locations/{TEST_VERTEX_REGION}/publishers/anthropic/models/"
    assert predictions and all(r.path.startswith(prefix) for r in predictions)
    assert all(r.header("authorization") == "Bearer " + fingerprint(TEST_VERTEX_ACCESS_TOKEN) for r in predictions)
    follow_up = predictions[-1]
    assert set(header_betas(follow_up.header("anthropic-beta"))) <= VERTEX_CAPABILITIES.betas
    body = follow_up.json()
    assert body["anthropic_version"] == "vertex-2023-10-16" and "model" not in body
    echoed = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "assistant")
    thinking = [b for b in echoed if b["type"] == "thinking"]
    tool_uses = [b for b in echoed if b["type"] == "tool_use"]
    assert thinking and thinking[0]["signature"] == provider_signature("vertex", thinking[0]["thinking"])
    results = [b for b in body["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert [r["tool_use_id"] for r in results] == [tool_uses[0]["id"]]

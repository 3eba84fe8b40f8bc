"""The real Claude Code CLI in its own Bedrock mode against the fake Bedrock, nothing in between: its
aws-sdk-js signer passes the fake's SigV4 check, its event-stream decoder reads the fake's frames, and
the scripted tool loop finishes. A proof the fake is faithful where a gateway will meet it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.bedrock import FakeBedrock
from sim.bedrock_config import BedrockConfig
from sim.fake_credentials import (
    TEST_AWS_ACCESS_KEY_ID,
    TEST_AWS_SECRET_ACCESS_KEY,
    TEST_AWS_SESSION_TOKEN,
    TEST_AWS_TEMP_ACCESS_KEY_ID,
    TEST_AWS_TEMP_SECRET_ACCESS_KEY,
    TEST_BEDROCK_API_KEY,
)
from sim.provider_capabilities import BEDROCK_CAPABILITIES
from sim.provider_requests import fingerprint
from sim.provider_signatures import provider_signature
from sim.upstream_config import UpstreamConfig
from tests.e2e.claude_cli import require_claude, run_claude

pytestmark = pytest.mark.e2e

CREDENTIALS = {
    "long-term": {"AWS_ACCESS_KEY_ID": TEST_AWS_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": TEST_AWS_SECRET_ACCESS_KEY},
    "temporary": {"AWS_ACCESS_KEY_ID": TEST_AWS_TEMP_ACCESS_KEY_ID, "AWS_SESSION_TOKEN": TEST_AWS_SESSION_TOKEN,
                  "AWS_SECRET_ACCESS_KEY": TEST_AWS_TEMP_SECRET_ACCESS_KEY},
    "api-key": {"AWS_BEARER_TOKEN_BEDROCK": TEST_BEDROCK_API_KEY},
}


@pytest.mark.parametrize("credentials", list(CREDENTIALS))
def test_the_cli_completes_a_tool_loop_against_the_fake_bedrock(tmp_path: Path, credentials: str) -> None:
    require_claude()
    target = tmp_path / "note.txt"
    config = BedrockConfig(pacing=UpstreamConfig(event_interval_s=0.005, split_write_pause_s=0.01))
    with FakeBedrock(config) as bedrock:
        env = {"CLAUDE_CODE_USE_BEDROCK": "1", "ANTHROPIC_BEDROCK_BASE_URL": bedrock.base_url,
               "AWS_REGION": "us-east-1", **CREDENTIALS[credentials]}
        # ANTHROPIC_BASE_URL is ignored in Bedrock mode: point it nowhere.
        run = run_claude(f"[[sim:write {target} héllo_✓_日本語]]", "http://127.0.0.1:9", "unused", tmp_path,
                         extra_env=env, timeout=120)
        requests = bedrock.requests
    assert run.returncode == 0, run.describe()
    assert target.read_text(encoding="utf-8") == "héllo_✓_日本語"
    assert (run.final_text or "").startswith("Done ✅ — the file is written. 日本語テキスト 🚀")

    model_calls = [r for r in requests if r.method == "POST" and r.path.startswith("/model/")]
    for request in model_calls:
        authorization = request.header("authorization") or ""
        if credentials == "api-key":
            assert authorization == "Bearer " + fingerprint(TEST_BEDROCK_API_KEY)
        else:
            assert authorization.startswith("AWS4-HMAC-SHA256 Credential=") and "/us-east-1/bedrock/" in authorization

    streamed = [r for r in model_calls if r.path.endswith("/invoke-with-response-stream")]
    follow_up = streamed[-1].json()
    # What the fake accepted carried only betas it knows (the CLI dropped others after "invalid beta flag").
    assert set(follow_up.get("anthropic_beta", [])) <= BEDROCK_CAPABILITIES.betas
    echoed = next(m["content"] for m in reversed(follow_up["messages"]) if m["role"] == "assistant")
    thinking = [b for b in echoed if b["type"] == "thinking"]
    tool_uses = [b for b in echoed if b["type"] == "tool_use"]
    assert thinking and thinking[0]["signature"] == provider_signature("bedrock", thinking[0]["thinking"])
    assert tool_uses and tool_uses[0]["id"].startswith("toolu_01")
    results = [b for b in follow_up["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert [r["tool_use_id"] for r in results] == [tool_uses[0]["id"]] and not results[0].get("is_error")

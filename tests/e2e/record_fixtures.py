"""Re-record tests/e2e/fixtures/ from the installed CLI (after bumping its version):

    .venv/bin/python -m tests.e2e.record_fixtures

One tool loop (thinking + a streamed Write tool_use, then text) with gateway hint headers on; the
two /v1/messages requests are saved as {method, path, query, headers, body}. The key is fake.
``json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()`` gives back the exact bytes
the CLI sent (its content-length matches).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from tests.e2e.capture_upstream import capture_upstream, text_block, thinking_block, tool_loop, tool_use_block
from tests.e2e.claude_cli import CLAUDE_CODE_VERSION, find_claude, run_claude

FIXTURES = Path(__file__).parent / "fixtures"
# A fixed working directory, so the paths inside the recorded bodies do not change between recordings.
WORK = Path("/tmp/switchyard-claude-fixture")


def main() -> int:
    if find_claude() is None:
        print("Claude Code CLI not installed: run scripts/install-claude-code.sh", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    responder = tool_loop(
        [thinking_block("I will write the note.", "c2lnbmF0dXJlLWZpeHR1cmU="),
         tool_use_block("toolu_01FixtureWriteCall00001", "Write",
                        {"file_path": str(WORK / "note.txt"), "content": "héllo ✓ 日本語\n"})],
        [text_block("Fertig ✓ ", "日本語 🎉")],
    )
    with capture_upstream(responder) as (base_url, upstream):
        run = run_claude("Write the note.", base_url, "sk-test-fake", WORK,
                         extra_env={"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1"})
    if run.returncode != 0 or len(upstream.requests) != 2:
        print(f"unexpected run: {run.describe()}; {len(upstream.requests)} requests", file=sys.stderr)
        return 1
    FIXTURES.mkdir(exist_ok=True)
    for name, request in zip(("main", "tool-result"), upstream.requests, strict=True):
        record = {
            "cli_version": CLAUDE_CODE_VERSION,
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
            "body": request.json(),
        }
        path = FIXTURES / f"claude-code-{CLAUDE_CODE_VERSION}-{name}.json"
        path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the real Claude Code CLI offline against any Anthropic-compatible base URL, for tests.

The CLI is installed by scripts/install-claude-code.sh into .cache/claude-code (or pointed to by
SWITCHYARD_CLAUDE_BIN). Without it a test skips with the reason; with SWITCHYARD_REQUIRE_SERVICES=1
(CI) it fails instead. What the flags and variables below do, and what the CLI sends, is written up
in docs/claude-code-traffic.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

CLAUDE_CODE_VERSION = "2.1.330"
REPO = Path(__file__).resolve().parents[2]
INSTALLED_BIN = REPO / ".cache/claude-code/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
# Until install.cjs has run, bin/claude.exe is a ~500-byte shell stub that only prints an error.
_STUB_MAX_BYTES = 64 * 1024
# Variables worth inheriting; everything else (a developer's real ANTHROPIC_* or CLAUDE_CODE_* settings,
# CI=true, proxies) stays out so a run is the same everywhere.
_INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TZ", "SHELL")


def find_claude() -> Path | None:
    """The CLI binary: $SWITCHYARD_CLAUDE_BIN if set, else the repo-local install; None if absent."""
    configured = os.environ.get("SWITCHYARD_CLAUDE_BIN")
    candidate = Path(configured) if configured else INSTALLED_BIN
    if not (candidate.is_file() and os.access(candidate, os.X_OK)):
        return None
    if candidate.stat().st_size <= _STUB_MAX_BYTES:
        return None
    return candidate


def require_claude() -> Path:
    """find_claude(), or skip the test (fail it under SWITCHYARD_REQUIRE_SERVICES=1)."""
    found = find_claude()
    if found is not None:
        return found
    where = os.environ.get("SWITCHYARD_CLAUDE_BIN") or str(INSTALLED_BIN)
    reason = (f"Claude Code CLI {CLAUDE_CODE_VERSION} not installed at {where} "
              f"(run scripts/install-claude-code.sh; needs npm)")
    if os.environ.get("SWITCHYARD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required by SWITCHYARD_REQUIRE_SERVICES=1: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class StreamLine:
    """One stream-json line and when it was read off the pipe (seconds since the CLI started)."""

    at: float
    event: dict[str, Any]


@dataclass(frozen=True)
class ClaudeRun:
    returncode: int
    lines: list[StreamLine]
    stderr: str
    other_stdout: list[str]  # stdout lines that were not JSON (expected: none)
    duration: float

    @property
    def events(self) -> list[dict[str, Any]]:
        return [line.event for line in self.lines]

    @property
    def result(self) -> dict[str, Any] | None:
        """The closing ``{"type": "result", ...}`` event (subtype, is_error, result, num_turns...)."""
        return next((e for e in reversed(self.events) if e.get("type") == "result"), None)

    @property
    def final_text(self) -> str | None:
        result = self.result
        return result.get("result") if result else None

    @property
    def session_id(self) -> str | None:
        return next((e["session_id"] for e in self.events if "session_id" in e), None)

    def stream_events(self, event_type: str | None = None) -> list[StreamLine]:
        """The relayed upstream SSE events (``--include-partial-messages``), optionally of one type."""
        return [
            line for line in self.lines
            if line.event.get("type") == "stream_event"
            and (event_type is None or line.event["event"].get("type") == event_type)
        ]

    def text_deltas(self) -> list[StreamLine]:
        return [
            line for line in self.stream_events("content_block_delta")
            if line.event["event"]["delta"].get("type") == "text_delta"
        ]

    def describe(self) -> str:
        """For assertion messages: exit code, result and the stderr tail."""
        return f"exit {self.returncode}; result={self.result!r}; stderr tail: {self.stderr[-2000:]!r}"


def offline_env(
    base_url: str | None, api_key: str | None, home: Path, auth: Literal["x-api-key", "bearer"] = "x-api-key",
) -> dict[str, str]:
    """The environment that makes the CLI run with no login, no onboarding and no network but base_url.
    Without base_url and api_key the CLI uses what ``home`` holds (a gateway signed in to with /login)."""
    env = {name: os.environ[name] for name in _INHERITED_ENV if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("SHELL", "/bin/bash")
    env.update({
        "HOME": str(home),  # a fresh ~/.claude.json and ~/.claude/: no user settings, MCP servers or history
        # Telemetry, error reporting, the update check and the /api/hello preflight off: no DNS at all.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    })
    if base_url is not None:
        env["ANTHROPIC_BASE_URL"] = base_url
    # ANTHROPIC_API_KEY goes out as x-api-key, ANTHROPIC_AUTH_TOKEN as Authorization: Bearer.
    if api_key is not None:
        env["ANTHROPIC_API_KEY" if auth == "x-api-key" else "ANTHROPIC_AUTH_TOKEN"] = api_key
    return env


def claude_args(
    prompt: str, *, max_turns: int, model: str | None, extra_args: Sequence[str]
) -> list[str]:
    args = [
        "-p", prompt,
        # stream-json needs --verbose; partial messages make the CLI print every SSE event it gets.
        "--output-format", "stream-json", "--verbose", "--include-partial-messages",
        # Write/Edit inside cwd (and --add-dir directories) run without asking; anything else is
        # denied and reported back to the model as an is_error tool_result.
        "--permission-mode", "acceptEdits",
        # A fake upstream that never stops asking for tools would otherwise loop until the timeout.
        "--max-turns", str(max_turns),
    ]
    if model:
        args += ["--model", model]
    return [*args, *extra_args]


def run_claude(
    prompt: str,
    base_url: str | None,
    api_key: str | None,
    cwd: Path,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 120,
    *,
    auth: Literal["x-api-key", "bearer"] = "x-api-key",
    model: str | None = None,
    max_turns: int = 10,
    extra_args: Sequence[str] = (),
    home: Path | None = None,
) -> ClaudeRun:
    """Run ``claude -p prompt`` against ``base_url``; stream-json lines are timestamped as they arrive.
    ``home``: the CLI's home (default: a fresh one); with base_url and api_key None, its sign-in.

    Fails the test if the CLI has not exited after ``timeout`` seconds.
    """
    binary = require_claude()
    given = contextlib.nullcontext(str(home)) if home is not None else None
    with given or tempfile.TemporaryDirectory(prefix="claude-home-") as home_dir:
        env = offline_env(base_url, api_key, Path(home_dir), auth)
        env.update(extra_env or {})
        command = [str(binary), *claude_args(prompt, max_turns=max_turns, model=model, extra_args=extra_args)]
        started = time.monotonic()
        proc = subprocess.Popen(
            command, cwd=cwd, env=env,
            # -p with a pipe on stdin waits for input to append to the prompt: give it none.
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        stderr_chunks: list[bytes] = []
        # stderr is drained on its own thread so a chatty CLI cannot block on a full pipe.
        drain = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
        drain.start()
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout, kill_on_timeout)
        watchdog.start()
        lines: list[StreamLine] = []
        other: list[str] = []
        try:
            # readline returns as soon as one whole line is in: each line gets its own arrival time.
            for raw in iter(proc.stdout.readline, b""):
                at = time.monotonic() - started
                text = raw.decode("utf-8").rstrip("\n")  # a whole line: no partial UTF-8 here
                try:
                    event = json.loads(text)
                except ValueError:
                    other.append(text)
                    continue
                if isinstance(event, dict):
                    lines.append(StreamLine(at, event))
                else:
                    other.append(text)
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            drain.join(timeout=10)
            proc.stdout.close()
            proc.stderr.close()
        run = ClaudeRun(returncode, lines, b"".join(stderr_chunks).decode("utf-8", "replace"), other,
                        time.monotonic() - started)
    if timed_out.is_set():
        pytest.fail(f"claude did not finish within {timeout}s; {run.describe()}")
    return run

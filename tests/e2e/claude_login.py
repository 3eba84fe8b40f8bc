"""Drive the real Claude Code CLI through ``/login`` to a gateway, as a developer would.

The CLI signs in to a gateway only when settings say ``forceLoginMethod: gateway`` with
``forceLoginGatewayUrl``; it reads them from the machine's managed settings (on Linux
/etc/claude-code/managed-settings.json, what an administrator deploys) or, on a machine without
any, from the user's ~/.claude/settings.json. Both are offered:

* ``user-settings``: the file in the test's own HOME; needs no privileges;
* ``managed-settings``: the CLI runs in a private mount namespace (``unshare -m``) whose /etc is an
  overlay of the host's /etc plus our claude-code/managed-settings.json: the host's /etc is never
  touched. Needs root and overlayfs.

The UI steps, as the pinned CLI (2.1.330) shows them: ``/login`` → "Enter to connect" → "Trust
gateway …?" (No is the default: up, Enter) → the user code → (the browser signs in and approves)
→ "Signed in to Cloud gateway as <email>" (No is the default: up, Enter) → "Connected to Cloud gateway".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.e2e.terminal import Terminal
from tests.signin.harness import SigninGateway

USER_CODE = r"([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})"
# The CLI's UI takes a moment to attach its key handler after drawing a screen.
SETTLE_S = 0.7


def overlay_works(scratch: Path) -> bool:
    """Whether this process may give the CLI its own /etc (root, unshare, overlayfs)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    upper, work = scratch / "probe-upper", scratch / "probe-work"
    upper.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["unshare", "-m", "sh", "-c", _overlay_script(upper, work) + " && exec true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def _overlay_script(upper: Path, work: Path) -> str:
    return (f"mount --make-rprivate / && mount -t overlay overlay "
            f"-o lowerdir=/etc,upperdir={upper},workdir={work} /etc")


def prepare_home(home: Path, work: Path) -> None:
    """A home with onboarding done and ``work`` trusted (an interactive CLI asks both first)."""
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark",
        "projects": {str(work): {"hasTrustDialogAccepted": True}}}))


def login_command(binary: Path, home: Path, scratch: Path, gateway_url: str, via: str) -> list[str]:
    settings = {"forceLoginMethod": "gateway", "forceLoginGatewayUrl": gateway_url}
    if via == "user-settings":
        (home / ".claude" / "settings.json").write_text(json.dumps(settings))
        return [str(binary)]
    upper, work = scratch / "etc-upper", scratch / "etc-work"
    (upper / "claude-code").mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    (upper / "claude-code" / "managed-settings.json").write_text(json.dumps(settings))
    return ["unshare", "-m", "sh", "-c", _overlay_script(upper, work) + ' && exec "$0"', str(binary)]


def interactive_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color",
            "LANG": "C.UTF-8", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}


def choose(terminal: Terminal, prompt: str) -> None:
    """Answer "yes" to a two-choice question whose default is "no" (the first choice is yes)."""
    terminal.wait_for(prompt)
    time.sleep(SETTLE_S)
    terminal.press("up")
    time.sleep(0.3)
    terminal.press("enter")


def run_login(terminal: Terminal, gateway: SigninGateway, username: str, password: str) -> str:
    """``/login`` from the prompt to "Connected"; the browser's part done against the real servers.
    Returns the user code the CLI showed."""
    terminal.wait_for(r"/effort|for shortcuts|auto mode", timeout=60)
    terminal.type("/login")
    time.sleep(SETTLE_S)
    terminal.press("enter")
    terminal.wait_for(r"Enter to connect")
    time.sleep(SETTLE_S)
    terminal.press("enter")
    choose(terminal, r"trust ?this ?gateway")
    code = terminal.wait_for(USER_CODE).group(1)
    browser = gateway.browser()
    approval = browser.sign_in(code, username, password)
    assert approval.status_code == 200, approval.text
    assert browser.decide(approval).status_code == 200
    choose(terminal, r"Signed in to Cloud gateway as \S+@")
    terminal.wait_for(r"Connected to Cloud gateway")
    time.sleep(SETTLE_S)
    terminal.press("enter")
    # the gateway's managed settings (the default document sets an env var) need the developer's
    # approval once; the dialog's default is "No, exit Claude Code", the second choice approves
    terminal.wait_for(r"Managed ?settings ?require ?approval")
    time.sleep(SETTLE_S)
    terminal.press("down")
    time.sleep(0.3)
    terminal.press("enter")
    return code


def run_logout(terminal: Terminal) -> None:
    """``/logout`` at the prompt, once the UI is idle (after the managed-settings approval the CLI
    restarts; keys typed meanwhile are lost) and once it has drawn the typed command (an Enter
    against a completion list still filtered by a prefix runs the first match), to its confirmation."""
    terminal.wait_quiet()
    terminal.type("/logout")
    terminal.wait_quiet(0.5)
    terminal.press("enter")
    terminal.wait_for(r"Successfully ?logged ?out", timeout=60)

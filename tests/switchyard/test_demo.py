"""`switchyard demo` runs the whole thing and leaves no process behind, on completion and on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _processes_using(marker: str) -> list[int]:
    """PIDs whose environment mentions ``marker`` (the demo's private data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _demo(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        # back to back: these tests are about the plumbing, not the pace (test_demo_pace.py)
        [sys.executable, "-m", "switchyard", "demo", "--no-live", "--pace", "fast", "--data-dir", str(data_dir),
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"},
    )


def test_demo_drives_turns_through_the_proxy_and_cleans_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    demo = _demo(data_dir, "--turns", "8", "--developers", "2", "--history-days", "0.5")
    output, _ = demo.communicate(timeout=120)
    assert demo.returncode == 0, output
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:" in output
    assert "ANTHROPIC_AUTH_TOKEN=sk-sy-" in output
    finished = next(line for line in output.splitlines() if line.startswith("demo finished"))
    assert int(finished.split()[2]) >= 8 and "0 errors" in finished
    assert "alice" in output and "bob" in output
    assert "turns scored" in output and "optimizer:" in output  # the loop ran: evals, clusters, optimizer
    assert "dashboard      http://127.0.0.1:" in output
    assert "sk-sy-" not in (data_dir / "keys.json").read_text()
    assert _processes_using(str(data_dir)) == []
    # every turn the fleet made went proxy → ingest → the store, priced
    from store.engine import default_database_url, make_engine
    from store.queries import turns_frame

    engine = make_engine(default_database_url(data_dir))
    try:
        stored = turns_frame(engine)
    finally:
        engine.dispose()
    assert "history: " in output and "turns of a simulated fleet" in output
    history = stored.filter(~stored["developer"].is_in(["alice", "bob"]))
    assert history.height > 100 and history["propensity"].null_count() == 0  # routed by the starting policy
    turns = stored.filter(stored["developer"].is_in(["alice", "bob"]))
    assert turns.height == int(finished.split()[2])
    # the provider key never leaves the proxy's memory: not in any output, log, spool or database
    provider_key = b"sk-ant-demo-fake-upstream"
    assert provider_key.decode() not in output
    leaked = [p for p in data_dir.rglob("*") if p.is_file() and provider_key in p.read_bytes()]
    assert leaked == []
    # virtual keys are shown once on the terminal and stored nowhere in clear
    shown = re.findall(r"sk-sy-[\w.-]+", output)
    assert shown and all(p.is_file() is False or w.encode() not in p.read_bytes()
                         for w in shown for p in data_dir.rglob("*"))
    assert set(turns["developer"]) == {"alice", "bob"}
    assert turns["cost_usd"].cast(float).min() > 0


def test_demo_stops_everything_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    demo = _demo(data_dir, "--duration", "120")
    try:
        deadline = time.monotonic() + 30
        while len(_processes_using(str(data_dir))) < 4:  # the upstream, ingest, the proxy and the dashboard
            assert time.monotonic() < deadline and demo.poll() is None, "demo did not start its children"
            time.sleep(0.1)
        time.sleep(1)  # traffic is flowing
        demo.send_signal(signal.SIGTERM)
        demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    deadline = time.monotonic() + 10
    while _processes_using(str(data_dir)):
        assert time.monotonic() < deadline, "children left behind"
        time.sleep(0.1)


def test_redirected_output_keeps_the_key_whole_and_shows_progress(tmp_path: Path) -> None:
    """With output redirected (no terminal, no COLUMNS) the export lines are printed outside the
    panel, unwrapped, so a copied key works; progress comes as plain lines; tables are not cut at 80."""
    data_dir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    demo = subprocess.run([sys.executable, "-m", "switchyard", "demo", "--data-dir", str(data_dir), "--duration", "12",
                           "--developers", "1", "--history-days", "0", "--pace", "fast"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    output = demo.stdout
    [key] = re.findall(r"^  export ANTHROPIC_AUTH_TOKEN=(\S+)$", output, re.MULTILINE)
    from proxy.keyfile import load_keyring

    assert load_keyring(data_dir / "keys.json").authenticate(key) is not None
    assert f"--keys-file {data_dir / 'keys.json'}" in output
    assert re.search(r"^\d\d:\d\d:\d\d turns \d+, errors 0", output, re.MULTILINE), output
    assert "┃ developer" in output  # a whole header: the table was not squeezed into 80 columns


@pytest.mark.slow
def test_an_overloaded_anthropic_falls_back_to_bedrock_in_the_demo(tmp_path: Path) -> None:
    """`--anthropic-overloaded`: the fake Anthropic answers 529s, every route ends at a fake Bedrock,
    and the demo's turns are served there without one error reaching the fleet."""
    data_dir = tmp_path / "demo"
    demo = _demo(data_dir, "--turns", "8", "--developers", "2", "--history-days", "0",
                 "--anthropic-overloaded", "1.0")
    output, _ = demo.communicate(timeout=180)
    assert demo.returncode == 0, output
    assert "fake Bedrock   http://127.0.0.1:" in output and "0 errors" in output
    assert _processes_using(str(data_dir)) == []
    from store.engine import default_database_url, make_engine
    from store.queries import turns_frame

    engine = make_engine(default_database_url(data_dir))
    try:
        stored = turns_frame(engine)
    finally:
        engine.dispose()
    live = stored.filter(stored["developer"].is_in(["alice", "bob"]))
    assert live.height >= 8 and set(live["provider"]) == {"bedrock"}
    assert set(live["region"]) == {"us-east-1"} and live["cost_usd"].cast(float).min() > 0
    assert any(hops for hops in live["fallback_hops"].to_list())  # the first turns fell back, hop by hop
    # the fake's AWS test secret stays in the proxy's memory
    assert not [p for p in data_dir.rglob("*") if p.is_file() and b"switchyard+fake+secret" in p.read_bytes()]

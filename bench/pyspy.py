"""Sample the proxy with py-spy while it is saturated, and summarise where its CPU goes."""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from bench.procs import Proc, ProcessGroup

# py-spy's raw (collapsed) format: "frame;frame;...;leaf COUNT", a frame is "function (file:line)".
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def start_py_spy(group: ProcessGroup, pid: int, output: Path, duration_s: int, core: int) -> Proc:
    """Record on-CPU stacks of ``pid`` (non-blocking, so the proxy is not paused for each sample)."""
    cmd = [py_spy(), "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--format", "raw",
           "--output", str(output), "--duration", str(duration_s)]
    return group.start("py-spy", cmd, core=core)


def _short(frame: str) -> str:
    """"relay (/work/main/proxy/relay.py:120)" → "relay (proxy/relay.py)": one entry per function."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = "/".join(Path(path).parts[-2:])
    return f"{match['function']} ({path})"


def summarise(collapsed: Path, top: int = 20) -> str:
    """Self time (the leaf frame) and inclusive time per function, as shares of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return "py-spy recorded no samples"
    lines = [f"{total} samples", "", f"self time, top {top}:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    lines += ["", f"inclusive time, top {top + 10}:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in inclusive.most_common(top + 10)]
    return "\n".join(lines)

"""Process composition for `switchyard demo` and `switchyard up`: start each part as its own
process, wait until it answers, and stop every one of them on the way out (no orphans)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx


class StartupError(RuntimeError):
    """A part did not come up; the message names it and quotes the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class Supervisor:
    """Owns the child processes; leaving the ``with`` block (normally, on Ctrl-C or on SIGTERM,
    which :meth:`__enter__` turns into SystemExit) terminates them, then kills stragglers."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def __enter__(self) -> Supervisor:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_all()

    def start(self, name: str, args: list[str], env: dict[str, str], health_url: str,
              timeout_s: float = 20.0) -> Child:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            # The log dir in the environment marks the children as this supervisor's.
            marked = {**os.environ, "SWITCHYARD_SUPERVISED_BY": str(self.log_dir), **env}
            process = subprocess.Popen(
                [sys.executable, *args], env=marked, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise StartupError(f"{name} exited with {process.returncode}:\n{self.tail(child)}")
            try:
                if httpx.get(health_url, timeout=1.0).status_code < 500:
                    return child
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise StartupError(f"{name} did not answer {health_url} within {timeout_s:.0f} s:\n{self.tail(child)}")
            time.sleep(0.05)

    def tail(self, child: Child, lines: int = 20) -> str:
        return "\n".join(child.log_path.read_text(errors="replace").splitlines()[-lines:])

    def dead(self) -> list[Child]:
        return [c for c in self.children if c.process.poll() is not None]

    def stop_all(self, grace_s: float = 5.0) -> None:
        """Stop children one by one, newest first, so each can still reach what it depends on while
        it shuts down (the proxy flushes its spans to ingest before ingest is stopped)."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.terminate()
            try:
                child.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.children.clear()

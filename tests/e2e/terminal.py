"""The real Claude Code CLI in a pseudo-terminal, for what only its interactive UI does (``/login``).

Stdlib only (``pty``): the CLI is started on a pty of a fixed size, its output is read on a thread
and kept as text with the escape codes taken out (a cursor move right becomes spaces, so words stay
apart), and a test waits for a pattern in what the screen has shown, then types keys.
"""

from __future__ import annotations

import os
import pty
import re
import select
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from fcntl import ioctl
from pathlib import Path

_CURSOR_RIGHT = re.compile(r"\x1b\[(\d*)C")
_ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()=>78MDEc]?[0-9A-Za-z]?")
KEYS = {"enter": "\r", "up": "\x1b[A", "down": "\x1b[B", "escape": "\x1b", "ctrl-c": "\x03"}


def plain(raw: str) -> str:
    """Terminal output as the text a person reads (approximately: enough to find words in)."""
    return _ESCAPES.sub("", _CURSOR_RIGHT.sub(lambda m: " " * int(m.group(1) or 1), raw))


class Terminal:
    def __init__(self, command: Sequence[str], *, env: Mapping[str, str], cwd: Path,
                 rows: int = 50, columns: int = 200) -> None:
        self._master, slave = pty.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(list(command), stdin=slave, stdout=slave, stderr=slave, env=dict(env),
                                        cwd=cwd, start_new_session=True, close_fds=True)
        os.close(slave)
        self._raw: list[str] = []
        self._lock = threading.Lock()
        self._mark = 0  # wait_for looks at output after this many characters
        self._reader = threading.Thread(target=self._read, name="claude-pty", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.2)
                if not ready:
                    if self.process.poll() is not None:
                        return
                    continue
                chunk = os.read(self._master, 65536)
            except OSError:  # the pty closed: the CLI exited
                return
            if not chunk:
                return
            with self._lock:
                self._raw.append(chunk.decode("utf-8", "replace"))

    def text(self) -> str:
        with self._lock:
            return plain("".join(self._raw))

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first match of ``pattern`` in what was shown since the last wait; AssertionError with
        the screen's tail after ``timeout``."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        while True:
            shown = self.text()
            found = compiled.search(shown, self._mark)
            if found is not None:
                self._mark = found.end()
                return found
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"the CLI never showed {pattern!r} (exit {self.process.poll()}); "
                                     f"screen tail: {shown[-2500:]!r}")
            time.sleep(0.05)

    def wait_quiet(self, quiet: float = 1.0, timeout: float = 60) -> None:
        """Until nothing new has been shown for ``quiet`` seconds: the UI is idle (a busy CLI animates
        a spinner) and has drawn what the last keys asked for. Keys typed into a UI still drawing, or
        restarting, are read against the wrong screen: an Enter while a slash command's completion
        list still shows the half-typed name picks the first match (``/log`` -> ``/login``)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = sum(len(chunk) for chunk in self._raw)
            time.sleep(quiet)
            with self._lock:
                if sum(len(chunk) for chunk in self._raw) == seen:
                    return
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"the CLI never went quiet for {quiet} s (exit {self.process.poll()}); "
                                     f"screen tail: {self.text()[-2500:]!r}")

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def press(self, key: str) -> None:
        os.write(self._master, KEYS[key].encode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        os.close(self._master)

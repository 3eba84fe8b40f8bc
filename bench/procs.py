"""Benchmark processes: start them pinned to a core, wait for their port, stop them by PID, and read
their CPU time and memory from /proc (the whole process tree, threads included)."""

from __future__ import annotations

import ctypes
import functools
import math
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def can_pin() -> bool:
    """taskset exists and this process may run on cores 0 and 1."""
    return shutil.which("taskset") is not None and {0, 1} <= os.sched_getaffinity(0)


def _die_with_parent() -> Callable[[], object]:
    """A preexec_fn: if the benchmark dies (even by SIGKILL) the kernel sends the child SIGTERM, so no
    server outlives the run. It survives the exec of taskset and python. libc is loaded here, in the
    parent, so the child does nothing between fork and exec but one system call."""
    libc = ctypes.CDLL(None, use_errno=True)
    return functools.partial(libc.prctl, _PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    started: float  # time.monotonic() just before the fork

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it lingers; only this PID is ever signalled."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout_s)


@dataclass
class ProcessGroup:
    """Starts processes and stops every one of them on exit, newest first (also on errors and Ctrl-C)."""

    log_dir: Path
    pin: bool = True
    procs: list[Proc] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, cmd: Sequence[str], *, core: int | None, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, piped: bool = False) -> Proc:
        """Start ``cmd`` on ``core``; its output goes to <log_dir>/<name>.log (with ``piped``, only its
        stderr: stdin and stdout are pipes for ``communicate``)."""
        argv = ["taskset", "-c", str(core), *cmd] if self.pin and core is not None else list(cmd)
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": log} if piped else {
            "stdout": log, "stderr": subprocess.STDOUT}
        started = time.monotonic()
        popen = subprocess.Popen(argv, env=dict(env) if env else None, cwd=cwd, preexec_fn=_die_with_parent(),
                                 **pipes)  # type: ignore[call-overload]
        proc = Proc(name, popen, started)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        self.procs.remove(proc)
        for stream in (proc.popen.stdin, proc.popen.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)
        for log in self._logs:
            log.close()


def wait_for_port(port: int, proc: Proc, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{proc.name} did not listen on {port} within {timeout_s}s")


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (children listed per thread in /proc/<pid>/task/*/children)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:  # the thread or process ended meanwhile
                continue
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    cpu_s: float
    rss_kib: int


def core_busy_seconds() -> dict[int, float]:
    """Busy time of each core from /proc/stat: user, nice, system, irq, softirq (not idle, iowait, or
    steal, the time the hypervisor gave to another machine)."""
    busy = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in values[:7])
            busy[int(name[3:])] = (user + nice + system + irq + softirq) / CLK_TCK
    return busy


class Sampler:
    """Samples CPU time and RSS of named process trees every ``interval_s`` in a background thread, and
    the busy time of every core under the names "core0", "core1", … (to see who else used them)."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self._interval_s = interval_s
        self._roots: dict[str, int] = {}
        self._samples: dict[str, list[Sample]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._roots[name] = pid
            self._samples[name] = []
        self.sample_now()

    def sample_now(self) -> None:
        now = time.monotonic()
        cores = core_busy_seconds()
        with self._lock:
            for core, busy in cores.items():
                self._samples.setdefault(f"core{core}", []).append(Sample(now, busy, 0))
            for name, pid in self._roots.items():
                pids = tree_pids(pid)
                cpu = sum(cpu_seconds(p) for p in pids)
                rss = sum(status_kib(p, "VmRSS") for p in pids)
                self._samples[name].append(Sample(now, cpu, rss))

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample_now()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._samples

    def window(self, name: str, t0: float, t1: float) -> tuple[Sample, Sample]:
        """The first sample at or after ``t0`` and the last at or before ``t1``."""
        with self._lock:
            samples = [s for s in self._samples[name] if t0 <= s.t <= t1]
        if len(samples) < 2:
            raise ValueError(f"fewer than two samples of {name} between {t0:.2f} and {t1:.2f}")
        return samples[0], samples[-1]

    def utilisation(self, name: str, t0: float, t1: float) -> float:
        """CPU seconds per wall second (1.0 = one core busy) over the window."""
        first, last = self.window(name, t0, t1)
        return (last.cpu_s - first.cpu_s) / (last.t - first.t)

    def peak_rss_kib(self, name: str, t0: float = 0.0, t1: float = math.inf) -> int:
        with self._lock:
            return max((s.rss_kib for s in self._samples.get(name, ()) if t0 <= s.t <= t1), default=0)

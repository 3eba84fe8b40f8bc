"""The command line every proxy benchmark shares: --quick / --no-pin, the load generator's core,
a work directory kept only when the run fails, the report on stdout and the run's length."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.procs import can_pin
from bench.proxy_overhead import FULL, QUICK, Plan
from bench.stack import LOAD_CORE


def run_bench(description: str, measure: Callable[[Plan, Path, bool], str], prefix: str,
              argv: list[str] | None = None) -> None:
    """Parse the flags, pin this process to the load core, run ``measure(plan, workdir, pin)`` and
    print its report."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = parser.parse_args(argv)
    pin = not args.no_pin and can_pin()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if pin:
        os.sched_setaffinity(0, {LOAD_CORE})
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    started = time.monotonic()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}: measuring; logs in {workdir}", file=sys.stderr)
    try:
        report = measure(QUICK if args.quick else FULL, workdir, pin)
    except BaseException:
        print(f"failed; logs kept in {workdir}", file=sys.stderr)
        raise
    print(report)
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
    shutil.rmtree(workdir)

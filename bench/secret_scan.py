"""Egress secret scanning (issue 21): what it costs per Claude Code turn, what it misses, what it
flags wrongly, and why RE2 rather than Python's ``re``. All in one run, on one machine:

1. engines: ms per MB of ordinary source with RE2 and with ``re`` (same rules, same pre-filter),
   and seconds on hostile 1 MB blocks that make backtracking engines crawl;
2. block keys: the cost per MB of the digest that recognises an already-scanned block;
3. sessions: 200-turn Claude-Code-shaped sessions (a growing history of tool results read from this
   repo's and the installed packages' source files, a few planted secrets), scanned per turn with
   the per-session memory (incremental) and without it (whole body): CPU per turn p50/p99/max;
4. false positives on ordinary source files (the project's tree outside tests/, and a fixed stride
   through the installed packages' sources), with test suites counted apart;
5. recall on planted fakes of every rule.

    .venv/bin/python bench/secret_scan.py [--quick] [--sessions 5] [--turns 200]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.secrets.incremental import scan_request
from core.secrets.scan import SecretScanner
from core.secrets.seen import SeenBlocks
from tests.core.secret_samples import PROJECT_DIRS, planted, read_text, source_files

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])
SALT = b"bench-salt-0123456789"
TARGET_P50_MS, TARGET_P99_MS = 1.0, 5.0
# Claude Code compacts its history near the context limit; ~150 K tokens at ~4 characters each.
COMPACT_AT_CHARS = 600_000


def _cpu_ms(function: Callable[[], object], repeat: int = 1) -> float:
    start = time.thread_time_ns()
    for _ in range(repeat):
        function()
    return (time.thread_time_ns() - start) / repeat / 1e6


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _code_sample(max_chars: int) -> str:
    parts, total = [], 0
    for path in source_files(ROOT / "core") + source_files(SITE / "sqlalchemy" / "orm"):
        text = read_text(path)
        if text:
            parts.append(text)
            total += len(text)
        if total >= max_chars:
            break
    return "\n".join(parts)[:max_chars]


HOSTILE: dict[str, Callable[[int], str]] = {
    # unbounded repetitions meeting a trigger over and over: each start scans to the end with `re`
    "jwt starts, no dots (-eyJaaaa…)": lambda n: ("-eyJ" + "a" * 8) * (n // 12),
    "key=value runs (password=…)": lambda n: "password=" * (n // 9),
    "db url without '@' (postgres://a:a…)": lambda n: "postgres://" + "a:" * (n // 2),
    "private key header, endless body": lambda n: "-----BEGIN PRIVATE KEY-----\n" + "QUJD\n" * (n // 5),
    "identifier soup (a_token_a_token…)": lambda n: "a_token_" * (n // 8),
    "one long line of letters": lambda n: "token " + "a" * n,
    "many keys (AKIA… ×)": lambda n: "".join(f"AKIA{i:016d} " for i in range(n // 21)).replace("0", "Q"),
    # one match as long as the block: extracting the captured secret is the cost
    "long match: db password": lambda n: "postgres://a:" + "b" * n + "@h",
    "long match: key body": lambda n: "-----BEGIN PRIVATE KEY-----\n" + "A" * n,
    "long match: jwt": lambda n: "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0." + "a" * n,
    "long match: value (token: aaaa…)": lambda n: ("token: " + "a" * 200 + " ") * (n // 208),
}


def engines(quick: bool) -> None:
    print("== 1. engines: CPU ms per MB (same rules, same literal pre-filter)")
    code = _code_sample(1_000_000)
    scanners = {name: SecretScanner(SALT, engine=name) for name in ("re2", "re")}  # type: ignore[arg-type]
    for name, scanner in scanners.items():
        print(f"  {name:4s} ordinary source (1 MB): {_cpu_ms(lambda s=scanner: s.scan(code), 3):8.1f} ms")
    # `re` is quadratic on the first input: 0.2 MB keeps its time to seconds; RE2 also gets 5 MB
    print("  hostile blocks (CPU s): re and RE2 on 0.2 MB, RE2 on 5 MB")
    for label, make in HOSTILE.items():
        small, big = make(200_000), make(200_000 if quick else 5_000_000)
        times = [_cpu_ms(lambda s=scanners[name], t=text: s.scan(t)) / 1000
                 for name, text in (("re", small), ("re2", small), ("re2", big))]
        print(f"    {label:40s} re {times[0]:7.3f}   re2 {times[1]:7.3f}   re2 (5 MB) {times[2]:7.3f}")


def block_keys() -> None:
    print("== 2. block keys: CPU ms per MB of text (a fresh string each time, as after JSON parsing)")
    code = _code_sample(1_000_000) + "→"  # non-ASCII, as real tool results often are
    candidates = {
        "hash(str) (SipHash, chosen)": lambda: hash(code[:-1] + "x"),
        "blake2b-128 of UTF-8": lambda: hashlib.blake2b((code[:-1] + "x").encode(), digest_size=16).digest(),
        "sha256 of UTF-8": lambda: hashlib.sha256((code[:-1] + "x").encode()).digest(),
        "(copy only)": lambda: code[:-1] + "x",
    }
    for label, function in candidates.items():
        print(f"  {label:30s} {_cpu_ms(function, 20):6.2f}")


def tool_result_pool() -> list[str]:
    files = source_files(ROOT / "core") + source_files(ROOT / "proxy") + source_files(ROOT / "docs")
    files += source_files(SITE / "aiohttp") + source_files(SITE / "sqlalchemy" / "engine")
    return [text for path in files if (text := read_text(path))]


def session_bodies(rng: random.Random, pool: list[str], turns: int, secrets: list[str]) -> list[dict[str, object]]:
    """Successive request bodies of one session: each turn adds an assistant tool call and its result."""
    plant_at = dict(zip(rng.sample(range(5, turns), len(secrets)), secrets, strict=True))
    system = [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.330.abc; cc_entrypoint=cli;"},
              {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
              {"type": "text", "text": pool[0][:7000]}]
    messages: list[dict[str, object]] = [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>As you answer, use the repo's conventions.</system-reminder>"},
        {"type": "text", "text": "Find why the proxy's retries double-count usage and fix it."}]}]
    bodies, chars = [], 0
    for turn in range(turns):
        source = rng.choice(pool)
        if rng.random() < 0.6:  # a grep / bash output: a slice
            start = rng.randrange(max(1, len(source) - 3000))
            result = source[start:start + rng.randint(200, 3000)]
        else:  # a Read: the file, up to Claude Code's 2000 lines
            result = "\n".join(f"{n:6d}\t{line}" for n, line in enumerate(source.splitlines()[:2000], 1))
        if turn in plant_at:
            lines = result.splitlines()
            lines.insert(len(lines) // 2, plant_at[turn])
            result = "\n".join(lines)
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Let me look at that file. " * 20, "signature": "EqQBCkYIBxgCKkB" * 8},
            {"type": "tool_use", "id": f"toolu_{turn:04d}", "name": "Read",
             "input": {"file_path": f"/repo/f{turn}.py"}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{turn:04d}", "content": result}]})
        chars += len(result)
        if chars > COMPACT_AT_CHARS:  # compaction: the history becomes one summary
            messages = [{"role": "user", "content": [{"type": "text", "text": "Summary: " + result[:4000]}]}]
            chars = 0
        bodies.append({"system": system, "messages": list(messages)})
    return bodies


def sessions(count: int, turns: int) -> None:
    print(f"== 3. sessions: {count} × {turns} turns, CPU ms per turn (scan_request only; JSON parsing is the proxy's)")
    pool = tool_result_pool()
    fakes = planted(seed=7, per_rule=count)  # (rule, text), rule by rule
    by_rule = [fakes[i::count] for i in range(count)]  # session i: one fake of every rule…
    incremental: list[float] = []
    whole: list[float] = []
    found_rules: Counter[str] = Counter()
    history_chars: list[int] = []
    expected: Counter[str] = Counter()
    # one scanner and one memory for the whole run, as in a proxy process
    scanner = SecretScanner(SALT)
    seen = SeenBlocks[tuple]()  # type: ignore[type-arg]
    slowest = (0.0, 0, 0)
    for index in range(count):
        secrets = [text for _, text in by_rule[index][index % 4::4]]  # …of which 4 are planted
        expected.update(rule for rule, _ in by_rule[index][index % 4::4])
        bodies = session_bodies(random.Random(index), pool, turns, secrets)
        for body in bodies:
            start = time.thread_time_ns()
            report = scan_request(scanner, seen, f"session-{index}", body)
            incremental.append((time.thread_time_ns() - start) / 1e6)
            slowest = max(slowest, (incremental[-1], report.chars_scanned, report.blocks_scanned))
            found_rules.update(finding.rule for finding in report.new_findings)
        for body in bodies[:: max(1, turns // 20)]:  # whole-body scans are slow: a sample of turns
            start = time.thread_time_ns()
            scan_request(scanner, seen, None, body)
            whole.append((time.thread_time_ns() - start) / 1e6)
            history_chars.append(sum(len(str(m)) for m in body["messages"]))  # type: ignore[attr-defined]
    print(f"  history at sampled turns: median {statistics.median(history_chars) / 1e3:.0f} K chars, "
          f"max {max(history_chars) / 1e3:.0f} K")
    for label, values in (("incremental (per-session memory)", incremental), ("whole body every turn", whole)):
        print(f"  {label:34s} p50 {_percentile(values, 0.5):6.2f}  p99 {_percentile(values, 0.99):6.2f}  "
              f"max {max(values):6.2f}  mean {statistics.fmean(values):6.2f}")
    print(f"  targets p50 ≤ {TARGET_P50_MS} ms, p99 ≤ {TARGET_P99_MS} ms; slowest turn {slowest[0]:.2f} ms "
          f"scanned {slowest[1] / 1e3:.0f} K new chars in {slowest[2]} blocks")
    missed, beyond = dict(expected - found_rules) or "none", dict(found_rules - expected) or "none"
    print(f"  planted {sum(expected.values())} fakes of {len(expected)} rules; new findings "
          f"{sum(found_rules.values())}; missed {missed}; beyond the planted {beyond}")
    print("  (a service-account key file holds a private key: it is found by both rules)")


def false_positives(stride: int) -> None:
    which = "every file" if stride == 1 else f"every {stride}th file"
    print(f"== 4. false positives on ordinary source (site-packages: {which}, sorted)")
    scanner = SecretScanner(SALT)
    groups = {
        "project tree outside tests/": [p for d in PROJECT_DIRS if (ROOT / d).is_dir() for p in source_files(ROOT / d)],
        "installed packages" + (" (sample)" if stride > 1 else ""): source_files(SITE)[::stride],
        "project tests/ (fixtures, apart)": source_files(ROOT / "tests", tests=None),
        "installed packages' test suites (apart)": source_files(SITE, tests=True)[::stride],
    }
    for label, files in groups.items():
        chars = 0
        hits: list[str] = []
        start = time.perf_counter()
        for path in files:
            text = read_text(path)
            if text is None:
                continue
            chars += len(text)
            hits += [f"{path.relative_to(path.anchor)}:{f.line} {f.rule}" for f in scanner.scan(text)]
        print(f"  {label:40s} {len(files):6d} files {chars / 1e6:7.1f} M chars  findings {len(hits):4d}  "
              f"({time.perf_counter() - start:.1f} s)")
        for hit in hits[:8]:
            print(f"      {hit}")


def recall(per_rule: int) -> None:
    print(f"== 5. recall on planted fakes ({per_rule} per rule)")
    scanner = SecretScanner(SALT)
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for rule, text in planted(seed=2026, per_rule=per_rule):
        totals[rule] += 1
        hits[rule] += rule in {finding.rule for finding in scanner.scan(text)}
    for rule in totals:
        print(f"  {rule:28s} {hits[rule] / totals[rule]:7.1%}")
    print(f"  overall {sum(hits.values()) / sum(totals.values()):.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    engines(args.quick)
    block_keys()
    sessions(1 if args.quick else args.sessions, 50 if args.quick else args.turns)
    false_positives(stride=20 if args.quick else 1)
    recall(per_rule=50 if args.quick else 500)


if __name__ == "__main__":
    main()

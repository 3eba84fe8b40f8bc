"""`switchyard demo`: the fake upstream, the proxy and a simulated Claude Code fleet, all local,
with a live per-turn display. No API key, no servers to install."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import shutil
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from sim.client import TurnResult, run_session
from sim.fake_credentials import TEST_AWS_ACCESS_KEY_ID, TEST_AWS_SECRET_ACCESS_KEY
from store.engine import default_database_url

from .keys_cli import create_key
from .loop_jobs import JobStatus
from .processes import Supervisor, free_port

DEVELOPERS = (("alice", "payments", "payments-api"), ("bob", "payments", "ledger"),
              ("carol", "search", "search-ui"), ("dave", "infra", "terraform"), ("erin", "search", "indexer"),
              ("frank", "infra", "k8s-config"), ("grace", "payments", "payments-api"), ("heidi", "mobile", "ios-app"),
              ("ivan", "mobile", "android-app"), ("judy", "infra", "terraform"), ("ken", "search", "search-ui"),
              ("lena", "mobile", "ios-app"))
# Sessions of the week of history the demo starts with, per day (about 14 turns each).
HISTORY_SESSIONS_PER_DAY = 120


@dataclass
class DemoOptions:
    data_dir: Path = Path("data/demo")
    developers: int = 4
    turns: int | None = None  # stop after this many turns (None: until Ctrl-C or duration)
    duration_s: float | None = None
    event_interval_ms: float = 15.0
    live: bool = True
    jobs_interval_s: float = 20.0
    final_jobs: bool = True
    history_days: float = 7.0  # a fleet's history written to the store before the live traffic (0: none)
    burstiness: float = 0.0  # 0: developers start sessions back to back; up to 1: mostly idle, then bursts
    # "human": a developer runs tools between turns and reads and types between sessions, so an hour
    # of live traffic costs about what an hour of the history does; "fast": back to back (load, tests)
    pace: Literal["human", "fast"] = "human"
    # >0: the fake Anthropic answers this share of turns 529 and every route falls back to a fake Bedrock
    anthropic_overloaded: float = 0.0
    seed: int = 1


@dataclass
class Tally:
    jobs: JobStatus | None = None
    recent: deque[TurnResult] = field(default_factory=lambda: deque(maxlen=14))
    count: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read: int = 0
    ttfbs: list[float] = field(default_factory=list)

    def add(self, turn: TurnResult) -> None:
        self.recent.append(turn)
        self.count += 1
        self.errors += turn.error is not None
        self.tokens_in += turn.input_tokens + turn.cache_creation_tokens + turn.cache_read_tokens
        self.tokens_out += turn.output_tokens
        self.cache_read += turn.cache_read_tokens
        self.ttfbs.append(turn.ttfb_ms)

    def progress_line(self) -> str:
        p50 = statistics.median(self.ttfbs) if self.ttfbs else 0.0
        hit = self.cache_read / self.tokens_in if self.tokens_in else 0.0
        line = (f"{datetime.now(UTC):%H:%M:%S} turns {self.count}, errors {self.errors}, cache hit {hit:.0%}, "
                f"TTFB p50 {p50:.1f} ms")
        if self.jobs is not None:
            proposal = self.jobs.proposal if len(self.jobs.proposal) <= 100 else self.jobs.proposal[:99] + "…"
            line += f"; scored {self.jobs.scored}; optimizer: {proposal}"
        return line

    def render(self) -> Group:
        table = Table("developer", "session", "model", "status", "TTFB ms", "in", "cache read", "out", "stop", "tools",
                      title="turns through the gateway (newest last)")
        for t in self.recent:
            table.add_row(t.developer, t.session_id[:8], t.model.removeprefix("claude-")[:18],
                          str(t.status) if t.error is None else f"[red]{t.status} {t.error}[/red]",
                          f"{t.ttfb_ms:.1f}", f"{t.input_tokens:,}", f"{t.cache_read_tokens:,}",
                          f"{t.output_tokens:,}", t.stop_reason or "-", ",".join(t.tool_uses) or "-")
        p50 = statistics.median(self.ttfbs) if self.ttfbs else 0.0
        hit = self.cache_read / self.tokens_in if self.tokens_in else 0.0
        totals = (f"turns {self.count}  errors {self.errors}  input tokens {self.tokens_in:,} "
                  f"(cache hit {hit:.0%})  output tokens {self.tokens_out:,}  TTFB p50 {p50:.1f} ms")
        if self.jobs is None:
            return Group(table, Panel(totals))
        jobs = (f"turns scored {self.jobs.scored}  ·  failure clusters: {', '.join(self.jobs.clusters) or '—'}\n"
                f"optimizer: {self.jobs.proposal}\nguard: {self.jobs.guard}"
                + (f"\n[red]{self.jobs.errors[-1]}[/red]" if self.jobs.errors else ""))
        return Group(table, Panel(totals), Panel(jobs, title="the loop"))


PROGRESS_EVERY_S = 5.0


async def drive(proxy_url: str, keys: list[tuple[str, str, str]], options: DemoOptions, tally: Tally,
                live: Live | None, progress: Callable[[], None] | None = None) -> None:
    stop_at = time.monotonic() + options.duration_s if options.duration_s else None
    seeds = itertools.count(1)
    next_progress = time.monotonic() + PROGRESS_EVERY_S

    def done() -> bool:
        return (options.turns is not None and tally.count >= options.turns) or (
            stop_at is not None and time.monotonic() >= stop_at)

    def on_turn(turn: TurnResult) -> None:
        nonlocal next_progress
        tally.add(turn)
        if live is not None:
            live.update(tally.render())
        if progress is not None and time.monotonic() >= next_progress:
            next_progress = time.monotonic() + PROGRESS_EVERY_S
            progress()

    async def developer(name: str, key: str, repo: str) -> None:
        pauses = random.Random(f"{options.seed}:{name}")
        human = options.pace == "human"
        tool_time = (lambda: pauses.uniform(*HUMAN_TOOL_S)) if human else None
        if human:  # people do not all press Enter in the same second
            await _sleep_unless(done, pauses.uniform(0.0, HUMAN_THINK_S[0]))
        async with httpx.AsyncClient(timeout=120) as client:
            while not done():
                await run_session(client, proxy_url, key, name, next(seeds), repo=repo, on_turn=on_turn,
                                  tool_time=tool_time)
                if human:  # reading the answer, then typing the next prompt
                    await _sleep_unless(done, pauses.uniform(*HUMAN_THINK_S))
                if options.burstiness and pauses.random() < options.burstiness:
                    await asyncio.sleep(pauses.uniform(2.0, 12.0))  # away from the keyboard: traffic comes in bursts

    await asyncio.gather(*(developer(*k) for k in keys))


# A developer's rhythm at the human pace: Claude Code runs a turn's tools for 1-4 s before it sends
# their results; between sessions a person reads the answer and types the next prompt (15-45 s).
# Four such developers send ~0.3 turns a second, ~40 times fewer than back to back: "spend today"
# then grows like a day of the history, not like a load test.
HUMAN_TOOL_S = (1.0, 4.0)
HUMAN_THINK_S = (15.0, 45.0)


async def _sleep_unless(done: Callable[[], bool], seconds: float) -> None:
    """Sleep ``seconds``, waking every second to stop as soon as the demo's end comes."""
    end = time.monotonic() + seconds
    while not done() and (left := end - time.monotonic()) > 0:
        await asyncio.sleep(min(1.0, left))


def demo_policy(upstream_url: str, bedrock_url: str | None = None) -> dict[str, object]:
    """The demo's starting policy: haiku for small turns, opus for huge ones, sonnet otherwise, and
    10 % of sessions spread over all three tiers (exploration: what lets the optimizer estimate
    honestly what another routing would have done). With ``bedrock_url``, every route ends with a
    Bedrock target (the canonical "Anthropic first, then Bedrock" graph; docs/providers/)."""
    models = {"haiku": "claude-haiku-4-5-20251001", "sonnet": "claude-sonnet-4-5-20250929",
              "opus": "claude-opus-4-5-20251101"}
    targets = [{"name": tier, "base_url": upstream_url, "model": model, "tier": tier} for tier, model in models.items()]
    last: list[str] = []
    if bedrock_url is not None:
        targets.append({"name": "bedrock", "provider": "bedrock", "base_url": bedrock_url, "region": "us-east-1",
                        "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"})
        last = ["bedrock"]
    return {
        "version": "demo-1", "description": "hand-written starting point",
        "targets": targets,
        "rules": [
            {"name": "explore", "when": {"session_bucket": {"lt": 10}},
             "split": [{"weight": 1, "route": [tier, *last]} for tier in models]},
            {"name": "small-turns", "when": {"input_tokens": {"lt": 15_000}}, "route": ["haiku", "sonnet", *last]},
            {"name": "huge-turns", "when": {"input_tokens": {"gte": 45_000}}, "route": ["opus", "sonnet", *last]},
        ],
        "default": {"route": ["sonnet", "opus", *last]},
        # the week of history spends a few hundred dollars per team: "data" is near its soft alert
        "budgets": [{"scope": "team", "name": "*", "monthly_usd": "2000"},
                    {"scope": "team", "name": "data", "monthly_usd": "300"}],
    }


def prepare_store(database_url: str, upstream_url: str, bedrock_url: str | None = None) -> None:
    """Create the schema and make the starting policy the active version (audited as "demo")."""
    from core.policy.schema import Policy
    from store.engine import make_engine
    from store.migrate import upgrade
    from store.policies import activate, create_version

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        policy = Policy.model_validate(demo_policy(upstream_url, bedrock_url))
        create_version(engine, policy, actor="demo", note="the demo's starting point")
        activate(engine, policy.version, actor="demo")
    finally:
        engine.dispose()


def write_history(database_url: str, upstream_url: str, days: float, *, seed: int) -> int:
    """A fleet's last ``days`` of traffic, routed by the starting policy (exploration included) and
    written through ingest's own pipeline (ingest.local: encoded as the proxy and Claude Code export
    it, then decoded, bounded, redacted, priced and stored as ingest stores real traffic): the
    dashboard has a history to show and the optimizer enough explored sessions to propose from its
    first round. The fleet is sim.fleet_presets.segmented_fleet: sessions differ in thinking, tools
    offered and repo, so the proposal can carry segment overrides as well as thresholds. Returns turns."""
    from core.policy.schema import Policy
    from core.pricing import builtin_price_table
    from ingest.local import LocalIngest
    from sim.fleet import run_fast
    from sim.fleet_presets import segmented_fleet
    from store.engine import make_engine

    prices = builtin_price_table()
    policy = Policy.model_validate(demo_policy(upstream_url))
    # ending six hours ago: sessions run on after they start, and no turn may land in the future
    start = datetime.now(UTC) - timedelta(days=days, hours=6)
    config = segmented_fleet(seed, max(1, round(HISTORY_SESSIONS_PER_DAY * days)), policy, start=start, days=days)
    engine = make_engine(database_url)
    try:
        return run_fast(config, prices, LocalIngest(engine, prices=prices).write).turns
    finally:
        engine.dispose()


def run_demo(options: DemoOptions) -> int:
    from dashboard.passwords import hash_password

    from .loop_jobs import LoopJobs, LoopSettings

    console = Console()
    if not console.is_terminal:  # redirected: rich would cut every table at 80 columns
        console = Console(width=160)
    data = options.data_dir
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    keys_file = data / "keys.json"
    fleet = [(name, create_key(keys_file, name, team), repo) for name, team, repo in DEVELOPERS[: options.developers]]
    your_key = create_key(keys_file, "you", "demo")
    upstream_port, proxy_port, ingest_port, dashboard_port = free_port(), free_port(), free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    ingest_url = f"http://127.0.0.1:{ingest_port}"
    dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    database_url = default_database_url(data)
    snapshot_token, password = secrets.token_urlsafe(24), secrets.token_urlsafe(9)
    otlp_token = secrets.token_urlsafe(24)  # the proxy's credential at ingest
    # --anthropic-overloaded: a fake Bedrock behind every route, and the fake Anthropic answering 529s
    bedrock_port = free_port() if options.anthropic_overloaded else None
    bedrock_url = f"http://127.0.0.1:{bedrock_port}" if bedrock_port else None
    prepare_store(database_url, upstream_url, bedrock_url)
    if options.history_days > 0:
        with console.status(f"writing {options.history_days:g} days of fleet history into the store…"):
            written = write_history(database_url, upstream_url, options.history_days, seed=options.seed)
        console.print(f"history: {written:,} turns of a simulated fleet over the last {options.history_days:g} days, "
                      "routed by the starting policy")
    users = json.dumps({"demo": {"password_hash": hash_password(password), "role": "admin"}})
    # the one upstream the demo's policies may use, the same for every part (whatever the shell has set)
    allowed = json.dumps([upstream_url, *([bedrock_url] if bedrock_url else [])])
    with Supervisor(data / "logs") as supervisor:
        supervisor.start("upstream", ["-m", "sim.upstream", "--port", str(upstream_port),
                                      "--event-interval-ms", str(options.event_interval_ms),
                                      "--overloaded-share", str(options.anthropic_overloaded)],
                         {}, upstream_url + "/v1/models")
        aws: dict[str, str] = {}
        if bedrock_url is not None:
            supervisor.start("bedrock", ["-m", "sim.bedrock", "--port", str(bedrock_port), "--event-interval-ms",
                                         str(options.event_interval_ms)], {}, bedrock_url + "/ping")
            # the fake's own test credentials, found by the proxy through AWS's standard chain
            aws = {"AWS_ACCESS_KEY_ID": TEST_AWS_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": TEST_AWS_SECRET_ACCESS_KEY,
                   "AWS_CONFIG_FILE": str(data / "no-aws-config"), "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_SHARED_CREDENTIALS_FILE": str(data / "no-aws-credentials")}
        supervisor.start("ingest", ["-m", "ingest.main"], {
            "SWITCHYARD_INGEST_HOST": "127.0.0.1", "SWITCHYARD_INGEST_PORT": str(ingest_port),
            "DATABASE_URL": database_url, "SWITCHYARD_DATA_DIR": str(data),
            "SWITCHYARD_SNAPSHOT_TOKENS": json.dumps([snapshot_token]),
            "SWITCHYARD_INGEST_TOKENS": json.dumps({otlp_token: "proxy"}), "SWITCHYARD_KEYS_FILE": str(keys_file),
            "SWITCHYARD_ALLOWED_UPSTREAMS": allowed,
        }, ingest_url + "/readyz", timeout_s=60)
        supervisor.start("proxy", ["-m", "proxy"], {
            "SWITCHYARD_PROXY_HOST": "127.0.0.1", "SWITCHYARD_PROXY_PORT": str(proxy_port),
            "SWITCHYARD_UPSTREAM_URL": upstream_url, "SWITCHYARD_UPSTREAM_API_KEY": "sk-ant-demo-fake-upstream",
            "SWITCHYARD_KEYS_FILE": str(keys_file), "SWITCHYARD_LOG_LEVEL": "warning",
            "SWITCHYARD_OTLP_ENDPOINT": ingest_url + "/v1/traces", "SWITCHYARD_EXPORT_INTERVAL_S": "0.5",
            "SWITCHYARD_OTLP_TOKEN": otlp_token, "SWITCHYARD_SPOOL_DIR": str(data / "spool"),
            "SWITCHYARD_SNAPSHOT_URL": ingest_url + "/v1/snapshot", "SWITCHYARD_SNAPSHOT_TOKEN": snapshot_token,
            "SWITCHYARD_ALLOWED_UPSTREAMS": allowed, **aws,
        }, proxy_url + "/healthz")
        supervisor.start("dashboard", ["-m", "switchyard", "dashboard"], {
            "SWITCHYARD_DASHBOARD_HOST": "127.0.0.1", "SWITCHYARD_DASHBOARD_PORT": str(dashboard_port),
            "DATABASE_URL": database_url, "SWITCHYARD_DASHBOARD_USERS": users, "SWITCHYARD_ALLOWED_UPSTREAMS": allowed,
        }, dashboard_url + "/healthz", timeout_s=60)
        console.print(Panel.fit(
            f"dashboard      {dashboard_url}   (user demo, password {password})\n"
            f"proxy          {proxy_url}\ningest (OTLP)  {ingest_url}\nfake upstream  {upstream_url}\n"
            + (f"fake Bedrock   {bedrock_url}   (the fake Anthropic answers {options.anthropic_overloaded:.0%} "
               "of turns 529: watch them fall back)\n" if bedrock_url else "")
            + f"database       {database_url}\nlogs           {data / 'logs'}\n\n"
            "Evals, failure clusters, the rollback guard and the optimizer run every"
            f" {options.jobs_interval_s:g} s; approve its proposal on the dashboard's Proposals page.\n"
            "Ctrl-C stops everything.",
            title="switchyard demo"))
        # Outside the panel and never wrapped: these lines are for copying whole.
        for line in ("Try a real Claude Code CLI against the demo:",
                     f"  export ANTHROPIC_BASE_URL={proxy_url}", f"  export ANTHROPIC_AUTH_TOKEN={your_key}",
                     "  claude -p 'hello'",
                     f"A key of your own (the demo's proxy reads {keys_file}):",
                     f"  switchyard keys create --developer NAME --team TEAM --keys-file {keys_file}"):
            console.print(line, soft_wrap=True, highlight=False, markup=False)
        from store.engine import make_engine

        engine = make_engine(database_url)
        # A week of demo history (840 sessions, 10 % explored) is too small for the two evidence guards
        # of issue 16: the demo's claims are certified on the sessions the search chose from
        # (held_out_share 0) and a segment needs no minimum of explored sessions (10 by default), as
        # before they existed; `switchyard jobs` and `switchyard optimize` keep both
        jobs = LoopJobs(engine, LoopSettings(interval_s=options.jobs_interval_s, first_after_s=2.0, settle_s=5.0,
                                             window=timedelta(days=max(1.0, options.history_days + 1)), trials=60,
                                             min_ess=50.0, held_out_share=0.0, min_explored_sessions=0,
                                             watch_window=timedelta(minutes=3), watch_min_turns=50))
        tally = Tally(jobs=jobs.status)
        jobs.start()
        try:
            if options.live and console.is_terminal:
                with Live(tally.render(), console=console, refresh_per_second=4) as live:
                    asyncio.run(drive(proxy_url, fleet, options, tally, live))
            else:  # not a terminal (or --no-live): a plain progress line every few seconds
                asyncio.run(drive(proxy_url, fleet, options, tally, None,
                                  progress=lambda: console.print(tally.progress_line(), soft_wrap=True,
                                                                 highlight=False, markup=False)))
        except KeyboardInterrupt:
            console.print("stopping…")
        finally:
            jobs.stop()
        if dead := supervisor.dead():
            console.print(f"[red]{', '.join(c.name for c in dead)} stopped unexpectedly[/red]")
            engine.dispose()
            return 1
        supervisor.stop_all()  # the proxy flushes its spans to ingest on the way out
        if options.final_jobs:
            jobs.run_once()  # score and cluster what the last minute added
        engine.dispose()
        if not (options.live and console.is_terminal):
            console.print(tally.render())
    console.print(spend_table(database_url))
    console.print(f"demo finished: {tally.count} turns, {tally.errors} errors")
    return 0 if tally.errors == 0 else 1


def spend_table(database_url: str) -> Table:
    """What landed in the store: turns and cost per developer (read from the hourly rollups)."""
    from store.engine import make_engine
    from store.queries import rollup_frame

    engine = make_engine(database_url)
    try:
        frame = rollup_frame(engine, by=("developer", "team"))
    finally:
        engine.dispose()
    table = Table("developer", "team", "turns stored", "uncached input", "cache read", "output tokens", "cost USD",
                  title="in the store (from ingest)")
    for row in frame.iter_rows(named=True):
        table.add_row(row["developer"] or "-", row["team"] or "-", str(row["requests"]), f"{row['input_tokens']:,}",
                      f"{row['cache_read_tokens']:,}", f"{row['output_tokens']:,}", f"{row['cost_usd']:.4f}")
    return table

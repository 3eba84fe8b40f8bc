"""Dashboard page times on a store of 1 M simulated turns: each page's server time (its data
queries, figure building and Dash's JSON encoding), measured through the real Flask app with a
signed-in session, on SQLite and on PostgreSQL. Target: ≤ 1 s per page.

    .venv/bin/python bench/dashboard.py [--turns 1000000] [--db sqlite,postgres] [--sqlite-file PATH]

The fleet: 200 developers in 12 teams over 40 repos, sessions of 20-80 turns in working hours over
the last 30 days; rules pick the tier (small-turns → haiku, default → sonnet, deep → opus); 3 % of
turns fall back, 1 % fail. Rows go in through store.writer.write_turns (so the hourly rollup is
built exactly as ingest builds it). ``--sqlite-file`` keeps the filled SQLite file and reuses it.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.policy.diff import diff
from core.policy.schema import Budget, Default, Policy, Rule, Target
from core.pricing import Usage, builtin_price_table
from dashboard.app import create_app
from dashboard.passwords import hash_password
from dashboard.settings import DashboardSettings, Role, User
from store.cluster_runs import run_exists, write_cluster_run
from store.engine import make_engine
from store.keys import create_key, list_keys
from store.migrate import upgrade
from store.policies import activate, create_version
from store.proposals import create_proposal, list_proposals, set_status
from store.schema import rollup_hourly, turns
from store.testing import migrated_sqlite_url, throwaway_postgres_schema
from store.writer import write_turns

BATCH = 25_000
RULES = (("small-turns", "claude-haiku-4-5", 0.35), ("default", "claude-sonnet-4-5", 0.50),
         ("deep", "claude-opus-4-5", 0.15))
TARGETS = ("anthropic", "anthropic-eu", "bedrock")
NANO = Decimal("0.000000001")
PASSWORD = "bench-password"


def _nanos_per_token(model: str, day: datetime) -> tuple[int, int, int, int]:
    """(input, output, cache write, cache read) in nano-dollars per token, from the price table."""
    entry = builtin_price_table().lookup(model, day.date())
    assert entry is not None, model
    per_million = (Usage(input_tokens=10**6), Usage(output_tokens=10**6), Usage(cache_creation_tokens=10**6),
                   Usage(cache_read_tokens=10**6))
    rates = [entry.cost_of(usage) * 1000 for usage in per_million]
    assert all(rate == int(rate) for rate in rates), "prices with sub-nano-dollar per-token rates"
    return tuple(int(rate) for rate in rates)  # type: ignore[return-value]


def fleet_rows(count: int, now: datetime, seed: int = 7, days: int = 30) -> Iterator[list[dict[str, Any]]]:
    """``count`` turn rows, one day at a time, oldest first and in start order within a day (as
    ingest would have written them): sessions of consecutive turns in working hours."""
    rng = random.Random(seed)
    rates = {model: _nanos_per_token(model, now) for _, model, _ in RULES}
    developers = [(f"dev{n:03d}", f"team{n % 12:02d}", [f"repo{(n * 7 + k) % 40:02d}" for k in range(3)])
                  for n in range(200)]
    index = session_number = 0
    for day_number in range(days):
        day = (now - timedelta(days=days - 1 - day_number)).replace(hour=0, minute=0, second=0, microsecond=0)
        quota = count * (day_number + 1) // days - index
        rows: list[dict[str, Any]] = []
        while quota > 0:
            developer, team, repos = rng.choice(developers)
            repo = rng.choice(repos)
            moment = min(day.replace(hour=rng.randrange(8, 19), minute=rng.randrange(60)),
                         now - timedelta(minutes=90))
            session_number += 1
            session = f"session-{session_number:07d}"
            for _ in range(min(rng.randrange(20, 80), quota)):
                moment += timedelta(seconds=rng.uniform(5, 60))
                rows.append(_row(rng, index, session, developer, team, repo, moment, rates))
                index += 1
                quota -= 1
        rows.sort(key=lambda row: row["started_at"])
        for start in range(0, len(rows), BATCH):
            yield rows[start:start + BATCH]


def _row(rng: random.Random, index: int, session: str, developer: str, team: str, repo: str, moment: datetime,
         rates: dict[str, tuple[int, int, int, int]]) -> dict[str, Any]:
    rule, model, _ = rng.choices(RULES, weights=[w for *_, w in RULES])[0]
    fell_back, failed = rng.random() < 0.03, rng.random() < 0.01
    tokens = (rng.randrange(1, 4000), rng.randrange(20, 3000), rng.randrange(0, 20_000), rng.randrange(0, 150_000))
    nanos = sum(t * r for t, r in zip(tokens, rates[model], strict=True))
    ttfb = rng.lognormvariate(6.2, 0.5)
    start_ns = int(moment.replace(tzinfo=UTC).timestamp() * 1e9)
    tools = rng.sample(("Bash", "Read", "Edit", "Grep", "Glob", "Write"), rng.randrange(0, 3))
    return {
        "trace_id": f"{int(session[8:]):032x}", "span_id": f"{index:016x}", "started_at": moment,
        "start_ns": start_ns, "end_ns": start_ns + int(ttfb * 4e6), "duration_ms": ttfb * 4, "method": "POST",
        "path": "/v1/messages", "status_code": 529 if failed else 200, "session_id": session,
        "developer": developer, "team": team, "repo": repo, "repo_verified": False, "cli_version": "2.1.330",
        "agent_id": None,
        "parent_agent_id": None, "request_class": "main", "agent_type": None, "prompt_id": None,
        "requested_model": model, "served_model": None if failed else model, "response_id": None,
        "upstream_request_id": None, "target": TARGETS[2 if fell_back and index % 3 == 0 else 1 if fell_back else 0],
        "region": None, "provider": None, "server_address": None, "policy_version": "v1", "rule": rule,
        "propensity": 1.0,
        "fallback_hops": ["anthropic:529", "anthropic-eu:200"] if fell_back else [], "dropped_capabilities": [],
        "guardrail": None, "secret_findings": None,
        "estimated_input_tokens": sum(tokens) - tokens[1] + rng.randrange(-500, 500), "tool_count": 12,
        "thinking": rule == "deep", "stream": True, "input_tokens": tokens[0], "output_tokens": tokens[1],
        "cache_creation_tokens": tokens[2], "cache_read_tokens": tokens[3], "cache_creation_1h_tokens": 0,
        "ttfb_ms": None if failed else ttfb, "stop_reason": None if failed else "tool_use" if tools else "end_turn",
        "error_type": "overloaded_error" if failed else None, "error_message": "Overloaded" if failed else None,
        "tool_use_ids": [f"toolu_{index}_{k}" for k in range(len(tools))], "tool_use_names": tools,
        "tool_result_ids": [], "tool_result_error_ids": [], "ok": not failed,
        "cost_usd": Decimal(0) if failed else Decimal(nanos).scaleb(-9).quantize(NANO), "priced": True,
        "price_id": model, "cost_exact": True, "cost_note": None, "ingested_at": moment,
    }


def _policy(version: str, parent: str | None, small_turn_limit: int) -> Policy:
    targets = tuple(Target(name=name, base_url="https://api.anthropic.com") for name in TARGETS)
    return Policy(version=version, parent=parent, targets=targets,
                  rules=(Rule(name="small-turns", when={"input_tokens": {"lt": small_turn_limit}},
                              route=("anthropic", "anthropic-eu"), model="claude-haiku-4-5"),),
                  default=Default(route=("anthropic", "anthropic-eu", "bedrock")),
                  budgets=(Budget(scope="developer", name="*", monthly_usd=Decimal("40")),
                           Budget(scope="team", name="*", monthly_usd=Decimal("400"))))


def _evidence(rng: random.Random) -> dict[str, Any]:
    """Evidence shaped as the optimizer stores it, with per-segment figures and judged candidates."""
    def interval(centre: float) -> dict[str, float]:
        return {"value": centre, "low": centre - 0.004, "high": centre + 0.004}

    return {"turns": 48_211, "sessions": 3_102, "days": 14.0, "ess": 1_904.2, "ess_sessions": 312.4,
            "baseline": {"quality_dr": interval(0.94), "monthly_cost_usd": 6_700.0},
            "candidate": {"monthly_cost_usd": 6_287.5}, "delta_monthly_cost_usd": -412.5, "delta_cost_share": -0.06,
            "delta_quality": {**interval(0.002), "level": 0.95}, "quality_margin": 0.004, "rationale": "bench",
            "segments": [{"segment": f"repo repo{k:02d}", "turns": rng.randrange(500, 9_000), "sessions": 90,
                          "delta_monthly_cost_usd": rng.uniform(-90, 20),
                          "delta_quality": interval(rng.uniform(-.004, .01)), "ess": rng.uniform(100, 900)}
                         for k in range(8)],
            "candidates": [{"monthly_cost_usd": rng.uniform(6_000, 6_800), "delta_quality": rng.uniform(-0.02, 0.01),
                            "feasible": rng.random() < 0.6} for _ in range(200)]}


def _proposals(engine: Engine, count: int = 60) -> None:
    """``count`` proposals against v1, decided but the newest (the Proposals page lists them all)."""
    rng = random.Random(3)
    before = _policy("v1", None, 20_000)
    for n in range(count):
        after = _policy(f"v1.opt-{n}", "v1", 8_000 + 100 * n)
        proposal = create_proposal(engine, parent_version="v1", candidate_version=after.version,
                                   document=after.model_dump(mode="json"), diff=diff(before, after).to_dict(),
                                   evidence=_evidence(rng), actor="bench")
        if n < count - 1:
            set_status(engine, proposal.id, "rejected" if n % 2 else "approved", actor="bench", note="bench")


def fill(engine: Engine, count: int, now: datetime) -> float:
    started = time.perf_counter()
    for batch in fleet_rows(count, now):
        write_turns(engine, batch)
    create_version(engine, _policy("v1", None, 20_000), actor="bench")
    create_version(engine, _policy("v2", "v1", 12_000), actor="bench")
    activate(engine, "v1", actor="bench")
    _proposals(engine)
    return time.perf_counter() - started


CLUSTER_RUN = "bench-run"
CLUSTERS = 12


def write_cluster_run_of_failures(engine: Engine, now: datetime) -> int:
    """A clustering run as the evals would store it: the last 7 days' failed and fallen-back turns
    (~4 % of them) dealt into CLUSTERS clusters, the first holding half. Returns the members."""
    start = now - timedelta(days=7)
    query = select(turns.c.trace_id, turns.c.span_id).where(
        turns.c.started_at >= start, (turns.c.ok.is_(False)) | (turns.c.target != TARGETS[0]))
    with engine.connect() as connection:
        keys = connection.execute(query).all()
    members = [{"run_id": CLUSTER_RUN, "trace_id": trace, "span_id": span,
                "cluster": 0 if n % 2 == 0 else 1 + n % (CLUSTERS - 1)} for n, (trace, span) in enumerate(keys)]
    sizes = [sum(1 for m in members if m["cluster"] == c) for c in range(CLUSTERS)]
    write_cluster_run(engine, [
        {"run_id": CLUSTER_RUN, "cluster": c, "created_at": now, "window_start": start, "window_end": now,
         "name": f"mode {c:02d} · Edit failures", "size": sizes[c], "cost_usd": Decimal(sizes[c]) / 100,
         "trend": "steady", "window_counts": [sizes[c] // 40] * 4,
         "features": {"signal": "tool_failure", "tool": "Edit", "tier": "haiku", "tokens_p10": 12_000},
         "examples": [f"{m['trace_id']}:{m['span_id']}" for m in members if m["cluster"] == c][:5]}
        for c in range(CLUSTERS)], members)
    return len(members)


@dataclass(frozen=True, slots=True)
class PageTime:
    name: str
    median_ms: float
    worst_ms: float
    kilobytes: float


def _callback(outputs: list[str], inputs: dict[str, Any], changed: str, search: str = "",
              state: dict[str, Any] | None = None) -> dict[str, Any]:
    def prop(name: str) -> dict[str, str]:
        component, _, attribute = name.partition(".")
        return {"id": component, "property": attribute}

    return {"output": outputs[0] if len(outputs) == 1 else ".." + "...".join(outputs) + "..",
            "outputs": prop(outputs[0]) if len(outputs) == 1 else [prop(o) for o in outputs],
            "inputs": [{**prop(k), "value": v} for k, v in inputs.items()], "changedPropIds": [changed],
            "state": [{"id": "url", "property": "search", "value": search}] if changed == "url.pathname" else
            [{**prop(k), "value": v} for k, v in (state or {}).items()]}


def _page(path: str, search: str = "") -> dict[str, Any]:
    return _callback(["page.children"], {"url.pathname": path}, "url.pathname", search)


def write_keys(engine: Engine, developers: int = 200) -> None:
    """One virtual key per developer (the Keys page lists them with each one's last turn)."""
    for n in range(developers):
        create_key(engine, developer=f"dev{n:03d}", team=f"team{n % 12:02d}", actor="bench")


def cost_centres(directory: Path) -> Path:
    """Finance's mapping: the 12 teams into 4 cost centres."""
    path = directory / "cost-centres.yaml"
    path.write_text("teams:\n" + "".join(f"  team{n:02d}: 'CC-{n % 4}'\n" for n in range(12)), encoding="utf-8")
    return path


def measure(engine: Engine, repeats: int = 5, centres: Path | None = None) -> list[PageTime]:
    with engine.connect() as connection:
        newest = connection.execute(select(func.max(turns.c.started_at))).scalar_one()
        recent = connection.execute(select(turns.c.trace_id, turns.c.span_id, turns.c.session_id, turns.c.developer,
                                           turns.c.repo, turns.c.team)
                                    .order_by(turns.c.started_at.desc()).limit(1)).one()
        oldest = connection.execute(select(turns.c.session_id).order_by(turns.c.started_at).limit(1)).scalar_one()
    now = newest + timedelta(minutes=1)
    settings = DashboardSettings(secret_key="bench-secret-0123456789abcdef", cost_centres_file=centres,
                                 users={"bench": User(password_hash=hash_password(PASSWORD), role=Role.admin)})
    client = create_app(settings, engine, clock=lambda: now).server.test_client()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    assert client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf": token[1]}).status_code == 302
    month = f"{now:%Y-%m}"
    recent_team = recent.team or ""
    thirty = now - timedelta(days=29)
    requests: list[tuple[str, Any]] = [
        *((f"page {path}", _page(path))
          for path in ("/", "/routes", "/attribution", "/sessions", "/failures", "/policies", "/proposals",
                       "/chargeback", "/keys")),
        ("routes: 30 days", _page("/routes", "?period=30d")),
        ("overview: one team", _page("/", f"?team={recent_team}")),
        ("routes: 30 days, one developer", _page("/routes", f"?period=30d&developer={recent.developer}")),
        ("attribution: one repo", _page("/attribution", f"?repo={recent.repo}")),
        ("routes: only fallbacks", _callback(["routes-turns.rowData"], {"routes-only-fallbacks.value": ["on"]},
                                             "routes-only-fallbacks.value", state={"url.search": ""})),
        ("routes: one turn's decision", _callback(["routes-decision.children"], {"routes-turns.cellClicked": {
            "rowId": f"{recent.trace_id}/{recent.span_id}"}}, "routes-turns.cellClicked")),
        ("sessions: one session", _callback(["sessions-detail.children"], {"sessions-list.cellClicked": {
            "rowId": recent.session_id}}, "sessions-list.cellClicked")),
        ("sessions: the oldest, by id", _page("/sessions", f"?session={oldest}")),
        ("sessions: by developer", _page("/sessions", f"?developer={recent.developer}")),
        ("sessions: by repo", _page("/sessions", f"?repo={recent.repo}")),
        ("sessions: by repo, a week back",
         _page("/sessions", f"?repo={recent.repo}&to={now - timedelta(days=7):%Y-%m-%d}")),
        ("turn: one turn and its why", _page("/turn", f"?trace={recent.trace_id}&span={recent.span_id}")),
        ("failures: the largest cluster", _callback(["failures-detail.children"], {
            "failures-clusters.cellClicked": {"rowId": "0"}, "failures-sizes.clickData": None},
            "failures-clusters.cellClicked", state={"failures-run.data": CLUSTER_RUN})),
        ("chargeback: developer × repo", _page("/chargeback", f"?month={month}&by=developer&then=repo")),
        ("chargeback: 30 d, dev × model", _page("/chargeback", f"?from={thirty:%Y-%m-%d}&to={now:%Y-%m-%d}"
                                                                  "&by=developer&then=model")),
        ("chargeback: cost centre × model", _page("/chargeback", f"?month={month}&by=cost_centre&then=model")),
        ("chargeback CSV by developer", f"/export/chargeback.csv?month={month}&by=developer"),
        ("chargeback CSV 30 d, team × repo", f"/export/chargeback.csv?from={thirty:%Y-%m-%d}&to={now:%Y-%m-%d}"
                                                "&by=team&then=repo"),
        ("policies: one version", _callback(["policies-state.children", "policies-status.children"], {
            "policies-version.value": "v1", "policies-activate-confirm.submit_n_clicks": None,
            "policies-rollback-confirm.submit_n_clicks": None}, "policies-version.value",
            state={"policies-version.value": "v1"})),
    ]
    oldest = list_proposals(engine)[-1:]  # opened by its id, as a link to it would (none in a reused older file)
    requests += [("proposals: an old one", _callback(
        ["proposals-state.children", "proposals-status.children", "proposals-status.className",
         "proposals-pick.options", "proposals-reason.value", "proposals-reason.disabled", "proposals-approve.disabled",
         "proposals-reject.disabled"],
        {"proposals-pick.value": p.id, "proposals-approve-confirm.submit_n_clicks": None,
         "proposals-reject-confirm.submit_n_clicks": None}, "proposals-pick.value",
        state={"proposals-pick.value": p.id, "proposals-reason.value": ""})) for p in oldest]
    results = []
    for name, request in requests:
        times, size = [], 0
        for _ in range(repeats + 1):  # the first run warms caches and is not counted
            started = time.perf_counter()
            response = client.get(request) if isinstance(request, str) else client.post(
                "/_dash-update-component", json=request)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
            # a page that says it could not show what was asked is not the page being measured
            assert b"page-error" not in response.data and b"Not shown:" not in response.data, name
            size = len(response.data)
        results.append(PageTime(name, statistics.median(times[1:]), max(times[1:]), size / 1024))
    return results


def render(label: str, fill_s: float | None, turn_count: int, rollup_rows: int, results: list[PageTime]) -> str:
    head = f"{label}: {turn_count:,} turns, {rollup_rows:,} rollup rows"
    head += f", filled in {fill_s:.0f} s" if fill_s is not None else " (reused)"
    lines = [head, f"  {'page':<32}{'median ms':>11}{'worst ms':>10}{'KiB':>8}"]
    lines += [f"  {r.name:<32}{r.median_ms:>11.0f}{r.worst_ms:>10.0f}{r.kilobytes:>8.0f}" for r in results]
    return "\n".join(lines)


def run(engine: Engine, label: str, count: int, reuse: bool) -> str:
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(turns)).scalar_one()
    fill_s = None
    if not (reuse and stored >= count):
        fill_s = fill(engine, count, datetime.now(UTC).replace(tzinfo=None, microsecond=0))
    if not list_keys(engine):  # a store filled before the Keys page had keys gets them too
        write_keys(engine)
    if not run_exists(engine, CLUSTER_RUN):  # a store filled before the Failures page had clusters gets them too
        with engine.connect() as connection:
            newest = connection.execute(select(func.max(turns.c.started_at))).scalar_one()
        write_cluster_run_of_failures(engine, newest + timedelta(minutes=1))
    with engine.connect() as connection:
        turn_count = connection.execute(select(func.count()).select_from(turns)).scalar_one()
        rollup_rows = connection.execute(select(func.count()).select_from(rollup_hourly)).scalar_one()
    with tempfile.TemporaryDirectory() as scratch:
        return render(label, fill_s, turn_count, rollup_rows, measure(engine, centres=cost_centres(Path(scratch))))


@contextmanager
def sqlite_engine(path: Path | None) -> Iterator[tuple[Engine, bool]]:
    """(engine, whether the file was already there): a kept file at ``path``, else a scratch one."""
    with tempfile.TemporaryDirectory() as scratch:
        reuse = path is not None and path.exists()
        if path is None:
            url = migrated_sqlite_url(Path(scratch))
        else:
            url = f"sqlite:///{path.resolve()}"
            upgrade(url)
        engine = make_engine(url)
        try:
            yield engine, reuse
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgres", help="comma list of sqlite, postgres")
    parser.add_argument("--sqlite-file", type=Path, help="keep the filled SQLite store here and reuse it")
    args = parser.parse_args()
    for name in args.db.split(","):
        if name == "sqlite":
            with sqlite_engine(args.sqlite_file) as (engine, reuse):
                print(run(engine, "SQLite", args.turns, reuse), flush=True)
        elif name == "postgres":
            with throwaway_postgres_schema() as url:
                engine = make_engine(url)
                try:
                    print(run(engine, "PostgreSQL", args.turns, reuse=False), flush=True)
                finally:
                    engine.dispose()
        else:
            parser.error(f"unknown database {name!r}")


if __name__ == "__main__":
    main()

"""The reads behind following a failure to its turns and finding any session, on SQLite and
PostgreSQL: session search by developer, repo and time (bounded scans that say when they stopped
short), whole-session sums, a turn's policy version, scores and clusters, a cluster's sessions,
and the sentence the Sessions page says about what it found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from core.pricing import builtin_price_table
from dashboard.context import DashboardContext
from dashboard.reads import (
    cluster_sessions,
    decision_policy,
    find_sessions,
    session_rows,
    turn_clusters,
    turn_scores,
)
from dashboard.session_query import session_query
from dashboard.settings import DashboardSettings
from dashboard.views.sessions import list_content
from dashboard.views.turn import content as turn_page
from ingest.local import LocalIngest, fixed_clock
from store.testing import sample_turn
from tests.dashboard.conftest import utc_now
from tests.dashboard.routed_fleet import RUN_ID, seed_routed, seed_routed_clusters


def _ns(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1_000_000) * 1000


def test_sessions_are_found_by_developer_repo_and_time(db_engine: Engine) -> None:
    now = utc_now()
    fleet = seed_routed(db_engine, now, sessions=24)
    mine = find_sessions(db_engine, developer="dev1").sessions
    expected = [s for s in reversed(fleet.sessions) if fleet.developer_of[s] == "dev1"]
    assert mine["session_id"].to_list() == expected and set(mine["developer"]) == {"dev1"}
    assert mine["turns"].to_list() == [6] * len(expected)  # every turn of the session, not only those scanned
    both = find_sessions(db_engine, developer="dev1", repo="repo1").sessions["session_id"].to_list()
    assert both == [s for s in expected if fleet.repo_of[s] == "repo1"] and both
    by_repo = find_sessions(db_engine, repo="repo2").sessions["session_id"].to_list()
    assert by_repo == [s for s in reversed(fleet.sessions) if fleet.repo_of[s] == "repo2"]
    start, end = fleet.started_of[fleet.sessions[5]], fleet.started_of[fleet.sessions[9]]
    ranged = find_sessions(db_engine, start=start, end=end).sessions["session_id"].to_list()
    assert ranged == list(reversed(fleet.sessions[5:9]))
    assert find_sessions(db_engine, limit=3).sessions["session_id"].to_list() == list(reversed(fleet.sessions[-3:]))
    assert find_sessions(db_engine, developer="nobody").sessions.is_empty()


def test_a_session_a_developer_just_ran_stays_findable(db_engine: Engine) -> None:
    now = utc_now()
    fleet = seed_routed(db_engine, now - timedelta(hours=2), sessions=8)
    quiet = fleet.sessions[-1]  # dev3's, before the busy hour below
    busy_start = now - timedelta(minutes=50)
    records = [sample_turn(500_000 + n, session_id=f"busy-{n // 10}", developer="dev9",
                           start_ns=_ns(busy_start + timedelta(seconds=n)),
                           end_ns=_ns(busy_start + timedelta(seconds=n + 1))) for n in range(80)]
    LocalIngest(db_engine, clock=fixed_clock(now)).write(records, [])
    everyone = find_sessions(db_engine, scan=40)
    assert quiet not in everyone.sessions["session_id"].to_list()  # pushed out of the newest turns…
    assert everyone.searched_back_to is not None
    found = find_sessions(db_engine, developer=fleet.developer_of[quiet], scan=40)
    assert found.sessions["session_id"][0] == quiet  # …but found by its developer at once
    assert session_rows(db_engine, [quiet])["turns"].to_list() == [6]


def test_a_bounded_repo_search_says_how_far_back_it_read(db_engine: Engine) -> None:
    fleet = seed_routed(db_engine, utc_now(), sessions=12)
    short = find_sessions(db_engine, repo="repo0", scan=5)  # 5 of repo0's turns: its newest sessions only
    assert short.searched_back_to is not None and short.sessions.height < 4
    assert set(short.sessions["repo"]) == {"repo0"}
    assert all(fleet.started_of[s] <= short.sessions["last_at"].max() for s in short.sessions["session_id"])
    whole = find_sessions(db_engine, repo="repo0")
    assert whole.searched_back_to is None and whole.sessions.height == 4
    assert session_rows(db_engine, ["no-such-session"]).is_empty() and session_rows(db_engine, []).is_empty()


def test_a_turns_policy_scores_and_clusters(db_engine: Engine) -> None:
    now = utc_now()
    fleet = seed_routed(db_engine, now, sessions=24)
    seed_routed_clusters(db_engine, now, fleet)
    compiled = decision_policy(db_engine, "r1")
    assert compiled is not None and compiled.version == "r1" and [r.name for r in compiled.rules] == [
        "exploration", "small-turns"]
    assert decision_policy(db_engine, "r9") is None and decision_policy(db_engine, None) is None
    member = fleet.members[0][0]
    scored = turn_scores(db_engine, *member)
    assert scored.rows() == [("tool_failure", "1", 0.0, "fail", "Edit: string to replace not found")]
    assert turn_scores(db_engine, *fleet.keys_by_rule["small-turns"][0]).is_empty()
    assert turn_clusters(db_engine, RUN_ID, *member) == [(0, fleet.names[0])]
    assert turn_clusters(db_engine, RUN_ID, *fleet.keys_by_rule["small-turns"][0]) == []


def test_a_clusters_sessions(db_engine: Engine) -> None:
    now = utc_now()
    fleet = seed_routed(db_engine, now, sessions=24)
    seed_routed_clusters(db_engine, now, fleet)
    sessions, total = cluster_sessions(db_engine, RUN_ID, 0)
    expected: dict[str, int] = {}
    for _, span in fleet.members[0]:
        session = _session_of(span)
        expected[session] = expected.get(session, 0) + 1
    assert dict(zip(sessions["session_id"], sessions["member_turns"], strict=True)) == expected
    assert total == len(expected)
    assert sessions["member_turns"].is_sorted(descending=True)
    first_two, total = cluster_sessions(db_engine, RUN_ID, 0, limit=2)
    assert first_two.height == 2 and total == len(expected)  # the total counts every session, not the page
    assert cluster_sessions(db_engine, RUN_ID, 99)[0].is_empty() and cluster_sessions(db_engine, RUN_ID, 99)[1] == 0


def _session_of(span_id: str) -> str:
    # seed_routed numbers turns 100 000 + session × 6 + step; sample_turn's span id is index + 1
    return f"routed-{(int(span_id, 16) - 1 - 100_000) // 6:03d}"


def test_the_sessions_page_says_what_it_found(db_engine: Engine) -> None:
    ctx = DashboardContext(db_engine, DashboardSettings(secret_key="k" * 32), builtin_price_table())

    def found(**query: str) -> str:
        return str(list_content(ctx, session_query(query))[0].children)

    assert found() == "No sessions stored yet."
    fleet = seed_routed(db_engine, utc_now(), sessions=8)
    assert found() == "8 sessions of anyone, most recently active first."
    assert found(developer="dev1", repo="repo0") == "No sessions of developer dev1 and repo repo0."
    assert found(session=fleet.sessions[0]) == "The session with that id."
    assert found(session="nope") == "No session nope is stored."
    assert found(to="2001-01-01") == "No sessions of anyone in the range."
    assert found(repo="repo0") == "3 sessions of repo repo0, most recently active first."


def test_the_turn_page_names_only_stored_turns(db_engine: Engine) -> None:
    ctx = DashboardContext(db_engine, DashboardSettings(secret_key="k" * 32), builtin_price_table())
    fleet = seed_routed(db_engine, utc_now(), sessions=4)
    for trace_id, span_id in [("x" * 32, "0" * 16), ("0" * 31, "0" * 16), ("0" * 32, "0" * 17), ("", "")]:
        assert str(turn_page(ctx, trace_id, span_id)[0].children).startswith("Not a turn: ")
    assert str(turn_page(ctx, "0" * 32, "0" * 16)[0].children).startswith("No such turn is stored")
    shown = str([part.to_plotly_json() for part in turn_page(ctx, *fleet.keys_by_rule["small-turns"][0])])
    assert "rule small-turns: estimated input" in shown and "/sessions?session=routed-" in shown

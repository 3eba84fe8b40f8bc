"""The bounds a stored turn keeps, and the proxy's cut that keeps a developer's long ids inside them."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from core.turn_bounds import MAX_IDENTITY_CHARS, MAX_LIST_ITEMS, TurnBounds, month_of_ns, within_bounds
from store.testing import sample_turn

NOW_NS = sample_turn(0).start_ns + 3600 * 10**9
texts = st.text(min_size=0, max_size=2000)


@given(session=texts, repo=texts, tool_ids=st.lists(texts, max_size=20), message=st.text(max_size=9000))
def test_what_the_proxy_cuts_always_passes_ingests_text_bounds(session: str, repo: str, tool_ids: list[str],
                                                                message: str) -> None:
    turn = sample_turn(0, session_id=session, repo=repo, tool_result_ids=tuple(tool_ids), error_message=message)
    cut = within_bounds(turn)
    assert TurnBounds().problem(cut, NOW_NS) is None
    for name, value in (("session_id", session), ("repo", repo)):
        if len(value) <= MAX_IDENTITY_CHARS:
            assert getattr(cut, name) == value  # what fits is never touched


@given(st.text(min_size=MAX_IDENTITY_CHARS + 1, max_size=600), st.text(min_size=MAX_IDENTITY_CHARS + 1, max_size=600))
def test_two_different_long_ids_stay_different(first: str, second: str) -> None:
    a, b = within_bounds(sample_turn(0, session_id=first)), within_bounds(sample_turn(0, session_id=second))
    assert (a.session_id == b.session_id) == (first == second)


def test_an_untouched_turn_is_the_same_object_and_a_long_list_shows_its_cut() -> None:
    turn = sample_turn(0)
    assert within_bounds(turn) is turn
    many = within_bounds(dataclasses.replace(turn, tool_use_ids=tuple(f"t{n}" for n in range(10_000))))
    assert len(many.tool_use_ids) == MAX_LIST_ITEMS and many.tool_use_ids[-1] == f"…~{10_000 - MAX_LIST_ITEMS + 1} more"


def test_bounds_name_what_is_wrong() -> None:
    bounds = TurnBounds()
    turn = sample_turn(0)
    assert bounds.problem(turn, NOW_NS) is None
    assert "retention window" in (bounds.problem(turn, turn.start_ns + 91 * 86400 * 10**9) or "")
    assert "in the future" in (bounds.problem(turn, turn.start_ns - 301 * 10**9) or "")
    assert "closed" in (bounds.problem(turn, NOW_NS, {month_of_ns(turn.start_ns)}) or "")
    assert "propensity" in (bounds.problem(dataclasses.replace(turn, propensity=0.0), NOW_NS) or "")
    assert bounds.problem(dataclasses.replace(turn, propensity=1e-4), NOW_NS) is None

"""Pure parts of the Failures, Sessions and Turn pages: a cluster's features and trends in words,
the Sessions search read from its URL (bad values refused with a reason), links that a crafted id
cannot break out of, and figures with whole-number axes and every cluster in the legend."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import polars as pl
import pytest

from dashboard.cluster_words import count_trend, features_in_words, trend_sentences, turn_key
from dashboard.figures.failures import cluster_size_figure, cluster_trend_figure, window_starts
from dashboard.figures.style import count_axis
from dashboard.links import markdown_link, session_href, turn_href
from dashboard.session_query import session_query


def test_features_read_as_words_not_json() -> None:
    words = features_in_words({"signal": "tool_failure", "tool": "Edit", "tier": "haiku", "tokens_p10": 12_400})
    assert words == "tool calls failing; tool Edit; mostly haiku; 9 in 10 turns above 12 400 tokens"
    assert features_in_words({"signal": "upstream_error", "error_type": "overloaded_error", "tier": None,
                              "tokens_p10": 0}) == "upstream errors; error overloaded_error"
    # a feature this page does not know yet still reads as words, never as JSON
    assert features_in_words({"signal": "new_signal", "regions": ["eu", "us"]}) == "new signal; regions eu, us"
    assert features_in_words({}) == "no dominant feature"
    # a cluster no tier has more of (evals.cluster_tiers), and one that is a tier's
    assert features_in_words({"signal": "tool_failure", "tier": None, "any_tier": True}) == \
        "tool calls failing; as often on every tier compared: no routing avoids it"
    assert features_in_words({"signal": "tool_failure", "tier": "haiku", "any_tier": False}) == \
        "tool calls failing; mostly haiku"


@pytest.mark.parametrize(("counts", "trend"), [
    ([2, 4, 9, 14], "rising"),
    ([14, 9, 4, 2], "falling"),
    ([6, 5, 6, 6], "steady"),
    ([0, 0, 1, 3], "steady"),  # too few sessions to call
    ([0, 0, 9, 9], "rising"),
    ([5], "steady"),
])
def test_the_charted_trend_follows_the_charted_counts(counts: list[int], trend: str) -> None:
    assert count_trend(counts) == trend


def test_trend_sentences_name_their_measures() -> None:
    charted, run = trend_sentences([2, 4, 9, 14], "falling")
    assert charted == "Sessions touched per window: 2 → 4 → 9 → 14 (rising)."
    assert "all active sessions" in run and "judged it falling" in run and "alerts" in run


def test_examples_are_turn_keys() -> None:
    assert turn_key("0123456789abcdef0123456789abcdef:0123456789abcdef") == (
        "0123456789abcdef0123456789abcdef", "0123456789abcdef")
    assert turn_key("a/b") is None and turn_key(":x") is None and turn_key("x:") is None


def test_a_crafted_session_id_cannot_break_out_of_its_link() -> None:
    crafted = "x](javascript:alert(1)) [y](/evil"
    link = markdown_link(crafted, session_href(crafted))
    text, _, href = link[1:].partition("](")
    assert "](" not in text.replace("\\]", "").replace("\\(", "")
    assert href.endswith(")") and "(" not in href[:-1] and ")" not in href[:-1] and " " not in href
    assert dict(parse_qsl(urlsplit(href[:-1]).query)) == {"session": crafted}
    assert turn_href("ab", "cd") == "/turn?trace=ab&span=cd"


def test_a_search_is_read_from_the_url() -> None:
    chosen = session_query({"developer": " dev3 ", "repo": "", "from": "2026-01-05", "to": "2026-01-06"})
    assert (chosen.developer, chosen.repo, chosen.problems) == ("dev3", None, ())
    # a bare date in "to" means the end of that day
    assert (chosen.start, chosen.end) == (datetime(2026, 1, 5), datetime(2026, 1, 7))
    assert session_query({"from": "2026-01-05 14:30"}).start == datetime(2026, 1, 5, 14, 30)
    assert not session_query({}).filtered and session_query({"repo": "r"}).filtered


@pytest.mark.parametrize(("query", "problem"), [
    ({"from": "yesterday"}, "from 'yesterday' is not a date"),
    ({"to": "1900-01-01"}, "to '1900-01-01' is outside 2000 to 2100"),
    ({"from": "2026-02-01", "to": "2026-01-01"}, "the range ends before it starts"),
    ({"session": "s" * 300}, "session is longer than 256 characters"),
    ({"developer": "dev\x00"}, "developer holds control characters"),
])
def test_a_bad_search_is_refused_with_a_reason(query: dict[str, str], problem: str) -> None:
    problems = session_query(query).problems
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_count_axes_step_in_whole_numbers() -> None:
    assert count_axis(3) == {"rangemode": "tozero", "tickformat": ",d", "dtick": 1}
    assert "dtick" not in count_axis(240)


def _clusters(count: int) -> pl.DataFrame:
    end = datetime(2026, 1, 8)
    return pl.DataFrame([{
        "run_id": "r", "cluster": n, "name": f"cluster number {n} with a long name", "size": 40 - n,
        "cost_usd": 1.0 + n, "window_start": end - timedelta(days=7), "window_end": end,
        "window_counts": [n % 5, 1, 2, 3]} for n in range(count)])


def test_the_trend_figure_shows_every_cluster_in_its_legend() -> None:
    figure = cluster_trend_figure(_clusters(12))
    assert len(figure.data) == 12 and all(trace.showlegend is not False for trace in figure.data)
    assert figure.layout.yaxis.dtick == 1 and figure.layout.yaxis.tickformat == ",d"
    assert list(figure.data[0].x) == window_starts(datetime(2026, 1, 1), datetime(2026, 1, 8), 4)
    assert window_starts(datetime(2026, 1, 1), datetime(2026, 1, 8), 4)[1] == datetime(2026, 1, 2, 18)


def test_the_size_figure_carries_each_bars_cluster_for_the_click() -> None:
    figure = cluster_size_figure(_clusters(3))
    assert [point[0] for point in figure.data[0].customdata] == [2, 1, 0]
    assert figure.layout.xaxis.tickformat == ",d"

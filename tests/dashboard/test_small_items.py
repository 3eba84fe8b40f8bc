"""Small things a reader trips over (issue 19, item 10): the budgets of the active policy said in
words, every bar of a 25-bar chart labelled, the CSV's columns explained on the page instead of
a path into the repository."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from core.policy.schema import Budget
from dashboard.chargeback import CSV_COLUMN_MEANINGS, CSV_COLUMNS
from dashboard.figures.attribution import budget_figure
from dashboard.views.attribution import budget_sentence
from dashboard.views.chargeback import csv_columns


def test_the_active_policys_budgets_read_as_a_sentence() -> None:
    budgets = [Budget(scope="developer", name="*", monthly_usd=Decimal("40")),
               Budget(scope="team", name="platform", monthly_usd=Decimal("400"), soft=0.5, hard=1.0,
                      action="downgrade", downgrade_to="haiku")]
    assert budget_sentence("demo-1", budgets) == (
        "The active policy demo-1 sets 2 budgets: each developer $40.00 a month (soft at 80%, block at 110%); "
        "team platform $400.00 a month (soft at 50%, downgrade at 100%).")
    assert budget_sentence("v1", []) == "The active policy v1 sets no budgets."


def test_every_bar_of_a_long_chart_keeps_its_label() -> None:
    lines = pl.DataFrame([("repo", f"repo{n:02d}", Decimal(n + 1), None, None, None, "no budget") for n in range(25)],
                         orient="row", schema=["scope", "name", "spent_usd", "budget_usd", "soft_usd", "hard_usd",
                                               "state"])
    figure = budget_figure(lines, "repo")
    assert figure.layout.yaxis.dtick == 1 and len(figure.data[0].y) == 25
    assert figure.layout.height >= 25 * 26


def test_the_csv_columns_are_explained_on_the_page() -> None:
    assert tuple(CSV_COLUMN_MEANINGS) == CSV_COLUMNS  # a new column needs its meaning
    shown = str(csv_columns().to_plotly_json())
    assert all(name in shown for name in CSV_COLUMNS) and "docs/" not in shown

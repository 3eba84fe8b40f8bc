"""Attribution: this month's spend per developer, team and repo (summed from the hourly rollup,
like the store balances the proxies use) against the active policy's budgets, each principal ok,
soft or hard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import Dash, html

from core.policy.schema import Budget
from dashboard.budget_states import SCOPES, budget_lines, spend_by_scope
from dashboard.components import USD, column, counted, graph, grid, grid_rows, note, page, usd
from dashboard.context import DashboardContext
from dashboard.figures.attribution import budget_figure
from dashboard.filter_bar import filter_bar
from dashboard.filters import EVERYONE, Filters, read_filters
from store.balances import month_bounds, month_of
from store.policies import active_policy
from store.queries import rollup_frame

PATH = "/attribution"
TITLE = "Attribution"
LINE_COLUMNS = [
    column("scope", width=110), column("name"), column("spent_usd", "spent", formatter=USD),
    column("budget_usd", "monthly budget", formatter=USD), column("soft_usd", "soft at", formatter=USD),
    column("hard_usd", "hard at", formatter=USD), column("state", width=110),
]


def budget_sentence(version: str, budgets: Sequence[Budget]) -> str:
    """"The active policy v3 sets 2 budgets: each developer $40.00 a month (soft at 80 %, block at
    110 %); team platform $400.00 a month (…)." — what the bars below are measured against."""
    if not budgets:
        return f"The active policy {version} sets no budgets."
    said = [f"{'each ' + b.scope if b.name == '*' else f'{b.scope} {b.name}'} {usd(b.limit)} a {b.cadence} "
            f"(soft at {b.soft:.0%}, {b.action} at {b.hard:.0%})" for b in budgets]
    return f"The active policy {version} sets {counted(len(budgets), 'budget')}: {'; '.join(said)}."


def content(ctx: DashboardContext, filters: Filters = EVERYONE) -> list[Any]:
    month = month_of(ctx.now())
    usage = rollup_frame(ctx.engine, *month_bounds(month), by=SCOPES, **filters.named())
    spend = spend_by_scope(usage)
    active = active_policy(ctx.engine)
    budgets = active.policy().budgets if active is not None else ()
    lines = budget_lines(spend, budgets)
    if active is None:
        about = note("No policy is active, so no budgets apply.", "attribution-budgets")
    else:
        about = note(budget_sentence(active.version, budgets), "attribution-budgets")
    return [
        html.P(f"Month {month} (UTC), to date.", className="intro"), about,
        html.Div([graph(f"attribution-{scope}", budget_figure(lines, scope)) for scope in SCOPES],
                 className="figures"),
        grid("attribution-lines", grid_rows(lines), LINE_COLUMNS, height=420),
    ]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    filters = read_filters(query)
    # budgets are monthly: the month to date is the period, whatever the URL's
    return page(TITLE, filter_bar(ctx, filters, path=PATH, covers=f"month {month_of(ctx.now())} to date"),
                *content(ctx, filters))


def register(app: Dash, ctx: DashboardContext) -> None:
    """No controls: the router renders the page whole."""

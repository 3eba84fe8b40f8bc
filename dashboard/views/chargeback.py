"""Chargeback: pick a month and a grouping, preview the rows, download the same rows as CSV (the
download is a plain, signed-in-only URL served by the app: /export/chargeback.csv)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from dash import Dash, Input, Output, State, callback_context, dcc, html

from dashboard.chargeback import (
    CSV_COLUMN_MEANINGS,
    GROUPINGS,
    ChargebackRow,
    chargeback_rows,
    months_with_data,
    total_cost,
)
from dashboard.components import INTEGER, USD, column, grid, page
from dashboard.context import DashboardContext
from dashboard.export_route import EXPORT_PATH
from dashboard.month_actions import close_for_chargeback, month_state
from dashboard.settings import Role
from store.balances import month_of

PATH = "/chargeback"
TITLE = "Chargeback"
DEFAULT_GROUPING = "team"
PREVIEW_COLUMNS = [
    column("period", width=100), column("group"), column("requests", formatter=INTEGER),
    column("input_tokens", "input", formatter=INTEGER), column("output_tokens", "output", formatter=INTEGER),
    column("cache_write_tokens", "cache write", formatter=INTEGER),
    column("cache_read_tokens", "cache read", formatter=INTEGER), column("cost_usd", "cost (USD)", formatter=USD),
]


def export_href(month: str, by: str) -> str:
    return f"{EXPORT_PATH}?{urlencode({'month': month, 'by': by})}"


def preview_rows(rows: list[ChargebackRow]) -> list[dict[str, Any]]:
    return [{"period": r.period, "group": r.group or "(unknown)", "requests": r.requests,
             "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
             "cache_write_tokens": r.cache_write_tokens, "cache_read_tokens": r.cache_read_tokens,
             "cost_usd": float(r.cost_usd)} for r in rows]


def preview(ctx: DashboardContext, month: str, by: str) -> tuple[list[dict[str, Any]], str, str]:
    """(grid rows, total line, download link) for ``month`` grouped ``by``."""
    rows = chargeback_rows(ctx.engine, [month], by)
    total = (f"{len(rows)} rows, {sum(r.requests for r in rows):,} requests, total ${format(total_cost(rows), 'f')}"
             f" — {month} is {month_state(ctx.engine, month)}")
    return preview_rows(rows), total, export_href(month, by)


def content(ctx: DashboardContext) -> list[Any]:
    rows, total, _ = preview(ctx, month_of(ctx.now()), DEFAULT_GROUPING)
    return [rows, total]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    current = month_of(ctx.now())
    months = months_with_data(ctx.engine)
    if current not in months:
        months.insert(0, current)
    rows, total, href = preview(ctx, current, DEFAULT_GROUPING)
    controls = html.Div([
        dcc.Dropdown(id="chargeback-month", options=months, value=current, clearable=False,
                     style={"width": "10rem"}),
        dcc.RadioItems(id="chargeback-by", options=list(GROUPINGS), value=DEFAULT_GROUPING, inline=True),
        html.A("Download CSV", id="chargeback-download", href=href, download="", className="button"),
        dcc.ConfirmDialogProvider(
            html.Button("Close this month", id="chargeback-close",
                        disabled=not ctx.user().role.at_least(Role.approver)),
            id="chargeback-close-confirm",
            message="Close the month? Its chargeback becomes final: ingest refuses turns dated inside it, "
                    "and only an admin can reopen it."),
    ], className="controls")
    return page(TITLE, controls, html.P("", id="chargeback-status", role="status"),
                html.P(total, id="chargeback-total", className="intro"),
                grid("chargeback-preview", rows, PREVIEW_COLUMNS, height=420), csv_columns(),
                intro="Costs are exact (nano-dollar precision); what the CSV's columns mean is below the table. "
                      "Closing a month makes its numbers final: ingest then refuses turns dated inside it.")


def csv_columns() -> html.Details:
    return html.Details([
        html.Summary("What the CSV's columns mean"),
        html.Table([html.Tr([html.Th(name), html.Td(meaning)]) for name, meaning in CSV_COLUMN_MEANINGS.items()],
                   className="facts"),
    ], id="chargeback-columns", open=True)


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("chargeback-preview", "rowData"), Output("chargeback-total", "children"),
                  Output("chargeback-download", "href"),
                  Input("chargeback-month", "value"), Input("chargeback-by", "value"), prevent_initial_call=True)
    def _preview(month: str, by: str) -> tuple[list[dict[str, Any]], str, str]:
        return preview(ctx, month, by)

    @app.callback(Output("chargeback-status", "children"), Input("chargeback-close-confirm", "submit_n_clicks"),
                  State("chargeback-month", "value"), prevent_initial_call=True)
    def _close(_clicks: int | None, month: str | None) -> str:
        if callback_context.triggered_id != "chargeback-close-confirm":
            return ""
        return close_for_chargeback(ctx.engine, ctx.user(), month, ctx.now())

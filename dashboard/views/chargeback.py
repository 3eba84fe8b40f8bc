"""Chargeback: pick a month or a range of days and one or two dimensions, preview the rows (money in
whole cents), download the same rows as CSV (exact, with its columns explained below the table).
The choice is a plain GET form, so a view is a URL to share and survives a reload:
``/chargeback?month=2026-11&by=developer&then=repo`` or ``/chargeback?from=2026-11-03&to=2026-11-17&by=team``.
The download is the signed-in-only /export/chargeback.csv with the same parameters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from dash import Dash, Input, Output, State, callback_context, dcc, html

from core.cost_centres import CostCentres
from dashboard.chargeback import (
    CSV_COLUMN_MEANINGS,
    DIMENSIONS,
    EMPTY_MEANING,
    ChargebackError,
    ChargebackRequest,
    ChargebackRow,
    chargeback_request,
    chargeback_rows,
    load_cost_centres,
    months_with_data,
    total_cost,
)
from dashboard.components import INTEGER, USD, cents, column, counted, grid, note, page, to_cents
from dashboard.context import DashboardContext
from dashboard.export_route import EXPORT_PATH
from dashboard.month_actions import close_for_chargeback, period_state
from dashboard.settings import Role
from store.balances import month_of
from store.months import closed_month_names

PATH = "/chargeback"
TITLE = "Chargeback"
DEFAULT_GROUPING = "team"
PAGE_SIZE = 50
NAMES = {"developer": "developer", "team": "team", "repo": "repo", "model": "model", "cost_centre": "cost centre"}
COUNT_COLUMNS = [
    column("requests", formatter=INTEGER), column("unpriced_requests", "unpriced", formatter=INTEGER),
    column("input_tokens", "input", formatter=INTEGER), column("output_tokens", "output", formatter=INTEGER),
    column("cache_write_tokens", "cache write", formatter=INTEGER),
    column("cache_read_tokens", "cache read", formatter=INTEGER), column("cost_usd", "cost (USD)", formatter=USD),
]


PARAMETERS = ("month", "from", "to", "by", "then")


def export_href(query: Mapping[str, str]) -> str:
    """The CSV of the view ``query`` describes (the same parameters)."""
    return f"{EXPORT_PATH}?{urlencode({name: query[name] for name in PARAMETERS if query.get(name)})}"


def asked_for(ctx: DashboardContext, query: Mapping[str, str]) -> tuple[dict[str, str], ChargebackRequest]:
    """The view's parameters (this month by team when none are given) and the request they make."""
    chosen = {name: (query.get(name) or "").strip() for name in PARAMETERS}
    if not (chosen["month"] or chosen["from"] or chosen["to"]):
        chosen["month"] = month_of(ctx.now())
    chosen["by"] = chosen["by"] or DEFAULT_GROUPING
    asked = chargeback_request(months=[chosen["month"]] if chosen["month"] else [], first=chosen["from"] or None,
                               last=chosen["to"] or None, by=chosen["by"], then=chosen["then"] or None)
    return chosen, asked


def preview_rows(rows: list[ChargebackRow]) -> list[dict[str, Any]]:
    # cents, rounded half up (what the page shows); the CSV keeps the exact nano-dollars
    return [{**{name: value or ("(none)" if name == "cost_centre" else "(unknown)") for name, value in row.values},
             "requests": row.requests, "unpriced_requests": row.unpriced_requests, "input_tokens": row.input_tokens,
             "output_tokens": row.output_tokens, "cache_write_tokens": row.cache_write_tokens,
             "cache_read_tokens": row.cache_read_tokens, "cost_usd": float(to_cents(row.cost_usd))} for row in rows]


def _select(name: str, label: str, options: list[tuple[str, str]], chosen: str) -> html.Label:
    return html.Label([label, html.Select([html.Option(text, value=value, selected=value == chosen)
                                           for value, text in options], name=name, id=f"chargeback-{name}")],
                      className="field")


def _input(name: str, label: str, value: str) -> html.Label:
    return html.Label([label, dcc.Input(id=f"chargeback-{name}", name=name, value=value, type="text",
                                        placeholder="YYYY-MM-DD (UTC)")], className="field")


def form(ctx: DashboardContext, chosen: dict[str, str], href: str) -> html.Form:
    closed = closed_month_names(ctx.engine)
    months = months_with_data(ctx.engine)
    for month in (month_of(ctx.now()), chosen["month"]):
        if month and month not in months:
            months.insert(0, month)
    month_options = [("", "a range of days →"), *((m, f"{m} (closed)" if m in closed else m) for m in months)]
    dimensions = [(name, NAMES[name]) for name in DIMENSIONS]
    return html.Form([
        _select("month", "Month", month_options, chosen["month"]),
        _input("from", "or from", chosen["from"]), _input("to", "to (included)", chosen["to"]),
        _select("by", "Group by", dimensions, chosen["by"]),
        _select("then", "then by", [("", "nothing"), *dimensions], chosen["then"]),
        html.Button("Show", id="chargeback-show", type="submit", className="button"),
        html.A("Download CSV", id="chargeback-download", href=href, download="", className="button"),
    ], id="chargeback-form", action=PATH, method="get", className="controls")


def notes(centres: CostCentres, rows: list[ChargebackRow]) -> list[html.P]:
    """What the cost-centre column rests on: the file, and the teams of these rows it does not map."""
    if centres.source is None:
        return [note("No cost-centre file is set (SWITCHYARD_COST_CENTRES_FILE), so every cost centre is empty.",
                     "chargeback-centres")]
    path = Path(centres.source).name  # the file's name: where it lives on the server is not every viewer's business
    unmapped = centres.unmapped({row.value("team") for row in rows})
    if not unmapped:
        return [note(f"Cost centres from {path}.", "chargeback-centres")]
    shown = ", ".join(unmapped[:10]) + (f" and {len(unmapped) - 10} more" if len(unmapped) > 10 else "")
    fallback = f"they are billed to the default, {centres.default}" if centres.default else "their cost centre is empty"
    return [note(f"Cost centres from {path}; {counted(len(unmapped), 'team')} it does not list ({shown}): {fallback}.",
                 "chargeback-centres")]


def layout(ctx: DashboardContext, query: Mapping[str, str]) -> html.Div:
    intro = ("Money is shown in whole cents (rounded half up); the CSV has the exact costs, to the nano-dollar, so "
             "rounded rows can differ from the rounded total by a cent or two. Closing a month makes its numbers "
             "final: ingest then refuses turns dated inside it.")
    try:
        chosen, asked = asked_for(ctx, query)
        centres = load_cost_centres(ctx.settings.cost_centres_file)
        rows = chargeback_rows(ctx.engine, asked, centres)
    except ChargebackError as error:
        chosen = {name: query.get(name, "") for name in PARAMETERS}
        return page(TITLE, form(ctx, chosen, EXPORT_PATH), note(f"Not shown: {error}.", "chargeback-problem"),
                    csv_columns(), intro=intro)
    [period] = asked.periods
    total = (f"{counted(len(rows), 'row')}, {counted(sum(r.requests for r in rows), 'request')}, total "
             f"{cents(total_cost(rows))} — {period.label} ({period.first_day} to {period.last_day}, UTC) is "
             f"{period_state(ctx.engine, period)}")
    can_close = ctx.user().role.at_least(Role.approver) and period.month is not None
    closing = html.Div([dcc.ConfirmDialogProvider(
        html.Button(f"Close {period.label}" if period.month else "Close a month", id="chargeback-close",
                    disabled=not can_close, title="" if period.month else "only a whole month can be closed"),
        id="chargeback-close-confirm",
        message=f"Close {period.label}? Its chargeback becomes final: ingest refuses turns dated inside it, "
                "and only an admin can reopen it.")], className="controls")
    columns = [column(name, NAMES[name]) for name in asked.grouping.filled]
    return page(TITLE, form(ctx, chosen, export_href(chosen)), closing,
                html.P("", id="chargeback-status", role="status"),
                html.P(total, id="chargeback-total", className="intro"), *notes(centres, rows),
                grid("chargeback-preview", preview_rows(rows), [*columns, *COUNT_COLUMNS], page_size=PAGE_SIZE),
                csv_columns(), dcc.Store(id="chargeback-period", data=period.month), intro=intro)


def csv_columns() -> html.Details:
    return html.Details([
        html.Summary("What the CSV's columns mean"),
        html.Table([html.Tr([html.Th(name), html.Td(meaning)]) for name, meaning in CSV_COLUMN_MEANINGS.items()],
                   className="facts"),
        html.P(EMPTY_MEANING, className="note"),
    ], id="chargeback-columns", open=True)


def register(app: Dash, ctx: DashboardContext) -> None:
    @app.callback(Output("chargeback-status", "children"), Input("chargeback-close-confirm", "submit_n_clicks"),
                  State("chargeback-period", "data"), prevent_initial_call=True)
    def _close(_clicks: int | None, month: str | None) -> str:
        if callback_context.triggered_id != "chargeback-close-confirm":
            return ""
        return close_for_chargeback(ctx.engine, ctx.user(), month, ctx.now())

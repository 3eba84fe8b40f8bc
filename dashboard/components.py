"""Small layout pieces shared by the pages: a page frame, number cards, grids fed from polars
frames, and notes. Only presentation: no data access."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import dash_ag_grid as dag
import polars as pl
from dash import dcc, html
from dash.development.base_component import Component

# AG Grid formats numbers in the browser; d3-format is bundled with dash-ag-grid.
INTEGER = {"function": "params.value == null ? '' : d3.format(',')(params.value)"}
USD = {"function": "params.value == null ? '' : '$' + d3.format(',.2f')(params.value)"}
PERCENT = {"function": "params.value == null ? '' : d3.format('.1%')(params.value)"}


def page(title: str, *children: Component, intro: str | None = None) -> html.Div:
    header = [html.H2(title)]
    if intro:
        header.append(html.P(intro, className="intro"))
    return html.Div([*header, *children], className="page")


def card(label: str, value: str, card_id: str, hint: str | None = None) -> html.Div:
    body = [html.Div(label, className="card-label"), html.Div(value, className="card-value", id=card_id)]
    if hint:
        body.append(html.Div(hint, className="card-hint"))
    return html.Div(body, className="card")


def cards(*items: html.Div) -> html.Div:
    return html.Div(list(items), className="cards")


def graph(graph_id: str, figure: Any) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=figure, config={"displaylogo": False, "responsive": True})


def note(text: str, note_id: str | None = None) -> html.P:
    return html.P(text, className="note", id=note_id) if note_id else html.P(text, className="note")


def usd(value: Decimal | float | None, places: int = 2) -> str:
    return "–" if value is None else f"${value:,.{places}f}"


CENT = Decimal("0.01")


def to_cents(value: Decimal) -> Decimal:
    """Money for people: whole cents, half a cent rounded up (away from zero). Exports stay exact."""
    return value.quantize(CENT, ROUND_HALF_UP)


def cents(value: Decimal | None) -> str:
    """``$1,234.57``; ``< $0.01`` for spend too small to show as a cent (one cheap turn is not
    "$0.00"); ``–`` for no value."""
    if value is None:
        return "–"
    rounded = to_cents(value)
    if rounded == 0 and value > 0:
        return "< $0.01"
    return f"-${-rounded:,}" if rounded < 0 else f"${rounded:,}"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 tool call``, ``3 tool calls``."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def grid_value(value: Any) -> Any:
    """A cell as JSON: dates as ISO text, money as a float (grids display; exports stay exact)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return value


def grid_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{key: grid_value(value) for key, value in row.items()} for row in frame.iter_rows(named=True)]


def column(field: str, header: str | None = None, *, formatter: dict[str, str] | None = None,
           width: int | None = None, **extra: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {"field": field, "headerName": header or field.replace("_", " ")}
    if formatter is not None:
        definition["valueFormatter"] = formatter
        definition["type"] = "rightAligned"
    if width is not None:
        definition["width"] = width
    definition.update(extra)
    return definition


def grid(grid_id: str, rows: list[dict[str, Any]], columns: Sequence[dict[str, Any]], *, height: int = 360,
         row_id: str | None = None, page_size: int | None = None) -> dag.AgGrid:
    """A grid ``height`` pixels high, or, with ``page_size``, as high as its rows, a page at a time
    (no box that hides rows behind a scroll bar)."""
    options: dict[str, Any] = {"animateRows": False, "suppressCellFocus": False}
    style: dict[str, Any] = {"height": f"{height}px"}
    if page_size is not None:
        options.update(domLayout="autoHeight", pagination=True, paginationPageSize=page_size,
                       paginationPageSizeSelector=False)
        style = {}
    kwargs: dict[str, Any] = {}
    if row_id is not None:
        kwargs["getRowId"] = f"params.data.{row_id}"
    return dag.AgGrid(id=grid_id, rowData=rows, columnDefs=list(columns), columnSize="responsiveSizeToFit",
                      defaultColDef={"sortable": True, "filter": True, "resizable": True},
                      dashGridOptions=options, style=style,
                      **kwargs)


def link_column(field: str, header: str | None = None, **extra: Any) -> dict[str, Any]:
    """A column of Markdown links (dashboard.links.markdown_link), opened in the same tab."""
    return column(field, header, cellRenderer="markdown", **extra)

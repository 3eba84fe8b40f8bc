"""The composition root: ``create_app(settings, engine)`` builds the Flask server (sign-in gate,
/healthz, the CSV export) and the Dash app on it (a shell with navigation, a router callback that
renders the page for the URL, and each page's callbacks). Nothing happens at import."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from dash import Dash, Input, Output, State, dcc, html
from flask import Flask, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from core.pricing import PriceTable, builtin_price_table, load_price_table
from dashboard.auth import FAVICON_PATH, HEALTH_PATH, LOGOUT_PATH, install_auth, signed_in_user
from dashboard.chargeback import load_cost_centres
from dashboard.components import note
from dashboard.context import DashboardContext, utc_now
from dashboard.export_route import install_export
from dashboard.filter_bar import carried
from dashboard.session_admin import install_session_admin
from dashboard.settings import DashboardSettings, Role
from dashboard.views import (
    attribution,
    chargeback,
    failures,
    findings,
    keys,
    overview,
    policies,
    proposals,
    routes,
    sessions,
    turn,
)

log = logging.getLogger(__name__)

VIEWS = (overview, routes, attribution, sessions, failures, findings, policies, proposals, chargeback, keys)
# pages reached by links from the others, not from the navigation
LINKED_VIEWS = (turn,)
ASSETS = Path(__file__).parent / "assets"


def load_prices(settings: DashboardSettings) -> PriceTable:
    if settings.prices_file is None:
        return builtin_price_table()
    return load_price_table(settings.prices_file.read_text(encoding="utf-8"))


def create_app(settings: DashboardSettings, engine: Engine, *, prices: PriceTable | None = None,
               clock: Callable[[], datetime] = utc_now) -> Dash:
    """The dashboard on ``engine``; serve ``app.server`` (a Flask app) with any WSGI server."""
    load_cost_centres(settings.cost_centres_file)  # an unusable file stops the dashboard at start, saying why
    ctx = DashboardContext(engine, settings, prices or load_prices(settings), clock)
    server = Flask("switchyard.dashboard")
    install_auth(server, settings, engine)  # first, so its gate runs before anything Dash adds
    server.add_url_rule(HEALTH_PATH, "healthz", lambda: _health(engine))
    server.add_url_rule(FAVICON_PATH, "favicon", lambda: Response(
        FAVICON, mimetype="image/svg+xml", headers={"cache-control": "public, max-age=86400"}))
    install_export(server, ctx)
    install_session_admin(server, settings, engine)
    app = Dash("switchyard.dashboard", server=server, title="switchyard", update_title=None,
               assets_folder=str(ASSETS), suppress_callback_exceptions=True, serve_locally=True)
    app.layout = lambda: _shell(ctx)
    _register_router(app, ctx)
    for view in (*VIEWS, *LINKED_VIEWS):
        view.register(app, ctx)
    return app


# A switch of rails on a blue square: an icon for the tab (served without a session: it holds no data).
FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
           b'fill="#2b6cb0"/><path d="M2 5h12M2 11h12M5 5l6 6" stroke="#fff" stroke-width="1.6" fill="none"/></svg>')


def _health(engine: Engine) -> Response:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("health check: database unavailable: %s", error)
        return Response('{"status": "database unavailable"}', status=503, mimetype="application/json")
    return Response('{"status": "ok"}', mimetype="application/json")


def _shell(ctx: DashboardContext) -> html.Div:
    user = signed_in_user(ctx.settings)
    who = f"{user.name} ({user.role.value})" if user else ""
    # a page for a higher role (Keys: admins) is left out of the others' navigation; the page and its
    # actions check the role again on the server
    return html.Div([
        dcc.Location(id="url"),
        html.Nav([html.Span("switchyard", className="brand"), html.Span(_nav_links(ctx, ""), id="nav-links"),
                  html.Span(who, id="nav-user"),
                  html.Form(html.Button("Sign out", id="sign-out"), action=LOGOUT_PATH, method="post")],
                 className="nav"),
        html.Main(id="page"),
    ])


def _nav_links(ctx: DashboardContext, search: str) -> list[dcc.Link]:
    """The pages the signed-in user may see, each link carrying the global filters (``search``)."""
    user = signed_in_user(ctx.settings)
    # a page for a higher role (Keys: admins) is left out of the others' navigation; the page and its
    # actions check the role again on the server
    return [dcc.Link(view.TITLE, href=view.PATH + search, id=f"nav-{view.__name__.rsplit('.', 1)[-1]}")
            for view in VIEWS if user is not None and user.role.at_least(getattr(view, "ROLE", Role.viewer))]


def _register_router(app: Dash, ctx: DashboardContext) -> None:
    by_path = {view.PATH: view for view in (*VIEWS, *LINKED_VIEWS)}

    @app.callback(Output("nav-links", "children"), Input("url", "search"))
    def _carry_filters(search: str | None) -> list[dcc.Link]:
        return _nav_links(ctx, carried(search))

    @app.callback(Output("page", "children"), Input("url", "pathname"), State("url", "search"))
    def _route(pathname: str | None, search: str | None) -> Any:
        view = by_path.get((pathname or "/").rstrip("/") or "/")
        if view is None:
            return note(f"No page at {pathname}.", "not-found")
        query = dict(parse_qsl((search or "").lstrip("?")))
        try:
            return view.layout(ctx, query)
        except SQLAlchemyError:  # the page's boundary: say so on the page, keep the rest working
            log.exception("dashboard page %s failed", view.PATH)
            return note("The database could not be read; see the dashboard's log.", "page-error")

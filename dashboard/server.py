"""Serve the dashboard: a threaded WSGI server (werkzeug's, which ships with Flask) in front of
``create_app``. For more than a handful of users, put ``app.server`` behind a production WSGI
server (gunicorn, waitress) instead; the app itself does not care."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from werkzeug.serving import make_server

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from store.engine import make_engine

log = logging.getLogger(__name__)


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(settings: DashboardSettings) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM)."""
    engine = make_engine(settings.database_url, data_dir=settings.data_dir)
    app = create_app(settings, engine)
    server = make_server(settings.host, settings.port, app.server, threaded=True)
    if not settings.users:
        log.warning("no dashboard users configured (SWITCHYARD_DASHBOARD_USERS): nobody can sign in")
    log.info("dashboard on http://%s:%d", settings.host, server.server_port)
    if threading.current_thread() is threading.main_thread():
        # systemd, docker and `switchyard up` stop services with SIGTERM: stop like on Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()  # returns on KeyboardInterrupt (werkzeug catches it)
        log.info("dashboard stopped")
    finally:
        server.server_close()
        engine.dispose()

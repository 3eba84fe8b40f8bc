"""Serve the dashboard: waitress, a production WSGI server (pure Python, multi-threaded, one
process), in front of ``create_app``. One process on purpose: sign-in throttling and the session
registry live in its memory (docs/dashboard.md), so do not run several behind a balancer."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from waitress import create_server

from dashboard.app import create_app
from dashboard.header_deadline import with_header_deadline
from dashboard.settings import DashboardSettings
from store.engine import make_engine

log = logging.getLogger(__name__)


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(settings: DashboardSettings) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM)."""
    engine = make_engine(settings.database_url, data_dir=settings.data_dir)
    app = create_app(settings, engine)
    # No trusted_proxy: the client address (throttling, audit) is the socket's peer, and
    # X-Forwarded-* headers, which anyone can send, are ignored.
    server = create_server(app.server, host=settings.host, port=settings.port, threads=settings.threads,
                           ident="switchyard-dashboard", max_request_header_size=settings.max_header_bytes)
    server.channel_class = with_header_deadline(settings.header_timeout_s)
    if not settings.users:
        log.warning("no dashboard users configured (SWITCHYARD_DASHBOARD_USERS): nobody can sign in")
    log.info("dashboard on http://%s:%d (waitress, %d threads)", settings.host, server.effective_port,
             settings.threads)
    if threading.current_thread() is threading.main_thread():
        # systemd, docker and `switchyard up` stop services with SIGTERM: stop like on Ctrl-C.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()  # returns on KeyboardInterrupt (waitress catches it and stops its threads)
        log.info("dashboard stopped")
    finally:
        server.close()
        engine.dispose()

"""The proxy process as `switchyard up` and `switchyard proxy` run it: the proxy, with the sign-in
service mounted on its base URL when ``SWITCHYARD_OIDC_ISSUER`` is set (docs/identity.md).

The composition root for the two: the proxy never imports the sign-in service (nor the store it
keeps its state in); it is handed the ASGI app for the sign-in paths and the bearer verifier that
reads the same signing keys. ``python -m switchyard.proxy_process`` runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from proxy.app import ProxyApp
from proxy.settings import ProxySettings
from signin.settings import SigninSettings


def build_proxy(settings: ProxySettings, signin_settings: SigninSettings | None = None, *,
                clock: Callable[[], float] = time.time) -> ProxyApp:
    """The proxy; with sign-in mounted when ``signin_settings`` (by default from the environment) has
    an issuer. ``clock``: the sign-in service's wall clock (tests move it)."""
    signin_settings = signin_settings if signin_settings is not None else SigninSettings()
    if not signin_settings.enabled:
        return ProxyApp(settings)
    # Only now: a proxy without sign-in never loads the store (SQLAlchemy, Alembic) at all.
    from proxy.bearer import BearerVerifier
    from signin.app import SigninApp
    from store.engine import make_engine
    from store.migrate import upgrade

    engine = make_engine(signin_settings.database_url, data_dir=signin_settings.data_dir)
    upgrade(engine)  # idempotent; ingest does the same on its start
    signin = SigninApp(signin_settings, engine=engine, clock=clock)
    bearer = BearerVerifier(signin.keys_file, issuer=signin_settings.base, audience=signin_settings.base)
    signin.on_revocations(bearer.set_revoked)
    app = ProxyApp(settings, signin=signin, bearer=bearer)

    async def run_signin() -> None:
        try:
            await signin.run()
        finally:
            engine.dispose()

    app.jobs.append(run_signin)
    return app


def main(settings: ProxySettings | None = None) -> None:
    from proxy.server import main as serve

    settings = settings or ProxySettings()
    serve(settings, app=build_proxy(settings))


if __name__ == "__main__":
    main()

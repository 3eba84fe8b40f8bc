"""A test OpenID Connect provider: a background-thread server for tests and a standalone process.

In tests::

    with TestIdP() as idp:                       # alice / bob / carol (sim/idp_config.py)
        idp.issuer                               # http://127.0.0.1:PORT (discovery below it)
        idp.state.disable("bob")                 # deprovision: no sign-in, no refresh
        idp.state.keys.rotate("ES256")           # new signing key; the old one stays in the JWKS
        idp.go_down(); ...; idp.come_back()      # an outage: connections refused, then the same port again

Standalone (the demo, ``switchyard doctor``)::

    python -m sim.idp --port 9400 --client-id switchyard --client-secret switchyard-secret
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import Sequence
from types import TracebackType

from aiohttp import web

from sim.idp_app import IdpState, create_idp_app
from sim.idp_config import DEMO_USERS, IdpClient, IdpConfig

STARTUP_TIMEOUT_S = 10.0


class TestIdP:
    """Runs the IdP on 127.0.0.1 (ephemeral port by default) in a thread with its own event loop."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, config: IdpConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = IdpState(config if config is not None else IdpConfig())
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> TestIdP:
        if self._thread is not None:
            raise RuntimeError("TestIdP already started")
        self._thread = threading.Thread(target=self._run, name="test-idp", daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S):
            raise RuntimeError("test IdP did not start in time")
        if self._error is not None:
            raise RuntimeError("test IdP failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STARTUP_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> TestIdP:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to start() if it happened before the server was up
            if self._ready.is_set():
                raise
            self._error = error
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._runner = web.AppRunner(create_idp_app(self.state), access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        try:
            await self._listen()
            self.state.issuer = f"http://{self._host}:{self._port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await self._runner.cleanup()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await self._site.start()
        self._port = int(self._site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def _call(self, coroutine: object) -> None:
        if self._loop is None:
            raise RuntimeError("test IdP is not running")
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(STARTUP_TIMEOUT_S)  # type: ignore[arg-type]

    def go_down(self) -> None:
        """An outage: the port stops listening (connections refused) until :meth:`come_back`."""

        async def close() -> None:
            if self._site is not None:
                await self._site.stop()
                self._site = None
            assert self._runner is not None and self._runner.server is not None
            for connection in self._runner.server.connections:  # kept-alive ones too: a real outage
                connection.force_close()

        self._call(close())

    def come_back(self) -> None:
        """Listen again on the same port (same issuer, same keys, same users)."""

        async def reopen() -> None:
            if self._site is None:
                await self._listen()

        self._call(reopen())

    @property
    def issuer(self) -> str:
        if not self.state.issuer:
            raise RuntimeError("test IdP is not running")
        return self.state.issuer

    @property
    def port(self) -> int:
        return self._port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sim.idp", description="A test OpenID Connect provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--client-id", default="switchyard")
    parser.add_argument("--client-secret", default="switchyard-secret",
                        help="the client's secret ('' for a public client: PKCE only)")
    parser.add_argument("--redirect-uri", action="append", default=[],
                        help="a registered redirect URI (repeatable; none: any loopback http URI)")
    parser.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    parser.add_argument("--token-ttl", type=int, default=3600, help="ID token lifetime, seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    client = IdpClient(args.client_id, args.client_secret or None, tuple(args.redirect_uri))
    config = IdpConfig(users=DEMO_USERS, clients=(client,), alg=args.alg, id_token_ttl_s=args.token_ttl)
    idp = TestIdP(config, host=args.host, port=args.port).start()
    print(f"test IdP on {idp.issuer} (users: {', '.join(u.username for u in DEMO_USERS)}; "
          f"passwords: <name>-password; client {args.client_id})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        idp.stop()


if __name__ == "__main__":
    main()

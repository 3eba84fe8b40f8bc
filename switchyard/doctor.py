"""`switchyard doctor`: check the configuration and the connections a deployment needs, and say
plainly what is wrong and what to do. Reads the same settings the services read."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from proxy.keyfile import KeyFileError, load_keyring
from proxy.providers.registry import Upstreams
from proxy.routing import load_routing_file
from proxy.settings import ProxySettings
from store.engine import make_engine
from store.migrate import alembic_config


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _reachable(url: str, timeout_s: float = 3.0) -> str | None:
    """None when a TCP connection to the URL's host and port opens; else why not."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{parts.hostname}:{port} is not reachable ({exc.strerror or type(exc).__name__})"


def _provider_key(settings: ProxySettings) -> Check:
    if settings.passthrough:
        return Check("provider key", True, "pass-through: developers' own keys are forwarded")
    try:
        keys = settings.all_provider_keys()
    except (OSError, PermissionError) as exc:
        return Check("provider key", False, str(exc))
    if "default" not in keys:
        return Check("provider key", False,
                     "set SWITCHYARD_UPSTREAM_API_KEY (or SWITCHYARD_UPSTREAM_API_KEY_FILE, mode 600)")
    return Check("provider key", True, f"{len(keys)} provider key(s) configured (values not shown)")


def _virtual_keys(settings: ProxySettings) -> Check:
    try:
        ring = load_keyring(settings.keys_file)
    except KeyFileError as exc:
        return Check("virtual keys", False, str(exc))
    if not len(ring) and not settings.snapshot_url:
        return Check("virtual keys", False, f"no keys in {settings.keys_file}: `switchyard keys create --developer …`")
    return Check("virtual keys", True, f"{len(ring)} in {settings.keys_file}"
                 + (" (and those of the snapshot)" if settings.snapshot_url else ""))


def _policy(settings: ProxySettings) -> Check:
    if settings.policy_file is None:
        return Check("policy", True, "no policy file: the snapshot's active version, or every turn to "
                     f"{settings.upstream_url}")
    try:
        routing = load_routing_file(settings.policy_file, settings.all_provider_keys(),
                                    passthrough=settings.passthrough, allowlist=settings.allowlist())
    except (OSError, ValueError) as exc:
        return Check("policy", False, f"{settings.policy_file}: {exc}")
    warnings = len(routing.compiled.warnings)
    return Check("policy", True, f"{routing.version} from {settings.policy_file} ({warnings} warning(s))")


def _provider_credentials(settings: ProxySettings) -> Check | None:
    """Targets of other providers whose cloud credentials cannot be loaded here (the proxy reports
    them at start and its chain skips them after the first failure)."""
    if settings.policy_file is None:
        return None
    try:
        routing = load_routing_file(settings.policy_file, settings.all_provider_keys(),
                                    passthrough=settings.passthrough, allowlist=settings.allowlist())
    except (OSError, ValueError):
        return None  # the policy check says why
    targets = tuple(t for t in routing.compiled.policy.targets if not t.uses_provider_key)
    if not targets:
        return None
    problems = asyncio.run(Upstreams(ping_every_s=settings.provider_ping_s).problems(targets))
    if problems:
        return Check("provider credentials", False, "; ".join(f"{name}: {why}" for name, why in problems.items()))
    return Check("provider credentials", True, ", ".join(f"{t.name} ({t.provider}, {t.auth})" for t in targets))


def _database() -> Check:
    url = os.environ.get("DATABASE_URL")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    except SQLAlchemyError as exc:
        return Check("database", False, f"{engine.url.render_as_string(hide_password=True)}: {exc.__class__.__name__}")
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    if current != head:
        return Check("database", False, f"{where} is at {current}, code expects {head}: `switchyard store migrate`")
    return Check("database", True, f"{where} at migration {head}")


def _endpoint(name: str, url: str | None, probe: Callable[[str], str | None]) -> Check | None:
    if not url:
        return None
    problem = probe(url)
    return Check(name, problem is None, problem or f"{url} reachable")


def _snapshot(settings: ProxySettings) -> Check | None:
    if not settings.snapshot_url:
        return None
    token = settings.snapshot_token.get_secret_value() if settings.snapshot_token else None
    try:
        response = httpx.get(settings.snapshot_url, timeout=5,
                             headers={"authorization": f"Bearer {token}"} if token else {})
    except httpx.HTTPError as exc:
        return Check("snapshot", False, f"{settings.snapshot_url}: {type(exc).__name__}")
    if response.status_code != 200:
        return Check("snapshot", False, f"{settings.snapshot_url} answered {response.status_code}"
                     + (": check SWITCHYARD_SNAPSHOT_TOKEN" if response.status_code == 401 else ""))
    return Check("snapshot", True, f"{settings.snapshot_url} answered with the control plane's state")


def _ingest(settings: ProxySettings) -> Check | None:
    """An empty export with the proxy's token: 200 means ingest takes this proxy's spans."""
    if not settings.otlp_endpoint:
        return None
    token = settings.otlp_token.get_secret_value() if settings.otlp_token else None
    headers = {"content-type": "application/x-protobuf"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        response = httpx.post(settings.otlp_endpoint, content=b"", headers=headers, timeout=5)
    except httpx.HTTPError as exc:
        return Check("ingest (OTLP)", False, f"{settings.otlp_endpoint}: {type(exc).__name__}")
    if response.status_code == 401:
        what = "is not one of ingest's" if token else "is not set"
        fix = "add it to ingest's SWITCHYARD_INGEST_TOKENS as a proxy token; until then no spend is recorded"
        return Check("ingest (OTLP)", False, f"SWITCHYARD_OTLP_TOKEN {what}: {fix}")
    if response.status_code == 403:
        return Check("ingest (OTLP)", False, "SWITCHYARD_OTLP_TOKEN is a telemetry token: spans need a proxy token")
    if response.status_code != 200:
        return Check("ingest (OTLP)", False, f"{settings.otlp_endpoint} answered {response.status_code}")
    return Check("ingest (OTLP)", True, f"{settings.otlp_endpoint} takes this proxy's spans")


def run_checks(settings: ProxySettings) -> list[Check]:
    checks = [_provider_key(settings), _virtual_keys(settings), _policy(settings), _provider_credentials(settings),
              _database(),
              _endpoint("upstream", settings.upstream_url, _reachable),
              _ingest(settings),
              _endpoint("redis", settings.redis_url, _reachable), _snapshot(settings)]
    return [c for c in checks if c is not None]

"""Where the proxy's routing comes from: a policy file (watched, hot-reloaded) or, without one, a
built-in single-target policy made from the settings. Swapped whole by reference assignment; an
in-flight request keeps the table it started with.

A table knows which of its targets' base URLs passed the upstream allowlist when it was built
(``allowed``); ``credential()`` refuses any other target before a key is attached, so a table that
was never checked sends nothing anywhere (defence in depth behind the check at load)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.policy.compile import CompiledPolicy, compile_policy
from core.policy.load import load_policy
from core.policy.problems import PolicyError
from core.policy.schema import Default, Fallback, Policy, Target
from core.upstreams import Allowlist

from .errors import UpstreamFailure
from .settings import ProxySettings

log = logging.getLogger("switchyard.proxy.routing")

BUILTIN_VERSION = "builtin"


class RoutingError(ValueError):
    """A policy the proxy refuses to run; the message lists why."""


@dataclass(frozen=True, slots=True)
class Routing:
    compiled: CompiledPolicy
    provider_keys: Mapping[str, str] = field(repr=False)
    # base URLs checked against the allowlist when this table was built: a set lookup per attempt
    allowed: frozenset[str] = frozenset()

    @property
    def version(self) -> str:
        return self.compiled.version

    def credential(self, target: Target, forward_own_key: bool = False) -> str | None:
        """The provider key for ``target`` (None when the client's own credential is forwarded);
        UpstreamFailure, before any key is attached, when its base URL is not allowed."""
        if target.base_url not in self.allowed:
            log.error("refused to send policy %s's target %s to %r: not checked against the upstream allowlist "
                      "(no request was made)", self.version, target.name, target.base_url)
            raise UpstreamFailure("refused", f"upstream {target.name} is outside SWITCHYARD_ALLOWED_UPSTREAMS; "
                                  "no request was sent to it", status=502)
        return None if forward_own_key else self.provider_keys.get(target.provider_key)

    def default_chain(self) -> tuple[Target, ...]:
        """Where calls that are not turns (models, files, batches…) go: the default route."""
        return tuple(self.compiled.target(name) for name in self.compiled.policy.default.route)


def builtin_policy(settings: ProxySettings) -> Policy:
    """One target, the configured upstream; no fallback (there is nowhere to fall back to)."""
    return Policy(
        version=BUILTIN_VERSION,
        description="built-in: every turn to SWITCHYARD_UPSTREAM_URL",
        targets=(Target(name="default", base_url=settings.upstream_url, auth=settings.upstream_auth),),  # type: ignore[arg-type]
        default=Default(route=("default",)),
        fallback=Fallback(max_hops=1),
    )


def routing_for(policy: Policy, provider_keys: Mapping[str, str], *, passthrough: bool,
                allowlist: Allowlist | None = None) -> Routing:
    """Compile ``policy`` and check that every provider key it names is held (unless the
    developers' own keys are forwarded) and, given ``allowlist``, that every target is allowed.
    Without one, no target is (``allowed_by`` checks it later)."""
    compiled = compile_policy(policy)
    if not passthrough:
        missing = sorted({t.provider_key for t in policy.targets if t.uses_provider_key} - set(provider_keys))
        if missing:
            raise RoutingError(
                f"policy {policy.version} names provider keys this proxy does not hold: {', '.join(missing)} "
                "(set SWITCHYARD_UPSTREAM_API_KEY for 'default', SWITCHYARD_PROVIDER_KEYS for others)"
            )
    routing = Routing(compiled, dict(provider_keys))
    return routing if allowlist is None else allowed_by(routing, allowlist)


def load_routing_file(path: Path, provider_keys: Mapping[str, str], *, passthrough: bool,
                      allowlist: Allowlist | None = None) -> Routing:
    return routing_for(load_policy(path.read_text()), provider_keys, passthrough=passthrough, allowlist=allowlist)


def allowed_by(routing: Routing, allowlist: Allowlist) -> Routing:
    """``routing`` with its targets allowed; RoutingError naming each target the allowlist refuses."""
    problems = allowlist.problems(routing.compiled.policy)
    if problems:
        raise RoutingError(str(PolicyError(problems, f"policy {routing.version}")))
    return replace(routing, allowed=frozenset(t.base_url for t in routing.compiled.policy.targets))


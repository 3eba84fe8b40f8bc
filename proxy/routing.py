"""Where the proxy's routing comes from: a policy file (watched, hot-reloaded) or, without one, a
built-in single-target policy made from the settings. Swapped whole by reference assignment; an
in-flight request keeps the table it started with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.policy.compile import CompiledPolicy, compile_policy
from core.policy.load import load_policy
from core.policy.schema import Default, Fallback, Policy, Target

from .settings import ProxySettings

BUILTIN_VERSION = "builtin"


class RoutingError(ValueError):
    """A policy the proxy refuses to run; the message lists why."""


@dataclass(frozen=True, slots=True)
class Routing:
    compiled: CompiledPolicy
    provider_keys: Mapping[str, str] = field(repr=False)

    @property
    def version(self) -> str:
        return self.compiled.version

    def credential(self, target: Target) -> str | None:
        return self.provider_keys.get(target.provider_key)

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


def routing_for(policy: Policy, provider_keys: Mapping[str, str], *, passthrough: bool) -> Routing:
    """Compile ``policy`` and check that every provider key it names is held (unless the
    developers' own keys are forwarded)."""
    compiled = compile_policy(policy)
    if not passthrough:
        missing = sorted({t.provider_key for t in policy.targets} - set(provider_keys))
        if missing:
            raise RoutingError(
                f"policy {policy.version} names provider keys this proxy does not hold: {', '.join(missing)} "
                "(set SWITCHYARD_UPSTREAM_API_KEY for 'default', SWITCHYARD_PROVIDER_KEYS for others)"
            )
    return Routing(compiled, dict(provider_keys))


def load_routing_file(path: Path, provider_keys: Mapping[str, str], *, passthrough: bool) -> Routing:
    return routing_for(load_policy(path.read_text()), provider_keys, passthrough=passthrough)


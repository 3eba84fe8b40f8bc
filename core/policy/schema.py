"""The routing policy document (YAML or JSON), as the proxy runs it and the optimizer rewrites it.

A policy is an immutable, versioned document: ``targets`` (where a turn can go), ordered ``rules``
(first match wins) with a required ``default``, ``fallback`` (how a chain is walked), ``sticky``
pools (keep a session on one of several equivalent targets so its prompt cache stays warm),
``exploration`` (a share of sessions sent to a randomised tier, for the optimizer's estimates),
``budgets``, ``guardrails`` (what the egress secret scanner does: docs/guardrails.md) and
``managed_settings`` (Claude Code settings per group: docs/identity.md). Models
are named by tier in predicates; concrete model ids live in targets (data, never code). The full
reference is docs/policy.md.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.policy.managed_settings import ManagedSettings
from core.providers.kinds import DEFAULT_AUTH, Auth, Provider, default_base_url
from core.upstreams import UpstreamError, parse_base_url

Tier = Literal["haiku", "sonnet", "opus"]
TIERS: tuple[Tier, ...] = ("haiku", "sonnet", "opus")  # cheapest first
RequestClass = Literal["main", "subagent", "workflow", "compaction", "auxiliary"]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_SEGMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,51}$"  # exploration:<name> is a rule name (_NAME)
_REGION = r"^[a-z0-9][a-z0-9-]{0,39}$"  # us-east-1, europe-west4, global: it goes into host names and URLs
_PROJECT = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"  # Google Cloud's rule for project ids


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Target(_Frozen):
    """An upstream and the concrete model a turn gets there: an Anthropic-compatible base URL, or
    another provider of Claude (``provider``: Bedrock, Bedrock Mantle, Vertex AI; docs/providers/)."""

    name: str = Field(pattern=_NAME)
    provider: Provider = Field("anthropic", description="anthropic | bedrock | bedrock-mantle | vertex")
    base_url: str = Field(description="e.g. https://api.anthropic.com; must be in SWITCHYARD_ALLOWED_UPSTREAMS. "
                          "Other providers default to their public endpoint for the region")
    model: str | None = Field(None, description="concrete model id (the provider's own id for other providers); "
                              "None keeps the requested model")
    provider_key: str = Field("default", pattern=_NAME,
                              description="name of a provider key the proxy holds; never the key itself")
    auth: Auth = Field("x-api-key", description="x-api-key | bearer (a provider key); aws (SigV4 from the AWS "
                       "credential chain) | google (Application Default Credentials); defaults per provider")
    region: str | None = Field(None, pattern=_REGION)
    project: str | None = Field(None, pattern=_PROJECT, description="Vertex AI: the Google Cloud project id")
    tier: Tier | None = None

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, data: Any) -> Any:
        # Filled in before validation, so a stored policy always spells them out and a dump of it
        # reads the same everywhere (hashing, diffs).
        if not isinstance(data, dict):
            return data
        provider = data.get("provider", "anthropic")
        if provider not in DEFAULT_AUTH:
            return data  # the Literal reports it
        data = dict(data)
        data.setdefault("auth", DEFAULT_AUTH[provider])
        if "base_url" not in data and provider != "anthropic":
            base_url = default_base_url(provider, data.get("region"))
            if base_url is None:
                raise ValueError(f"a {provider} target needs region (its endpoint and signature are made from it)")
            data["base_url"] = base_url
        return data

    @field_validator("base_url")
    @classmethod
    def _plain_base_url(cls, value: str) -> str:
        # the shape only (scheme, host, no userinfo/query/fragment); whether the host is allowed is
        # the allowlist's call (core.upstreams), made where it is configured
        try:
            parse_base_url(value)
        except UpstreamError as error:
            raise ValueError(f"{value!r} {error}") from None
        return value

    @property
    def uses_provider_key(self) -> bool:
        """Whether a named provider key authenticates it (not a cloud credential chain)."""
        return self.auth in ("x-api-key", "bearer")


class IntRange(_Frozen):
    """A half-open range ``gte <= value < lt``; either bound may be left out."""

    gte: int | None = None
    lt: int | None = None


class Match(_Frozen):
    """A rule's predicates; all given ones must hold (an empty match always holds)."""

    input_tokens: IntRange | None = Field(None, description="estimated input tokens of the request")
    tool_count: IntRange | None = None
    requested_tier: tuple[Tier, ...] | None = Field(None, description="tier of the model the client asked for")
    thinking: bool | None = None
    request_class: tuple[RequestClass, ...] | None = Field(None, description="Claude Code's hint header")
    agent_type: tuple[str, ...] | None = None
    developer: tuple[str, ...] | None = None
    team: tuple[str, ...] | None = None
    repo: tuple[str, ...] | None = None
    group: tuple[str, ...] | None = Field(None, description="holds when the caller is in one of these groups "
                                          "(a /login bearer's IdP groups; a virtual key's listed groups)")
    session_bucket: IntRange | None = Field(None, description="bucket 0..99 of the session id's hash")


class Arm(_Frozen):
    """One arm of a weighted split: sessions are assigned by hash, never at random."""

    weight: float = Field(gt=0)
    route: tuple[str, ...] = Field(min_length=1)
    model: str | None = None


class Rule(_Frozen):
    name: str = Field(pattern=_NAME)
    when: Match = Match()
    route: tuple[str, ...] | None = Field(None, description="target chain, first choice first")
    split: tuple[Arm, ...] | None = Field(None, description="instead of route: weighted arms")
    model: str | None = Field(None, description="rewrite the request's model (overrides the target's)")
    # routing ignores it; the optimizer never changes a pinned rule (null and false: it may)
    pinned: bool | None = Field(None, description="the optimizer keeps this rule as written")


class Default(_Frozen):
    route: tuple[str, ...] = Field(min_length=1)
    model: str | None = None


class Fallback(_Frozen):
    """How a chain is walked when a target fails before the first byte reached the client."""

    on_status: tuple[int, ...] = (429, 500, 502, 503, 504, 529)
    on_connect_error: bool = True
    on_timeout: bool = True
    max_hops: int = Field(3, ge=1, le=10, description="attempts in all, across the chain")
    retries_per_target: int = Field(0, ge=0, le=1)
    cooldown_s: float = Field(30.0, ge=0, description="a failed target is skipped this long (circuit breaker)")
    honour_retry_after: bool = True
    max_retry_after_s: float = Field(60.0, ge=0)


class StickyPool(_Frozen):
    """Equivalent targets (e.g. regions): a session keeps landing on the same one."""

    name: str = Field(pattern=_NAME)
    targets: tuple[str, ...] = Field(min_length=2)


class ExplorationSegment(_Frozen):
    """Sessions matching ``when`` explored at their own ``share`` (more than the block's: evidence
    where candidates differ). Compiles into a rule placed before the block's own (exploration.py)."""

    when: Match = Field(description="the usual predicates, except session_bucket (the share picks the buckets)")
    share: float = Field(description="share of the segment's sessions explored, 0..0.5 in whole percent")
    name: str | None = Field(None, pattern=_SEGMENT_NAME,
                             description="names the rule, exploration:<name> (default: its position, from 1)")


class Exploration(_Frozen):
    """A small share of sessions, chosen by the session id's hash, routed to one of ``targets`` at
    (hash-)random, equal weights.

    Off-policy estimates of a candidate policy need turns where every tier was tried: a tier the
    active policy never picks for some kind of request leaves nothing to learn its quality from.
    Sessions are chosen by hash, not turns, so an explored session keeps one tier (and its prompt
    cache) throughout, and because every assignment is a hash, decide() logs the exact propensity
    of what it chose. It compiles into a rule placed before all others, after one per segment
    (compile.py, exploration.py).
    """

    share: float = Field(0.02, description="share of sessions explored, 0..0.5 in whole percent; 0 disables")
    targets: tuple[str, ...] = Field(min_length=2, description="the arms, equal weights; each falls back "
                                     "along the default route")
    segments: tuple[ExplorationSegment, ...] = Field((), max_length=100, description="segments explored at "
                                                     "their own share, tried before the block's share")


BudgetScope = Literal["developer", "team", "repo", "group"]
Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
PERIOD_ADJECTIVES: dict[str, str] = {"day": "daily", "week": "weekly", "month": "monthly"}


class Budget(_Frozen):
    """A spend limit per principal and period (UTC calendar day, ISO week from Monday, calendar
    month). ``monthly_usd`` is the original spelling of ``limit_usd`` with ``period: month``."""

    scope: BudgetScope
    name: str = Field(description='the principal, or "*" for each principal of the scope')
    monthly_usd: Decimal | None = Field(None, gt=0, description="the monthly limit (same as period month + limit_usd)")
    limit_usd: Decimal | None = Field(None, gt=0, description="the limit for each period")
    period: Period | None = Field(None, description="day | week | month (UTC); default month")
    soft: float = Field(0.8, gt=0, description="share of the budget that raises the soft alert")
    hard: float = Field(1.1, gt=0, description="share of the budget that triggers the action")
    action: Literal["block", "downgrade"] = "block"
    downgrade_to: str | None = Field(None, description="target name, for action downgrade")

    @model_validator(mode="after")
    def _one_limit(self) -> Budget:
        # Structural, so every Budget that exists has exactly one limit (dashboards and alerts read it).
        if self.monthly_usd is None and self.limit_usd is None:
            raise ValueError("a budget needs a limit: limit_usd with period day, week or month (or monthly_usd)")
        if self.monthly_usd is not None and self.limit_usd is not None:
            raise ValueError("give limit_usd or monthly_usd, not both (monthly_usd is limit_usd with period month)")
        if self.monthly_usd is not None and self.period not in (None, "month"):
            raise ValueError(f"monthly_usd is a monthly limit, but period is {self.period}: "
                             f"write limit_usd for a {PERIOD_ADJECTIVES[self.period]} limit")
        return self

    @property
    def limit(self) -> Decimal:
        """The limit per period, in dollars."""
        limit = self.limit_usd if self.limit_usd is not None else self.monthly_usd
        assert limit is not None  # _one_limit
        return limit

    @property
    def cadence(self) -> Period:
        """The period the limit is for."""
        return self.period or "month"


class ModelAccess(_Frozen):
    """The models a group may ask for. A caller in several listed groups may use what any of them
    allows; ``group: "*"`` applies to callers in none of the listed groups (virtual keys without
    groups included). A caller no entry applies to may use any model."""

    group: str = Field(min_length=1, max_length=256)
    models: tuple[str, ...] = Field(min_length=1, max_length=1000,
                                    description="tiers (haiku, sonnet, opus) or exact model ids")
    on_denied: Literal["reject", "downgrade"] = Field("reject", description="reject: a 400 invalid_request_error "
                                                      "naming the allowlist; downgrade: route to downgrade_to")
    downgrade_to: str | None = Field(None, description="target name, for on_denied downgrade")


SecretAction = Literal["off", "flag", "block"]
SECRET_ACTIONS: tuple[SecretAction, ...] = ("off", "flag", "block")  # weakest first
_FINGERPRINT = r"^[0-9a-f]{24}$"  # core.secrets.scan.FINGERPRINT_HEX_CHARS lowercase hex
MAX_ALLOWED_FINGERPRINTS = 10_000
MAX_ALLOWED_PATHS = 1_000


def _yaml_off(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as the boolean false: take it as the word that was written
    return "off" if value is False else value


class GuardrailOverride(_Frozen):
    """What the secret guardrail does for one developer, team or repo instead of the default."""

    scope: Literal["developer", "team", "repo"]
    name: str = Field(min_length=1, max_length=256, description="the principal (no wildcard: that is `secrets`)")
    secrets: SecretAction

    _off = field_validator("secrets", mode="before")(_yaml_off)


class GuardrailAllow(_Frozen):
    """Findings the guardrail lets through, whatever the action: known test fixtures and false positives."""

    fingerprints: tuple[str, ...] = Field((), max_length=MAX_ALLOWED_FINGERPRINTS,
                                          description="salted fingerprints of findings (the Findings page shows them)")
    paths: tuple[str, ...] = Field((), max_length=MAX_ALLOWED_PATHS,
                                   description="glob patterns of file paths whose tool results are test fixtures")

    @field_validator("fingerprints")
    @classmethod
    def _fingerprint_shape(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        pattern = re.compile(_FINGERPRINT)
        for value in values:
            if not pattern.match(value):
                raise ValueError(f"{value!r} is not a finding fingerprint (24 lowercase hex characters)")
        return values

    @field_validator("paths")
    @classmethod
    def _path_shape(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not value.strip() or len(value) > 512:
                raise ValueError(f"{value!r}: a path pattern is 1–512 characters, not blank")
        return values


class Guardrails(_Frozen):
    """The egress guardrails: what happens to a request that carries a secret (docs/guardrails.md)."""

    secrets: SecretAction = Field("flag", description="off | flag (span, counter, Findings page) | block (a 400)")
    overrides: tuple[GuardrailOverride, ...] = Field((), max_length=10_000)
    allow: GuardrailAllow = GuardrailAllow()

    _off = field_validator("secrets", mode="before")(_yaml_off)


class Policy(_Frozen):
    version: str = Field(min_length=1, max_length=128)
    parent: str | None = None
    description: str = ""
    targets: tuple[Target, ...] = Field(min_length=1)
    exploration: Exploration | None = Field(None, description="applies before the rules")
    rules: tuple[Rule, ...] = ()
    default: Default
    fallback: Fallback = Fallback()
    sticky: tuple[StickyPool, ...] = ()
    budgets: tuple[Budget, ...] = ()
    model_access: tuple[ModelAccess, ...] = Field((), description="per-group model allowlists")
    guardrails: Guardrails = Guardrails()
    # Claude Code settings per group, served at GET /managed/settings (core/policy/managed_settings.py)
    managed_settings: ManagedSettings = ManagedSettings()

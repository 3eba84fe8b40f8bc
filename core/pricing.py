"""Model prices as data (core/prices.yaml, documented at its top), the cost of a usage and the tier
of a model id: the only place switchyard prices or tiers anything.

Two functions answer every caller (ingest, the proxy's ledger and routing, evals, the optimizer, the
dashboard, the simulator); :class:`core.price_memo.PriceMemo` remembers their answers for hot paths.

- :meth:`PriceTable.cost` prices a :class:`Usage` of a model on a date: the entry in force that day
  (versioned table), 5-minute and 1-hour cache writes, cache reads, the family fallback for
  unlisted releases (marked inexact), and "unpriced" with a note saying why. The USD amount is
  computed exactly (Decimal) and rounded once, half-even, to the stored precision (1e-9 dollars,
  the ``Numeric(18, 9)`` column), so every caller gets the Decimal the store holds.
- :meth:`PriceTable.tier_of` maps a model id to haiku | sonnet | opus: the tier of the entry the
  table would price the id with on any date (same matching, exact before fallback); an id the table
  cannot place gets the family word (case-insensitive) it contains, if it contains exactly one;
  else None. So ``opus-next`` is opus everywhere, though unpriced; ``gpt-4o`` has no tier.

A usage whose 1-hour cache writes exceed its cache writes is not a usage (the 1-hour tokens are a
part of ``cache_creation_tokens``): :class:`Usage` refuses it with :class:`UsageError`; nothing
clamps it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, Inexact, localcontext
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

Tier = Literal["haiku", "sonnet", "opus"]
TIERS: tuple[Tier, ...] = ("haiku", "sonnet", "opus")  # cheapest first
REGEX_PREFIX = "re:"
NANO_DOLLAR = Decimal("1e-9")  # the stored precision: turns.cost_usd is Numeric(18, 9)
ZERO_USD = Decimal(0).quantize(NANO_DOLLAR)
# Release suffixes stripped (repeatedly) to reach the canonical id: a date (-20250514 or
# Vertex's @20250514), an alias (-latest), a Bedrock version (-v1, :0, :200k).
_RELEASE_SUFFIX = re.compile(r"(?:[-@]\d{8}|-latest|-v\d+|:[0-9a-z]+)$")
_GLOB_WILDCARDS = re.compile(r"\[[^\]]*\]|[*?]")


class PriceTableError(ValueError):
    """The price data is unusable; the message names the entry and the field."""


class UsageError(ValueError):
    """Token counts that cannot be one turn's usage; the message names the field."""


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0  # uncached input only (Anthropic's meaning)
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_1h_tokens: int = 0  # the 1-hour-TTL part of cache_creation_tokens
    cache_read_tokens: int = 0

    def __post_init__(self) -> None:
        if min(self.input_tokens, self.output_tokens, self.cache_creation_tokens, self.cache_creation_1h_tokens,
               self.cache_read_tokens) < 0:  # one comparison on the common path: every turn makes a Usage
            negative = next(field.name for field in fields(self) if getattr(self, field.name) < 0)
            raise UsageError(f"{negative} must not be negative")
        # The API reports cache writes as a total and its 1-hour part; more 1-hour tokens than
        # the total is corrupt data whose true cost is unknown, so it is refused, never clamped.
        if self.cache_creation_1h_tokens > self.cache_creation_tokens:
            raise UsageError(
                f"cache_creation_1h_tokens ({self.cache_creation_1h_tokens}) exceeds"
                f" cache_creation_tokens ({self.cache_creation_tokens}), of which it is a part"
            )


@dataclass(frozen=True, slots=True)
class Cost:
    usd: Decimal  # at the stored precision (1e-9); 0 when not priced: check `priced`
    priced: bool
    price_id: str | None
    exact: bool  # False when priced by a family fallback (or not at all)
    note: str | None  # why the cost is unpriced or inexact; stored with the turn


class PriceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    pattern: str = Field(min_length=1)
    tier: Tier
    effective_from: dt.date
    input: Decimal = Field(ge=0, allow_inf_nan=False)
    output: Decimal = Field(ge=0, allow_inf_nan=False)
    cache_write_5m: Decimal = Field(default=Decimal("1.25"), ge=0, allow_inf_nan=False)
    cache_write_1h: Decimal = Field(default=Decimal("2.0"), ge=0, allow_inf_nan=False)
    cache_read: Decimal = Field(default=Decimal("0.1"), ge=0, allow_inf_nan=False)
    fallback: bool = False
    specificity: int | None = None
    # Where the price applies: only to turns served by these providers (None: any), and only through
    # their global or regional endpoints (None: either). A scoped entry beats an unscoped one.
    providers: tuple[str, ...] | None = None
    endpoint: Literal["global", "regional"] | None = None
    note: str | None = None

    def applies(self, scope: PriceScope | None) -> bool:
        if self.providers is None and self.endpoint is None:
            return True
        if scope is None or (self.providers is not None and scope.provider not in self.providers):
            return False
        return self.endpoint is None or self.endpoint == scope.endpoint

    def cost_of(self, usage: Usage) -> Decimal:
        """USD for ``usage`` at this entry's prices, computed exactly and rounded once to the stored
        precision: the arithmetic of :meth:`PriceTable.cost`, which picks the entry (and keeps its
        rates, where this converts them on every call)."""
        return _Rates.of(self).usd(usage)


@dataclass(frozen=True, slots=True)
class _Rates:
    """An entry's five prices (USD per million tokens) as integers over one common denominator, so
    a cost is exact integer arithmetic and one rounding (the proxy prices every turn: Decimal
    arithmetic in a raised-precision context cost several µs a turn)."""

    input: int
    cache_5m: int
    cache_1h: int
    cache_read: int
    output: int
    denominator: int  # USD per token = coefficient / (denominator * 1e6)

    @classmethod
    def of(cls, entry: PriceEntry) -> _Rates:
        with localcontext() as ctx:
            ctx.prec = 60  # prices have few digits: the products are exact, and a rounding would raise
            ctx.traps[Inexact] = True
            prices = (entry.input, entry.input * entry.cache_write_5m, entry.input * entry.cache_write_1h,
                      entry.input * entry.cache_read, entry.output)
        ratios = [price.as_integer_ratio() for price in prices]
        denominator = math.lcm(*(den for _, den in ratios))
        inp, cache_5m, cache_1h, cache_read, output = (num * (denominator // den) for num, den in ratios)
        return cls(inp, cache_5m, cache_1h, cache_read, output, denominator)

    def usd(self, usage: Usage) -> Decimal:
        total = (usage.input_tokens * self.input
                 + (usage.cache_creation_tokens - usage.cache_creation_1h_tokens) * self.cache_5m
                 + usage.cache_creation_1h_tokens * self.cache_1h
                 + usage.cache_read_tokens * self.cache_read
                 + usage.output_tokens * self.output)
        # nano-dollars = total / (denominator * 1e6) * 1e9, rounded half to even
        nano, remainder = divmod(total * 1000, self.denominator)
        twice = 2 * remainder
        if twice > self.denominator or (twice == self.denominator and nano % 2):
            nano += 1
        # built from text: exact whatever the size and the caller's decimal context (arithmetic would round)
        return Decimal(f"{nano}E-9")


@dataclass(frozen=True, slots=True)
class PriceScope:
    """Which provider served a turn and through which kind of endpoint: Bedrock's geographic
    inference profiles and Vertex's regional endpoints cost more than their global ones."""

    provider: str
    endpoint: Literal["global", "regional"]


def price_scope(provider: str | None, region: str | None, model: str | None) -> PriceScope | None:
    """The scope of a turn served by ``provider`` (None for Anthropic's own API: list prices).
    Bedrock's endpoint kind is in the inference profile (``global.`` or a geography such as ``us.``),
    Vertex's in the location (``global`` or a region)."""
    if provider in ("bedrock", "bedrock-mantle"):
        return PriceScope(provider, "global" if (model or "").lower().startswith("global.") else "regional")
    if provider == "vertex":
        return PriceScope(provider, "global" if region == "global" else "regional")
    return None


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one model id is priced on one day, whatever the usage: the entry in force (None when
    unpriced) and the note stored with the turn. :meth:`cost` is the only step from a verdict to a
    :class:`Cost`, so the table and the memo cannot disagree."""

    entry: PriceEntry | None
    note: str | None
    rates: _Rates | None = None  # the entry's, converted once when the table was built

    def cost(self, usage: Usage) -> Cost:
        entry, rates = self.entry, self.rates
        if entry is None or rates is None:
            return Cost(ZERO_USD, priced=False, price_id=None, exact=False, note=self.note)
        return Cost(rates.usd(usage), priced=True, price_id=entry.id, exact=not entry.fallback, note=self.note)


_ENTRIES = TypeAdapter(list[PriceEntry])


def canonical_model_id(model: str) -> str:
    """``model`` lower-cased, without provider prefix or release suffix:
    ``us.anthropic.claude-opus-4-1-20250805-v1:0`` → ``claude-opus-4-1``,
    ``claude-sonnet-4@20250514`` → ``claude-sonnet-4``, ``claude-3-5-haiku-latest`` → ``claude-3-5-haiku``."""
    canonical = model.strip().lower().rsplit("/", 1)[-1]  # ARNs and Vertex resource paths
    _, prefix, rest = canonical.rpartition("anthropic.")  # Bedrock: [geo.]anthropic.<id>
    if prefix:
        canonical = rest
    while (shorter := _RELEASE_SUFFIX.sub("", canonical)) != canonical and shorter:
        canonical = shorter
    return canonical


@dataclass(frozen=True, slots=True)
class _CompiledEntry:
    entry: PriceEntry
    matcher: re.Pattern[str]
    specificity: int
    order: int
    rates: _Rates

    def rank(self) -> tuple[bool, bool, int, dt.date, int]:
        # exact beats fallback, then a provider-scoped price, then the more specific pattern, then the
        # later price, then file order
        scoped = self.entry.providers is not None or self.entry.endpoint is not None
        return (not self.entry.fallback, scoped, self.specificity, self.entry.effective_from, self.order)


def _compile(entry: PriceEntry, order: int) -> _CompiledEntry:
    if entry.pattern.startswith(REGEX_PREFIX):
        source = entry.pattern[len(REGEX_PREFIX) :]
        default_specificity = 0
    else:
        source = fnmatch.translate(entry.pattern)
        default_specificity = len(_GLOB_WILDCARDS.sub("", entry.pattern))
    try:
        matcher = re.compile(source, re.IGNORECASE)
    except re.error as exc:
        raise PriceTableError(f"price {entry.id!r}: bad pattern {entry.pattern!r}: {exc}") from exc
    specificity = default_specificity if entry.specificity is None else entry.specificity
    try:
        rates = _Rates.of(entry)
    except Inexact as exc:
        raise PriceTableError(f"price {entry.id!r}: prices with more digits than can be multiplied exactly") from exc
    return _CompiledEntry(entry, matcher, specificity, order, rates)


class PriceTable:
    """An immutable set of price entries. Build one with :func:`load_price_table`."""

    __slots__ = ("_compiled",)

    def __init__(self, entries: Iterable[PriceEntry]) -> None:
        compiled = tuple(_compile(entry, order) for order, entry in enumerate(entries))
        if not compiled:
            raise PriceTableError("the price table has no entries")
        ids: set[str] = set()
        versions: set[tuple[str, tuple[str, ...] | None, str | None, dt.date]] = set()
        for item in compiled:
            entry = item.entry
            if entry.id in ids:
                raise PriceTableError(f"price id {entry.id!r} is used twice")
            ids.add(entry.id)
            version = (entry.pattern.lower(), entry.providers, entry.endpoint, entry.effective_from)
            if version in versions:
                raise PriceTableError(
                    f"price {entry.id!r}: pattern {entry.pattern!r} already has a price"
                    f" from {entry.effective_from}"
                )
            versions.add(version)
        self._compiled = compiled

    @property
    def entries(self) -> tuple[PriceEntry, ...]:
        return tuple(item.entry for item in self._compiled)

    def _best(self, model: str, at: dt.date | None, scope: PriceScope | None = None) -> _CompiledEntry | None:
        candidates = {model.strip().lower(), canonical_model_id(model)}
        best: _CompiledEntry | None = None
        for item in self._compiled:
            if at is not None and item.entry.effective_from > at:
                continue
            if not item.entry.applies(scope):
                continue
            if best is not None and item.rank() <= best.rank():
                continue
            if any(item.matcher.fullmatch(candidate) for candidate in candidates):
                best = item
        return best

    def lookup(self, model: str, at: dt.date) -> PriceEntry | None:
        """The entry pricing ``model`` on date ``at``, or None (for the optimizer's vectorised
        rates; a cost goes through :meth:`cost`)."""
        best = self._best(model, _as_date(at))
        return None if best is None else best.entry

    def verdict(self, model: str | None, at: dt.date, scope: PriceScope | None = None) -> Verdict:
        """How ``model`` is priced on ``at`` when served in ``scope`` (None: Anthropic's own API);
        what :class:`~core.price_memo.PriceMemo` remembers."""
        if not model:
            return Verdict(None, "no model id")
        day = _as_date(at)
        best = self._best(model, day, scope)
        if best is None:
            why = "no price for model" if self._best(model, None) is None else f"no price in effect on {day} for"
            return Verdict(None, f"{why} {model!r}")
        entry = best.entry
        note = None if not entry.fallback else f"priced by family fallback {entry.id!r}: no exact price for {model!r}"
        return Verdict(entry, note, best.rates)

    def cost(self, model: str | None, usage: Usage, at: dt.date, scope: PriceScope | None = None) -> Cost:
        """THE price of ``usage`` on ``model`` on the date ``at``, served in ``scope`` (see the module
        docstring)."""
        return self.verdict(model, at, scope).cost(usage)

    def tier_of(self, model: str | None) -> Tier | None:
        """THE tier of ``model``: the table's (any date, same matching as prices), else the one
        family word in the id, else None (see the module docstring)."""
        if not model:
            return None
        best = self._best(model, None)
        if best is not None:
            return best.entry.tier
        lowered = model.lower()
        words = [tier for tier in TIERS if tier in lowered]
        return words[0] if len(words) == 1 else None


def _as_date(at: dt.date) -> dt.date:
    # a datetime is a date subclass but does not compare with one
    return at.date() if isinstance(at, dt.datetime) else at


def _describe(error: ValidationError, raw: Sequence[object]) -> str:
    problems = []
    for detail in error.errors():
        location = detail["loc"]
        index = location[0] if location and isinstance(location[0], int) else None
        where = "price table"
        if index is not None:
            item = raw[index]
            name = item.get("id") if isinstance(item, dict) else None
            where = f"entry {index}" + (f" ({name!r})" if isinstance(name, str) else "")
        field = ".".join(str(part) for part in location[1:])
        problems.append(f"{where}: {field + ': ' if field else ''}{detail['msg']}")
    return "; ".join(problems)


def load_price_table(text: str) -> PriceTable:
    """Parse and validate price YAML; raises :class:`PriceTableError` saying what is wrong."""
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # an impossible date like 2025-13-01 is a ValueError
        raise PriceTableError(f"price table is not valid YAML: {exc}") from exc
    if not isinstance(raw, list):
        raise PriceTableError(f"price table must be a YAML list of entries, got {type(raw).__name__}")
    try:
        entries = _ENTRIES.validate_python(raw)
    except ValidationError as exc:
        raise PriceTableError(_describe(exc, raw)) from exc
    return PriceTable(entries)


def builtin_price_table() -> PriceTable:
    """The table shipped with switchyard (core/prices.yaml, package data)."""
    return load_price_table(resources.files("core").joinpath("prices.yaml").read_text(encoding="utf-8"))

"""The optimizer's search space beyond two token thresholds: *segments* of traffic that get thresholds
of their own.

A routing policy the optimizer tunes is a base pair of thresholds (haiku below, opus from) and an
ordered list of overrides, each a segment with its own pair; a turn takes the thresholds of the
first segment it belongs to, else the base. Every kind of segment is a predicate the policy
schema already has, so an override is three ordinary rules in the written policy:

* ``request_class``: Claude Code's hint header (compaction and auxiliary calls are easy on every
  tier, main turns with many tools are not);
* ``agent_type``: one kind of sub-agent (one tier for all its calls also keeps its cache warm);
* ``thinking``: the developer turned extended thinking on (a per-session choice that signals harder
  work; escalating these lets the base move cheaper);
* ``tools``: the request offers at least ``value`` tools (Claude Code offers ~17 of its own, MCP
  servers add more; a long tool list makes choosing the right call harder);
* ``team``: one team; ``developers``: the members of one developer tier (from a setting);
* ``repo``: one repository (some codebases are harder or easier than the rest);
* ``rule``: the turns a re-routable rule of the active policy routes (one the team wrote for a
  kind of work, such as compaction calls to haiku: optimizer.kept_rules.reroutable). Such a rule
  catches its turns before any threshold or override, under every candidate, so its block is
  re-routed whole, to one tier (:data:`TIER_THRESHOLDS`), and without an override its turns go
  where the rule sends them as written (:class:`RuleRoute`).

Escalation on thinking or tool density is such an override with lower thresholds than the base;
a repo where the cheap tiers do fine gets higher ones. Pure (numpy).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Literal, get_args

import numpy as np

from core.policy.schema import RequestClass
from optimizer.bootstrap import clustered_standard_error
from optimizer.replay import TIERS, Thresholds
from optimizer.turn_facts import TurnFacts

Kind = Literal["request_class", "agent_type", "thinking", "tools", "team", "developers", "repo", "rule"]
_SLUG = re.compile(r"[^A-Za-z0-9_.:-]+")
# Claude Code's request classes the policy language accepts (core.policy.schema.RequestClass)
REQUEST_CLASSES = frozenset(get_args(RequestClass))
_ONE_OF = {"request_class": "request_class", "agent_type": "agent_type", "team": "team", "repo": "repo"}


def _clean(text: str, room: int) -> str:
    clean = _SLUG.sub("-", text).strip("-")[:room] or "x"
    if clean != text:  # keep two names that clean to the same text apart
        clean = f"{clean}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"
    return clean


@dataclass(frozen=True, slots=True, order=True)
class Segment:
    kind: Kind
    # the repo, team, request class or agent type; the minimum tool count, as digits; "true" for
    # thinking; the developers of a tier, sorted and joined by "," (the policy names them, not the tier)
    value: str
    label: str = field(default="", compare=False)  # a developer tier's name (from --developer-tiers)

    @classmethod
    def thinking(cls) -> Segment:
        return cls("thinking", "true")

    @classmethod
    def tools(cls, at_least: int) -> Segment:
        return cls("tools", str(int(at_least)))

    @classmethod
    def repo(cls, name: str) -> Segment:
        return cls("repo", name)

    @classmethod
    def rule(cls, name: str) -> Segment:
        """The turns the active policy's rule ``name`` routes (a re-routable one)."""
        return cls("rule", name)

    @classmethod
    def one_of(cls, kind: Kind, value: str) -> Segment:
        """A request class, an agent type, a team or a repo."""
        return cls(kind, value)

    @classmethod
    def developers(cls, members: Sequence[str], label: str = "") -> Segment:
        return cls("developers", ",".join(sorted(set(members))), label)

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(self.value.split(",")) if self.kind == "developers" else ()

    def mask(self, facts: TurnFacts | None, n: int) -> np.ndarray:
        if facts is None:
            return np.zeros(n, dtype=bool)
        if self.kind == "thinking":
            return facts.thinking.copy()
        if self.kind == "tools":
            return facts.tool_count >= int(self.value)
        if self.kind == "developers":
            return np.isin(facts.column("developer", n), np.array(self.members, dtype=object))
        column = facts.column("rule" if self.kind == "rule" else _ONE_OF[self.kind], n)
        inside: np.ndarray = column == self.value
        return inside

    def when(self) -> dict[str, object]:
        """The rule predicate (besides input_tokens) that selects the segment (a ``rule`` segment's
        is its rule's own, which is rewritten in place: optimizer.candidate)."""
        if self.kind == "rule":
            raise ValueError("a rule segment is its rule: re-route the rule, do not write rules for it")
        if self.kind == "thinking":
            return {"thinking": True}
        if self.kind == "tools":
            return {"tool_count": {"gte": int(self.value)}}
        if self.kind == "developers":
            return {"developer": list(self.members)}
        return {_ONE_OF[self.kind]: [self.value]}

    @property
    def slug(self) -> str:
        """A rule-name prefix (rule names allow ``[A-Za-z0-9_.:-]``, 64 characters)."""
        if self.kind == "thinking":
            return "thinking"
        if self.kind == "tools":
            return f"tools-{self.value}"
        if self.kind == "developers":
            name = self.label or hashlib.sha256(self.value.encode()).hexdigest()[:8]
            return f"devs-{_clean(name, 30)}"
        if self.kind == "rule":
            return f"rule-{_clean(self.value, 40)}"
        prefix = {"request_class": "class", "agent_type": "agent", "team": "team", "repo": "repo"}[self.kind]
        return f"{prefix}-{_clean(self.value, 40)}"

    def describe(self) -> str:
        if self.kind == "thinking":
            return "turns with thinking on"
        if self.kind == "tools":
            return f"requests offering ≥ {self.value} tools"
        if self.kind == "rule":
            return f"the turns rule {self.value} routes"
        if self.kind == "developers":
            who = f"developer tier {self.label}" if self.label else "developers"
            return f"{who} ({len(self.members)}: {', '.join(self.members[:3])}{' …' if len(self.members) > 3 else ''})"
        what = {"request_class": "request class", "agent_type": "agent type", "team": "team", "repo": "repo"}
        return f"{what[self.kind]} {self.value}"


@dataclass(frozen=True, slots=True)
class Override:
    segment: Segment
    thresholds: Thresholds


# A rule segment's thresholds: its rule re-routed whole to one tier (haiku, sonnet, opus), whatever
# the turn's size. NEVER is above any token count.
NEVER = 1 << 62
TIER_THRESHOLDS = (Thresholds(NEVER, NEVER), Thresholds(0, NEVER), Thresholds(0, 0))


def constant_tier(thresholds: Thresholds) -> int:
    """The tier (0 haiku, 1 sonnet, 2 opus) a rule segment's thresholds send every turn to."""
    return TIER_THRESHOLDS.index(thresholds)


@dataclass(frozen=True, slots=True)
class RuleRoute:
    """A re-routable rule of the active policy and the tier (0 haiku, 1 sonnet, 2 opus) its route
    starts on as written: where its turns go when no override re-routes them."""

    name: str
    tier: int


@dataclass(frozen=True, slots=True)
class HaikuLimit:
    """What a hand-written haiku rule asks besides the token count (``tool_count: {lt: k}``,
    ``thinking: false``): turns the thresholds would send to haiku but that fail it go on to
    sonnet (the policy is checked to do so: optimizer.kept_rules.check_reading). The optimizer
    moves the rule's token threshold and keeps these predicates as written, and every segment
    override's haiku rule asks them too: the team said which turns haiku may never see, and no
    segment's thresholds overrule that (which also lets a new override start at the base's
    thresholds and route exactly like the base)."""

    tool_count_below: int | None = None
    thinking: bool | None = None

    def excludes(self, segment: Segment) -> bool:
        """Whether no turn of ``segment`` passes: its haiku rule could only be written as a
        contradiction (``thinking: true`` and ``false``; at least and fewer than k tools)."""
        if segment.kind == "thinking":
            return self.thinking is False
        if segment.kind == "tools":
            return self.tool_count_below is not None and int(segment.value) >= self.tool_count_below
        return False

    def when(self, segment: Segment) -> dict[str, object]:
        """``segment``'s rule predicate with the limit's added (for its haiku rule; the segment must
        not be one the limit excludes)."""
        when = dict(segment.when())
        if self.thinking is not None:
            when["thinking"] = self.thinking
        if self.tool_count_below is not None:
            tools = when.get("tool_count")
            when["tool_count"] = {**(tools if isinstance(tools, dict) else {}), "lt": self.tool_count_below}
        return when

    def allows(self, facts: TurnFacts | None, n: int) -> np.ndarray:
        allowed = np.ones(n, dtype=bool)
        if facts is None:
            return allowed
        if self.tool_count_below is not None:
            allowed &= facts.tool_count < self.tool_count_below
        if self.thinking is not None:
            allowed &= facts.thinking == self.thinking
        return allowed


@dataclass(frozen=True, slots=True)
class RoutingParams:
    """Base thresholds and segment overrides (first matching segment wins); ``haiku_limit`` what the
    base's haiku rule asks besides the token count (None: nothing)."""

    base: Thresholds
    overrides: tuple[Override, ...] = ()
    haiku_limit: HaikuLimit | None = None
    rules: tuple[RuleRoute, ...] = ()  # the policy's re-routable rules, as written

    def caught(self, facts: TurnFacts | None, n: int) -> np.ndarray:
        """Per turn: whether one of ``rules`` routes it (before any threshold or override)."""
        caught = np.zeros(n, dtype=bool)
        if self.rules and facts is not None and facts.rule is not None:
            for rule in self.rules:
                caught |= facts.rule == rule.name
        return caught

    def haiku_blocked(self, facts: TurnFacts | None, n: int) -> np.ndarray | None:
        """Per turn: whether the haiku limit keeps it off haiku, whichever block governs it (None: no
        limit). The limit is the haiku rule's: turns a re-routable rule routes never reach it."""
        if self.haiku_limit is None:
            return None
        blocked: np.ndarray = ~self.haiku_limit.allows(facts, n) & ~self.caught(facts, n)
        return blocked

    def start_of(self, segment: Segment) -> Thresholds:
        """What ``segment``'s turns get without an override of their own: the base thresholds, or for
        a rule segment its rule's tier as written."""
        if segment.kind == "rule":
            tier = next(rule.tier for rule in self.rules if rule.name == segment.value)
            return TIER_THRESHOLDS[tier]
        return self.base

    @classmethod
    def of(cls, thresholds: Thresholds | RoutingParams) -> RoutingParams:
        return thresholds if isinstance(thresholds, RoutingParams) else cls(thresholds)

    def governing(self, facts: TurnFacts | None, n: int) -> np.ndarray:
        """Per turn: the index of the override whose thresholds apply, −1 for the base, −2 for a
        turn a re-routable rule routes as written (no block: nothing moves it)."""
        caught = self.caught(facts, n)
        which = np.where(caught, -2, -1).astype(np.int64)
        for index in range(len(self.overrides) - 1, -1, -1):  # the first match wins: paint it last
            segment = self.overrides[index].segment
            # a rule catches its turns before any override does
            which[segment.mask(facts, n) & (caught if segment.kind == "rule" else ~caught)] = index
        return which

    def actions(self, tokens: np.ndarray, facts: TurnFacts | None = None) -> np.ndarray:
        which = self.governing(facts, tokens.shape[0])
        actions = self.base.actions(tokens)
        for index, override in enumerate(self.overrides):
            rows = which == index
            actions[rows] = override.thresholds.actions(tokens[rows])
        if facts is not None and facts.rule is not None:
            for rule in self.rules:
                actions[(which == -2) & (facts.rule == rule.name)] = rule.tier
        blocked = self.haiku_blocked(facts, tokens.shape[0])
        if blocked is not None:
            actions[blocked & (actions == 0)] = 1
        return actions

    def with_block(self, block: int, thresholds: Thresholds) -> RoutingParams:
        """A copy with the base (block −1) or override ``block``'s thresholds replaced."""
        if block < 0:
            return replace(self, base=thresholds)
        overrides = list(self.overrides)
        overrides[block] = Override(overrides[block].segment, thresholds)
        return replace(self, overrides=tuple(overrides))

    def block(self, block: int) -> Thresholds:
        return self.base if block < 0 else self.overrides[block].thresholds

    def _canonical(self, segment: Segment, thresholds: Thresholds) -> Thresholds:
        """The thresholds as written for ``segment``: a segment the haiku limit excludes has no
        haiku rule, which reads back as ``haiku_below`` 0 (any other value routes the same)."""
        if self.haiku_limit is not None and self.haiku_limit.excludes(segment):
            return Thresholds(0, thresholds.opus_from)
        return thresholds

    def effective(self) -> RoutingParams:
        """As written: without the trailing overrides that route exactly like the base (nothing to
        write for them; one followed by others stays, it still keeps its turns from the later ones),
        and an excluded segment's thresholds canonical (``_canonical``). A rule override that keeps its
        rule's tier goes wherever it is; the others come last (a rule's turns are no other block's)."""
        overrides = [Override(o.segment, self._canonical(o.segment, o.thresholds))
                     for o in self.overrides if o.segment.kind != "rule"]
        while overrides and overrides[-1].thresholds == self._canonical(overrides[-1].segment, self.base):
            overrides.pop()
        rerouted = [o for o in self.overrides if o.segment.kind == "rule" and o.thresholds != self.start_of(o.segment)]
        return replace(self, overrides=tuple(overrides + rerouted))

    def as_written(self) -> RoutingParams:
        """:meth:`effective` with its rule overrides folded into ``rules``: a re-routed rule is a rule
        whose route starts on another tier, which is how a policy written from these reads back."""
        effective = self.effective()
        moved = {o.segment.value: constant_tier(o.thresholds) for o in effective.overrides if o.segment.kind == "rule"}
        return replace(effective, overrides=tuple(o for o in effective.overrides if o.segment.kind != "rule"),
                       rules=tuple(RuleRoute(rule.name, moved.get(rule.name, rule.tier)) for rule in self.rules))

    def to_dict(self) -> dict[str, object]:
        def pair(t: Thresholds) -> dict[str, int]:
            return {"haiku_below": t.haiku_below, "opus_from": t.opus_from}
        limit = {} if self.haiku_limit is None else {"haiku_only_if": {
            k: v for k, v in (("tool_count_below", self.haiku_limit.tool_count_below),
                              ("thinking", self.haiku_limit.thinking)) if v is not None}}
        written = self.as_written()
        rules = {} if not self.rules else {"rules": {rule.name: TIERS[rule.tier] for rule in written.rules}}
        return {**pair(self.base), "overrides": [{"segment": o.segment.kind, "value": o.segment.value,
                                                   **pair(o.thresholds)} for o in written.overrides], **limit, **rules}


_TOOL_CUTS = 12  # tool-count cuts tried (quantiles of the tools offered); differing keeps the best


def _busiest(values: np.ndarray, most: int) -> list[str]:
    tagged = np.array([value for value in values if isinstance(value, str)], dtype=object)
    if tagged.size == 0:
        return []
    names, counts = np.unique(tagged, return_counts=True)
    return [str(name) for name in names[np.argsort(-counts, kind="stable")][:most]]


def candidate_segments(tokens: np.ndarray, facts: TurnFacts | None, sessions: np.ndarray, *,
                       min_share: float = 0.05, min_sessions: int = 30, max_repos: int = 4, max_values: int = 4,
                       developer_tiers: Mapping[str, str] | None = None) -> list[Segment]:
    """The segments worth searching on this data: each, and the rest of the traffic, holds at least
    ``min_share`` of the turns and ``min_sessions`` sessions, so the off-policy estimate of its
    thresholds rests on enough evidence. In the order they take effect:

    * Claude Code's request class (``compaction`` and ``auxiliary`` calls are easy on every tier,
      ``main`` turns with many tools are not) and agent type (a sub-agent's calls are one kind of
      work: one tier for all of them also keeps its prompt cache warm), the ``max_values``
      commonest of each;
    * thinking (the developer's own signal that the work is hard);
    * tool-dense requests: one segment per cut among up to ``_TOOL_CUTS`` quantiles of the tools
      offered (``differing`` keeps the one where the tiers compare most differently: the cut is
      searched, not fixed);
    * the ``max_values`` busiest teams, the developer tiers of ``developer_tiers`` (developer →
      tier name) and the ``max_repos`` busiest repos, for the turns none of the above took."""
    n = tokens.shape[0]
    if facts is None or n == 0:
        return []

    def enough(mask: np.ndarray) -> bool:
        return bool(mask.mean() >= min_share and np.unique(sessions[mask]).size >= min_sessions)

    def both_sides(segment: Segment) -> bool:
        mask = segment.mask(facts, n)
        return enough(mask) and enough(~mask)

    found: list[Segment] = []
    classes = [name for name in _busiest(facts.column("request_class", n), max_values) if name in REQUEST_CLASSES]
    found += [s for s in (Segment.one_of("request_class", name) for name in classes) if both_sides(s)]
    found += [s for s in (Segment.one_of("agent_type", name)
                          for name in _busiest(facts.column("agent_type", n), max_values)) if both_sides(s)]
    if both_sides(Segment.thinking()):
        found.append(Segment.thinking())
    values = np.unique(facts.tool_count)
    if values.size > 1:
        cuts = np.unique(np.quantile(facts.tool_count, np.linspace(0.05, 0.95, _TOOL_CUTS), method="higher"))
        found += [s for s in (Segment.tools(int(cut)) for cut in cuts if cut > values[0]) if both_sides(s)]
    found += [s for s in (Segment.one_of("team", name) for name in _busiest(facts.column("team", n), max_values))
              if both_sides(s)]
    if developer_tiers:
        tiers: dict[str, list[str]] = {}
        for developer, tier in sorted(developer_tiers.items()):
            tiers.setdefault(tier, []).append(developer)
        found += [s for s in (Segment.developers(members, tier) for tier, members in sorted(tiers.items()))
                  if both_sides(s)]
    found += [s for s in (Segment.repo(name) for name in _busiest(facts.repo, max_repos)) if both_sides(s)]
    return found


def with_segments(params: RoutingParams, segments: Sequence[Segment]) -> RoutingParams:
    """``params`` plus an override for each new segment, after the existing ones and with thresholds
    that reproduce what the turns get now, so the search starts exactly at the active policy."""
    have = {o.segment for o in params.overrides}
    extra = tuple(Override(s, params.start_of(s)) for s in segments if s not in have)
    return replace(params, overrides=params.overrides + extra)


def contrast(segment: Segment, terms: np.ndarray, facts: TurnFacts | None, sessions: np.ndarray) -> float:
    """How differently the tiers compare inside ``segment`` than outside it: for each pair of tiers,
    the difference of their gap inside and outside, over its session-clustered standard error; the
    largest |z| of the three pairs (0 when the segment is empty or everything)."""
    n = terms.shape[0]
    inside = segment.mask(facts, n)
    share_in, share_out = inside.sum() / n, (~inside).sum() / n
    if share_in == 0 or share_out == 0:
        return 0.0
    # per-turn values whose mean is (gap inside) − (gap outside), so one clustered SE covers both
    weight = np.where(inside, 1 / share_in, -1 / share_out)
    best = 0.0
    for high, low in ((2, 0), (2, 1), (1, 0)):
        values = (terms[:, high] - terms[:, low]) * weight
        error = clustered_standard_error(sessions, values)
        if np.isfinite(error) and error > 0:
            best = max(best, abs(float(values.mean())) / error)
    return best


def family_z(tests: int, alpha: float = 0.05) -> float:
    """The |z| that one of ``tests`` two-sided tests of a true null exceeds with probability at most
    ``alpha`` (Bonferroni): the bar for the largest of many contrasts, not one."""
    return NormalDist().inv_cdf(1 - alpha / (2 * max(tests, 1)))


def differing(segments: Sequence[Segment], terms: np.ndarray, facts: TurnFacts | None, sessions: np.ndarray, *,
              alpha: float = 0.05, most: int = 6) -> list[Segment]:
    """The segments whose tiers compare differently than on the rest of the traffic, by the evidence.

    An override is worth searching only where a tier does better or worse, relative to the others,
    than it does elsewhere: otherwise its thresholds can only fit the sample's noise, and a search
    over them buys quality that is not there (on a fleet where repos do not matter, repo overrides
    raised the claimed saving well above the truth's). ``terms`` are the n × 3 doubly robust terms
    (optimizer.replay.dr_term_matrix); a segment stays when its ``contrast`` exceeds the family bar
    for every tier pair of every segment offered (``family_z``, at most ``alpha`` that any segment
    of a world where none differs passes: about 3.3 for 15 segments). A fixed bar of 2 let the
    largest of ~45 null contrasts through on most runs: a team or repo of no consequence became a
    block whose moves were thin and whose exploration asks were wasted. Of the tool-count cuts, only
    the one with the largest contrast can stay (the cut is chosen by the evidence; with a sample
    split the held-out sessions then certify what it buys). At most ``most`` stay, those with the
    largest contrasts (each is a block of the search), in the order given."""
    z = family_z(3 * len(segments), alpha)
    scored = [(segment, contrast(segment, terms, facts, sessions)) for segment in segments]
    cuts = [(segment, score) for segment, score in scored if segment.kind == "tools"]
    best_cut = max(cuts, key=lambda pair: (pair[1], -int(pair[0].value)))[0] if cuts else None
    passing = [(segment, score) for segment, score in scored
               if score > z and (segment.kind != "tools" or segment == best_cut)]
    strongest = {segment for segment, _ in sorted(passing, key=lambda pair: -pair[1])[:most]}
    return [segment for segment, _ in passing if segment in strongest]

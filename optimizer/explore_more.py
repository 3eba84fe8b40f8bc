"""Where the optimizer needs more exploration, and how much: a share of sessions per segment.

A part of a candidate (the base thresholds, a segment's override) that moves turns to another tier
is refused when fewer than ``min_sessions`` explored sessions back the move (optimizer.explored).
More exploration *of that part's turns* is what would settle it, so for each such part this module
works out an exploration segment (docs/policy.md, "Exploring a segment more"):

* its predicates, the policy's own: the override's segment (``repo: [payments]``…), a re-routable
  rule's own ``when`` (``request_class: [compaction]``: exploration comes before the rules, so it
  explores that rule's turns, and those of any earlier rule that match it too), or for the base the
  token range its moved turns span (``input_tokens: {gte, lt}``), joined with any exploration segment
  on a token range it overlaps: that segment is widened, never a near twin added after it (the
  loop's later weeks asked for 10,015–179,895 after exploring 10,064–179,895);
* how many explored sessions a share would give: each session with moved turns is explored with
  probability share, and lands on its candidate tier with probability (arms on that tier) / (arms),
  so over a window as long as this one ``reach`` = Σ over those sessions of that arm fraction, and
  share × reach sessions back the move;
* the share: the smallest whole percent giving ``min_sessions`` in such a window, at most ``cap``;
  nothing is asked when the segment is explored that much already (the window is what is short:
  raising the share on every run would only ratchet it up to the cap). For a token range the share
  it is explored at now is its moved sessions' (each at the share of the token-range segment that
  holds it), and a widened segment's share is never lowered;
* what it costs: the segment's turns priced by the replay's per-turn costs (the one pricing), each
  explored turn at the mean over the arms' tiers instead of the tier the active policy gives it,
  for the extra share of sessions, per month. Cache writes of a turn-level segment are not counted.

Pure (numpy).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.policy.exploration import MAX_SHARE
from core.policy.reachability import covers
from core.policy.schema import Match, Policy
from optimizer.candidate import NotAThresholdPolicyError, reroutable_rules
from optimizer.moves import explored_moves
from optimizer.replay import TIERS, ReplayData, monthly
from optimizer.segments import RoutingParams, Segment

DEFAULT_CAP = 0.10  # a tenth of a segment's sessions off its best tier is as much as a proposal asks
_UNBOUNDED = 2**62
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Arms:
    """The exploration the policy has: one tier code (TIERS index, −1: untiered) per arm, the block's
    share, and each existing segment's predicates (JSON, unset ones left out) with its share."""

    tiers: tuple[int, ...]
    share: float
    segments: tuple[tuple[dict[str, Any], float], ...] = ()
    # each re-routable rule's predicates (JSON, unset ones left out): what an ask for its turns names
    rules: tuple[tuple[str, dict[str, Any]], ...] = ()

    def share_for(self, when: dict[str, Any]) -> float:
        """The share the turns these predicates select are explored at now, at least: the block's,
        or that of an existing segment whose predicates take every one of them."""
        return max([self.share, *(share for existing, share in self.segments if _covers(existing, when))])

    def token_ranges(self) -> list[tuple[int, int, float, dict[str, Any]]]:
        """The existing segments that select by input tokens alone: (low, high, share, when)."""
        return [(*_bounds(when["input_tokens"]), share, when) for when, share in self.segments
                if set(when) == {"input_tokens"}]

    def token_shares(self, tokens: np.ndarray) -> np.ndarray:
        """Per turn, the share its token count is explored at now: the first segment on a token range
        that holds it (segments are matched in order), else the block's. A segment on other facts
        that comes first would take some of these turns at its own share; that is not counted."""
        shares = np.full(tokens.shape, self.share)
        taken = np.zeros(tokens.shape, dtype=bool)
        for low, high, share, _ in self.token_ranges():
            inside = ~taken & (tokens >= low) & (tokens < high)
            shares[inside] = max(share, self.share)
            taken |= inside
        return shares


def _bounds(tokens: dict[str, Any]) -> tuple[int, int]:
    """An ``input_tokens`` range (``gte``, ``lt``: core.policy.schema.IntRange) as [low, high), an
    end left out open."""
    low, high = tokens.get("gte"), tokens.get("lt")
    return (-_UNBOUNDED if low is None else int(low)), (_UNBOUNDED if high is None else int(high))


def _covers(wide: dict[str, Any], narrow: dict[str, Any]) -> bool:
    return covers(Match.model_validate(wide), Match.model_validate(narrow))


def arms_of(policy: Policy) -> Arms:
    """The policy's exploration; without a block, the arms of the block a proposal would add (one
    per tier the policy has a target of, none when that is under two: no block to add) at share 0."""
    block = policy.exploration
    try:
        rules = tuple((rule.name, rule.when.model_dump(mode="json", exclude_none=True))
                      for rule in reroutable_rules(policy))
    except NotAThresholdPolicyError:  # a policy the optimizer cannot move re-routes no rule
        rules = ()
    if block is None:
        named = [target.tier for name in tier_targets(policy) for target in policy.targets if target.name == name]
        return Arms(tuple(TIERS.index(tier) for tier in named if tier in TIERS) if len(named) >= 2 else (), 0.0,
                    rules=rules)
    tier_of = {target.name: target.tier for target in policy.targets}
    tiers = tuple(TIERS.index(tier) if tier in TIERS else -1 for tier in (tier_of.get(n) for n in block.targets))
    return Arms(tiers, block.share, tuple((s.when.model_dump(mode="json", exclude_none=True), s.share)
                                          for s in block.segments), rules)


@dataclass(frozen=True, slots=True)
class Thin:
    """A part of ``candidate`` the guards refused for too few explored sessions: ``segment`` None
    is the base thresholds. ``needed``: the explored sessions that would settle it, when more than
    the guards' minimum (a quality interval too wide: :func:`too_wide`)."""

    candidate: RoutingParams
    segment: Segment | None
    explored_sessions: int
    needed: int | None = None


def monthly_words(usd: float) -> str:
    """"costs ~$1.20 a month", or "saves ~$0.40 a month" when exploring sends turns to a cheaper tier."""
    return f"{'saves' if usd < 0 else 'costs'} ~${abs(usd):,.2f} a month"


def _thinnest_parts(data: ReplayData, baseline: RoutingParams, candidate: RoutingParams,
                    below: int | None) -> list[tuple[Segment | None, int]]:
    """Each part of ``candidate`` that moves turns (with a move under ``below`` explored sessions,
    when given) once, with its thinnest move's count (optimizer.moves)."""
    thinnest: dict[tuple[str, str] | None, int] = {}
    for entry in explored_moves(data, baseline, candidate):
        if below is None or entry["explored_sessions"] < below:
            key = None if entry["segment"] is None else (entry["segment"]["kind"], entry["segment"]["value"])
            thinnest[key] = min(thinnest.get(key, entry["explored_sessions"]), entry["explored_sessions"])
    return [(None if key is None else next(o.segment for o in candidate.overrides
                                           if (o.segment.kind, o.segment.value) == key), sessions)
            for key, sessions in thinnest.items()]


def thin_of(data: ReplayData, baseline: RoutingParams, candidate: RoutingParams, min_sessions: int) -> list[Thin]:
    """The parts of ``candidate`` with a move resting on fewer than ``min_sessions`` explored sessions
    (optimizer.moves: the guards count per move), each once, with its thinnest move's count."""
    return [Thin(candidate, segment, sessions)
            for segment, sessions in _thinnest_parts(data, baseline, candidate, min_sessions)]


def too_wide(data: ReplayData, baseline: RoutingParams, candidate: RoutingParams, factor: float) -> list[Thin]:
    """Every part of ``candidate`` that moves turns, when its quality interval is ``factor`` times
    too wide to clear the floor (squared: (half-width / the room to the floor)²). An interval's width
    goes as 1/√(explored sessions) behind it (optimizer.replay.upgrade_standard_error: the weights
    1/propensity of the explored turns), so each part needs ``factor`` times the explored sessions its
    thinnest move has."""
    return [Thin(candidate, segment, sessions, math.ceil(max(sessions, 1) * factor))
            for segment, sessions in _thinnest_parts(data, baseline, candidate, None)]


def _part(data: ReplayData, baseline: RoutingParams, thin: Thin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the turns the part moves, the candidate's action per turn, the turns the part governs)."""
    candidate = thin.candidate
    actions = candidate.actions(data.tokens, data.facts)
    moved = baseline.actions(data.tokens, data.facts) != actions
    # an override no longer there governs nothing (−2 is a re-routable rule's turns: not it)
    index = -1 if thin.segment is None else next(
        (i for i, o in enumerate(candidate.overrides) if o.segment == thin.segment), len(candidate.overrides))
    governed = candidate.governing(data.facts, data.n) == index
    return moved & governed, actions, governed


@dataclass(frozen=True, slots=True)
class Piece:
    moved: np.ndarray  # the turns the part moves that this segment would explore
    when: dict[str, Any]  # the segment's predicates
    name: str
    words: str
    selected: np.ndarray  # every turn the segment selects
    widens: tuple[dict[str, Any], ...] = ()  # existing token-range segments it takes the place of


def _pieces(data: ReplayData, thin: Thin, rows: np.ndarray, governed: np.ndarray, arms: Arms) -> Iterable[Piece]:
    """The segments to explore for the part: an override's own; a re-routable rule's predicates (its
    turns priced as the ones it routes: an earlier rule's turns that match it too are explored but
    not counted); for the base thresholds, each run of token counts the move takes (a cheaper haiku
    threshold and a dearer opus one are two runs, and the turns between them are not moved, so not
    explored)."""
    if thin.segment is not None and thin.segment.kind == "rule":
        when = dict(arms.rules).get(thin.segment.value)
        if when:  # a rule with no predicate catches every turn: the block's share is its share
            name = _NAME.sub("-", f"rule-{thin.segment.value}").strip("-")[:52]
            yield Piece(rows, when, name, thin.segment.describe(), governed)
        return
    if thin.segment is not None:
        segment = thin.segment
        name = _NAME.sub("-", segment.slug).strip("-")[:52] or "segment"
        yield Piece(rows, segment.when(), name, segment.describe(), segment.mask(data.facts, data.n))
        return
    values = np.unique(data.tokens[governed])
    flags = np.isin(values, data.tokens[rows])
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    runs = [(int(values[start]), int(values[stop - 1]) + 1)
            for start, stop in zip(edges[::2], edges[1::2], strict=True)]
    for low, high, widens in _joined(runs, arms.token_ranges()):
        selected = (data.tokens >= low) & (data.tokens < high)
        bounded = high < _UNBOUNDED  # an existing segment it widens may have no upper end
        span = {"input_tokens": {"gte": low, "lt": high} if bounded else {"gte": low}}
        words = f"turns of {_range_words(span)} input tokens (the base thresholds' move" + (
            "; it widens the exploration of " + ", ".join(_range_words(w) for w in widens) + ")" if widens else ")")
        yield Piece(rows & selected, span, f"tokens-{low}-{high if bounded else 'up'}", words, selected, widens)


def _joined(runs: list[tuple[int, int]], existing: list[tuple[int, int, float, dict[str, Any]]]
            ) -> Iterable[tuple[int, int, tuple[dict[str, Any], ...]]]:
    """The runs of tokens a base move takes, each joined with the existing token-range segments it
    overlaps (and, through them, with other runs) into one range: a later week's ask for 10,015–179,895
    widens last week's segment on 10,064–179,895 instead of adding a near twin after it."""
    spans = sorted([(low, high, None) for low, high in runs]
                   + [(low, high, when) for low, high, _, when in existing], key=lambda span: span[0])
    group: list[tuple[int, int, dict[str, Any] | None]] = []
    for span in [*spans, None]:
        if group and (span is None or span[0] >= max(high for _, high, _ in group)):
            if any(when is None for _, _, when in group):  # a group of existing segments alone asks nothing
                yield (max(0, min(low for low, _, _ in group)), max(high for _, high, _ in group),
                       tuple(when for _, _, when in group if when is not None))
            group = []
        if span is not None:
            group.append(span)


def _range_words(when: dict[str, Any]) -> str:
    low, high = _bounds(when["input_tokens"])
    return f"{max(low, 0):,}–{high - 1:,}" if high < _UNBOUNDED else f"{max(low, 0):,} and up"


def part_asks(data: ReplayData, baseline: RoutingParams, thin: Thin, arms: Arms, *,
              min_sessions: int, cap: float = DEFAULT_CAP) -> list[dict[str, Any]]:
    """The exploration segments that would back ``thin`` (see the module docstring), leaving out a
    segment no arm reaches the tiers of, or already explored at ``cap``."""
    rows, actions, governed = _part(data, baseline, thin)
    if not rows.any() or not arms.tiers:
        return []
    return [ask for piece in _pieces(data, thin, rows, governed, arms)
            if (ask := _ask(data, baseline, thin, arms, piece, actions, min_sessions, cap)) is not None]


def _ask(data: ReplayData, baseline: RoutingParams, thin: Thin, arms: Arms, piece: Piece, actions: np.ndarray,
         min_sessions: int, cap: float) -> dict[str, Any] | None:
    rows, when, name, words, selected = piece.moved, piece.when, piece.name, piece.words, piece.selected
    min_sessions = max(min_sessions, thin.needed or 0)
    cap = min(math.floor(round(cap * 100, 9)) / 100, MAX_SHARE)  # a share is a whole percent, at most the block's
    # the share each turn is explored at now: a token range per turn (segments it widens hold some
    # of its turns at their shares), any other segment at the share of one that takes all its turns
    now_share = arms.token_shares(data.tokens) if piece.widens else np.full(data.n, arms.share_for(when))
    sessions, first = np.unique(data.sessions[rows], return_index=True)
    on_tier = np.array([arms.tiers.count(tier) for tier in range(len(TIERS))], dtype=float) / len(arms.tiers)
    arm_chance = on_tier[actions[rows][first]]
    reach = float(arm_chance.sum())
    if reach <= 0:
        return None
    current = float((arm_chance * now_share[rows][first]).sum() / reach)  # as the moved sessions see it
    share = min(cap, math.ceil(round(100 * min_sessions / reach, 9)) / 100)
    if share <= current + 1e-9:  # explored as much already: the window is what is short, not the share
        return None
    share = max([share, *(s for *_, s, w in arms.token_ranges() if w in piece.widens)])  # never lowers one
    weekly = share * reach * 7 / data.days
    explored_tiers = [tier for tier in arms.tiers if tier >= 0]
    now = data.cost[selected, baseline.actions(data.tokens, data.facts)[selected]]
    exploring = data.cost[selected][:, explored_tiers].mean(axis=1)
    cost = monthly(data, float((np.maximum(share - now_share[selected], 0.0) * (exploring - now)).sum()))
    return {
        "part": words, "name": name, "when": when, "share": share, "current_share": round(current, 4),
        **({"widens": list(piece.widens)} if piece.widens else {}),
        "explored_sessions": thin.explored_sessions, "needed": min_sessions,
        "sessions_moved": int(sessions.size), "explored_sessions_per_week": weekly,
        "weeks_to_needed": min_sessions / weekly if weekly > 0 else None, "monthly_cost_usd": cost,
        "words": (f"{words}: {thin.explored_sessions} explored sessions, {min_sessions} needed; at {share:.0%} of "
                  f"its sessions (now {current:.0%}) it would have ~{weekly:.1f} a week"
                  + (f", {min_sessions} in ~{min_sessions / weekly:.1f} weeks" if weekly > 0 else "")
                  + f"; exploring them {monthly_words(cost)}"),
    }


def exploration_asks(data: ReplayData, baseline: RoutingParams, thin: Iterable[Thin], arms: Arms, *,
                     min_sessions: int, cap: float = DEFAULT_CAP) -> list[dict[str, Any]]:
    """One ask per segment (the first part refused there wins: the cheapest candidate's), in the
    order the parts came; the base thresholds ask once. An ask whose turns an earlier ask takes at a
    share as large is left out: its rule would never fire (validation refuses that)."""
    asks: list[dict[str, Any]] = []
    seen: set[Segment | None] = set()
    for part in thin:
        if part.segment in seen:
            continue
        seen.add(part.segment)
        for ask in part_asks(data, baseline, part, arms, min_sessions=min_sessions, cap=cap):
            if not any(_covers(earlier["when"], ask["when"]) and earlier["share"] >= ask["share"] for earlier in asks):
                asks.append(ask)
    return asks


def tier_targets(policy: Policy) -> list[str]:
    """The first target of each tier, in tier order: the arms of a block the proposal adds."""
    return [next(t.name for t in policy.targets if t.tier == tier) for tier in TIERS
            if any(t.tier == tier for t in policy.targets)]


def with_exploration(policy: Policy, asks: Sequence[dict[str, Any]], targets: Sequence[str]) -> Policy:
    """``policy`` whose exploration block explores each ask's segment at its share: an existing
    segment with the same predicates is raised; the token-range segments an ask widens become one,
    in the first one's place, at the larger share; else a new one is added after the others. Without a block
    one is added at share 0 over ``targets`` (the asks' arms)."""
    block = policy.exploration
    document: dict[str, Any] = (block.model_dump(mode="json", exclude_none=True) if block is not None
                                else {"share": 0.0, "targets": list(targets)})
    segments = [dict(s) for s in document.get("segments", [])]
    for ask in asks:
        same = next((s for s in segments if s["when"] == ask["when"]), None)
        widened = [i for i, s in enumerate(segments) if s["when"] in ask.get("widens", ())]
        if widened and same is None:  # the first segment it widens takes its range, the others go
            first = segments[widened[0]]
            first["when"], first["share"] = ask["when"], max([ask["share"], *(segments[i]["share"] for i in widened)])
            segments = [s for i, s in enumerate(segments) if i not in widened[1:]]
        elif same is not None:
            same["share"] = max(float(same["share"]), ask["share"])
        else:
            names = {s.get("name") for s in segments}
            name = ask["name"] if ask["name"] not in names else f"{ask['name'][:45]}-{len(segments) + 1}"
            segments.append({"name": name, "when": ask["when"], "share": ask["share"]})
    return Policy.model_validate({**policy.model_dump(mode="json"), "exploration": {**document, "segments": segments}})

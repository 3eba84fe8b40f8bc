"""Scanning one text for secrets. Pure: text in, findings out.

A finding never holds the secret: it names the rule, where the secret starts (character offset and
line within the scanned text; the caller adds which message and block), and a fingerprint, an
HMAC-SHA256 of the secret under a caller-given salt, truncated. The same secret seen again (another
turn, another developer) has the same fingerprint under the same salt, so repeats can be correlated
and allow-listed without anyone storing or seeing the value; without the salt the fingerprint
cannot be brute-forced back from a short password.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from core.secrets.engine import EngineName, make_engine
from core.secrets.rules import DEFAULT_RULE_IDS, RULES, Rule
from core.secrets.values import CHECKS

FINGERPRINT_HEX_CHARS = 24  # 96 bits: collisions are not a concern at any fleet's scale
MIN_SALT_BYTES = 16
MAX_FINDINGS = 64  # per scanned text: enough to name what to remove, bounded whatever the input
# Whitespace and JSON escapes are not part of a secret: a private key pasted with real newlines and
# the same key inside a JSON string fingerprint alike.
_FINGERPRINT_DROP = str.maketrans("", "", " \t\r\n")


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # Rule.id
    offset: int  # character offset of the secret within the scanned text
    line: int  # 1-based line of that offset
    fingerprint: str


def fingerprint(salt: bytes, secret: str) -> str:
    normalised = secret.replace("\\n", "").replace("\\r", "").translate(_FINGERPRINT_DROP)
    digest = hmac.new(salt, normalised.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_HEX_CHARS]


def rules_by_id(rule_ids: Iterable[str]) -> tuple[Rule, ...]:
    known = {rule.id: rule for rule in RULES}
    chosen = []
    for rule_id in rule_ids:
        if rule_id not in known:
            raise ValueError(f"unknown secret rule {rule_id!r}; known: {', '.join(sorted(known))}")
        chosen.append(known[rule_id])
    # keep the rule set's priority order whatever order the caller named them in
    return tuple(rule for rule in RULES if rule in chosen)


class SecretScanner:
    """Compiled once (per policy), then used for every text; holds no per-scan state."""

    def __init__(self, salt: bytes, *, rule_ids: Iterable[str] = DEFAULT_RULE_IDS,
                 engine: EngineName = "re2") -> None:
        if len(salt) < MIN_SALT_BYTES:
            raise ValueError(f"the fingerprint salt must be at least {MIN_SALT_BYTES} bytes")
        self._salt = bytes(salt)
        self.rules = rules_by_id(rule_ids)
        self._checks = tuple(CHECKS[rule.check] for rule in self.rules)
        self._engine = make_engine(engine, self.rules)

    def scan(self, text: str) -> tuple[Finding, ...]:
        """The secrets in ``text`` (at most MAX_FINDINGS, the first by offset), in order of offset.
        Where matches of two rules overlap, the rule listed first in the rule set names it (an
        Anthropic key assigned to `api_key = …` is an Anthropic key, not a generic secret)."""
        candidates: list[tuple[int, int, int, str]] = []  # (offset, end, rule index, secret)
        per_rule = [0] * len(self.rules)
        for index, offset, secret, whole in self._engine.candidates(text):
            # a block of 50 000 keys is reported by its first ones: the cost stays bounded
            if per_rule[index] >= MAX_FINDINGS or not self._checks[index](secret, whole):
                continue
            per_rule[index] += 1
            candidates.append((offset, offset + len(secret), index, secret))
        candidates.sort()
        accepted: list[tuple[int, int, int, str]] = []
        for candidate in candidates:  # a sweep: sorted by offset, only the last kept one can overlap
            if accepted and candidate[0] < accepted[-1][1]:
                if candidate[2] < accepted[-1][2]:
                    accepted[-1] = candidate
                continue
            accepted.append(candidate)
        return tuple(
            Finding(self.rules[index].id, offset, text.count("\n", 0, offset) + 1, fingerprint(self._salt, secret))
            for offset, _, index, secret in accepted[:MAX_FINDINGS]
        )

"""Running the rule patterns: RE2 (linear time, the default) or Python's ``re`` (for comparison).

Both engines do the same two steps. A literal pre-filter first: one pass finds which rules'
trigger fragments occur in the text at all, so a block without any (most of them) costs that one
pass. Then each triggered rule's pattern is searched over the whole text.

RE2 was chosen by measurement (bench/secret_scan.py, figures in bench/README.md): Python's ``re``
backtracks on hostile input (0.2 MB of `-eyJaaaaaaaa…` took it 2.3 s, quadratically more for more;
RE2 takes 16 ms on 5 MB), and on ordinary source RE2 is also ~6× faster (29 vs 174 ms per MB with
every rule triggered). RE2 runs on the UTF-8 bytes, encoded once per text; offsets are converted
back to characters only for matches.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Literal, Protocol

import re2

from core.secrets.rules import Rule

EngineName = Literal["re2", "re"]

# RE2's default DFA budget is 8 MiB per pattern; with 64 MiB a 2 MB block scans ~15 % faster
# (87 → 73 ms, measured), the cached DFA states being rebuilt less often.
_RE2_MAX_MEM = 64 << 20
NAME_CONTEXT = 40
# Matches taken per rule per text. Each costs microseconds in Python (the match object, the value
# check); a block made of 200 000 key-shaped strings would otherwise cost seconds. The scanner
# reports at most 64 findings per text anyway; the margin is for placeholders the checks refuse.
MAX_MATCHES_PER_RULE = 512
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _name_head(before: str) -> str:
    """The identifier characters that end ``before``."""
    start = len(before)
    while start > 0 and before[start - 1] in _NAME_CHARS:
        start -= 1
    return before[start:]


class Engine(Protocol):
    """Yields (rule index, character offset of the secret, the secret, the whole match) for every
    pattern match. The whole match starts with the rest of the identifier it begins in (up to
    NAME_CONTEXT characters), so a check sees `publicKeyToken`, not just `Token`."""

    def candidates(self, text: str) -> Iterator[tuple[int, int, str, str]]: ...


def _trigger_pattern(rule: Rule, trigger: str) -> str:
    escaped = re.escape(trigger)
    return f"(?i:{escaped})" if rule.ignore_case else escaped


class Re2Engine:
    def __init__(self, rules: Sequence[Rule]) -> None:
        options = re2.Options()
        options.max_mem = _RE2_MAX_MEM
        self._patterns = tuple(re2.compile(rule.pattern, options) for rule in rules)
        # One RE2 Set of every trigger: a single linear pass says which ones occur.
        self._prefilter = re2.Set.SearchSet(options)
        self._rule_of_trigger: list[int] = []
        for index, rule in enumerate(rules):
            for trigger in rule.triggers:
                self._prefilter.Add(_trigger_pattern(rule, trigger))
                self._rule_of_trigger.append(index)
        self._prefilter.Compile()

    def candidates(self, text: str) -> Iterator[tuple[int, int, str, str]]:
        data = text.encode("utf-8", "surrogatepass")
        hits = self._prefilter.Match(data)
        if not hits:
            return
        ascii_only = len(data) == len(text)
        for index in sorted({self._rule_of_trigger[hit] for hit in hits}):
            for match in itertools.islice(self._patterns[index].finditer(data), MAX_MATCHES_PER_RULE):
                start = match.start(1)
                offset = start if ascii_only else len(data[:start].decode("utf-8", "surrogatepass"))
                head = _name_head(data[max(0, match.start() - NAME_CONTEXT):match.start()].decode("utf-8", "ignore"))
                yield (index, offset, match.group(1).decode("utf-8", "surrogatepass"),
                       head + match.group(0).decode("utf-8", "surrogatepass"))


class ReEngine:
    """Python's ``re`` with the same patterns (ASCII classes, as RE2 has). Its pre-filter is the
    fastest thing Python offers for it: a substring test per trigger (on the lower-cased text for
    case-insensitive rules)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)
        self._patterns = tuple(re.compile(rule.pattern, re.ASCII) for rule in rules)

    def candidates(self, text: str) -> Iterator[tuple[int, int, str, str]]:
        lowered: str | None = None
        for index, rule in enumerate(self._rules):
            if rule.ignore_case:
                lowered = text.lower() if lowered is None else lowered
                haystack = lowered
                triggers = tuple(trigger.lower() for trigger in rule.triggers)
            else:
                haystack, triggers = text, rule.triggers
            if not any(trigger in haystack for trigger in triggers):
                continue
            for match in itertools.islice(self._patterns[index].finditer(text), MAX_MATCHES_PER_RULE):
                head = _name_head(text[max(0, match.start() - NAME_CONTEXT):match.start()])
                yield index, match.start(1), match.group(1), head + match.group(0)


def make_engine(name: EngineName, rules: Sequence[Rule]) -> Engine:
    if name == "re2":
        return Re2Engine(rules)
    if name == "re":
        return ReEngine(rules)
    raise ValueError(f"unknown regex engine {name!r} (re2 or re)")

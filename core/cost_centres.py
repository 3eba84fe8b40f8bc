"""Which cost centre each team's spend is billed to: finance's mapping, read from a YAML (or JSON)
file named by ``SWITCHYARD_COST_CENTRES_FILE`` (docs/chargeback.md)::

    teams:
      payments: "4100-PAY"
      platform: "4200-PLT"
    default: "9999-UNALLOCATED"   # optional: teams not listed, and turns with no team

Pure: text in, mapping out. The file is finance's word, but a typo in it mis-bills a team, so
anything unexpected is refused with the reason (a key other than ``teams``/``default``, a centre
that YAML read as a number — ``0410`` would become 264 — an empty or over-long name, control
characters) rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024
MAX_TEAMS = 10_000
MAX_TEAM_CHARS = 256  # as long as a stored team name may be (core.turn_bounds)
MAX_CENTRE_CHARS = 128


class CostCentreError(ValueError):
    """A cost-centre file that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class CostCentres:
    teams: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default: str | None = None
    source: str | None = None  # where it was read from, for messages and the audit log

    def of(self, team: str | None) -> str:
        """The cost centre of ``team`` ("" or None: the turns named no team); "" when none applies."""
        if team and team in self.teams:
            return self.teams[team]
        return self.default or ""

    def unmapped(self, teams: set[str]) -> list[str]:
        """Of ``teams``, those the file does not list (they get the default, if there is one)."""
        return sorted(team for team in teams if team and team not in self.teams)


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise CostCentreError(f"{where}: {value!r} is a {type(value).__name__}, not text; quote it "
                              f"(\"{value}\") so YAML keeps it as written")
    if not value.strip() or value != value.strip():
        raise CostCentreError(f"{where}: {value[:60]!r} is empty or has blanks at its ends")
    if len(value) > limit:
        raise CostCentreError(f"{where}: {value[:40]!r}… is longer than {limit} characters")
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise CostCentreError(f"{where}: {value[:60]!r} holds a control character")
    return value


def parse_cost_centres(text: str, source: str | None = None) -> CostCentres:
    """The mapping in ``text`` (YAML or JSON); CostCentreError naming the problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise CostCentreError(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CostCentreError(f"not YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise CostCentreError("the file must be a mapping with `teams:` (team → cost centre) and an optional "
                              "`default:`")
    unknown = sorted(str(key) for key in document if key not in ("teams", "default"))
    if unknown:
        raise CostCentreError(f"unknown key {unknown[0][:60]!r}: only `teams` and `default`")
    teams = document.get("teams") or {}
    if not isinstance(teams, dict):
        raise CostCentreError("`teams` must map each team to its cost centre")
    if len(teams) > MAX_TEAMS:
        raise CostCentreError(f"`teams` lists {len(teams)} teams; at most {MAX_TEAMS}")
    mapping = {_text(team, "a team name", MAX_TEAM_CHARS): _text(centre, f"team {str(team)[:60]!r}", MAX_CENTRE_CHARS)
               for team, centre in teams.items()}
    default = document.get("default")
    return CostCentres(MappingProxyType(mapping),
                       None if default is None else _text(default, "`default`", MAX_CENTRE_CHARS), source)

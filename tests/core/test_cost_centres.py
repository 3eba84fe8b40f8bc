"""Finance's team → cost centre file: read as written, or refused with the reason (a mis-read
centre would bill a team to the wrong budget)."""

from __future__ import annotations

import pytest

from core.cost_centres import MAX_FILE_BYTES, CostCentreError, CostCentres, parse_cost_centres

GOOD = """\
# which cost centre each team's spend is billed to
teams:
  payments: "4100-PAY"
  platform: "0410"
default: "9999-REST"
"""


def test_a_file_maps_teams_and_falls_back_to_its_default() -> None:
    centres = parse_cost_centres(GOOD, "centres.yaml")
    assert dict(centres.teams) == {"payments": "4100-PAY", "platform": "0410"}
    assert (centres.of("payments"), centres.of("platform"), centres.of("research")) == ("4100-PAY", "0410",
                                                                                       "9999-REST")
    assert centres.of("") == centres.of(None) == "9999-REST"  # turns with no team go to the default too
    assert centres.unmapped({"payments", "research", "ops", ""}) == ["ops", "research"]
    assert centres.source == "centres.yaml"


def test_json_works_and_no_default_leaves_unlisted_teams_empty() -> None:
    centres = parse_cost_centres('{"teams": {"payments": "CC-1"}}')
    assert (centres.of("payments"), centres.of("research"), centres.default) == ("CC-1", "", None)
    assert CostCentres().of("payments") == ""  # no file: no cost centres


@pytest.mark.parametrize(("text", "reason"), [
    ("teams:\n  payments: 0410\n", "not text; quote it"),  # YAML 1.1 reads 0410 as octal 264
    ("teams:\n  payments: 4100\n", "not text; quote it"),
    ("teams:\n  4100: 'x'\n", "not text"),
    ("teams:\n  payments: ''\n", "empty"),
    ("teams:\n  payments: ' CC-1'\n", "blanks"),
    ("teams:\n  payments: \"CC\\u0007\"\n", "control character"),
    ("teams:\n  payments: '" + "x" * 129 + "'\n", "longer than 128"),
    ("teams: [payments]\n", "map each team"),
    ("team:\n  payments: 'CC-1'\n", "unknown key 'team'"),
    ("- payments\n", "must be a mapping"),
    ("teams: {payments: 'CC-1'\n", "not YAML"),
    ("default: 12\n", "not text"),
])
def test_a_bad_file_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(CostCentreError, match=reason):
        parse_cost_centres(text)


def test_a_huge_file_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(CostCentreError, match="larger than"):
        parse_cost_centres("#" * (MAX_FILE_BYTES + 1))

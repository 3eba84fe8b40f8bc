"""docs/policy.md documents every schema field, and its example is a clean, working policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.policy import schema
from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.load import load_policy
from core.policy.validate import validate

DOCS = Path(__file__).resolve().parents[3] / "docs"
REFERENCE = (DOCS / "policy.md").read_text()
EXAMPLE = (DOCS / "examples" / "policy.yaml").read_text()
MODELS = [m for m in vars(schema).values()
          if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == schema.__name__
          and not m.__name__.startswith("_")]


def _section(title: str) -> str:
    match = re.search(rf"^### {title}\n(.*?)(?=^#{{2,3}} |\Z)", REFERENCE, re.S | re.M)
    assert match, f"docs/policy.md has no '### {title}' section"
    return match.group(1)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_every_field_is_documented_in_its_models_section(model: type[BaseModel]) -> None:
    section = _section(model.__name__)
    missing = [name for name in model.model_fields if f"| `{name}` |" not in section]
    assert missing == []


def test_the_example_is_clean() -> None:
    policy = load_policy(EXAMPLE)
    assert validate(policy) == []
    assert compile_policy(policy).warnings == ()


def test_the_reference_shows_the_example_file() -> None:
    block = re.search(r"## A complete example.*?```yaml\n(.*?)```", REFERENCE, re.S)
    assert block is not None
    assert load_policy(block.group(1)) == load_policy(EXAMPLE)


@pytest.mark.parametrize(("tokens", "firsts", "propensity"), [
    (50_000, {"sonnet-us", "sonnet-eu"}, 0.98 / 2 + 0.02 / 3 / 2),
    (5_000, {"haiku"}, 0.98 + 0.02 / 3),
])
def test_the_worked_propensities_in_the_reference_hold(tokens: int, firsts: set[str], propensity: float) -> None:
    compiled = compile_policy(load_policy(EXAMPLE))
    decisions = [decide(compiled, RouteFacts(input_tokens=tokens, session_id=f"s{i}")) for i in range(300)]
    ordinary = [d for d in decisions if d.rule != "exploration"]
    assert {d.chain[0].name for d in ordinary} == firsts
    assert [d.propensity for d in ordinary] == pytest.approx([propensity] * len(ordinary))

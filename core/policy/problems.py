"""What is wrong with a policy: a list of located problems, and the one exception that carries them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """``path`` points into the document the way a reader would write it: ``rules[2].when.input_tokens``."""

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


class PolicyError(ValueError):
    """A policy that cannot be loaded or run. Every problem is listed, one per line, so a person
    fixing the file sees all of them at once instead of one per attempt."""

    def __init__(self, problems: Iterable[Problem], what: str = "policy") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = sum(1 for p in self.problems if p.severity == "error")
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{what} has {errors} error(s):\n{lines}")


def location(parts: Iterable[str | int]) -> str:
    """``("rules", 2, "when", "input_tokens")`` → ``rules[2].when.input_tokens``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(document)"


def errors_in(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]

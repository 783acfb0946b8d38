"""One exception root for everything ipt-advisor reports to a user.

    IptError                      root; carries every Problem found, sorted
    ├── IntakeError               an intake record is invalid        (CLI exit 3)
    ├── RuleSetError              a rule set is invalid               (CLI exit 4)
    ├── EngineError               the engine failed while evaluating  (CLI exit 4)
    └── OutputError               a report could not be written       (CLI exit 1)

Loaders never stop at the first problem: they gather all of them, then raise
one error holding the whole list, so a user fixes a file in one pass.
"""

from __future__ import annotations

from dataclasses import field
from .precompiled_classes import dataclass
from typing import Iterable


MAX_MESSAGE = 300  # characters; longer ones are cut (a safety net: messages cap their values)
MAX_PATH = 120


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong, rendered as ``FILE:LINE: dotted.path: message``."""

    source: str
    line: int | None
    path: str
    message: str = field(compare=True)

    def __post_init__(self) -> None:
        # a message repeats no unbounded value: one screen line or two at most
        if len(self.message) > MAX_MESSAGE:
            object.__setattr__(self, "message", self.message[: MAX_MESSAGE - 1] + "…")
        if len(self.path) > MAX_PATH:
            object.__setattr__(self, "path", self.path[: MAX_PATH - 1] + "…")

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.source, self.line or 0, self.path, self.message)

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "path": self.path, "message": self.message}


class IptError(Exception):
    """Root of every error ipt-advisor raises on purpose."""

    def __init__(self, problems: Iterable[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("ipt-advisor", None, "", problems)]
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems), key=Problem.sort_key))
        super().__init__("\n".join(str(p) for p in self.problems))


class IntakeError(IptError):
    """The intake record is invalid; nothing was assessed."""


class RuleSetError(IptError):
    """The rule set failed to load, lint or compile."""


class EngineError(IptError):
    """Evaluation failed inside the inference engine (an action raised, a firing limit hit)."""


class OutputError(IptError):
    """A report or batch output could not be written; nothing partial was left behind."""


class ProblemCollector:
    """Gathers problems for one source so a loader can report them all at once."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, line: int | None = None, source: str | None = None) -> None:
        self.problems.append(Problem(source or self.source, line, path, message))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def raise_if_any(self, kind: type[IptError]) -> None:
        if self.problems:
            raise kind(self.problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

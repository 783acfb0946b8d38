"""ipt-advisor: rule-based, explainable decision support for Interpersonal Psychotherapy.

The public API (see docs/architecture.md)::

    from ipt_advisor import Advisor, load_intake_file, IptError

    advisor = Advisor.load()                      # the bundled rules, or Advisor.load("my-rules/")
    try:
        intake = load_intake_file("intake.yaml")  # validated; every problem at once
        decision = advisor.assess(intake)         # decision-v1 dict, deterministic
    except IptError as exc:                       # the one root: IntakeError, RuleSetError, ...
        for problem in exc.problems:              # each with its file:line and field path
            print(problem)

Names are imported on first use, so ``import ipt_advisor`` stays cheap and loads neither
the rule set nor durable-rules (the engine is loaded when something is evaluated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Advisor": "advisor",
    "Intake": "intake.schema",
    "load_intake": "intake.schema",
    "load_intake_file": "intake.schema",
    "IptError": "core.errors",
    "IntakeError": "core.errors",
    "RuleSetError": "core.errors",
    "EngineError": "core.errors",
    "OutputError": "core.errors",
    "Problem": "core.errors",
}

__all__ = [  # the names of _EXPORTS (tests/test_architecture.py checks the two agree)
    "Advisor",
    "EngineError",
    "Intake",
    "IntakeError",
    "IptError",
    "OutputError",
    "Problem",
    "RuleSetError",
    "__version__",
    "load_intake",
    "load_intake_file",
]

if TYPE_CHECKING:
    from .advisor import Advisor
    from .core.errors import EngineError, IntakeError, IptError, OutputError, Problem, RuleSetError
    from .intake.schema import Intake, load_intake, load_intake_file


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ipt_advisor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value

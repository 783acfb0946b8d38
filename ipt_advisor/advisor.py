"""The library's front door: load a rule set once, assess many intakes.

    advisor = Advisor.load()              # bundled rules, or Advisor.load("my-rules/")
    decision = advisor.assess(intake)     # decision-v1 dict, deterministic
    view = advisor.view(decision, intake) # what the report templates render
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .compile import compile_ruleset
from .decide import decide
from .facts import engine_fact, input_values, not_assessed
from .intake import Intake
from .model import RuleSet
from .ruleload import load_ruleset

_CACHE: dict[str, "Advisor"] = {}


class Advisor:
    """A checked rule set compiled into its own engine."""

    def __init__(self, ruleset: RuleSet):
        from .engine import Engine  # durable is imported only when something is evaluated

        self.ruleset = ruleset
        self.compiled = compile_ruleset(ruleset)
        self.engine = Engine(ruleset, self.compiled)

    @classmethod
    def load(cls, rules_dir: str | Path | None = None) -> "Advisor":
        """Load (once per process and directory) and compile a rule set.

        One engine per rule-set directory lives for the whole process: loading, linting
        and compiling a rule set costs far more than assessing one intake."""
        key = str(Path(rules_dir).resolve()) if rules_dir is not None else ""
        if key not in _CACHE:
            _CACHE[key] = cls(load_ruleset(rules_dir))
        return _CACHE[key]

    def assess(self, intake: Intake) -> dict[str, Any]:
        """The decision for one validated intake (decision-v1 + extensions)."""
        values = input_values(intake, self.ruleset)
        run = self.engine.run(engine_fact(values), intake.source)
        return decide(run, values, not_assessed(values, self.ruleset), self.ruleset, intake.case_id)

    def view(self, decision: dict[str, Any], intake: Intake, tool_version: str) -> dict[str, Any]:
        """Everything a report template shows: the decision plus the rule texts it cites."""
        rs = self.ruleset
        policy = rs.policies
        assert policy is not None
        cited = [t["rule"] for t in decision["trace"]]
        return {
            "tool_version": tool_version,
            "case": {
                "id": intake.case_id,
                "assessed_on": intake.get("assessed_on"),
                "age": intake.get("age"),
                "source": intake.source,
                "notes": intake.get("notes"),
            },
            "decision": decision,
            "rules": {rid: self.rule_summary(rid) for rid in dict.fromkeys(cited)},
            "labels": {spec.key: spec.label for spec in rs.facts.values()},
            "format_labels": dict(policy.format_labels),
            "area_labels": dict(policy.area_labels),
        }

    def rule_summary(self, rule_id: str) -> dict[str, Any]:
        rule = self.ruleset.rule(rule_id)
        return {
            "id": rule.id, "title": rule.title, "version": rule.version, "status": rule.status,
            "rationale": rule.rationale, "references": self.ruleset.citations(rule),
        }

    def report(self, intake: Intake, fmt: str, tool_version: str) -> tuple[dict[str, Any], str]:
        """Assess and render in one call: (decision, report text)."""
        from .report import render

        decision = self.assess(intake)
        return decision, render(self.view(decision, intake, tool_version), fmt)

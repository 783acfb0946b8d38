"""The library's front door: load a rule set once, assess many intakes.

advisor = Advisor.load()                       # bundled rules, or Advisor.load("my-rules/")
intake = load_intake_file("intake.yaml")       # ipt_advisor.intake.schema; raises IntakeError
decision = advisor.assess(intake)              # decision-v1 dict, deterministic
view = advisor.view(decision, intake, "0.1.0") # what the report templates render
decision, text = advisor.report(intake, "text", "0.1.0")  # assess and render in one call
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .ruleset.compile import Compiled, compile_ruleset
from .decision.decide import decide
from .intake.facts import engine_fact, input_values, not_assessed
from .intake.schema import Intake
from .core.model import RuleSet

_CACHE: dict[str, "Advisor"] = {}

#: intake-v1 Additions: pseudonymous codes a decision carries after ``intake_id`` when the
#: intake has them (quality teams break audits down by them); absent, the decision is unchanged.
CODES = ("site", "clinician")


def with_codes(decision: dict[str, Any], intake: Intake) -> dict[str, Any]:
    """``decision`` with the intake's ``site`` / ``clinician`` codes right after ``intake_id``."""
    codes = {k: intake.record[k] for k in CODES if intake.record.get(k) is not None}
    if not codes:
        return decision
    out: dict[str, Any] = {}
    for key, value in decision.items():
        out[key] = value
        if key == "intake_id":
            out.update(codes)
    return out


class Advisor:
    """A checked rule set compiled into its own engine."""

    def __init__(self, ruleset: RuleSet, loadable: str | None = None, compiled: Compiled | None = None):
        """``loadable``: the sha256 of an engine definition known to load in time, and
        ``compiled``: the rule set's compiled form (both the rule-set cache's), so neither
        the forked trial load nor the compilation needs doing again."""
        from .engine.durable_rules import Engine  # durable is imported only when something is evaluated

        self.ruleset = ruleset
        self.compiled = compiled if compiled is not None else compile_ruleset(ruleset)
        self.engine = Engine(ruleset, self.compiled, loadable)

    @classmethod
    def load(cls, rules_dir: str | Path | None = None) -> "Advisor":
        """Load (once per process and directory) and compile a rule set.

        One engine per rule-set directory lives for the whole process: loading, linting
        and compiling a rule set costs far more than assessing one intake."""
        key = str(Path(rules_dir).resolve()) if rules_dir is not None else ""
        if key not in _CACHE:
            _CACHE[key] = cls._load(rules_dir)
        return _CACHE[key]

    @classmethod
    def _load(cls, rules_dir: str | Path | None) -> "Advisor":
        """From the rule-set cache when it holds these very files (ruleset_cache), else a
        full load and check, which then fills the cache."""
        from . import ruleset_cache
        from .ruleset.load import load_ruleset, rules_root

        root, shown = rules_root(rules_dir)
        cached = ruleset_cache.read(root, shown)
        if cached is not None:
            return cls(*cached)
        read: list[str] = []
        advisor = cls(load_ruleset(rules_dir, read))
        ruleset_cache.write(root, shown, read, advisor.ruleset, advisor.compiled, advisor.engine.definition_sha256)
        return advisor

    def assess(self, intake: Intake) -> dict[str, Any]:
        """The decision for one validated intake (decision-v1 + extensions)."""
        values = input_values(intake, self.ruleset)
        run = self.engine.run(engine_fact(values), intake.source)
        return with_codes(decide(run, values, not_assessed(values, self.ruleset), self.ruleset, intake.case_id), intake)

    def view(self, decision: dict[str, Any], intake: Intake, tool_version: str) -> dict[str, Any]:
        """Everything a report template shows: the decision, in the rule set's words."""
        from .report.view import report_view

        return report_view(self.ruleset, decision, intake, tool_version)

    def handout(self, decision: dict[str, Any], intake: Intake) -> dict[str, Any]:
        """What the client handout prints for this decision (rules folder ``handout``)."""
        from .decision.decide import derived_values
        from .ruleset.handout import handout_view

        return handout_view(
            self.ruleset, decision, input_values(intake, self.ruleset), derived_values(decision, self.ruleset)
        )

    def incomplete_reasons(self, decision: dict[str, Any], intake: Intake) -> list[str]:
        """Why a decision is incomplete, one line per rule that made it so, with the answers
        it found missing (not recorded, declined) in the report's words; empty if complete."""
        from .core.wording import answer_words
        from .core.model import SetStatus

        rs = self.ruleset
        values = input_values(intake, rs)
        by_key = {spec.key: spec for spec in rs.facts.values()}
        out = []
        for step in decision["trace"]:
            rule = rs.rule(step["rule"])
            if not any(isinstance(e, SetStatus) and e.status == "incomplete" for e in rule.then):
                continue
            read = [by_key[k] for k in step["because"] if k in by_key and not by_key[k].derived]
            # the answers it found missing; a rule that fired on a recorded answer (declined) names that
            missing = [spec for spec in read if values.get(spec.name) is None] or read
            facts = [f"{spec.label}: {answer_words(rs, spec.name, values)}" for spec in missing]
            out.append(f"{rule.title} ({rule.id})" + (": " + "; ".join(facts) if facts else ""))
        return out

    def report(self, intake: Intake, fmt: str, tool_version: str) -> tuple[dict[str, Any], str]:
        """Assess and render in one call: (decision, report text)."""
        from .report.render import render

        decision = self.assess(intake)
        return decision, render(self.view(decision, intake, tool_version), fmt)

    def handout_text(self, intake: Intake, fmt: str) -> tuple[dict[str, Any], str]:
        """Assess and render the client handout: (decision, handout text)."""
        from .report.render import render_handout

        decision = self.assess(intake)
        return decision, render_handout(self.handout(decision, intake), fmt)

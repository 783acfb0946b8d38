"""Mutation testing of a rule set: do the tests notice when a rule is changed?

Every mutant (``mutants.generate``) is evaluated on every test case (the rules' own,
plus any case files).  A mutant is **killed** when some case that passes on the real
rules fails on it, **equivalent** when no intake at all can tell it apart
(``equivalence``), and otherwise it **survives**: no test pins that part of the rule.
For each survivor the report names the test that would have had to notice it and, where
one is found, a test case that would (``killing``); ``mutation_report`` renders the report.

Why it is fast enough to run in ``make test`` (docs/rules.md, "Mutation testing"):

* mutants are evaluated with ``direct.Evaluator`` (plain-Python firing + the production
  ``decide``), not a durable-rules ruleset each: building an engine per mutant costs
  more than evaluating every case on it.  The evaluator is held to the engine by the
  differential tests, the run itself first checks that it gives the engine's decision on
  every case, and tests/test_mutation.py re-checks sampled mutant verdicts through the
  engine;
* work that cannot change a verdict is skipped: a mutant changes only one rule, and the
  facts a rule reads are derived only by rules before it, so on a case where the mutated
  condition decides the same as the original (or, for an effect or one of its text
  variants, where the rule does not fire) the whole decision is the same.  Only the other
  cases are re-evaluated (all of them for a change to the manifest's policies);
* mutants are spread over worker processes (``fork``, one per core by default).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import field
from ..core.precompiled_classes import dataclass
from typing import Any

from ..decision.direct import Evaluator, compile_condition
from .equivalence import why_equivalent
from ..core.errors import IptError, Problem
from ..intake.facts import input_values
from ..intake.schema import from_mapping
from ..core.model import RuleSet
from .mutants import OPERATORS, Generated, Mutant, generate, mutated_ruleset
from ..ruletests import Case, check


class MutationError(IptError):
    """Mutation testing cannot start: the tests fail on the real rules, or the plain-Python
    evaluator disagrees with the engine (its verdicts would not be trustworthy)."""


@dataclass
class State:
    """One case on the real rules."""

    case: Case
    intake_id: str
    values: dict[str, Any]
    fired: frozenset[str]
    derived: dict[str, list[Any]]
    decision: dict[str, Any]


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed | survived | equivalent
    killed_by: list[str] = field(default_factory=list)  # case labels (the first few)
    reason: str = ""  # equivalent: why
    nearest: str = ""  # survived: the test that would have had to notice it
    suggestion: Any = None  # survived: a killing.Suggestion, when one is found


@dataclass
class Report:
    ruleset: str
    cases: dict[str, int]  # source -> number of cases
    results: list[Result]
    duplicates: int
    seconds: float
    jobs: int

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def score(self) -> float:
        """Killed over killable (equivalent mutants left out), in percent."""
        killable = len(self.results) - self.count("equivalent")
        return 100.0 * self.count("killed") / killable if killable else 100.0


# ------------------------------------------------------------------ the real rules on every case


class Baseline:
    def __init__(self, ruleset: RuleSet, cases: list[Case]):
        self.ruleset = ruleset
        self.evaluator = Evaluator(ruleset)
        self.states: list[State] = []
        #: neighbour cases killing.neighbour built, by (case index, changes): the mutants of
        #: one rule try the same ones
        self.neighbours: dict[tuple[int, tuple[tuple[str, Any], ...]], State | None] = {}
        failing = []
        for case in cases:
            intake = from_mapping(case.record, None, case.location)
            values = input_values(intake, ruleset)
            run = self.evaluator.fire(values)
            decision = self.evaluator.decide(values, intake.case_id)
            self.states.append(State(case, intake.case_id, values, frozenset(run.fired), run.derived, decision))
            if case.checked and (failures := check(case, decision, ruleset)):
                failing.append(
                    Problem(
                        case.location, None, "", f"{case.label} fails on the rules as they are: " + "; ".join(failures)
                    )
                )
        if failing:
            raise MutationError(failing)

    def cross_check(self, advisor: Any) -> None:
        """Raise ``MutationError`` unless the engine decides every case as the direct evaluator did."""
        wrong = []
        for state in self.states:
            engine = advisor.assess(from_mapping(state.case.record, None, state.case.location))
            if _outcome(engine) != _outcome(state.decision):
                wrong.append(
                    Problem(
                        state.case.location,
                        None,
                        "",
                        f"{state.case.label}: the plain-Python evaluator "
                        "and the engine disagree; mutation verdicts would not be trustworthy",
                    )
                )
        if wrong:
            raise MutationError(wrong)


def _outcome(decision: dict[str, Any]) -> Any:
    return (
        decision["status"],
        decision["recommendation"],
        decision["focus"],
        decision["flags"],
        decision["severity"],
        decision["considerations"],
        [t["rule"] for t in decision["trace"]],
        decision["not_assessed"],
    )


# ------------------------------------------------------------------ one mutant


def affected(baseline: Baseline, mutant: Mutant) -> list[int]:
    """The cases on which the mutant can decide differently: the only ones re-evaluated."""
    rid = mutant.rule_id
    if mutant.target == "policies":  # a policy applies to every decision
        return list(range(len(baseline.states)))
    if not mutant.on_condition:  # an effect, or one of its texts, shows only where the rule fires
        return [i for i, s in enumerate(baseline.states) if rid in s.fired]
    assert mutant.rule is not None  # every mutant but a policy one belongs to a rule
    test = compile_condition(mutant.rule.when)
    holds = baseline.evaluator.holds
    return [i for i, s in enumerate(baseline.states) if holds(rid, s.values, s.derived, test) != (rid in s.fired)]


def killers(baseline: Baseline, mutant: Mutant, first_only: bool = True) -> list[int]:
    """Indices of the cases that fail on the mutant (all of them pass on the real rules)."""
    evaluator: Evaluator | None = None
    out = []
    for i in affected(baseline, mutant):
        state = baseline.states[i]
        if not state.case.checked:
            continue
        evaluator = evaluator or Evaluator(mutated_ruleset(baseline.ruleset, mutant))
        if check(state.case, evaluator.decide(state.values, state.intake_id), evaluator.ruleset):
            out.append(i)
            if first_only:
                break
    return out


def judge(baseline: Baseline, mutant: Mutant) -> Result:
    killed = killers(baseline, mutant)
    if killed:
        return Result(mutant, "killed", [baseline.states[i].case.label for i in killed])
    reason = why_equivalent(baseline.ruleset, mutant)
    if reason:
        return Result(mutant, "equivalent", reason=reason)
    from .killing import nearest, suggest

    result = Result(mutant, "survived")
    result.suggestion = suggest(baseline, mutant)
    result.nearest = nearest(baseline, mutant, result.suggestion)
    return result


# ------------------------------------------------------------------ the whole run

_WORK: dict[str, Any] = {}  # what forked workers read: the baseline and the mutants


def _judge_number(index: int) -> Result:
    result = judge(_WORK["baseline"], _WORK["mutants"][index])
    return dataclasses.replace(result, mutant=None)  # type: ignore[arg-type]  # the parent has the mutant


def run(
    ruleset: RuleSet,
    cases: list[Case],
    *,
    advisor: Any = None,
    jobs: int | None = None,
    rule_ids: list[str] | None = None,
    operators: tuple[str, ...] = OPERATORS,
) -> Report:
    """Mutation-test ``ruleset`` with ``cases``; ``advisor`` (the same rules in the engine)
    cross-checks the direct evaluator first."""
    start = time.perf_counter()
    baseline = Baseline(ruleset, cases)
    if advisor is not None:
        baseline.cross_check(advisor)
    generated: Generated = generate(ruleset, rule_ids, operators)
    mutants = list(generated.mutants)
    jobs = max(1, min(jobs if jobs is not None else (os.cpu_count() or 1), len(mutants) or 1))
    if jobs == 1:
        results = [judge(baseline, m) for m in mutants]
    else:
        import multiprocessing

        _WORK.update(baseline=baseline, mutants=mutants)
        try:
            # fork: workers inherit the baseline instead of rebuilding it; chunks spread the
            # rules' mutants (whose costs differ) evenly over the workers
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                judged = pool.map(_judge_number, range(len(mutants)), chunksize=max(1, len(mutants) // (jobs * 8)))
        finally:
            _WORK.clear()
        results = [dataclasses.replace(r, mutant=m) for r, m in zip(judged, mutants)]
    sources: dict[str, int] = {}
    for case in cases:
        key = "embedded" if case.owner is not None else case.location.rsplit(":", 1)[0]
        sources[key] = sources.get(key, 0) + 1
    name = f"{ruleset.root} ({ruleset.name} {ruleset.version})"
    return Report(name, sources, results, generated.duplicates, time.perf_counter() - start, jobs)

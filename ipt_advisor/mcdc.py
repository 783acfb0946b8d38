"""Condition coverage (MC/DC style) of each rule's own test cases.

For every test of a fact in a rule's condition (every leaf), do the rule's own cases show
that test deciding the rule's outcome by itself?  Two things to show:

* **making it fire**: a case where the rule fires and would stay silent if that test
  alone were false;
* **keeping it silent**: a case where the rule stays silent and would fire if that test
  alone were true.

A leaf is covered when both are shown (masking MC/DC, in three-valued logic: a test on
an unknown answer counts as not true, and "alone" means every other leaf keeps the truth
it has in that case).  Only the rule's own cases count, because only they say whether
the rule fires (``expect.fires``); what other cases pin is what ``--mutate`` measures.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import leaf_words
from .direct import Evaluator, compile_condition
from .equivalence import conditions_equivalent
from .intake import from_mapping
from .facts import input_values
from .model import RuleSet, leaves
from .mutants import without
from .ruletests import Case


@dataclass
class LeafCoverage:
    words: str
    location: str
    makes_it_fire: list[str] = field(default_factory=list)   # names of the cases that show it
    keeps_it_silent: list[str] = field(default_factory=list)
    redundant: bool = False  # the condition means the same without it: no case can show it deciding

    @property
    def covered(self) -> bool:
        return bool(self.makes_it_fire and self.keeps_it_silent)

    @property
    def missing(self) -> str:
        """What no case shows yet, in words ('' when covered)."""
        if self.redundant and not self.covered:
            return "cannot decide on its own: the condition means the same without it"
        gaps = [what for what, shown in (("making it fire", self.makes_it_fire),
                                         ("keeping it silent", self.keeps_it_silent)) if not shown]
        return "never shown " + " or ".join(gaps) if gaps else ""


@dataclass
class RuleCoverage:
    rule_id: str
    leaves: list[LeafCoverage]

    @property
    def covered(self) -> int:
        return sum(leaf.covered for leaf in self.leaves)

    @property
    def coverable(self) -> int:
        """Leaves that can decide the outcome on their own (not redundant)."""
        return sum(not leaf.redundant or leaf.covered for leaf in self.leaves)


def coverage(ruleset: RuleSet, cases: list[Case]) -> list[RuleCoverage]:
    """Condition coverage of every active rule by its own cases, in rule-file order."""
    evaluator = ruleset.memo(Evaluator)
    states = []
    for case in cases:
        if case.owner is None or not case.checked:
            continue
        values = input_values(from_mapping(case.record, None, case.location), ruleset)
        states.append((case, values, evaluator.fire(values)))
    out = []
    for rule in ruleset.active_rules:
        own = [(case, values, run) for case, values, run in states if case.owner == rule.id]
        result = RuleCoverage(rule.id, [])
        for leaf in leaves(rule.when):
            entry = LeafCoverage(leaf_words(leaf, ruleset), f"{rule.file}:{leaf.line or rule.line}",
                                 redundant=conditions_equivalent(ruleset, rule.when, without(rule.when, leaf)))
            if_true = compile_condition(rule.when, {id(leaf): True})
            if_false = compile_condition(rule.when, {id(leaf): False})
            for case, values, run in own:
                derived = run.derived
                decides = (evaluator.holds(rule.id, values, derived, if_true)
                           != evaluator.holds(rule.id, values, derived, if_false))
                if decides:
                    (entry.makes_it_fire if rule.id in run.fired else entry.keeps_it_silent).append(case.name)
            result.leaves.append(entry)
        out.append(result)
    return out


def totals(result: list[RuleCoverage]) -> tuple[int, int, int, int, int]:
    """(leaves covered, leaves that can decide on their own, all leaves, rules fully covered, rules)."""
    covered = sum(r.covered for r in result)
    coverable = sum(r.coverable for r in result)
    count = sum(len(r.leaves) for r in result)
    full = sum(r.covered == r.coverable for r in result)
    return covered, coverable, count, full, len(result)


def text(result: list[RuleCoverage], verbose: bool = False) -> str:
    """``rules test --coverage``: the rules whose tests leave a leaf unshown (all with ``verbose``)."""
    out = ["condition coverage (MC/DC): each test in a rule's condition shown deciding the rule's",
           "outcome by itself, making it fire and keeping it silent, in the rule's own test cases:"]
    width = max((len(r.rule_id) for r in result), default=0)
    for r in result:
        if r.covered == len(r.leaves) and not verbose:
            continue
        out.append(f"  {r.rule_id.ljust(width)}  {r.covered} of {r.coverable}"
                   + (f" ({len(r.leaves) - r.coverable} redundant)" if r.coverable < len(r.leaves) else ""))
        for leaf in r.leaves:
            if not leaf.covered or verbose:
                status = leaf.missing or f"shown by {leaf.makes_it_fire[0]!r} and {leaf.keeps_it_silent[0]!r}"
                out.append(f"      {leaf.words} ({leaf.location}): {status}")
    covered, coverable, count, full, rules = totals(result)
    share = 100.0 * covered / coverable if coverable else 100.0
    out.append(f"{covered} of {coverable} condition tests covered ({share:.1f} %; {count - coverable} more cannot "
               f"decide on their own); {full} of {rules} rules fully covered")
    return "\n".join(out) + "\n"

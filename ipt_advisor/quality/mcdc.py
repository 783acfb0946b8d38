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

A text variant's condition is a condition too (docs/rules.md, "Texts that depend on the
case"): its outcome is whether its text is the one printed.  Its leaves are shown
*choosing the text* (the rule fires, the text prints, no variant before it holds, and
the variant would not be chosen if that test alone were false) and *keeping the text
out* (the same, the other way round), in the rule's own cases.  A banner's variants
belong to no rule: every embedded case counts for them ("policies").
"""

from __future__ import annotations

import itertools
from dataclasses import field
from ..core.precompiled_classes import dataclass
from typing import Any, Iterator

from ..report.words import leaf_words
from ..decision.direct import Evaluator, Test, compile_condition
from .equivalence import conditions_equivalent, intake_guard, variant_equivalent
from ..intake.facts import input_values
from ..intake.schema import from_mapping
from ..core.model import All, Cond, RaiseFlag, RuleSet, Variant, leaves
from ..core.wording import effect_owner
from .mutants import without
from ..ruletests import Case

POLICIES = "policies"  # the "rule" a banner's variants are listed under


@dataclass
class LeafCoverage:
    words: str
    location: str
    makes_it_fire: list[str] = field(default_factory=list)  # names of the cases that show it
    keeps_it_silent: list[str] = field(default_factory=list)
    redundant: bool = False  # the condition means the same without it: no case can show it deciding
    text: str = ""  # a text variant's leaf: whose text, in words ("" for the rule's own condition)

    @property
    def covered(self) -> bool:
        return bool(self.makes_it_fire and self.keeps_it_silent)

    @property
    def ways(self) -> tuple[str, str]:
        """The two things a case can show, in words."""
        return ("choosing the text", "keeping the text out") if self.text else ("making it fire", "keeping it silent")

    @property
    def missing(self) -> str:
        """What no case shows yet, in words ('' when covered)."""
        if self.redundant and not self.covered:
            return "cannot decide on its own: the condition means the same without it"
        gaps = [what for what, shown in zip(self.ways, (self.makes_it_fire, self.keeps_it_silent)) if not shown]
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


@dataclass
class _State:
    case: Case
    values: dict[str, Any]
    fired: list[str]
    derived: dict[str, list[Any]]
    decision: dict[str, Any]


def coverage(ruleset: RuleSet, cases: list[Case]) -> list[RuleCoverage]:
    """Condition coverage of every active rule by its own cases, in rule-file order, then
    of the banners' text variants by every embedded case (``policies``, when they have any)."""
    evaluator = ruleset.memo(Evaluator)
    states = []
    for case in cases:
        if case.owner is None or not case.checked:
            continue
        intake = from_mapping(case.record, None, case.location)
        values = input_values(intake, ruleset)
        run = evaluator.fire(values)
        states.append(_State(case, values, run.fired, run.derived, evaluator.decide(values, intake.case_id)))
    out = []
    for rule in ruleset.active_rules:
        own = [s for s in states if s.case.owner == rule.id]
        result = RuleCoverage(rule.id, [])
        for leaf in leaves(rule.when):
            entry = LeafCoverage(
                leaf_words(leaf, ruleset),
                f"{rule.file}:{leaf.line or rule.line}",
                redundant=conditions_equivalent(ruleset, rule.when, without(rule.when, leaf)),
            )
            if_true = compile_condition(rule.when, {id(leaf): True})
            if_false = compile_condition(rule.when, {id(leaf): False})
            for s in own:
                decides = evaluator.holds(rule.id, s.values, s.derived, if_true) != evaluator.holds(
                    rule.id, s.values, s.derived, if_false
                )
                if decides:
                    (entry.makes_it_fire if rule.id in s.fired else entry.keeps_it_silent).append(s.case.name)
            result.leaves.append(entry)
        guard = intake_guard(ruleset, rule.when)
        for effect in rule.then:
            variants = getattr(effect, "variants", ())
            if not variants:
                continue
            # the cases where this effect's text prints: the rule fired, and the text is kept
            shown = [s for s in own if rule.id in s.fired and _prints(effect, s.decision)]
            result.leaves += _variant_leaves(ruleset, variants, guard, effect_owner(effect), rule.file, shown)
        out.append(result)
    policy = ruleset.policies
    if policy is not None and any(b.variants for b in policy.banners):
        banner_leaves: list[Any] = []
        for banner in policy.banners:
            if banner.variants:
                shown = [
                    s
                    for s in states
                    if any(b["level"] == banner.level and _is_banner(banner, b["text"]) for b in s.decision["banners"])
                ]
                banner_leaves += _variant_leaves(
                    ruleset,
                    banner.variants,
                    All(()),
                    f'banner "{banner.text[:40]}…"',
                    f"{ruleset.root}/ruleset.yaml",
                    shown,
                )
        out.append(RuleCoverage(POLICIES, banner_leaves))
    return out


def _is_banner(banner: Any, text: str) -> bool:
    return text == banner.text or any(text == v.text for v in banner.variants)


def _prints(effect: Any, decision: dict[str, Any]) -> bool:
    """Whether an effect's text can print in this decision (its ``if_format`` scope)."""
    scope = getattr(effect, "if_format", ())
    return not scope or decision["recommendation"]["format"] in scope or isinstance(effect, RaiseFlag)


def _variant_leaves(
    ruleset: RuleSet, variants: tuple[Variant, ...], guard: Cond, owner: str, file: str, shown: list[_State]
) -> Iterator[LeafCoverage]:
    """The coverage of each leaf of each text variant's condition, in the cases where the text prints."""
    for k, variant in enumerate(variants):
        earlier = [compile_condition(v.when) for v in variants[:k]]
        plain = compile_condition(variant.when)
        for leaf in leaves(variant.when):
            fewer = variants[:k] + (Variant(without(variant.when, leaf), variant.text),) + variants[k + 1 :]
            entry = LeafCoverage(
                leaf_words(leaf, ruleset),
                f"{file}:{leaf.line or variant.line}",
                redundant=variant_equivalent(ruleset, guard, variants, fewer, k) is not None,
                text=f"text variant {k + 1} of {owner}",
            )
            if_true = compile_condition(variant.when, {id(leaf): True})
            if_false = compile_condition(variant.when, {id(leaf): False})
            names = [leaf.fact for leaf in leaves(variant.when)] + [
                f for v in variants[:k] for f in (x.fact for x in leaves(v.when))
            ]
            for s in shown:
                if any(_holds(t, s, names) for t in earlier):
                    continue  # an earlier variant's text prints whatever this one says
                if _holds(if_true, s, names) != _holds(if_false, s, names):
                    (entry.makes_it_fire if _holds(plain, s, names) else entry.keeps_it_silent).append(s.case.name)
            yield entry


def _holds(test: Test, state: _State, facts: list[str]) -> bool:
    """A text variant's condition after the run: a derived fact holding several values makes
    it true if one value does (as ``decide.choose_text`` reads it)."""
    several = [f for f in dict.fromkeys(facts) if len(state.derived.get(f, ())) > 1]
    base = {**state.values, **{f: vs[0] for f, vs in state.derived.items() if vs}}
    if not several:
        return test(base) is True
    return any(
        test({**base, **dict(zip(several, combo))}) is True
        for combo in itertools.product(*(state.derived[f] for f in several))
    )


def totals(result: list[RuleCoverage]) -> tuple[int, int, int, int, int]:
    """(leaves covered, leaves that can decide on their own, all leaves, rules fully covered, rules);
    the banners' variants count as leaves, not as a rule."""
    covered = sum(r.covered for r in result)
    coverable = sum(r.coverable for r in result)
    count = sum(len(r.leaves) for r in result)
    rules = [r for r in result if r.rule_id != POLICIES]
    full = sum(r.covered == r.coverable for r in rules)
    return covered, coverable, count, full, len(rules)


def text(result: list[RuleCoverage], verbose: bool = False) -> str:
    """``rules test --coverage``: the rules whose tests leave a leaf unshown (all with ``verbose``)."""
    out = [
        "condition coverage (MC/DC): each test in a rule's condition (and in its texts' variants) shown",
        "deciding the outcome by itself, both ways, in the rule's own test cases:",
    ]
    width = max((len(r.rule_id) for r in result), default=0)
    for r in result:
        if r.covered == len(r.leaves) and not verbose:
            continue
        out.append(
            f"  {r.rule_id.ljust(width)}  {r.covered} of {r.coverable}"
            + (f" ({len(r.leaves) - r.coverable} redundant)" if r.coverable < len(r.leaves) else "")
        )
        for leaf in r.leaves:
            if not leaf.covered or verbose:
                status = leaf.missing or f"shown by {leaf.makes_it_fire[0]!r} and {leaf.keeps_it_silent[0]!r}"
                where = f"{leaf.text}: " if leaf.text else ""
                out.append(f"      {where}{leaf.words} ({leaf.location}): {status}")
    covered, coverable, count, full, rules = totals(result)
    share = 100.0 * covered / coverable if coverable else 100.0
    out.append(
        f"{covered} of {coverable} condition tests covered ({share:.1f} %; {count - coverable} more cannot "
        f"decide on their own); {full} of {rules} rules fully covered"
    )
    return "\n".join(out) + "\n"

"""Equivalent mutants: changes to a rule that provably change no outcome a test can
expect (status, format, focus, flags and their levels, conditions, points for review,
severity; not which rule a reason or a flag is credited to, nor the trace).

A mutant no intake can tell apart from the original cannot be killed by any test, so
it is listed apart and left out of the mutation score.  The proofs:

* **a condition**: the mutated condition is true for exactly the same intakes as the
  original;
* **an effect**: whenever the rule fires, other rules give the same anyway (a flag at
  least as urgent, a format at least as restrictive, the same condition, focus, derived
  value or status), or it derives a fact no rule reads and no decision field shows.

"Can this condition be true?" is answered twice.  First by the satisfiability checker
(``satisfiable.never_true``), reading every fact as free (unknown included).  If that
cannot show it, every combination of the values that matter is tried (whole numbers:
the thresholds written and one either side), keeping only the states a valid intake can
be in: a field with a default is never unknown, and the details of an interpersonal
area that is not present are dropped by validation (``intake.may_be_unknown``,
``intake.area_rule``).  Both over-approximate what intakes can be (derived facts are
free), so "equivalent" is never claimed wrongly; what neither settles stays a survivor.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator

from . import deps
from .decide import format_outcome
from .direct import compile_condition
from .intake import area_rule, may_be_unknown
from .model import (
    AddCondition, All, AnyOf, ChooseFormat, Cond, Derive, Effect, ExcludeFormat, Leaf, Not, ProposeFocus,
    RaiseFlag, Rule, RuleSet, SetStatus, leaves, nnf,
)
from .mutants import Mutant
from .satisfiable import never_true

#: Largest number of states tried one by one before giving up (a few ms of work).
MAX_STATES = 50_000


def why_equivalent(ruleset: RuleSet, mutant: Mutant) -> str | None:
    """Why the mutant changes no outcome, or None when that cannot be shown."""
    original = ruleset.rule(mutant.rule_id)
    if mutant.on_condition:
        if conditions_equivalent(ruleset, original.when, mutant.rule.when):
            return "the mutated condition is true for exactly the same intakes"
        return None
    changed = [i for i, (a, b) in enumerate(itertools.zip_longest(original.then, mutant.rule.then)) if a != b]
    if not changed:
        return None
    index = changed[0]
    old = original.then[index]
    new = mutant.rule.then[index] if len(mutant.rule.then) == len(original.then) else None
    return _unread(ruleset, old, new) or _covered(ruleset, original, old, new)


def conditions_equivalent(ruleset: RuleSet, a: Cond, b: Cond) -> bool:
    return impossible(ruleset, All((a, not_true(b)))) and impossible(ruleset, All((b, not_true(a))))


def impossible(ruleset: RuleSet, cond: Cond) -> bool:
    """True only when no valid intake can make ``cond`` true."""
    if never_true(cond, ruleset.facts, made_values(ruleset)):
        return True
    states = _states(ruleset, cond)
    if states is None:
        return False
    test = compile_condition(cond)
    return not any(test(state) is True for state in states)


def witness(ruleset: RuleSet, cond: Cond, near: dict[str, Any]) -> dict[str, Any] | None:
    """A state (fact -> value) that makes ``cond`` true, as close to ``near`` as any."""
    states = _states(ruleset, cond)
    if states is None:
        return None
    test = compile_condition(cond)
    best: tuple[int, dict[str, Any]] | None = None
    for state in states:
        if test(state) is True:
            distance = sum(near.get(f) != v for f, v in state.items())
            if best is None or distance < best[0]:
                best = (distance, state)
    return best[1] if best else None


def not_true(cond: Cond) -> Cond:
    """The condition "``cond`` is not true" (false, or unknown) without ``not``:
    a comparison is not true when its negation holds or its fact is unknown."""
    cond = nnf(cond)
    if isinstance(cond, Leaf):
        if cond.op == "known":
            return Leaf(cond.fact, "unknown")
        if cond.op == "unknown":
            return Leaf(cond.fact, "known")
        return AnyOf((nnf(Not(cond)), Leaf(cond.fact, "unknown")))
    if isinstance(cond, All):  # all: [] is always true, so never "not true": any: [] (false)
        return AnyOf(tuple(not_true(c) for c in cond.items))
    assert isinstance(cond, AnyOf)
    return All(tuple(not_true(c) for c in cond.items))


def made_values(ruleset: RuleSet) -> dict[str, list[Any]]:
    """The values active rules derive, per derived fact."""
    return ruleset.memo(_made)


def _made(ruleset: RuleSet) -> dict[str, list[Any]]:
    made: dict[str, list[Any]] = {}
    for rule in ruleset.active_rules:
        for effect in rule.then:
            if isinstance(effect, Derive) and effect.value not in made.setdefault(effect.fact, []):
                made[effect.fact].append(effect.value)
    return made


# ------------------------------------------------------------------ state by state

def _states(ruleset: RuleSet, cond: Cond) -> Iterator[dict[str, Any]] | None:
    """Every state a valid intake can be in, over the facts ``cond`` reads (None: too many)."""
    facts = list(dict.fromkeys(leaf.fact for leaf in leaves(cond)))
    by_source = {spec.source: name for name, spec in ruleset.facts.items() if spec.source}
    areas: dict[str, tuple[str, Any, bool]] = {}
    for name in list(facts):
        spec = ruleset.facts.get(name)
        rule = area_rule(spec.source) if spec is not None and spec.source else None
        if rule is not None and rule[0] in by_source:
            areas[name] = (by_source[rule[0]], rule[1], rule[2])
            if by_source[rule[0]] not in facts:
                facts.append(by_source[rule[0]])
    domains = [_domain(ruleset, name, cond) for name in facts]
    size = 1
    for d in domains:
        if d is None:
            return None
        size *= len(d)
    if size > MAX_STATES:
        return None
    return (state for combo in itertools.product(*domains)  # type: ignore[arg-type]
            if _possible(state := dict(zip(facts, combo)), areas))


def _possible(state: dict[str, Any], areas: dict[str, tuple[str, Any, bool]]) -> bool:
    for name, (present, absent_value, required) in areas.items():
        if state[present] is not True and state[name] != absent_value:
            return False
        if state[present] is True and required and state[name] is None:
            return False
    return True


def _domain(ruleset: RuleSet, name: str, cond: Cond) -> list[Any] | None:
    """The values of a fact worth trying: every value for booleans and enums, the
    thresholds written (and one either side) for whole numbers; None when unknown is possible."""
    spec = ruleset.facts.get(name)
    if spec is None:
        return None
    if spec.derived:
        return list(made_values(ruleset).get(name, [])) + [None]
    if spec.type == "boolean":
        values: list[Any] = [True, False]
    elif spec.type == "enum":
        values = list(spec.values)
    else:
        lo, hi = spec.range or (-10**9, 10**9)
        points = {lo, hi}
        for leaf in leaves(cond):
            if leaf.fact != name or leaf.op in ("known", "unknown"):
                continue
            for v in (leaf.value if isinstance(leaf.value, tuple) else [leaf.value]):
                if isinstance(v, int) and not isinstance(v, bool):
                    points.update(x for x in (v - 1, v, v + 1) if lo <= x <= hi)
        values = sorted(points)
    if may_be_unknown(spec.source):  # type: ignore[arg-type]
        values.append(None)
    return values


# ------------------------------------------------------------------ effects

def _unread(ruleset: RuleSet, old: Effect, new: Effect | None) -> str | None:
    if not isinstance(old, Derive):
        return None
    read = any(old.fact in deps.reads(r, ruleset) for r in ruleset.active_rules)
    shown = ruleset.policies is not None and old.fact in ruleset.policies.severity.values()
    if read or shown:
        return None
    return f"no active rule reads {old.fact} and no decision field shows it (only the trace's effect text changes)"


def _covered(ruleset: RuleSet, rule: Rule, old: Effect, new: Effect | None) -> str | None:
    """Whether, whenever ``rule`` fires, other rules give what the mutation takes away
    (and what it adds), so the outcome stays the same."""
    needs = _needs(ruleset, rule, old, new)
    if not needs:
        return None
    mine = {leaf.fact for leaf in leaves(rule.when)}
    names = []
    for what, gives in needs:
        others = [r for r in ruleset.active_rules if r.id != rule.id and any(gives(e, r) for e in r.then)]
        conditions = {r.id: expand_derived(ruleset, r.when) for r in others}
        facts = {r.id: {leaf.fact for leaf in leaves(conditions[r.id])} for r in others}
        # the rules reading only what this rule reads first (a small proof), then all that share a fact
        for group in ([r for r in others if facts[r.id] <= mine], [r for r in others if facts[r.id] & mine]):
            if group and impossible(ruleset, All((rule.when, *(not_true(conditions[r.id]) for r in group)))):
                names.append(f"{what} ({_names(group)})")
                break
        else:
            return None
    return "whenever the rule fires, other rules give the same: " + "; ".join(names)


def expand_derived(ruleset: RuleSet, cond: Cond) -> Cond:
    """``cond`` with each test ``derived fact is value`` replaced by "some rule deriving
    that value fires" (their conditions, expanded in turn).  Only where the fact is tested
    once: then the expanded condition being true means the original is (the engine binds
    one value per derived fact), which is the direction a proof of "covered" needs."""
    counts: dict[str, int] = {}
    for leaf in leaves(cond):
        counts[leaf.fact] = counts.get(leaf.fact, 0) + 1
    producers = deps.producers(ruleset)

    def walk(node: Cond) -> Cond:
        if isinstance(node, Leaf):
            spec = ruleset.facts.get(node.fact)
            if spec is None or not spec.derived or counts[node.fact] != 1 or node.op not in ("is", "in"):
                return node
            wanted = node.value if node.op == "in" else [node.value]
            makers = [r for r in (ruleset.rule(rid) for rid in producers.get(node.fact, []))
                      if any(isinstance(e, Derive) and e.fact == node.fact and e.value in wanted for e in r.then)]
            return AnyOf(tuple(expand_derived(ruleset, r.when) for r in makers)) if makers else node
        if isinstance(node, Not):
            return node  # under a negation the expansion would point the wrong way
        return type(node)(tuple(walk(c) for c in node.items), node.line)  # type: ignore[union-attr,call-arg]

    return walk(cond)


Gives = Callable[[Effect, Rule], bool]


def _needs(ruleset: RuleSet, rule: Rule, old: Effect, new: Effect | None) -> list[tuple[str, Gives]]:
    """What other rules must always give for the mutation to change no outcome."""
    policy = ruleset.policies
    assert policy is not None
    if isinstance(old, RaiseFlag) and old.level in policy.flag_levels:
        rank = policy.flag_levels.index(old.level)
        return [(f"flag {old.code} at {old.level} or more urgent",
                 lambda e, r: isinstance(e, RaiseFlag) and e.code == old.code and e.level in policy.flag_levels
                 and policy.flag_levels.index(e.level) <= rank)]
    if isinstance(old, (ChooseFormat, ExcludeFormat)):
        order = policy.format_precedence
        wishes = [format_outcome(rule, x, order) for x in (old, new) if x is not None]
        if None in wishes:
            return []
        strictest = min(order.index(w) for w in wishes)  # type: ignore[arg-type]
        return [(f"format {order[strictest]} or more restrictive",
                 lambda e, r: (w := format_outcome(r, e, order)) is not None and order.index(w) <= strictest)]
    if isinstance(old, AddCondition) and new is None:
        return [(f'condition "{old.text[:40]}…"', lambda e, r: isinstance(e, AddCondition) and e.text == old.text
                 and (not e.if_format or set(old.if_format) <= set(e.if_format) and old.if_format != ()))]
    if isinstance(old, SetStatus) and new is None:
        return [(f"status {old.status}", lambda e, r: isinstance(e, SetStatus) and e.status == old.status)]
    if isinstance(old, Derive) and old.fact not in policy.severity.values():  # severity shows the first value
        # a new value no rule's test can match needs no cover: it changes nothing
        return [(f"{x.fact}={x.value}", lambda e, r, x=x: isinstance(e, Derive) and (e.fact, e.value) == (x.fact, x.value))
                for x in (old, new) if isinstance(x, Derive) and (x is old or _matched(ruleset, x))]
    if isinstance(old, ProposeFocus):
        out = []
        for x in (old, new):
            if isinstance(x, ProposeFocus) and x.basis in policy.focus_basis:
                rank = min(policy.focus_basis.index(y.basis) for y in (old, new) if isinstance(y, ProposeFocus))
                out.append((f"focus {x.area}", lambda e, r, x=x, rank=rank: isinstance(e, ProposeFocus)
                            and e.area == x.area and policy.focus_basis.index(e.basis) <= rank))
        return out
    return []


def _matched(ruleset: RuleSet, derive: Derive) -> bool:
    """Whether some active rule has a test (in negation normal form) that this derived value passes."""
    return any(leaf.fact == derive.fact and compile_condition(leaf)({derive.fact: derive.value}) is True
               for r in ruleset.active_rules for leaf in leaves(nnf(r.when)))


def _names(rules: list[Rule]) -> str:
    ids = [r.id for r in rules]
    return ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")

"""Equivalent mutants: changes to the rules that provably change no outcome a test can
expect (status, format, focus, flags with their levels, order and actions, conditions and
their order, points for review and their texts, severity, banners, the handout; not which
rule a reason or a flag is credited to, a format reason's wording, nor the trace).

A mutant no intake can tell apart from the original cannot be killed by any test, so
it is listed apart and left out of the mutation score.  The proofs:

* **a condition**: the mutated condition is true for exactly the same intakes as the
  original;
* **an effect**: whenever the rule fires, other rules give the same anyway (a flag at a
  more urgent level, or at the same one first in the trace or with the same action; a
  format at least as restrictive; the same condition standing before this one; the same
  focus, derived value or status), or it derives a fact that no rule, text variant,
  banner or handout reads and no decision field shows;
* **a text variant**: its mutated condition is true for the same states wherever its
  text can print (the rule's condition on the intake facts, no earlier variant true);
* **an ``if_format`` scope**: both scopes keep the text for the same formats among those
  a decision can end with when the rule fires;
* **the urgency list**: the flags it reorders are never raised at one level in one
  decision; **the conditions' order**: no two rules it reorders fire together; **a
  banner's flag_level**: every rule raising the flag raises it at that level.

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

from ..ruleset import deps
from ..decision.decide import format_outcome
from ..decision.decide import urgency_of
from ..decision.direct import Evaluator, compile_condition
from ..intake.schema import area_rule, may_be_unknown
from ..core.model import (
    AddCondition,
    All,
    AnyOf,
    ChooseFormat,
    Cond,
    Derive,
    Effect,
    ExcludeFormat,
    Leaf,
    Not,
    ProposeFocus,
    RaiseFlag,
    Rule,
    RuleSet,
    SetStatus,
    Variant,
    leaves,
    nnf,
)
from .mutants import Mutant, mutated_ruleset
from ..ruleset.satisfiable import never_true

#: Largest number of states tried one by one before giving up (a few ms of work).
MAX_STATES = 50_000


def why_equivalent(ruleset: RuleSet, mutant: Mutant) -> str | None:
    """Why the mutant changes no outcome, or None when that cannot be shown."""
    if mutant.target == "policies":
        return _policy_equivalent(ruleset, mutant)
    original = ruleset.rule(mutant.rule_id)
    assert mutant.rule is not None
    if mutant.on_condition:
        if conditions_equivalent(ruleset, original.when, mutant.rule.when):
            return "the mutated condition is true for exactly the same intakes"
        return None
    index = mutant.effect
    if index is None:
        return None
    old = original.then[index]
    new = mutant.rule.then[index] if len(mutant.rule.then) == len(original.then) else None
    if mutant.variant is not None:
        return variant_equivalent(
            ruleset,
            intake_guard(ruleset, original.when),
            old.variants,  # type: ignore[union-attr]
            new.variants,  # type: ignore[union-attr]
            mutant.variant,
        )
    if mutant.operator == "if-format":
        return _same_scope(ruleset, original, old, new)
    if mutant.operator == "topic":
        return None
    return _unread(ruleset, old, new) or _covered(ruleset, original, old, new)


def _same_scope(ruleset: RuleSet, rule: Rule, old: Any, new: Any) -> str | None:
    """An ``if_format`` change matters only for the formats a decision can end with when the
    rule fires: the rule's own format wish, or one more restrictive (the strictest wins)."""
    order = ruleset.policies.format_precedence  # type: ignore[union-attr]
    wishes = [order.index(w) for e in rule.then if (w := format_outcome(rule, e, order)) is not None]
    reachable = set(order[: min(wishes) + 1] if wishes else order)

    def kept(scope: tuple[str, ...]) -> set[str]:
        return reachable & set(scope) if scope else reachable

    if kept(old.if_format) == kept(new.if_format):
        return f"when the rule fires the format is {' or '.join(f for f in order if f in reachable)}, which both scopes treat alike"
    return None


def intake_guard(ruleset: RuleSet, cond: Cond) -> Cond:
    """What ``cond`` being true says about the intake alone: each test of a derived fact (in
    negation normal form) is dropped, so whatever the derived facts hold, ``cond`` true
    implies the guard true.  A text chosen after the run reads the derived facts of the
    whole run, which need not be the values the rule's own condition matched."""

    def walk(node: Cond) -> Cond:
        if isinstance(node, Leaf):
            spec = ruleset.facts.get(node.fact)
            return All(()) if spec is not None and spec.derived else node
        return type(node)(tuple(walk(c) for c in node.items), node.line)  # type: ignore[union-attr, arg-type]

    return walk(nnf(cond))


def variant_equivalent(
    ruleset: RuleSet, guard: Cond, old: tuple[Variant, ...], new: tuple[Variant, ...], k: int
) -> str | None:
    """Whether changing (or, with one variant fewer, dropping) text variant ``k`` changes the
    text chosen for no case where ``guard`` holds.  Variant ``k`` only decides when no variant
    before it is true; a derived fact holding several values makes a variant true if one
    value does, and a proof over every single value covers that too."""
    earlier = tuple(not_true(v.when) for v in old[:k])
    if len(new) < len(old):
        if impossible(ruleset, All((guard, *earlier, old[k].when))):
            return "the text variant is never chosen where its text can print (an earlier variant or the rule's condition rules it out)"
        return None
    a, b = old[k].when, new[k].when
    if impossible(ruleset, All((guard, *earlier, a, not_true(b)))) and impossible(
        ruleset, All((guard, *earlier, b, not_true(a)))
    ):
        return "the text variant's mutated condition chooses the same text in every case where it can print"
    return None


def _policy_equivalent(ruleset: RuleSet, mutant: Mutant) -> str | None:
    policy, new = ruleset.policies, mutant.policies
    assert policy is not None and new is not None
    if mutant.operator == "urgency":
        pairs = reordered(tuple(ruleset.flags), policy.flag_urgency, new.flag_urgency)
        if not pairs:
            return "no two flags change order (the code was the last one listed)"
        if all(never_together(ruleset, a, b) for a, b in pairs):
            shown = ", ".join(f"{a}/{b}" for a, b in pairs[:3]) + (
                f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
            )
            return f"the flags whose order changes ({shown}) are never raised at one level in one decision"
        return None
    if mutant.operator == "condition-order":
        before, after = _condition_rank(ruleset), _condition_rank(mutated_ruleset(ruleset, mutant))
        adding = [r for r in ruleset.active_rules if any(isinstance(e, AddCondition) for e in r.then)]
        moved = [
            (a, b)
            for a, b in itertools.combinations(adding, 2)
            if (before[a.id] < before[b.id]) != (after[a.id] < after[b.id])
        ]
        if all(
            impossible(ruleset, All((expand_derived(ruleset, a.when), expand_derived(ruleset, b.when))))
            for a, b in moved
        ):
            return "no two rules whose conditions it would order differently fire for one intake"
        return None
    if mutant.banner is None:
        return None
    old_banner, new_banner = policy.banners[mutant.banner], None
    if len(new.banners) == len(policy.banners) and new.banners[mutant.banner].text == old_banner.text:
        new_banner = new.banners[mutant.banner]
    if mutant.variant is not None and new_banner is not None:
        return variant_equivalent(ruleset, All(()), old_banner.variants, new_banner.variants, mutant.variant)
    if new_banner is not None and old_banner.flag_level and not new_banner.flag_level:
        levels = {
            e.level
            for r in ruleset.active_rules
            for e in r.then
            if isinstance(e, RaiseFlag) and e.code == old_banner.flag
        }
        if levels <= {old_banner.flag_level}:
            return f"every active rule raising {old_banner.flag} raises it at {old_banner.flag_level}"
    return None


def reordered(codes: tuple[str, ...], old: tuple[str, ...], new: tuple[str, ...]) -> list[tuple[str, str]]:
    """The pairs of flag codes whose order within a level can differ between two urgency
    lists (codes not listed keep trace order among themselves, so any two of them may)."""

    def rank(order: tuple[str, ...], code: str) -> int:
        return order.index(code) if code in order else len(order)

    out = []
    for a, b in itertools.combinations(codes, 2):
        before, after = rank(old, a) - rank(old, b), rank(new, a) - rank(new, b)
        if before == 0 or after == 0 or (before < 0) != (after < 0):
            out.append((a, b))
    return out


def never_together(ruleset: RuleSet, a: str, b: str) -> bool:
    """True only when no intake raises flags ``a`` and ``b`` at one level in one decision (nor
    fires two rules raising them at one level, whose conditions urgency would order)."""

    def raisers(code: str, level: str) -> list[Rule]:
        return [
            r
            for r in ruleset.active_rules
            if any(isinstance(e, RaiseFlag) and e.code == code and e.level == level for e in r.then)
        ]

    levels = set(ruleset.policies.flag_levels if ruleset.policies else ())
    for level in sorted(levels):
        ra, rb = raisers(a, level), raisers(b, level)
        if (
            ra
            and rb
            and not impossible(
                ruleset,
                All(
                    (
                        AnyOf(tuple(expand_derived(ruleset, r.when) for r in ra)),
                        AnyOf(tuple(expand_derived(ruleset, r.when) for r in rb)),
                    )
                ),
            )
        ):
            return False
    return True


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
    return (
        state
        for combo in itertools.product(*domains)  # type: ignore[arg-type]
        if _possible(state := dict(zip(facts, combo)), areas)
    )


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
        lo, hi = spec.range or (-(10**9), 10**9)
        points = {lo, hi}
        for leaf in leaves(cond):
            if leaf.fact != name or leaf.op in ("known", "unknown"):
                continue
            for v in leaf.value if isinstance(leaf.value, tuple) else [leaf.value]:
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
    read = old.fact in ruleset.memo(deps.read_anywhere)
    shown = ruleset.policies is not None and old.fact in ruleset.policies.severity.values()
    if read or shown:
        return None
    return (
        f"no active rule, text variant, banner or handout reads {old.fact} and no decision field shows it "
        "(only the trace's effect text changes)"
    )


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
            makers = [
                r
                for r in (ruleset.rule(rid) for rid in producers.get(node.fact, []))
                if any(isinstance(e, Derive) and e.fact == node.fact and e.value in wanted for e in r.then)
            ]
            return AnyOf(tuple(expand_derived(ruleset, r.when) for r in makers)) if makers else node
        if isinstance(node, Not):
            return node  # under a negation the expansion would point the wrong way
        return type(node)(tuple(walk(c) for c in node.items), node.line)

    return walk(cond)


Gives = Callable[[Effect, Rule], bool]


def _needs(ruleset: RuleSet, rule: Rule, old: Effect, new: Effect | None) -> list[tuple[str, Gives]]:
    """What other rules must always give for the mutation to change no outcome."""
    policy = ruleset.policies
    assert policy is not None
    position = _trace_index(ruleset)
    if isinstance(old, RaiseFlag) and old.level in policy.flag_levels:
        rank = policy.flag_levels.index(old.level)

        def flag(e: Effect, r: Rule) -> bool:
            # the flag stays at its level, and shows the same action: the cover's level is more
            # urgent (this rule's action never showed), or it comes first in the trace among
            # equals (ditto), or its action is the same text
            if not (isinstance(e, RaiseFlag) and e.code == old.code and e.level in policy.flag_levels):
                return False
            theirs = policy.flag_levels.index(e.level)
            return (
                theirs < rank
                or theirs == rank
                and (position[r.id] < position[rule.id] or (e.action, e.variants) == (old.action, old.variants))
            )

        return [(f"flag {old.code} at {old.level} or more urgent", flag)]
    if isinstance(old, (ChooseFormat, ExcludeFormat)):
        order = policy.format_precedence
        wishes = [format_outcome(rule, x, order) for x in (old, new) if x is not None]
        if None in wishes:
            return []
        strictest = min(order.index(w) for w in wishes)
        return [
            (
                f"format {order[strictest]} or more restrictive",
                lambda e, r: (w := format_outcome(r, e, order)) is not None and order.index(w) <= strictest,
            )
        ]
    if isinstance(old, AddCondition) and new is None:
        order = _condition_rank(ruleset)  # type: ignore[assignment]  # order is a tuple or a dict by branch

        def condition(e: Effect, r: Rule) -> bool:
            # the same text (and topic, and variants), kept whenever this one is, and standing
            # before it in the conditions' order (a repeated condition prints where the first stands)
            return (
                isinstance(e, AddCondition)
                and (e.text, e.topic, e.variants) == (old.text, old.topic, old.variants)
                and (not e.if_format or set(old.if_format) <= set(e.if_format) and old.if_format != ())
                and order[r.id] < order[rule.id]  # type: ignore[call-overload]
            )

        return [(f'condition "{(old.text or old.topic)[:40]}…"', condition)]
    if isinstance(old, SetStatus) and new is None:
        return [(f"status {old.status}", lambda e, r: isinstance(e, SetStatus) and e.status == old.status)]
    if isinstance(old, Derive) and old.fact not in policy.severity.values():  # severity shows the first value
        # a new value no rule's test can match needs no cover: it changes nothing
        return [
            (f"{x.fact}={x.value}", lambda e, r, x=x: isinstance(e, Derive) and (e.fact, e.value) == (x.fact, x.value))  # type: ignore[misc]
            for x in (old, new)
            if isinstance(x, Derive) and (x is old or _matched(ruleset, x))
        ]
    if isinstance(old, ProposeFocus):
        out = []
        for x in (old, new):
            if isinstance(x, ProposeFocus) and x.basis in policy.focus_basis:
                rank = min(policy.focus_basis.index(y.basis) for y in (old, new) if isinstance(y, ProposeFocus))
                out.append(
                    (
                        f"focus {x.area}",
                        lambda e, r, x=x, rank=rank: (
                            isinstance(e, ProposeFocus)
                            and e.area == x.area
                            and policy.focus_basis.index(e.basis) <= rank
                        ),
                    )
                )
        return out  # type: ignore[return-value]
    return []


def _matched(ruleset: RuleSet, derive: Derive) -> bool:
    """Whether some active rule, or a text's condition, has a test (in negation normal form)
    that this derived value passes."""
    conditions = [r.when for r in ruleset.active_rules] + deps.text_conditions(ruleset)
    return any(
        leaf.fact == derive.fact and compile_condition(leaf)({derive.fact: derive.value}) is True
        for c in conditions
        for leaf in leaves(nnf(c))
    )


def _trace_index(ruleset: RuleSet) -> dict[str, int]:
    """Each active rule's place in the trace (derivation depth, then file order)."""
    return {r.id: i for i, r in enumerate(ruleset.memo(Evaluator).order)}


def _condition_rank(ruleset: RuleSet) -> dict[str, tuple[Any, ...]]:
    """Where each active rule's conditions stand in a decision's conditions (``decide``)."""
    policy = ruleset.policies
    assert policy is not None
    position = _trace_index(ruleset)
    by_urgency = policy.condition_order == "flag_urgency"
    return {rid: ((urgency_of(ruleset, rid) if by_urgency else 0), i) for rid, i in position.items()}


def _names(rules: list[Rule]) -> str:
    ids = [r.id for r in rules]
    return ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")

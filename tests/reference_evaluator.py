"""A second, independent implementation of the rule language, for differential testing.

The product compiles a rule set into durable-rules (``ruleset/compile.py``, ``engine/durable_rules.py``) and
aggregates what fired with ``decision/decide.py``.  This module reads the same rule model and
computes the same decision directly, in plain Python, sharing none of that code: its own
negation normal form, its own three-valued evaluation, its own derivation depths and
fixpoint, its own reading of the manifest policies.  Only the data model
(``ipt_advisor.core.model``) and the validated ``Intake`` are shared.  If the two ever
disagree, one of them is wrong, and ``tests/test_differential.py`` shows the intake.

The semantics implemented here (the rule language as documented in ``ruleset/compile.py``):

* an input fact's value is the intake value at its ``source`` path; ``None`` is UNKNOWN;
* ``not`` is pushed down to the leaves with the operator negation table, then the
  condition is evaluated in Kleene logic: a comparison on an unknown value is unknown,
  ``known``/``unknown`` test presence, and a rule fires only when the result is True;
* a derived fact may hold several values (one per rule that derived a different one); a
  condition holds when ONE value per derived fact makes it true (the engine binds one
  derived-fact instance per pattern, so ``x is a and x is_not b`` means the same value);
* a rule fires at most once per intake; equal derived values count once; rules are
  re-examined until nothing new fires (a fixpoint: firing order cannot change the result);
* trace order is derivation depth (0 = reads only intake facts), then declaration order;
* aggregation (manifest ``policies``): the most restrictive format asked for wins, where
  ``exclude X`` asks for the next more restrictive format than X; conditions are filtered
  by ``if_format``, put in trace order or (``conditions.order: flag_urgency``) in the
  order of the most urgent flag their rule raises, unique, and the conditions of one
  ``topic`` become one: the topic's text, then the details; considerations are filtered by
  ``if_format``; focus proposals keep each area's best basis, sorted by basis then area
  priority, at most ``max_areas``, the rest listed as dropped; flags are unique by code at
  the most severe level raised, sorted by level, then by the urgency list; ``status`` is
  the default unless a fired rule sets ``incomplete``; banners are the manifest's, in its
  order, whose flag (at its level) or status is there;
* a text with ``variants`` takes the first variant whose condition is true after the run
  (one value per derived fact, as for a rule), else its own text.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from ipt_advisor.intake.schema import Intake
from ipt_advisor.core.model import (
    AddCondition,
    All,
    AnyOf,
    ChooseFormat,
    Consider,
    Derive,
    ExcludeFormat,
    Leaf,
    Not,
    ProposeFocus,
    RaiseFlag,
    Rule,
    RuleSet,
    SetStatus,
)

MISSING: Any = object()  # no value at all (an unknown intake item, an underived fact)

_NEGATED = {
    "is": "is_not",
    "is_not": "is",
    "at_least": "below",
    "below": "at_least",
    "at_most": "above",
    "above": "at_most",
    "in": "not_in",
    "not_in": "in",
    "known": "unknown",
    "unknown": "known",
}


# --------------------------------------------------------------------------- conditions


def to_nnf(cond: Any, negated: bool = False) -> Any:
    """The condition with every ``not`` pushed into the leaves (De Morgan)."""
    if isinstance(cond, Leaf):
        return Leaf(cond.fact, _NEGATED[cond.op] if negated else cond.op, cond.value)
    if isinstance(cond, Not):
        return to_nnf(cond.item, not negated)
    items = tuple(to_nnf(c, negated) for c in cond.items)
    conjunction = isinstance(cond, All) != negated
    return All(items) if conjunction else AnyOf(items)


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "is":
        return value == operand
    if op == "is_not":
        return value != operand
    if op == "at_least":
        return value >= operand
    if op == "at_most":
        return value <= operand
    if op == "above":
        return value > operand
    if op == "below":
        return value < operand
    if op == "in":
        return any(value == x for x in operand)
    if op == "not_in":
        return all(value != x for x in operand)
    raise AssertionError(f"unknown operator {op}")


def kleene(cond: Any, lookup: Callable[[str], Any]) -> bool | None:
    """Three-valued truth of an NNF condition; ``lookup(fact)`` gives a value or MISSING."""
    if isinstance(cond, Leaf):
        value = lookup(cond.fact)
        if cond.op == "known":
            return value is not MISSING
        if cond.op == "unknown":
            return value is MISSING
        return None if value is MISSING else _compare(cond.op, value, cond.value)
    results = [kleene(c, lookup) for c in cond.items]
    if isinstance(cond, All):
        return False if False in results else (None if None in results else True)
    return True if True in results else (None if None in results else False)


def _leaf_facts(cond: Any) -> list[str]:
    if isinstance(cond, Leaf):
        return [cond.fact]
    if isinstance(cond, Not):
        return _leaf_facts(cond.item)
    return [f for c in cond.items for f in _leaf_facts(c)]


def _derived_read(rule: Rule, ruleset: RuleSet) -> list[str]:
    return list(
        dict.fromkeys(f for f in _leaf_facts(rule.when) if f in ruleset.facts and ruleset.facts[f].source is None)
    )


def holds(rule: Rule, ruleset: RuleSet, values: dict[str, Any], derived: dict[str, list[Any]]) -> bool:
    """Is the rule's condition True for some choice of one value per derived fact?"""
    return _holds(_prepared(ruleset), rule, values, derived)


# --------------------------------------------------------------------------- firing


def input_values(ruleset: RuleSet, intake: Intake) -> dict[str, Any]:
    """Every input fact's intake value (None when unknown)."""
    return {name: intake.get(spec.source) for name, spec in ruleset.facts.items() if spec.source is not None}


def depths(ruleset: RuleSet) -> dict[str, int]:
    """Derivation depth of each active rule: 0 if it reads no derived fact, else one more
    than the deepest active rule deriving something it reads.  Acyclic rule sets only."""
    active = [r for r in ruleset.rules if r.status == "active"]
    makers: dict[str, list[Rule]] = {}
    for rule in active:
        for effect in rule.then:
            if isinstance(effect, Derive):
                makers.setdefault(effect.fact, []).append(rule)
    memo: dict[str, int] = {}

    def depth(rule: Rule, path: tuple[str, ...]) -> int:
        if rule.id in path:
            raise ValueError(f"derivation cycle through {rule.id}: the reference needs an acyclic rule set")
        if rule.id not in memo:
            feeders = [m for fact in _derived_read(rule, ruleset) for m in makers.get(fact, [])]
            memo[rule.id] = 1 + max((depth(m, path + (rule.id,)) for m in feeders), default=-1)
        return memo[rule.id]

    return {rule.id: depth(rule, ()) for rule in active}


class _Prepared:
    """What depends on the rule set only, worked out once: NNF conditions, trace order."""

    def __init__(self, ruleset: RuleSet):
        depth = depths(ruleset)
        active = [r for r in ruleset.rules if r.status == "active"]
        position = {r.id: i for i, r in enumerate(active)}
        self.ordered = sorted(active, key=lambda r: (depth[r.id], position[r.id]))
        self.rank = {r.id: i for i, r in enumerate(self.ordered)}
        self.nnf = {r.id: to_nnf(r.when) for r in active}
        self.reads = {r.id: _derived_read(r, ruleset) for r in active}


_PREPARED: dict[int, tuple[RuleSet, _Prepared]] = {}


def _prepared(ruleset: RuleSet) -> _Prepared:
    # keyed by identity, and the rule set is kept alive with it so the id is never reused
    if id(ruleset) not in _PREPARED:
        _PREPARED[id(ruleset)] = (ruleset, _Prepared(ruleset))
    return _PREPARED[id(ruleset)][1]


def _holds(prep: _Prepared, rule: Rule, values: dict[str, Any], derived: dict[str, list[Any]]) -> bool:
    return _true_for_one_binding(prep.nnf[rule.id], prep.reads[rule.id], values, derived)


def _true_for_one_binding(nnf: Any, names: list[str], values: dict[str, Any], derived: dict[str, list[Any]]) -> bool:
    """Is the NNF condition True for some choice of one value per derived fact in ``names``?"""
    for combo in itertools.product(*[derived.get(n) or [MISSING] for n in names]):
        bound = dict(zip(names, combo))

        def lookup(fact: str) -> Any:
            if fact in bound:
                return bound[fact]
            value = values.get(fact)
            return MISSING if value is None else value

        if kleene(nnf, lookup) is True:
            return True
    return False


def fire(ruleset: RuleSet, values: dict[str, Any]) -> tuple[list[Rule], dict[str, list[Any]]]:
    """The rules that fire, in trace order, and every derived fact's values (trace order)."""
    prep = _prepared(ruleset)
    fired: dict[str, Rule] = {}
    derived: dict[str, list[Any]] = {}
    changed = True
    while changed:  # one pass suffices in depth order; the loop makes that a checked claim
        changed = False
        for rule in prep.ordered:
            if rule.id in fired or not _holds(prep, rule, values, derived):
                continue
            fired[rule.id] = rule
            changed = True
            for effect in rule.then:
                if isinstance(effect, Derive) and effect.value not in derived.setdefault(effect.fact, []):
                    derived[effect.fact].append(effect.value)
    in_trace_order = sorted(fired.values(), key=lambda r: prep.rank[r.id])
    # derived values in trace order, whatever order the passes found them in
    values_in_order: dict[str, list[Any]] = {}
    for rule in in_trace_order:
        for effect in rule.then:
            if isinstance(effect, Derive) and effect.value not in values_in_order.setdefault(effect.fact, []):
                values_in_order[effect.fact].append(effect.value)
    return in_trace_order, values_in_order


# --------------------------------------------------------------------------- aggregation


def _wanted_format(effect: Any, precedence: tuple[str, ...]) -> str | None:
    if isinstance(effect, ChooseFormat):
        return effect.format
    if isinstance(effect, ExcludeFormat):
        position = precedence.index(effect.format)
        return precedence[position - 1]
    return None


def not_assessed(ruleset: RuleSet, values: dict[str, Any]) -> list[str]:
    """Intake items without an answer that should have one (``asked_when`` not known false)."""
    out = []
    for name, spec in ruleset.facts.items():
        if spec.source is None or values[name] is not None:
            continue
        rightly_skipped = any(
            values.get(other) is not None and values.get(other) != want for other, want in spec.asked_when
        )
        if not rightly_skipped:
            out.append(spec.source)
    return out


def _variant_holds(cond: Any, values: dict[str, Any], derived: dict[str, list[Any]]) -> bool:
    names = list(dict.fromkeys(f for f in _leaf_facts(cond) if f in derived))
    return _true_for_one_binding(to_nnf(cond), names, values, derived)


def _text(default: str, variants: Any, values: dict[str, Any], derived: dict[str, list[Any]]) -> str:
    return next((v.text for v in variants if _variant_holds(v.when, values, derived)), default)


def decide(ruleset: RuleSet, intake: Intake) -> dict[str, Any]:
    """The decision, in the shape of :func:`project` (the parts the differential compares)."""
    policy = ruleset.policies
    assert policy is not None
    values = input_values(ruleset, intake)
    fired, derived = fire(ruleset, values)
    effects = [(rule, effect) for rule in fired for effect in rule.then]

    def text(effect: Any, default: str) -> str:
        return _text(default, effect.variants, values, derived)

    levels = policy.flag_levels
    urgency = list(policy.flag_urgency)

    def flag_key(level: str, code: str) -> tuple[int, int]:
        return (
            levels.index(level) if level in levels else len(levels),
            urgency.index(code) if code in urgency else len(urgency),
        )

    incomplete = any(isinstance(e, SetStatus) and e.status == "incomplete" for _, e in effects)

    wishes = [(rule, e, w) for rule, e in effects if (w := _wanted_format(e, policy.format_precedence)) is not None]
    if wishes:
        final = sorted((w for _, _, w in wishes), key=policy.format_precedence.index)[0]
        reasons = [{"rule": rule.id, "text": e.reason} for rule, e, w in wishes if w == final]
    else:
        final = policy.format_fallback
        reasons = [{"rule": None, "text": policy.format_fallback_reason}]
    pending = []
    for position, (rule, e) in enumerate(effects):
        if isinstance(e, AddCondition) and (not e.if_format or final in e.if_format):
            raised = [flag_key(x.level, x.code) for x in rule.then if isinstance(x, RaiseFlag)]
            rank = min(raised) if raised else (len(levels) + 1, 0)
            pending.append((rank if policy.condition_order == "flag_urgency" else (0, 0), position, e))
    pending.sort(key=lambda item: (item[0], item[1]))
    conditions: list[str] = []
    topic_at: dict[str, int] = {}
    details: dict[str, list[str]] = {}
    for _, _, e in pending:
        body = text(e, e.text)
        if e.topic:
            if e.topic not in topic_at:
                topic_at[e.topic] = len(conditions)
                details[e.topic] = []
                conditions.append("")
            if body and body not in details[e.topic]:
                details[e.topic].append(body)
        elif body not in conditions:
            conditions.append(body)
    for topic, at in topic_at.items():
        head = policy.condition_topics.get(topic, topic)
        conditions[at] = head + (": " + "; ".join(details[topic]) if details[topic] else "")

    best: dict[str, tuple[int, Rule, ProposeFocus]] = {}
    for rule, e in effects:
        if isinstance(e, ProposeFocus):
            rank = policy.focus_basis.index(e.basis)
            if e.area not in best or rank < best[e.area][0]:
                best[e.area] = (rank, rule, e)
    ranked = sorted(best, key=lambda a: (best[a][0], policy.focus_areas.index(a)))
    areas, dropped = ranked[: policy.focus_max], ranked[policy.focus_max :]

    # unique by code, at the most severe level raised (the first in trace order among equals)
    by_code: dict[str, dict[str, Any]] = {}
    for rule, e in effects:
        if isinstance(e, RaiseFlag) and (
            e.code not in by_code
            or policy.flag_levels.index(e.level) < policy.flag_levels.index(by_code[e.code]["level"])
        ):
            by_code[e.code] = {"code": e.code, "level": e.level, "action": text(e, e.action), "rule": rule.id}
    flags = sorted(by_code.values(), key=lambda f: flag_key(f["level"], f["code"]))
    status = "incomplete" if incomplete else policy.status_default
    banners = []
    for b in policy.banners:
        if b.flag:
            shown = any(f["code"] == b.flag and (not b.flag_level or f["level"] == b.flag_level) for f in flags)
        else:
            shown = b.status == status
        if shown:
            banners.append({"level": b.level, "text": _text(b.text, b.variants, values, derived)})

    severity = {}
    for name, fact in policy.severity.items():
        if ruleset.facts[fact].source is None:
            severity[name] = derived[fact][0] if derived.get(fact) else None
        else:
            severity[name] = values[fact]

    return {
        "intake_id": intake.case_id,
        "status": status,
        "banners": banners,
        "recommendation": {
            "format": final,
            "summary": policy.format_labels.get(final, final),
            "conditions": conditions,
            "reasons": reasons,
        },
        "focus": {
            "primary": areas[0] if areas else None,
            "secondary": areas[1] if len(areas) > 1 else None,
            "reasons": [{"area": a, "rule": best[a][1].id, "text": best[a][2].reason} for a in areas],
            "dropped": [{"area": a, "rule": best[a][1].id, "text": best[a][2].reason} for a in dropped],
        },
        "flags": flags,
        "severity": severity,
        "considerations": [
            {"rule": rule.id, "text": text(e, e.text)}
            for rule, e in effects
            if isinstance(e, Consider) and (not e.if_format or final in e.if_format)
        ],
        "trace": [(rule.id, rule.version) for rule in fired],
        "not_assessed": not_assessed(ruleset, values),
    }


def project(decision: dict[str, Any]) -> dict[str, Any]:
    """The parts of a product decision the reference computes, in the same shape."""
    return {
        "intake_id": decision["intake_id"],
        "status": decision["status"],
        "banners": decision["banners"],
        "recommendation": decision["recommendation"],
        "focus": decision["focus"],
        "flags": decision["flags"],
        "severity": decision["severity"],
        "considerations": decision["considerations"],
        "trace": [(t["rule"], t["version"]) for t in decision["trace"]],
        "not_assessed": decision["not_assessed"],
    }

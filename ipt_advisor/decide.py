"""Aggregate what fired into the decision, using only the declared policies.

Nothing clinical is decided here: the format precedence, the focus ordering,
the two-area limit, the flag levels and every label come from the rule set's
manifest.  This module only applies them, the same way for every rule set.
"""
from __future__ import annotations

from typing import Any

from .engine import Run
from .evaluate import supporting_facts
from .model import (
    AddCondition, All, AnyOf, Not, ChooseFormat, Consider, ExcludeFormat, ProposeFocus, RaiseFlag, Rule,
    RuleSet, SetStatus, describe_effect,
)


def format_outcome(rule: Rule, effect: Any, precedence: tuple[str, ...]) -> str | None:
    """The format a format effect asks for: ``exclude X`` means at least the
    next more restrictive format than X in the precedence list."""
    if isinstance(effect, ChooseFormat):
        return effect.format
    if isinstance(effect, ExcludeFormat):
        return precedence[precedence.index(effect.format) - 1]
    return None


def decide(run: Run, values: dict[str, Any], not_assessed: list[str], ruleset: RuleSet, intake_id: str) -> dict[str, Any]:
    """The decision-v1 JSON object (plus documented extensions), key order fixed."""
    policy = ruleset.policies
    assert policy is not None
    firings = run.ordered()
    fired = [(f, ruleset.rule(f.rule_id)) for f in firings]
    effects = [(rule, e) for _, rule in fired for e in rule.then]

    status = policy.status_default
    if any(isinstance(e, SetStatus) and e.status == "incomplete" for _, e in effects):
        status = "incomplete"

    wanted = [(rule, e, fmt) for rule, e in effects if (fmt := format_outcome(rule, e, policy.format_precedence))]
    if wanted:
        final = min((fmt for _, _, fmt in wanted), key=policy.format_precedence.index)
        reasons = [{"rule": rule.id, "text": e.reason} for rule, e, fmt in wanted if fmt == final]
    else:
        final = policy.format_fallback
        reasons = [{"rule": None, "text": policy.format_fallback_reason}]
    conditions = _unique(e.text for _, e in effects
                         if isinstance(e, AddCondition) and (not e.if_format or final in e.if_format))

    proposals: dict[str, tuple[int, str, str]] = {}
    for rule, e in effects:
        if isinstance(e, ProposeFocus):
            rank = policy.focus_basis.index(e.basis)
            if e.area not in proposals or rank < proposals[e.area][0]:
                proposals[e.area] = (rank, rule.id, e.reason)
    areas = sorted(proposals, key=lambda a: (proposals[a][0], policy.focus_areas.index(a)))[: policy.focus_max]
    focus = {
        "primary": areas[0] if areas else None,
        "secondary": areas[1] if len(areas) > 1 else None,
        "reasons": [{"area": a, "rule": proposals[a][1], "text": proposals[a][2]} for a in areas],
    }

    flags: dict[str, dict[str, Any]] = {}
    rank = policy.flag_levels.index
    for rule, e in effects:
        # one flag per code, at the most severe level a fired rule raised it (first in trace order among equals)
        if isinstance(e, RaiseFlag) and (e.code not in flags or rank(e.level) < rank(flags[e.code]["level"])):
            flags[e.code] = {"code": e.code, "level": e.level, "action": e.action, "rule": rule.id}
    ordered_flags = sorted(flags.values(), key=lambda f: policy.flag_levels.index(f["level"]))

    derived = run.derived
    severity = {}
    for field_name, fact in policy.severity.items():
        spec = ruleset.facts[fact]
        severity[field_name] = values.get(fact) if not spec.derived else (derived.get(fact) or [None])[0]

    memo = ruleset.memo(_Memo)
    trace = [{
        "rule": rule.id, "version": rule.version, "title": rule.title,
        "because": _because(f.because, rule, values, derived, ruleset, memo.has_choice[rule.id]),
        "effect": memo.effect[rule.id],
    } for f, rule in fired]

    return {
        "decision_version": 1,
        "intake_id": intake_id,
        "status": status,
        "recommendation": {
            "format": final,
            "summary": policy.format_labels.get(final, final),
            "conditions": conditions,
            "reasons": reasons,
        },
        "focus": focus,
        "flags": ordered_flags,
        "severity": severity,
        "considerations": [{"rule": rule.id, "text": e.text} for rule, e in effects if isinstance(e, Consider)],
        "trace": trace,
        "not_assessed": not_assessed,
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "sha256": ruleset.sha256},
    }


class _Memo:
    """Per-rule-set texts and flags computed once, not once per intake."""

    def __init__(self, ruleset: RuleSet):
        self.effect = {r.id: "; ".join(describe_effect(e) for e in r.then) for r in ruleset.rules}
        self.has_choice = {r.id: _has_choice(r.when) for r in ruleset.rules}


def _because(matched: dict[str, Any], rule: Rule, values: dict[str, Any], derived: dict[str, list[Any]],
             ruleset: RuleSet, has_choice: bool) -> dict[str, Any]:
    """The facts that made the rule's condition true, with the values the engine
    matched: for an ``any`` only the branches that held, so a reader is not
    shown facts that played no part."""
    if not has_choice:  # no `any` anywhere: every fact read made it true
        return matched
    keys = [ruleset.facts[name].key for name in supporting_facts(rule.when, values, derived)]
    return {key: matched[key] for key in keys if key in matched} or matched


def _has_choice(cond: Any) -> bool:
    """Whether a condition has alternatives (an ``any``, or a ``not`` over an ``all``)."""
    if isinstance(cond, AnyOf):
        return True
    if isinstance(cond, Not):
        inner = cond.item
        return isinstance(inner, All) or _has_choice(inner)
    if isinstance(cond, All):
        return any(_has_choice(c) for c in cond.items)
    return False


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


"""Aggregate what fired into the decision, using only the declared policies.

Nothing clinical is decided here: the format precedence, the focus ordering,
the two-area limit, the flag levels and every label come from the rule set's
manifest.  This module only applies them, the same way for every rule set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .engine import Run
from .evaluate import supporting_facts
from .model import (
    AddCondition, All, AnyOf, ChooseFormat, Consider, ExcludeFormat, Not, ProposeFocus, RaiseFlag, Rule,
    RuleSet, SetStatus, describe_effect, leaves,
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
    memo = ruleset.memo(_Memo)
    # fired rules in trace order, each with its effects already sorted by kind (see _Effects)
    fired = [(f, ruleset.rule(f.rule_id), memo.effects[f.rule_id]) for f in run.ordered()]

    status = "incomplete" if any(fx.incomplete for _, _, fx in fired) else policy.status_default

    wanted = [(rule.id, fmt, reason) for _, rule, fx in fired for fmt, reason in fx.formats]
    if wanted:
        final = min((fmt for _, fmt, _ in wanted), key=policy.format_precedence.index)
        reasons = [{"rule": rid, "text": reason} for rid, fmt, reason in wanted if fmt == final]
    else:
        final = policy.format_fallback
        reasons = [{"rule": None, "text": policy.format_fallback_reason}]
    conditions = _unique(c.text for _, _, fx in fired for c in fx.conditions if not c.if_format or final in c.if_format)

    proposals: dict[str, tuple[int, str, str]] = {}
    for _, rule, fx in fired:
        for rank, area, reason in fx.focus:
            if area not in proposals or rank < proposals[area][0]:
                proposals[area] = (rank, rule.id, reason)
    areas = sorted(proposals, key=lambda a: (proposals[a][0], policy.focus_areas.index(a)))[: policy.focus_max]
    focus = {
        "primary": areas[0] if areas else None,
        "secondary": areas[1] if len(areas) > 1 else None,
        "reasons": [{"area": a, "rule": proposals[a][1], "text": proposals[a][2]} for a in areas],
    }

    flags: dict[str, dict[str, Any]] = {}
    rank_of = policy.flag_levels.index
    for _, rule, fx in fired:
        for e in fx.flags:
            # one flag per code, at the most severe level a fired rule raised it (first in trace order among equals)
            if e.code not in flags or rank_of(e.level) < rank_of(flags[e.code]["level"]):
                flags[e.code] = {"code": e.code, "level": e.level, "action": e.action, "rule": rule.id}
    ordered_flags = sorted(flags.values(), key=lambda f: rank_of(f["level"]))

    derived = run.derived
    severity = {}
    for field_name, fact in policy.severity.items():
        spec = ruleset.facts[fact]
        severity[field_name] = values.get(fact) if not spec.derived else (derived.get(fact) or [None])[0]

    trace = [{
        "rule": rule.id, "version": rule.version, "title": rule.title,
        "because": memo.because(f.because, rule, values, derived) if fx.has_choice else f.because,
        "effect": fx.text,
    } for f, rule, fx in fired]

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
        "considerations": [{"rule": rule.id, "text": text} for _, rule, fx in fired for text in fx.considerations],
        "trace": trace,
        "not_assessed": not_assessed,
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "sha256": ruleset.sha256},
    }


@dataclass(frozen=True)
class _Effects:
    """One rule's effects sorted by kind once per rule set, so a decision does not sift
    every effect of every fired rule once per kind (the batch hot path)."""

    incomplete: bool                                # sets the status to incomplete
    formats: tuple[tuple[str, str], ...]            # (format it asks for, reason)
    conditions: tuple[AddCondition, ...]
    focus: tuple[tuple[int, str, str], ...]         # (rank of its basis, area, reason)
    flags: tuple[RaiseFlag, ...]
    considerations: tuple[str, ...]
    text: str                                       # the trace's effect string
    has_choice: bool                                # its condition has alternatives


# Distinct value combinations remembered per rule set before the cache starts afresh:
# enough for any realistic corpus, and a bound on memory whatever the input.
_BECAUSE_CACHE_SIZE = 100_000


class _Memo:
    """Per-rule-set texts, effects and explanations computed once, not once per intake."""

    def __init__(self, ruleset: RuleSet):
        policy = ruleset.policies
        assert policy is not None
        self.ruleset = ruleset
        self.effects = {rid: _effects(r, policy) for rid, r in ruleset.by_id.items()}
        self.facts = {r.id: tuple(dict.fromkeys(leaf.fact for leaf in leaves(r.when))) for r in ruleset.rules}
        self._because: dict[tuple[Any, ...], list[str]] = {}

    def because(self, matched: dict[str, Any], rule: Rule, values: dict[str, Any],
                derived: dict[str, list[Any]]) -> dict[str, Any]:
        """The facts that made the rule's condition true, with the values the engine
        matched: for an ``any`` only the branches that held, so a reader is not shown
        facts that played no part.  Which facts those are depends only on the values of
        the facts the condition reads, so it is worked out once per combination."""
        facts = self.facts[rule.id]
        combination = (rule.id, *(values.get(f) if f in values else _ABSENT for f in facts),
                       *(tuple(derived[f]) if f in derived else _ABSENT for f in facts))
        supporting = self._because.get(combination)
        if supporting is None:
            if len(self._because) >= _BECAUSE_CACHE_SIZE:
                self._because.clear()
            facts_of = self.ruleset.facts
            supporting = [facts_of[name].key for name in supporting_facts(rule.when, values, derived)]
            self._because[combination] = supporting
        return {key: matched[key] for key in supporting if key in matched} or matched


_ABSENT = object()  # a fact with no entry at all (unlike one whose value is None)


def _effects(rule: Rule, policy: Any) -> _Effects:
    then = rule.then
    return _Effects(
        incomplete=any(isinstance(e, SetStatus) and e.status == "incomplete" for e in then),
        formats=tuple((fmt, e.reason) for e in then if (fmt := format_outcome(rule, e, policy.format_precedence))),
        conditions=tuple(e for e in then if isinstance(e, AddCondition)),
        focus=tuple((policy.focus_basis.index(e.basis), e.area, e.reason) for e in then if isinstance(e, ProposeFocus)),
        flags=tuple(e for e in then if isinstance(e, RaiseFlag)),
        considerations=tuple(e.text for e in then if isinstance(e, Consider)),
        text="; ".join(describe_effect(e) for e in then),
        has_choice=_has_choice(rule.when),
    )


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


"""Aggregate what fired into the decision, using only the declared policies.

Nothing clinical is decided here: the format precedence, the focus ordering,
the two-area limit, the flag levels and their urgency, the order and topics of
the conditions, the banners and every label come from the rule set's manifest,
and a text that depends on the case is chosen by the conditions its rule wrote
(``Variant``).  This module only applies them, the same way for every rule set.
"""

from __future__ import annotations

import itertools
from ..core.precompiled_classes import dataclass
from typing import Any, Callable

from ..core.firings import Run
from ..ruleset.evaluate import supporting_facts, truth
from ..core.model import (
    AddCondition,
    All,
    AnyOf,
    ChooseFormat,
    Consider,
    Derive,
    ExcludeFormat,
    Not,
    ProposeFocus,
    RaiseFlag,
    Rule,
    RuleSet,
    SetStatus,
    Variant,
    leaves,
)
from ..core.wording import describe_effect


def format_outcome(rule: Rule, effect: Any, precedence: tuple[str, ...]) -> str | None:
    """The format a format effect asks for: ``exclude X`` means at least the
    next more restrictive format than X in the precedence list."""
    if isinstance(effect, ChooseFormat):
        return effect.format
    if isinstance(effect, ExcludeFormat):
        return precedence[precedence.index(effect.format) - 1]
    return None


def derived_values(decision: dict[str, Any], ruleset: RuleSet) -> dict[str, list[Any]]:
    """Derived fact -> values set by the rules that fired (rebuilt from a decision's trace)."""
    out: dict[str, list[Any]] = {}
    for step in decision["trace"]:
        for effect in ruleset.rule(step["rule"]).then:
            if isinstance(effect, Derive) and effect.value not in out.setdefault(effect.fact, []):
                out[effect.fact].append(effect.value)
    return out


def choose_text(
    default: str, variants: tuple[Variant, ...], values: dict[str, Any], derived: dict[str, list[Any]]
) -> str:
    """The text for this case: the first variant whose condition is true, else the default."""
    for variant in variants:
        if holds(variant.when, values, derived):
            return variant.text
    return default


def holds(cond: Any, values: dict[str, Any], derived: dict[str, list[Any]]) -> bool:
    """Whether a condition is true after the run, read as the engine reads a rule's: a derived
    fact that holds several values is true for the condition if ONE of them makes it true."""
    names = [name for name in dict.fromkeys(leaf.fact for leaf in leaves(cond)) if len(derived.get(name, ())) > 1]
    if not names:
        return truth(cond, values, derived) is True
    return any(
        truth(cond, values, {**derived, **{n: [v] for n, v in zip(names, combo)}}) is True
        for combo in itertools.product(*(derived[n] for n in names))
    )


def decide(
    run: Run, values: dict[str, Any], not_assessed: list[str], ruleset: RuleSet, intake_id: str
) -> dict[str, Any]:
    """The decision-v1 JSON object (plus documented extensions), key order fixed."""
    policy = ruleset.policies
    assert policy is not None
    memo = ruleset.memo(_Memo)
    derived = run.derived
    # fired rules in trace order, each with its effects already sorted by kind (see _Effects)
    fired = [(f, ruleset.rule(f.rule_id), memo.effects[f.rule_id]) for f in run.ordered()]

    def text(effect: Any, default: str) -> str:
        return choose_text(default, effect.variants, values, derived) if effect.variants else default

    status = "incomplete" if any(fx.incomplete for _, _, fx in fired) else policy.status_default
    final, reasons = _format(fired, policy)
    by_urgency = policy.condition_order == "flag_urgency"
    kept = [
        (fx.urgency if by_urgency else 0, order, c.topic, text(c, c.text))
        for order, (_, _, fx) in enumerate(fired)
        for c in fx.conditions
        if not c.if_format or final in c.if_format
    ]
    conditions = assemble_conditions(sorted(kept, key=lambda item: item[:2]), policy.condition_topics)
    ordered_flags = _flags(fired, policy, memo, text)
    severity = {}
    for field_name, fact in policy.severity.items():
        spec = ruleset.facts[fact]
        severity[field_name] = values.get(fact) if not spec.derived else (derived.get(fact) or [None])[0]

    return {
        "decision_version": 1,
        "intake_id": intake_id,
        "status": status,
        "banners": banners(policy, status, ordered_flags, values, derived),
        "recommendation": {
            "format": final,
            "summary": policy.format_labels.get(final, final),
            "conditions": conditions,
            "reasons": reasons,
        },
        "focus": _focus(fired, policy),
        "flags": ordered_flags,
        "severity": severity,
        "considerations": [
            {"rule": rule.id, "text": text(c, c.text)}
            for _, rule, fx in fired
            for c in fx.considerations
            if not c.if_format or final in c.if_format
        ],
        "trace": _trace(fired, memo, values, derived, text),
        "not_assessed": not_assessed,
        "ruleset": {"name": ruleset.name, "version": ruleset.version, "sha256": ruleset.sha256},
    }


# a fired rule as ``decide`` goes through them: its firing, the rule, its effects by kind
_Fired = tuple[Any, Rule, "_Effects"]


def _format(fired: list[_Fired], policy: Any) -> tuple[str, list[dict[str, str | None]]]:
    """The recommended format (the most restrictive one asked for) and the reasons for it."""
    wanted = [(rule.id, fmt, reason) for _, rule, fx in fired for fmt, reason in fx.formats]
    if not wanted:
        return policy.format_fallback, [{"rule": None, "text": policy.format_fallback_reason}]
    final = min((fmt for _, fmt, _ in wanted), key=policy.format_precedence.index)
    return final, [{"rule": rid, "text": reason} for rid, fmt, reason in wanted if fmt == final]


def _focus(fired: list[_Fired], policy: Any) -> dict[str, Any]:
    """The focus areas: each at the best-ranked basis any rule proposed it on, at most max_areas."""
    proposals: dict[str, tuple[int, str, str]] = {}
    for _, rule, fx in fired:
        for rank, area, reason in fx.focus:
            if area not in proposals or rank < proposals[area][0]:
                proposals[area] = (rank, rule.id, reason)
    ranked = sorted(proposals, key=lambda a: (proposals[a][0], policy.focus_areas.index(a)))
    areas = ranked[: policy.focus_max]
    return {
        "primary": areas[0] if areas else None,
        "secondary": areas[1] if len(areas) > 1 else None,
        "reasons": [{"area": a, "rule": proposals[a][1], "text": proposals[a][2]} for a in areas],
        # proposed but not kept: at most max_areas, in the order above
        "dropped": [{"area": a, "rule": proposals[a][1], "text": proposals[a][2]} for a in ranked[policy.focus_max :]],
    }


def _flags(fired: list[_Fired], policy: Any, memo: _Memo, text: Callable[[Any, str], str]) -> list[dict[str, Any]]:
    """One flag per code, most severe first, then by the declared urgency."""
    flags: dict[str, dict[str, Any]] = {}
    rank_of = policy.flag_levels.index
    for _, rule, fx in fired:
        for e in fx.flags:
            # one flag per code, at the most severe level a fired rule raised it (first in trace order among equals)
            if e.code not in flags or rank_of(e.level) < rank_of(flags[e.code]["level"]):
                flags[e.code] = {"code": e.code, "level": e.level, "action": text(e, e.action), "rule": rule.id}
    urgent = memo.flag_urgency
    return sorted(flags.values(), key=lambda f: (rank_of(f["level"]), urgent.get(f["code"], len(urgent))))


def _trace(
    fired: list[_Fired],
    memo: _Memo,
    values: dict[str, Any],
    derived: dict[str, list[Any]],
    text: Callable[[Any, str], str],
) -> list[dict[str, Any]]:
    """Every fired rule in trace order, with the facts that made it fire and what it did."""
    return [
        {
            "rule": rule.id,
            "version": rule.version,
            "title": rule.title,
            "because": memo.because(f.because, rule, values, derived) if fx.has_choice else f.because,
            "effect": fx.text
            if not fx.has_variants
            else "; ".join(
                describe_effect(e, text(e, e.text) if isinstance(e, (AddCondition, Consider)) else None)
                for e in rule.then
            ),
        }
        for f, rule, fx in fired
    ]


def urgency_of(ruleset: RuleSet, rule_id: str) -> tuple[int, int]:
    """How urgent a rule's conditions are (its most urgent flag: level, then urgency), as
    ``decide`` orders them under ``conditions.order: flag_urgency``."""
    return ruleset.memo(_Memo).effects[rule_id].urgency


def assemble_conditions(kept: list[tuple[Any, Any, str, str]], topics: dict[str, str]) -> list[str]:
    """Conditions in the order given, each once; the conditions of one topic print as one,
    where the first of them stands: the topic's text, then their details after a colon."""
    slots: list[list[Any]] = []  # [topic or None, text or topic head, details]
    by_topic: dict[str, list[Any]] = {}
    for *_, topic, body in kept:
        if topic:
            slot = by_topic.get(topic)
            if slot is None:
                slot = by_topic[topic] = [topic, topics.get(topic, topic), []]
                slots.append(slot)
            if body and body not in slot[2]:
                slot[2].append(body)
        elif not any(s[0] is None and s[1] == body for s in slots):
            slots.append([None, body, []])
    return [head + (": " + "; ".join(details) if details else "") for _, head, details in slots]


def banners(
    policy: Any, status: str, flags: list[dict[str, Any]], values: dict[str, Any], derived: dict[str, list[Any]]
) -> list[dict[str, str]]:
    """The lines shown above everything, in the order the manifest declares them."""
    raised = {f["code"]: f["level"] for f in flags}
    out = []
    for b in policy.banners:
        hit = (
            (b.flag in raised and (not b.flag_level or raised[b.flag] == b.flag_level))
            if b.flag
            else status == b.status
        )
        if hit:
            out.append({"level": b.level, "text": choose_text(b.text, b.variants, values, derived)})
    return out


@dataclass(frozen=True)
class _Effects:
    """One rule's effects sorted by kind once per rule set, so a decision does not sift
    every effect of every fired rule once per kind (the batch hot path)."""

    incomplete: bool  # sets the status to incomplete
    formats: tuple[tuple[str, str], ...]  # (format it asks for, reason)
    conditions: tuple[AddCondition, ...]
    focus: tuple[tuple[int, str, str], ...]  # (rank of its basis, area, reason)
    flags: tuple[RaiseFlag, ...]
    considerations: tuple[Consider, ...]
    text: str  # the trace's effect string
    has_choice: bool  # its condition has alternatives
    has_variants: bool  # a text depends on the case: the trace is written per case
    urgency: tuple[int, int]  # its most urgent flag (level, urgency): orders its conditions


# Distinct value combinations remembered per rule set before the cache starts afresh:
# enough for any realistic corpus, and a bound on memory whatever the input.
_BECAUSE_CACHE_SIZE = 100_000


class _Memo:
    """Per-rule-set texts, effects and explanations computed once, not once per intake."""

    def __init__(self, ruleset: RuleSet):
        policy = ruleset.policies
        assert policy is not None
        self.ruleset = ruleset
        self.flag_urgency = {code: i for i, code in enumerate(policy.flag_urgency)}
        self.effects = {rid: _effects(r, policy, self.flag_urgency) for rid, r in ruleset.by_id.items()}
        self.facts = {r.id: tuple(dict.fromkeys(leaf.fact for leaf in leaves(r.when))) for r in ruleset.rules}
        self._because: dict[tuple[Any, ...], list[str]] = {}

    def because(
        self, matched: dict[str, Any], rule: Rule, values: dict[str, Any], derived: dict[str, list[Any]]
    ) -> dict[str, Any]:
        """The facts that made the rule's condition true, with the values the engine
        matched: for an ``any`` only the branches that held, so a reader is not shown
        facts that played no part.  Which facts those are depends only on the values of
        the facts the condition reads, so it is worked out once per combination."""
        facts = self.facts[rule.id]
        combination = (
            rule.id,
            *(values.get(f) if f in values else _ABSENT for f in facts),
            *(tuple(derived[f]) if f in derived else _ABSENT for f in facts),
        )
        supporting = self._because.get(combination)
        if supporting is None:
            if len(self._because) >= _BECAUSE_CACHE_SIZE:
                self._because.clear()
            facts_of = self.ruleset.facts
            supporting = [facts_of[name].key for name in supporting_facts(rule.when, values, derived)]
            self._because[combination] = supporting
        return {key: matched[key] for key in supporting if key in matched} or matched


_ABSENT = object()  # a fact with no entry at all (unlike one whose value is None)


def _effects(rule: Rule, policy: Any, urgent: dict[str, int]) -> _Effects:
    then = rule.then
    raised = [
        (
            policy.flag_levels.index(e.level) if e.level in policy.flag_levels else len(policy.flag_levels),
            urgent.get(e.code, len(urgent)),
        )
        for e in then
        if isinstance(e, RaiseFlag)
    ]
    return _Effects(
        incomplete=any(isinstance(e, SetStatus) and e.status == "incomplete" for e in then),
        formats=tuple((fmt, e.reason) for e in then if (fmt := format_outcome(rule, e, policy.format_precedence))),  # type: ignore[union-attr]  # only format effects have a format outcome, and both have a reason
        conditions=tuple(e for e in then if isinstance(e, AddCondition)),
        focus=tuple((policy.focus_basis.index(e.basis), e.area, e.reason) for e in then if isinstance(e, ProposeFocus)),
        flags=tuple(e for e in then if isinstance(e, RaiseFlag)),
        considerations=tuple(e for e in then if isinstance(e, Consider)),
        text="; ".join(describe_effect(e) for e in then),
        has_choice=_has_choice(rule.when),
        has_variants=any(getattr(e, "variants", ()) for e in then if not isinstance(e, RaiseFlag)),
        # a rule raising no flag: after every flagged one
        urgency=min(raised, default=(len(policy.flag_levels) + 1, 0)),
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

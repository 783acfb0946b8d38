"""What a report shows for one decision, worked out once for the text, Markdown and HTML
templates (and the catalog's case pages), so every format says the same thing in the same
words.

Everything comes from the decision and the rule set: labels of facts and values
(``facts.yaml``), the label chosen for the case (label ``variants``), the bands' cut-offs
read from the rules that derived them, answers as recorded (yes / no / not asked /
declined / not recorded), and which of a fired rule's conclusions apply to this decision.
No clinical word or number is written here.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

from .words import brief_condition
from ..decision.decide import choose_text, derived_values
from ..intake.facts import input_values
from ..core.model import AddCondition, ChooseFormat, Consider, Derive, ExcludeFormat, ProposeFocus, RaiseFlag, RuleSet
from ..core.wording import NOT_ASKED, NOT_DERIVED, answer_words, effect_words, missing_words, value_words


def report_view(ruleset: RuleSet, decision: dict[str, Any], intake: Any, tool_version: str) -> dict[str, Any]:
    """Everything a report template shows (see ``templates/report.*.j2``)."""
    policy = ruleset.policies
    assert policy is not None
    values = input_values(intake, ruleset)
    derived = derived_values(decision, ruleset)
    by_key = {spec.key: spec for spec in ruleset.facts.values()}
    rec = decision["recommendation"]

    def label(name: str) -> str:
        spec = ruleset.facts[name]
        return choose_text(spec.label, spec.label_variants, values, derived) if spec.label_variants else spec.label

    def because(step: dict[str, Any]) -> list[dict[str, str]]:
        out = []
        for key, value in step["because"].items():
            spec = by_key.get(key)
            if spec is None:
                out.append({"label": key, "key": key, "answer": value_words(value)})
            elif value is None and not spec.derived:
                out.append({"label": label(spec.name), "key": key, "answer": missing_words(spec, values)})
            else:
                out.append({"label": label(spec.name), "key": key, "answer": value_words(value, spec)})
        return out

    steps = [
        _step(ruleset, decision, step, i + 1, because(step), values, derived)
        for i, step in enumerate(decision["trace"])
    ]
    return {
        "tool_version": tool_version,
        "case": {
            "id": intake.case_id,
            "assessed_on": intake.get("assessed_on"),
            "age": intake.get("age"),
            "source": intake.source,
            "notes": intake.get("notes"),
        },
        "decision": decision,
        "format_label": policy.format_labels.get(rec["format"], rec["format"]),
        "focus": [
            {
                "role": role,
                "area": r["area"],
                "label": policy.area_labels.get(r["area"], r["area"]),
                "text": r["text"],
                "rule": r["rule"],
            }
            for role, r in zip(("Primary", "Secondary"), decision["focus"]["reasons"])
        ],
        "dropped": [
            {
                "label": policy.area_labels.get(d["area"], d["area"]),
                "text": d["text"],
                "rule": d["rule"],
                "why": _dropped_why(policy, decision),
            }
            for d in decision["focus"].get("dropped", [])
        ],
        "risk_answers": [
            {
                "label": label(name),
                "key": ruleset.facts[name].key,
                "answer": (answer := answer_words(ruleset, name, values)),
                "state": _state(values.get(name), answer),
            }
            for name in policy.risk_answers
        ],
        "severity": _severity(ruleset, decision, values, label),
        "signoff": _signoff(policy, decision, intake.get("clinician_decision")),
        "steps": [s for s in steps if s["applies"]],
        "quiet_steps": [s for s in steps if not s["applies"]],
        "not_assessed": [
            {
                "label": label(by_key[path].name) if path in by_key else path,
                "key": path,
                "answer": missing_words(by_key[path], values) if path in by_key else "not recorded",
            }
            for path in decision["not_assessed"]
        ],
        "format_labels": dict(policy.format_labels),
        "area_labels": dict(policy.area_labels),
    }


def _state(value: Any, answer: str) -> str:
    """How a risk answer is styled: a yes stands out, a missing or declined answer reads as a
    gap, a question the screener rightly skipped as neither."""
    if value is None:
        return "skipped" if answer == NOT_ASKED else "missing"
    return "positive" if value is True or (type(value) is int and value > 0) else "negative"


def _severity(ruleset: RuleSet, decision: dict[str, Any], values: dict[str, Any], label: Any) -> list[dict[str, Any]]:
    """Each severity field with its fact's label and, for a derived band, the rule that set it
    and that rule's own bounds (so a moved cut-off is reported as the rules now state it)."""
    policy = ruleset.policies
    assert policy is not None
    rows = []
    for field_name, fact in policy.severity.items():
        spec = ruleset.facts[fact]
        value = decision["severity"].get(field_name)
        basis = rule_id = ""
        if spec.derived and value is not None:
            for step in decision["trace"]:
                rule = ruleset.rule(step["rule"])
                if any(isinstance(e, Derive) and e.fact == fact and e.value == value for e in rule.then):
                    basis, rule_id = brief_condition(rule.when, ruleset), rule.id
                    break
        rows.append(
            {
                "field": field_name,
                "label": label(fact),
                "value": value_words(value, spec) if value is not None else NOT_DERIVED,
                "basis": basis,
                "rule": rule_id,
            }
        )
    return rows


def _signoff(policy: Any, decision: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """The clinician's decision as the intake records it, or blanks to fill in on paper."""
    if not given:
        return {"filled": False, "accepted": None, "changed_to": "", "reason": ""}
    rec = decision["recommendation"]["format"]
    focus = decision["focus"]["primary"]
    accepted = given["format"] == rec and (given.get("focus") is None or given.get("focus") == focus)
    changed = policy.format_labels.get(given["format"], given["format"])
    if given.get("focus"):
        changed += f", focus {policy.area_labels.get(given['focus'], given['focus'])}"
    return {
        "filled": True,
        "accepted": accepted,
        "changed_to": "" if accepted else changed,
        "reason": given.get("reason") or "",
    }


def _dropped_why(policy: Any, decision: dict[str, Any]) -> str:
    kept = [policy.area_labels.get(r["area"], r["area"]) for r in decision["focus"]["reasons"]]
    order = " before ".join(value_words(b) for b in policy.focus_basis)
    return (
        f"not kept: at most {policy.focus_max} focus area{'s' if policy.focus_max > 1 else ''}, and "
        f"{' and '.join(kept)} rank{'s' if len(kept) == 1 else ''} higher ({order}, then by area priority)"
    )


def _step(
    ruleset: RuleSet,
    decision: dict[str, Any],
    step: dict[str, Any],
    number: int,
    because: list[dict[str, str]],
    values: dict[str, Any],
    derived: dict[str, list[Any]],
) -> dict[str, Any]:
    """One fired rule for the "Why" appendix: its conclusions in words, each marked with
    whether it applies to this decision (a group-only condition in an individual decision,
    an area dropped by the limit, a format outranked by a more restrictive one)."""
    policy = ruleset.policies
    assert policy is not None
    rule = ruleset.rule(step["rule"])
    final = decision["recommendation"]["format"]
    dropped = {d["area"] for d in decision["focus"].get("dropped", [])}
    effects: list[dict[str, Any]] = []
    for e in rule.then:
        variants = getattr(e, "variants", ())
        chosen = None
        if variants:
            chosen = choose_text(e.action if isinstance(e, RaiseFlag) else e.text, variants, values, derived)  # type: ignore[union-attr]  # every effect with variants has a text or an action
        note = ""
        if isinstance(e, (AddCondition, Consider)) and e.if_format and final not in e.if_format:
            note = f"not applied: only when the format is {' or '.join(e.if_format)}"
        elif isinstance(e, ProposeFocus) and e.area in dropped:
            note = _dropped_why(policy, decision)
        elif isinstance(e, (ChooseFormat, ExcludeFormat)) and final not in _asked(e, policy):
            note = f"outranked: a more restrictive format was asked for ({final})"
        if note and isinstance(e, (AddCondition, Consider)):
            # the scope is in the note; a text that does not apply is shortened
            text = _shorten(effect_words(dataclasses.replace(e, if_format=()), ruleset, chosen))
        else:
            text = effect_words(e, ruleset, chosen)
        effects.append({"text": text, "applied": not note, "note": note})
    informative = [x for x in effects if not x["text"].startswith("sets ")]
    return {
        "number": number,
        "rule": rule.id,
        "title": rule.title,
        "version": rule.version,
        "status": rule.status,
        "effects": effects,
        "because": because,
        "rationale": " ".join(rule.rationale.split()),
        "references": ruleset.citations(rule),
        # a rule whose every conclusion misses this decision is listed briefly, not in full
        "applies": any(x["applied"] for x in informative) or not informative,
    }


def _asked(effect: Any, policy: Any) -> tuple[str, ...]:
    from ..decision.decide import format_outcome

    wanted = format_outcome(None, effect, policy.format_precedence)  # type: ignore[arg-type]
    return (wanted,) if wanted else ()


def _shorten(text: str, width: int = 110) -> str:
    return textwrap.shorten(text, width=width, placeholder=" …")

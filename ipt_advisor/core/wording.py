"""How the tool words a fact's value and a rule's effect: the one place for both.

Reports, the trace, what-if and why-not, the catalog, decision tables, the smallest change,
mutation suggestions and the web app all speak of a value or a conclusion through these
functions, so one answer or one conclusion reads the same everywhere.

* values: :func:`value_words` (yes/no, the fact's own labels, underscores as spaces),
  :func:`answer_words` / :func:`missing_words` (an intake answer, or why there is none),
  :func:`derived_words` and :func:`fact_words` (a fact's value in one decision),
  :func:`spelled` (a value as YAML and the web form spell it: ``true``/``false``);
* effects, in three registers: :func:`describe_effect` (the trace's short code, part of the
  decision JSON), :func:`effect_words` (a reader's words) and :func:`effect_brief` (a
  table cell).
"""

from __future__ import annotations

from typing import Any

from .model import (
    AddCondition,
    ChooseFormat,
    Consider,
    Derive,
    Effect,
    ExcludeFormat,
    FactSpec,
    ProposeFocus,
    RaiseFlag,
    RuleSet,
    SetStatus,
)

#: What an answer that is not there is called, everywhere (reports, trace, explain, why-not,
#: catalog): rightly skipped by the screener's own logic, refused by the person, or missing.
NOT_ASKED, DECLINED, NOT_RECORDED = "not asked", "declined", "not recorded"
#: A derived fact no rule of the decision set.
NOT_DERIVED = "not derived"


# ------------------------------------------------------------------ values


def value_words(value: Any, spec: FactSpec | None = None) -> str:
    """A fact value in words: yes/no, the fact's own label for the value (facts.yaml
    ``labels``), else the value with underscores as spaces; None is "not recorded"."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_words(v, spec) for v in value)
    if spec is not None and value in spec.value_labels:
        return spec.value_labels[value]
    return str(value).replace("_", " ")


def spelled(value: Any) -> str:
    """A value as YAML (and so the trace, and the web form) spells it: ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def answer_words(ruleset: RuleSet, fact: str, values: dict[str, Any]) -> str:
    """An intake answer as recorded: its value in words, or why there is none - not asked
    (its ``asked_when`` is known to be false), declined (its ``declined_when`` holds) or
    not recorded."""
    spec = ruleset.facts.get(fact)
    value = values.get(fact)
    if spec is None or value is not None:
        return value_words(value, spec)
    return missing_words(spec, values)


def missing_words(spec: FactSpec, values: dict[str, Any]) -> str:
    """Why an intake fact has no value: not asked, declined or not recorded."""
    if any(values.get(other) is not None and values.get(other) != want for other, want in spec.asked_when):
        return NOT_ASKED
    if spec.declined_when and all(values.get(other) == want for other, want in spec.declined_when):
        return DECLINED
    return NOT_RECORDED


def derived_words(got: list[Any] | None, spec: FactSpec | None = None) -> str:
    """The values rules set for a derived fact, in words; "not derived" when none did."""
    return ", ".join(value_words(v, spec) for v in got) if got else NOT_DERIVED


def fact_words(ruleset: RuleSet, fact: str, values: dict[str, Any], derived: dict[str, list[Any]]) -> str:
    """A fact's value in one decision: the intake's answer (or why there is none), or the
    values the rules derived."""
    spec = ruleset.facts.get(fact)
    if spec is None or spec.derived:
        return derived_words(derived.get(fact), spec)
    return answer_words(ruleset, fact, values)


def intake_value_words(value: Any) -> str:
    """An intake value no fact reads (free text, an id, a whole block) in words: a block is
    "recorded" (its answers are each a fact's)."""
    return "recorded" if isinstance(value, dict) else value_words(value)


def fact_label(ruleset: RuleSet, fact: str) -> str:
    spec = ruleset.facts.get(fact)
    return spec.label if spec is not None else fact


def join_words(items: list[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (or another conjunction); nothing for no items."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


# ------------------------------------------------------------------ effects


def _text_of(effect: AddCondition | Consider, text: str | None) -> str:
    return effect.text if text is None else text


def describe_effect(effect: Effect, text: str | None = None) -> str:
    """Short machine-readable description used in the trace's ``effect``; ``text`` is the
    variant chosen for this case, when the effect has one (see ``Variant``)."""
    if isinstance(effect, Derive):
        return f"{effect.fact}={spelled(effect.value)}"
    if isinstance(effect, RaiseFlag):
        return f"flag {effect.code} ({effect.level})"
    if isinstance(effect, ChooseFormat):
        return f"format {effect.format}"
    if isinstance(effect, ExcludeFormat):
        return f"exclude {effect.format}"
    if isinstance(effect, ProposeFocus):
        return f"focus {effect.area} ({effect.basis})"
    if isinstance(effect, SetStatus):
        return f"status {effect.status}"
    scope = f" [if {'/'.join(effect.if_format)}]" if effect.if_format else ""
    if isinstance(effect, AddCondition):
        topic = f"[{effect.topic}] " if effect.topic else ""
        return f"condition: {topic}{_text_of(effect, text)}{scope}".rstrip()
    return f"consider: {_text_of(effect, text)}{scope}"


def effect_words(effect: Effect, ruleset: RuleSet, text: str | None = None) -> str:
    """What a rule concludes, in words; ``text`` is the variant chosen for one case, if any."""
    policy = ruleset.policies
    if isinstance(effect, Derive):
        spec = ruleset.facts.get(effect.fact)
        return f"sets {fact_label(ruleset, effect.fact)} ({effect.fact}) to {value_words(effect.value, spec)}"
    if isinstance(effect, RaiseFlag):
        return f"raises flag {effect.code} ({effect.level}): {effect.action if text is None else text}"
    if isinstance(effect, ChooseFormat):
        return f"chooses the format {effect.format}: {effect.reason}"
    if isinstance(effect, ExcludeFormat):
        fallback = ""
        if policy is not None and effect.format in policy.format_precedence:
            index = policy.format_precedence.index(effect.format)
            if index > 0:
                fallback = f" (so at least {policy.format_precedence[index - 1]})"
        return f"rules out the format {effect.format}{fallback}: {effect.reason}"
    if isinstance(effect, ProposeFocus):
        area = policy.area_labels.get(effect.area, effect.area) if policy else effect.area
        return f"proposes the focus {area} ({value_words(effect.basis)}): {effect.reason}"
    if isinstance(effect, SetStatus):
        return f"marks the decision {effect.status}"
    scope = f" (only when the format is {' or '.join(effect.if_format)})" if effect.if_format else ""
    if isinstance(effect, AddCondition):
        body = _text_of(effect, text)
        if effect.topic:
            head = policy.condition_topics.get(effect.topic, effect.topic) if policy else effect.topic
            body = f"{head}: {body}" if body else head
        return f"adds the condition{scope}: {body}"
    return f"adds a point for clinical review{scope}: {' '.join(_text_of(effect, text).split())}"


def effect_owner(effect: Effect) -> str:
    """Whose text a variant or a scope belongs to, in words (mutation and coverage reports)."""
    if isinstance(effect, RaiseFlag):
        return f"flag {effect.code}'s action"
    if isinstance(effect, AddCondition):
        return f'condition "{clip(effect.text or effect.topic, 40)}"'
    if isinstance(effect, Consider):
        return f'consideration "{clip(effect.text, 40)}"'
    return clip(describe_effect(effect), 40)


def clip(text: str, width: int = 70) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def effect_brief(effect: Effect, ruleset: RuleSet) -> str:
    """What an effect concludes, in a few words (a decision table's cell; the full words are
    on the rule's page)."""
    if isinstance(effect, Derive):
        return f"{fact_label(ruleset, effect.fact)}: {value_words(effect.value, ruleset.facts.get(effect.fact))}"
    if isinstance(effect, ExcludeFormat):
        return f"rules out {effect.format}"
    if isinstance(effect, ProposeFocus):
        return f"focus {effect.area}"
    if isinstance(effect, AddCondition):
        return "a condition"
    if isinstance(effect, Consider):
        return "a point for review"
    return describe_effect(effect)  # a flag, a format, a status: the trace's code says it briefly

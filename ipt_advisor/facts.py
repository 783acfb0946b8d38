"""Intake -> the one engine fact, with real types only.

durable-rules compares a number with a string as *text* ("10" >= 9 is false),
so every value is checked against its declaration before it reaches the
engine; an unknown value (None) is left out of the fact, never imputed.
"""
from __future__ import annotations

from typing import Any, Protocol

from .errors import EngineError, Problem
from .model import FactSpec, RuleSet


class HasGet(Protocol):
    source: str

    def get(self, dotted_path: str) -> Any: ...


def _typed(spec: FactSpec, value: Any) -> bool:
    if spec.type == "boolean":
        return type(value) is bool
    if spec.type == "integer":
        return type(value) is int  # bool is a subclass of int, and not a number here
    return value in spec.values


def _plan(ruleset: RuleSet) -> list[tuple[str, tuple[str, ...], FactSpec]]:
    """(fact name, intake path split once, spec) for every input fact: split once per
    rule set, not once per fact per intake (the batch hot path)."""
    return [(spec.name, tuple(spec.source.split(".")), spec) for spec in ruleset.facts.values() if spec.source]


def _lookup(record: dict[str, Any], parts: tuple[str, ...]) -> Any:
    value: Any = record
    for part in parts:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def input_values(intake: HasGet, ruleset: RuleSet) -> dict[str, Any]:
    """Every input fact's value (None when unknown), checked against its type."""
    record = getattr(intake, "record", None)
    if type(record) is dict:  # a validated Intake: walk its record directly (the batch hot path)
        looked_up = [(name, _lookup(record, parts), spec) for name, parts, spec in ruleset.memo(_plan)]
    else:
        looked_up = [(name, intake.get(spec.source), spec) for name, parts, spec in ruleset.memo(_plan)]
    values = {name: value for name, value, _ in looked_up}
    bad = [Problem(intake.source, None, spec.key, f"value {value!r} does not fit fact {spec.name} ({spec.type})")
           for name, value, spec in looked_up if value is not None and not _typed(spec, value)]
    if bad:
        raise EngineError(bad)
    return values


def engine_fact(values: dict[str, Any]) -> dict[str, Any]:
    """The intake fact as the engine sees it: unknown values are absent."""
    fact = {"k": "intake"}
    fact.update((name, value) for name, value in values.items() if value is not None)
    return fact


def not_assessed(values: dict[str, Any], ruleset: RuleSet) -> list[str]:
    """Intake items with no answer that should have one.

    An item whose ``asked_when`` condition is known to be false (C-SSRS Q3-5
    after a "no" to Q2) was rightly not asked and is not listed; when the
    controlling answer is itself unknown the item is listed.
    """
    out = []
    for spec in ruleset.facts.values():
        if spec.source is None or values.get(spec.name) is not None:
            continue
        if any(values.get(other) is not None and values.get(other) != want for other, want in spec.asked_when):
            continue
        out.append(spec.source)
    return out

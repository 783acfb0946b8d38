"""Intake -> the one engine fact, with real types only.

durable-rules compares a number with a string as *text* ("10" >= 9 is false),
so every value is checked against its declaration before it reaches the
engine; an unknown value (None) is left out of the fact, never imputed.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..core.errors import EngineError, Problem
from ..core.model import FactSpec, RuleSet


class HasGet(Protocol):
    @property
    def source(self) -> str: ...

    def get(self, dotted_path: str) -> Any: ...


def _typed(spec: FactSpec, value: Any) -> bool:
    if spec.type == "boolean":
        return type(value) is bool
    if spec.type == "integer":
        return type(value) is int  # bool is a subclass of int, and not a number here
    return value in spec.values


class _Plan:
    """How to read every input fact out of a validated record, worked out once per rule set
    (the batch hot path): facts grouped by the block that holds them, so each block is
    reached once, not once per fact."""

    def __init__(self, ruleset: RuleSet):
        self.specs = [spec for spec in ruleset.facts.values() if spec.source]  # declaration order
        groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for spec in self.specs:
            *parents, leaf = spec.source.split(".")  # type: ignore[union-attr]
            groups.setdefault(tuple(parents), []).append((leaf, spec.name))
        self.groups = tuple((parents, tuple(leaves)) for parents, leaves in groups.items())
        # (fact, its intake path, what it depends on) for not_assessed, in declaration order
        self.asked = tuple((spec.name, str(spec.source), tuple(spec.asked_when)) for spec in self.specs)

    def read(self, record: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for parents, leaves in self.groups:
            block: Any = record
            for part in parents:
                block = block.get(part) if type(block) is dict else None
            if type(block) is dict:
                get = block.get
                for leaf, name in leaves:
                    found[name] = get(leaf)
            else:
                for _, name in leaves:
                    found[name] = None
        return {spec.name: found[spec.name] for spec in self.specs}


def input_values(intake: HasGet, ruleset: RuleSet) -> dict[str, Any]:
    """Every input fact's value (None when unknown), checked against its type."""
    plan = ruleset.memo(_Plan)
    record = getattr(intake, "record", None)
    if type(record) is dict:  # a validated Intake: read its record directly
        values = plan.read(record)
    else:
        values = {spec.name: intake.get(spec.source) for spec in plan.specs}  # type: ignore[arg-type]  # input facts have a source
    bad = [
        Problem(intake.source, None, spec.key, f"value {value!r} does not fit fact {spec.name} ({spec.type})")
        for spec in plan.specs
        if (value := values[spec.name]) is not None and not _typed(spec, value)
    ]
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
    out: list[str] = []
    get = values.get
    for name, source, asked_when in ruleset.memo(_Plan).asked:  # the input facts
        if get(name) is not None:
            continue
        if asked_when and any((v := get(other)) is not None and v != want for other, want in asked_when):
            continue
        out.append(source)
    return out

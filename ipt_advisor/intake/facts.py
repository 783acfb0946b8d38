"""Intake -> the one engine fact, with real types only.

durable-rules compares a number with a string as *text* ("10" >= 9 is false),
so every value is checked against its declaration before it reaches the
engine; an unknown value (None) is left out of the fact, never imputed.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..core.errors import EngineError, Problem
from ..core.model import RuleSet


class HasGet(Protocol):
    @property
    def source(self) -> str: ...

    def get(self, dotted_path: str) -> Any: ...


# the one Python type an answer of each fact type must have (bool is a subclass of int, and
# not a number here, hence ``type() is``); an enum answer must be one of its fact's values
_TYPE_OF = {"boolean": bool, "integer": int}


class _Plan:
    """How to read every input fact out of a validated record, worked out once per rule set
    (the batch hot path): facts grouped by the block that holds them, so each block is
    reached once, not once per fact."""

    def __init__(self, ruleset: RuleSet):
        self.specs = [spec for spec in ruleset.facts.values() if spec.source]  # declaration order
        paths = [tuple(str(spec.source).split(".")) for spec in self.specs]
        #: the blocks that hold input facts, each reached once per intake, not once per fact
        self.blocks = tuple(dict.fromkeys(path[:-1] for path in paths))
        where = {parents: i for i, parents in enumerate(self.blocks)}
        # (fact, which of the blocks holds it, its key there), in declaration order
        self.leaves = tuple((spec.name, where[path[:-1]], path[-1]) for spec, path in zip(self.specs, paths))
        # (fact, the Python type its answer must have or None, else the values it may take)
        self.types = tuple((spec.name, _TYPE_OF.get(spec.type), spec.values) for spec in self.specs)
        # (fact, its intake path, what it depends on) for not_assessed, in declaration order
        self.asked = tuple((spec.name, str(spec.source), tuple(spec.asked_when)) for spec in self.specs)

    def read(self, record: dict[str, Any]) -> dict[str, Any]:
        blocks = []
        for parents in self.blocks:
            block: Any = record
            for part in parents:
                block = block.get(part) if type(block) is dict else None
            blocks.append(block if type(block) is dict else _NOTHING)
        return {name: blocks[i].get(leaf) for name, i, leaf in self.leaves}


# what a block that is not there (or not a mapping) holds: no answers
_NOTHING: dict[str, Any] = {}


def input_values(intake: HasGet, ruleset: RuleSet) -> dict[str, Any]:
    """Every input fact's value (None when unknown), checked against its type."""
    plan = ruleset.memo(_Plan)
    record = getattr(intake, "record", None)
    if type(record) is dict:  # a validated Intake: read its record directly
        values = plan.read(record)
    else:
        values = {spec.name: intake.get(spec.source) for spec in plan.specs}  # type: ignore[arg-type]  # input facts have a source
    for name, kind, allowed in plan.types:
        value = values[name]
        if value is not None and (type(value) is not kind if kind else value not in allowed):
            raise EngineError(_misfits(intake.source, values, plan))
    return values


def _misfits(source: str, values: dict[str, Any], plan: _Plan) -> list[Problem]:
    """Every value that does not fit its fact's type (a rule set whose facts do not match the intake)."""
    return [
        Problem(source, None, spec.key, f"value {value!r} does not fit fact {spec.name} ({spec.type})")
        for spec, (_, kind, allowed) in zip(plan.specs, plan.types)
        if (value := values[spec.name]) is not None and (type(value) is not kind if kind else value not in allowed)
    ]


def engine_fact(values: dict[str, Any]) -> dict[str, Any]:
    """The intake fact as the engine sees it: unknown values are absent."""
    fact = {"k": "intake"}
    for name, value in values.items():  # a plain loop: twice as fast as update() with a generator
        if value is not None:
            fact[name] = value
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

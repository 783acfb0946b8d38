"""The rule set fired in plain Python, without the engine: for trying hundreds of
variants of a rule set (mutation testing, condition coverage), where building a
durable-rules ruleset per variant would cost far more than all its evaluations.

Same semantics as the compiled engine (docs/rules.md, "How a decision is assembled"):
active rules fire in order of derivation depth, then declaration order, each at most
once; a condition is Kleene-true for ONE value per derived fact it reads (the engine
binds one derived-fact instance per pattern); equal derived values count once.  One
pass in depth order reaches the fixpoint, because a rule only reads facts derived by
rules of smaller depth.  The decision is then assembled by the production
``decide.decide``, so only the firing is done here.

tests/test_differential.py holds this module to the engine on the shipped rules and on
generated rule sets, and tests/test_mutation.py checks sampled mutant verdicts through
the real engine.
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import field
from ..core.precompiled_classes import dataclass
from typing import Any, Callable

from ..ruleset import deps
from .decide import decide
from ..intake.facts import not_assessed
from ..core.model import AnyOf, Cond, Derive, Leaf, Not, Rule, RuleSet, leaves

Truth = bool | None
Test = Callable[[dict[str, Any]], Truth]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "is": operator.eq,
    "is_not": operator.ne,
    "at_least": operator.ge,
    "at_most": operator.le,
    "above": operator.gt,
    "below": operator.lt,
    "in": lambda value, options: value in options,
    "not_in": lambda value, options: value not in options,
}


def compile_condition(cond: Cond, forced: dict[int, Truth] | None = None) -> Test:
    """``cond`` as a function of a mapping fact -> value (None or absent: unknown).

    ``forced`` maps ``id(node)`` of some nodes to the truth they take whatever the
    values (condition coverage asks "and if this test alone were false?")."""
    if forced and id(cond) in forced:
        truth = forced[id(cond)]
        return lambda values: truth
    if isinstance(cond, Leaf):
        fact, operand = cond.fact, cond.value
        if cond.op == "known":
            return lambda values: values.get(fact) is not None
        if cond.op == "unknown":
            return lambda values: values.get(fact) is None
        compare = _COMPARE[cond.op]

        def leaf(values: dict[str, Any]) -> Truth:
            value = values.get(fact)
            return None if value is None else bool(compare(value, operand))

        return leaf
    if isinstance(cond, Not):
        inner = compile_condition(cond.item, forced)

        def negated(values: dict[str, Any]) -> Truth:
            result = inner(values)
            return None if result is None else not result

        return negated
    parts = tuple(compile_condition(c, forced) for c in cond.items)
    return _group(parts, decisive=isinstance(cond, AnyOf))


def _group(parts: tuple[Test, ...], decisive: bool) -> Test:
    """``all`` (one false part makes it false) or ``any`` (one true part makes it true)
    in Kleene logic: otherwise unknown if a part is unknown."""

    def group(values: dict[str, Any]) -> Truth:
        result: Truth = not decisive
        for part in parts:
            t = part(values)
            if t is decisive:
                return decisive
            if t is None:
                result = None
        return result

    return group


@dataclass(frozen=True)
class Firing:
    """What ``decide`` reads of one firing (the engine's ``Firing`` has the same fields)."""

    rule_id: str
    because: dict[str, Any]


@dataclass
class DirectRun:
    """The firings in trace order and every derived fact's values (the engine's ``Run``, duck-typed)."""

    firings: list[Firing] = field(default_factory=list)
    derived: dict[str, list[Any]] = field(default_factory=dict)

    def ordered(self) -> list[Firing]:
        return self.firings

    @property
    def fired(self) -> list[str]:
        return [f.rule_id for f in self.firings]


class Evaluator:
    """One rule set, prepared once: trace order, compiled conditions, facts each rule reads."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        depth, _ = deps.depths(ruleset)
        active = ruleset.active_rules
        position = {r.id: i for i, r in enumerate(active)}
        self.order: tuple[Rule, ...] = tuple(sorted(active, key=lambda r: (depth[r.id], position[r.id])))
        self.tests = {r.id: compile_condition(r.when) for r in active}
        self.reads_derived = {r.id: tuple(deps.reads(r, ruleset)) for r in active}
        keys = {name: spec.key for name, spec in ruleset.facts.items()}
        self.because_keys = {
            r.id: tuple(dict.fromkeys((leaf.fact, keys.get(leaf.fact, leaf.fact)) for leaf in leaves(r.when)))
            for r in active
        }
        self.derives = {r.id: tuple((e.fact, e.value) for e in r.then if isinstance(e, Derive)) for r in active}

    def holds(
        self, rule_id: str, values: dict[str, Any], derived: dict[str, list[Any]], test: Test | None = None
    ) -> bool:
        """Whether the rule's condition (or ``test``, a variant of it) is true for some
        choice of one value per derived fact it reads."""
        return self.binding(rule_id, values, derived, test) is not None

    def binding(
        self, rule_id: str, values: dict[str, Any], derived: dict[str, list[Any]], test: Test | None = None
    ) -> dict[str, Any] | None:
        """The derived values that make the condition true ({} when it reads none), or None."""
        test = test or self.tests[rule_id]
        names = self.reads_derived[rule_id]
        if not names:
            return {} if test(values) is True else None
        for combo in itertools.product(*[derived.get(n) or [None] for n in names]):
            bound = dict(zip(names, combo))
            if test({**values, **bound}) is True:
                return bound
        return None

    def fire(self, values: dict[str, Any]) -> DirectRun:
        """Every rule that fires for these input values (None = unknown), in trace order."""
        run = DirectRun()
        derived = run.derived
        for rule in self.order:
            rid = rule.id
            bound = self.binding(rid, values, derived)
            if bound is None:
                continue
            # like the engine's: intake facts read (None when unknown), derived values matched
            run.firings.append(
                Firing(
                    rid,
                    {key: bound[fact] if fact in bound else values.get(fact) for fact, key in self.because_keys[rid]},
                )
            )
            for fact, value in self.derives[rid]:
                seen = derived.setdefault(fact, [])
                if value not in seen:
                    seen.append(value)
        return run

    def decide(self, values: dict[str, Any], intake_id: str) -> dict[str, Any]:
        """The whole decision, assembled by the production ``decide``."""
        run = self.fire(values)
        return decide(run, values, not_assessed(values, self.ruleset), self.ruleset, intake_id)  # type: ignore[arg-type]

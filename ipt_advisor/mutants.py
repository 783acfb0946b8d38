"""Mutants of a rule set: small, meaningful edits a rule author could make by mistake.

Each mutant changes ONE node of ONE active rule (a condition leaf or group, or one
``then`` effect) and says where (``file:line``) and what, in words.  If the tests
still pass on a mutant, nothing pins that part of the rule (docs/rules.md,
"Mutation testing").  The operators:

==============  =====================================================================
drop-leaf       a test of a fact is removed (an ``all`` needs one criterion less, an
                ``any`` accepts one alternative less; the last test of a group takes
                the group with it, the only test of a rule makes it always fire)
negate-leaf     a test is negated (``is`` ↔ ``is_not``, ``at_least`` ↔ ``below`` ...)
threshold       a number moves one step either way (``at_least: 16`` → 15 and 17)
boundary        ``at_least`` ↔ ``above``, ``at_most`` ↔ ``below`` (same number)
literal         an ``is``/``is_not`` value becomes each other value the fact can take
in-list         a value is removed from, or added to, an ``in``/``not_in`` list
any-all         an ``all`` becomes ``any`` and the other way round
drop-not        a ``not`` is removed
drop-effect     one ``then`` effect is removed
flag-level      a flag's level is lowered one step (critical → warning → info)
format          a chosen or excluded format becomes a neighbouring one
derive-value    a derived value becomes each other value of its fact
focus           a focus proposal's basis swaps, or its area becomes the next one
==============  =====================================================================

Mutants that mean the same as an earlier mutant of the same rule (on whole numbers
``above 16`` is ``at_least 17``; on a yes/no fact ``is_not true`` is ``is false``) are
generated once; ``duplicates`` counts the others.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator

from .catalog import leaf_words
from .model import (
    NEGATION, All, AnyOf, ChooseFormat, Cond, Derive, Effect, ExcludeFormat, Leaf,
    Not, ProposeFocus, RaiseFlag, Rule, RuleSet, describe_effect,
)

OPERATORS = ("drop-leaf", "negate-leaf", "threshold", "boundary", "literal", "in-list", "any-all", "drop-not",
             "drop-effect", "flag-level", "format", "derive-value", "focus")
CONDITION_OPERATORS = OPERATORS[:8]
_BOUNDARY = {"at_least": "above", "above": "at_least", "at_most": "below", "below": "at_most"}


@dataclass(frozen=True)
class Mutant:
    number: int          # 1-based, in generation order (rule-file order, then node order)
    rule_id: str
    operator: str        # one of OPERATORS
    location: str        # file:line of the node it changes
    change: str          # the change in words
    rule: Rule           # the mutated rule (same id)

    @property
    def on_condition(self) -> bool:
        return self.operator in CONDITION_OPERATORS


@dataclass(frozen=True)
class Generated:
    mutants: tuple[Mutant, ...]
    duplicates: int      # mutants left out because an earlier one of the same rule means the same


def generate(ruleset: RuleSet, rule_ids: list[str] | None = None, operators: tuple[str, ...] = OPERATORS) -> Generated:
    """Every mutant of every active rule (or of ``rule_ids``), in rule-file order."""
    out: list[Mutant] = []
    duplicates = 0
    for rule in ruleset.active_rules:
        if rule_ids and rule.id not in rule_ids:
            continue
        seen = {_key(rule.when, rule.then, ruleset)}
        for operator, line, change, when, then in _rule_mutants(rule, ruleset):
            if operator not in operators:
                continue
            key = _key(when, then, ruleset)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            where = f"{rule.file}:{line or rule.line}"
            out.append(Mutant(len(out) + 1, rule.id, operator, where, change,
                              dataclasses.replace(rule, when=when, then=then)))
    return Generated(tuple(out), duplicates)


def mutated_ruleset(ruleset: RuleSet, mutant: Mutant) -> RuleSet:
    """The rule set with the mutant's rule in place of the original."""
    rules = tuple(mutant.rule if r.id == mutant.rule_id and r.status == "active" else r for r in ruleset.rules)
    return dataclasses.replace(ruleset, rules=rules)


# ------------------------------------------------------------------ condition operators

Path = tuple[int, ...]
Raw = tuple[str, Any, str, Cond, tuple[Effect, ...]]  # operator, line, change, when, then


def _rule_mutants(rule: Rule, ruleset: RuleSet) -> Iterator[Raw]:
    for path, node in _nodes(rule.when):
        for operator, change, new in _node_mutants(node, path, rule.when, ruleset):
            yield operator, node.line, change, new, rule.then
    for i, effect in enumerate(rule.then):
        for operator, change, new_effect in _effect_mutants(effect, ruleset):
            then = rule.then[:i] + ((new_effect,) if new_effect is not None else ()) + rule.then[i + 1:]
            yield operator, effect.line, change, rule.when, then


def _nodes(cond: Cond, path: Path = ()) -> Iterator[tuple[Path, Cond]]:
    yield path, cond
    if isinstance(cond, Not):
        yield from _nodes(cond.item, path + (0,))
    elif isinstance(cond, (All, AnyOf)):
        for i, child in enumerate(cond.items):
            yield from _nodes(child, path + (i,))


def _node_mutants(node: Cond, path: Path, root: Cond, ruleset: RuleSet) -> Iterator[tuple[str, str, Cond]]:
    if isinstance(node, Leaf):
        words = _quote(leaf_words(node, ruleset))
        removed = _remove(root, path)
        always = isinstance(removed, All) and not removed.items
        yield "drop-leaf", f"drop {words}" + (": the rule fires for every intake" if always else ""), removed
        for op, new in _leaf_variants(node, ruleset):
            yield op, f"{words} → {_quote(leaf_words(new, ruleset))}", _replace(root, path, new)
    elif isinstance(node, Not):
        yield "drop-not", f"drop the \"not\" before {_group_words(node.item, ruleset)}", _replace(root, path, node.item)
    elif len(node.items) >= 2:  # type: ignore[union-attr]
        flipped: Cond = AnyOf(node.items, node.line) if isinstance(node, All) else All(node.items, node.line)  # type: ignore[union-attr]
        old, new = ("all of", "any of") if isinstance(node, All) else ("any of", "all of")
        yield "any-all", f'"{old}" → "{new}" ({len(node.items)} parts)', _replace(root, path, flipped)  # type: ignore[union-attr]


def _leaf_variants(leaf: Leaf, ruleset: RuleSet) -> Iterator[tuple[str, Leaf]]:
    spec = ruleset.facts.get(leaf.fact)
    op, value = leaf.op, leaf.value

    def make(new_op: str, new_value: Any) -> Leaf:
        return Leaf(leaf.fact, new_op, new_value, leaf.line)

    yield "negate-leaf", make(NEGATION[op], value)
    if _is_number(value) and op not in ("in", "not_in"):
        for step in (-1, 1):
            yield "threshold", make(op, value + step)
    if op in _BOUNDARY:
        yield "boundary", make(_BOUNDARY[op], value)
    domain = _domain(spec, ruleset)
    if op in ("is", "is_not") and domain and not _is_number(value):
        for other in domain:
            if other != value:
                yield "literal", make(op, other)
    if op in ("in", "not_in") and isinstance(value, tuple):
        if len(value) > 1:
            for v in value:
                yield "in-list", make(op, tuple(x for x in value if x != v))
        for other in domain or ():
            if other not in value:
                yield "in-list", make(op, value + (other,))


def _domain(spec: Any, ruleset: RuleSet) -> tuple[Any, ...]:
    """The values a fact can take, for literal mutants (integers: none, see threshold)."""
    if spec is None:
        return ()
    if spec.type == "boolean":
        return (True, False)
    return tuple(spec.values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def without(root: Cond, node: Cond) -> Cond:
    """``root`` with ``node`` (found by identity) dropped, as the drop-leaf operator does."""
    path = next(p for p, n in _nodes(root) if n is node)
    return _remove(root, path)


def _replace(root: Cond, path: Path, new: Cond) -> Cond:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(root, Not):
        return Not(_replace(root.item, rest, new), root.line)
    items = list(root.items)  # type: ignore[union-attr]
    items[head] = _replace(items[head], rest, new)
    return type(root)(tuple(items), root.line)  # type: ignore[call-arg,union-attr]


def _remove(root: Cond, path: Path) -> Cond:
    """``root`` without the node at ``path``; a group (or ``not``) left empty goes too,
    and an empty root is ``all: []`` (always true), never an empty ``any``, which the
    engine would read differently from Kleene logic."""
    if not path:
        return All(())
    for cut in range(len(path), 0, -1):  # the deepest ancestor that keeps something
        parent_path, index = path[:cut - 1], path[cut - 1]
        parent = _at(root, parent_path)
        if isinstance(parent, (All, AnyOf)) and len(parent.items) > 1:
            items = parent.items[:index] + parent.items[index + 1:]
            return _replace(root, parent_path, type(parent)(items, parent.line))
    return All(())


def _at(root: Cond, path: Path) -> Cond:
    node = root
    for index in path:
        node = node.item if isinstance(node, Not) else node.items[index]  # type: ignore[union-attr]
    return node


def _group_words(node: Cond, ruleset: RuleSet) -> str:
    if isinstance(node, Leaf):
        return _quote(leaf_words(node, ruleset))
    return '"all of"' if isinstance(node, All) else '"any of"' if isinstance(node, AnyOf) else '"not"'


def _quote(text: str) -> str:
    return f'"{text}"'


# ------------------------------------------------------------------ effect operators

def _effect_mutants(effect: Effect, ruleset: RuleSet) -> Iterator[tuple[str, str, Effect | None]]:
    policy = ruleset.policies
    assert policy is not None
    yield "drop-effect", f"drop {_quote(_short(describe_effect(effect)))}", None
    if isinstance(effect, RaiseFlag) and effect.level in policy.flag_levels:
        rank = policy.flag_levels.index(effect.level)
        if rank + 1 < len(policy.flag_levels):
            lower = policy.flag_levels[rank + 1]
            yield "flag-level", f"flag {effect.code} {effect.level} → {lower}", dataclasses.replace(effect, level=lower)
    precedence = policy.format_precedence
    if isinstance(effect, ChooseFormat) and effect.format in precedence:
        for other in _neighbours(precedence, effect.format):
            yield "format", f"choose {effect.format} → choose {other}", dataclasses.replace(effect, format=other)
    if isinstance(effect, ExcludeFormat) and effect.format in precedence:
        for other in _neighbours(precedence, effect.format):
            if other != precedence[0]:  # the most restrictive format cannot be excluded
                yield "format", f"exclude {effect.format} → exclude {other}", dataclasses.replace(effect, format=other)
    if isinstance(effect, Derive):
        for other in _domain(ruleset.facts.get(effect.fact), ruleset):
            if other != effect.value:
                yield ("derive-value", f"derive {describe_effect(effect)} → {describe_effect(Derive(effect.fact, other))}",
                       dataclasses.replace(effect, value=other))
    if isinstance(effect, ProposeFocus):
        for basis in policy.focus_basis:
            if basis != effect.basis:
                yield "focus", f"focus {effect.area}: basis {effect.basis} → {basis}", dataclasses.replace(effect, basis=basis)
        if effect.area in policy.focus_areas and len(policy.focus_areas) > 1:
            areas = policy.focus_areas
            other = areas[(areas.index(effect.area) + 1) % len(areas)]
            yield "focus", f"focus {effect.area} → {other}", dataclasses.replace(effect, area=other)


def _neighbours(order: tuple[str, ...], item: str) -> list[str]:
    i = order.index(item)
    return [order[j] for j in (i + 1, i - 1) if 0 <= j < len(order)]


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------ sameness

def _key(when: Cond, then: tuple[Effect, ...], ruleset: RuleSet) -> Any:
    return (_canonical(when, ruleset), then)


def _canonical(cond: Cond, ruleset: RuleSet) -> Any:
    """A hashable form in which conditions that mean the same compare equal (for the
    spellings one operator turns into another's)."""
    if isinstance(cond, Leaf):
        spec = ruleset.facts.get(cond.fact)
        op, value = cond.op, cond.value
        if isinstance(value, tuple):
            if len(value) == 1:
                op, value = ("is" if op == "in" else "is_not"), value[0]
            else:
                value = tuple(sorted(value, key=repr))
        if spec is not None and spec.type == "integer" and _is_number(value):
            if op == "above":
                op, value = "at_least", value + 1
            elif op == "below":
                op, value = "at_most", value - 1
        if spec is not None and spec.type == "boolean" and op == "is_not" and isinstance(value, bool):
            op, value = "is", not value
        return ("leaf", cond.fact, op, value)
    if isinstance(cond, Not):
        return ("not", _canonical(cond.item, ruleset))
    return (type(cond).__name__, tuple(_canonical(c, ruleset) for c in cond.items))


"""Three-valued evaluation of rule conditions in Python, for *explaining*.

The engine decides; this module only answers questions about a decision that
was already made: which facts made a condition true (the trace's
``because``), and which parts of a condition failed or were unknown (``why
not``, what-if).  Semantics match the compiled engine rules: a comparison on
an unknown value is unknown (None), ``all``/``any``/``not`` follow Kleene's
logic, and a rule fires only when its condition is True.
"""

from __future__ import annotations

from typing import Any, Callable

from ..core.model import All, AnyOf, Cond, Leaf, Not

Truth = bool | None


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "is":
        return bool(value == operand)
    if op == "is_not":
        return bool(value != operand)
    if op == "at_least":
        return bool(value >= operand)
    if op == "at_most":
        return bool(value <= operand)
    if op == "above":
        return bool(value > operand)
    if op == "below":
        return bool(value < operand)
    if op == "in":
        return value in operand
    return value not in operand  # not_in


def leaf_truth(leaf: Leaf, values: dict[str, Any], derived: dict[str, list[Any]]) -> Truth:
    """A derived fact may hold several values: the leaf is true if one fits."""
    if leaf.fact in derived or leaf.fact not in values:
        candidates = derived.get(leaf.fact, [])
        if leaf.op in ("known", "unknown"):
            return (leaf.op == "known") == bool(candidates)
        if not candidates:
            return None
        return any(_compare(leaf.op, v, leaf.value) for v in candidates)
    value = values[leaf.fact]
    if leaf.op in ("known", "unknown"):
        return (leaf.op == "known") == (value is not None)
    if value is None:
        return None
    return _compare(leaf.op, value, leaf.value)


def truth(cond: Cond, values: dict[str, Any], derived: dict[str, list[Any]]) -> Truth:
    """Kleene truth of a condition."""
    if isinstance(cond, Leaf):
        return leaf_truth(cond, values, derived)
    if isinstance(cond, Not):
        inner = truth(cond.item, values, derived)
        return None if inner is None else not inner
    return _kleene(cond, [truth(c, values, derived) for c in cond.items])


def _kleene(cond: All | AnyOf, results: list[Truth]) -> Truth:
    if isinstance(cond, All):
        return False if False in results else (None if None in results else True)
    return True if True in results else (None if None in results else False)


def _cached_truth(values: dict[str, Any], derived: dict[str, list[Any]]) -> Callable[[Cond], Truth]:
    """``truth`` for the nodes of one condition, each node evaluated once rather
    than once per ancestor (the explainers below walk the tree top-down)."""
    known: dict[int, Truth] = {}

    def value(node: Cond) -> Truth:
        key = id(node)
        if key not in known:
            if isinstance(node, Leaf):
                known[key] = leaf_truth(node, values, derived)
            elif isinstance(node, Not):
                inner = value(node.item)
                known[key] = None if inner is None else not inner
            else:
                known[key] = _kleene(node, [value(c) for c in node.items])
        return known[key]

    return value


def supporting_facts(cond: Cond, values: dict[str, Any], derived: dict[str, list[Any]], want: bool = True) -> list[str]:
    """Facts of the leaves that make ``cond`` evaluate to ``want``, in reading order.

    For a true ``any`` only its true branches count; for a true ``all`` every
    branch does (dually for false)."""
    out: list[str] = []
    value = _cached_truth(values, derived)

    def walk(node: Cond, target: bool) -> None:
        if value(node) is not target:
            return
        if isinstance(node, Leaf):
            if node.fact not in out:
                out.append(node.fact)
        elif isinstance(node, Not):
            walk(node.item, not target)
        else:
            for child in node.items:
                walk(child, target)

    walk(cond, want)
    return out


def blocking_leaves(cond: Cond, values: dict[str, Any], derived: dict[str, list[Any]]) -> list[tuple[Leaf, Truth]]:
    """Why a condition is not true: the leaves that are false or unknown along
    the paths that would have to hold (every failing branch of an ``any``)."""
    out: list[tuple[Leaf, Truth]] = []
    value = _cached_truth(values, derived)

    def walk(node: Cond, negated: bool) -> None:
        t = value(node)
        if t is not None and t != negated:  # this part holds (under an odd number of `not`s: is false)
            return
        if isinstance(node, Leaf):
            out.append((node, t if t is None or not negated else not t))
        elif isinstance(node, Not):
            walk(node.item, not negated)
        else:
            for child in node.items:
                walk(child, negated)

    walk(cond, False)
    return out

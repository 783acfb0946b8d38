"""Can a condition ever be true?  Used by lint to report dead rules.

The condition is expanded into alternatives of plain comparisons; an
alternative is impossible when, for some fact, no value in the fact's
declared domain passes all its comparisons (``phq9 >= 20 and phq9 < 10``,
``perinatal is none and perinatal is pregnant``).  Domains are finite
(enums, booleans, declared integer ranges, and for a derived fact the values
some active rule derives), so this is exact for them.
"""

from __future__ import annotations

from typing import Any

from .evaluate import _compare
from ..core.model import All, AnyOf, Cond, FactSpec, Leaf, nnf

MAX_ALTERNATIVES = 256


def _alternatives(cond: Cond) -> list[list[Leaf]] | None:
    if isinstance(cond, Leaf):
        return [[cond]]
    if isinstance(cond, All):
        result: list[list[Leaf]] = [[]]
        for item in cond.items:
            sub = _alternatives(item)
            if sub is None:
                return None
            result = [a + b for a in result for b in sub]
            if len(result) > MAX_ALTERNATIVES:
                return None
        return result
    assert isinstance(cond, AnyOf)
    out: list[list[Leaf]] = []
    for item in cond.items:
        sub = _alternatives(item)
        if sub is None:
            return None
        out.extend(sub)
    return out if len(out) <= MAX_ALTERNATIVES else None


def _domain(spec: FactSpec, made: dict[str, list[Any]]) -> list[Any] | None:
    if spec.derived:  # a derived fact only ever holds the values some active rule sets
        return made.get(spec.name, [])
    if spec.type == "boolean":
        return [True, False]
    if spec.type == "enum":
        return list(spec.values)
    if spec.range and spec.range[1] - spec.range[0] <= 1000:
        return list(range(spec.range[0], spec.range[1] + 1))
    return None


def _possible(leaves: list[Leaf], facts: dict[str, FactSpec], made: dict[str, list[Any]]) -> bool:
    by_fact: dict[str, list[Leaf]] = {}
    for leaf in leaves:
        by_fact.setdefault(leaf.fact, []).append(leaf)
    for fact, tests in by_fact.items():
        spec = facts.get(fact)
        if spec is None:
            continue
        presence = {t.op for t in tests if t.op in ("known", "unknown")}
        comparisons = [t for t in tests if t.op not in ("known", "unknown")]
        if presence == {"known", "unknown"} or ("unknown" in presence and comparisons):
            return False  # unknown values satisfy no comparison
        domain = _domain(spec, made)
        if domain is None or not comparisons:
            continue
        try:
            if not any(all(_compare(t.op, v, t.value) for t in comparisons) for v in domain):
                return False
        except TypeError:  # a type mismatch is reported by lint on its own
            continue
    return True


def never_true(cond: Cond, facts: dict[str, FactSpec], made: dict[str, list[Any]]) -> bool:
    """True only when the condition is certainly impossible; ``made`` lists the
    values active rules derive for each derived fact."""
    alternatives = _alternatives(nnf(cond))
    if alternatives is None:
        return False
    return not any(_possible(alt, facts, made) for alt in alternatives)

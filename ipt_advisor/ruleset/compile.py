"""Rule model -> durable-rules definitions (plain dicts; no engine import here).

One engine fact carries the whole intake (``{"k": "intake", <fact>: value}``,
unknown facts left out); every derived value is its own engine fact
(``{"k": "nice_band", "nice_band": "more_severe"}``) so derivations chain
through the engine's joins.

A condition is put in negation normal form, then split into alternatives
(disjunctive form) only where an ``any`` spans different engine facts; within
one fact, ``any`` stays an ``$or``.  Each alternative becomes one engine rule
``RULE-ID#n``; the engine wrapper makes a rule fire at most once per intake.

Why this is sound with unknown values: a missing key never satisfies any
comparison in durable-rules (``$neq`` and ``$lt`` included), so a comparison on
an unknown fact is *not true*, which is exactly three-valued (Kleene) logic
once negations sit on the leaves.  ``known``/``unknown`` test presence.
"""

from __future__ import annotations

from ..core.precompiled_classes import dataclass
from typing import Any

from . import deps
from ..core.model import All, AnyOf, Cond, Leaf, RuleSet, nnf

INTAKE = "intake"
INTAKE_ALIAS = "m"  # the pattern alias under which a rule matches the intake fact
CATCH_ALL = "__fact_seen__"
# Highest durable priority (an unsigned short): the catch-all fires last.
LAST = 65535

_ORDER = {"at_least": "$gte", "at_most": "$lte", "above": "$gt", "below": "$lt"}


@dataclass(frozen=True)
class Atom:
    """One pattern of a compiled condition: a durable-rules expression over one engine fact."""

    engine_fact: str  # "intake" or a derived fact's name
    expr: dict[str, Any] | None  # durable expression; None = always true
    facts: tuple[str, ...]  # facts it reads, in reading order


@dataclass(frozen=True)
class Alternative:
    """One engine rule: a conjunction of patterns, one per engine fact."""

    name: str
    rule_id: str
    order: int  # declaration order of the rule in the rule set
    depth: int  # derivation depth = engine priority = trace order
    body: dict[str, Any]  # durable rule body without "run"
    reads: tuple[tuple[str, str], ...]  # (alias, fact name) for the trace's `because`


@dataclass(frozen=True)
class Compiled:
    """A rule set compiled for the engine: its alternatives and the derived facts worth asserting."""

    name: str
    alternatives: tuple[Alternative, ...]
    read_derived: frozenset[str]  # derived facts some rule reads: only these are asserted


def _engine_fact(leaf: Leaf, ruleset: RuleSet) -> str:
    spec = ruleset.facts.get(leaf.fact)
    return leaf.fact if spec is not None and spec.derived else INTAKE


def _literal(leaf: Leaf) -> dict[str, Any]:
    f, v = leaf.fact, leaf.value
    if leaf.op == "is":
        return {f: v}
    if leaf.op == "is_not":
        return {"$neq": {f: v}}
    if leaf.op in _ORDER:
        return {_ORDER[leaf.op]: {f: v}}
    if leaf.op == "in":
        return {f: v[0]} if len(v) == 1 else {"$or": [{f: x} for x in v]}
    if leaf.op == "not_in":
        return {"$neq": {f: v[0]}} if len(v) == 1 else {"$and": [{"$neq": {f: x}} for x in v]}
    if leaf.op == "known":
        return {"$ex": {f: 1}}
    return {"$nex": {f: 1}}


def _expr(node: Cond) -> dict[str, Any] | None:
    if isinstance(node, Leaf):
        return _literal(node)
    parts = [e for e in (_expr(c) for c in node.items) if e is not None]  # type: ignore[union-attr]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return {"$and" if isinstance(node, All) else "$or": parts}


def _engine_facts(node: Cond, ruleset: RuleSet) -> set[str]:
    if isinstance(node, Leaf):
        return {_engine_fact(node, ruleset)}
    return set().union(*(_engine_facts(c, ruleset) for c in node.items)) if node.items else set()  # type: ignore[union-attr]


def _leaf_facts(node: Cond) -> tuple[str, ...]:
    if isinstance(node, Leaf):
        return (node.fact,)
    return tuple(dict.fromkeys(f for c in node.items for f in _leaf_facts(c)))  # type: ignore[union-attr]


def _dnf(node: Cond, ruleset: RuleSet) -> list[list[Atom]]:
    engine_facts = _engine_facts(node, ruleset)
    if len(engine_facts) <= 1:
        target = next(iter(engine_facts), INTAKE)
        return [[Atom(target, _expr(node), _leaf_facts(node))]]
    if isinstance(node, All):
        result: list[list[Atom]] = [[]]
        for child in node.items:
            result = [a + b for a in result for b in _dnf(child, ruleset)]
        return result
    assert isinstance(node, AnyOf)
    return [conj for child in node.items for conj in _dnf(child, ruleset)]


def disjuncts(cond: Cond, ruleset: RuleSet) -> list[list[Atom]]:
    """The alternatives a condition compiles to (see module docstring)."""
    return _dnf(nnf(cond), ruleset)


def _body(atoms: list[Atom], depth: int) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
    groups: dict[str, list[Atom]] = {}
    for atom in atoms:
        groups.setdefault(atom.engine_fact, []).append(atom)
    if INTAKE not in groups and not groups:
        groups[INTAKE] = []
    patterns: list[dict[str, Any]] = []
    reads: list[tuple[str, str]] = []
    for engine_fact in sorted(groups, key=lambda g: (g != INTAKE, g)):
        alias = INTAKE_ALIAS if engine_fact == INTAKE else f"d_{engine_fact}"
        exprs = [{"k": engine_fact}] + [a.expr for a in groups[engine_fact] if a.expr is not None]
        patterns.append({alias: exprs[0] if len(exprs) == 1 else {"$and": exprs}})
        for atom in groups[engine_fact]:
            reads.extend((alias, f) for f in atom.facts)
    return {"all": patterns, "pri": depth}, tuple(dict.fromkeys(reads))


#: durable's C core walks the alpha nodes one fact reaches with a stack of 64 entries
#: (``MAX_STACK_SIZE`` in ``events.c``, ``handleAlpha``) and pushes *every* matching child of a
#: node before it descends: a fact matching more than ~63 patterns' first tests at once fails
#: with error 303 (ERR_MAX_STACK_SIZE). So past ``FLAT_PATTERNS`` patterns on one engine fact,
#: the patterns are spread over groups of at most ``FANOUT``, each behind an always-true test
#: (``$nex`` on a key no fact has), nested as deep as needed: a fact then holds at most
#: ``FANOUT`` siblings per level on the stack. The shipped rules (60 intake patterns) stay flat.
FLAT_PATTERNS = 60
FANOUT = 16
GROUP_KEY = "__g"  # no fact has a key starting so (facts are named by rule authors, lint: [a-z])


def _grouped(alternatives: list[Alternative]) -> list[Alternative]:
    """The alternatives with every pattern of a crowded engine fact put behind group tests."""
    per_fact: dict[str, int] = {}
    for alt in alternatives:
        for pattern in alt.body["all"]:
            per_fact[_fact_of(pattern)] = per_fact.get(_fact_of(pattern), 0) + 1
    crowded = {fact: n for fact, n in per_fact.items() if n > FLAT_PATTERNS}
    if not crowded:
        return alternatives
    seen: dict[str, int] = {}
    out = []
    for alt in alternatives:
        patterns = []
        for pattern in alt.body["all"]:
            fact = _fact_of(pattern)
            if fact in crowded:
                index = seen[fact] = seen.get(fact, -1) + 1
                pattern = _behind_groups(pattern, index, crowded[fact])
            patterns.append(pattern)
        out.append(Alternative(alt.name, alt.rule_id, alt.order, alt.depth, {**alt.body, "all": patterns}, alt.reads))
    return out


def _fact_of(pattern: dict[str, Any]) -> str:
    (expr,) = pattern.values()
    return str(expr["k"] if "k" in expr else expr["$and"][0]["k"])


def _behind_groups(pattern: dict[str, Any], index: int, total: int) -> dict[str, Any]:
    """``pattern`` (number ``index`` of ``total`` on its fact) with one group test per level
    inserted after its fact test: pattern i sits in group i // FANOUT, that group in group
    i // FANOUT**2, ..., until one level holds at most FANOUT groups."""
    ((alias, expr),) = pattern.items()
    tests = expr["$and"] if "$and" in expr else [expr]
    groups: list[dict[str, Any]] = []
    size = FANOUT
    while True:
        groups.append({"$nex": {f"{GROUP_KEY}{len(groups)}_{index // size}": 1}})
        if -(-total // size) <= FANOUT:  # this level holds few enough groups
            break
        size *= FANOUT
    return {alias: {"$and": [tests[0], *reversed(groups), *tests[1:]]}}


def compile_ruleset(ruleset: RuleSet) -> Compiled:
    """Compile the active rules of a checked rule set."""
    depth, _ = deps.depths(ruleset)
    alternatives = []
    read_derived: set[str] = set()
    for order, rule in enumerate(ruleset.active_rules):
        read_derived.update(deps.reads(rule, ruleset))
        for i, atoms in enumerate(disjuncts(rule.when, ruleset)):
            body, reads = _body(atoms, depth[rule.id])
            alternatives.append(Alternative(f"{rule.id}#{i}", rule.id, order, depth[rule.id], body, reads))
    return Compiled(f"{ruleset.name}@{ruleset.version}", tuple(_grouped(alternatives)), frozenset(read_derived))

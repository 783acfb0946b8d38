"""Who feeds whom: the derivation graph between rules.

A rule *reads* the derived facts named in its condition and *writes* the ones
its ``derive`` effects set.  The graph gives each rule a depth (0 when it reads
only intake facts), which is both its engine priority and the trace order, and
it exposes cycles, which lint rejects.
"""

from __future__ import annotations

from ..core.model import Cond, Derive, Rule, RuleSet, leaves


def reads(rule: Rule, ruleset: RuleSet) -> list[str]:
    """Derived facts a rule's condition reads, in reading order, no repeats."""
    out: list[str] = []
    for leaf in leaves(rule.when):
        spec = ruleset.facts.get(leaf.fact)
        if spec is not None and spec.derived and leaf.fact not in out:
            out.append(leaf.fact)
    return out


def text_conditions(ruleset: RuleSet) -> list[Cond]:
    """Every condition that chooses a text after the run: the variants of active rules'
    effects and of banners, the facts' label variants, the handout's conditions.  They may
    read derived facts too (never for firing, so they are not part of the graph)."""
    out: list[Cond] = [v.when for r in ruleset.active_rules for e in r.then for v in getattr(e, "variants", ())]
    if ruleset.policies is not None:
        out += [v.when for b in ruleset.policies.banners for v in b.variants]
    out += [v.when for spec in ruleset.facts.values() for v in spec.label_variants]
    if ruleset.handout:
        from .handout import handout_problems

        out += [c for _, _, c in handout_problems(ruleset) if c is not None]
    return out


def read_anywhere(ruleset: RuleSet) -> set[str]:
    """The derived facts an active rule's condition or any text's condition reads."""
    out = {fact for r in ruleset.active_rules for fact in reads(r, ruleset)}
    out |= {
        leaf.fact
        for c in text_conditions(ruleset)
        for leaf in leaves(c)
        if (spec := ruleset.facts.get(leaf.fact)) is not None and spec.derived
    }
    return out


def writes(rule: Rule) -> list[str]:
    return list(dict.fromkeys(e.fact for e in rule.then if isinstance(e, Derive)))


def producers(ruleset: RuleSet, rules: tuple[Rule, ...] | None = None) -> dict[str, list[str]]:
    """Derived fact -> ids of the rules that derive it."""
    out: dict[str, list[str]] = {}
    for rule in ruleset.active_rules if rules is None else rules:
        for fact in writes(rule):
            out.setdefault(fact, []).append(rule.id)
    return out


def feeds(ruleset: RuleSet, rule: Rule) -> tuple[list[str], list[str]]:
    """(rules that feed this rule, rules this rule feeds) among the active rules."""
    made_by = producers(ruleset)
    fed_by = [rid for fact in reads(rule, ruleset) for rid in made_by.get(fact, []) if rid != rule.id]
    written = set(writes(rule))
    feeds_to = [r.id for r in ruleset.active_rules if r.id != rule.id and written & set(reads(r, ruleset))]
    return list(dict.fromkeys(fed_by)), feeds_to


def depths(ruleset: RuleSet) -> tuple[dict[str, int], list[list[str]]]:
    """Depth of every active rule, and the cycles found (each a list of rule ids).

    A loop with an explicit stack, not recursion: a chain of a few hundred derivations
    must get its answer (lint then says what the engine can load), not a RecursionError."""
    rules = {r.id: r for r in ruleset.active_rules}
    made_by = producers(ruleset)
    inputs = {rid: [p for fact in reads(rule, ruleset) for p in made_by.get(fact, [])] for rid, rule in rules.items()}
    depth: dict[str, int] = {}
    cycles: list[list[str]] = []
    for root in rules:
        if root in depth:
            continue
        visiting: list[str] = [root]
        on_path = {root}
        stack: list[tuple[str, int, int]] = [(root, 0, -1)]  # (rule, next input to visit, deepest input)
        while stack:
            rid, i, deepest = stack[-1]
            if i < len(inputs[rid]):
                stack[-1] = (rid, i + 1, deepest)
                p = inputs[rid][i]
                if p in depth:
                    stack[-1] = (rid, i + 1, max(deepest, depth[p]))
                elif p in on_path:
                    cycle = visiting[visiting.index(p) :] + [p]
                    if sorted(cycle[:-1]) not in [sorted(c[:-1]) for c in cycles]:
                        cycles.append(cycle)
                    stack[-1] = (rid, i + 1, max(deepest, 0))
                else:
                    visiting.append(p)
                    on_path.add(p)
                    stack.append((p, 0, -1))
                continue
            stack.pop()
            visiting.pop()
            on_path.discard(rid)
            depth[rid] = deepest + 1
            if stack:
                parent, j, parent_deepest = stack[-1]
                stack[-1] = (parent, j, max(parent_deepest, depth[rid]))
    return depth, cycles

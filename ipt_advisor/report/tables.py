"""Decision tables: rules that split the range of a fact into bands, laid out DMN-style.

A table is declared in the manifest (``decision_tables``): its input facts, its rules (by
id, or every rule deriving an ``output`` fact) and the facts held fixed (``given``).  The
input space is cut at every threshold the rules compare against, so each cell of the grid
behaves the same throughout, and one representative value per cell decides which rules
cover it.  That makes the check exact: a cell no rule covers is a gap (a threshold edit
that left 12 months of grief unbanded), a cell two rules cover is an overlap; lint
reports both, with the input ranges in words.  The catalog shows the merged cells as rows:
input ranges -> what the rule concludes, with the rule id.
"""

from __future__ import annotations

import itertools
from ..core.precompiled_classes import dataclass
from typing import Any

from ..ruleset.evaluate import truth
from ..core.model import DecisionTable, Derive, Rule, RuleSet, leaves
from ..core.wording import effect_brief, fact_label, join_words, value_words

Interval = tuple[int, int]  # inclusive bounds of an integer input


@dataclass
class Row:
    """One row of a table: a box of input values and the rules that cover all of it."""

    cells: list[Any]  # per input: an Interval, or a tuple of enum/boolean values
    hits: tuple[str, ...]  # rule ids


def table_rules(ruleset: RuleSet, table: DecisionTable) -> list[Rule]:
    """The table's rules: its listed ids that exist, then the active rules deriving ``output``."""
    ids = [rid for rid in table.rules if rid in ruleset.by_id]
    if table.output:
        ids += [
            r.id
            for r in ruleset.active_rules
            if r.id not in ids and any(isinstance(e, Derive) and e.fact == table.output for e in r.then)
        ]
    return [ruleset.rule(rid) for rid in ids]


def problems(ruleset: RuleSet, table: DecisionTable) -> list[str]:
    """What is wrong with a table's declaration, in words (lint adds file and line)."""
    out = []
    for rid in table.rules:
        if rid not in ruleset.by_id:
            out.append(f"rule {rid!r} does not exist")
    for fact in table.inputs:
        spec = ruleset.facts.get(fact)
        if spec is None:
            out.append(f"input {fact!r} is not a declared fact")
        elif spec.type == "integer" and spec.range is None:
            out.append(f"input {fact!r} needs a declared range (facts.yaml) to be checked for gaps")
    if table.output and table.output not in ruleset.facts:
        out.append(f"output {table.output!r} is not a declared fact")
    if not table_rules(ruleset, table):
        out.append("has no rules")
    allowed = set(table.inputs) | {f for f, _ in table.given}
    for rule in table_rules(ruleset, table):
        other = sorted({leaf.fact for leaf in leaves(rule.when)} - allowed)
        if other:
            out.append(f"rule {rule.id} also reads {', '.join(other)}: make it an input or a given fact")
    return out


def cuts(fact: str, rules: list[Rule]) -> set[int]:
    """Values where a rule's comparison on ``fact`` can change: each starts a new interval."""
    out: set[int] = set()
    for rule in rules:
        for leaf in leaves(rule.when):
            if leaf.fact != fact or isinstance(leaf.value, bool):
                continue
            values = leaf.value if isinstance(leaf.value, (list, tuple)) else [leaf.value]
            for v in values:
                if not isinstance(v, int):
                    continue
                if leaf.op in ("at_least", "below"):
                    out.add(v)
                elif leaf.op in ("above", "at_most"):
                    out.add(v + 1)
                elif leaf.op in ("is", "is_not", "in", "not_in"):
                    out |= {v, v + 1}
    return out


def _axis(ruleset: RuleSet, fact: str, rules: list[Rule]) -> list[Any]:
    spec = ruleset.facts[fact]
    if spec.type == "integer":
        assert spec.range is not None
        low, high = spec.range
        starts = sorted({low} | {c for c in cuts(fact, rules) if low < c <= high})
        return [(s, (starts[i + 1] - 1) if i + 1 < len(starts) else high) for i, s in enumerate(starts)]
    if spec.type == "boolean":
        return [(True,), (False,)]
    return [(v,) for v in spec.values]


def rows(ruleset: RuleSet, table: DecisionTable) -> list[Row]:
    """The table's grid, merged: adjacent cells covered by the same rules become one row.
    Call only on a table ``problems`` finds nothing wrong with."""
    rules = table_rules(ruleset, table)
    axes = [_axis(ruleset, fact, rules) for fact in table.inputs]
    given = dict(table.given)
    grid: list[Row] = []
    for cell in itertools.product(*axes):
        values = dict(given)
        values.update({fact: c[0] for fact, c in zip(table.inputs, cell)})
        hits = tuple(r.id for r in rules if _holds(r, values))
        grid.append(Row(list(cell), hits))
    merged = _merge(grid, [ruleset.facts[f].type == "integer" for f in table.inputs])
    # reads by the first input, then the next: each cell sorts by where it starts on its axis
    position = [{c[0]: i for i, c in enumerate(axis)} for axis in axes]
    return sorted(merged, key=lambda row: [position[i][c[0]] for i, c in enumerate(row.cells)])


def _holds(rule: Rule, values: dict[str, Any]) -> bool:
    try:
        return truth(rule.when, values, {}) is True
    except TypeError:  # a threshold of the wrong type: lint names it on the rule itself
        return False


def _merge(grid: list[Row], numeric: list[bool]) -> list[Row]:
    """Merge rows that differ in one input only, where they touch, and share their rules
    (last input first, so a two-input table reads by its first input)."""
    for axis in reversed(range(len(numeric))):
        merged: list[Row] = []
        for row in grid:
            prev = merged[-1] if merged else None
            if (
                prev is not None
                and prev.hits == row.hits
                and all(prev.cells[i] == row.cells[i] for i in range(len(numeric)) if i != axis)
            ):
                a, b = prev.cells[axis], row.cells[axis]
                if numeric[axis] and a[1] + 1 == b[0]:
                    prev.cells[axis] = (a[0], b[1])
                    continue
                if not numeric[axis]:
                    prev.cells[axis] = tuple(a) + tuple(b)
                    continue
            merged.append(Row(list(row.cells), row.hits))
        grid = _sorted_for(merged, axis)
    return grid


def _sorted_for(rows_: list[Row], axis: int) -> list[Row]:
    """Rows ordered so the ones that may merge along the next axis (one earlier) sit together."""
    if axis == 0:
        return rows_
    keyed = list(enumerate(rows_))
    keyed.sort(key=lambda item: ([repr(c) for j, c in enumerate(item[1].cells) if j != axis - 1], item[0]))
    return [r for _, r in keyed]


def range_words(ruleset: RuleSet, fact: str, cell: Any) -> str:
    """An input range in words: ``10-14``, ``20 or more``, ``any``, ``yes``, ``mild or moderate``."""
    spec = ruleset.facts[fact]
    if spec.type == "integer":
        assert spec.range is not None
        low, high = cell
        if (low, high) == tuple(spec.range):
            return "any"
        if low == high:
            return str(low)
        if high == spec.range[1]:
            return f"{low} or more"
        return f"{low}–{high}"
    values = list(cell)
    everything = [True, False] if spec.type == "boolean" else list(spec.values)
    if sorted(map(repr, values)) == sorted(map(repr, everything)):
        return "any"
    return join_words([value_words(v, spec) for v in values], "or")


def conclusion(rule: Rule, ruleset: RuleSet) -> str:
    """What a table's rule concludes, briefly (the full words are on the rule's page)."""
    return "; ".join(dict.fromkeys(effect_brief(e, ruleset) for e in rule.then))


def table_entry(ruleset: RuleSet, table: DecisionTable) -> dict[str, Any]:
    """A table for the catalog: header, rows (ranges -> conclusion, rule ids), gaps and overlaps."""
    out_rows = []
    for row in rows(ruleset, table):
        out_rows.append(
            {
                "ranges": [range_words(ruleset, f, c) for f, c in zip(table.inputs, row.cells)],
                "rules": [
                    {"id": rid, "title": ruleset.rule(rid).title, "conclusion": conclusion(ruleset.rule(rid), ruleset)}
                    for rid in row.hits
                ],
                "gap": not row.hits and table.complete,
                "overlap": len(row.hits) > 1 and table.unique,
            }
        )
    return {
        "name": table.name,
        "title": table.title,
        "note": table.note,
        "inputs": [{"name": f, "label": fact_label(ruleset, f)} for f in table.inputs],
        "given": [f"{fact_label(ruleset, f)}: {value_words(v, ruleset.facts.get(f))}" for f, v in table.given],
        "hit_policy": "unique" if table.unique else "collect",
        "complete": table.complete,
        "rules": [r.id for r in table_rules(ruleset, table)],
        "rows": out_rows,
    }


def gaps_and_overlaps(ruleset: RuleSet, table: DecisionTable) -> list[str]:
    """Lint's words for every gap (complete tables) and overlap (unique tables)."""
    out = []
    for row in rows(ruleset, table):
        where = ", ".join(
            f"{ruleset.facts[f].label} {range_words(ruleset, f, c)}" for f, c in zip(table.inputs, row.cells)
        )
        if table.complete and not row.hits:
            out.append(f"no rule covers {where} (a gap: every value in the facts' ranges needs one rule)")
        if table.unique and len(row.hits) > 1:
            out.append(f"rules {' and '.join(row.hits)} both cover {where} (an overlap)")
    return out


def tables_of(ruleset: RuleSet, rule_id: str) -> list[str]:
    """Names of the tables a rule belongs to (its page links to them)."""
    return [
        t.name
        for t in ruleset.tables
        if not problems(ruleset, t) and rule_id in {r.id for r in table_rules(ruleset, t)}
    ]

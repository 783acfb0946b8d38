"""A test that would kill a surviving mutant: what ``rules test --mutate`` suggests.

First an existing case on which the mutant decides differently in something no test
expects yet (then: add that expectation); else an existing case with one answer changed
(the facts the mutated rule reads first, then those of the rules around it); else, for a
condition, one of the rule's own cases with the answers set as in a state the two
conditions decide apart (``equivalence.witness``).  Each candidate is validated as an
intake and decided both ways, so a suggestion is a real case, not a guess; the tests
check that every suggestion kills its mutant.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any, Iterator

from . import deps
from .catalog import value_words
from .direct import Evaluator, compile_condition
from .equivalence import not_true, witness
from .errors import IptError
from .facts import input_values
from .intake import area_rule, from_mapping, may_be_unknown
from .model import All, Rule, RuleSet, leaves
from .mutants import Mutant, mutated_ruleset
from .mutation import Baseline, State, affected
from .ruletests import merge

#: Looking for a case that would kill a survivor: the existing cases it may start from
#: (the mutated rule's own first) and the intakes with one answer changed it may try.
MAX_BASES = 40
MAX_TRIES = 1_500



@dataclass
class Suggestion:
    """A test that would kill a survivor: expectations added to an existing case
    (``extend``), or a new test for the mutated rule (``add``)."""

    kind: str                     # extend | add
    rule_id: str                  # add: the rule whose tests it belongs in
    case: str                     # the case it extends or starts from (label and location)
    name: str                     # add: a name for the new test
    changes: dict[str, Any]       # intake path -> value, from that case ({}: as it is)
    intake: dict[str, Any]        # add: the intake fragment to write
    expect: dict[str, Any]        # extend: the keys to add; add: the whole expect
    mutant_gives: str             # what the mutant decides differently, in words


def suggest(baseline: Baseline, mutant: Mutant) -> Suggestion | None:
    """An existing case, or one answer away from one, on which the mutant's decision
    differs in something a test can expect.  The mutated rule's own cases come first."""
    rs = baseline.ruleset
    mutated = Evaluator(mutated_ruleset(rs, mutant))
    rid = mutant.rule_id
    states = baseline.states
    order = ([i for i, s in enumerate(states) if s.case.owner == rid]
             + [i for i, s in enumerate(states) if s.case.owner not in (rid, None)]
             + [i for i, s in enumerate(states) if s.case.owner is None])
    # 1. a case as it is, with one more expectation (only where the decision can differ)
    hit = set(affected(baseline, mutant))
    for i in order:
        if i in hit:
            state = states[i]
            changed = mutated.decide(state.values, state.intake_id)
            if expect := _distinguishing(state.decision, changed):
                return _suggestion(baseline, state, {}, rid, state.case.fragment, expect, state.decision, changed)
    # 2. a case with one answer changed; 3. for a condition, one of the rule's own cases
    # with every answer the rule reads set as in a state the two conditions decide apart
    test = compile_condition(mutant.rule.when) if mutant.on_condition else None
    candidates = itertools.chain(itertools.islice(_neighbours(baseline, mutant, order[:MAX_BASES]), MAX_TRIES),
                                 _witnesses(baseline, mutant, order))
    for i, changes in candidates:
        near = neighbour(baseline, i, changes)
        if near is None:
            continue
        fired = rid in near.fired
        if test is not None and baseline.evaluator.holds(rid, near.values, near.derived, test) == fired:
            continue  # the mutated condition decides the same here: so does the whole rule set
        if test is None and not fired:
            continue
        changed = mutated.decide(near.values, near.intake_id)
        expect = _distinguishing(near.decision, changed)
        if expect or fired != any(t["rule"] == rid for t in changed["trace"]):
            return _suggestion(baseline, states[i], changes, rid, near.case.fragment, expect, near.decision, changed)
    return None


def _witnesses(baseline: Baseline, mutant: Mutant, order: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    if not mutant.on_condition:
        return
    rs = baseline.ruleset
    original = rs.rule(mutant.rule_id).when
    own = [i for i in order if baseline.states[i].case.owner == mutant.rule_id] or order[:1]
    for a, b in ((mutant.rule.when, original), (original, mutant.rule.when)):
        for i in own:
            state = witness(rs, All((a, not_true(b))), baseline.states[i].values)
            if state is None:
                break
            changes = {rs.facts[f].source: v for f, v in state.items()
                       if not rs.facts[f].derived and baseline.states[i].values.get(f) != v}
            yield i, _with_required_details(rs, changes)  # type: ignore[arg-type]


def _suggestion(baseline: Baseline, state: State, changes: dict[str, Any], rid: str, fragment: dict[str, Any] | None,
                expect: dict[str, Any], real: dict[str, Any], changed: dict[str, Any]) -> Suggestion:
    case = state.case
    where = f"{case.label} ({case.location})"
    gives = _difference(real, changed)
    if not changes and (case.owner == rid or case.owner is None):
        return Suggestion("extend", rid, where, case.name, {}, {}, {k: v for k, v in expect.items() if k != "fires"}, gives)
    fires = any(t["rule"] == rid for t in real["trace"])
    was = from_mapping(case.record, None, case.location)
    said = ", ".join(f"{_label(baseline.ruleset, path)} {value_words(value)}" for path, value in changes.items()
                     if was.get(path) != value)
    name = case.name + (f", but {said}" if said else "") + ("" if case.owner == rid else f" (from {case.owner})")
    return Suggestion("add", rid, where, name, changes, fragment or {}, {"fires": fires, **expect}, gives)


def _label(ruleset: RuleSet, path: str) -> str:
    return next((spec.label for spec in ruleset.facts.values() if spec.source == path), path)


def _neighbours(baseline: Baseline, mutant: Mutant, indices: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(case, one answer changed) pairs: the facts the mutated rule reads first, then
    those of the rules feeding it, of the rules it feeds, and every other; each with
    every value worth trying."""
    rs = baseline.ruleset
    rule = rs.rule(mutant.rule_id)
    read = [leaf.fact for leaf in leaves(mutant.rule.when)]
    downstream = [f for r in rs.active_rules if set(deps.writes(rule)) & set(deps.reads(r, rs))
                  for f in _facts_upstream(rs, r)]
    facts = [f for f in dict.fromkeys(read + _facts_upstream(rs, rule) + downstream + list(rs.facts))
             if not rs.facts[f].derived]
    for i in indices:
        state = baseline.states[i]
        if state.case.fragment is None:
            continue
        for fact in facts:
            spec = rs.facts[fact]
            for value in _values(rs, fact):
                if value != state.values.get(fact):
                    yield i, _with_required_details(rs, {spec.source: value})  # type: ignore[dict-item]


def _with_required_details(ruleset: RuleSet, changes: dict[str, Any]) -> dict[str, Any]:
    """A detail of an area only counts when the area is present, and an area that is
    present needs its required details: add what the changes imply."""
    out = dict(changes)
    for path, value in changes.items():
        rule = area_rule(path)
        if rule is not None and value is not None and value != rule[1]:
            out.setdefault(rule[0], True)
    for spec in ruleset.facts.values():
        rule = area_rule(spec.source) if spec.source else None
        if rule is not None and rule[2] and out.get(rule[0]) is True and spec.source not in out:
            out[spec.source] = next(v for v in _values(ruleset, spec.name) if v is not None)  # type: ignore[index]
    return out


def _facts_upstream(ruleset: RuleSet, rule: Rule) -> list[str]:
    """The intake facts a rule reads, itself or through the rules that derive what it reads."""
    out: list[str] = []
    makers = deps.producers(ruleset)
    todo, seen = [rule], set()
    while todo:
        r = todo.pop(0)
        if r.id in seen:
            continue
        seen.add(r.id)
        for leaf in leaves(r.when):
            spec = ruleset.facts.get(leaf.fact)
            if spec is None:
                continue
            if spec.derived:
                todo.extend(ruleset.rule(m) for m in makers.get(leaf.fact, []))
            elif leaf.fact not in out:
                out.append(leaf.fact)
    return out


def _values(ruleset: RuleSet, fact: str) -> list[Any]:
    """Values worth trying for an intake fact: all for yes/no and enums; for whole
    numbers the thresholds the rules use and one either side; unknown when possible."""
    spec = ruleset.facts[fact]
    if spec.type == "boolean":
        values: list[Any] = [True, False]
    elif spec.type == "enum":
        values = list(spec.values)
    else:
        lo, hi = spec.range or (0, 100)
        points = {lo, hi}
        for rule in ruleset.active_rules:
            for leaf in leaves(rule.when):
                if leaf.fact == fact and isinstance(leaf.value, int) and not isinstance(leaf.value, bool):
                    points.update(x for x in (leaf.value - 1, leaf.value, leaf.value + 1) if lo <= x <= hi)
        values = sorted(points)
    if may_be_unknown(spec.source):  # type: ignore[arg-type]
        values.append(None)
    return values


def nested(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in changes.items():
        target = out
        *parents, last = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return out


def _distinguishing(real: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    """Expectations the real decision meets and the mutant's does not (empty: none exist)."""
    out: dict[str, Any] = {}
    for key, get in (("status", lambda d: d["status"]), ("format", lambda d: d["recommendation"]["format"]),
                     ("primary", lambda d: d["focus"]["primary"]), ("secondary", lambda d: d["focus"]["secondary"])):
        if get(real) != get(changed):
            out[key] = get(real)
    levels = {f["code"]: f["level"] for f in real["flags"]}
    other = {f["code"]: f["level"] for f in changed["flags"]}
    if missing := [c for c in levels if c not in other]:
        out["flags"] = missing
    if extra := [c for c in other if c not in levels]:
        out["not_flags"] = extra
    if moved := {c: lvl for c, lvl in levels.items() if c in other and other[c] != lvl}:
        out["flag_levels"] = moved
    if lost := [c for c in real["recommendation"]["conditions"] if c not in changed["recommendation"]["conditions"]]:
        out["conditions"] = lost
    considered = {c["rule"] for c in changed["considerations"]}
    if gone := list(dict.fromkeys(c["rule"] for c in real["considerations"] if c["rule"] not in considered)):
        out["considers"] = gone
    if severity := {k: v for k, v in real["severity"].items() if changed["severity"].get(k) != v}:
        out["severity"] = severity
    return out


def _difference(real: dict[str, Any], changed: dict[str, Any]) -> str:
    parts = []
    if real["status"] != changed["status"]:
        parts.append(f"status {changed['status']} instead of {real['status']}")
    a, b = real["recommendation"]["format"], changed["recommendation"]["format"]
    if a != b:
        parts.append(f"format {b} instead of {a}")
    for key in ("primary", "secondary"):
        if real["focus"][key] != changed["focus"][key]:
            parts.append(f"{key} focus {changed['focus'][key]} instead of {real['focus'][key]}")
    levels = {f["code"]: f["level"] for f in real["flags"]}
    other = {f["code"]: f["level"] for f in changed["flags"]}
    parts += [f"no {c}" for c in levels if c not in other]
    parts += [f"{c} raised" for c in other if c not in levels]
    parts += [f"{c} {other[c]} instead of {levels[c]}" for c in levels if c in other and other[c] != levels[c]]
    lost = [c for c in real["recommendation"]["conditions"] if c not in changed["recommendation"]["conditions"]]
    parts += [f'no condition "{_short(c)}"' for c in lost]
    gained = [c for c in changed["recommendation"]["conditions"] if c not in real["recommendation"]["conditions"]]
    parts += [f'an extra condition "{_short(c)}"' for c in gained]
    considered = {c["rule"] for c in changed["considerations"]}
    parts += [f"no point for review from {rid}" for rid in dict.fromkeys(c["rule"] for c in real["considerations"])
              if rid not in considered]
    parts += [f"severity {k} {changed['severity'].get(k)} instead of {v}" for k, v in real["severity"].items()
              if changed["severity"].get(k) != v]
    fired_a = [t["rule"] for t in real["trace"]]
    fired_b = [t["rule"] for t in changed["trace"]]
    parts += [f"{rid} silent" for rid in fired_a if rid not in fired_b]
    parts += [f"{rid} fires" for rid in fired_b if rid not in fired_a]
    return "; ".join(parts) or "the same decision"


def _short(text: str, width: int = 50) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def nearest(baseline: Baseline, mutant: Mutant, suggestion: Suggestion | None) -> str:
    if suggestion is not None:
        return suggestion.case
    own = [s.case for s in baseline.states if s.case.owner == mutant.rule_id]
    fires = mutant.on_condition or not own
    for case in own:  # a case where the rule fires shows its effects; for a condition, any own case
        if fires or case.expect.get("fires"):
            return f"{case.label} ({case.location})"
    return "none: no test case reaches this rule"


def neighbour(baseline: Baseline, index: int, changes: dict[str, Any]) -> State | None:
    """Case ``index`` with ``changes`` (intake path -> value) on the real rules; None when
    that intake is not valid.  Remembered: the mutants of one rule try the same ones."""
    near = baseline.__dict__.setdefault("_near", {})
    key = (index, tuple(changes.items()))
    if key not in near:
        base = baseline.states[index].case
        fragment = merge(base.fragment, nested(changes))
        case = dataclasses.replace(base, fragment=fragment, record=merge(baseline.ruleset.test_baseline, fragment))
        try:
            intake = from_mapping(case.record, None, "<suggestion>")
        except IptError:
            near[key] = None
        else:
            values = input_values(intake, baseline.ruleset)
            run = baseline.evaluator.fire(values)
            near[key] = State(case, intake.case_id, values, frozenset(run.fired), run.derived,
                              baseline.evaluator.decide(values, intake.case_id))
    return near[key]


"""A test that would kill a surviving mutant: what ``rules test --mutate`` suggests.

First an existing case on which the mutant decides differently in something no test
expects yet (then: add that expectation); else an existing case with one answer changed
(the facts the mutated rule reads first, then those of the rules around it); else, for a
condition (a rule's or a text variant's), one of the rule's own cases with the answers set
as in a state the two conditions decide apart (``equivalence.witness``), and for a policy,
as in a state where what it orders happens together (two flags at one level, two banners).
A policy's tests live with the rule it concerns (``Mutant.home``).  Each candidate is validated as an
intake and decided both ways, so a suggestion is a real case, not a guess; the tests
check that every suggestion kills its mutant.
"""

from __future__ import annotations

import dataclasses
import itertools
from ..core.precompiled_classes import dataclass
from typing import Any, Iterator

from ..ruleset import deps
from ..core.wording import value_words
from ..decision.direct import Evaluator, compile_condition
from .equivalence import intake_guard, not_true, witness
from ..core.errors import IptError
from ..intake.facts import input_values
from ..intake.schema import area_rule, from_mapping, may_be_unknown
from ..core.model import AddCondition, All, AnyOf, Cond, RaiseFlag, Rule, RuleSet, SetStatus, leaves
from .mutants import Mutant, mutated_ruleset
from .mutation import Baseline, State, affected
from ..ruletests import Case, check, handout_text, merge

#: Looking for a case that would kill a survivor: the existing cases it may start from
#: (the mutated rule's own first) and the intakes with one answer changed it may try.
MAX_BASES = 40
MAX_TRIES = 1_500


@dataclass
class Suggestion:
    """A test that would kill a survivor: expectations added to an existing case
    (``extend``), or a new test for the mutated rule (``add``)."""

    kind: str  # extend | add
    rule_id: str  # add: the rule whose tests it belongs in
    case: str  # the case it extends or starts from (label and location)
    name: str  # add: a name for the new test
    changes: dict[str, Any]  # intake path -> value, from that case ({}: as it is)
    intake: dict[str, Any]  # add: the intake fragment to write
    expect: dict[str, Any]  # extend: the keys to add; add: the whole expect
    mutant_gives: str  # what the mutant decides differently, in words


def suggest(baseline: Baseline, mutant: Mutant) -> Suggestion | None:
    """An existing case, or one answer away from one, on which the mutant's decision
    differs in something a test can expect.  The mutated rule's own cases come first."""
    rs = baseline.ruleset
    mutated = Evaluator(mutated_ruleset(rs, mutant))
    rid = mutant.home or mutant.rule_id  # a policy's tests live with the rule it concerns
    states = baseline.states
    order = (
        [i for i, s in enumerate(states) if s.case.owner == rid]
        + [i for i, s in enumerate(states) if s.case.owner not in (rid, None)]
        + [i for i, s in enumerate(states) if s.case.owner is None]
    )
    # 1. a case as it is, with one more expectation (only where the decision can differ)
    hit = set(affected(baseline, mutant))
    for i in order:
        if i in hit:
            state = states[i]
            changed = mutated.decide(state.values, state.intake_id)
            if expect := _distinguishing(state.decision, changed, rs, mutated.ruleset, state.case):
                return _suggestion(baseline, state, {}, rid, state.case.fragment, expect, state.decision, changed)
    # 2. a case with one answer changed; 3. for a condition, one of the rule's own cases
    # with every answer the rule reads set as in a state the two conditions decide apart
    test = compile_condition(mutant.rule.when) if mutant.on_condition else None  # type: ignore[union-attr]  # a condition mutant has its rule
    candidates = itertools.chain(
        itertools.islice(_neighbours(baseline, mutant, order[:MAX_BASES]), MAX_TRIES),
        _witnesses(baseline, mutant, order),
    )
    for i, changes in candidates:
        near = neighbour(baseline, i, changes)
        if near is None:
            continue
        fired = rid in near.fired
        if test is not None and baseline.evaluator.holds(rid, near.values, near.derived, test) == fired:
            continue  # the mutated condition decides the same here: so does the whole rule set
        if test is None and mutant.target == "then" and not fired:
            continue  # an effect shows only where its rule fires
        changed = mutated.decide(near.values, near.intake_id)
        expect = _distinguishing(near.decision, changed, rs, mutated.ruleset, near.case)
        if expect or fired != any(t["rule"] == rid for t in changed["trace"]):
            return _suggestion(baseline, states[i], changes, rid, near.case.fragment, expect, near.decision, changed)
    return None


def _witnesses(baseline: Baseline, mutant: Mutant, order: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Cases with every answer set as in a state where the mutant can decide differently: for
    a condition, one the two conditions decide apart; for a policy, one where what it orders
    happens together (two flags, two rules' conditions, two banners)."""
    rs = baseline.ruleset
    pair = changed_conditions(rs, mutant)
    if pair is not None:
        guard, original, mutated = pair
        targets: list[Cond] = [All((guard, mutated, not_true(original))), All((guard, original, not_true(mutated)))]
    elif mutant.target == "policies":
        targets = _together(rs, mutant)
    else:
        return
    home = mutant.home or mutant.rule_id
    own = [i for i in order if baseline.states[i].case.owner == home] or order[:1]
    for target in targets:
        for i in own:
            state = witness(rs, target, baseline.states[i].values)
            if state is None:
                break
            changes = {
                rs.facts[f].source: v
                for f, v in state.items()
                if not rs.facts[f].derived and baseline.states[i].values.get(f) != v
            }
            yield i, _with_required_details(rs, changes)  # type: ignore[arg-type]


def _together(ruleset: RuleSet, mutant: Mutant) -> list[Cond]:
    """For a policy mutant: conditions under which what it reorders happens in one decision."""
    from .equivalence import expand_derived, reordered

    policy, new = ruleset.policies, mutant.policies
    assert policy is not None and new is not None

    def raisers(code: str, level: str = "") -> list[Rule]:
        return [
            r
            for r in ruleset.active_rules
            if any(isinstance(e, RaiseFlag) and e.code == code and (not level or e.level == level) for e in r.then)
        ]

    def raising(code: str, level: str = "") -> Cond:
        return AnyOf(tuple(expand_derived(ruleset, r.when) for r in raisers(code, level)))

    def shown(banner: Any) -> Cond:
        if banner.flag:
            return raising(banner.flag, banner.flag_level)
        return AnyOf(
            tuple(
                expand_derived(ruleset, r.when)
                for r in ruleset.active_rules
                if any(isinstance(e, SetStatus) and e.status == banner.status for e in r.then)
            )
        )

    if mutant.operator == "urgency":
        pairs = reordered(tuple(ruleset.flags), policy.flag_urgency, new.flag_urgency)
        return [
            All((raising(a, level), raising(b, level)))
            for a, b in pairs
            for level in policy.flag_levels  # type: ignore[return-value]  # list[All] is a list[Cond]
            if raisers(a, level) and raisers(b, level)
        ][:12]
    if mutant.operator == "banner" and mutant.banner is not None and mutant.banner + 1 < len(policy.banners):
        return [All((shown(policy.banners[mutant.banner]), shown(policy.banners[mutant.banner + 1])))]
    if mutant.operator == "condition-order":
        adding = [r for r in ruleset.active_rules if any(isinstance(e, AddCondition) for e in r.then)]
        return [
            All((expand_derived(ruleset, a.when), expand_derived(ruleset, b.when)))  # type: ignore[return-value]  # list[All] is a list[Cond]
            for a, b in itertools.combinations(adding, 2)
        ][:12]
    return []


def changed_conditions(ruleset: RuleSet, mutant: Mutant) -> tuple[Cond, Cond, Cond] | None:
    """(where it matters, the original condition, the mutated one) for a mutant that changes a
    condition: the rule's own (which matters everywhere), or a text variant's (which matters
    where its rule fires and no variant before it holds); None for any other mutant."""
    if mutant.on_condition:
        assert mutant.rule is not None
        return All(()), ruleset.rule(mutant.rule_id).when, mutant.rule.when
    if mutant.variant is None or mutant.operator == "drop-variant":
        return None
    if mutant.target == "then":
        assert mutant.rule is not None and mutant.effect is not None
        rule = ruleset.rule(mutant.rule_id)
        old, new = rule.then[mutant.effect].variants, mutant.rule.then[mutant.effect].variants  # type: ignore[union-attr]
        guard: Cond = intake_guard(ruleset, rule.when)
    else:
        assert ruleset.policies is not None and mutant.policies is not None and mutant.banner is not None
        old = ruleset.policies.banners[mutant.banner].variants
        new = mutant.policies.banners[mutant.banner].variants
        guard = All(())
    k = mutant.variant
    return All((guard, *(not_true(v.when) for v in old[:k]))), old[k].when, new[k].when


def _suggestion(
    baseline: Baseline,
    state: State,
    changes: dict[str, Any],
    rid: str,
    fragment: dict[str, Any] | None,
    expect: dict[str, Any],
    real: dict[str, Any],
    changed: dict[str, Any],
) -> Suggestion:
    case = state.case
    where = f"{case.label} ({case.location})"
    gives = _difference(real, changed)
    if "handout" in expect and gives == "the same decision":
        gives = f'the same decision, but a client handout without "{_short(expect["handout"][0])}"'
    if not changes and (case.owner == rid or case.owner is None):
        return Suggestion(
            "extend", rid, where, case.name, {}, {}, {k: v for k, v in expect.items() if k != "fires"}, gives
        )
    fires = any(t["rule"] == rid for t in real["trace"])
    was = from_mapping(case.record, None, case.location)
    said = ", ".join(
        f"{_label(baseline.ruleset, path)} {value_words(value)}"
        for path, value in changes.items()
        if was.get(path) != value
    )
    name = case.name + (f", but {said}" if said else "") + ("" if case.owner == rid else f" (from {case.owner})")
    return Suggestion("add", rid, where, name, changes, fragment or {}, {"fires": fires, **expect}, gives)


def _label(ruleset: RuleSet, path: str) -> str:
    return next((spec.label for spec in ruleset.facts.values() if spec.source == path), path)


def _neighbours(baseline: Baseline, mutant: Mutant, indices: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(case, one answer changed) pairs: the facts the mutated rule reads first, then
    those of the rules feeding it, of the rules it feeds, and every other; each with
    every value worth trying."""
    rs = baseline.ruleset
    rule = rs.rule(mutant.home) if mutant.home else rs.active_rules[0]
    pair = changed_conditions(rs, mutant)
    read = [leaf.fact for c in (pair or (rule.when,)) for leaf in leaves(c)]
    downstream = [
        f for r in rs.active_rules if set(deps.writes(rule)) & set(deps.reads(r, rs)) for f in _facts_upstream(rs, r)
    ]
    facts = [
        f
        for f in dict.fromkeys(read + _facts_upstream(rs, rule) + downstream + list(rs.facts))
        if not rs.facts[f].derived
    ]
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


def _distinguishing(
    real: dict[str, Any], changed: dict[str, Any], ruleset: RuleSet, mutated: RuleSet, case: Case
) -> dict[str, Any]:
    """Expectations the real decision meets and the mutant's does not (empty: none exist)."""
    out: dict[str, Any] = {}
    for key, get in (
        ("status", lambda d: d["status"]),
        ("format", lambda d: d["recommendation"]["format"]),
        ("primary", lambda d: d["focus"]["primary"]),
        ("secondary", lambda d: d["focus"]["secondary"]),
    ):
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
    common = [f["code"] for f in real["flags"] if f["code"] in other]
    if common != [f["code"] for f in changed["flags"] if f["code"] in levels]:
        out["flag_order"] = common
    actions = {f["code"]: f["action"] for f in changed["flags"]}
    if said := {
        f["code"]: f["action"] for f in real["flags"] if f["code"] in actions and actions[f["code"]] != f["action"]
    }:
        out["actions"] = said
    mine, theirs = real["recommendation"]["conditions"], changed["recommendation"]["conditions"]
    if lost := [c for c in mine if c not in theirs]:
        out["conditions"] = lost
    if gained := [c for c in theirs if c not in mine]:
        out["not_conditions"] = gained
    shared = [c for c in mine if c in theirs]
    if shared != [c for c in theirs if c in mine]:
        out["condition_order"] = shared
    considered = {c["rule"] for c in changed["considerations"]}
    if gone := list(dict.fromkeys(c["rule"] for c in real["considerations"] if c["rule"] not in considered)):
        out["considers"] = gone
    shown = {c["rule"] for c in real["considerations"]}
    if added := list(dict.fromkeys(c["rule"] for c in changed["considerations"] if c["rule"] not in shown)):
        out["not_considers"] = added
    points = [c["text"] for c in changed["considerations"]]
    if reworded := [c["text"] for c in real["considerations"] if c["rule"] in considered and c["text"] not in points]:
        out["considerations"] = reworded
    mine_points = [c["text"] for c in real["considerations"]]
    if more := [c["text"] for c in changed["considerations"] if c["rule"] in shown and c["text"] not in mine_points]:
        out["not_considerations"] = more
    if severity := {k: v for k, v in real["severity"].items() if changed["severity"].get(k) != v}:
        out["severity"] = severity
    if [b["text"] for b in real["banners"]] != [b["text"] for b in changed["banners"]]:
        out["banners"] = [b["text"] for b in real["banners"]]
    if ruleset.handout and not out:  # the handout only when nothing in the decision tells them apart
        before, after = handout_text(ruleset, case, real), handout_text(mutated, case, changed)
        if lines := [line for line in before.splitlines() if line not in after.splitlines()]:
            out["handout"] = lines[:1]

    # each expectation as it will be checked (texts are found as parts of texts): kept only
    # when it passes on the real decision and fails on the mutant's
    def tells_apart(key: str) -> bool:
        alone = dataclasses.replace(case, expect={key: out[key]}, owner=None)
        return not check(alone, real, ruleset) and bool(check(alone, changed, mutated))

    return {key: value for key, value in out.items() if tells_apart(key)}


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
    if [f["code"] for f in real["flags"] if f["code"] in other] != [
        f["code"] for f in changed["flags"] if f["code"] in levels
    ]:
        parts.append("flags in the order " + ", ".join(f["code"] for f in changed["flags"]))
    actions = {f["code"]: f["action"] for f in real["flags"]}
    parts += [
        f'{f["code"]}\'s action "{_short(f["action"])}"'
        for f in changed["flags"]
        if f["code"] in actions and actions[f["code"]] != f["action"]
    ]
    shared = [c for c in real["recommendation"]["conditions"] if c in changed["recommendation"]["conditions"]]
    if shared != [c for c in changed["recommendation"]["conditions"] if c in real["recommendation"]["conditions"]]:
        parts.append("the conditions in another order")
    considered = {c["rule"] for c in changed["considerations"]}
    parts += [
        f"no point for review from {rid}"
        for rid in dict.fromkeys(c["rule"] for c in real["considerations"])
        if rid not in considered
    ]
    shown = {c["rule"] for c in real["considerations"]}
    parts += [
        f"a point for review from {rid}"
        for rid in dict.fromkeys(c["rule"] for c in changed["considerations"])
        if rid not in shown
    ]
    points = [c["text"] for c in real["considerations"]]
    parts += [
        f'the point for review "{_short(c["text"])}"'
        for c in changed["considerations"]
        if c["rule"] in shown and c["text"] not in points
    ]
    if [b["text"] for b in real["banners"]] != [b["text"] for b in changed["banners"]]:
        parts.append("banners " + (", ".join(f'"{_short(b["text"])}"' for b in changed["banners"]) or "none"))
    parts += [
        f"severity {k} {changed['severity'].get(k)} instead of {v}"
        for k, v in real["severity"].items()
        if changed["severity"].get(k) != v
    ]
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
    home = mutant.home or mutant.rule_id
    own = [s.case for s in baseline.states if s.case.owner == home]
    fires = mutant.on_condition or not own
    for case in own:  # a case where the rule fires shows its effects; for a condition, any own case
        if fires or case.expect.get("fires"):
            return f"{case.label} ({case.location})"
    return "none: no test case reaches this rule"


def neighbour(baseline: Baseline, index: int, changes: dict[str, Any]) -> State | None:
    """Case ``index`` with ``changes`` (intake path -> value) on the real rules; None when
    that intake is not valid.  Remembered: the mutants of one rule try the same ones."""
    near = baseline.neighbours
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
            near[key] = State(
                case,
                intake.case_id,
                values,
                frozenset(run.fired),
                run.derived,
                baseline.evaluator.decide(values, intake.case_id),
            )
    return near[key]

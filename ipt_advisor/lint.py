"""Meaning-level checks of a parsed rule set; every problem carries file:line.

The checks a rule author needs before a rule ever meets a patient: facts that
do not exist (with "did you mean"), comparisons of the wrong type
(``phq9 >= "10"``), values outside a fact's allowed set, duplicate ids,
unknown flags/formats/areas, rules that can never fire because nothing
derives what they read, derivation cycles, and rules without both a firing
and a silent test.
"""
from __future__ import annotations

from typing import Any

from . import deps
from .errors import Problem
from .model import (
    AddCondition, ChooseFormat, Derive, ExcludeFormat, FactSpec, Leaf, ProposeFocus, RaiseFlag,
    Rule, RuleSet, SetStatus, leaves, ORDER_OPS, PRESENCE_OPS, SET_OPS,
)
from .model import nnf
from .ruleload import suggest, type_name
from .satisfiable import never_true

STATUSES = ("complete", "incomplete")
MAX_DISJUNCTS = 32
#: decision.severity fields every report shows (decision-v1)
SEVERITY_FIELDS = ("phq9", "kroenke_band", "nice_band")
#: Most branches one engine node may get. durable-rules keeps a node's branches in a hash set
#: of 512 buckets and finds one by probing to an empty bucket: at 512 it spins for ever (measured:
#: 511 derived facts load in 0.05 s, 512 never). Its first node branches on the kind of fact
#: (the intake and each derived fact a rule reads), the next on each kind's first test.
MAX_BRANCHES = 500


class _Out:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.made: dict[str, list[Any]] = {}  # derived fact -> values active rules set

    def add(self, where: Rule | FactSpec | None, line: int | None, path: str, message: str, source: str = "") -> None:
        if isinstance(where, Rule):
            source, line = where.file, line or where.line
            path = f"{where.id}.{path}" if path else where.id
        self.problems.append(Problem(source, line, path, message))


def lint_ruleset(ruleset: RuleSet) -> list[Problem]:
    """Every meaning-level problem of ``ruleset`` (empty list when clean)."""
    out = _Out()
    out.made = _derived_values(ruleset)
    manifest = f"{ruleset.root}/ruleset.yaml"
    facts_file = f"{ruleset.root}/facts.yaml"
    _check_facts(ruleset, out, facts_file)
    _check_policies(ruleset, out, manifest)
    seen: dict[str, Rule] = {}
    for rule in ruleset.rules:
        if rule.id in seen:
            first = seen[rule.id]
            out.add(rule, None, "id", f"duplicate rule id (first defined at {first.location})")
        else:
            seen[rule.id] = rule
        _check_rule(ruleset, rule, out)
    _check_graph(ruleset, out)
    _check_conflicts(ruleset, out)
    if not out.problems:
        _check_engine_limits(ruleset, out, manifest)
    return out.problems


def _check_engine_limits(ruleset: RuleSet, out: _Out, source: str) -> None:
    """What durable-rules cannot load (see MAX_BRANCHES), counted on the compiled rules."""
    import json

    from .compile import compile_ruleset

    first: dict[str, set[str]] = {}
    for alt in compile_ruleset(ruleset).alternatives:
        for pattern in alt.body["all"]:
            (expr,) = pattern.values()
            items = expr["$and"] if "$and" in expr else [expr]
            first.setdefault(items[0]["k"], set()).add(json.dumps(items[1], sort_keys=True) if len(items) > 1 else "")
    derived = len(first) - ("intake" in first)
    if len(first) > MAX_BRANCHES:
        out.add(None, None, "rules", f"rules read {derived} different derived facts; the engine can load at most "
                                     f"{MAX_BRANCHES - 1} (its first node branches on each): merge some", source)
    for kind, tests in sorted(first.items()):
        if len(tests) > MAX_BRANCHES:
            what = "the intake" if kind == "intake" else f"derived fact {kind}"
            out.add(None, None, "rules", f"rules start with {len(tests)} different first tests on {what}; the engine "
                                         f"can load at most {MAX_BRANCHES}: share or reorder conditions", source)


def _check_facts(ruleset: RuleSet, out: _Out, source: str) -> None:
    try:
        from .intake import FIELD_PATHS, RULE_FIELDS
    except ImportError:  # pragma: no cover - the intake module is part of the package
        FIELD_PATHS = RULE_FIELDS = ()
    for spec in ruleset.facts.values():
        if spec.source is not None and FIELD_PATHS and spec.source not in FIELD_PATHS:
            out.add(None, spec.line, f"facts.{spec.name}.source",
                    f"{spec.source!r} is not an intake field{suggest(spec.source, FIELD_PATHS)}", source)
        elif spec.source is not None and RULE_FIELDS and spec.source not in RULE_FIELDS:
            out.add(None, spec.line, f"facts.{spec.name}.source",
                    f"{spec.source!r} is free text, an id, a date or the clinician's decision: no rule may read it", source)
        for other, value in spec.asked_when:
            if other not in ruleset.facts:
                out.add(None, spec.line, f"facts.{spec.name}.asked_when",
                        f"unknown fact {other!r}{suggest(other, ruleset.facts)}", source)
            else:
                _check_value(ruleset.facts[other], value, lambda m: out.add(None, spec.line, f"facts.{spec.name}.asked_when", m, source))


def _check_policies(ruleset: RuleSet, out: _Out, source: str) -> None:
    p = ruleset.policies
    if p is None:
        return
    for fmt in p.format_precedence:
        if fmt not in p.format_labels:
            out.add(None, None, "policies.format.labels", f"no label for format {fmt!r}", source)
    missing = [name for name in SEVERITY_FIELDS if name not in p.severity]
    if missing:
        out.add(None, None, "policies.severity",
                f"needs {' and '.join(missing)} too: every report shows them", source)
    for field_name, fact in p.severity.items():
        if fact not in ruleset.facts:
            out.add(None, None, f"policies.severity.{field_name}", f"unknown fact {fact!r}{suggest(fact, ruleset.facts)}", source)


def _check_value(spec: FactSpec, value: Any, report: Any) -> None:
    """Type and allowed-set check of one literal against a fact declaration."""
    if spec.type == "boolean":
        if not isinstance(value, bool):
            report(f"{spec.name} is a boolean; compare it with true or false, not {type_name(value)}")
    elif spec.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            report(f"{spec.name} is a whole number; {type_name(value)} cannot be compared with it")
        elif spec.range and not spec.range[0] <= value <= spec.range[1]:
            report(f"{value} is outside {spec.name}'s range {spec.range[0]}..{spec.range[1]}")
    elif value not in spec.values:
        report(f"{value!r} is not a value of {spec.name}{suggest(value, spec.values)}; allowed: {', '.join(map(str, spec.values))}")


def _check_leaf(ruleset: RuleSet, rule: Rule, leaf: Leaf, out: _Out) -> None:
    spec = ruleset.facts.get(leaf.fact)
    report = lambda m: out.add(rule, leaf.line, "when", m)  # noqa: E731 - tiny local adapter
    if spec is None:
        report(f"unknown fact {leaf.fact!r}{suggest(leaf.fact, ruleset.facts)}")
        return
    if leaf.op in PRESENCE_OPS:
        if spec.derived:
            # "no rule derived X (yet)" depends on firing order: the engine has no
            # truth maintenance, so absence of a derived fact is not testable.
            report(f"{leaf.op} applies to intake facts only; {leaf.fact} is derived")
        return
    if leaf.op in ORDER_OPS and spec.type != "integer":
        report(f"{leaf.op} needs a number; {leaf.fact} is {spec.type}")
        return
    if leaf.op in SET_OPS:
        if not isinstance(leaf.value, list) or not leaf.value:
            report(f"{leaf.op} needs a non-empty list")
            return
        for v in leaf.value:
            _check_value(spec, v, report)
    else:
        _check_value(spec, leaf.value, report)


def _check_rule(ruleset: RuleSet, rule: Rule, out: _Out) -> None:
    from .compile import disjuncts

    for ref in rule.references:
        if ref not in ruleset.sources:
            out.add(rule, None, "references", f"unknown source {ref!r}{suggest(ref, ruleset.sources)}")
    for leaf in leaves(rule.when):
        _check_leaf(ruleset, rule, leaf, out)
    made = out.made
    if rule.status == "active" and not any(f not in made for f in deps.reads(rule, ruleset)) \
            and never_true(rule.when, ruleset.facts, made):
        out.add(rule, None, "when", "can never fire: the condition contradicts itself "
                "or needs a derived value no active rule sets")
    if len(disjuncts(rule.when, ruleset)) > MAX_DISJUNCTS:
        out.add(rule, None, "when", f"condition expands to more than {MAX_DISJUNCTS} alternatives; split the rule")
    for effect in rule.then:
        _check_effect(ruleset, rule, effect, out)
    if rule.status == "active":
        outcomes = {t.expect.get("fires") for t in rule.tests}
        if True not in outcomes or False not in outcomes:
            out.add(rule, None, "tests", "an active rule needs at least one test where it fires and one where it stays silent")
    for t in rule.tests:
        _check_expect(ruleset, rule, t.expect, t.line, out)


def _check_effect(ruleset: RuleSet, rule: Rule, effect: Any, out: _Out) -> None:
    p = ruleset.policies
    if p is None:
        return
    add = lambda m: out.add(rule, None, "then", m)  # noqa: E731
    if isinstance(effect, Derive):
        spec = ruleset.facts.get(effect.fact)
        if spec is None:
            add(f"unknown fact {effect.fact!r}{suggest(effect.fact, ruleset.facts)}")
        elif not spec.derived:
            add(f"{effect.fact} comes from the intake; only derived facts can be derived")
        else:
            _check_value(spec, effect.value, add)
    elif isinstance(effect, RaiseFlag):
        if effect.code not in ruleset.flags:
            add(f"unknown flag code {effect.code!r}{suggest(effect.code, ruleset.flags)}")
        if effect.level not in p.flag_levels:
            add(f"flag level must be one of {', '.join(p.flag_levels)}")
    elif isinstance(effect, (ChooseFormat, ExcludeFormat)):
        if effect.format not in p.format_precedence:
            add(f"unknown format {effect.format!r}{suggest(effect.format, p.format_precedence)}")
        elif isinstance(effect, ExcludeFormat) and effect.format == p.format_precedence[0]:
            add(f"{effect.format} is the most restrictive format and cannot be excluded")
    elif isinstance(effect, ProposeFocus):
        if effect.area not in p.focus_areas:
            add(f"unknown focus area {effect.area!r}{suggest(effect.area, p.focus_areas)}")
        if effect.basis not in p.focus_basis:
            add(f"focus basis must be one of {', '.join(p.focus_basis)}")
    elif isinstance(effect, AddCondition):
        for fmt in effect.if_format:
            if fmt not in p.format_precedence:
                add(f"if_format: unknown format {fmt!r}")
    elif isinstance(effect, SetStatus) and effect.status not in STATUSES:
        add(f"status must be one of {', '.join(STATUSES)}")


def _check_expect(ruleset: RuleSet, rule: Rule, expect: dict[str, Any], line: int | None, out: _Out) -> None:
    p = ruleset.policies
    if p is None:
        return
    add = lambda m: out.add(rule, line, "tests", m)  # noqa: E731
    if "format" in expect and expect["format"] not in p.format_precedence:
        add(f"expect.format: unknown format {expect['format']!r}")
    if "status" in expect and expect["status"] not in STATUSES:
        add(f"expect.status: must be one of {', '.join(STATUSES)}")
    for key in ("primary", "secondary"):
        if key in expect and expect[key] is not None and expect[key] not in p.focus_areas:
            add(f"expect.{key}: unknown area {expect[key]!r}")
    for key in ("flags", "not_flags"):
        codes = expect.get(key, [])
        if not isinstance(codes, list):
            add(f"expect.{key}: must be a list of flag codes")
            continue
        for code in codes:
            if code not in ruleset.flags:
                add(f"expect.{key}: unknown flag code {code!r}{suggest(code, ruleset.flags)}")


def _check_graph(ruleset: RuleSet, out: _Out) -> None:
    made_by = deps.producers(ruleset)
    for rule in ruleset.active_rules:
        for fact in deps.reads(rule, ruleset):
            if fact not in made_by:
                out.add(rule, None, "when", f"can never fire: no active rule derives {fact}")
    _, cycles = deps.depths(ruleset)
    for cycle in cycles:
        first = ruleset.rule(cycle[0])
        out.add(first, None, "then", f"derivation cycle: {' -> '.join(cycle)}")


def _derived_values(ruleset: RuleSet) -> dict[str, list[Any]]:
    made: dict[str, list[Any]] = {}
    for rule in ruleset.active_rules:
        for effect in rule.then:
            if isinstance(effect, Derive):
                made.setdefault(effect.fact, []).append(effect.value)
    return made


def _check_conflicts(ruleset: RuleSet, out: _Out) -> None:
    """Two active rules with the same condition that ask for different formats
    contradict each other: which one the author meant is not decidable."""
    p = ruleset.policies
    if p is None:
        return
    seen: dict[Any, tuple[Rule, set[str]]] = {}
    for rule in ruleset.active_rules:
        formats = {f for e in rule.then if isinstance(e, (ChooseFormat, ExcludeFormat))
                   and e.format in p.format_precedence
                   and (f := e.format if isinstance(e, ChooseFormat) else "not " + e.format)}
        if not formats:
            continue
        key = _freeze(nnf(rule.when))
        if key in seen and seen[key][1] != formats:
            other = seen[key][0]
            out.add(rule, None, "then", f"conflicts with {other.id} ({other.location}): same condition, "
                    f"different format ({', '.join(sorted(formats))} vs {', '.join(sorted(seen[key][1]))})")
        seen.setdefault(key, (rule, formats))


def _freeze(cond: Any) -> Any:
    """A hashable, location-free form of a condition, for comparing rules."""
    if isinstance(cond, Leaf):
        return ("leaf", cond.fact, cond.op, _hashable(cond.value))
    if hasattr(cond, "items"):
        return (type(cond).__name__, tuple(_freeze(c) for c in cond.items))
    return ("not", _freeze(cond.item))


def _hashable(value: Any) -> Any:
    """A literal as a hashable value: lists and mappings (wrong types lint reports) included."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _hashable(v)) for k, v in value.items()))
    return value

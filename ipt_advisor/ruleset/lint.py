"""Meaning-level checks of a parsed rule set; every problem carries file:line.

The checks a rule author needs before a rule ever meets a patient: facts that
do not exist (with "did you mean"), input facts whose type, range or values
differ from the intake schema of the field they read, comparisons of the wrong type
(``phq9 >= "10"``), values outside a fact's allowed set, duplicate ids,
unknown flags/formats/areas, rules that can never fire because nothing
derives what they read, derivation cycles, and rules without both a firing
and a silent test.
"""

from __future__ import annotations

from typing import Any, Callable

from . import deps
from ..core.errors import Problem
from ..core.model import (
    AddCondition,
    ChooseFormat,
    Consider,
    Derive,
    ExcludeFormat,
    FactSpec,
    Leaf,
    ProposeFocus,
    RaiseFlag,
    Rule,
    RuleSet,
    SetStatus,
    Variant,
    leaves,
    ORDER_OPS,
    PRESENCE_OPS,
    SET_OPS,
)
from ..core.model import nnf
from ..core.hints import suggest, type_name, unknown
from .satisfiable import never_true

#: where a check says what is wrong: one message, placed by the caller
Say = Callable[[str], None]

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
    _check_tables(ruleset, out, manifest)
    if not out.problems:
        _check_engine_limits(ruleset, out, manifest)
    return out.problems


def _check_tables(ruleset: RuleSet, out: _Out, source: str) -> None:
    """Each decision table well declared, then complete and without overlaps (see ``tables``)."""
    from ..report import tables

    faulty = {p.path.split(".")[0] for p in out.problems}
    for table in ruleset.tables:
        path = f"decision_tables.{table.name}"
        found = tables.problems(ruleset, table)
        if not found and faulty & {r.id for r in tables.table_rules(ruleset, table)}:
            continue  # a rule of the table has its own problems (e.g. a text threshold): fix those first
        for message in found or tables.gaps_and_overlaps(ruleset, table):
            out.add(None, table.line, path, message, source=source)


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
        out.add(
            None,
            None,
            "rules",
            f"rules read {derived} different derived facts; the engine can load at most "
            f"{MAX_BRANCHES - 1} (its first node branches on each): merge some",
            source,
        )
    for kind, tests in sorted(first.items()):
        if len(tests) > MAX_BRANCHES:
            what = "the intake" if kind == "intake" else f"derived fact {kind}"
            out.add(
                None,
                None,
                "rules",
                f"rules start with {len(tests)} different first tests on {what}; the engine "
                f"can load at most {MAX_BRANCHES}: share or reorder conditions",
                source,
            )


def _check_facts(ruleset: RuleSet, out: _Out, source: str) -> None:
    from ..intake.schema import FIELD_PATHS, FIELDS, RULE_FIELDS

    for spec in ruleset.facts.values():
        if spec.source is not None and spec.source not in FIELD_PATHS:
            out.add(
                None,
                spec.line,
                f"facts.{spec.name}.source",
                f"{spec.source!r} is not an intake field{suggest(spec.source, FIELD_PATHS)}",
                source,
            )
        elif spec.source is not None and spec.source not in RULE_FIELDS:
            out.add(
                None,
                spec.line,
                f"facts.{spec.name}.source",
                f"{spec.source!r} is free text, an id, a date or the clinician's decision: no rule may read it",
                source,
            )
        elif spec.source is not None:
            for key, message in _against_intake(spec, FIELDS[spec.source]):
                out.add(None, spec.line, f"facts.{spec.name}.{key}", message, source)
        for key, pairs in (("asked_when", spec.asked_when), ("declined_when", spec.declined_when)):
            for other, value in pairs:
                if other not in ruleset.facts:
                    out.add(None, spec.line, f"facts.{spec.name}.{key}", unknown("fact", other, ruleset.facts), source)
                else:
                    _check_value(
                        ruleset.facts[other],
                        value,
                        lambda m: out.add(None, spec.line, f"facts.{spec.name}.{key}", m, source),
                    )
        where: Say = lambda m: out.add(None, spec.line, f"facts.{spec.name}.labels", m, source)  # noqa: E731
        for value in spec.value_labels:
            if spec.type == "boolean":
                where("a boolean reads yes / no: it takes no value labels")
            else:
                _check_value(spec, value, where)
        _check_variants(
            ruleset, spec.label_variants, out, lambda m: out.add(None, spec.line, f"facts.{spec.name}.label", m, source)
        )
    _check_codes(ruleset, out, source)


#: a fact's type for each kind of intake field a rule may read
_FACT_TYPE = {"int": "integer", "bool": "boolean", "enum": "enum"}


def _against_intake(spec: FactSpec, field: Any) -> list[tuple[str, str]]:
    """Where an input fact says other than the intake schema of the field it reads: its type,
    its range, its values (the schema is the one source; validation enforces it, so a fact
    that differs would have rules, tests and reports reason about values no intake holds)."""
    shown = f"the intake field {spec.source}"
    expected = _FACT_TYPE[field.kind]
    if spec.type != expected:
        return [("type", f"is {spec.type}, but {shown} is {expected}: give type: {expected}")]
    if expected == "integer" and spec.range != (field.lo, field.hi):
        given = "no range" if spec.range is None else f"range [{spec.range[0]}, {spec.range[1]}]"
        return [("range", f"{given}, but {shown} takes {field.lo} to {field.hi}: give range: [{field.lo}, {field.hi}]")]
    if expected == "enum" and set(spec.values) != set(field.choices):
        extra = [v for v in spec.values if v not in field.choices]
        lacking = [c for c in field.choices if c not in spec.values]
        parts = ([f"{', '.join(map(repr, extra))} not a value of {shown}"] if extra else []) + (
            [f"{', '.join(map(repr, lacking))} missing"] if lacking else []
        )
        return [("values", f"{'; '.join(parts)}: give values: [{', '.join(field.choices)}]")]
    return []


def _check_codes(ruleset: RuleSet, out: _Out, source: str) -> None:
    """facts.yaml ``codes:``: each code read by one fact only, answers that fit the fact."""
    owner: dict[str, str] = {}
    for spec in ruleset.facts.values():
        codes = spec.codes
        if codes is None:
            continue
        where: Say = lambda m: out.add(None, spec.line, f"facts.{spec.name}.codes", m, source)  # noqa: E731
        if spec.derived:
            where("a derived fact is set by rules, not read from FHIR data: it takes no codes")
        if codes.loinc in owner:  # a total's items may be facts of their own (PHQ-9 item 9)
            where(f"{codes.loinc} is already read by fact {owner[codes.loinc]!r}: one code, one fact")
        owner.setdefault(codes.loinc, spec.name)
        if len(set(codes.items)) != len(codes.items):
            where("items: an item is listed twice (it would be counted twice)")
        for answer, value in codes.answers.items():
            _check_value(spec, value, lambda m: where(f"answer set {codes.answer_set}: {answer}: {m}"))
        if codes.items and spec.type != "integer":
            where("items: only a whole-number total sums items")
        if codes.asked_after_yes and spec.type != "boolean":
            where("asked_after_yes: only a yes/no item follows another")
        if not codes.answers and spec.type == "boolean":
            where("a yes/no item needs answers: (its LOINC answer codes)")


def _check_policies(ruleset: RuleSet, out: _Out, source: str) -> None:
    p = ruleset.policies
    if p is None:
        return
    for fmt in p.format_precedence:
        if fmt not in p.format_labels:
            out.add(None, None, "policies.format.labels", f"no label for format {fmt!r}", source)
    missing = [name for name in SEVERITY_FIELDS if name not in p.severity]
    if missing:
        out.add(None, None, "policies.severity", f"needs {' and '.join(missing)} too: every report shows them", source)
    for field_name, fact in p.severity.items():
        if fact not in ruleset.facts:
            out.add(None, None, f"policies.severity.{field_name}", unknown("fact", fact, ruleset.facts), source)
    add: Callable[[str, str], None] = lambda path, m: out.add(None, None, path, m, source)  # noqa: E731
    seen: set[str] = set()
    for code in p.flag_urgency:
        if code not in ruleset.flags:
            add("policies.flags.urgency", unknown("flag code", code, ruleset.flags))
        elif code in seen:
            add("policies.flags.urgency", f"{code} is listed twice")
        seen.add(code)
    for i, b in enumerate(p.banners):
        path = f"policies.banners.{i}"
        if b.level not in p.flag_levels:
            add(path + ".level", f"must be one of {', '.join(p.flag_levels)}")
        if b.flag and b.flag not in ruleset.flags:
            add(path + ".flag", unknown("flag code", b.flag, ruleset.flags))
        if b.flag_level and b.flag_level not in p.flag_levels:
            add(path + ".flag_level", f"must be one of {', '.join(p.flag_levels)}")
        if b.status and b.status not in STATUSES:
            add(path + ".status", f"must be one of {', '.join(STATUSES)}")
        _check_variants(ruleset, b.variants, out, lambda m: add(path + ".variants", m))
    for fact in p.risk_answers:
        spec = ruleset.facts.get(fact)
        if spec is None:
            add("policies.report.risk_answers", unknown("fact", fact, ruleset.facts))
        elif spec.derived:
            add("policies.report.risk_answers", f"{fact} is derived: the block shows answers as recorded in the intake")
    for fmt in p.scoped_words:
        if fmt not in p.format_precedence:
            add("policies.format.scoped_words", unknown("format", fmt, p.format_precedence))
    if ruleset.handout:
        from .handout import handout_problems

        for path, message, cond in handout_problems(ruleset):
            if cond is None:
                out.add(None, None, path, message, f"{ruleset.root}/{ruleset.handout.get('file', '')}")
            else:
                _check_variants(
                    ruleset,
                    (Variant(cond, ""),),
                    out,
                    lambda m: out.add(None, None, path, m, f"{ruleset.root}/{ruleset.handout.get('file', '')}"),
                )


def _check_variants(ruleset: RuleSet, variants: tuple[Variant, ...], out: _Out, report: Say) -> None:
    """A variant's condition is checked like a rule's: its facts exist, its values fit, and it
    can be true.  It is evaluated after every rule fired, so it may read derived facts, and
    ``known``/``unknown`` of a derived fact is still refused (see _check_leaf)."""
    for variant in variants:
        for leaf in leaves(variant.when):
            _check_leaf_with(ruleset, leaf, report)
        if never_true(variant.when, ruleset.facts, _derived_values(ruleset)):
            report("this variant's condition can never be true")


def _check_value(spec: FactSpec, value: Any, report: Say) -> None:
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
        report(
            f"{value!r} is not a value of {spec.name}{suggest(value, spec.values)}; allowed: {', '.join(map(str, spec.values))}"
        )


def _check_leaf(ruleset: RuleSet, rule: Rule, leaf: Leaf, out: _Out) -> None:
    _check_leaf_with(ruleset, leaf, lambda m: out.add(rule, leaf.line, "when", m))


def _check_leaf_with(ruleset: RuleSet, leaf: Leaf, report: Say) -> None:
    spec = ruleset.facts.get(leaf.fact)
    if spec is None:
        report(unknown("fact", leaf.fact, ruleset.facts))
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
        if not isinstance(leaf.value, tuple) or not leaf.value:
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
            out.add(rule, None, "references", unknown("source", ref, ruleset.sources))
    for leaf in leaves(rule.when):
        _check_leaf(ruleset, rule, leaf, out)
    made = out.made
    if (
        rule.status == "active"
        and not any(f not in made for f in deps.reads(rule, ruleset))
        and never_true(rule.when, ruleset.facts, made)
    ):
        out.add(
            rule,
            None,
            "when",
            "can never fire: the condition contradicts itself or needs a derived value no active rule sets",
        )
    if len(disjuncts(rule.when, ruleset)) > MAX_DISJUNCTS:
        out.add(rule, None, "when", f"condition expands to more than {MAX_DISJUNCTS} alternatives; split the rule")
    for effect in rule.then:
        _check_effect(ruleset, rule, effect, out)
    if rule.status == "active":
        # the values as written: one that is not true or false is the loader's problem already
        outcomes = [t.expect.get("fires") for t in rule.tests]
        if not any(v is True for v in outcomes) or not any(v is False for v in outcomes):
            out.add(
                rule,
                None,
                "tests",
                "an active rule needs at least one test where it fires and one where it stays silent",
            )
    for t in rule.tests:
        _check_expect(ruleset, rule, t.expect, t.line, out)


def _check_effect(ruleset: RuleSet, rule: Rule, effect: Any, out: _Out) -> None:
    p = ruleset.policies
    if p is None:
        return
    add: Say = lambda m: out.add(rule, None, "then", m)  # noqa: E731
    if isinstance(effect, Derive):
        spec = ruleset.facts.get(effect.fact)
        if spec is None:
            add(unknown("fact", effect.fact, ruleset.facts))
        elif not spec.derived:
            add(f"{effect.fact} comes from the intake; only derived facts can be derived")
        else:
            _check_value(spec, effect.value, add)
    elif isinstance(effect, RaiseFlag):
        if effect.code not in ruleset.flags:
            add(unknown("flag code", effect.code, ruleset.flags))
        if effect.level not in p.flag_levels:
            add(f"flag level must be one of {', '.join(p.flag_levels)}")
    elif isinstance(effect, (ChooseFormat, ExcludeFormat)):
        if effect.format not in p.format_precedence:
            add(unknown("format", effect.format, p.format_precedence))
        elif isinstance(effect, ExcludeFormat) and effect.format == p.format_precedence[0]:
            add(f"{effect.format} is the most restrictive format and cannot be excluded")
    elif isinstance(effect, ProposeFocus):
        if effect.area not in p.focus_areas:
            add(unknown("focus area", effect.area, p.focus_areas))
        if effect.basis not in p.focus_basis:
            add(f"focus basis must be one of {', '.join(p.focus_basis)}")
    elif isinstance(effect, (AddCondition, Consider)):
        for fmt in effect.if_format:
            if fmt not in p.format_precedence:
                add(f"if_format: unknown format {fmt!r}")
        if isinstance(effect, AddCondition) and effect.topic and effect.topic not in p.condition_topics:
            add(
                f"{unknown('condition topic', effect.topic, p.condition_topics)}; "
                "declare it under policies.conditions.topics"
            )
        if not effect.if_format:
            for text in (effect.text, *(v.text for v in effect.variants)):
                for fmt, word in _scoped_words(p, text):
                    add(
                        f"the text names {word!r}, which ties it to the format {fmt}; scope it with "
                        f"if_format so it never prints in another format's report"
                    )
    elif isinstance(effect, SetStatus) and effect.status not in STATUSES:
        add(f"status must be one of {', '.join(STATUSES)}")
    variants = getattr(effect, "variants", ())
    if variants:
        _check_variants(ruleset, variants, out, add)


def _scoped_words(p: Any, text: str) -> list[tuple[str, str]]:
    """(format, word) for each scoped word (policies.format.scoped_words) the text contains."""
    import re

    found = []
    for fmt, words in p.scoped_words.items():
        for word in words:
            if re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text, flags=re.IGNORECASE):
                found.append((fmt, word))
                break
    return found


def _check_expect(ruleset: RuleSet, rule: Rule, expect: dict[str, Any], line: int | None, out: _Out) -> None:
    for message in expect_problems(ruleset, expect):
        out.add(rule, line, "tests", message)


def expect_problems(ruleset: RuleSet, expect: dict[str, Any]) -> list[str]:
    """What is wrong with a test case's ``expect`` (embedded or in a case file)."""
    p = ruleset.policies
    if p is None:
        return []
    out: list[str] = []
    if "format" in expect and expect["format"] not in p.format_precedence:
        out.append(f"expect.format: unknown format {expect['format']!r}")
    if "status" in expect and expect["status"] not in STATUSES:
        out.append(f"expect.status: must be one of {', '.join(STATUSES)}")
    for key in ("primary", "secondary"):
        if key in expect and expect[key] is not None and expect[key] not in p.focus_areas:
            out.append(f"expect.{key}: unknown area {expect[key]!r}")
    for key in ("flags", "not_flags", "flag_order"):
        codes = expect.get(key, [])
        if not isinstance(codes, list):
            out.append(f"expect.{key}: must be a list of flag codes")
            continue
        out.extend(
            f"expect.{key}: {unknown('flag code', code, ruleset.flags)}" for code in codes if code not in ruleset.flags
        )
    levels = expect.get("flag_levels", {})
    if not isinstance(levels, dict):
        out.append("expect.flag_levels: must map flag codes to levels, e.g. {SUICIDE_IMMINENT: critical}")
    else:
        for code, level in levels.items():
            if code not in ruleset.flags:
                out.append(f"expect.flag_levels: {unknown('flag code', code, ruleset.flags)}")
            if level not in p.flag_levels:
                out.append(f"expect.flag_levels.{code}: level must be one of {', '.join(p.flag_levels)}")
    actions = expect.get("actions", {})
    if not isinstance(actions, dict) or not all(_text(t) for t in actions.values()):
        out.append("expect.actions: must map flag codes to a text found in the flag's action")
    else:
        out.extend(
            f"expect.actions: {unknown('flag code', code, ruleset.flags)}"
            for code in actions
            if code not in ruleset.flags
        )
    for key, where in (
        ("conditions", "one of the decision's conditions"),
        ("not_conditions", "none of its conditions"),
        ("condition_order", "its conditions, in this order"),
        ("considerations", "one of its points for clinical review"),
        ("not_considerations", "none of its points for clinical review"),
        ("banners", "its banners, one text for each banner in order ([] for none)"),
        ("handout", "the client handout"),
    ):
        texts = expect.get(key, [])
        if not isinstance(texts, list) or not all(_text(t) for t in texts):
            out.append(f"expect.{key}: must be a list of texts (each found in {where})")
    for key in ("considers", "not_considers"):
        considers = expect.get(key, [])
        if not isinstance(considers, list):
            out.append(f"expect.{key}: must be a list of rule ids")
        else:
            out.extend(f"expect.{key}: no rule {rid!r}" for rid in considers if rid not in ruleset.by_id)
    severity = expect.get("severity", {})
    if not isinstance(severity, dict):
        out.append(f"expect.severity: must map severity fields ({', '.join(p.severity)}) to values")
    else:
        out.extend(
            f"expect.severity: {unknown('field', name, p.severity)}" for name in severity if name not in p.severity
        )
    return out


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


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
        formats = {
            f
            for e in rule.then
            if isinstance(e, (ChooseFormat, ExcludeFormat))
            and e.format in p.format_precedence
            and (f := e.format if isinstance(e, ChooseFormat) else "not " + e.format)
        }
        if not formats:
            continue
        key = _freeze(nnf(rule.when))
        if key in seen and seen[key][1] != formats:
            other = seen[key][0]
            out.add(
                rule,
                None,
                "then",
                f"conflicts with {other.id} ({other.location}): same condition, "
                f"different format ({', '.join(sorted(formats))} vs {', '.join(sorted(seen[key][1]))})",
            )
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
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _hashable(v)) for k, v in value.items()))
    return value

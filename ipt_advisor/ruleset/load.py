"""Read a rule-set directory (manifest, facts, rule files) into the model.

Structural problems (unknown keys, wrong types, missing fields) are gathered
here with file:line; meaning-level checks (unknown facts, type mismatches,
cycles, tests) live in ``lint.py``.  ``load_ruleset`` runs both and raises one
``RuleSetError`` listing everything.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
import re
from pathlib import Path
from typing import Any, Callable

from ..core import yamlio
from ..core.errors import Problem, ProblemCollector, RuleSetError
from ..core.hints import suggest, type_name, unknown
from ..core.model import (
    AddCondition,
    All,
    AnyOf,
    Banner,
    ChooseFormat,
    Cond,
    Consider,
    DecisionTable,
    Derive,
    Effect,
    ExcludeFormat,
    FactCodes,
    FactSpec,
    FlagCode,
    Governance,
    Leaf,
    Not,
    Policies,
    ProposeFocus,
    RaiseFlag,
    Rule,
    RuleSet,
    RuleTest,
    SetStatus,
    Variant,
    NEGATION,
)

MANIFEST = "ruleset.yaml"
FACTS = "facts.yaml"
OPERATORS = tuple(op for op in NEGATION if op not in ("known", "unknown"))
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
FACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
LOINC = re.compile(r"^\d{1,7}-\d$")  # a LOINC term code: digits, dash, check digit
LOINC_ANSWER = re.compile(r"^LA\d{1,7}-\d$")
# Names the engine uses itself: `k` (a fact's kind), `id`/`sid` (fact identity and session in
# durable-rules), `intake` (the kind of the intake fact), `m` and `s` (durable's own names for
# the message and the session state). A fact with one of them would be mixed up with them.
RESERVED_FACTS = ("k", "id", "sid", "intake", "m", "s")


def default_rules_dir() -> Path:
    """The shipped rule set: inside the installed package, or the checkout's ``rules/``."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "rules", here.parent / "rules"):
        if (candidate / MANIFEST).is_file():
            return candidate
    return here.parent / "rules"


class _File:
    """One parsed YAML file plus the collector its problems go to."""

    def __init__(
        self, path: Path, label: str, out: ProblemCollector, digest: Any, name: str, read: list[str] | None = None
    ):
        self.label = label
        if read is not None:  # what the rule-set cache keys an entry on (ruleset_cache)
            read.append(name)
        self.out = out
        raw = b""
        try:
            raw = path.read_bytes()
        except OSError as exc:
            out.add("", f"cannot read: {exc.strerror}", source=label)
        # the hash covers each file's name inside the rule set and its bytes, not where the
        # directory happens to be, so the same rules hash the same from any path
        digest.update(name.encode() + b"\0" + raw + b"\0")
        self.value: Any
        self.value, self.lines, problems = (
            yamlio.load(raw, label) if raw or path.exists() else (None, yamlio.Lines(), [])
        )
        out.extend(problems)
        # A file that did not parse has said so; do not pile "must be a mapping" on top.
        self.broken = self.value is None and bool(problems)

    def line(self, path: tuple[Any, ...]) -> int | None:
        return self.lines.line(path)

    def add(self, path: tuple[Any, ...], message: str) -> None:
        self.out.add(yamlio.dotted(path), message, self.line(path), source=self.label)

    def mapping(
        self, value: Any, path: tuple[Any, ...], required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """Check a mapping's keys; report unknown and missing keys. None if not a mapping."""
        if not path and self.broken:
            return None
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, got {type_name(value)}")
            return None
        allowed = required + optional
        for key in value:
            if key not in allowed:
                self.add(path + (key,), f"unknown key{suggest(key, allowed)}")
        for key in required:
            if key not in value:
                self.add(path, f"{key}: required")
        return value

    def text(self, value: Any, path: tuple[Any, ...], *, allow_empty: bool = False) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            self.add(path, f"must be non-empty text, got {type_name(value)}")
            return ""
        return value.strip()

    def text_list(self, value: Any, path: tuple[Any, ...]) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.add(path, f"must be a list, got {type_name(value)}")
            return ()
        return tuple(self.text(v, path + (i,)) for i, v in enumerate(value))


# ------------------------------------------------------------------ manifest


def _manifest(f: _File) -> dict[str, Any]:
    m = f.mapping(
        f.value,
        (),
        ("ruleset", "version", "rule_files", "policies", "sources", "flags"),
        ("description", "limits", "test_baseline", "handout", "decision_tables"),
    )
    if m is None:
        return {}
    out: dict[str, Any] = {
        "name": f.text(m.get("ruleset"), ("ruleset",)),
        "version": str(m.get("version", "")),
        "description": m.get("description", "") if isinstance(m.get("description", ""), str) else "",
    }
    if not SEMVER.match(out["version"]):
        f.add(("version",), "must be a version like 1.0.0")
    out["rule_files"] = f.text_list(m.get("rule_files", []), ("rule_files",))
    out["handout"] = f.text(m["handout"], ("handout",)) if "handout" in m else ""
    sources = m.get("sources", {})
    if isinstance(sources, dict):
        out["sources"] = {str(k): f.text(v, ("sources", k)) for k, v in sources.items()}
    else:
        f.add(("sources",), "must be a mapping of key: citation")
        out["sources"] = {}
    flags = m.get("flags", {})
    out["flags"] = {}
    if isinstance(flags, dict):
        for code, desc in flags.items():
            out["flags"][str(code)] = FlagCode(str(code), f.text(desc, ("flags", code)))
    else:
        f.add(("flags",), "must be a mapping of CODE: description")
    out["policies"] = _policies(f, m.get("policies"))
    limits = f.mapping(m.get("limits", {}), ("limits",), (), ("max_firings", "max_seconds")) or {}
    out["max_firings"] = _positive(f, limits.get("max_firings", 1000), ("limits", "max_firings"), whole=True)
    out["max_seconds"] = _positive(f, limits.get("max_seconds", 5), ("limits", "max_seconds"))
    baseline = m.get("test_baseline", {})
    if not isinstance(baseline, dict):
        f.add(("test_baseline",), "must be an intake mapping")
        baseline = {}
    out["test_baseline"] = baseline
    out["tables"] = _tables(f, m.get("decision_tables", {}))
    return out


def _tables(f: _File, value: Any) -> tuple[DecisionTable, ...]:
    """``decision_tables``: name -> inputs, rules and/or output, given, complete, unique."""
    path: tuple[Any, ...] = ("decision_tables",)
    if not isinstance(value, dict):
        f.add(path, "must be a mapping of table name: table")
        return ()
    out = []
    for name, body in value.items():
        p = path + (name,)
        m = f.mapping(body, p, ("title", "inputs"), ("rules", "output", "given", "complete", "unique", "note"))
        if m is None:
            continue
        if "rules" not in m and "output" not in m:
            f.add(p, "needs rules (ids) or output (a derived fact whose rules form the table)")
        flags = {}
        for key in ("complete", "unique"):
            flags[key] = m.get(key, True)
            if not isinstance(flags[key], bool):
                f.add(p + (key,), "must be true or false")
                flags[key] = True
        out.append(
            DecisionTable(
                name=str(name),
                title=f.text(m.get("title"), p + ("title",)),
                inputs=f.text_list(m.get("inputs", []), p + ("inputs",)),
                rules=f.text_list(m["rules"], p + ("rules",)) if "rules" in m else (),
                output=f.text(m["output"], p + ("output",)) if "output" in m else "",
                given=_fact_pairs(f, m, "given", p),
                complete=flags["complete"],
                unique=flags["unique"],
                note=" ".join(str(m.get("note", "")).split()),
                line=f.line(p),
            )
        )
    return tuple(out)


def _positive(f: _File, value: Any, path: tuple[Any, ...], whole: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        shown = (
            type_name(value)
            if not isinstance(value, float) or math.isfinite(value)
            else "an infinite or undefined number"
        )
        f.add(path, f"must be a positive number, got {shown}")
        return 1
    if whole and not isinstance(value, int):
        f.add(path, "must be a whole number")
        return 1
    return value


def _policies(f: _File, value: Any) -> Policies | None:
    p = f.mapping(
        value, ("policies",), ("format", "focus", "flags", "severity"), ("status", "conditions", "banners", "report")
    )
    if p is None:
        return None
    fmt = (
        f.mapping(
            p.get("format"),
            ("policies", "format"),
            ("precedence", "fallback", "fallback_reason", "labels"),
            ("scoped_words",),
        )
        or {}
    )
    focus = f.mapping(p.get("focus"), ("policies", "focus"), ("areas", "basis", "max_areas", "labels"), ()) or {}
    flags = f.mapping(p.get("flags"), ("policies", "flags"), ("levels",), ("urgency",)) or {}
    status = f.mapping(p.get("status", {"default": "complete"}), ("policies", "status"), ("default",), ()) or {}
    conditions = f.mapping(p.get("conditions", {}), ("policies", "conditions"), (), ("order", "topics")) or {}
    report = f.mapping(p.get("report", {}), ("policies", "report"), (), ("risk_answers",)) or {}
    severity = p.get("severity")
    if not isinstance(severity, dict):
        f.add(("policies", "severity"), "must map decision severity fields to fact names")
        severity = {}
    precedence = f.text_list(fmt.get("precedence", []), ("policies", "format", "precedence"))
    fallback = str(fmt.get("fallback", ""))
    if fallback not in precedence:
        f.add(("policies", "format", "fallback"), f"must be one of the precedence list {list(precedence)}")
    max_areas = focus.get("max_areas", 2)
    if isinstance(max_areas, bool) or not isinstance(max_areas, int) or not 1 <= max_areas <= 2:
        f.add(("policies", "focus", "max_areas"), "must be 1 or 2 (the decision has a primary and a secondary focus)")
        max_areas = 2
    labels: dict[Any, Any] = fmt["labels"] if isinstance(fmt.get("labels"), dict) else {}
    area_labels: dict[Any, Any] = focus["labels"] if isinstance(focus.get("labels"), dict) else {}
    order = conditions.get("order", "trace")
    if order not in CONDITION_ORDERS:
        f.add(
            ("policies", "conditions", "order"),
            f"must be one of {', '.join(CONDITION_ORDERS)}{suggest(order, CONDITION_ORDERS)}",
        )
        order = "trace"
    return Policies(
        format_precedence=precedence,
        format_fallback=fallback,
        format_fallback_reason=f.text(fmt.get("fallback_reason"), ("policies", "format", "fallback_reason")),
        format_labels={str(k): str(v) for k, v in labels.items()},
        focus_areas=f.text_list(focus.get("areas", []), ("policies", "focus", "areas")),
        focus_basis=f.text_list(focus.get("basis", []), ("policies", "focus", "basis")),
        focus_max=max_areas,
        area_labels={str(k): str(v) for k, v in area_labels.items()},
        flag_levels=f.text_list(flags.get("levels", []), ("policies", "flags", "levels")),
        severity={str(k): str(v) for k, v in severity.items()},
        status_default=str(status.get("default", "complete")),
        flag_urgency=f.text_list(flags.get("urgency", []), ("policies", "flags", "urgency")),
        condition_order=str(order),
        condition_topics=_text_map(f, conditions.get("topics", {}), ("policies", "conditions", "topics")),
        banners=_banners(f, p.get("banners", []), ("policies", "banners")),
        risk_answers=f.text_list(report.get("risk_answers", []), ("policies", "report", "risk_answers")),
        scoped_words={
            k: f.text_list(v, ("policies", "format", "scoped_words", k))
            for k, v in _mapping_or_empty(
                f, fmt.get("scoped_words", {}), ("policies", "format", "scoped_words")
            ).items()
        },
        lines={
            **{
                f"flags.urgency.{i}": f.line(("policies", "flags", "urgency", i))
                for i in range(len(flags["urgency"]) if isinstance(flags.get("urgency"), list) else 0)
            },
            "conditions.order": f.line(("policies", "conditions", "order")) or f.line(("policies", "conditions")),
        },
    )


CONDITION_ORDERS = ("trace", "flag_urgency")


def _mapping_or_empty(f: _File, value: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        f.add(path, f"must be a mapping, got {type_name(value)}")
        return {}
    return {str(k): v for k, v in value.items()}


def _text_map(f: _File, value: Any, path: tuple[Any, ...]) -> dict[str, str]:
    return {k: f.text(v, path + (k,)) for k, v in _mapping_or_empty(f, value, path).items()}


def _banners(f: _File, value: Any, path: tuple[Any, ...]) -> tuple[Banner, ...]:
    if not isinstance(value, list):
        f.add(path, f"must be a list of banners, got {type_name(value)}")
        return ()
    out = []
    for i, item in enumerate(value):
        p = path + (i,)
        m = f.mapping(item, p, ("level", "text"), ("flag", "flag_level", "status", "variants"))
        if m is None:
            continue
        if ("flag" in m) == ("status" in m):
            f.add(p, "give exactly one trigger: flag: CODE (optionally with flag_level) or status: STATUS")
            continue
        if "flag_level" in m and "flag" not in m:
            f.add(p + ("flag_level",), "only with flag:")
        out.append(
            Banner(
                level=str(m.get("level", "")),
                text=f.text(m.get("text"), p + ("text",)),
                flag=str(m.get("flag", "")),
                flag_level=str(m.get("flag_level", "")),
                status=str(m.get("status", "")),
                variants=_variants(f, m["variants"], p + ("variants",)) if "variants" in m else (),
                line=f.line(p),
            )
        )
    return tuple(out)


def _variants(f: _File, value: Any, path: tuple[Any, ...]) -> tuple[Variant, ...]:
    """``[{when: condition, text: ...}, ...]``: texts for the cases where ``when`` holds."""
    if not isinstance(value, list) or not value:
        f.add(path, "variants: must be a non-empty list of {when: condition, text: ...}")
        return ()
    out = []
    for i, item in enumerate(value):
        m = f.mapping(item, path + (i,), ("when", "text"), ())
        if m is None:
            continue
        out.append(
            Variant(
                parse_condition(f, m.get("when"), path + (i, "when")),
                f.text(m.get("text"), path + (i, "text")),
                f.line(path + (i,)),
            )
        )
    return tuple(out)


def _textual(
    f: _File, body: Any, path: tuple[Any, ...], key: str = "text", optional: tuple[str, ...] = ()
) -> tuple[str, tuple[Variant, ...], dict[str, Any]]:
    """A text given plainly, or as ``{<key>: default, variants: [...], <optional>...}``:
    (default text, variants, the whole mapping for the caller's other keys)."""
    if isinstance(body, str):
        return f.text(body, path), (), {}
    m = f.mapping(body, path, (key,), ("variants",) + optional)
    if m is None:
        return "", (), {}
    variants = _variants(f, m["variants"], path + ("variants",)) if "variants" in m else ()
    return f.text(m.get(key), path + (key,)), variants, m


# --------------------------------------------------------------------- facts


def loinc_check_digit(digits: str) -> int:
    """The LOINC "mod 10" check digit of a code's number part (44261 -> 6, as in 44261-6)."""
    odd = str(int(digits[::-1][0::2][::-1]) * 2)  # the 1st, 3rd, ... digits from the right, doubled
    even = digits[::-1][1::2][::-1]
    return (10 - sum(int(c) for c in even + odd) % 10) % 10


def _loinc(f: _File, value: Any, path: tuple[Any, ...]) -> str:
    if not isinstance(value, str) or not LOINC.match(value):
        f.add(
            path,
            f"must be a LOINC code such as 44261-6, got {value!r}"
            if isinstance(value, str)
            else f"must be a LOINC code such as 44261-6, got {type_name(value)}",
        )
        return ""
    number, check = value.split("-")
    if loinc_check_digit(number) != int(check):
        f.add(path, f"{value}: wrong check digit (a typo?); {number}-{loinc_check_digit(number)} would be valid")
    return value


def _answer_sets(f: _File, value: Any) -> dict[str, dict[str, Any]]:
    """``answer_sets:`` -- named lists of LOINC answer codes and the value each stands for."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        f.add(("answer_sets",), "must be a mapping of name: {answer code: value}")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, codes in value.items():
        path = ("answer_sets", name)
        if not isinstance(codes, dict) or not codes:
            f.add(path, "must be a non-empty mapping of LOINC answer code (LA...): value")
            continue
        for code in codes:
            if not isinstance(code, str) or not LOINC_ANSWER.match(code):
                f.add(path + (code,), "must be a LOINC answer code such as LA6568-5")
        out[str(name)] = dict(codes)
    return out


def _codes(f: _File, d: dict[str, Any], path: tuple[Any, ...], sets: dict[str, dict[str, Any]]) -> FactCodes | None:
    if "codes" not in d:
        return None
    path = path + ("codes",)
    m = f.mapping(d["codes"], path, ("loinc",), ("panel", "answers", "items", "asked_after_yes"))
    if m is None:
        return None
    answers: dict[str, Any] = {}
    if "answers" in m:
        if m["answers"] not in sets:
            f.add(path + ("answers",), unknown("answer set", m["answers"], sets))
        else:
            answers = sets[m["answers"]]
    items: tuple[str, ...] = ()
    if "items" in m:
        if not isinstance(m["items"], list) or not m["items"]:
            f.add(path + ("items",), "must be a non-empty list of LOINC codes")
        else:
            items = tuple(_loinc(f, v, path + ("items", i)) for i, v in enumerate(m["items"]))
    return FactCodes(
        loinc=_loinc(f, m.get("loinc"), path + ("loinc",)),
        panel=_loinc(f, m["panel"], path + ("panel",)) if "panel" in m else None,
        answers=answers,
        answer_set=m.get("answers") if answers else None,
        items=items,
        asked_after_yes=_loinc(f, m["asked_after_yes"], path + ("asked_after_yes",))
        if "asked_after_yes" in m
        else None,
    )


def _facts(f: _File) -> dict[str, FactSpec]:
    root = f.mapping(f.value, (), ("facts",), ("answer_sets",))
    facts: dict[str, FactSpec] = {}
    if root is None or not isinstance(root.get("facts"), dict):
        if root is not None:
            f.add(("facts",), "must be a mapping of fact name: declaration")
        return facts
    sets = _answer_sets(f, root.get("answer_sets"))
    for name, decl in root["facts"].items():
        path = ("facts", name)
        if not isinstance(name, str) or not FACT_NAME.match(name):
            f.add(path, "fact names are lower_snake_case")
            continue
        if name in RESERVED_FACTS:
            f.add(path, f"{name!r} is a name the engine uses itself; reserved: {', '.join(RESERVED_FACTS)}")
            continue
        d = f.mapping(
            decl,
            path,
            ("type", "label"),
            (
                "source",
                "derived",
                "values",
                "range",
                "asked_when",
                "description",
                "labels",
                "declined_when",
                "codes",
                "risk_answer",
            ),
        )
        if d is None:
            continue
        ftype = d.get("type")
        if ftype not in ("integer", "boolean", "enum"):
            f.add(path + ("type",), f"must be integer, boolean or enum{suggest(ftype, ('integer', 'boolean', 'enum'))}")
        if ("source" in d) == bool(d.get("derived")):
            f.add(path, "give either source: (an intake path) or derived: true")
        values: tuple[Any, ...] = ()
        if ftype == "enum":
            if not isinstance(d.get("values"), list) or not d["values"]:
                f.add(path + ("values",), "an enum fact needs a non-empty list of values")
            elif not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in d["values"]):
                f.add(path + ("values",), "enum values are plain text or numbers")
            else:
                values = tuple(d["values"])
        rng = None
        if "range" in d:
            r = d["range"]
            if (
                not isinstance(r, list)
                or len(r) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in r)
                or r[0] > r[1]
            ):
                f.add(path + ("range",), "must be [low, high] whole numbers")
            else:
                rng = (r[0], r[1])
        label, label_variants, _ = _textual(f, d.get("label"), path + ("label",))
        if not isinstance(d.get("risk_answer", False), bool):
            f.add(path + ("risk_answer",), "must be true or false")
        value_labels = d.get("labels", {})
        if not isinstance(value_labels, dict):
            f.add(path + ("labels",), "must be a mapping of value: label")
            value_labels = {}
        facts[name] = FactSpec(
            name=name,
            type=str(ftype),
            label=label,
            source=d.get("source") if isinstance(d.get("source"), str) else None,
            values=values,
            range=rng,
            asked_when=_fact_pairs(f, d, "asked_when", path),
            description=d.get("description", "") if isinstance(d.get("description", ""), str) else "",
            line=f.line(path),
            value_labels={k: f.text(v, path + ("labels", k)) for k, v in value_labels.items()},
            label_variants=label_variants,
            declined_when=_fact_pairs(f, d, "declined_when", path),
            codes=_codes(f, d, path, sets),
            risk_answer=d.get("risk_answer") is True,
        )
    return facts


def _fact_pairs(f: _File, d: dict[str, Any], key: str, path: tuple[Any, ...]) -> tuple[tuple[str, Any], ...]:
    """``{fact: value, ...}`` (asked_when, declined_when) as pairs."""
    if key not in d:
        return ()
    if not isinstance(d[key], dict):
        f.add(path + (key,), "must be a mapping of fact: value")
        return ()
    return tuple((str(k), v) for k, v in d[key].items())


# ---------------------------------------------------------------- conditions


def parse_condition(f: _File, value: Any, path: tuple[Any, ...]) -> Cond:
    """YAML condition -> model.  Shapes: {all: [...]}, {any: [...]}, {not: c},
    {known: fact}, {unknown: fact}, {fact: value}, {fact: [v1, v2]}, {fact: {op: value, ...}}."""
    line = f.line(path)
    if not isinstance(value, dict) or len(value) != 1:
        f.add(path, "a condition is a mapping with exactly one key (all, any, not, known, unknown or a fact name)")
        return All(())
    ((key, arg),) = value.items()
    sub = path + (key,)
    if key in ("all", "any"):
        if not isinstance(arg, list) or not arg:
            f.add(sub, f"{key}: must be a non-empty list of conditions")
            return All(())
        items = tuple(parse_condition(f, item, sub + (i,)) for i, item in enumerate(arg))
        return All(items, f.line(sub)) if key == "all" else AnyOf(items, f.line(sub))
    if key == "not":
        return Not(parse_condition(f, arg, sub), f.line(sub))
    if key in ("known", "unknown"):
        if not isinstance(arg, str):
            f.add(sub, "must name a fact")
            return All(())
        return Leaf(arg, key, None, line)
    fact = str(key)
    if isinstance(arg, dict):
        parts = []
        for op, operand in arg.items():
            if op not in OPERATORS:
                f.add(sub + (op,), f"unknown operator{suggest(op, OPERATORS)}; use one of {', '.join(OPERATORS)}")
                continue
            parts.append(Leaf(fact, str(op), operand, f.line(sub + (op,))))
        if not parts:
            f.add(sub, "needs at least one operator")
            return All(())
        return parts[0] if len(parts) == 1 else All(tuple(parts), f.line(sub))
    if isinstance(arg, list):
        return Leaf(fact, "in", arg, line)
    return Leaf(fact, "is", arg, line)


# ------------------------------------------------------------------- effects


def _effect_fields(
    f: _File, body: Any, path: tuple[Any, ...], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    m = f.mapping(body, path, required, optional)
    return m or {}


def _derive(f: _File, body: Any, path: tuple[Any, ...]) -> Effect | None:
    if not isinstance(body, dict) or len(body) != 1:
        f.add(path, "derive takes one fact: value pair, e.g. {nice_band: more_severe}")
        return None
    ((fact, value),) = body.items()
    return Derive(str(fact), value)


def _flag(f: _File, body: Any, path: tuple[Any, ...]) -> Effect | None:
    m = _effect_fields(f, body, path, ("code", "level", "action"), ("variants",))
    if not m:
        return None
    variants = _variants(f, m["variants"], path + ("variants",)) if "variants" in m else ()
    return RaiseFlag(
        str(m.get("code", "")), str(m.get("level", "")), f.text(m.get("action"), path + ("action",)), variants=variants
    )


def _format(f: _File, body: Any, path: tuple[Any, ...]) -> Effect | None:
    m = _effect_fields(f, body, path, ("reason",), ("choose", "exclude"))
    if not m:
        return None
    reason = f.text(m.get("reason"), path + ("reason",))
    if ("choose" in m) == ("exclude" in m):
        f.add(path, "give exactly one of choose: or exclude:")
        return None
    if "choose" in m:
        return ChooseFormat(str(m["choose"]), reason)
    return ExcludeFormat(str(m["exclude"]), reason)


def _focus(f: _File, body: Any, path: tuple[Any, ...]) -> Effect | None:
    m = _effect_fields(f, body, path, ("area", "basis", "reason"))
    return (
        ProposeFocus(str(m.get("area", "")), str(m.get("basis", "")), f.text(m.get("reason"), path + ("reason",)))
        if m
        else None
    )


def _scope(f: _File, m: dict[str, Any], path: tuple[Any, ...]) -> tuple[str, ...]:
    scope = m.get("if_format", [])
    scope = [scope] if isinstance(scope, str) else scope
    if not isinstance(scope, list):
        f.add(path + ("if_format",), f"must be a format or a list of formats, got {type_name(scope)}")
        scope = []
    return tuple(str(s) for s in scope)


def _condition(f: _File, body: Any, path: tuple[Any, ...]) -> Effect | None:
    if isinstance(body, dict) and "topic" in body and "text" not in body:
        # a topic alone: the topic's own text (policies.conditions.topics), no detail
        m = _effect_fields(f, body, path, ("topic",), ("if_format",))
        return AddCondition("", _scope(f, m, path), topic=f.text(m.get("topic"), path + ("topic",))) if m else None
    text, variants, m = _textual(f, body, path, optional=("if_format", "topic"))
    topic = f.text(m["topic"], path + ("topic",)) if "topic" in m else ""
    return AddCondition(text, _scope(f, m, path), variants=variants, topic=topic)


def _consider(f: _File, body: Any, path: tuple[Any, ...]) -> Effect | None:
    text, variants, m = _textual(f, body, path, optional=("if_format",))
    return Consider(text, if_format=_scope(f, m, path), variants=variants)


EFFECTS: dict[str, Callable[[_File, Any, tuple[Any, ...]], Effect | None]] = {
    "derive": _derive,
    "flag": _flag,
    "format": _format,
    "focus": _focus,
    "condition": _condition,
    "status": lambda f, body, path: SetStatus(str(body)),
    "consider": _consider,
}


def _effects(f: _File, value: Any, path: tuple[Any, ...]) -> tuple[Effect, ...]:
    if not isinstance(value, list) or not value:
        f.add(path, "then: must be a non-empty list of effects")
        return ()
    out = []
    for i, item in enumerate(value):
        p = path + (i,)
        if not isinstance(item, dict) or len(item) != 1:
            f.add(p, f"an effect is a mapping with one key: {', '.join(EFFECTS)}")
            continue
        ((kind, body),) = item.items()
        if kind not in EFFECTS:
            f.add(p + (kind,), f"unknown effect{suggest(kind, EFFECTS)}; use one of {', '.join(EFFECTS)}")
            continue
        effect = EFFECTS[kind](f, body, p + (kind,))
        if effect is not None:
            out.append(dataclasses.replace(effect, line=f.line(p)))
    return tuple(out)


# --------------------------------------------------------------------- rules

RULE_REQUIRED = ("id", "title", "version", "status", "area", "rationale", "references", "when", "then", "tests")
GOVERNANCE = ("author", "reviewed_on", "review_due", "approved_by")
RULE_OPTIONAL = ("evidence",) + GOVERNANCE
#: What a test case may expect (docs/rules.md): ``fires`` is about the case's own rule.
EXPECT_KEYS = (
    "fires",
    "status",
    "format",
    "primary",
    "secondary",
    "flags",
    "not_flags",
    "flag_levels",
    "flag_order",
    "actions",
    "conditions",
    "not_conditions",
    "condition_order",
    "considers",
    "not_considers",
    "considerations",
    "not_considerations",
    "severity",
    "banners",
    "handout",
)


def _tests(f: _File, value: Any, path: tuple[Any, ...]) -> tuple[RuleTest, ...]:
    if not isinstance(value, list):
        f.add(path, "tests: must be a list of test cases")
        return ()
    out = []
    for i, case in enumerate(value):
        p = path + (i,)
        m = f.mapping(case, p, ("name", "intake", "expect"), ())
        if m is None:
            continue
        intake = m.get("intake")
        if not isinstance(intake, dict):
            f.add(p + ("intake",), "must be an intake fragment (a mapping)")
            intake = {}
        expect = f.mapping(m.get("expect"), p + ("expect",), ("fires",), EXPECT_KEYS[1:]) or {}
        if "fires" in expect and not isinstance(expect["fires"], bool):
            f.add(p + ("expect", "fires"), "must be true or false")
        out.append(RuleTest(f.text(m.get("name"), p + ("name",)), intake, dict(expect), f.line(p)))
    return tuple(out)


def _governance(f: _File, m: dict[str, Any], path: tuple[Any, ...], inherited: Governance) -> Governance:
    """The rule's (or file's) maintenance fields over the file's: a date is a YAML date or
    YYYY-MM-DD text, a name non-empty text."""
    fields = {}
    for key in GOVERNANCE:
        if key not in m:
            fields[key] = getattr(inherited, key)
            continue
        value = m[key]
        if key in ("reviewed_on", "review_due"):
            if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
                value = value.isoformat()
            elif not (isinstance(value, str) and _is_date(value)):
                f.add(path + (key,), f"must be a date like 2026-03-31, got {type_name(value)}")
                value = ""
            fields[key] = value
        else:
            fields[key] = f.text(value, path + (key,))
    return Governance(**fields)


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


_NO_GOVERNANCE = Governance()  # a rule in a file that names none


def _rule(f: _File, value: Any, path: tuple[Any, ...], inherited: Governance = _NO_GOVERNANCE) -> Rule | None:
    m = f.mapping(value, path, RULE_REQUIRED, RULE_OPTIONAL)
    if m is None:
        return None
    rid = str(m.get("id", ""))
    if not RULE_ID.match(rid):
        f.add(path + ("id",), "rule ids are UPPER-CASE words joined by '-', e.g. RISK-SI-002")
    version = str(m.get("version", ""))
    if not SEMVER.match(version):
        f.add(path + ("version",), "must be a version like 1.0.0")
    status = m.get("status")
    if status not in ("draft", "active", "retired"):
        f.add(path + ("status",), f"must be draft, active or retired{suggest(status, ('draft', 'active', 'retired'))}")
    evidence = m.get("evidence", "consistent")
    if evidence not in ("consistent", "mixed"):
        f.add(path + ("evidence",), "must be consistent or mixed")
    refs = m.get("references")
    if not isinstance(refs, list) or not refs:
        f.add(path + ("references",), "needs at least one reference (a key of the manifest's sources)")
        refs = []
    return Rule(
        id=rid,
        title=f.text(m.get("title"), path + ("title",)),
        version=version,
        status=str(status),
        area=f.text(m.get("area"), path + ("area",)),
        rationale=f.text(m.get("rationale"), path + ("rationale",)),
        references=tuple(str(r) for r in refs),
        when=parse_condition(f, m.get("when"), path + ("when",)) if "when" in m else All(()),
        then=_effects(f, m.get("then"), path + ("then",)),
        tests=_tests(f, m.get("tests", []), path + ("tests",)),
        evidence=str(evidence),
        file=f.label,
        line=f.line(path),
        governance=_governance(f, m, path, inherited),
    )


def _rules(f: _File) -> list[Rule]:
    root = f.mapping(f.value, (), ("rules",), ("description",) + GOVERNANCE)
    if root is None:
        return []
    inherited = _governance(f, root, (), Governance())
    items = root.get("rules")
    if not isinstance(items, list):
        f.add(("rules",), "must be a list of rules")
        return []
    return [r for i, item in enumerate(items) if (r := _rule(f, item, ("rules", i), inherited)) is not None]


# ------------------------------------------------------------------- loading


def rules_root(directory: str | Path | None = None) -> tuple[Path, str]:
    """The rule-set folder to read, and how messages name it."""
    root = Path(directory) if directory is not None else default_rules_dir()
    return root, _shown(root, directory)


def read_ruleset(
    directory: str | Path | None = None, read: list[str] | None = None
) -> tuple[RuleSet | None, list[Problem]]:
    """Parse a rule-set directory.  Returns the rule set (None if unusable) and
    every structural problem; no meaning-level checks (see ``lint``). ``read`` gets the
    name of every file read, inside the directory."""
    root, shown = rules_root(directory)
    out = ProblemCollector(shown)
    if not (root / MANIFEST).is_file():
        out.add("", f"no {MANIFEST} here: not a rule-set directory")
        return None, out.problems
    digest = hashlib.sha256()
    manifest_file = _File(root / MANIFEST, f"{shown}/{MANIFEST}", out, digest, MANIFEST, read)
    manifest = _manifest(manifest_file)
    facts_file = _File(root / FACTS, f"{shown}/{FACTS}", out, digest, FACTS, read)
    facts = _facts(facts_file)
    rules: list[Rule] = []
    for i, name in enumerate(manifest.get("rule_files", ())):
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            manifest_file.add(("rule_files", i), "must be a path inside the rule-set directory")
            continue
        if not (root / name).is_file():
            manifest_file.add(("rule_files", i), f"file {name!r} not found")
            continue
        rules.extend(_rules(_File(root / name, f"{shown}/{name}", out, digest, name, read)))
    handout: dict[str, Any] = {}
    if manifest.get("handout"):
        name = manifest["handout"]
        if Path(name).is_absolute() or ".." in Path(name).parts or not (root / name).is_file():
            manifest_file.add(("handout",), f"file {name!r} not found inside the rule-set directory")
        else:
            from .handout import parse_handout

            hf = _File(root / name, f"{shown}/{name}", out, digest, name, read)
            handout = {} if hf.broken else parse_handout(hf, hf.value)
            if handout:
                handout["file"] = name
    _unlisted(root, shown, {MANIFEST, FACTS, *manifest.get("rule_files", ()), manifest.get("handout", "")}, out)
    if not manifest or manifest.get("policies") is None:
        return None, out.problems
    ruleset = RuleSet(
        name=manifest["name"],
        version=manifest["version"],
        description=manifest["description"],
        sha256=digest.hexdigest(),
        root=shown,
        facts=facts,
        rules=tuple(rules),
        policies=manifest["policies"],
        flags=manifest["flags"],
        sources=manifest["sources"],
        test_baseline=manifest["test_baseline"],
        max_firings=int(manifest["max_firings"]),
        max_seconds=float(manifest["max_seconds"]),
        handout=handout,
        tables=manifest["tables"],
    )
    return ruleset, out.problems


def _unlisted(root: Path, shown: str, listed: set[str], out: ProblemCollector) -> None:
    """A YAML file in the rule folder that the manifest does not name is never loaded: a
    rule author who adds a file and forgets the manifest must hear about it."""
    listed = {str(Path(n)) for n in listed if n}
    for path in sorted(root.rglob("*.y*ml")):
        rel = path.relative_to(root)
        if path.suffix not in (".yaml", ".yml") or any(part.startswith(".") for part in rel.parts):
            continue
        if str(rel) not in listed:
            out.add(
                "",
                f"not listed in {MANIFEST} (rule_files or handout): this file is not loaded",
                source=f"{shown}/{rel.as_posix()}",
            )


def _shown(root: Path, given: str | Path | None) -> str:
    """How files are named in messages: relative to the working directory when
    the user gave a directory, ``rules`` for the bundled set (never an absolute
    path of this machine in output that may be pasted into tickets)."""
    if given is None:
        return "rules"
    return str(given).rstrip("/") or "."


def load_ruleset(directory: str | Path | None = None, read: list[str] | None = None) -> RuleSet:
    """Load, check and return a rule set; raise ``RuleSetError`` with every problem.
    ``read`` gets the name of every file read (see read_ruleset)."""
    ruleset, problems = lint(directory, read=read)
    if problems or ruleset is None:
        raise RuleSetError(problems or [Problem(_shown(Path("."), directory), None, "", "rule set unusable")])
    return ruleset


def lint(
    directory: str | Path | None = None, engine_check: bool = False, read: list[str] | None = None
) -> tuple[RuleSet | None, list[Problem]]:
    """Every problem of a rule set, structural and meaning-level, sorted.

    ``engine_check`` also loads a clean rule set into a throwaway engine, to catch
    what only durable-rules' own parser refuses (``rules lint`` does this)."""
    from .lint import lint_ruleset

    ruleset, problems = read_ruleset(directory, read)
    if ruleset is not None:
        problems = problems + lint_ruleset(ruleset)
    if ruleset is not None and not problems and engine_check:
        from ..engine.durable_rules import check_loadable

        problems = check_loadable(ruleset)
    return ruleset, sorted(set(problems), key=Problem.sort_key)

"""The rule set as a trainer reads it: entries for browsing, conditions in words (a value
and an effect are worded by :mod:`ipt_advisor.core.wording`, the one place for both).

Everything here is computed from the loaded ``RuleSet`` (labels from ``facts.yaml``,
citations from the manifest, links from ``deps``); nothing is written per rule by hand,
so the catalog cannot drift from the rules it documents.  Used by ``rules list``,
``rules show``, the HTML catalog (``catalog.site``) and the what-if explanations
(``whatif``), which all speak about a condition in the same words.
"""

from __future__ import annotations

import textwrap
from typing import Any

from ..ruleset import deps
from ..core.hints import closest, did_you_mean
from .tables import tables_of
from ..core.model import Cond, All, Derive, Leaf, NEGATION, Not, RaiseFlag, Rule, RuleSet, leaves
from ..core.wording import NOT_RECORDED, describe_effect, effect_words, fact_label, value_words

# The operator of a leaf, in words ("PHQ-9 total" + " is at least " + "16").
_OP_WORDS = {
    "is": "is",
    "is_not": "is not",
    "at_least": "is at least",
    "at_most": "is at most",
    "above": "is above",
    "below": "is below",
    "in": "is one of",
    "not_in": "is none of",
}


# ------------------------------------------------------------------ conditions in words


def leaf_words(leaf: Leaf, ruleset: RuleSet) -> str:
    """One test in words, e.g. ``PHQ-9 total is at least 16``."""
    label = fact_label(ruleset, leaf.fact)
    if leaf.op == "known":
        return f"{label} is recorded"
    if leaf.op == "unknown":
        return f"{label} is {NOT_RECORDED}"
    return f"{label} {_OP_WORDS.get(leaf.op, leaf.op)} {value_words(leaf.value, ruleset.facts.get(leaf.fact))}"


def brief_condition(cond: Cond, ruleset: RuleSet) -> str:
    """A short reading of a simple condition, e.g. ``PHQ-9 total 15-19`` or ``PHQ-9 total 16
    or more``: the bounds of one whole-number fact, as the rule that derived a band states
    them (reports name a band's cut-off from the rule, never from code)."""
    items = [cond] if isinstance(cond, Leaf) else list(cond.items) if isinstance(cond, All) else []
    if (
        items
        and all(isinstance(i, Leaf) and i.op in ("at_least", "at_most", "above", "below") for i in items)
        and len({i.fact for i in items}) == 1  # type: ignore[union-attr]  # all items are leaves (the test above)
    ):
        bounds = {i.op: i.value for i in items}  # type: ignore[union-attr]
        label = fact_label(ruleset, items[0].fact)  # type: ignore[union-attr]
        low = bounds.get("at_least", bounds["above"] + 1 if "above" in bounds else None)
        high = bounds.get("at_most", bounds["below"] - 1 if "below" in bounds else None)
        if low is not None and high is not None:
            return f"{label} {low}-{high}"
        if low is not None:
            return f"{label} {low} or more"
        if "below" in bounds:
            return f"{label} below {bounds['below']}"
        return f"{label} {high} or less"
    return "; ".join(leaf_words(leaf, ruleset) for leaf in leaves(cond))


def condition_tree(cond: Cond, ruleset: RuleSet) -> dict[str, Any]:
    """A condition as nested nodes ``{"kind", "text", "items"|"fact"}`` for templates.

    A ``not`` over one test is folded into the test ("is not", "is below"); a ``not``
    over a group reads "not all of" / "none of", so no double negation is left to decode.
    """
    if isinstance(cond, Leaf):
        return {"kind": "leaf", "text": leaf_words(cond, ruleset), "fact": cond.fact}
    if isinstance(cond, Not):
        inner = cond.item
        if isinstance(inner, Leaf):
            return condition_tree(Leaf(inner.fact, NEGATION[inner.op], inner.value, inner.line), ruleset)
        if isinstance(inner, Not):
            return condition_tree(inner.item, ruleset)
        kind, text = ("not_all", "not all of") if isinstance(inner, All) else ("none", "none of")
        return {"kind": kind, "text": text, "items": [condition_tree(c, ruleset) for c in inner.items]}
    kind, text = ("all", "all of") if isinstance(cond, All) else ("any", "any of")
    return {"kind": kind, "text": text, "items": [condition_tree(c, ruleset) for c in cond.items]}


def condition_lines(cond: Cond, ruleset: RuleSet) -> list[str]:
    """The condition as indented lines: groups end in ":" and list their parts below."""
    out: list[str] = []

    def walk(node: dict[str, Any], pad: str, bullet: str) -> None:
        if node["kind"] == "leaf":
            out.append(f"{pad}{bullet}{node['text']}")
            return
        out.append(f"{pad}{bullet}{node['text']}:")
        # children sit two columns in from the text of their group line
        for child in node["items"]:
            walk(child, pad + " " * len(bullet) + "  ", "- ")

    walk(condition_tree(cond, ruleset), "", "")
    return out


# ------------------------------------------------------------------ entries


def flags_raised(rule: Rule) -> list[str]:
    return list(dict.fromkeys(e.code for e in rule.then if isinstance(e, RaiseFlag)))


def rule_entry(ruleset: RuleSet, rule: Rule) -> dict[str, Any]:
    """A rule's catalog row (the ``rules list --format json`` object, contract decision-v1)."""
    return {
        "id": rule.id,
        "title": rule.title,
        "version": rule.version,
        "status": rule.status,
        "area": rule.area,
        "evidence": rule.evidence,
        "rationale": " ".join(rule.rationale.split()),
        "references": ruleset.citations(rule),
        "tests": len(rule.tests),
        "flags": flags_raised(rule),
        "reads": list(dict.fromkeys(leaf.fact for leaf in leaves(rule.when))),
        "derives": deps.writes(rule),
        "location": rule.location,
    }


def list_rules(
    ruleset: RuleSet, area: str | None = None, flag: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Catalog rows in rule-file order, filtered (exact, case-insensitive match on each filter)."""
    out = []
    for rule in ruleset.rules:
        entry = rule_entry(ruleset, rule)
        if area is not None and entry["area"].lower() != area.lower():
            continue
        if status is not None and entry["status"].lower() != status.lower():
            continue
        if flag is not None and flag.upper() not in entry["flags"]:
            continue
        out.append(entry)
    return out


def find_rule(ruleset: RuleSet, rule_id: str) -> Rule | None:
    """The rule with this id (case-insensitive), or None."""
    for rule in ruleset.rules:
        if rule.id == rule_id or rule.id.lower() == rule_id.lower():
            return rule
    return None


def suggest_rule(ruleset: RuleSet, rule_id: str) -> str:
    """`` (did you mean 'X'?)`` for a mistyped rule id, or nothing."""
    return did_you_mean(closest(rule_id.upper(), [r.id for r in ruleset.rules]))


def rule_detail(ruleset: RuleSet, rule: Rule) -> dict[str, Any]:
    """Everything ``rules show`` and a rule page show: the entry plus condition, effects,
    embedded tests, and which rules feed this one and which it feeds."""
    fed_by, feeds = deps.feeds(ruleset, rule)
    detail = rule_entry(ruleset, rule)
    detail.update(
        {
            "reference_keys": list(rule.references),
            "condition": condition_tree(rule.when, ruleset),
            "condition_text": condition_lines(rule.when, ruleset),
            "effects": [effect_words(e, ruleset) for e in rule.then],
            "effects_code": [describe_effect(e) for e in rule.then],
            # texts used instead for some cases: the first variant whose condition holds
            "effects_variants": [
                [
                    {"when": condition_lines(v.when, ruleset), "text": " ".join(v.text.split())}
                    for v in getattr(e, "variants", ())
                ]
                for e in rule.then
            ],
            "test_cases": [
                {"name": t.name, "intake": t.intake, "expect": t.expect, "line": t.line} for t in rule.tests
            ],
            "fed_by": [_ref(ruleset, rid) for rid in fed_by],
            "feeds": [_ref(ruleset, rid) for rid in feeds],
            "governance": dict(rule.governance.items()),
            "tables": [
                {"name": t.name, "title": t.title} for t in ruleset.tables if t.name in tables_of(ruleset, rule.id)
            ],
        }
    )
    return detail


def _ref(ruleset: RuleSet, rule_id: str) -> dict[str, str]:
    return {"id": rule_id, "title": ruleset.rule(rule_id).title}


def fact_entries(ruleset: RuleSet) -> list[dict[str, Any]]:
    """Every declared fact with the rules that read it (and how) and the rules that derive it."""
    out = []
    for spec in ruleset.facts.values():
        read_by = []
        derived_by = []
        for rule in ruleset.rules:
            tests = [leaf_words(leaf, ruleset) for leaf in leaves(rule.when) if leaf.fact == spec.name]
            if tests:
                read_by.append(
                    {"id": rule.id, "title": rule.title, "status": rule.status, "tests": list(dict.fromkeys(tests))}
                )
            sets = [value_words(e.value) for e in rule.then if isinstance(e, Derive) and e.fact == spec.name]
            if sets:
                derived_by.append({"id": rule.id, "title": rule.title, "status": rule.status, "sets": sets})
        out.append(
            {
                "name": spec.name,
                "label": spec.label,
                "type": spec.type,
                "key": spec.key,
                "source": spec.source,
                "derived": spec.derived,
                "values": [value_words(v) for v in spec.values],
                "range": list(spec.range) if spec.range else None,
                "asked_when": [f"{fact_label(ruleset, f)} is {value_words(v)}" for f, v in spec.asked_when],
                "description": " ".join(spec.description.split()),
                "read_by": read_by,
                "derived_by": derived_by,
            }
        )
    return out


def flag_entries(ruleset: RuleSet) -> list[dict[str, Any]]:
    """Every flag code (declared ones in manifest order, then any only a rule names)."""
    raised: dict[str, list[dict[str, Any]]] = {}
    for rule in ruleset.rules:
        for e in rule.then:
            if isinstance(e, RaiseFlag):
                raised.setdefault(e.code, []).append(
                    {
                        "id": rule.id,
                        "title": rule.title,
                        "status": rule.status,
                        "level": e.level,
                        "action": e.action,
                    }
                )
    codes = list(ruleset.flags) + sorted(c for c in raised if c not in ruleset.flags)
    return [
        {
            "code": code,
            "description": ruleset.flags[code].description if code in ruleset.flags else "",
            "declared": code in ruleset.flags,
            "raised_by": raised.get(code, []),
        }
        for code in codes
    ]


# ------------------------------------------------------------------ text output


def table(rows: list[list[str]], header: list[str]) -> str:
    """An aligned plain-text table; the last column is left ragged."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)] + [str(row[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def list_text(entries: list[dict[str, Any]]) -> str:
    """``rules list`` as an aligned table."""
    header = ["ID", "VERSION", "STATUS", "AREA", "EVIDENCE", "TESTS", "FLAGS", "WHERE", "TITLE"]
    rows = [
        [
            e["id"],
            e["version"],
            e["status"],
            e["area"],
            e["evidence"],
            str(e["tests"]),
            ",".join(e["flags"]) or "-",
            e["location"],
            e["title"],
        ]
        for e in entries
    ]
    return table(rows, header) + f"{len(entries)} rule(s)\n"


def flow(value: Any) -> str:
    """A value as one line of YAML flow style, as a rule file would hold it."""
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000, allow_unicode=True)
        .strip()
        .removesuffix("...")
        .strip()
    )


def show_text(detail: dict[str, Any]) -> str:
    """``rules show``: the whole rule as a trainer reads it."""

    def wrapped(text: str, first: str = "  ") -> str:
        return textwrap.fill(
            " ".join(str(text).split()),
            width=88,
            initial_indent=first,
            subsequent_indent=" " * len(first),
            break_long_words=False,
            break_on_hyphens=False,
        )

    def rule_refs(refs: list[dict[str, str]], none: str) -> list[str]:
        width = max((len(r["id"]) for r in refs), default=0)
        return [f"  {r['id'].ljust(width)}  {r['title']}" for r in refs] or [f"  ({none})"]

    d = detail
    out = [
        f"{d['id']} — {d['title']}",
        f"  status {d['status']} · version {d['version']} · area {d['area']} · evidence {d['evidence']}",
        f"  defined at {d['location']}",
    ]
    if d["governance"]:  # only what the rule files record: nothing is shown for rules without it
        out.append("  " + " · ".join(f"{k.replace('_', ' ')} {v}" for k, v in d["governance"].items()))
    if d["tables"]:
        out.append("  decision table: " + "; ".join(t["title"] for t in d["tables"]))
    out += [
        "",
        "RATIONALE",
        wrapped(d["rationale"]),
        "",
        "REFERENCES",
    ]
    out += [wrapped(c, "  - ") for c in d["references"]] or ["  (none)"]
    out += ["", "WHEN — the rule fires if"]
    out += ["  " + line for line in d["condition_text"]]
    out += ["", "THEN"]
    for effect, variants in zip(d["effects"], d["effects_variants"]):
        out.append(wrapped(effect, "  - "))
        for v in variants:
            if len(v["when"]) == 1:
                out.append(wrapped("instead, when " + v["when"][0], "      "))
            else:
                out += ["      instead, when"] + ["        " + line for line in v["when"]]
            out.append(wrapped(v["text"], "        says: "))
    out += ["", f"TEST CASES ({len(d['test_cases'])}, each merged onto the rule set's test baseline)"]
    for number, case in enumerate(d["test_cases"], 1):
        out.append(f"  {number}. {case['name']}")
        out.append(f"     intake: {flow(case['intake'])}")
        out.append(f"     expect: {flow(case['expect'])}")
    if not d["test_cases"]:
        out.append("  (none)")
    out += ["", "FED BY (rules deriving a fact this rule reads)"]
    out += rule_refs(d["fed_by"], "none: reads intake facts only")
    out += ["", "FEEDS (rules reading a fact this rule derives)"]
    out += rule_refs(d["feeds"], "none")
    return "\n".join(out) + "\n"

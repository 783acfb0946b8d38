"""What a new rule-set version would change, case by case, and which rules are responsible.

    report = run_diff("rules-v1/", "rules-v2/", "intakes.jsonl")

Both versions are loaded side by side in one process (each :class:`~ipt_advisor.advisor.Advisor`
compiles into its own durable-rules ruleset handle, so even two sets with the same
name@version do not collide). Every case of the corpus is assessed under both; a case
*changes* when its format, focus (primary or secondary), flags or status differ.

For each changed case the report names the rules responsible: the rules that fired under
only one of the versions, plus the rules whose content changed and that fired under either.
Rules compare by content (``Rule`` equality ignores the file, the line and the embedded
tests), so moving a rule between files is not a change.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields
from typing import Any

from .workers import ordered_map
from ..intake.corpus import Corpus, RawRecord, parse, redacted_problems
from ..core.errors import EngineError, IntakeError
from ..core.model import Rule, RuleSet

DIFF_VERSION = 1
_RULE_FIELDS = [f.name for f in fields(Rule) if f.compare]


def _rule_brief(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "version": rule.version, "title": rule.title, "status": rule.status}


def rule_changes(old: RuleSet, new: RuleSet) -> dict[str, Any]:
    """Rules added, removed and changed (by id), and whether policies or facts changed."""
    old_rules = {r.id: r for r in old.rules}
    new_rules = {r.id: r for r in new.rules}
    changed = []
    for rid, before in old_rules.items():
        after = new_rules.get(rid)
        if after is None or after == before:
            continue
        changed.append(
            {
                "id": rid,
                "old_version": before.version,
                "new_version": after.version,
                "version_bumped": before.version != after.version,
                "fields": [name for name in _RULE_FIELDS if getattr(before, name) != getattr(after, name)],
            }
        )
    old_facts, new_facts = old.facts, new.facts
    return {
        "added": [_rule_brief(r) for r in new.rules if r.id not in old_rules],
        "removed": [_rule_brief(r) for r in old.rules if r.id not in new_rules],
        "changed": changed,
        "unchanged": sum(1 for rid, r in old_rules.items() if new_rules.get(rid) == r),
        "policies_changed": old.policies != new.policies,
        "governance": _governance_changes(old_rules, new.rules),
        "facts": {
            "added": [n for n in new_facts if n not in old_facts],
            "removed": [n for n in old_facts if n not in new_facts],
            "changed": [n for n in old_facts if n in new_facts and old_facts[n] != new_facts[n]],
        },
    }


def _governance_changes(old_rules: dict[str, Rule], new_rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    """Rules whose maintenance fields (author, reviewed_on, review_due, approved_by) differ,
    or that are new and carry them: they never change a decision, so they are listed apart."""
    out = []
    for rule in new_rules:
        before = old_rules.get(rule.id)
        was = dict(before.governance.items()) if before is not None else {}
        now = dict(rule.governance.items())
        if was != now:
            out.append({"id": rule.id, "before": was, "after": now})
    return out


# --------------------------------------------------------------------------- per case (workers)


def _diff_init(old_dir: str, new_dir: str, changed: frozenset[str]) -> Any:
    from ..advisor import Advisor

    return Advisor.load(old_dir), Advisor.load(new_dir), changed


def _view(decision: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": decision["recommendation"]["format"],
        "focus": {"primary": decision["focus"]["primary"], "secondary": decision["focus"]["secondary"]},
        "flags": [f["code"] for f in decision["flags"]],
        "status": decision["status"],
    }


def _failed(kind: str, record: RawRecord, exc: IntakeError | EngineError) -> tuple[str, Any]:
    """A record the diff could not compare, as its errors line says it."""
    return kind, {
        "source": record.source,
        "line": record.line,
        "kind": kind,
        "problems": redacted_problems(exc.problems),
    }


def _diff_one(state: Any, record: RawRecord) -> tuple[str, Any]:
    old, new, changed_rules = state
    try:
        intake = parse(record)
    except IntakeError as exc:
        return _failed("invalid", record, exc)
    try:
        before_d, after_d = old.assess(intake), new.assess(intake)
    except EngineError as exc:
        return _failed("engine", record, exc)
    before, after = _view(before_d), _view(after_d)
    kinds = [
        k
        for k in ("format", "focus", "flags", "status")
        if (set(before[k]) != set(after[k]) if k == "flags" else before[k] != after[k])
    ]
    if not kinds:
        return "same", None
    fired_before = [t["rule"] for t in before_d["trace"]]
    fired_after = [t["rule"] for t in after_d["trace"]]
    rules = []
    for rid in dict.fromkeys(fired_before + fired_after):
        why = []
        if rid in changed_rules:
            why.append("changed")
        if rid not in fired_after:
            why.append("fired before only")
        elif rid not in fired_before:
            why.append("fired after only")
        if why:
            rules.append({"rule": rid, "why": ", ".join(why)})
    return "changed", {
        "case": intake.case_id,
        "source": record.source,
        "line": record.line,
        "changes": kinds,
        "before": before,
        "after": after,
        "rules": rules,
    }


# --------------------------------------------------------------------------- the run


def _focus_text(focus: dict[str, Any]) -> str:
    areas = [a for a in (focus["primary"], focus["secondary"]) if a]
    return " + ".join(areas) if areas else "none"


def run_diff(old_dir: str, new_dir: str, cases_path: str, *, jobs: int | None = None) -> dict[str, Any]:
    """Compare two rule-set versions on a corpus; raises ``RuleSetError`` or ``CorpusError``."""
    import os

    from ..advisor import Advisor

    old, new = Advisor.load(old_dir), Advisor.load(new_dir)
    corpus = Corpus(cases_path)
    rules = rule_changes(old.ruleset, new.ruleset)
    changed_ids = frozenset(c["id"] for c in rules["changed"])
    jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    counts = {name: Counter() for name in ("format", "focus", "flags_added", "flags_removed", "status", "rules")}  # type: dict[str, Counter[str]]
    changed: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    total = 0
    for results in ordered_map(
        corpus.records(), _diff_init, _diff_one, (old_dir, new_dir, changed_ids), jobs, where=cases_path
    ):
        for kind, payload in results:
            total += 1
            if kind in ("invalid", "engine"):
                invalid.append(payload)
            elif kind == "changed":
                changed.append(payload)
                _count(counts, payload)
    order = {rid: i for i, rid in enumerate([r.id for r in old.ruleset.rules] + [r.id for r in new.ruleset.rules])}
    return {
        "diff_version": DIFF_VERSION,
        "old": _ruleset_info(old.ruleset),
        "new": _ruleset_info(new.ruleset),
        "rules": rules,
        "cases": {
            "input": cases_path,
            "kind": corpus.kind,
            "sha256": corpus.sha256,
            "total": total,
            "assessed": total - len(invalid),
            "invalid": len(invalid),
            "changed": len(changed),
        },
        "counts": {
            name: dict(sorted(c.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)), kv[0])))
            for name, c in counts.items()
        },
        "changed_cases": changed,
        "invalid_cases": invalid,
    }


def _count(counts: dict[str, Counter[str]], case: dict[str, Any]) -> None:
    before, after = case["before"], case["after"]
    if "format" in case["changes"]:
        counts["format"][f"{before['format']} → {after['format']}"] += 1
    if "focus" in case["changes"]:
        counts["focus"][f"{_focus_text(before['focus'])} → {_focus_text(after['focus'])}"] += 1
    if "status" in case["changes"]:
        counts["status"][f"{before['status']} → {after['status']}"] += 1
    counts["flags_added"].update(f for f in after["flags"] if f not in before["flags"])
    counts["flags_removed"].update(f for f in before["flags"] if f not in after["flags"])
    counts["rules"].update(r["rule"] for r in case["rules"])


def _ruleset_info(rs: RuleSet) -> dict[str, Any]:
    return {"name": rs.name, "version": rs.version, "sha256": rs.sha256, "root": rs.root, "rules": len(rs.rules)}


def report_json(report: dict[str, Any]) -> str:
    """The report as stable JSON text (no time inside: same inputs, same bytes)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def render_md(report: dict[str, Any]) -> str:
    """The report as Markdown (``templates/rules_diff.md.j2``)."""
    from .summary import markdown_environment

    template = markdown_environment().get_template("rules_diff.md.j2")
    return template.render(r=report, focus_text=_focus_text)


KINDS = (("format", "Format"), ("focus", "Focus"), ("flags", "Flags"), ("status", "Status"))
# Changed cases listed per kind in the HTML page; every one is in rules-diff.json.
HTML_CASES = 500


def diff_charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The HTML report's charts: changed cases by kind, then each kind's transitions and the
    rules responsible, each with its table."""
    from .dashboard import count_chart, finish_charts

    assessed = report["cases"]["assessed"]
    by_kind = Counter(k for case in report["changed_cases"] for k in case["changes"])
    counts = report["counts"]
    found: list[tuple[str, dict[str, Any] | None]] = [
        ("kinds", count_chart("Changed cases by kind of change", {label: by_kind[k] for k, label in KINDS}, assessed)),
        ("format", count_chart("Format: before → after", counts["format"], assessed)),
        ("focus", count_chart("Primary and secondary focus: before → after", counts["focus"], assessed)),
        ("flags-added", count_chart("Flags raised only after", counts["flags_added"], assessed)),
        ("flags-removed", count_chart("Flags raised only before", counts["flags_removed"], assessed)),
        ("status", count_chart("Status: before → after", counts["status"], assessed)),
        ("rules", count_chart("Rules responsible", dict(list(counts["rules"].items())[:30]), assessed)),
    ]
    return finish_charts(found)


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (``templates/rules_diff.html.j2``): the
    counts as charts, and the changed cases grouped by the kind of change."""
    from .summary import markdown_environment

    groups = {k: [c for c in report["changed_cases"] if k in c["changes"]] for k, _ in KINDS}
    template = markdown_environment().get_template("rules_diff.html.j2")
    return template.render(
        r=report,
        charts=diff_charts(report),
        kinds=KINDS,
        groups={k: g[:HTML_CASES] for k, g in groups.items()},
        totals={k: len(g) for k, g in groups.items()},
        limit=HTML_CASES,
        focus_text=_focus_text,
    )

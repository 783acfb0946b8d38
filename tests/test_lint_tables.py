"""Decision tables and rule governance: lint finds gaps and overlaps in banded rules, and
warns (never fails) on rules past their review date; the catalog shows both.

Each test edits a copy of the shipped rules, so it holds as rules are added.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from cli import cli
from ipt_advisor.report import tables
from ipt_advisor.ruleset.governance import overdue_warnings
from ipt_advisor.ruleset.load import lint, load_ruleset


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count))


def _messages(rules_dir: Path) -> list[str]:
    _, problems = lint(rules_dir)
    return [f"{Path(p.source).name}:{p.line}: {p.path}: {p.message}" for p in problems]


def _rule_block(path: Path, rule_id: str) -> tuple[int, int]:
    text = path.read_text()
    start = text.index(f"  - id: {rule_id}\n")
    end = text.find("\n  - id:", start + 1)
    return start, len(text) if end < 0 else end


def _edit_rule(path: Path, rule_id: str, old: str, new: str) -> None:
    text = path.read_text()
    start, end = _rule_block(path, rule_id)
    block = text[start:end]
    assert old in block, (rule_id, old)
    path.write_text(text[:start] + block.replace(old, new, 1) + text[end:])


# ------------------------------------------------------------------ tables from the rules


def test_the_shipped_tables_are_complete_and_read_like_the_rules() -> None:
    rs = load_ruleset(None)
    by_name = {t.name: tables.table_entry(rs, t) for t in rs.tables}
    kroenke = by_name["kroenke"]
    assert [(r["ranges"], [x["id"] for x in r["rules"]]) for r in kroenke["rows"]] == [
        (["0–4"], ["SEV-KROENKE-MINIMAL"]),
        (["5–9"], ["SEV-KROENKE-MILD"]),
        (["10–14"], ["SEV-KROENKE-MODERATE"]),
        (["15–19"], ["SEV-KROENKE-MODSEVERE"]),
        (["20 or more"], ["SEV-KROENKE-SEVERE"]),
    ]
    assert kroenke["rows"][0]["rules"][0]["conclusion"] == "PHQ-9 band (Kroenke et al. 2001): minimal"
    nice = by_name["nice"]
    assert [r["ranges"] for r in nice["rows"]] == [["0–15"], ["16 or more"]]
    assert "flag MORE_SEVERE (warning)" in nice["rows"][1]["rules"][0]["conclusion"]
    grief = by_name["prolonged_grief"]
    assert grief["given"] == ["Grief (a death) present: yes"]
    assert [(r["ranges"], [x["id"] for x in r["rules"]]) for r in grief["rows"]] == [
        (["5–17", "0–5"], ["FOCUS-GRIEF-RECENT"]),
        (["5–17", "6 or more"], ["FOCUS-PROLONGED-GRIEF-YOUTH"]),
        (["18 or more", "0–11"], ["FOCUS-GRIEF-RECENT"]),
        (["18 or more", "12 or more"], ["FOCUS-PROLONGED-GRIEF"]),
    ]
    assert not any(r["gap"] or r["overlap"] for t in by_name.values() for r in t["rows"])
    # a table that is not complete shows the range without a rule, and is no lint problem
    assert by_name["below_threshold"]["rows"][-1] == {
        "ranges": ["10 or more"],
        "rules": [],
        "gap": False,
        "overlap": False,
    }


def test_a_threshold_edit_leaving_a_12_month_gap_in_prolonged_grief_fails_lint(rules_copy: Path) -> None:
    _edit_rule(
        rules_copy / "focus.yaml",
        "FOCUS-PROLONGED-GRIEF",
        "grief_months: {at_least: 12}",
        "grief_months: {at_least: 24}",
    )
    found = _messages(rules_copy)
    assert len(found) == 1, found
    assert found[0].startswith("ruleset.yaml:")
    assert found[0].endswith(
        "decision_tables.prolonged_grief: no rule covers Age (years) 18 or more, Months "
        "since the death 12–23 (a gap: every value in the facts' ranges needs one rule)"
    )


def test_an_overlap_between_two_bands_fails_lint(rules_copy: Path) -> None:
    _edit_rule(
        rules_copy / "severity.yaml",
        "SEV-KROENKE-MILD",
        "{phq9: {at_least: 5, at_most: 9}}",
        "{phq9: {at_least: 5, at_most: 10}}",
    )
    found = _messages(rules_copy)
    assert any(
        m.endswith(
            "decision_tables.kroenke: rules SEV-KROENKE-MILD and SEV-KROENKE-MODERATE both cover "
            "PHQ-9 total 10 (an overlap)"
        )
        for m in found
    ), found


def test_a_table_must_name_real_rules_and_read_only_its_inputs(rules_copy: Path) -> None:
    _edit(
        rules_copy / "ruleset.yaml",
        "rules: [SPEC-AGE-UNDER-12, PATH-ADOLESCENT]",
        "rules: [SPEC-AGE-UNDER-12, PATH-ADOLESCENTS]",
    )
    _edit(
        rules_copy / "ruleset.yaml",
        "    inputs: [age, grief_months]\n    given: {grief_present: true}\n",
        "    inputs: [age, grief_months]\n",
    )
    found = _messages(rules_copy)
    assert any(m.endswith("decision_tables.age_pathway: rule 'PATH-ADOLESCENTS' does not exist") for m in found)
    assert any(
        m.endswith(
            "decision_tables.prolonged_grief: rule FOCUS-GRIEF-RECENT also reads grief_present: "
            "make it an input or a given fact"
        )
        for m in found
    ), found


def test_a_table_key_mistyped_is_named_with_its_line(rules_copy: Path) -> None:
    _edit(rules_copy / "ruleset.yaml", "    output: kroenke_band\n", "    output: kroenke_band\n    completed: true\n")
    found = _messages(rules_copy)
    assert any("decision_tables.kroenke.completed: unknown key (did you mean 'complete'?)" in m for m in found), found


# ------------------------------------------------------------------ governance


def _with_governance(rules_copy: Path) -> None:
    """severity.yaml kept by one author for the whole file; one rule reviewed with a due date."""
    _edit(rules_copy / "severity.yaml", "rules:\n", "author: Severity working group\nrules:\n")
    _edit_rule(
        rules_copy / "severity.yaml",
        "SEV-NICE-MORE",
        "    version: 1.1.0\n",
        "    version: 1.1.0\n    reviewed_on: 2025-03-01\n    review_due: 2026-03-01\n    approved_by: Dr A. Reviewer\n",
    )


def test_governance_is_read_per_rule_and_per_file(rules_copy: Path) -> None:
    _with_governance(rules_copy)
    rs = load_ruleset(rules_copy)
    more = rs.rule("SEV-NICE-MORE").governance
    assert more.items() == [
        ("author", "Severity working group"),
        ("reviewed_on", "2025-03-01"),
        ("review_due", "2026-03-01"),
        ("approved_by", "Dr A. Reviewer"),
    ]
    assert rs.rule("SEV-NICE-LESS").governance.items() == [("author", "Severity working group")]
    assert rs.rule("RISK-SI-IMMINENT").governance.items() == []
    assert overdue_warnings(rs, datetime.date(2026, 3, 1)) == []
    (late,) = overdue_warnings(rs, datetime.date(2026, 3, 2))
    assert late.path == "SEV-NICE-MORE.review_due" and late.line is not None
    assert late.message == (
        "review overdue: due 2026-03-01, last reviewed 2025-03-01; approved by Dr A. Reviewer (today 2026-03-02)"
    )


def test_a_bad_review_date_is_an_error(rules_copy: Path) -> None:
    _edit_rule(
        rules_copy / "severity.yaml",
        "SEV-NICE-MORE",
        "    version: 1.1.0\n",
        "    version: 1.1.0\n    review_due: next spring\n",
    )
    found = _messages(rules_copy)
    assert any(
        m.startswith("severity.yaml:")
        and m.endswith("].review_due: must be a date like 2026-03-31, got text 'next spring'")
        for m in found
    ), found


def test_rules_lint_warns_on_an_overdue_review_and_still_passes(runner, rules_copy: Path) -> None:
    _with_governance(rules_copy)
    late = runner.invoke(cli, ["rules", "lint", str(rules_copy), "--today", "2026-06-30"])
    assert late.exit_code == 0, late.output
    assert (
        late.stderr.startswith("warning: ")
        and "SEV-NICE-MORE.review_due: review overdue: due 2026-03-01" in late.stderr
    )
    assert "no problems, 1 rule(s) overdue for review" in late.stdout
    on_time = runner.invoke(cli, ["rules", "lint", str(rules_copy), "--today", "2026-01-31"])
    assert on_time.exit_code == 0 and on_time.stderr == "" and "overdue" not in on_time.stdout


def test_rules_diff_lists_maintenance_changes_apart_from_decisions(runner, rules_copy: Path, tmp_path: Path) -> None:
    from conftest import ROOT

    _with_governance(rules_copy)
    out = tmp_path / "out"
    result = runner.invoke(
        cli,
        [
            "rules",
            "diff",
            str(ROOT / "rules"),
            str(rules_copy),
            "--cases",
            str(ROOT / "tests" / "files" / "corpus" / "threshold.jsonl"),
            "-o",
            str(out),
            "--jobs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "rules-diff.json").read_text())
    assert report["rules"]["changed"] == [] and report["cases"]["changed"] == 0
    more = next(g for g in report["rules"]["governance"] if g["id"] == "SEV-NICE-MORE")
    assert more == {
        "id": "SEV-NICE-MORE",
        "before": {},
        "after": {
            "author": "Severity working group",
            "reviewed_on": "2025-03-01",
            "review_due": "2026-03-01",
            "approved_by": "Dr A. Reviewer",
        },
    }
    md = (out / "rules-diff.md").read_text()
    assert "### Maintenance (author, review, approval)" in md
    assert "| `SEV-NICE-MORE` | Severity working group | 2025-03-01 | 2026-03-01 | Dr A. Reviewer |" in md


def test_rules_show_names_the_maintenance_fields_and_the_table(runner, rules_copy: Path) -> None:
    _with_governance(rules_copy)
    out = runner.invoke(cli, ["rules", "show", "SEV-NICE-MORE", "--rules", str(rules_copy)]).stdout
    assert (
        "  author Severity working group · reviewed on 2025-03-01 · review due 2026-03-01 · "
        "approved by Dr A. Reviewer\n  decision table: Depression severity (NICE NG222)\n"
    ) in out
    plain = runner.invoke(cli, ["rules", "show", "RISK-SI-IMMINENT", "--rules", str(rules_copy)]).stdout
    assert "author" not in plain.split("RATIONALE")[0] and "decision table" not in plain


def test_a_collect_table_lists_every_rule_of_a_row() -> None:
    """The social anxiety table (hit policy collect): the flag and the group's preparation
    apply together, so two rules in a row are no overlap."""
    rs = load_ruleset(None)
    (table,) = [t for t in rs.tables if t.name == "social_anxiety"]
    entry = tables.table_entry(rs, table)
    assert entry["hit_policy"] == "collect"
    rows = {tuple(r["ranges"]): [x["id"] for x in r["rules"]] for r in entry["rows"]}
    assert rows[("0–18", "none or mild")] == []
    assert rows[("19–40", "none, mild or moderate")] == ["FMT-SOCIAL-ANXIETY", "FMT-SOCIAL-ANXIETY-PREPARE"]
    assert rows[("41 or more", "any")] == ["FMT-SOCIAL-ANXIETY", "FMT-SOCIAL-ANXIETY-SEVERE-WILLING"]
    assert not any(r["overlap"] or r["gap"] for r in entry["rows"])

"""`ipt-advisor rules diff`: two rule-set versions side by side, the cases that change and why.

The second version is made in a fixture from the *current* rules/ by one text edit (the NICE
"more severe" cut-off moves from PHQ-9 16 to 15), so the test keeps working as rules are
added. tests/files/corpus/threshold.jsonl holds cases at PHQ-9 14, 15 and 16 around it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from cli import cli
from conftest import ROOT

CASES = ROOT / "tests" / "files" / "corpus" / "threshold.jsonl"
CHANGED = ["D-15", "D-15-ASKS-GROUP", "D-15-NO-CSSRS"]


@pytest.fixture
def rules_v2(tmp_path: Path) -> Path:
    """The current rule set with NICE "more severe" at PHQ-9 15 instead of 16."""
    target = tmp_path / "rules_v2"
    shutil.copytree(ROOT / "rules", target)
    severity = target / "severity.yaml"
    text = severity.read_text()
    for old, new in (
        ("{phq9: {below: 16}}", "{phq9: {below: 15}}"),
        ("{phq9: {at_least: 16}}", "{phq9: {at_least: 15}}"),
    ):
        assert text.count(old) == 1, f"the NICE threshold is no longer written as {old!r} in rules/severity.yaml"
        text = text.replace(old, new)
    severity.write_text(text)
    return target


def diff(runner, old: Path, new: Path, *extra: str):
    return runner.invoke(cli, ["rules", "diff", str(old), str(new), "--cases", str(CASES), *extra])


def test_one_threshold_changes_exactly_the_cases_at_the_threshold(runner, tmp_path: Path, rules_v2: Path) -> None:
    out = tmp_path / "out"
    result = diff(runner, ROOT / "rules", rules_v2, "-o", str(out), "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("3 of 6 cases change (0 invalid)")
    report = json.loads((out / "rules-diff.json").read_text())
    assert [c["case"] for c in report["changed_cases"]] == CHANGED
    rules = report["rules"]
    assert rules["added"] == [] and rules["removed"] == []
    assert [(c["id"], c["fields"], c["version_bumped"]) for c in rules["changed"]] == [
        ("SEV-NICE-LESS", ["when"], False),
        ("SEV-NICE-MORE", ["when"], False),
    ]
    assert rules["policies_changed"] is False
    d15 = report["changed_cases"][0]
    assert d15["changes"] == ["format", "flags"]
    assert (d15["before"]["format"], d15["after"]["format"]) == ("group", "individual")
    assert "MORE_SEVERE" in d15["after"]["flags"] and "MORE_SEVERE" not in d15["before"]["flags"]
    why = {r["rule"]: r["why"] for r in d15["rules"]}
    assert why["SEV-NICE-LESS"] == "changed, fired before only"
    assert why["SEV-NICE-MORE"] == "changed, fired after only"
    assert why["FMT-GROUP-DEFAULT"] == "fired before only"
    assert why["FMT-SEVERE-INDIVIDUAL"] == "fired after only"
    assert report["counts"]["format"] == {"group → individual": 1}
    assert report["counts"]["flags_added"]["MORE_SEVERE"] == 3
    assert report["cases"] == {
        "input": str(CASES),
        "kind": "jsonl",
        "sha256": report["cases"]["sha256"],
        "total": 6,
        "assessed": 6,
        "invalid": 0,
        "changed": 3,
    }
    for name in ("rules-diff.json", "rules-diff.md", "rules-diff.html"):
        assert (out / name).stat().st_mode & 0o777 == 0o600
    md = (out / "rules-diff.md").read_text()
    assert "**3 of 6 cases change**" in md
    v = rules["changed"][1]["old_version"]
    assert f"| `SEV-NICE-MORE` | changed | {v} | {v} | when — **version not bumped** |" in md
    assert "| group → individual | 1 |" in md
    html = (out / "rules-diff.html").read_text()
    assert "<script" not in html and "default-src 'none'" in html
    # the counts as charts, each titled, with its table
    for ident in ("kinds", "format", "flags-added"):
        assert f'<title id="chart-{ident}-title">' in html, ident
    kinds = html[html.index('id="kinds"') :]
    kinds = kinds[: kinds.index("</figure>")]
    assert '<th scope="row"><code>Format</code></th><td class="num">1</td>' in kinds
    assert '<th scope="row"><code>Flags</code></th><td class="num">3</td>' in kinds
    assert "<code>Status</code>" not in kinds  # no case changes status: no row
    # the changed cases grouped by kind: a case changing format and flags is in both groups
    flags = html[html.index('id="changed-flags"') :]
    assert html.index('id="changed-format"') < html.index('id="changed-flags"')
    assert all(f"<code>{case}</code>" in flags for case in CHANGED)
    assert 'id="changed-status"' not in html


def test_markdown_to_stdout_and_fail_on_change(runner, rules_v2: Path) -> None:
    result = diff(runner, ROOT / "rules", rules_v2, "--fail-on-change")
    assert result.exit_code == 1
    assert result.stdout.startswith("# Rule-set impact: ")
    for case in CHANGED:
        assert f"| `{case}` |" in result.stdout
    assert "| `D-14` |" not in result.stdout and "| `D-16` |" not in result.stdout


def test_same_rules_no_change_exit_0_even_with_fail_on_change(runner, rules_copy: Path) -> None:
    result = diff(runner, ROOT / "rules", rules_copy, "--fail-on-change")
    assert result.exit_code == 0, result.output
    assert "**0 of 6 cases change**" in result.stdout
    assert "No rule was added, removed or changed" in result.stdout


def test_added_and_removed_rules_are_listed(runner, tmp_path: Path, rules_v2: Path) -> None:
    from ipt_advisor.ruleset.load import load_ruleset
    from ipt_advisor.audit.ruleset_diff import rule_changes

    old, new = load_ruleset(ROOT / "rules"), load_ruleset(rules_v2)
    changes = rule_changes(old, new)
    assert [c["id"] for c in changes["changed"]] == ["SEV-NICE-LESS", "SEV-NICE-MORE"]
    reverse = rule_changes(new, old)
    assert [c["id"] for c in reverse["changed"]] == ["SEV-NICE-LESS", "SEV-NICE-MORE"]
    trimmed = rule_changes(old, dataclasses.replace(old, rules=old.rules[1:]))
    assert [r["id"] for r in trimmed["removed"]] == [old.rules[0].id] and trimmed["added"] == []
    assert changes["unchanged"] == len(old.rules) - 2


def test_broken_new_rule_set_exit_4(runner, rules_copy: Path) -> None:
    (rules_copy / "severity.yaml").write_text("rules: [{id: X}]\n")
    result = diff(runner, ROOT / "rules", rules_copy)
    assert result.exit_code == 4
    assert "Traceback" not in result.output and result.stderr


def test_unreadable_cases_exit_1(runner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["rules", "diff", str(ROOT / "rules"), str(ROOT / "rules"), "--cases", str(tmp_path / "none.csv")]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{tmp_path}/none.csv: cannot read file: No such file or directory"]


def test_invalid_cases_are_reported_not_fatal(runner, tmp_path: Path, rules_v2: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        cli,
        [
            "rules",
            "diff",
            str(ROOT / "rules"),
            str(rules_v2),
            "--cases",
            str(ROOT / "tests" / "files" / "corpus" / "intakes.jsonl"),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "rules-diff.json").read_text())
    assert report["cases"]["invalid"] == 3
    assert [c["line"] for c in report["invalid_cases"]] == [3, 8, 12]
    assert "MARKER-NOTES-7731" not in (out / "rules-diff.md").read_text()
    assert "MARKER-NOTES-7731" not in (out / "rules-diff.html").read_text()
    assert sorted(os.listdir(out)) == ["rules-diff.html", "rules-diff.json", "rules-diff.md"]

"""Every bundled example: a decision that fits the decision-v1 JSON Schema, the
path it is meant to take, and golden text/HTML reports.

Golden files are regenerated deliberately with ``UPDATE_GOLDEN=1 make test``;
review the diff like any other change to what a clinician reads.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

from conftest import EXAMPLES, ROOT
from ipt_advisor import __version__
from ipt_advisor.intake.schema import load_intake_file

SCHEMA = json.loads((ROOT / "docs" / "decision-v1.schema.json").read_text())
GOLDEN = ROOT / "tests" / "files" / "golden"

# The path each example is written to take (its header comment says why).
EXPECTED = {
    "adolescent.yaml": ("complete", "individual", "ADOLESCENT"),
    "defer-safety.yaml": ("complete", "defer", "SUICIDE_IMMINENT"),
    "demo.yaml": ("complete", "group", "SUICIDE_IDEATION"),
    "group.yaml": ("complete", "group", None),
    "incomplete.yaml": ("incomplete", "defer", "RISK_ASSESSMENT_MISSING"),
    "individual.yaml": ("complete", "individual", "REFUSES_GROUP"),
    "severe-prefers-group.yaml": ("complete", "group", "CLINICIAN_REVIEW"),
    "specialist.yaml": ("complete", "defer", "PSYCHOSIS_OR_MANIA"),
    "two-areas.yaml": ("complete", "group", None),
}


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_decision_fits_schema_and_path(advisor, path: Path) -> None:
    decision = advisor.assess(load_intake_file(_relative(path)))
    jsonschema.validate(decision, SCHEMA)
    status, fmt, flag = EXPECTED[path.name]
    assert decision["status"] == status
    assert decision["recommendation"]["format"] == fmt
    if flag is not None:
        assert flag in {f["code"] for f in decision["flags"]}
        # the file's header comment says the same as this table
        header = path.read_text(encoding="utf-8").split("intake_version")[0]
        assert flag in header, f"{path.name}: the header comment does not name {flag}"


def test_examples_cover_the_required_paths(advisor) -> None:
    # from what the rules decide, not from the table above
    decisions = {p.name: advisor.assess(load_intake_file(_relative(p))) for p in EXAMPLES}
    assert {d["recommendation"]["format"] for d in decisions.values()} >= {"group", "individual", "defer"}
    assert {d["status"] for d in decisions.values()} == {"complete", "incomplete"}
    two_areas = decisions["two-areas.yaml"]["focus"]
    assert two_areas["primary"] and two_areas["secondary"]


GOLDEN_NAMES = ["demo", "incomplete", "defer-safety", "severe-prefers-group"]


def normalised(text: str, ruleset_name: str) -> str:
    """A report with its provenance - rule-set version and hash, tool version - replaced by
    placeholders: golden files pin what the report says, and provenance is tested on its own
    (``test_reports_state_their_provenance``), so a comment added to a rule file changes the
    hash but fails no golden report."""
    text = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)
    text = re.sub(r"\b[0-9a-f]{12}…", "<sha256>…", text)
    text = re.sub(re.escape(ruleset_name) + r" \d+\.\d+\.\d+\b", f"{ruleset_name} <version>", text)
    return re.sub(r"ipt-advisor \d+\.\d+\.\d+\S*", "ipt-advisor <version>", text)


def render_example(advisor, monkeypatch, name: str, fmt: str) -> str:
    monkeypatch.chdir(ROOT)  # the report names its intake by the path given
    return advisor.report(load_intake_file(f"examples/{name}.yaml"), fmt, __version__)[1]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
@pytest.mark.parametrize("fmt,ext", [("text", "txt"), ("html", "html")])
def test_golden_reports(advisor, monkeypatch, name: str, fmt: str, ext: str) -> None:
    text = render_example(advisor, monkeypatch, name, fmt)
    golden = GOLDEN / f"{name}.{ext}"
    same = golden.exists() and normalised(golden.read_text(), advisor.ruleset.name) == normalised(
        text, advisor.ruleset.name
    )
    if os.environ.get("UPDATE_GOLDEN") and not same:
        # rewritten only when what the report says changed, and reported as such: review the diff
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
        pytest.skip(f"rewrote {golden.relative_to(ROOT)}: review `git diff` before committing it")
    assert golden.exists(), f"missing {golden.name}: run UPDATE_GOLDEN=1 make test and review the diff"
    assert normalised(text, advisor.ruleset.name) == normalised(golden.read_text(), advisor.ruleset.name)


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_reports_state_their_provenance(advisor, monkeypatch, name: str) -> None:
    """What the golden comparison leaves out, checked on its own: every report names the rule
    set, its version and hash, and the tool version that made it."""
    rs = advisor.ruleset
    text = render_example(advisor, monkeypatch, name, "text")
    assert f"Rule set {rs.name} {rs.version}; generated by ipt-advisor {__version__}\n  sha256 {rs.sha256}\n" in text
    html = render_example(advisor, monkeypatch, name, "html")
    assert f"{rs.name} {rs.version}" in html and rs.sha256 in html and f"ipt-advisor {__version__}" in html


def test_a_comment_in_a_rule_file_changes_the_hash_not_the_reports(rules_copy, monkeypatch) -> None:
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.ruleset.load import load_ruleset

    path = rules_copy / "safety.yaml"
    path.write_text("# a reviewer's note\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    commented = Advisor(load_ruleset(rules_copy))
    assert commented.ruleset.sha256 != Advisor.load().ruleset.sha256
    for name in GOLDEN_NAMES:
        text = render_example(commented, monkeypatch, name, "text")
        assert normalised(text, commented.ruleset.name) == normalised(
            (GOLDEN / f"{name}.txt").read_text(), commented.ruleset.name
        )
    # while a change of meaning does fail the comparison
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "action: Same-day safety assessment; urgent specialist referral",
            "action: Safety assessment within a week; specialist referral",
        ),
        encoding="utf-8",
    )
    changed = render_example(Advisor(load_ruleset(rules_copy)), monkeypatch, "defer-safety", "text")
    assert normalised(changed, commented.ruleset.name) != normalised(
        (GOLDEN / "defer-safety.txt").read_text(), commented.ruleset.name
    )

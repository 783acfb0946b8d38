"""Questions about a decision: ``explain --set`` (what if) and ``assess --why-not``.

Both are checked against independent computations: a what-if must agree with
assessing an edited copy of the intake, and every "why not" claim is re-checked
against the rule conditions (format outcomes, three-valued leaf truth).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from cli import cli
from conftest import EXAMPLES, ROOT
from ipt_advisor import whatif
from ipt_advisor.decision.decide import format_outcome
from ipt_advisor.ruleset.evaluate import leaf_truth
from ipt_advisor.intake.facts import input_values
from ipt_advisor.intake.schema import load_intake_file
from ipt_advisor.report.words import leaf_words
from ipt_advisor.core.model import leaves, nnf

FORMATS = ("group", "individual", "defer")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def edited_copy(path: Path, tmp_path: Path, changes: dict[str, object]) -> Path:
    """The intake with ``changes`` written into the YAML by hand: the independent oracle."""
    record = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        target = record
        *parents, last = dotted.split(".")
        for part in parents:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[last] = value
    out = tmp_path / path.name
    out.write_text(yaml.safe_dump(record, sort_keys=False))
    return out


def expected_summary(decision: dict) -> dict:
    """What a what-if shows of a decision, stated here from the decision's own fields
    (not with ``whatif.summary``, which would make the comparison hold whatever it did)."""
    return {
        "status": decision["status"],
        "format": decision["recommendation"]["format"],
        "because": [reason["rule"] for reason in decision["recommendation"]["reasons"]],
        "focus": [area for area in (decision["focus"]["primary"], decision["focus"]["secondary"]) if area],
        "flags": [f"{flag['code']} ({flag['level']})" for flag in decision["flags"]],
        "conditions": decision["recommendation"]["conditions"],
    }


# ------------------------------------------------------------------ explain --set


def test_parse_change_reads_yaml_scalars() -> None:
    assert whatif.parse_change("risk.cssrs.intent=true") == ("risk.cssrs.intent", True)
    assert whatif.parse_change("measures.phq9=16") == ("measures.phq9", 16)
    assert whatif.parse_change("risk.cssrs=null") == ("risk.cssrs", None)
    assert whatif.parse_change("measures.spin=") == ("measures.spin", None)
    assert whatif.parse_change("preferences.format=group") == ("preferences.format", "group")
    with pytest.raises(whatif.ChangeError, match="did you mean 'risk.cssrs.intent'"):
        whatif.parse_change("risk.cssrs.intnet=true")
    with pytest.raises(whatif.ChangeError, match="expected dotted.path=VALUE"):
        whatif.parse_change("risk.cssrs.intent")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "changes",
    [
        {"measures.phq9": 22},
        {"preferences.format": "individual", "findings.group_discomfort": "severe"},
        {"risk.cssrs": None},
    ],
    ids=["phq9", "prefers-individual", "no-cssrs"],
)
def test_explain_agrees_with_assessing_an_edited_copy(runner, advisor, tmp_path, path, changes) -> None:
    args = ["explain", rel(path), "--format", "json"]
    for key, value in changes.items():
        args += ["--set", f"{key}={yaml.safe_dump(value).strip().removesuffix('...').strip()}"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    before = advisor.assess(load_intake_file(str(path)))
    after = advisor.assess(load_intake_file(str(edited_copy(path, tmp_path, changes))))
    assert got["before"] == expected_summary(before)
    assert got["after"] == expected_summary(after)
    fired_before = [t["rule"] for t in before["trace"]]
    fired_after = [t["rule"] for t in after["trace"]]
    assert [r["rule"] for r in got["fired_only_before"]] == [r for r in fired_before if r not in fired_after]
    assert [r["rule"] for r in got["fired_only_after"]] == [r for r in fired_after if r not in fired_before]
    assert got["differs"] == [k for k in got["before"] if got["before"][k] != got["after"][k]]
    if "risk.cssrs" in changes:  # removing the screen always withholds a format
        assert got["after"]["status"] == "incomplete" and got["after"]["format"] == "defer"


def test_one_risk_answer_flips_group_to_defer(runner, advisor) -> None:
    intake = load_intake_file("examples/group.yaml")
    data, source = whatif.read_input("examples/group.yaml")
    changes = [whatif.parse_change("risk.cssrs.intent=true")]
    before, after = whatif.apply_changes(data, source, changes)
    assert before == intake
    result = whatif.explain_change(advisor, before, after, changes)
    assert (result["before"]["format"], result["after"]["format"]) == ("group", "defer")
    assert "RISK-SI-IMMINENT" in [r["rule"] for r in result["fired_only_after"]]
    assert "RISK-SI-IMMINENT" in result["after"]["because"]
    changed = {f["key"]: (f["before"], f["after"]) for f in result["changed_facts"]}
    assert changed["risk.cssrs.intent"] == (None, True)
    assert changed["suicide_risk"] == ([], ["imminent"])

    text = runner.invoke(cli, ["explain", "examples/group.yaml", "--set", "risk.cssrs.intent=true"]).stdout
    # Q2 was "no", so Q4 was rightly skipped: "not asked", never "not assessed"
    assert text.startswith("WHAT IF — case EX-GROUP-01: risk.cssrs.intent = yes (was not asked)\n")
    format_row = next(line for line in text.splitlines() if line.startswith("* format"))
    assert format_row.split() == ["*", "format", "group", "defer"]
    assert "C-SSRS Q4: intent to act (risk.cssrs.intent): not asked -> yes" in text
    assert "RULES THAT FIRED ONLY AFTER\n  RISK-SI-IMMINENT" in text


def test_removing_the_screen_with_null(runner) -> None:
    result = runner.invoke(cli, ["explain", "examples/demo.yaml", "--set", "risk.cssrs=null", "--format", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["changes"][0]["path"] == "risk.cssrs" and got["changes"][0]["after"] is None
    assert "RISK-CSSRS-MISSING" in [r["rule"] for r in got["fired_only_after"]]
    assert "RISK_ASSESSMENT_MISSING (critical)" in got["after"]["flags"]


def test_a_change_that_changes_nothing_says_so(runner) -> None:
    result = runner.invoke(cli, ["explain", "examples/group.yaml", "--set", "measures.phq9=11"])
    assert result.exit_code == 0
    assert "The decision does not change." in result.stdout
    assert "FACTS THAT CHANGED\n  (none the rules read)" in result.stdout


def test_explain_reads_stdin(runner) -> None:
    text = (ROOT / "examples" / "group.yaml").read_text()
    result = runner.invoke(cli, ["explain", "-", "--set", "preferences.format=individual"], input=text)
    assert result.exit_code == 0, result.output
    assert "* format      group" in result.stdout and "individual" in result.stdout


@pytest.mark.parametrize(
    "args, code, lines",
    [
        (
            ["--set", "risk.cssrs.intnt=true"],
            2,
            ["--set: risk.cssrs.intnt: not an intake field (did you mean 'risk.cssrs.intent'?)"],
        ),
        (["--set", "phq9"], 2, ["--set: phq9: expected dotted.path=VALUE, e.g. risk.cssrs.intent=true"]),
        (
            ["--set", "measures.phq9=99", "--set", "risk.cssrs.intent=maybe"],
            3,
            [
                "--set: measures.phq9: must be a whole number from 0 to 27, got 99",
                "--set: risk.cssrs.intent: must be true or false, got 'maybe' (text)",
            ],
        ),
    ],
)
def test_explain_errors_one_line_each(runner, args, code, lines) -> None:
    result = runner.invoke(cli, ["explain", "examples/group.yaml", *args])
    assert result.exit_code == code
    assert result.stderr.splitlines() == lines
    assert result.stdout == ""


def test_explain_on_an_invalid_intake_names_the_file(runner, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("intake_version: 1\nid: X\nassessed_on: 2026-01-01\nage: 200\nmeasures: {phq9: 3}\n")
    result = runner.invoke(cli, ["explain", str(bad), "--set", "measures.phq9=4"])
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [f"{bad}:4: age: must be a whole number from 5 to 120, got 200"]


# ------------------------------------------------------------------ why not


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("target", FORMATS)
def test_why_not_claims_hold_against_the_rules(advisor, path, target) -> None:
    rs = advisor.ruleset
    precedence = rs.policies.format_precedence
    intake = load_intake_file(str(path))
    decision = advisor.assess(intake)
    actual = decision["recommendation"]["format"]
    got = whatif.why_not(advisor, intake, decision, target)
    assert got["is_decision"] is (actual == target)
    if actual == target:
        assert got["kept_by"] == [] and got["candidates"] == []
        return
    fired = [t["rule"] for t in decision["trace"]]
    values, derived = input_values(intake, rs), whatif.derived_values(decision, rs)
    # kept_by: exactly the fired rules asking for something more restrictive than the target
    expected = [
        (rid, fmt)
        for rid in dict.fromkeys(fired)
        for e in rs.rule(rid).then
        if (fmt := format_outcome(rs.rule(rid), e, precedence)) and precedence.index(fmt) < precedence.index(target)
    ]
    assert [(k["rule"], k["asks"]) for k in got["kept_by"]] == expected
    if precedence.index(actual) < precedence.index(target) and decision["recommendation"]["reasons"][0]["rule"]:
        assert got["kept_by"], "a more restrictive decision must name the rules behind it"
    for k in got["kept_by"]:
        read = {leaf.fact for leaf in leaves(rs.rule(k["rule"]).when)}
        assert k["facts"] and {f["fact"] for f in k["facts"]} <= read
    # candidates: every active rule that would choose the target, once
    choosers = [r.id for r in rs.active_rules if any(format_outcome(r, e, precedence) == target for e in r.then)]
    assert [c["rule"] for c in got["candidates"]] == choosers
    for c in got["candidates"]:
        assert c["fired"] is (c["rule"] in fired)
        if not c["fired"]:
            assert c["blocking"], f"{c['rule']} did not fire: something must block it"
            tests = {leaf_words(leaf, rs): leaf for leaf in leaves(nnf(rs.rule(c["rule"]).when))}
            for b in c["blocking"]:
                leaf = tests[b["test"]]  # the words name a real test of the rule
                assert b["truth"] in (False, None)
                assert leaf_truth(leaf, values, derived) == b["truth"]


def test_why_not_names_the_imminent_risk(runner) -> None:
    result = runner.invoke(cli, ["assess", "examples/defer-safety.yaml", "--why-not", "group"])
    assert result.exit_code == 0, result.output
    report, _, why = result.stdout.partition("WHY NOT GROUP?")
    assert "RECOMMENDATION" in report  # the normal report comes first
    assert "The decision is defer" in why
    kept = why.split("Rules that would choose group:")[0]
    assert "RISK-SI-IMMINENT" in kept and "because: C-SSRS Q4: intent to act = yes" in kept


def test_why_not_explains_rules_that_did_not_fire(runner) -> None:
    out = runner.invoke(cli, ["assess", "examples/group.yaml", "--why-not", "individual"]).stdout
    why = out.split("WHY NOT INDIVIDUAL?")[1]
    assert "No rule that fired asked for something more restrictive than individual." in why
    block = re.split(r"\n  (?=\S)", why.split("FMT-REFUSES-GROUP")[1])[0]  # up to the next rule
    assert "Preferred format is individual — false: recorded as either" in block


def test_why_not_the_decision_itself(runner) -> None:
    out = runner.invoke(cli, ["assess", "examples/group.yaml", "--why-not", "group"]).stdout
    assert out.rstrip().endswith("The decision IS group (Group IPT): nothing kept it away.")


def test_why_not_says_not_asked_rather_than_not_assessed(advisor) -> None:
    intake = load_intake_file("examples/group.yaml")  # Q2 "no": Q3-Q5 rightly not asked
    got = whatif.why_not(advisor, intake, advisor.assess(intake), "defer")
    imminent = next(c for c in got["candidates"] if c["rule"] == "RISK-SI-IMMINENT")
    intent = next(b for b in imminent["blocking"] if b["fact"] == "cssrs_intent")
    assert intent["truth"] is None
    assert intent["actual"] == "not asked (asked only when C-SSRS Q2: active suicidal thoughts is yes)"


@pytest.mark.parametrize("path", EXAMPLES[:5], ids=lambda p: p.name)
def test_why_not_json_and_md(runner, path) -> None:
    plain = json.loads(runner.invoke(cli, ["assess", rel(path), "--format", "json"]).stdout)
    target = "individual" if plain["recommendation"]["format"] != "individual" else "group"
    result = runner.invoke(cli, ["assess", rel(path), "--format", "json", "--why-not", target])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["decision"] == plain and got["why_not"]["target"] == target
    md = runner.invoke(cli, ["assess", rel(path), "--format", "md", "--why-not", target]).stdout
    assert f"\n## Why not {target}?\n" in md and md.startswith("# IPT advisor report")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--why-not", "indiv"], "did you mean 'individual'?"),
        (["--why-not", "group", "--format", "html"], "works with --format text, md or json, not html"),
    ],
)
def test_why_not_usage_errors(runner, args, message) -> None:
    result = runner.invoke(cli, ["assess", "examples/demo.yaml", *args])
    assert result.exit_code == 2
    assert message in result.stderr

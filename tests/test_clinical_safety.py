"""Clinical safety v2 (issue 10): recorded risk is never hidden, the most urgent thing comes
first, and every sentence a rule prints is true of the case.

Each test below reproduces one defect found when the v1 rules were tried as a supervising
clinician would (the defect is named in its docstring); each failed on v1.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from conftest import ROOT
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import from_mapping, load_intake_file
from ipt_advisor.report.render import render
from ipt_advisor.ruletests import merge

BASE: dict[str, Any] = {
    "intake_version": 1,
    "id": "SAFE-1",
    "assessed_on": "2026-10-01",
    "age": 40,
    "measures": {"phq9": 12, "phq9_item9": 0},
    "risk": {"cssrs": {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}},
    "findings": {"role_transition": {"present": True, "onset_linked": True}},
}
FORMATS = ("text", "md", "html")


def intake(fragment: dict[str, Any]) -> Any:
    return from_mapping(merge(copy.deepcopy(BASE), fragment), None, "safety.yaml")


def assess(fragment: dict[str, Any], rules: Path | None = None) -> dict[str, Any]:
    return (Advisor.load(rules) if rules else Advisor.load()).assess(intake(fragment))


def report(fragment: dict[str, Any], fmt: str = "text", rules: Path | None = None) -> str:
    advisor = Advisor.load(rules) if rules else Advisor.load()
    i = intake(fragment)
    return render(advisor.view(advisor.assess(i), i, "test"), fmt)


def codes(decision: dict[str, Any]) -> list[str]:
    return [f["code"] for f in decision["flags"]]


def page_one(text: str) -> str:
    """The text report up to the appendix (printed on a new page after a form feed)."""
    assert text.count("\f") == 1
    return text.split("\f")[0]


# ------------------------------------------------------------------ 1. recorded risk always counts


def test_item9_of_3_without_a_cssrs_raises_ideation_and_is_shown() -> None:
    """v1: only RISK_ASSESSMENT_MISSING; item 9 = 3 appeared nowhere in the report."""
    fragment = {"measures": {"phq9": 12, "phq9_item9": 3}, "risk": {"cssrs": None}}
    decision = assess(fragment)
    assert decision["status"] == "incomplete" and decision["recommendation"]["format"] == "defer"
    assert codes(decision) == ["RISK_ASSESSMENT_MISSING", "SUICIDE_IDEATION"]
    first = page_one(report(fragment))
    assert re.search(r"PHQ-9 item 9 \(thoughts of death or self-harm\) \.+ 3 \(nearly every day\)", first)


def test_q1_to_q3_yes_with_q4_q5_blank_raises_ideation_with_an_urgent_action() -> None:
    """v1: no SUICIDE_IDEATION when Q4/Q5 were blank."""
    decision = assess({"risk": {"cssrs": {"wish_dead": True, "active_thoughts": True, "method": True}}})
    assert codes(decision) == ["RISK_ASSESSMENT_MISSING", "SUICIDE_IDEATION"]
    ideation = next(f for f in decision["flags"] if f["code"] == "SUICIDE_IDEATION")
    assert "screen is incomplete" in ideation["action"] and "today" in ideation["action"]


@pytest.mark.parametrize("answer", ["intent", "plan", "behavior_3m"])
def test_a_recorded_imminent_answer_counts_in_a_partial_screen(answer: str) -> None:
    cssrs = {"wish_dead": None, "active_thoughts": True, answer: True}
    decision = assess({"risk": {"cssrs": cssrs}})
    assert decision["status"] == "incomplete"
    assert codes(decision)[:2] == ["SUICIDE_IMMINENT", "RISK_ASSESSMENT_MISSING"]
    assert "SUICIDE_IDEATION" not in codes(decision)


# ------------------------------------------------------------------ 2. a declined screen


def test_a_declined_screen_is_incomplete_and_says_it_was_declined() -> None:
    fragment = {"risk": {"cssrs": None, "cssrs_declined": True}}
    decision = assess(fragment)
    assert decision["status"] == "incomplete" and decision["recommendation"]["format"] == "defer"
    (flag,) = decision["flags"]
    assert flag["code"] == "RISK_ASSESSMENT_MISSING" and flag["level"] == "critical"
    assert "declined" in flag["action"] and "risk formulation is needed today" in flag["action"]
    assert [b["text"] for b in decision["banners"]] == [
        "INCOMPLETE — the person declined the risk screen; a clinician's own risk formulation is needed today"
    ]
    first = page_one(report(fragment))
    assert re.search(r"C-SSRS Q1: wish to be dead \.+ declined", first)
    assert "Complete the C-SSRS screener" not in first


# ------------------------------------------------------------------ 3. urgency orders everything

IMMINENT_WITH_GAP = {"risk": {"cssrs": {"wish_dead": None, "active_thoughts": False, "behavior_3m": True}}}


def test_imminent_comes_before_the_missing_screen_in_flags_conditions_and_banners() -> None:
    """v1: "Complete the C-SSRS" before "Same-day safety assessment", and
    RISK_ASSESSMENT_MISSING above SUICIDE_IMMINENT."""
    decision = assess(IMMINENT_WITH_GAP)
    assert codes(decision)[:2] == ["SUICIDE_IMMINENT", "RISK_ASSESSMENT_MISSING"]
    conditions = decision["recommendation"]["conditions"]
    assert conditions[0].startswith("Same-day safety assessment")
    assert conditions[1].startswith("Complete the C-SSRS screener")
    assert [b["text"].split(" — ")[0] for b in decision["banners"]] == ["IMMINENT SUICIDE RISK", "INCOMPLETE"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_imminent_risk_banner_leads_every_format(fmt: str) -> None:
    """v1: defer-safety had no banner and "complete" in bold, its critical flag far down."""
    advisor = Advisor.load()
    i = load_intake_file(str(ROOT / "examples" / "defer-safety.yaml"))
    out = render(advisor.view(advisor.assess(i), i, "test"), fmt)
    banner = out.index("IMMINENT SUICIDE RISK")
    assert banner < out.index("Defer IPT allocation") < out.index("SUICIDE_IMMINENT")
    both = report(IMMINENT_WITH_GAP, fmt)
    assert both.index("IMMINENT SUICIDE RISK") < both.index("INCOMPLETE —") < both.index("Defer IPT allocation")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_complete_decision_is_as_visible_as_an_incomplete_one(fmt: str) -> None:
    out = report({}, fmt)
    headline = {
        "text": "RECOMMENDATION: Group IPT",
        "md": "## Recommendation: Group IPT",
        "html": '<span class="label">Recommendation</span>Group IPT',
    }[fmt]
    assert headline in out
    if fmt == "text":  # framed like a banner
        lines = out.splitlines()
        at = next(i for i, line in enumerate(lines) if "RECOMMENDATION: Group IPT" in line)
        assert set(lines[at - 1]) == {"="} and len(lines[at - 1]) == 88


def test_the_format_is_said_once() -> None:
    """v1: "Format: X (x)" repeated the summary line."""
    first = page_one(report({}))
    assert first.count("Group IPT") == 1 and "Format:" not in first


# ------------------------------------------------------------------ 4. risk answers as recorded


def test_a_rightly_skipped_question_reads_not_asked_everywhere() -> None:
    """v1: "C-SSRS Q4 = not assessed" in the trace, "(was not assessed)" in explain."""
    for fmt in FORMATS:
        out = report({"risk": {"cssrs": {"wish_dead": True}}}, fmt)
        assert not re.search(r"(=|:|was) (<strong>)?not assessed", out), fmt
        assert "C-SSRS Q4: intent to act = not asked" in out.replace("<strong>", "").replace("</strong>", "")


def test_risk_answers_block_has_every_state() -> None:
    fragment = {
        "measures": {"phq9": 12, "phq9_item9": None},
        "risk": {"cssrs": {"wish_dead": True, "active_thoughts": False, "behavior_3m": None}},
    }
    view = Advisor.load().view(assess(fragment), intake(fragment), "test")
    answers = {a["key"]: a["answer"] for a in view["risk_answers"]}
    assert answers == {
        "risk.cssrs.wish_dead": "yes",
        "risk.cssrs.active_thoughts": "no",
        "risk.cssrs.method": "not asked",
        "risk.cssrs.intent": "not asked",
        "risk.cssrs.plan": "not asked",
        "risk.cssrs.behavior_3m": "not recorded",
        "measures.phq9_item9": "not recorded",
    }


def test_labels_not_raw_enums_in_reports() -> None:
    """v1: `more_severe` and the like under "Because"."""
    for fmt in FORMATS:
        out = report({"measures": {"phq9": 17}, "risk": {"substance": "misuse"}}, fmt)
        for raw in ("more_severe", "less_severe", "moderately_severe", "screened_negative"):
            assert raw not in out, (fmt, raw)


# ------------------------------------------------------------------ 5. below the diagnostic threshold


def test_phq9_minimal_defers_with_a_confirm_or_monitor_condition() -> None:
    """v1: PHQ-9 2 with one role transition gave "Group IPT" without a caveat."""
    decision = assess({"measures": {"phq9": 2}})
    assert decision["recommendation"]["format"] == "defer"
    assert codes(decision) == ["BELOW_DIAGNOSTIC_THRESHOLD"]
    assert decision["recommendation"]["conditions"] == [
        "Confirm a depressive episode by clinical interview; if it is not confirmed, monitor and review instead of IPT"
    ]


def test_phq9_mild_keeps_the_format_on_condition_the_episode_is_confirmed() -> None:
    decision = assess({"measures": {"phq9": 7}})
    assert decision["recommendation"]["format"] == "group"
    assert (
        "Confirm a depressive episode by clinical interview before IPT starts"
        in decision["recommendation"]["conditions"]
    )


# ------------------------------------------------------------------ 6. no focus area


def test_no_focus_area_defers_rather_than_a_bare_group() -> None:
    """v1: headline "Group IPT" with no problem area at all."""
    decision = assess({"findings": {"role_transition": None}})
    assert decision["recommendation"]["format"] == "defer"
    assert decision["recommendation"]["conditions"] == [
        "Complete the interpersonal inventory: IPT needs an interpersonal focus"
    ]


# ------------------------------------------------------------------ 7. IPT-A exclusions


def test_a_minor_with_substance_misuse_is_referred_and_gets_no_adult_condition() -> None:
    """v1: individual IPT-A with the adult "brief intervention" condition."""
    fragment = {"age": 16, "measures": {"phq9": 17}, "risk": {"substance": "misuse"}}
    decision = assess(fragment)
    rec = decision["recommendation"]
    assert rec["format"] == "defer"
    assert any("young people's substance-use service" in c for c in rec["conditions"])
    assert not any("Brief intervention" in c for c in rec["conditions"])
    assert "SUBSTANCE_MISUSE" in codes(decision)
    first = page_one(report(fragment))
    assert "Severity (NICE NG222, adult guidance; under 18 NICE NG134 applies): more severe" in " ".join(first.split())


def test_more_severe_in_a_minor_names_ng134_not_adult_medication_advice() -> None:
    minor = next(f for f in assess({"age": 16, "measures": {"phq9": 17}})["flags"] if f["code"] == "MORE_SEVERE")
    adult = next(f for f in assess({"measures": {"phq9": 17}})["flags"] if f["code"] == "MORE_SEVERE")
    assert "NICE NG134" in minor["action"] and "review medication" not in minor["action"]
    assert "review medication" in adult["action"]


def test_an_adult_with_misuse_keeps_the_brief_intervention() -> None:
    decision = assess({"risk": {"substance": "misuse"}})
    assert decision["recommendation"]["format"] == "group"
    assert any(c.startswith("Brief intervention") for c in decision["recommendation"]["conditions"])


# ------------------------------------------------------------------ 8. every sentence true of the case

GRIEF_8_MONTHS = {
    "findings": {"role_transition": None, "grief": {"present": True, "months_since_death": 8, "onset_linked": True}}
}


def test_grief_at_8_months_is_not_called_normal() -> None:
    """v1: "grief is normal ... before the prolonged-grief time mark" at 8 months."""
    texts = [c["text"] for c in assess(GRIEF_8_MONTHS)["considerations"]]
    assert len(texts) == 1 and "ICD-11" in texts[0] and "normal" not in texts[0]


def test_grief_with_suicidal_intent_is_not_called_normal() -> None:
    """v1: the same "grief is normal" text in a case with suicidal intent."""
    fragment = merge(
        GRIEF_8_MONTHS,
        {
            "risk": {
                "cssrs": {
                    "wish_dead": True,
                    "active_thoughts": True,
                    "method": True,
                    "intent": True,
                    "plan": False,
                    "behavior_3m": False,
                }
            }
        },
    )
    (text,) = [c["text"] for c in assess(fragment)["considerations"]]
    assert "safety comes first" in text and "never put down to grief" in text
    assert "usually normal" not in text


def test_recent_grief_without_risk_keeps_the_normal_grief_text() -> None:
    fragment = {"findings": {"grief": {"present": True, "months_since_death": 2, "onset_linked": True}}}
    (text,) = [c["text"] for c in assess(fragment)["considerations"]]
    assert "grief is usually normal" in text


def test_isolation_rationale_is_true_when_onset_linked_isolation_wins() -> None:
    """v1: "the focus only when no event-linked area fits better" where onset-linked isolation won."""
    rule = Advisor.load().ruleset.rule("FOCUS-ISOLATION-ONSET")
    assert "only when no event-linked area fits better" not in rule.rationale
    decision = assess(
        {
            "findings": {
                "role_transition": {"present": True, "onset_linked": False},
                "isolation": {"present": True, "onset_linked": True},
            }
        }
    )
    assert decision["focus"]["primary"] == "isolation"


def test_the_pre_group_session_is_one_condition() -> None:
    """v1: "In the pre-group session, prepare..." and "Individual pre-group session..."."""
    decision = assess(
        {
            "measures": {"phq9": 12, "phq9_item9": 0, "spin": 33},
            "findings": {"social_anxiety": "moderate", "group_discomfort": "moderate"},
        }
    )
    pre_group = [c for c in decision["recommendation"]["conditions"] if "pre-group" in c]
    assert pre_group == [
        "Individual pre-group session to prepare for the group: the group's social demands "
        "(expectations, fears, a plan for the first sessions); the discomfort about the group "
        "(what will happen, what the person fears, how to take part)"
    ]


def test_group_only_texts_stay_out_of_an_individual_report() -> None:
    """v1: group-only rule texts in an individual report."""
    fragment = {
        "measures": {"phq9": 12, "phq9_item9": 0, "spin": 33},
        "findings": {"isolation": {"present": True}, "social_anxiety": "moderate"},
        "preferences": {"format": "individual"},
    }
    decision = assess(fragment)
    assert decision["recommendation"]["format"] == "individual"
    shown = decision["recommendation"]["conditions"] + [c["text"] for c in decision["considerations"]]
    assert not any("practice ground" in t or "where a group is offered" in t for t in shown)
    appendix = report(fragment).split("\f")[1]
    assert "FMT-ISOLATION-PRACTICE): not applied: only when the format is group" in " ".join(appendix.split())


def test_an_area_dropped_by_the_two_area_cap_is_said_to_be_dropped() -> None:
    """v1: "Concluded: focus isolation" with no word that it was dropped."""
    fragment = {
        "findings": {
            "grief": {"present": True, "months_since_death": 30},
            "role_dispute": {"present": True, "stage": "impasse", "violence": False},
            "isolation": {"present": True},
        }
    }
    decision = assess(fragment)
    assert [d["area"] for d in decision["focus"]["dropped"]] == ["role_dispute", "isolation"]
    out = " ".join(report(fragment).split())
    assert (
        "Not kept: Interpersonal deficits / isolation — Long-standing isolation or interpersonal deficits "
        "[FOCUS-ISOLATION]; not kept: at most 2 focus areas, and Role transition and Grief rank higher"
    ) in out


# ------------------------------------------------------------------ 9. no clinical number in Python


def test_the_nice_cut_off_is_read_from_the_rules(tmp_path: Path) -> None:
    """v1: report.py printed "≥ 16": with the cut moved to 15 it said "PHQ-9 15 ... (≥ 16)"."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    severity = rules / "severity.yaml"
    text = severity.read_text(encoding="utf-8")
    text = text.replace("when: {phq9: {below: 16}}", "when: {phq9: {below: 15}}")
    text = text.replace("when: {phq9: {at_least: 16}}", "when: {phq9: {at_least: 15}}")
    severity.write_text(text, encoding="utf-8")
    out = " ".join(report({"measures": {"phq9": 15, "phq9_item9": 0}}, rules=rules).split())
    assert "Severity (NICE NG222): more severe (PHQ-9 total 15 or more)" in out
    assert "16" not in out.split("SEVERITY")[1].split("SIGN-OFF")[0]


def test_report_code_holds_no_cut_off() -> None:
    source = (ROOT / "ipt_advisor" / "report" / "render.py").read_text(encoding="utf-8")
    assert not re.search(r"[<>≥≤]=?\s*\d", source.replace("<=", "")), "a cut-off belongs in the rules"
    assert "NG222" not in source and "Kroenke" not in source


# ------------------------------------------------------------------ sign-off


def test_sign_off_is_filled_from_the_clinicians_decision() -> None:
    changed = {"clinician_decision": {"format": "individual", "focus": "role_transition", "reason": "works nights"}}
    out = page_one(report(changed))
    assert "Decision:      changed to Individual IPT, focus Role transition" in out
    assert "Reason:        works nights" in out
    accepted = page_one(report({"clinician_decision": {"format": "group"}}))
    assert "Decision:      accepted" in accepted
    blank = page_one(report({}))
    assert "[ ] accepted    [ ] changed to: ____" in blank and "Name or role:  ____" in blank


# ------------------------------------------------------------------ the rule folder


def test_a_yaml_file_missing_from_the_manifest_is_a_lint_problem(tmp_path: Path) -> None:
    """v1: a rule file the manifest does not list was silently ignored."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "extra.yaml").write_text((rules / "severity.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    runner = CliRunner()
    lint = runner.invoke(cli, ["rules", "lint", str(rules)])
    assert lint.exit_code == 1
    assert (
        f"{rules}/extra.yaml: not listed in ruleset.yaml (rule_files or handout): this file is not loaded"
        in lint.stderr
    )
    assessed = runner.invoke(cli, ["assess", str(ROOT / "examples" / "group.yaml"), "--rules", str(rules)])
    assert assessed.exit_code == 4 and "extra.yaml" in assessed.stderr
    audited = runner.invoke(
        cli, ["audit", str(ROOT / "examples"), "-o", str(tmp_path / "out"), "--rules", str(rules), "--jobs", "1"]
    )
    assert audited.exit_code == 4 and "extra.yaml" in audited.stderr


def test_the_decision_json_keeps_the_contract_and_documents_the_additions() -> None:
    decision = assess(IMMINENT_WITH_GAP)
    schema = json.loads((ROOT / "docs" / "decision-v1.schema.json").read_text(encoding="utf-8"))
    for key in (
        "decision_version",
        "intake_id",
        "status",
        "recommendation",
        "focus",
        "flags",
        "severity",
        "trace",
        "ruleset",
    ):
        assert key in decision
    assert "banners" in schema["properties"] and "dropped" in schema["properties"]["focus"]["properties"]

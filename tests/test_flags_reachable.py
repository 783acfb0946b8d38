"""Every flag code of decision-v1 is raised by some active rule, and a real
intake exists under which the decision carries it.

The 20 codes are copied from the decision-v1 table on purpose: if the rules
drop a code the contract promises, this fails.
"""

from __future__ import annotations

import pytest

from conftest import CONTRACT_FLAG_CODES
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import from_mapping
from ipt_advisor.core.model import RaiseFlag
from ipt_advisor.ruletests import merge

DECISION_V1_FLAGS = CONTRACT_FLAG_CODES

# An adult, less severe, C-SSRS negative, one onset-linked role transition: no flags.
BASE = {
    "intake_version": 1,
    "id": "FLAG-TEST",
    "assessed_on": "2026-10-01",
    "age": 40,
    "measures": {"phq9": 11, "phq9_item9": 0},
    "risk": {"cssrs": {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}},
    "findings": {"role_transition": {"present": True, "onset_linked": True}},
}

# code -> (intake fragment merged onto BASE, expected level, expected format)
TRIGGERS = {
    "SUICIDE_IMMINENT": (
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
        "critical",
        "defer",
    ),
    "SUICIDE_IDEATION": ({"risk": {"cssrs": {"wish_dead": True}}}, "warning", "group"),
    "RISK_ASSESSMENT_MISSING": ({"risk": {"cssrs": None}}, "critical", "defer"),
    "PSYCHOSIS_OR_MANIA": ({"risk": {"psychosis": True}}, "critical", "defer"),
    "SUBSTANCE_DEPENDENCE": ({"risk": {"substance": "dependence"}}, "warning", "defer"),
    "SUBSTANCE_MISUSE": ({"risk": {"substance": "misuse"}}, "warning", "group"),
    "COGNITIVE_IMPAIRMENT": ({"risk": {"cognitive_impairment": "severe"}}, "warning", "individual"),
    "HOSTILE_OR_HOMICIDAL": ({"risk": {"harm_to_others": True}}, "critical", "defer"),
    "IPV": (
        {"findings": {"role_dispute": {"present": True, "stage": "impasse", "violence": True}}},
        "critical",
        "individual",
    ),
    "MORE_SEVERE": ({"measures": {"phq9": 16}}, "warning", "individual"),
    "SOCIAL_ANXIETY_HIGH": ({"measures": {"spin": 19}}, "warning", "group"),
    "GROUP_DISCOMFORT": ({"findings": {"group_discomfort": "moderate"}}, "warning", "group"),
    "REFUSES_GROUP": ({"preferences": {"format": "individual"}}, "info", "individual"),
    "ACUTE_CRISIS": ({"risk": {"acute_crisis": True}}, "warning", "individual"),
    "CONFIDENTIALITY": ({"preferences": {"confidentiality_concern": True}}, "info", "individual"),
    "ADOLESCENT": ({"age": 15}, "info", "individual"),
    "OUT_OF_SCOPE_AGE": ({"age": 9}, "warning", "defer"),
    "PERINATAL": ({"perinatal": "pregnant"}, "info", "individual"),
    "PROLONGED_GRIEF": (
        {"findings": {"grief": {"present": True, "months_since_death": 12, "onset_linked": True}}},
        "warning",
        "group",
    ),
    "NO_FOCUS_AREA": ({"findings": {"role_transition": None}}, "warning", "defer"),
}


def assess(fragment: dict) -> dict:
    return Advisor.load().assess(from_mapping(merge(BASE, fragment), None, "test_flags_reachable"))


def test_the_table_is_complete() -> None:
    assert len(DECISION_V1_FLAGS) == 20
    assert set(TRIGGERS) == set(DECISION_V1_FLAGS)


def test_baseline_raises_no_flag() -> None:
    assert assess({})["flags"] == []


@pytest.mark.parametrize("code", DECISION_V1_FLAGS)
def test_code_is_declared_and_raised_by_an_active_rule(code: str) -> None:
    ruleset = Advisor.load().ruleset
    assert code in ruleset.flags, f"{code} is not declared in the manifest's flags"
    raisers = [r.id for r in ruleset.active_rules if any(isinstance(e, RaiseFlag) and e.code == code for e in r.then)]
    assert raisers, f"no active rule raises {code}"


@pytest.mark.parametrize("code", DECISION_V1_FLAGS)
def test_code_is_reached_by_an_intake(code: str) -> None:
    fragment, level, fmt = TRIGGERS[code]
    decision = assess(fragment)
    flags = {f["code"]: f for f in decision["flags"]}
    assert code in flags, f"{code} not raised; flags were {sorted(flags)}"
    assert flags[code]["level"] == level
    assert decision["recommendation"]["format"] == fmt


def test_hostility_alone_is_a_warning_harm_to_others_is_critical() -> None:
    hostile = {f["code"]: f["level"] for f in assess({"risk": {"hostility": True}})["flags"]}
    assert hostile == {"HOSTILE_OR_HOMICIDAL": "warning"}
    both = assess({"risk": {"hostility": True, "harm_to_others": True}})
    assert {f["code"]: f["level"] for f in both["flags"]}["HOSTILE_OR_HOMICIDAL"] == "critical"
    assert both["recommendation"]["format"] == "defer"


def test_current_psychosis_outranks_a_mania_history() -> None:
    decision = assess({"risk": {"psychosis": True, "mania_history": True}})
    assert {f["code"]: f["level"] for f in decision["flags"]}["PSYCHOSIS_OR_MANIA"] == "critical"


def test_item9_zero_never_clears_a_missing_screen() -> None:
    decision = assess({"measures": {"phq9_item9": 0}, "risk": {"cssrs": {"behavior_3m": None}}})
    assert decision["status"] == "incomplete"
    assert decision["recommendation"]["format"] == "defer"
    assert "RISK_ASSESSMENT_MISSING" in {f["code"] for f in decision["flags"]}


def test_dispute_with_violence_unasked_raises_ipv_not_asked() -> None:
    decision = assess({"findings": {"role_dispute": {"present": True, "stage": "renegotiation"}}})
    codes = {f["code"] for f in decision["flags"]}
    assert "IPV_NOT_ASKED" in codes and "IPV" not in codes
    assert decision["recommendation"]["format"] == "group"

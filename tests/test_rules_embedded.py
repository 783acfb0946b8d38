"""The test cases embedded in the shipped rule files, one pytest case each.

Same code path as ``ipt-advisor rules test`` (``ipt_advisor.ruletests``), so a
failing case reads the same in both places; plus coverage (every active rule
fired by at least one case) and a clean lint.
"""

from __future__ import annotations

import dataclasses

import pytest

from ipt_advisor import ruletests
from ipt_advisor.advisor import Advisor
from ipt_advisor.ruleset.load import lint


def _cases() -> list:
    return [
        pytest.param(case, id=f"{case.owner}::{case.name}") for case in ruletests.embedded_cases(Advisor.load().ruleset)
    ]


@pytest.mark.parametrize("case", _cases())
def test_embedded_case(case: ruletests.Case) -> None:
    result = ruletests.run(Advisor.load(), case)
    assert result.passed, f"{result.location}: " + "; ".join(result.failures)


def test_every_active_rule_is_fired_by_a_case() -> None:
    advisor = Advisor.load()
    counts = ruletests.coverage(advisor, ruletests.run_all(advisor))
    never = sorted(rid for rid, n in counts.items() if n == 0)
    assert not never, f"active rules no test case fires: {never}"
    assert counts, "no active rules"


def test_shipped_rules_lint_clean() -> None:
    ruleset, problems = lint()
    assert ruleset is not None
    assert problems == [], "\n".join(str(p) for p in problems)


def test_every_active_rule_has_a_firing_and_a_silent_case() -> None:
    for rule in Advisor.load().ruleset.active_rules:
        outcomes = {t.expect.get("fires") for t in rule.tests}
        assert {True, False} <= outcomes, rule.id


def test_every_expect_key_is_checked() -> None:
    # each key of the expect vocabulary fails when the decision does not match it
    advisor = Advisor.load()
    case = next(
        c
        for c in ruletests.embedded_cases(advisor.ruleset)
        if c.owner == "RISK-SI-IMMINENT" and c.name == "intent in the past month"
    )
    right = {
        "flag_levels": {"SUICIDE_IMMINENT": "critical"},
        "conditions": ["same-day safety assessment"],
        "severity": {"phq9": 11, "nice_band": "less_severe"},
    }
    assert ruletests.run(advisor, dataclasses.replace(case, expect={**case.expect, **right})).passed
    wrong = {
        "flag_levels": (
            {"SUICIDE_IMMINENT": "warning"},
            "expected flag SUICIDE_IMMINENT at level warning, got critical",
        ),
        "conditions": (["weekly review"], "expected a condition containing 'weekly review'"),
        "considers": (["FMT-SEVERE-ASKS-GROUP"], "expected a point for clinical review from FMT-SEVERE-ASKS-GROUP"),
        "severity": ({"nice_band": "more_severe"}, "expected severity nice_band 'more_severe', got 'less_severe'"),
    }
    for key, (value, message) in wrong.items():
        result = ruletests.run(advisor, dataclasses.replace(case, expect={**case.expect, key: value}))
        assert any(f.startswith(message) for f in result.failures), (key, result.failures)


def test_every_order_text_and_absence_key_is_checked() -> None:
    """The keys that pin rule format v2 (urgency order, texts chosen by the case, formats a
    text prints in, banners, the handout) pass on the right decision and fail, saying why,
    on a wrong one."""
    advisor = Advisor.load()
    cases = {(c.owner, c.name): c for c in ruletests.embedded_cases(advisor.ruleset)}
    both = cases[
        (
            "RISK-SI-IMMINENT",
            "behaviour in the past 3 months with Q1 and Q2 blank - the same-day assessment comes first",
        )
    ]
    grief = cases[("FOCUS-GRIEF-RECENT", "father died 10 weeks ago")]
    right = [
        (
            both,
            {
                "flag_order": ["SUICIDE_IMMINENT", "RISK_ASSESSMENT_MISSING"],
                "actions": {"SUICIDE_IMMINENT": "same-day safety assessment"},
                "not_conditions": ["pre-group session"],
                "condition_order": ["same-day safety", "complete the c-ssrs"],
                "banners": ["IMMINENT SUICIDE RISK", "incomplete"],
                "handout": ["talk with you about your safety"],
            },
        ),
        (
            grief,
            {
                "considerations": ["grief is usually normal"],
                "not_considerations": ["suicidal thoughts"],
                "not_considers": ["FMT-SEVERE-ASKS-GROUP"],
                "banners": [],
            },
        ),
    ]
    for case, expect in right:
        assert ruletests.run(advisor, dataclasses.replace(case, expect={**case.expect, **expect})).passed, expect
    wrong = [
        (
            both,
            "flag_order",
            ["RISK_ASSESSMENT_MISSING", "SUICIDE_IMMINENT"],
            "expected the flags in the order RISK_ASSESSMENT_MISSING, SUICIDE_IMMINENT; they were SUICIDE_IMMINENT, RISK_ASSESSMENT_MISSING",
        ),
        (
            both,
            "actions",
            {"SUICIDE_IMMINENT": "weekly review"},
            "expected flag SUICIDE_IMMINENT's action to contain 'weekly review'",
        ),
        (
            both,
            "actions",
            {"MORE_SEVERE": "review"},
            "expected flag MORE_SEVERE's action to contain 'review'; it was 'not raised'",
        ),
        (both, "not_conditions", ["Same-day safety"], "a condition contains 'Same-day safety' but should not"),
        (both, "condition_order", ["complete the c-ssrs", "same-day safety"], "expected conditions containing"),
        (both, "banners", ["IMMINENT SUICIDE RISK"], "expected the banners ['IMMINENT SUICIDE RISK']"),
        (both, "banners", ["incomplete", "IMMINENT SUICIDE RISK"], "expected the banners"),
        (both, "handout", ["weekly group"], "expected the client handout to say 'weekly group'"),
        (
            grief,
            "considerations",
            ["suicidal thoughts"],
            "expected a point for clinical review containing 'suicidal thoughts'",
        ),
        (
            grief,
            "not_considerations",
            ["usually normal"],
            "a point for clinical review contains 'usually normal' but should not",
        ),
        (
            grief,
            "not_considers",
            ["FOCUS-GRIEF-RECENT"],
            "a point for clinical review from FOCUS-GRIEF-RECENT was shown",
        ),
        (grief, "banners", ["INCOMPLETE"], "expected the banners ['INCOMPLETE']; they were none"),
    ]
    for case, key, value, message in wrong:
        result = ruletests.run(advisor, dataclasses.replace(case, expect={**case.expect, key: value}))
        assert any(f.startswith(message) for f in result.failures), (key, value, result.failures)

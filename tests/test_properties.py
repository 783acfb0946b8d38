"""Invariants every decision keeps, checked on generated valid intakes (hypothesis).

docs/invariants.md states each invariant in plain language and names the test here that
checks it.  The safety invariants are held against a list this file owns (``CONTRACT``:
the contract's safety and specialist flags, when each must be raised and what it implies),
never against classes read from the rules: a weakened rule set must fail them, not
redefine them.

Budget: ``PROPERTY`` examples per test by default; ``-m slow`` adds a long run of the
core invariants (``test_all_invariants_long_run``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from conftest import CONTRACT_FLAG_CODES
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import FIELD_PATHS, Intake
from ipt_advisor.core.model import ChooseFormat, Derive, ExcludeFormat, RaiseFlag, Rule, RuleSet
from ipt_advisor.report.render import decision_json, render
from ipt_advisor.ruleset.load import default_rules_dir, load_ruleset, read_ruleset
from strategies import cssrs_incomplete, intakes, random_intake, validated

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "docs" / "decision-v1.schema.json").read_text(encoding="utf-8"))

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG_RUN = settings(max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AREAS = ("grief", "role_dispute", "role_transition", "isolation")

# decision-v1's flag table: the codes "at least these, named exactly so"
CONTRACT_CODES = frozenset(CONTRACT_FLAG_CODES)
NOT_GROUP = frozenset({"individual", "defer"})
DEFER = frozenset({"defer"})


@dataclass(frozen=True)
class Implies:
    """One contract flag: when it must be raised (read straight from the intake) and what
    the decision must then be."""

    raised_when: Callable[[Intake], bool]
    formats: frozenset[str]  # the formats allowed while it is raised
    status: str | None = None  # the status it forces, if any


def _cssrs_says(intake: Intake, *questions: str) -> bool:
    return any(intake.get(f"risk.cssrs.{q}") is True for q in questions)


# The contract's safety and specialist flags: decision-v1 ("raised when") and the clinical
# brief, section 4 (its "Group" column: Block).  Owned here, not read from the rules.
CONTRACT: dict[str, Implies] = {
    # C-SSRS Q4/Q5 in the past month, or behaviour in 3 months: same-day safety assessment first
    "SUICIDE_IMMINENT": Implies(lambda i: _cssrs_says(i, "intent", "plan", "behavior_3m"), DEFER),
    # no or a partial C-SSRS: incomplete, no format (intake-v1), never a silent "no"
    "RISK_ASSESSMENT_MISSING": Implies(lambda i: cssrs_incomplete(i.record), DEFER, "incomplete"),
    # current psychosis or any history of mania: psychiatry first; the brief blocks a group
    "PSYCHOSIS_OR_MANIA": Implies(
        lambda i: i.get("risk.psychosis") is True or i.get("risk.mania_history") is True, NOT_GROUP
    ),
    "SUBSTANCE_DEPENDENCE": Implies(lambda i: i.get("risk.substance") == "dependence", NOT_GROUP),
    "COGNITIVE_IMPAIRMENT": Implies(lambda i: i.get("risk.cognitive_impairment") == "severe", NOT_GROUP),
    # hostility in care settings, or harm to others (brief: HOSTILE_DISRUPTIVE / HOMICIDAL)
    "HOSTILE_OR_HOMICIDAL": Implies(
        lambda i: i.get("risk.hostility") is True or i.get("risk.harm_to_others") is True, NOT_GROUP
    ),
    # a stated preference for individual therapy is a valid choice (NICE): never a group
    "REFUSES_GROUP": Implies(lambda i: i.get("preferences.format") == "individual", NOT_GROUP),
}


# --------------------------------------------------------------------------- what a rule asks for


def format_wish(rule: Rule, ruleset: RuleSet) -> str | None:
    """The most restrictive format a rule asks for (``exclude X`` = the next more
    restrictive format than X), or None when it says nothing about the format."""
    precedence = ruleset.policies.format_precedence  # type: ignore[union-attr]
    wishes = [
        e.format if isinstance(e, ChooseFormat) else precedence[precedence.index(e.format) - 1]
        for e in rule.then
        if isinstance(e, (ChooseFormat, ExcludeFormat))
    ]
    return min(wishes, key=precedence.index) if wishes else None


def raised(rule: Rule) -> set[tuple[str, str]]:
    return {(e.code, e.level) for e in rule.then if isinstance(e, RaiseFlag)}


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def advisor() -> Advisor:
    return Advisor.load()


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory: pytest.TempPathFactory) -> Advisor:
    """A second Advisor, with its own engine, from a byte copy of the shipped rules."""
    copy = tmp_path_factory.mktemp("rules-copy") / "rules"
    shutil.copytree(default_rules_dir(), copy)
    return Advisor(load_ruleset(copy))


def fired_rules(decision: dict[str, Any], ruleset: RuleSet) -> list[Rule]:
    return [ruleset.rule(t["rule"]) for t in decision["trace"]]


def flag_codes(decision: dict[str, Any]) -> set[str]:
    return {f["code"] for f in decision["flags"]}


# --------------------------------------------------------------------------- the generator covers the space


def test_generator_covers_every_field_and_value(advisor: Advisor) -> None:
    # Properties on generated intakes only mean something if the generator reaches every
    # field: every path answered at least once, every fact value and "unknown" for facts
    # that may be unknown, both C-SSRS shapes (complete and missing/partial).
    rng = random.Random(7)
    seen: dict[str, set[Any]] = {path: set() for path in FIELD_PATHS}
    shapes = set()
    for _ in range(600):
        intake = validated(random_intake(rng))
        shapes.add(cssrs_incomplete(intake.record))
        for path in FIELD_PATHS:
            value = intake.get(path)
            seen[path].add(value if isinstance(value, (bool, int, str, type(None))) else repr(value))
    assert [p for p, values in seen.items() if values <= {None}] == []
    assert shapes == {True, False}
    for spec in advisor.ruleset.facts.values():
        if spec.source is None:
            continue
        values = seen[spec.source]
        wanted = set(spec.values) if spec.type == "enum" else {True, False} if spec.type == "boolean" else set()
        if spec.type == "integer" and spec.range:
            wanted = {spec.range[0], spec.range[1]}
        assert wanted <= values, (spec.name, wanted - values)
    for path in ("risk.cssrs.wish_dead", "risk.cssrs.intent", "measures.phq9_item9", "findings.role_dispute.violence"):
        assert None in seen[path], path  # unknown is generated, not only answers


# --------------------------------------------------------------------------- never an exception, always the contract


@PROPERTY
@given(intakes())
def test_assessing_and_rendering_never_raise(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    _, intake = pair
    decision = advisor.assess(intake)
    errors = sorted(Draft202012Validator(SCHEMA).iter_errors(decision), key=str)
    assert not errors, [e.message for e in errors]
    view = advisor.view(decision, intake, "test")
    for fmt in ("text", "md", "html", "json"):
        assert render(view, fmt).strip()


# --------------------------------------------------------------------------- determinism


@PROPERTY
@given(intakes())
def test_same_intake_same_bytes(advisor: Advisor, fresh_copy: Advisor, pair: tuple[dict, Intake]) -> None:
    mapping, intake = pair
    first = decision_json(advisor.assess(intake))
    assert decision_json(advisor.assess(validated(json.loads(json.dumps(mapping, default=str))))) == first
    # another engine, loaded from a copy of the same files elsewhere, decides the same,
    # down to the rule-set hash
    assert decision_json(fresh_copy.assess(intake)) == first


def test_ruleset_hash_is_over_file_bytes_only(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        spellings = {name: read_ruleset(name)[0].sha256 for name in ("rules", "./rules", str(copy))}  # type: ignore[union-attr]
    finally:
        os.chdir(here)
    spellings["shipped"] = read_ruleset()[0].sha256  # type: ignore[union-attr]
    assert len(set(spellings.values())) == 1, spellings
    # and it is a hash of the content: one changed byte changes it
    (copy / "facts.yaml").write_bytes((copy / "facts.yaml").read_bytes() + b"\n")
    assert read_ruleset(copy)[0].sha256 not in spellings.values()  # type: ignore[union-attr]


# --------------------------------------------------------------------------- safety


@PROPERTY
@given(intakes())
def test_contract_flags_are_raised_when_due_and_hold(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    """Each contract flag is raised exactly when the contract says, read from the intake,
    and the decision then keeps to what the flag implies."""
    intake = pair[1]
    decision = advisor.assess(intake)
    codes = flag_codes(decision)
    fmt = decision["recommendation"]["format"]
    for code, rule in CONTRACT.items():
        due = rule.raised_when(intake)
        assert (code in codes) is due, (code, "raised" if code in codes else "not raised", intake.record)
        if due:
            assert fmt in rule.formats, (code, fmt, intake.record)
            assert rule.status is None or decision["status"] == rule.status, (code, decision["status"])


@PROPERTY
@given(intakes())
def test_no_fired_rule_is_overruled_by_a_less_restrictive_format(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    decision = advisor.assess(pair[1])
    fmt = decision["recommendation"]["format"]
    precedence = advisor.ruleset.policies.format_precedence  # type: ignore[union-attr]
    for rule in fired_rules(decision, advisor.ruleset):
        wish = format_wish(rule, advisor.ruleset)
        assert wish is None or precedence.index(fmt) <= precedence.index(wish), (rule.id, wish, fmt)


@PROPERTY
@given(intakes())
def test_status_incomplete_exactly_when_cssrs_missing_or_partial(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    _, intake = pair
    decision = advisor.assess(intake)
    missing = cssrs_incomplete(intake.record)
    assert (decision["status"] == "incomplete") is missing, intake.record["risk"]["cssrs"]
    if missing:  # intake-v1: incomplete means defer and RISK_ASSESSMENT_MISSING, never a silent "no"
        assert decision["recommendation"]["format"] == "defer"
        assert "RISK_ASSESSMENT_MISSING" in flag_codes(decision)


@PROPERTY
@given(intakes())
def test_every_flag_comes_from_a_fired_rule(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    decision = advisor.assess(pair[1])
    ruleset = advisor.ruleset
    fired = {t["rule"] for t in decision["trace"]}
    levels = ruleset.policies.flag_levels  # type: ignore[union-attr]
    codes = [f["code"] for f in decision["flags"]]
    assert len(codes) == len(set(codes))
    assert [levels.index(f["level"]) for f in decision["flags"]] == sorted(
        levels.index(f["level"]) for f in decision["flags"]
    )
    for flag in decision["flags"]:
        assert flag["rule"] in fired
        assert flag["code"] in ruleset.flags
        # the action is the rule's own text, or one of its variants for this case
        assert any(
            e.code == flag["code"]
            and e.level == flag["level"]
            and flag["action"] in (e.action, *(v.text for v in e.variants))
            for e in ruleset.rule(flag["rule"]).then
            if isinstance(e, RaiseFlag)
        )
    # every flag a fired rule raises is shown
    for rule in fired_rules(decision, ruleset):
        assert {code for code, _ in raised(rule)} <= set(codes)


@PROPERTY
@given(intakes())
def test_flag_shown_at_its_most_severe_level(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    decision = advisor.assess(pair[1])
    levels = advisor.ruleset.policies.flag_levels  # type: ignore[union-attr]
    shown = {f["code"]: levels.index(f["level"]) for f in decision["flags"]}
    for rule in fired_rules(decision, advisor.ruleset):
        for code, level in raised(rule):
            assert shown[code] <= levels.index(level), f"{code} raised {level} by {rule.id} but shown lower"


# --------------------------------------------------------------------------- focus


@PROPERTY
@given(intakes())
def test_focus_only_from_present_areas(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    _, intake = pair
    focus = advisor.assess(intake)["focus"]
    present = {a for a in AREAS if intake.get(f"findings.{a}.present") is True}
    chosen = [a for a in (focus["primary"], focus["secondary"]) if a is not None]
    assert set(chosen) <= present
    assert len(chosen) == len(set(chosen))
    assert focus["secondary"] is None or focus["primary"] is not None
    assert [r["area"] for r in focus["reasons"]] == chosen
    if present:  # every present area is a candidate, so one is always chosen
        assert focus["primary"] is not None


# --------------------------------------------------------------------------- the trace explains


@PROPERTY
@given(intakes())
def test_because_values_are_the_intake_values(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    _, intake = pair
    decision = advisor.assess(intake)
    ruleset = advisor.ruleset
    derived: dict[str, list[Any]] = {}
    for rule in fired_rules(decision, ruleset):
        for e in rule.then:
            if isinstance(e, Derive):
                derived.setdefault(e.fact, []).append(e.value)
    for step in decision["trace"]:
        rule = ruleset.rule(step["rule"])
        readable = {ruleset.facts[leaf_fact].key for leaf_fact in _leaf_facts(rule.when)}
        assert step["because"], step["rule"]
        for key, value in step["because"].items():
            assert key in readable, (step["rule"], key)
            if key in ruleset.facts and ruleset.facts[key].source is None:
                assert value in derived.get(key, []), (step["rule"], key, value)
            else:
                assert value == intake.get(key), (step["rule"], key, value)


def _leaf_facts(cond: Any) -> list[str]:
    if hasattr(cond, "fact"):
        return [cond.fact]
    if hasattr(cond, "item"):
        return _leaf_facts(cond.item)
    return [f for c in cond.items for f in _leaf_facts(c)]


@PROPERTY
@given(intakes())
def test_not_assessed_lists_only_unanswered_items(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    _, intake = pair
    for path in advisor.assess(intake)["not_assessed"]:
        assert intake.get(path) is None, path


# --------------------------------------------------------------------------- the rule set is held to the contract


def test_contract_flags_come_with_what_they_imply(advisor: Advisor) -> None:
    # every active rule raising a contract flag asks for an allowed format itself (a rule
    # that relied on another rule to block the group would break when that rule changes)
    ruleset = advisor.ruleset
    wrong = [
        (r.id, code, format_wish(r, ruleset))
        for r in ruleset.active_rules
        for code, _ in raised(r)
        if code in CONTRACT and format_wish(r, ruleset) not in CONTRACT[code].formats
    ]
    assert wrong == []


def test_the_contract_list_is_the_contracts(advisor: Advisor) -> None:
    # decision-v1's codes, declared by the rule set, and the generator reaches both sides
    # of every trigger, so the property above is never vacuous
    assert set(CONTRACT) <= CONTRACT_CODES <= set(advisor.ruleset.flags)
    rng = random.Random(11)
    seen: dict[str, set[bool]] = {code: set() for code in CONTRACT}
    for _ in range(600):
        intake = validated(random_intake(rng))
        for code, rule in CONTRACT.items():
            seen[code].add(rule.raised_when(intake))
    assert all(both == {True, False} for both in seen.values()), seen


@PROPERTY
@given(intakes())
def test_imminent_and_ideation_never_together(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    # decision-v1: SUICIDE_IDEATION is "without the imminent criteria"
    codes = flag_codes(advisor.assess(pair[1]))
    assert not {"SUICIDE_IMMINENT", "SUICIDE_IDEATION"} <= codes


def test_imminent_and_ideation_are_exclusive_on_an_inconsistent_screen(advisor: Advisor) -> None:
    # Q2 "no" but intent recorded "yes": valid, inconsistent, and imminent (found by the
    # property above; RISK-SI-IDEATION used to fire too)
    intake = validated(
        {
            "intake_version": 1,
            "id": "X-1",
            "assessed_on": "2025-01-01",
            "age": 40,
            "measures": {"phq9": 11},
            "risk": {"cssrs": {"wish_dead": True, "active_thoughts": False, "intent": True, "behavior_3m": False}},
        }
    )
    codes = flag_codes(advisor.assess(intake))
    assert "SUICIDE_IMMINENT" in codes
    assert "SUICIDE_IDEATION" not in codes


# --------------------------------------------------------------------------- long run


@pytest.mark.slow
@LONG_RUN
@given(intakes())
def test_all_invariants_long_run(advisor: Advisor, pair: tuple[dict, Intake]) -> None:
    for check in (
        test_contract_flags_are_raised_when_due_and_hold,
        test_no_fired_rule_is_overruled_by_a_less_restrictive_format,
        test_imminent_and_ideation_never_together,
        test_status_incomplete_exactly_when_cssrs_missing_or_partial,
        test_every_flag_comes_from_a_fired_rule,
        test_flag_shown_at_its_most_severe_level,
        test_focus_only_from_present_areas,
        test_because_values_are_the_intake_values,
        test_not_assessed_lists_only_unanswered_items,
    ):
        check.hypothesis.inner_test(advisor, pair)  # type: ignore[attr-defined]

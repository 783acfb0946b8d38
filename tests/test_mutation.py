"""Mutation testing (``rules test --mutate``) and condition coverage (``--coverage``).

The tool is tested on a small fixture rule set (tests/files/mutation/): its embedded
tests are deliberately weak and leave known survivors; ``strong-cases.yaml`` kills every
mutant that can be killed.  On the shipped rules the verdicts are cross-checked through
the real engine, the equivalence proofs against generated intakes, and every suggested
test is checked to kill the mutant it was suggested for.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from cli import cli
from conftest import ROOT
from ipt_advisor.quality import mcdc, mutation
from ipt_advisor import ruletests
from ipt_advisor.advisor import Advisor
from ipt_advisor.decision.direct import Evaluator
from ipt_advisor.intake.facts import input_values
from ipt_advisor.core.model import Leaf, Not, ProposeFocus, leaves
from ipt_advisor.quality.mutants import OPERATORS, generate, mutated_ruleset
from ipt_advisor.ruleset.load import load_ruleset
from strategies import random_intake, validated

FIXTURE = ROOT / "tests" / "files" / "mutation"
RULES = FIXTURE / "rules"
STRONG = FIXTURE / "strong-cases.yaml"
VIGNETTE_CASES = ROOT / "tests" / "files" / "vignette-cases.yaml"


@pytest.fixture(scope="module")
def fixture_rules():
    return load_ruleset(RULES)


@pytest.fixture(scope="module")
def shipped() -> tuple[Advisor, list[ruletests.Case]]:
    advisor = Advisor.load()
    return advisor, ruletests.all_cases(advisor.ruleset, [str(VIGNETTE_CASES)])


def changes(mutants, rule_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for m in mutants:
        if m.rule_id == rule_id:
            out[m.operator].append(m.change)
    return dict(out)


# --------------------------------------------------------------------------- the operators


def test_condition_operators(fixture_rules) -> None:
    got = changes(generate(fixture_rules).mutants, "T-MORE")
    assert got["drop-leaf"] == ['drop "PHQ-9 total is at least 16"', 'drop "PHQ-9 total is at most 27"']
    assert got["negate-leaf"] == [
        '"PHQ-9 total is at least 16" → "PHQ-9 total is below 16"',
        '"PHQ-9 total is at most 27" → "PHQ-9 total is above 27"',
    ]
    assert got["threshold"] == [
        '"PHQ-9 total is at least 16" → "PHQ-9 total is at least 15"',
        '"PHQ-9 total is at least 16" → "PHQ-9 total is at least 17"',
        '"PHQ-9 total is at most 27" → "PHQ-9 total is at most 26"',
        '"PHQ-9 total is at most 27" → "PHQ-9 total is at most 28"',
    ]
    assert got["any-all"] == ['"all of" → "any of" (2 parts)']
    only = changes(generate(fixture_rules).mutants, "T-LESS")["drop-leaf"]
    assert only == ['drop "PHQ-9 total is below 16": the rule fires for every intake']
    listed = changes(generate(fixture_rules).mutants, "T-INDIVIDUAL")
    assert listed["in-list"] == [
        '"Preferred format is one of individual, either" → "Preferred format is one of either"',
        '"Preferred format is one of individual, either" → "Preferred format is one of individual"',
        '"Preferred format is one of individual, either" → "Preferred format is one of individual, either, group"',
    ]
    assert listed["literal"] == ['"Severity (NICE) is more severe" → "Severity (NICE) is less severe"']


def test_effect_operators(fixture_rules) -> None:
    got = changes(generate(fixture_rules).mutants, "T-IMMINENT")
    assert got["drop-effect"] == ['drop "flag SUICIDE_IMMINENT (critical)"', 'drop "format defer"', 'drop "noted=true"']
    assert got["flag-level"] == ["flag SUICIDE_IMMINENT critical → warning"]
    assert got["format"] == ["choose defer → choose individual"]
    assert got["derive-value"] == ["derive noted=true → noted=false"]
    assert changes(generate(fixture_rules).mutants, "T-INDIVIDUAL")["format"] == [
        "choose individual → choose group",
        "choose individual → choose defer",
    ]


def test_operators_the_fixture_does_not_reach(fixture_rules) -> None:
    # a `not`, a focus proposal, an excluded format and an enum literal, on a rule built here
    rule = dataclasses.replace(
        fixture_rules.rule("T-GROUP"),
        when=Not(Leaf("preferred_format", "is", "individual")),
        then=(ProposeFocus("grief", "present", "a death"),),
    )
    rs = dataclasses.replace(fixture_rules, rules=(rule,))
    got = changes(generate(rs).mutants, "T-GROUP")
    assert got["drop-not"] == ['drop the "not" before "Preferred format is individual"']
    assert got["literal"] == [
        '"Preferred format is individual" → "Preferred format is group"',
        '"Preferred format is individual" → "Preferred format is either"',
    ]
    assert got["focus"] == ["focus grief: basis present → onset_linked", "focus grief → role_transition"]


def test_same_meaning_is_generated_once(fixture_rules) -> None:
    # on whole numbers `above 16` is `at_least 17`; on yes/no `is false` is `is_not true`
    everything = generate(fixture_rules)
    assert everything.duplicates == 7
    assert not [m for m in everything.mutants if m.operator == "boundary"]
    alone = generate(fixture_rules, operators=("boundary",))
    assert changes(alone.mutants, "T-MORE")["boundary"] == [
        '"PHQ-9 total is at least 16" → "PHQ-9 total is above 16"',
        '"PHQ-9 total is at most 27" → "PHQ-9 total is below 27"',
    ]
    assert set(OPERATORS) >= {m.operator for m in everything.mutants}


def test_every_mutant_names_its_line(fixture_rules) -> None:
    lines = (RULES / "rules.yaml").read_text(encoding="utf-8").splitlines()
    for m in generate(fixture_rules).mutants:
        path, line = m.location.rsplit(":", 1)
        assert path.endswith("tests/files/mutation/rules/rules.yaml")
        text = lines[int(line) - 1]
        if m.operator == "drop-effect" and "flag" in m.change:
            assert "flag:" in text, (m.change, text)
        if m.operator in ("threshold", "negate-leaf") and "PHQ-9" in m.change:
            assert "phq9" in text, (m.change, text)


# --------------------------------------------------------------------------- weak and strong tests

WEAK_SURVIVORS = {
    ("T-IMMINENT", "drop-leaf", 'drop "C-SSRS Q5: plan is yes"'),
    ("T-IMMINENT", "drop-effect", 'drop "flag SUICIDE_IMMINENT (critical)"'),
    ("T-IMMINENT", "flag-level", "flag SUICIDE_IMMINENT critical → warning"),
    ("T-IMMINENT", "drop-effect", 'drop "format defer"'),
    ("T-IMMINENT", "format", "choose defer → choose individual"),
    ("T-LESS", "threshold", '"PHQ-9 total is below 16" → "PHQ-9 total is below 15"'),
    ("T-LESS", "threshold", '"PHQ-9 total is below 16" → "PHQ-9 total is below 17"'),
    ("T-MORE", "threshold", '"PHQ-9 total is at least 16" → "PHQ-9 total is at least 15"'),
    ("T-MORE", "threshold", '"PHQ-9 total is at least 16" → "PHQ-9 total is at least 17"'),
    ("T-MORE", "threshold", '"PHQ-9 total is at most 27" → "PHQ-9 total is at most 26"'),
    ("T-MORE", "drop-effect", 'drop "flag MORE_SEVERE (warning)"'),
    ("T-MORE", "flag-level", "flag MORE_SEVERE warning → info"),
    ("T-GROUP", "drop-effect", 'drop "format group"'),
    ("T-GROUP", "format", "choose group → choose individual"),
    ("T-INDIVIDUAL", "drop-leaf", 'drop "Preferred format is one of individual, either"'),
    (
        "T-INDIVIDUAL",
        "in-list",
        '"Preferred format is one of individual, either" → "Preferred format is one of either"',
    ),
    (
        "T-INDIVIDUAL",
        "in-list",
        '"Preferred format is one of individual, either" → "Preferred format is one of individual, either, group"',
    ),
    ("T-INDIVIDUAL", "drop-effect", 'drop "format individual"'),
    ("T-INDIVIDUAL", "format", "choose individual → choose group"),
    ("T-INDIVIDUAL", "format", "choose individual → choose defer"),
    ("T-PROLONGED", "any-all", '"all of" → "any of" (2 parts)'),
    ("T-PROLONGED", "drop-leaf", 'drop "Months since the death is at least 12"'),
    ("T-PROLONGED", "threshold", '"Months since the death is at least 12" → "Months since the death is at least 11"'),
    ("T-PROLONGED", "threshold", '"Months since the death is at least 12" → "Months since the death is at least 13"'),
    ("T-PROLONGED", "drop-effect", 'drop "flag PROLONGED_GRIEF (warning)"'),
    ("T-PROLONGED", "flag-level", "flag PROLONGED_GRIEF warning → info"),
}
EQUIVALENT = {
    ("T-IMMINENT", 'drop "noted=true"'),  # no rule reads it, no decision field shows it
    ("T-IMMINENT", "derive noted=true → noted=false"),
    ("T-MORE", 'drop "PHQ-9 total is at most 27"'),  # 27 is the top of the PHQ-9
    ("T-MORE", '"PHQ-9 total is at most 27" → "PHQ-9 total is at most 28"'),
    ("T-PROLONGED", 'drop "Grief present is yes"'),  # months are only recorded when grief is present
}


def test_weak_tests_leave_the_known_survivors(fixture_rules) -> None:
    report = mutation.run(fixture_rules, ruletests.embedded_cases(fixture_rules), jobs=1)
    survived = {
        (r.mutant.rule_id, r.mutant.operator, r.mutant.change) for r in report.results if r.status == "survived"
    }
    assert survived == WEAK_SURVIVORS
    assert {(r.mutant.rule_id, r.mutant.change) for r in report.results if r.status == "equivalent"} == EQUIVALENT
    assert (len(report.results), report.count("killed")) == (56, 25)
    for r in report.results:
        if r.status == "survived":
            assert r.nearest and r.suggestion is not None, r.mutant.change


def test_cli_exit_1_with_every_survivor_listed(runner) -> None:
    result = runner.invoke(cli, ["rules", "test", "tests/files/mutation/rules", "--mutate", "--jobs", "2"])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert out.count("\nSURVIVED  ") == len(WEAK_SURVIVORS)
    block = out.split("SURVIVED  T-IMMINENT  tests/files/mutation/rules/rules.yaml:12  [drop-leaf]\n")[1].split("\n\n")[
        0
    ]
    assert block.splitlines()[:3] == [
        '  change:    drop "C-SSRS Q5: plan is yes"',
        '  missed by: T-IMMINENT "neither" (tests/files/mutation/rules/rules.yaml:19)',
        "  kill it:   add to T-IMMINENT's tests:",
    ]
    assert "intake: {risk: {cssrs: {plan: true}}}" in block
    assert "expect: {fires: true, format: defer, flags: [SUICIDE_IMMINENT]}" in block
    equivalent = out.split("EQUIVALENT (5: no intake can tell them apart; not counted in the score)\n")[1]
    assert "T-MORE  tests/files/mutation/rules/rules.yaml:41  drop \"PHQ-9 total is at most 27\"" in equivalent
    assert (
        "56 mutants: 25 killed, 26 survived, 5 equivalent (7 duplicates of another mutant not counted); "
        "mutation score 49.0 %" in out
    )
    assert " s with 2 workers" in out


def test_strong_cases_kill_every_killable_mutant(runner) -> None:
    result = runner.invoke(cli, ["rules", "test", "tests/files/mutation/rules", "--mutate", "--cases", str(STRONG)])
    assert result.exit_code == 0, result.output
    assert "SURVIVED" not in result.stdout
    assert "56 mutants: 51 killed, 0 survived, 5 equivalent" in result.stdout
    assert "mutation score 100.0 %" in result.stdout
    assert "EQUIVALENT (5:" in result.stdout  # listed apart, not hidden


def test_json_report(runner) -> None:
    result = runner.invoke(
        cli, ["rules", "test", "tests/files/mutation/rules", "--mutate", "--format", "json", "--jobs", "1"]
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)  # the test run's own lines went to stderr
    assert result.stderr == "12 passed, 0 failed\n"
    assert data["counts"] == {"mutants": 56, "killed": 25, "survived": 26, "equivalent": 5, "duplicates": 7}
    survivor = next(r for r in data["results"] if r["status"] == "survived")
    assert set(survivor) == {"number", "rule", "operator", "location", "change", "status", "missed_by", "suggestion"}
    assert survivor["suggestion"]["kind"] in ("add", "extend")


def test_mutation_needs_passing_tests(runner, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "rules.yaml").read_text(encoding="utf-8")
    (rules / "rules.yaml").write_text(
        text.replace(
            "{name: neither, intake: {}, expect: {fires: false}}",
            "{name: neither, intake: {}, expect: {fires: false, format: defer}}",
        )
    )
    result = runner.invoke(cli, ["rules", "test", str(rules), "--mutate"])
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "expected format 'defer', got 'group'" in result.stdout
    assert "mutation testing" not in result.stdout


def test_case_file_problems_are_listed_with_lines(runner, tmp_path: Path) -> None:
    bad = tmp_path / "cases.yaml"
    bad.write_text(
        "cases:\n"
        "  - name: a\n    intake: no-such.yaml\n    expect: {format: group}\n"
        "  - name: b\n    intake: {intake_version: 1}\n    expect: {fires: true, format: groop}\n"
    )
    result = runner.invoke(cli, ["rules", "test", "tests/files/mutation/rules", "--cases", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{bad}:3: cases[0].intake: no intake file 'no-such.yaml' (names are relative to the case file)",
        f"{bad}:6: cases[1].intake.age: required",
        f"{bad}:6: cases[1].intake.assessed_on: required",
        f"{bad}:6: cases[1].intake.id: required",
        f"{bad}:6: cases[1].intake.measures.phq9: required",
        f"{bad}:7: cases[1].expect: expect.format: unknown format 'groop'",
        f"{bad}:7: cases[1].expect.fires: unknown key; a case file may expect status, format, primary, secondary, "
        "flags, not_flags, flag_levels, flag_order, actions, conditions, not_conditions, condition_order, considers, "
        "not_considers, considerations, not_considerations, severity, banners, handout",
    ]
    assert result.stdout == ""


# --------------------------------------------------------------------------- held to the engine and to intakes


def test_sampled_mutant_verdicts_match_the_engine(shipped) -> None:
    """The direct evaluator (with its skipping of unaffected cases) and a real durable-rules
    engine per mutant fail exactly the same cases, for mutants of every operator."""
    advisor, cases = shipped
    rs = advisor.ruleset
    baseline = mutation.Baseline(rs, cases)
    mutants = generate(rs).mutants
    rng = random.Random(12)
    by_operator = defaultdict(list)
    for m in mutants:
        by_operator[m.operator].append(m)
    sample = [m for group in by_operator.values() for m in rng.sample(group, min(4, len(group)))]
    assert len(sample) >= 40
    for m in sample:
        direct = set(mutation.killers(baseline, m, first_only=False))
        engine_advisor = Advisor(dataclasses.replace(mutated_ruleset(rs, m), name=f"mutant-{m.number}"))
        try:
            engine = {i for i, case in enumerate(cases) if ruletests.run(engine_advisor, case).failures}
        finally:
            engine_advisor.engine.close()
        assert direct == engine, (m.rule_id, m.change, sorted(direct ^ engine))


def _outcome(decision: dict, rs, intake) -> tuple:
    """Everything a test can expect: status, format, focus, flags with their levels, order
    and actions, conditions in order, points for review and their texts, severity, banners,
    and the client handout."""
    case = ruletests.Case("x", "<generated>", intake.record, {})
    return (
        decision["status"],
        decision["recommendation"]["format"],
        decision["focus"]["primary"],
        decision["focus"]["secondary"],
        [(f["code"], f["level"], f["action"]) for f in decision["flags"]],
        decision["recommendation"]["conditions"],
        [(c["rule"], c["text"]) for c in decision["considerations"]],
        decision["severity"],
        [b["text"] for b in decision["banners"]],
        ruletests.handout_text(rs, case, decision),
    )


@pytest.mark.parametrize("which", ["shipped", "fixture"])
def test_equivalent_mutants_change_no_outcome_on_generated_intakes(shipped, fixture_rules, which: str) -> None:
    rs = shipped[0].ruleset if which == "shipped" else fixture_rules
    cases = ruletests.embedded_cases(rs)
    report = mutation.run(rs, cases, jobs=1)
    equivalent = [r.mutant for r in report.results if r.status == "equivalent"]
    assert equivalent or which == "shipped"  # the fixture has five on purpose
    rng = random.Random(2026)
    intakes = [validated(random_intake(rng)) for _ in range(300)]
    real = rs.memo(Evaluator)
    values = [input_values(intake, rs) for intake in intakes]
    before = [_outcome(real.decide(v, "x"), rs, intakes[n]) for n, v in enumerate(values)]
    for m in equivalent:
        mutated = Evaluator(mutated_ruleset(rs, m))
        for n, v in enumerate(values):
            assert _outcome(mutated.decide(v, "x"), mutated.ruleset, intakes[n]) == before[n], (
                m.subject,
                m.change,
                intakes[n].record,
            )


#: The expect keys that pin rule format v2 (order, chosen texts, scopes, banners, handout).
V2_KEYS = (
    "flag_order",
    "actions",
    "not_conditions",
    "condition_order",
    "not_considers",
    "considerations",
    "not_considerations",
    "banners",
    "handout",
)


@pytest.mark.parametrize("which", ["shipped without the v2 keys", "fixture"])
def test_every_suggested_test_kills_its_mutant(shipped, fixture_rules, which: str) -> None:
    """Follow the report's advice for each survivor: the suggested test passes on the real
    rules and fails on the mutant.  On the shipped rules with the v2 keys taken out of every
    case, the survivors are the v2 mutants (variants, scopes, topics, urgency, banners, a fact
    only the handout reads), so the suggestions for those are followed too."""
    if which == "fixture":
        rs, cases = fixture_rules, ruletests.embedded_cases(fixture_rules)
    else:
        rs = shipped[0].ruleset
        cases = [
            dataclasses.replace(c, expect={k: v for k, v in c.expect.items() if k not in V2_KEYS}) for c in shipped[1]
        ]
    report = mutation.run(rs, cases, jobs=2)
    survivors = [r for r in report.results if r.status == "survived"]
    if which == "fixture":
        assert len(survivors) == len(WEAK_SURVIVORS)  # never vacuous, whatever the shipped rules become
    else:
        operators = {r.mutant.operator for r in survivors}
        assert {"drop-variant", "if-format", "urgency", "banner", "condition-order"} <= operators, operators
    by_location = {c.location: c for c in cases}
    for r in survivors:
        s = r.suggestion
        assert s is not None, (r.mutant.rule_id, r.mutant.change)
        if s.kind == "extend":
            base = by_location[s.case.rsplit(" (", 1)[1].rstrip(")")]
            case = dataclasses.replace(base, expect={**base.expect, **s.expect})
        else:
            case = ruletests.Case(
                s.name,
                "<suggested>",
                ruletests.merge(rs.test_baseline, s.intake),
                s.expect,
                owner=s.rule_id,
                fragment=s.intake,
            )
        suggested = mutation.Baseline(rs, [case])  # raises if it failed on the real rules
        assert mutation.killers(suggested, r.mutant), (r.mutant.rule_id, r.mutant.change, s)


def test_shipped_rules_have_no_surviving_mutants(runner) -> None:
    """The shipped rules' tests (and the vignettes) notice every change a mutant makes, so a
    future edit that leaves a hole fails here: mutation score 100 %, equivalent ones listed."""
    result = runner.invoke(cli, ["rules", "test", "--mutate", "--cases", str(VIGNETTE_CASES), "--jobs", "2"])
    assert result.exit_code == 0, result.stdout[-4000:]
    assert "SURVIVED" not in result.stdout
    assert " 0 survived" in result.stdout and "mutation score 100.0 %" in result.stdout
    assert "EQUIVALENT (" in result.stdout  # listed apart, each with its reason


def test_the_run_refuses_when_the_evaluator_and_engine_disagree(shipped) -> None:
    advisor, cases = shipped
    baseline = mutation.Baseline(advisor.ruleset, cases[:5])
    baseline.cross_check(advisor)  # they agree
    baseline.states[3].decision["recommendation"]["format"] = "individual"  # as a wrong evaluator would
    with pytest.raises(mutation.MutationError, match="the plain-Python evaluator and the engine disagree"):
        baseline.cross_check(advisor)


# --------------------------------------------------------------------------- condition coverage


def test_condition_coverage_on_the_fixture(fixture_rules) -> None:
    result = {r.rule_id: r for r in mcdc.coverage(fixture_rules, ruletests.embedded_cases(fixture_rules))}
    intent, plan = result["T-IMMINENT"].leaves
    assert (intent.makes_it_fire, intent.keeps_it_silent) == (["intent"], ["neither"])
    assert (plan.makes_it_fire, plan.keeps_it_silent) == ([], ["neither"])  # intent alone already fires it
    assert plan.missing == "never shown making it fire"
    present, months = result["T-PROLONGED"].leaves
    assert present.redundant and not present.covered  # months are only recorded when grief is present
    assert present.missing == "cannot decide on its own: the condition means the same without it"
    # the silent case has no grief at all, so the months (unknown) cannot keep it silent alone
    assert (months.makes_it_fire, months.keeps_it_silent) == (["14 months"], [])
    assert result["T-MORE"].covered == result["T-MORE"].coverable == 1  # "at most 27" is redundant
    assert mcdc.totals(list(result.values())) == (5, 8, 10, 3, 6)


def test_strong_cases_do_not_count_for_condition_coverage(fixture_rules) -> None:
    # only a rule's own cases say whether it fires; case files are for --mutate
    cases = ruletests.all_cases(fixture_rules, [str(STRONG)])
    assert mcdc.totals(mcdc.coverage(fixture_rules, cases)) == mcdc.totals(
        mcdc.coverage(fixture_rules, ruletests.embedded_cases(fixture_rules))
    )


def test_cli_coverage_shows_condition_coverage(runner) -> None:
    result = runner.invoke(cli, ["rules", "test", "tests/files/mutation/rules", "--coverage"])
    assert result.exit_code == 0
    out = result.stdout
    assert (
        "  T-IMMINENT    1 of 2\n      C-SSRS Q5: plan is yes (tests/files/mutation/rules/rules.yaml:12): "
        "never shown making it fire\n" in out
    )
    assert (
        "5 of 8 condition tests covered (62.5 %; 2 more cannot decide on their own); 3 of 6 rules fully covered" in out
    )


def test_shipped_coverage_counts(shipped) -> None:
    advisor, cases = shipped
    rs = advisor.ruleset
    covered, coverable, count, full, rules = mcdc.totals(mcdc.coverage(rs, cases))
    variant_leaves = sum(
        len(leaves(v.when)) for r in rs.active_rules for e in r.then for v in getattr(e, "variants", ())
    )
    banner_leaves = sum(len(leaves(v.when)) for b in rs.policies.banners for v in b.variants)
    assert variant_leaves and banner_leaves
    assert count == sum(len(leaves(r.when)) for r in rs.active_rules) + variant_leaves + banner_leaves
    assert rules == len(rs.active_rules)
    # every leaf that can decide on its own is shown doing so by the rule's own tests
    assert (covered, full) == (coverable, rules)


def test_condition_coverage_of_text_variants(shipped) -> None:
    """A variant's condition decides which text prints: its leaves are covered by the rule's
    own cases that choose the text and that keep it out."""
    advisor, cases = shipped
    result = {r.rule_id: r for r in mcdc.coverage(advisor.ruleset, cases)}
    variant = [leaf for leaf in result["RISK-SI-IDEATION"].leaves if leaf.text]
    assert [(leaf.text, leaf.words) for leaf in variant] == [
        ("text variant 1 of flag SUICIDE_IDEATION's action", "C-SSRS screen completeness is missing or incomplete")
    ]
    assert "item 9 = 3 with no C-SSRS at all" in variant[0].makes_it_fire
    assert "passive wish (Q1) only" in variant[0].keeps_it_silent
    assert variant[0].ways == ("choosing the text", "keeping the text out")
    banners = result[mcdc.POLICIES].leaves
    assert [leaf.words for leaf in banners] == ["The person declined the C-SSRS screener is yes"]
    assert banners[0].covered


def test_operators_reach_the_shipped_rules(shipped) -> None:
    ops = Counter(m.operator for m in generate(shipped[0].ruleset).mutants)
    assert {
        "drop-leaf",
        "negate-leaf",
        "threshold",
        "literal",
        "in-list",
        "any-all",
        "drop-effect",
        "flag-level",
        "format",
        "derive-value",
        "focus",
        "drop-variant",
        "topic",
        "if-format",
        "urgency",
        "condition-order",
        "banner",
    } <= set(ops)


def _by_change(mutants, subject: str) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for m in mutants:
        if m.subject == subject:
            out[m.operator].append(m)
    return out


def test_v2_operators(shipped) -> None:
    """The rule-format-v2 mechanisms are mutated too: a text variant (dropped, or its condition
    changed like any condition), a condition's topic, an if_format scope, and the manifest's
    urgency list, conditions order and banners - each with its line in the YAML."""
    rs = shipped[0].ruleset
    mutants = generate(rs).mutants
    lines = {
        name: (ROOT / "rules" / name).read_text(encoding="utf-8").splitlines()
        for name in ("safety.yaml", "format.yaml", "ruleset.yaml", "group_exclusions.yaml")
    }

    def line(m) -> str:
        path, number = m.location.rsplit(":", 1)
        return lines[path.split("/")[-1]][int(number) - 1]

    ideation = _by_change(mutants, "RISK-SI-IDEATION")
    variant = (
        "flag SUICIDE_IDEATION's action, text variant 1 (when C-SSRS screen completeness is missing or incomplete)"
    )
    assert [m.change for m in ideation["drop-variant"]] == [f"{variant}: dropped (the text before it prints instead)"]
    assert (
        f'{variant}: "C-SSRS screen completeness is missing or incomplete" → '
        '"C-SSRS screen completeness is complete"' in [m.change for m in ideation["literal"]]
    )
    assert all("risk_screen: missing" in line(m) for m in ideation["drop-variant"] + ideation["literal"])
    assert all(m.target == "then" and m.variant == 0 for m in ideation["literal"] if "text variant" in m.change)
    assert [m.change for m in ideation["if-format"]] == [
        'condition "A clinician confirms the group is suita…": drop "if_format: group" (it prints in every format)'
    ]
    social = _by_change(mutants, "FMT-SOCIAL-ANXIETY")
    assert [m.change for m in social["topic"]] == [
        'condition "the group\'s social demands (expectation…": topic pre_group_session → confirm_episode',
        'condition "the group\'s social demands (expectation…": drop the topic pre_group_session (the detail prints alone)',
    ]
    assert all("condition:" in line(m) for m in social["topic"])
    narrowed = [m.change for m in _by_change(mutants, "GRP-CANNOT-ATTEND")["if-format"]]
    assert narrowed[1:] == [
        'consideration "A group is ruled out because the person…": if_format individual/defer → defer',
        'consideration "A group is ruled out because the person…": if_format individual/defer → individual',
    ]
    policies = _by_change(mutants, "policies")
    urgency = [m.change for m in policies["urgency"]]
    assert urgency[:2] == [
        "flag urgency: drop SUICIDE_IMMINENT (it follows every listed code)",
        "flag urgency: SUICIDE_IMMINENT ↔ HOSTILE_OR_HOMICIDAL (the next one)",
    ]
    assert len(urgency) == 2 * len(rs.policies.flag_urgency) - 1
    assert all(m.rule is None and m.policies is not None and m.target == "policies" for m in policies["urgency"])
    # each points at the urgency entry it moves: the first code its change names
    assert all(
        line(m).strip() == "- " + m.change.split(": ")[1].replace("drop ", "").split()[0] for m in policies["urgency"]
    )
    assert [m.change for m in policies["condition-order"]] == ["conditions order: flag_urgency → trace"]
    banners = [m.change for m in policies["banner"]]
    assert (
        'banner "RISK OF HARM TO OTHERS — same-day asses…": shown for HOSTILE_OR_HOMICIDAL at any level, '
        "not only critical" in banners
    )
    assert all(line(m).lstrip().startswith(("- flag:", "- status:")) for m in policies["banner"])
    assert {m.home for m in policies["urgency"][:2]} == {"RISK-SI-IMMINENT"}  # where a killing test belongs

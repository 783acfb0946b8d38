"""Lint on broken copies of the shipped rule set: each mistake found, with file:line."""

from __future__ import annotations

from pathlib import Path

from ipt_advisor.ruleset.load import lint


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _messages(rules_dir: Path) -> list[str]:
    _, problems = lint(rules_dir)
    return [f"{Path(p.source).name}:{p.line}: {p.path}: {p.message}" for p in problems]


def test_shipped_rules_are_clean() -> None:
    ruleset, problems = lint()
    assert problems == [] and ruleset is not None and len(ruleset.active_rules) >= 25


def test_type_mismatch_and_value_outside_allowed_set(rules_copy: Path) -> None:
    _edit(rules_copy / "severity.yaml", "when: {phq9: {at_least: 16}}", 'when: {phq9: {at_least: "16"}}')
    _edit(rules_copy / "format.yaml", "when: {preferred_format: individual}", "when: {preferred_format: individually}")
    found = _messages(rules_copy)
    assert any("SEV-NICE-MORE.when: phq9 is a whole number; text '16' cannot be compared with it" in m for m in found)
    assert any(
        "FMT-REFUSES-GROUP.when: 'individually' is not a value of preferred_format (did you mean 'individual'?)" in m
        for m in found
    )


def test_contradiction_and_conflict(rules_copy: Path) -> None:
    _edit(rules_copy / "severity.yaml", "when: {phq9: {at_least: 20}}", "when: {phq9: {at_least: 20, below: 10}}")
    text = (rules_copy / "format.yaml").read_text()
    start = text.index("  - id: FMT-REFUSES-GROUP\n")
    end = text.index("\n  - id:", start + 1)
    twin = (
        text[start:end]
        .replace("FMT-REFUSES-GROUP", "FMT-REFUSES-TWIN", 1)
        .replace("exclude: group", "choose: defer", 1)
    )
    (rules_copy / "format.yaml").write_text(text + "\n" + twin + "\n")
    found = _messages(rules_copy)
    assert any("SEV-KROENKE-SEVERE.when: can never fire: the condition contradicts itself" in m for m in found)
    assert any("FMT-REFUSES-TWIN.then: conflicts with FMT-REFUSES-GROUP" in m for m in found)


def test_unreachable_rule(rules_copy: Path) -> None:
    # nothing derives nice_band=less_severe any more -> the rule reading it can never fire
    _edit(
        rules_copy / "severity.yaml",
        "then: [{derive: {nice_band: less_severe}}]",
        "then: [{derive: {kroenke_band: mild}}]",
    )
    found = _messages(rules_copy)
    assert any(
        m.endswith(
            "FMT-GROUP-DEFAULT.when: can never fire: the condition contradicts itself "
            "or needs a derived value no active rule sets"
        )
        for m in found
    )


def test_missing_tests_and_unknown_reference(rules_copy: Path) -> None:
    _edit(
        rules_copy / "severity.yaml",
        "references: [S30]\n    when: {phq9: {at_most: 4}}",
        "references: [S99]\n    when: {phq9: {at_most: 4}}",
    )
    _edit(
        rules_copy / "severity.yaml",
        "      - {name: score 5, intake: {measures: {phq9: 5}}, expect: {fires: false}}\n",
        "",
    )
    found = _messages(rules_copy)
    assert any("SEV-KROENKE-MINIMAL.references: unknown source 'S99'" in m for m in found)
    assert any(
        "SEV-KROENKE-MINIMAL.tests: an active rule needs at least one test where it fires and one where it stays silent"
        in m
        for m in found
    )


def test_expect_keys_are_checked(rules_copy: Path) -> None:
    _edit(
        rules_copy / "severity.yaml",
        "{name: score 15, intake: {measures: {phq9: 15}}, expect: {fires: false, not_flags: [MORE_SEVERE]}}",
        "{name: score 15, intake: {measures: {phq9: 15}}, expect: {fires: false, flag_levels: {MORE_SEVER: urgent}, "
        "conditions: [''], considers: [SEV-NICE-MOOR], severity: {band: x}}}",
    )
    found = [m for m in _messages(rules_copy) if "SEV-NICE-MORE.tests" in m]
    assert any("expect.flag_levels: unknown flag code 'MORE_SEVER' (did you mean 'MORE_SEVERE'?)" in m for m in found)
    assert any("expect.flag_levels.MORE_SEVER: level must be one of critical, warning, info" in m for m in found)
    assert any("expect.conditions: must be a list of texts" in m for m in found)
    assert any("expect.considers: no rule 'SEV-NICE-MOOR'" in m for m in found)
    assert any("expect.severity: unknown field 'band'" in m for m in found)


def test_order_text_and_absence_expect_keys_are_checked(rules_copy: Path) -> None:
    _edit(
        rules_copy / "severity.yaml",
        "      - name: score 16 at 18 - adult guidance\n        intake: {age: 18, measures: {phq9: 16}}\n"
        "        expect: {fires: true, actions: {MORE_SEVERE: Individual or combined treatment first}}",
        "      - name: score 16 at 18 - adult guidance\n        intake: {age: 18, measures: {phq9: 16}}\n"
        "        expect: {fires: true, actions: {MORE_SEVER: x}, flag_order: [MORE_SEVER], banners: banner, "
        "not_conditions: [''], handout: [3], not_considers: [SEV-NICE-MOOR], considerations: {a: b}}",
    )
    found = [m for m in _messages(rules_copy) if "SEV-NICE-MORE.tests" in m]
    assert any("expect.actions: unknown flag code 'MORE_SEVER' (did you mean 'MORE_SEVERE'?)" in m for m in found)
    assert any("expect.flag_order: unknown flag code 'MORE_SEVER'" in m for m in found)
    assert any(
        "expect.banners: must be a list of texts (each found in its banners, one text for each banner "
        "in order ([] for none))" in m
        for m in found
    )
    assert any("expect.not_conditions: must be a list of texts" in m for m in found)
    assert any("expect.handout: must be a list of texts (each found in the client handout)" in m for m in found)
    assert any("expect.not_considers: no rule 'SEV-NICE-MOOR'" in m for m in found)
    assert any("expect.considerations: must be a list of texts" in m for m in found)


# ---------------------------------------------------------------- rule format v2 (issue 10)


def test_a_group_word_in_an_unscoped_text_is_a_problem(rules_copy: Path) -> None:
    """policies.format.scoped_words: a sentence about the group must say it is for groups."""
    _edit(
        rules_copy / "format.yaml",
        "      - consider:\n          if_format: [group]\n          text: >\n            Social anxiety is a caution",
        "      - consider:\n          text: >\n            Social anxiety is a caution",
    )
    found = _messages(rules_copy)
    assert any(
        "FMT-SOCIAL-ANXIETY-PREPARE.then: the text names 'group', which ties it to the format group; "
        "scope it with if_format" in m
        for m in found
    )


def test_unknown_topic_urgency_code_banner_flag_and_variant_fact(rules_copy: Path) -> None:
    _edit(rules_copy / "format.yaml", "topic: pre_group_session, if_format", "topic: pre_group, if_format")
    _edit(
        rules_copy / "ruleset.yaml",
        "      - SUICIDE_IMMINENT\n      - HOSTILE",
        "      - SUICIDE_IMMINENT\n      - SUICIDE_IMMINENT\n      - HOSTILE",
    )
    _edit(rules_copy / "ruleset.yaml", "    - flag: SUICIDE_IMMINENT\n", "    - flag: SUICIDE_IMMINENTT\n")
    _edit(rules_copy / "severity.yaml", "- when: {age: {below: 18}}", "- when: {agee: {below: 18}}")
    found = _messages(rules_copy)
    assert any(
        "FMT-GROUP-DEFAULT.then: unknown condition topic 'pre_group' (did you mean 'pre_group_session'?)" in m
        for m in found
    )
    assert any("policies.flags.urgency: SUICIDE_IMMINENT is listed twice" in m for m in found)
    assert any("policies.banners.0.flag: unknown flag code 'SUICIDE_IMMINENTT'" in m for m in found)
    assert any("SEV-NICE-MORE.then: unknown fact 'agee' (did you mean 'age'?)" in m for m in found)


def test_a_label_for_a_value_the_fact_does_not_have_is_a_problem(rules_copy: Path) -> None:
    _edit(rules_copy / "facts.yaml", "moderately_severe: moderately severe, ", "moderatly_severe: moderately severe, ")
    found = _messages(rules_copy)
    assert any(
        "facts.kroenke_band.labels: 'moderatly_severe' is not a value of kroenke_band "
        "(did you mean 'moderately_severe'?)" in m
        for m in found
    )


def test_a_rule_set_without_value_labels_still_loads_and_reads_plainly(rules_copy: Path) -> None:
    """Labels are optional (a v1 rule set has none, and `rules diff` compares against it):
    a value without one prints with spaces for underscores, never as a raw code."""
    text = (rules_copy / "facts.yaml").read_text()
    (rules_copy / "facts.yaml").write_text(
        "\n".join(line for line in text.splitlines() if not line.strip().startswith("labels:")) + "\n"
    )
    ruleset, problems = lint(rules_copy)
    assert problems == [] and ruleset is not None
    from ipt_advisor.core.wording import value_words

    assert value_words("more_severe", ruleset.facts["nice_band"]) == "more severe"


def test_a_variant_that_can_never_be_true_is_a_problem(rules_copy: Path) -> None:
    _edit(rules_copy / "severity.yaml", "- when: {age: {below: 18}}", "- when: {age: {below: 18, above: 30}}")
    found = _messages(rules_copy)
    assert any("SEV-NICE-MORE.then: this variant's condition can never be true" in m for m in found)


def test_a_bad_condition_order_names_the_choices(rules_copy: Path) -> None:
    _edit(rules_copy / "ruleset.yaml", "order: flag_urgency", "order: urgency")
    found = _messages(rules_copy)
    assert any("policies.conditions.order: must be one of trace, flag_urgency" in m for m in found)


def test_input_facts_are_checked_against_the_intake_schema(rules_copy: Path) -> None:
    """facts.yaml restates the type, range and values of each intake field a rule reads; lint
    holds it to the one intake schema, so no rule, test or report reasons about values no
    validated intake can hold (or misses ones it can)."""
    facts = rules_copy / "facts.yaml"
    _edit(facts, "    range: [0, 68]\n    source: measures.spin", "    range: [0, 70]\n    source: measures.spin")
    _edit(
        facts,
        "    values: [renegotiation, impasse, dissolution]\n    source: findings.role_dispute.stage",
        "    values: [renegotiation, impasse, ended]\n    source: findings.role_dispute.stage",
    )
    _edit(facts, "  psychosis:\n    type: boolean", "  psychosis:\n    type: enum\n    values: [yes, no]")
    _edit(facts, "    range: [0, 21]\n    source: measures.gad7", "    source: measures.gad7")
    lines = facts.read_text().splitlines()
    line_of = {name: lines.index(f"  {name}:") + 1 for name in ("spin", "dispute_stage", "psychosis", "gad7")}
    found = _messages(rules_copy)
    assert (
        f"facts.yaml:{line_of['spin']}: facts.spin.range: range [0, 70], but the intake field measures.spin takes "
        "0 to 68: give range: [0, 68]" in found
    )
    assert (
        f"facts.yaml:{line_of['gad7']}: facts.gad7.range: no range, but the intake field measures.gad7 takes "
        "0 to 21: give range: [0, 21]" in found
    )
    assert (
        f"facts.yaml:{line_of['dispute_stage']}: facts.dispute_stage.values: 'ended' not a value of the intake "
        "field findings.role_dispute.stage; 'dissolution' missing: give values: [renegotiation, impasse, "
        "dissolution]" in found
    )
    assert (
        f"facts.yaml:{line_of['psychosis']}: facts.psychosis.type: is enum, but the intake field risk.psychosis "
        "is boolean: give type: boolean" in found
    )

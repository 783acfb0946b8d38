"""Intake validation (intake-v1): every kind of bad input gives exact ``file:line: path: message`` lines.

Each invalid case changes one line of ``BASE`` (whose line numbers are commented), so an
expected line number can be checked by eye.
"""

from __future__ import annotations

import io
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from ipt_advisor.core.errors import IntakeError
from ipt_advisor.intake.schema import (
    FIELD_PATHS,
    SCHEMA,
    Block,
    Field,
    Intake,
    coerce_strings,
    from_mapping,
    load_intake,
    load_intake_file,
)
from ipt_advisor.intake.template import TEMPLATE, render_template

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BASE = """\
intake_version: 1
id: T-1
assessed_on: 2026-10-01
age: 40
measures:
  phq9: 11
risk:
  cssrs:
    wish_dead: false
    active_thoughts: false
    behavior_3m: false
findings:
  role_transition:
    present: true
    onset_linked: true
"""  # lines 1-15: age on 4, phq9 on 6, cssrs answers on 9-11, findings on 12


def problems(text: str | bytes, source: str = "t.yaml") -> list[str]:
    """The problem lines an invalid intake produces, in the order they are reported."""
    with pytest.raises(IntakeError) as info:
        load_intake(text, source)
    return [str(p) for p in info.value.problems]


def edit(old: str, new: str) -> str:
    """BASE with one exact fragment replaced (fails loudly if the fragment is not there)."""
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# --------------------------------------------------------------------------- invalid, one kind each


def test_out_of_range() -> None:
    assert problems(edit("phq9: 11", "phq9: 31")) == [
        "t.yaml:6: measures.phq9: must be a whole number from 0 to 27, got 31"
    ]


@pytest.mark.parametrize("value, shown", [("true", "true"), ("40.0", "40.0"), ("[40]", "a list"), ("null", None)])
def test_wrong_type_for_a_whole_number(value: str, shown: str | None) -> None:
    expected = f"must be a whole number, got {shown}" if shown else "required"
    assert problems(edit("age: 40", f"age: {value}")) == [f"t.yaml:4: age: {expected}"]


def test_wrong_type_for_a_boolean() -> None:
    assert problems(edit("wish_dead: false", "wish_dead: 'no'")) == [
        "t.yaml:9: risk.cssrs.wish_dead: must be true or false, got 'no' (text)"
    ]


def test_numeric_string_is_not_a_number() -> None:
    assert problems(edit("phq9: 11", 'phq9: "10"')) == [
        "t.yaml:6: measures.phq9: must be a whole number, got '10' (text)"
    ]


def test_unknown_key_with_suggestion() -> None:
    text = edit("findings:\n", "findings:\n  gried: {present: true}\n")
    assert problems(text) == ["t.yaml:13: findings.gried: unknown key (did you mean 'grief'?)"]


def test_unknown_key_without_a_close_match() -> None:
    assert problems(BASE + "favourite_colour: blue\n") == [
        "t.yaml:16: an unknown key, 16 characters is not a field of intake-v1"
    ]


def test_enum_is_exact_lower_case() -> None:
    assert problems(BASE + "perinatal: Pregnant\n") == [
        "t.yaml:16: perinatal: must be one of none, pregnant, postpartum; got 'Pregnant' (did you mean 'pregnant'?)"
    ]


def test_missing_required() -> None:
    text = edit("age: 40\n", "").replace("present: true\n", "present: true\n    kind: move\n")
    text += "  grief: {present: true}\n"
    assert problems(text) == [
        "t.yaml:1: age: required",
        "t.yaml:16: findings.grief.months_since_death: required when present is true",
    ]


def test_missing_measures_block_names_the_leaf() -> None:
    assert problems(edit("measures:\n  phq9: 11\n", "")) == ["t.yaml:1: measures.phq9: required"]


def test_malformed_yaml() -> None:
    assert problems(edit("age: 40", "age: [40")) == [
        "t.yaml:5: malformed YAML/JSON: while parsing a flow sequence did not find expected ',' or ']'"
    ]


def test_impossible_date_is_a_problem_not_a_traceback() -> None:
    assert problems(edit("2026-10-01", "2026-02-30")) == [
        "t.yaml:3: assessed_on: '2026-02-30' cannot be read as timestamp (day is out of range for month)"
    ]
    assert problems(edit("2026-10-01", "'2026-02-30'")) == [
        "t.yaml:3: assessed_on: is not a real date, got '2026-02-30'"
    ]


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    assert problems(text) == ["t.yaml: file is empty"]


@pytest.mark.parametrize(
    "text, shown",
    [("- intake_version: 1\n- age: 40\n", "a list"), ("just words\n", "'just words' (text)"), ("42\n", "42")],
)
def test_top_level_must_be_a_mapping(text: str, shown: str) -> None:
    assert problems(text) == [f"t.yaml:1: an intake must be a mapping of fields (key: value), got {shown}"]


def test_python_tag_is_refused() -> None:
    text = edit("age: 40", "age: !!python/object/apply:os.system ['echo owned']")
    assert problems(text) == ["t.yaml:4: age: tag '!!python/object/apply:os.system' is not allowed"]


def test_alias_bomb_is_refused_whole() -> None:
    """Nine levels of aliases would expand to 9**9 strings; the first alias refuses the document."""
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi"):
        bomb += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    assert problems(bomb) == ["t.yaml:2: YAML anchors and aliases are not allowed (at an unknown key, 1 character)"]


def test_duplicate_key() -> None:
    assert problems(edit("age: 40\n", "age: 40\nage: 41\n")) == [
        "t.yaml:5: age: duplicate key (first defined on line 4)"
    ]


def test_future_date() -> None:
    assert problems(edit("2026-10-01", "2999-01-01")) == [
        "t.yaml:3: assessed_on: must not be in the future, got 2999-01-01"
    ]


def test_a_date_with_a_time_is_not_a_date() -> None:
    assert problems(edit("2026-10-01", "2026-10-01 09:30:00")) == [
        "t.yaml:3: assessed_on: must be a date written YYYY-MM-DD, got 2026-10-01 09:30:00 (a date and time)"
    ]


def test_id_and_version() -> None:
    text = edit("intake_version: 1", "intake_version: 2").replace("id: T-1", "id: Jane Smith")
    assert problems(text) == [
        "t.yaml:1: intake_version: must be 1, got 2",
        "t.yaml:2: id: must be 1 to 64 letters, digits, hyphens, underscores or dots, got 'Jane Smith'",
    ]
    assert problems(edit("id: T-1", "id: 12345")) == ["t.yaml:2: id: must be text, got 12345 (put it in quotes)"]


def test_null_is_not_the_default_for_a_risk_item() -> None:
    # omitting psychosis means false (spec); writing it empty is a question left unanswered
    assert problems(BASE.replace("risk:\n", "risk:\n  psychosis:\n")) == [
        "t.yaml:8: risk.psychosis: must be true or false, got null"
    ]


def test_block_of_the_wrong_shape() -> None:
    answers = "  cssrs:\n    wish_dead: false\n    active_thoughts: false\n    behavior_3m: false\n"
    assert problems(edit(answers, "  cssrs: false\n  old_cssrs: {}\n")) == [
        "t.yaml:8: risk.cssrs: must be a mapping of fields, got false",
        "t.yaml:9: risk.old_cssrs: unknown key (did you mean 'cssrs'?)",
    ]


def test_text_too_long() -> None:
    assert problems(BASE + f"notes: {'x' * 10_001}\n") == [
        "t.yaml:16: notes: must be at most 10000 characters, got 10001"
    ]


def test_many_problems_reported_together_and_sorted() -> None:
    text = (
        BASE.replace("phq9: 11", "phq9: -1")
        .replace("age: 40", "age: 4")
        .replace("    onset_linked: true", "    onset_linked: yes please")
        + "preferences:\n  format: grp\nclinician_decision: {focus: grief}\n"
    )
    assert problems(text) == [
        "t.yaml:4: age: must be a whole number from 5 to 120, got 4",
        "t.yaml:6: measures.phq9: must be a whole number from 0 to 27, got -1",
        "t.yaml:15: findings.role_transition.onset_linked: must be true or false, got 'yes please' (text)",
        "t.yaml:17: preferences.format: must be one of group, individual, either; got 'grp' (did you mean 'group'?)",
        "t.yaml:18: clinician_decision.format: required",
    ]


# --------------------------------------------------------------------------- valid, and what it means


def test_cssrs_absent_is_valid_but_unknown() -> None:
    intake = load_intake(
        edit(
            "  cssrs:\n    wish_dead: false\n    active_thoughts: false\n    behavior_3m: false\n",
            "  psychosis: false\n",
        ),
        "t.yaml",
    )
    assert intake.record["risk"]["cssrs"] is None
    assert intake.get("risk.cssrs") is None
    assert intake.get("risk.cssrs.wish_dead") is None


def test_cssrs_null_and_empty_answers_are_unknown_not_no() -> None:
    assert (
        load_intake(
            edit("  cssrs:\n    wish_dead: false\n    active_thoughts: false\n    behavior_3m: false\n", "  cssrs:\n"),
            "t.yaml",
        ).get("risk.cssrs")
        is None
    )
    intake = load_intake(edit("wish_dead: false", "wish_dead:"), "t.yaml")
    assert intake.record["risk"]["cssrs"] == {
        "wish_dead": None,
        "active_thoughts": False,
        "method": None,
        "intent": None,
        "plan": None,
        "behavior_3m": False,
    }


def test_q2_yes_with_intent_missing_leaves_intent_unknown() -> None:
    intake = load_intake(edit("active_thoughts: false", "active_thoughts: true\n    method: true"), "t.yaml")
    assert intake.get("risk.cssrs.active_thoughts") is True
    assert intake.get("risk.cssrs.method") is True
    assert intake.get("risk.cssrs.intent") is None
    assert intake.get("risk.cssrs.plan") is None


EXPECTED_BASE_RECORD: dict[str, Any] = {
    "intake_version": 1,
    "site": None,
    "clinician": None,
    "id": "T-1",
    "assessed_on": "2026-10-01",
    "age": 40,
    "perinatal": "none",
    "measures": {"phq9": 11, "phq9_item9": None, "gad7": None, "spin": None},
    "risk": {
        "cssrs": {
            "wish_dead": False,
            "active_thoughts": False,
            "method": None,
            "intent": None,
            "plan": None,
            "behavior_3m": False,
        },
        "cssrs_declined": False,
        "psychosis": False,
        "mania_history": False,
        "substance": "none",
        "cognitive_impairment": "none",
        "hostility": False,
        "harm_to_others": False,
        "acute_crisis": False,
    },
    "findings": {
        "grief": {"present": False, "months_since_death": None, "onset_linked": False},
        "role_dispute": {"present": False, "with": None, "stage": None, "violence": None, "onset_linked": False},
        "role_transition": {"present": True, "kind": None, "onset_linked": True},
        "isolation": {"present": False, "onset_linked": False},
        "social_anxiety": "none",
        "group_discomfort": "none",
    },
    "preferences": {"format": "either", "confidentiality_concern": False, "can_attend_group_times": True},
    "notes": None,
    "clinician_decision": None,
}


def test_defaults_fill_the_whole_shape() -> None:
    intake = load_intake(BASE, "t.yaml")
    assert intake.record == EXPECTED_BASE_RECORD
    assert intake.case_id == "T-1"
    assert intake.source == "t.yaml"


def test_role_dispute_violence_is_not_defaulted_to_false() -> None:
    text = BASE + "  role_dispute:\n    present: true\n    stage: impasse\n"
    assert load_intake(text, "t.yaml").get("findings.role_dispute.violence") is None


def test_an_area_not_present_keeps_no_details() -> None:
    text = BASE + "  grief:\n    present: false\n    months_since_death: 3\n    onset_linked: true\n"
    assert load_intake(text, "t.yaml").record["findings"]["grief"] == {
        "present": False,
        "months_since_death": None,
        "onset_linked": False,
    }
    # but the details are still checked, so a typo never hides behind present: false
    assert problems(text.replace("months_since_death: 3", "months_since_death: 900")) == [
        "t.yaml:18: findings.grief.months_since_death: must be a whole number from 0 to 600, got 900"
    ]


def test_clinician_decision() -> None:
    text = BASE + "clinician_decision:\n  format: individual\n  focus:\n  reason: prefers it\n"
    assert load_intake(text, "t.yaml").record["clinician_decision"] == {
        "format": "individual",
        "focus": None,
        "reason": "prefers it",
    }


WORKED_JSON = """\
{"intake_version": 1, "id": "C-1", "assessed_on": "2026-10-01", "age": 40,
 "measures": {"phq9": 11},
 "risk": {"cssrs": {"wish_dead": false, "active_thoughts": false, "behavior_3m": false}},
 "findings": {"role_transition": {"present": true, "onset_linked": true}}}
"""


def test_json_gives_the_same_record_as_yaml() -> None:
    from_json = load_intake(WORKED_JSON.encode(), "c.json")
    from_yaml = load_intake(BASE.replace("id: T-1", "id: C-1"), "c.yaml")
    assert from_json.record == from_yaml.record
    assert from_json == from_yaml  # source and hash are provenance, not content
    assert from_json.sha256 != from_yaml.sha256


def test_json_problems_have_lines() -> None:
    bad = WORKED_JSON.replace('"phq9": 11', '"phq9": "11"').replace('"role_transition"', '"role_transiton"')
    assert problems(bad, "c.json") == [
        "c.json:2: measures.phq9: must be a whole number, got '11' (text)",
        "c.json:4: findings.role_transiton: unknown key (did you mean 'role_transition'?)",
    ]


def test_sha256_is_of_the_raw_bytes() -> None:
    import hashlib

    assert load_intake(BASE.encode(), "t.yaml").sha256 == hashlib.sha256(BASE.encode()).hexdigest()


def test_from_mapping_without_lines() -> None:
    value = json.loads(WORKED_JSON)
    intake = from_mapping(value, None, "corpus.jsonl:17")
    assert intake.get("measures.phq9") == 11
    assert intake.sha256 == from_mapping(dict(reversed(list(value.items()))), None, "x").sha256  # canonical
    value["age"] = "40"
    with pytest.raises(IntakeError) as info:
        from_mapping(value, None, "corpus.jsonl:17")
    assert [str(p) for p in info.value.problems] == ["corpus.jsonl:17: age: must be a whole number, got '40' (text)"]


def test_field_paths_cover_the_record() -> None:
    full = load_intake(EXAMPLES.joinpath("demo.yaml").read_bytes(), "demo.yaml").record
    full = dict(full, clinician_decision={"format": "group", "focus": None, "reason": None})

    def leaves(value: dict[str, Any], prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, sub in value.items():
            out |= leaves(sub, f"{prefix}{key}.") if isinstance(sub, dict) else {prefix + key}
        return out

    assert leaves(full) == set(FIELD_PATHS)
    assert len(FIELD_PATHS) == len(set(FIELD_PATHS)) == 47
    intake = Intake(full, "x", "0")
    for path in FIELD_PATHS:
        intake.get(path)  # every declared path resolves


def test_get_refuses_a_path_the_schema_does_not_know() -> None:
    intake = load_intake(BASE, "t.yaml")
    with pytest.raises(KeyError, match="did you mean 'measures.phq9'"):
        intake.get("measures.phq_9")


def test_coerce_strings_on_a_csv_row() -> None:
    row = {
        "intake_version": "1",
        "id": "R-7",
        "assessed_on": "2026-10-01",
        "age": " 40 ",
        "measures.phq9": "11",
        "measures.gad7": "",
        "risk.cssrs.wish_dead": "FALSE",
        "risk.cssrs.active_thoughts": "false",
        "risk.cssrs.behavior_3m": "true",
        "findings.role_transition.present": "True",
        "findings.role_transition.kind": "new job",
        "findings.grief.present": "",
        "notes": "  spaces kept  ",
    }
    nested, found = coerce_strings(row, "batch.csv", 7)
    assert found == []
    assert nested["age"] == 40 and nested["risk"]["cssrs"] == {
        "wish_dead": False,
        "active_thoughts": False,
        "behavior_3m": True,
    }
    assert "gad7" not in nested["measures"] and "grief" not in nested["findings"]
    intake = from_mapping(nested, None, "batch.csv:7")
    assert intake.get("findings.role_transition.kind") == "new job"
    assert intake.get("notes") == "  spaces kept  "
    assert intake.get("risk.cssrs.intent") is None


def test_coerce_strings_reports_cells_it_cannot_read() -> None:
    row = {"age": "forty", "risk.psychosis": "maybe", "findings.gried.present": "true", "measures.phq9": "11"}
    nested, found = coerce_strings(row, "batch.csv", 3)
    assert [str(p) for p in found] == [
        "batch.csv:3: age: must be a whole number, got 'forty'",
        "batch.csv:3: risk.psychosis: must be true or false, got 'maybe'",
    ]
    # an unknown column is kept as text, so validation names it with a suggestion
    with pytest.raises(IntakeError) as info:
        from_mapping(nested, None, "batch.csv:3")
    assert "batch.csv:3: findings.gried: unknown key (did you mean 'grief'?)" in [str(p) for p in info.value.problems]


def test_blank_template_is_refused_until_filled_in() -> None:
    """The blank template has no placeholder that passes as a real answer: its required
    fields are empty, so checking it lists each one (it used to pass with the id
    C-YYYY-NNNN and a PHQ-9 of 0)."""
    with pytest.raises(IntakeError) as info:
        load_intake(TEMPLATE, "template.yaml")
    assert sorted(p.path for p in info.value.problems) == ["age", "assessed_on", "id", "measures.phq9"]
    assert all(p.message == "required" for p in info.value.problems)


def test_template_filled_in_reads_as_incomplete() -> None:
    filled = (
        TEMPLATE.replace("id:     ", "id: T-9 ", 1)
        .replace("assessed_on:     ", "assessed_on: 2026-10-01 ", 1)
        .replace("age:     ", "age: 40 ", 1)
        .replace("phq9:     ", "phq9: 12 ", 1)
    )
    intake = load_intake(filled, "template.yaml")
    # the risk questions left empty must never read as "screened, no risk"
    assert set(intake.record["risk"]["cssrs"].values()) == {None}
    assert intake.get("measures.phq9_item9") is None
    assert intake.get("risk.cssrs_declined") is False


def test_the_old_placeholder_id_is_refused() -> None:
    with pytest.raises(IntakeError) as info:
        load_intake(BASE.replace("id: T-1", "id: C-YYYY-NNNN"), "t.yaml")
    assert [str(p) for p in info.value.problems] == [
        "t.yaml:2: id: 'C-YYYY-NNNN' is the template's placeholder: give the case's own pseudonymous id"
    ]


def test_template_mentions_every_field() -> None:
    for path in FIELD_PATHS:
        assert f"{path.rsplit('.', 1)[-1]}:" in TEMPLATE, path


def _uncommented(template: str) -> str:
    """The template with its commented-out block (the clinician's decision) put back."""
    head, mark, block = template.partition("# clinician_decision:")
    assert mark, "the clinician's decision is no longer commented out"
    return head + "\n".join(line[2:] for line in (mark + block).splitlines()) + "\n"


def test_template_holds_exactly_the_schema_fields_in_place() -> None:
    """Generated from the schema: every field at its own path (nesting included), none other."""
    import yaml

    def paths(value: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, sub in value.items():
            out |= paths(sub, f"{prefix}{key}.") if isinstance(sub, dict) else {prefix + key}
        return out

    parsed = yaml.safe_load(_uncommented(TEMPLATE))
    assert paths(parsed) == set(FIELD_PATHS)


def test_template_marks_required_fields_and_shows_limits() -> None:
    lines: dict[str, str] = {}  # key -> its line, with the comment lines that continue it
    key = ""
    for line in TEMPLATE.splitlines():
        if line.lstrip("# ") and line.lstrip("# ")[0] != "#" and ":" in line and line.strip("# ")[0].islower():
            key = line.split(":")[0].strip("# ")
            lines[key] = line
        elif key and line.startswith((" ", "#  ")) and line.strip().startswith("#"):
            lines[key] += " " + line.strip()[2:]
    assert "REQUIRED" in lines["id"] and "REQUIRED" in lines["phq9"] and "REQUIRED" not in lines["gad7"]
    assert "REQUIRED" in lines["format"] and "group | individual | defer" in lines["format"]  # clinician_decision
    assert "required when present" in lines["months_since_death"]
    assert "0 to 3" in lines["phq9_item9"] and "none | mild | severe" in lines["cognitive_impairment"]
    assert "empty (not asked)" in lines["wish_dead"]  # unknown, never "no"
    assert lines["perinatal"].startswith("perinatal: none ")  # defaults filled in


def test_template_follows_the_schema() -> None:
    """A field added to the schema (or given new limits) is in the template with no second copy."""
    measures = SCHEMA.fields["measures"]
    assert isinstance(measures, Block)
    grown = Block(
        {
            **SCHEMA.fields,
            "measures": Block(
                {**measures.fields, "pcl5": Field("int", lo=0, hi=80, label="PCL-5 total", help="Empty if not done.")},
                label=measures.label,
            ),
        },
        label=SCHEMA.label,
    )
    text = render_template(grown)
    assert "  pcl5:                      # PCL-5 total: 0 to 80. Empty if not done.\n" in text
    assert text.replace("  pcl5:                      # PCL-5 total: 0 to 80. Empty if not done.\n", "") == TEMPLATE


def test_template_with_the_clinician_decision_filled_in_validates() -> None:
    filled = (
        _uncommented(TEMPLATE)
        .replace("id:     ", "id: T-9 ", 1)
        .replace("assessed_on:     ", "assessed_on: 2026-10-01 ", 1)
        .replace("age:     ", "age: 40 ", 1)
        .replace("phq9:     ", "phq9: 12 ", 1)
        .replace("  format:     ", "  format: group ", 2)
        .replace("  format: group              # Format the person", "  format: either             # Format the person")
    )
    intake = load_intake(filled, "template.yaml")
    assert intake.get("clinician_decision.format") == "group" and intake.get("clinician_decision.focus") is None
    assert intake.get("preferences.format") == "either"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates(path: Path) -> None:
    intake = load_intake_file(str(path))
    assert intake.case_id.startswith("EX-")


def test_the_bundled_examples_are_there() -> None:
    names = {p.stem for p in EXAMPLES.glob("*.yaml")}
    assert {
        "group",
        "individual",
        "defer-safety",
        "incomplete",
        "adolescent",
        "two-areas",
        "severe-prefers-group",
        "specialist",
        "demo",
    } <= names
    assert load_intake_file(str(EXAMPLES / "incomplete.yaml")).get("risk.cssrs") is None


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(IntakeError) as info:
        load_intake_file(str(missing))
    assert [p.message for p in info.value.problems] == ["cannot read file: No such file or directory"]
    with pytest.raises(IntakeError) as info:
        load_intake_file(str(tmp_path))
    assert [p.message for p in info.value.problems] == ["cannot read file: Is a directory"]


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BASE.encode())))
    intake = load_intake_file("-")
    assert intake.source == "<stdin>" and intake.record == EXPECTED_BASE_RECORD


def test_no_traceback_for_garbage() -> None:
    """A quick seeded fuzz: random bytes and mutated examples give an Intake or an IntakeError."""
    rnd = random.Random(20261102)
    seeds = [p.read_bytes() for p in EXAMPLES.glob("*.yaml")] + [TEMPLATE.encode(), WORKED_JSON.encode()]
    pieces = [
        b"!!python/object:x",
        b"&a ",
        b"*a",
        b"<<: ",
        b"2026-02-30",
        b"!!int x",
        b"!!bool q",
        b"null",
        b"- ",
        b"{",
        b"? ",
        b"\x00",
        b"\xff",
        b"9" * 5000,
        b"1e400",
        b"\t",
        b":",
        b"'",
        b'"',
    ]
    for _ in range(400):
        if rnd.random() < 0.25:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(80)))
        else:
            buf = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randrange(1, 5)):
                at = rnd.randrange(len(buf) + 1)
                if rnd.random() < 0.5:
                    buf[at : at + rnd.randrange(1, 15)] = b""
                else:
                    buf[at:at] = rnd.choice(pieces)
            data = bytes(buf)
        try:
            load_intake(data, "fuzz.yaml")
        except IntakeError as exc:
            assert exc.problems and all("\n" not in str(p) for p in exc.problems)

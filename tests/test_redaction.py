"""Health data never reaches errors.jsonl or stderr, whatever its type or where it was typed;
and the tool's own words are not garbled by the redaction. YAML 1.1 number spellings that
change a value (sexagesimal, underscores) are refused. Messages stay short (issue 11, 10/15/19).

The rule: a free-text field's value is never printed, whatever its type; an unknown or
duplicate key is named only when it is close to a known key (did-you-mean), otherwise
described ("an unknown key, 22 characters").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from test_security import BASE

SECRET = "4857773456"
NAME = "JohnSmith_HIV_positive"


def assess(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "intake.yaml"
    path.write_text(text)
    return CliRunner().invoke(cli, ["assess", str(path)])


def audit_errors(tmp_path: Path, line: str) -> str:
    source = tmp_path / "intakes.jsonl"
    source.write_text(line + "\n")
    result = CliRunner().invoke(cli, ["audit", str(source), "-o", str(tmp_path / "out"), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return (tmp_path / "out" / "errors.jsonl").read_text()


BASE_JSON = {
    "intake_version": 1,
    "id": "S-1",
    "assessed_on": "2025-01-01",
    "age": 40,
    "measures": {"phq9": 11},
    "risk": {"cssrs": {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}},
}


@pytest.mark.parametrize(
    "field, where",
    [
        ("notes", ""),
        ("reason", "clinician_decision:\n  format: group\n  "),
        ("with", "findings:\n  role_dispute:\n    present: true\n    stage: impasse\n    "),
        ("kind", "findings:\n  role_transition:\n    present: true\n    "),
    ],
)
@pytest.mark.parametrize(
    "value",
    [SECRET, f"!!int {SECRET}", "!!timestamp 2001-12-14", "!!binary aGVsbG8gSm9obg==", "0755", "48_577", "1:30:00"],
)
def test_a_free_text_value_is_never_printed_whatever_its_type(
    tmp_path: Path, field: str, where: str, value: str
) -> None:
    text = BASE.replace("findings:\n  role_transition: {present: true, onset_linked: true}\n", "")
    result = assess(tmp_path, text + where + f"{field}: {value}\n")
    assert result.exit_code == 3, result.output
    for secret in (SECRET, "48_577", "48577", "5400", "1:30", "hello", "John", "2001-12-14", "0755", "493"):
        assert secret not in result.stderr, result.stderr
    assert f"{field}: must be text" in result.stderr or "free text" in result.stderr, result.stderr


def test_a_number_in_notes_is_not_in_errors_jsonl(tmp_path: Path) -> None:
    errors = audit_errors(tmp_path, json.dumps({**BASE_JSON, "notes": int(SECRET)}))
    assert SECRET not in errors and "must be text, got a number" in errors


def test_an_unknown_key_far_from_any_known_key_is_described_not_named(tmp_path: Path) -> None:
    result = assess(tmp_path, BASE + f"{NAME}: true\nag: 4\n")
    assert NAME not in result.stderr
    assert f"an unknown key, {len(NAME)} characters" in result.stderr
    assert "ag: unknown key (did you mean 'age'?)" in result.stderr  # close to a known key: named
    errors = audit_errors(tmp_path, json.dumps({**BASE_JSON, NAME: True, "measures": {"phq9": 11, NAME: 1}}))
    assert NAME not in errors and f"an unknown key, {len(NAME)} characters" in errors


@pytest.mark.parametrize(
    "extra",
    [
        f"{NAME}: 1\n{NAME}: 2\n",  # a duplicate unknown key
        f"{NAME}: !!python/object/apply:os.system [x]\n",  # a refused tag under it
        f"{NAME}:\n  <<: {{a: 1}}\n",  # a merge key under it
        f"measures:\n  {NAME}: 1\n  {NAME}: 2\n",
    ],
)
def test_yaml_problems_under_an_unknown_key_do_not_name_it(tmp_path: Path, extra: str) -> None:
    result = assess(tmp_path, BASE.replace("measures: {phq9: 11}\n", "") + extra)
    assert result.exit_code == 3
    assert NAME not in result.stderr, result.stderr


def test_a_duplicate_known_key_is_named(tmp_path: Path) -> None:
    result = assess(tmp_path, BASE + "age: 41\n")
    assert "age: duplicate key" in result.stderr


def test_jsonl_duplicate_keys_are_named_only_when_known(tmp_path: Path) -> None:
    line = json.dumps(BASE_JSON)[:-1] + f', "{NAME}": 1, "{NAME}": 2, "age": 41}}'
    errors = audit_errors(tmp_path, line)
    assert NAME not in errors and "duplicate key" in errors


def test_redaction_keeps_the_tools_own_words(tmp_path: Path) -> None:
    errors = audit_errors(tmp_path, json.dumps({**BASE_JSON, "id": "no spaces allowed"}))
    [record] = [json.loads(line) for line in errors.splitlines()]
    [problem] = record["problems"]
    assert problem["message"] == "must be 1 to 64 letters, digits, hyphens, underscores or dots, got <text>"
    assert "spaces" not in errors


@pytest.mark.parametrize(
    "text",
    [
        "age: 1:00",
        "findings:\n  grief: {present: true, months_since_death: 1:30}",
        "measures: {phq9: 1_1}",
        "age: 4_0",
        "measures: {phq9: 1:0}",
    ],
)
def test_yaml_sexagesimal_and_underscores_are_refused(tmp_path: Path, text: str) -> None:
    base = BASE.replace("age: 40\n", "") if text.startswith("age") else BASE
    base = base.replace("findings:\n  role_transition: {present: true, onset_linked: true}\n", "")
    base = base.replace("measures: {phq9: 11}\n", "") if text.startswith("measures") else base
    result = assess(tmp_path, base + text + "\n")
    assert result.exit_code == 3, result.output
    assert "write numbers as plain digits" in result.stderr, result.stderr


@pytest.mark.parametrize("value", ["1:00", "4_0"])
def test_set_refuses_sexagesimal_and_underscores(tmp_path: Path, value: str) -> None:
    path = tmp_path / "intake.yaml"
    path.write_text(BASE)
    result = CliRunner().invoke(cli, ["explain", str(path), "--set", f"age={value}"])
    assert result.exit_code == 2, result.output
    assert "write numbers as plain digits" in result.stderr


def test_huge_values_and_python_internals_stay_out_of_messages(tmp_path: Path) -> None:
    digits = "1" * 50_000
    result = assess(tmp_path, BASE.replace("age: 40", f"age: {digits}"))
    assert result.exit_code == 3
    assert "111111111111111111111111111111111111111111" not in result.stderr
    assert "set_int_max_str_digits" not in result.stderr and len(result.stderr) < 400, result.stderr
    errors = audit_errors(tmp_path, json.dumps(BASE_JSON).replace('"age": 40', f'"age": {digits}'))
    assert "set_int_max_str_digits" not in errors and digits[:100] not in errors and len(errors) < 600, errors
    assert "more than 4,300 digits" in errors


@pytest.mark.parametrize("tag", ["!!int", "!!float", "!!bool", "!!timestamp", '!!int ""', '!!float ""'])
def test_a_tag_on_an_empty_value_is_one_problem_not_a_traceback(tmp_path: Path, tag: str) -> None:
    """Found by the long fuzz run: PyYAML's int and float constructors index the first
    character, so `age: !!int` raised IndexError; `!!timestamp` printed Python's internals."""
    result = assess(tmp_path, BASE.replace("age: 40", f"age: {tag}"))
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and "NoneType" not in result.stderr
    assert f"age: an empty value cannot be read as {tag.split()[0][2:]}" in result.stderr, result.stderr

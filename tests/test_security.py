"""The security review, as tests.  SECURITY.md states the threat model and maps each
defence to the test here that holds it.

* YAML tags never construct objects, in intakes or in rule files: a payload that would
  create a marker file is a problem with its line, and the marker never appears.
* Template syntax in rule text or intake text is data: it renders literally, unevaluated,
  in every report format, and never reaches a Python attribute.
* Free text (notes, the clinician's reason, who a dispute is with, what a transition
  was) never appears in an error message or in the decision JSON.
* Reports are owner-only files whatever the umask, and a planted symlink at the report
  path is replaced, never followed.
"""

from __future__ import annotations

import html
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cli import cli
from ipt_advisor.core.errors import IntakeError
from ipt_advisor.intake.schema import load_intake
from ipt_advisor.report.render import decision_json
from ipt_advisor.ruleset.load import lint

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.yaml"
MARKER = "SECRET-7c1e"  # a string that must never leak

BASE = """\
intake_version: 1
id: S-1
assessed_on: 2025-01-01
age: 40
measures: {phq9: 11}
risk:
  cssrs: {wish_dead: false, active_thoughts: false, behavior_3m: false}
findings:
  role_transition: {present: true, onset_linked: true}
"""


def invoke(*args: str, input: bytes | str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input)


# --------------------------------------------------------------------------- YAML tags


def tag_payloads(marker: Path) -> list[str]:
    command = f"touch {marker}"
    return [
        f"!!python/object/apply:os.system [{command!r}]",
        f"!!python/object/apply:os.system {{args: [{command!r}]}}",
        f"!!python/object/new:os.system [{command!r}]",
        "!!python/name:os.system",
        "!!python/module:os",
        f"!!python/object/apply:subprocess.check_output [[touch, {str(marker)!r}]]",
        "!custom-tag value",
        "!<tag:example.org,2026:thing> value",
    ]


@pytest.mark.parametrize("n", range(8))
def test_yaml_tags_in_an_intake_construct_nothing(tmp_path: Path, n: int) -> None:
    marker = tmp_path / "pwned"
    payload = tag_payloads(marker)[n]
    for text in (
        BASE.replace("age: 40", f"age: {payload}"),  # as a value
        BASE + f"notes: {payload}\n",  # in a free-text field
        BASE + f"? {payload}\n: 1\n",
    ):  # as a mapping key
        with pytest.raises(IntakeError) as info:
            load_intake(text, "t.yaml")
        # refused with its line: "tag ... is not allowed", or "mapping keys must be plain scalars"
        assert info.value.problems and all(p.line for p in info.value.problems), info.value.problems
        result = invoke("assess", "-", input=text)
        assert result.exit_code == 3 and "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize("n", range(8))
def test_yaml_tags_in_a_rule_file_construct_nothing(rules_copy: Path, tmp_path: Path, n: int) -> None:
    marker = tmp_path / "pwned"
    payload = tag_payloads(marker)[n]
    safety = rules_copy / "safety.yaml"
    text = safety.read_text(encoding="utf-8")
    first_title = next(line for line in text.splitlines() if line.strip().startswith("title:"))
    safety.write_text(text.replace(first_title, first_title.split(":")[0] + f": {payload}", 1), encoding="utf-8")
    _, problems = lint(rules_copy)
    assert any(p.source.endswith("safety.yaml") and p.line for p in problems), problems
    result = invoke("assess", str(DEMO), "--rules", str(rules_copy))
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert invoke("rules", "lint", str(rules_copy)).exit_code == 1
    assert not marker.exists()


# --------------------------------------------------------------------------- templates

TEMPLATE_PAYLOADS = (
    "{{ ''.__class__.__mro__ }}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    "{{ config }}{{ self.__init__.__globals__ }}",
    "{{ 'inj' ~ 'ected' }} ${'inj' + 'ected'}",  # evaluated, these would read "injected"
)


def _normalised(text: str, fmt: str) -> str:
    """The report text as a reader sees it: HTML entities decoded, Markdown escapes
    removed, line wrapping undone."""
    if fmt == "html":
        text = html.unescape(text)
    if fmt == "md":
        text = text.replace("\\", "")
    return " ".join(text.split())


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_template_syntax_in_rules_and_intakes_renders_literally(rules_copy: Path, tmp_path: Path, fmt: str) -> None:
    payload = " ".join(TEMPLATE_PAYLOADS)
    # in a rule that fires for the demo intake: its title and rationale are shown
    path = rules_copy / "severity.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fired = next(r for r in data["rules"] if r["id"] == "SEV-NICE-LESS")
    fired["title"] = f"Title {payload}"
    fired["rationale"] = f"Rationale {payload}"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    # and in the intake's notes
    intake = tmp_path / "intake.yaml"
    intake.write_text(
        DEMO.read_text(encoding="utf-8").split("\nnotes:")[0] + f"\nnotes: {json.dumps('Notes ' + payload)}\n",
        encoding="utf-8",
    )

    result = invoke("assess", str(intake), "--rules", str(rules_copy), "--format", fmt)
    assert result.exit_code == 0, result.output
    shown = _normalised(result.stdout, fmt)
    for where in ("Title", "Rationale", "Notes"):
        assert f"{where} {payload}" in shown, (where, fmt)
    for evaluated in ("<class", "__globals__':", "injected"):
        assert evaluated not in shown.replace(payload, ""), evaluated


@pytest.mark.parametrize("fmt", ["text", "md"])
def test_control_characters_in_free_text_reach_no_terminal(fmt: str) -> None:
    # an ESC sequence could recolour or rewrite the clinician's terminal; a bidi override
    # could make printed text read differently from its bytes
    nasty = "clear\x1b[2J\x1b]0;title\x07 red\x1b[31m rtl\u202egnp.exe bell\x07 del\x7f end"
    text = BASE + f"notes: {json.dumps(nasty)}\nclinician_decision: {{format: group, reason: {json.dumps(nasty)}}}\n"
    result = invoke("assess", "-", "--format", fmt, input=text)
    assert result.exit_code == 0, result.output
    assert "clear" in result.stdout and "end" in result.stdout  # the note is shown ...
    for char in ("\x1b", "\x07", "\x7f", "\u202e"):  # ... without its control characters
        assert char not in result.stdout, repr(char)


# --------------------------------------------------------------------------- free text stays out of errors and decisions

FREE_TEXT = {
    "notes": ("notes", f"{MARKER} Jane Doe, 12 Elm Street"),
    "reason": ("clinician_decision", {"format": "group", "reason": f"{MARKER} personal reason"}),
    "with": (
        "findings",
        {
            "role_dispute": {"present": True, "stage": "impasse", "with": f"{MARKER} husband Tom"},
            "role_transition": {"present": True, "onset_linked": True},
        },
    ),
    "kind": ("findings", {"role_transition": {"present": True, "kind": f"{MARKER} fired from Acme"}}),
}
OTHER_PROBLEMS = {
    "out of range": ("age: 40", "age: 400"),
    "wrong type": ("phq9: 11", "phq9: eleven"),
    "unknown key": ("age: 40", "age: 40\nnotez: x"),
    "missing required": ("id: S-1\n", ""),
}


def _with_free_text(field: str) -> str:
    key, value = FREE_TEXT[field]
    record = yaml.safe_load(BASE)
    record[key] = value if key == "notes" else {**record.get(key, {}), **value}
    return yaml.safe_dump(record, allow_unicode=True, sort_keys=False)


@pytest.mark.parametrize("field", sorted(FREE_TEXT))
@pytest.mark.parametrize("problem", sorted(OTHER_PROBLEMS))
def test_free_text_never_in_error_messages(field: str, problem: str) -> None:
    old, new = OTHER_PROBLEMS[problem]
    text = _with_free_text(field).replace(old, new, 1)
    assert MARKER in text and text != _with_free_text(field)
    result = invoke("assess", "-", input=text)
    assert result.exit_code == 3, result.output
    assert MARKER not in result.output
    result = invoke("intake", "check", "-", input=text)
    assert result.exit_code == 1 and MARKER not in result.output


@pytest.mark.parametrize("field", sorted(FREE_TEXT))
def test_free_text_never_in_error_messages_even_when_it_is_the_problem(field: str) -> None:
    key, value = FREE_TEXT[field]
    record = yaml.safe_load(_with_free_text(field))
    # too long, and a syntax error on the free-text line itself
    long_text = (MARKER + " ") * 2_000
    if key == "notes":
        record["notes"] = long_text
    else:
        inner = "reason" if field == "reason" else field
        block = (
            record[key]
            if key == "clinician_decision"
            else record[key]["role_dispute" if field == "with" else "role_transition"]
        )
        block[inner] = long_text
    for text in (
        yaml.safe_dump(record, sort_keys=False),
        BASE + f'notes: "{MARKER} bad escape \\q"\n',
        BASE + f"notes: {MARKER}: a colon makes this a mapping\n  bad: indent\n",
    ):
        result = invoke("assess", "-", input=text)
        assert result.exit_code == 3, result.output
        assert MARKER not in result.output


@pytest.mark.parametrize("field", sorted(FREE_TEXT))
def test_free_text_never_in_the_decision(field: str) -> None:
    result = invoke("assess", "-", "--format", "json", input=_with_free_text(field))
    assert result.exit_code == 0, result.output
    assert MARKER not in result.stdout
    assert json.loads(result.stdout)["decision_version"] == 1


def test_free_text_not_in_decision_json_from_the_library(advisor: Any) -> None:
    for field in FREE_TEXT:
        intake = load_intake(_with_free_text(field), "t.yaml")
        assert MARKER not in decision_json(advisor.assess(intake))


def test_rules_cannot_read_free_text(rules_copy: Path) -> None:
    with (rules_copy / "facts.yaml").open("a", encoding="utf-8") as handle:
        handle.write("  note_text:\n    type: enum\n    values: [x]\n    source: notes\n    label: Notes\n")
    intake = _with_free_text("notes")
    result = invoke("assess", "-", "--rules", str(rules_copy), input=intake)
    assert MARKER not in result.output
    assert invoke("rules", "lint", str(rules_copy)).exit_code == 1


# --------------------------------------------------------------------------- files at rest


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o002])
@pytest.mark.parametrize("fmt", ["text", "md", "html", "json"])
def test_reports_are_owner_only(tmp_path: Path, umask: int, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    previous = os.umask(umask)
    try:
        result = invoke("assess", str(DEMO), "--format", fmt, "-o", str(out))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_planted_symlink_is_neither_followed_nor_replaced(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours to overwrite", encoding="utf-8")
    out = tmp_path / "report.html"
    out.symlink_to(victim)
    result = invoke("assess", str(DEMO), "--format", "html", "-o", str(out))
    assert result.exit_code == 1, result.output
    assert victim.read_text(encoding="utf-8") == "not yours to overwrite"
    assert out.is_symlink()  # refused: replacing a link can damage the system (-o /dev/stdout as root)

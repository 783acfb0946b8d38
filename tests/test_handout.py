"""The client handout: `assess FILE --handout`, written as data in rules/handout.yaml.

It must fit the case (format, focus, age, why a decision is deferred), read plainly (short
sentences, no codes, no scores, no jargon), and, for a deferred decision, say only what
happens next and where to get help urgently.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from conftest import EXAMPLES, ROOT
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import from_mapping, load_intake_file
from ipt_advisor.report.render import render_handout
from ipt_advisor.ruleset.load import lint
from ipt_advisor.ruletests import merge

BASE: dict[str, Any] = {
    "intake_version": 1,
    "id": "H-1",
    "assessed_on": "2026-10-01",
    "age": 40,
    "measures": {"phq9": 12, "phq9_item9": 0},
    "risk": {"cssrs": {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}},
    "findings": {"role_transition": {"present": True, "onset_linked": True}},
}
VIGNETTES = sorted((ROOT / "tests" / "vignettes").glob("*.yaml"))


def handout(fragment: dict[str, Any], fmt: str = "text") -> tuple[dict[str, Any], str]:
    advisor = Advisor.load()
    intake = from_mapping(merge(copy.deepcopy(BASE), fragment), None, "h.yaml")
    return advisor.handout_text(intake, fmt)


def headings(text: str) -> list[str]:
    lines = text.splitlines()
    return [lines[i - 1] for i, line in enumerate(lines) if i and line and set(line) == {"-"}]


def test_group_handout_explains_the_group() -> None:
    _, text = handout({})
    assert headings(text) == [
        "The therapy we suggest",
        "Group therapy",
        "What a group gives you",
        "What a group asks of you",
        "What you will work on",
        "Before your first session",
        "What happens next",
        "If you need help urgently",
    ]
    assert "about 8 times, once a week" in text and "meet the group leader on your own" in text
    assert "keep private what others say" in text and "feel less alone" in text
    assert "A big change in your life" in text  # the focus area in everyday words


def test_individual_handout_has_three_phases_and_the_dose() -> None:
    _, text = handout({"preferences": {"format": "individual"}})
    assert "Individual therapy: you and your therapist" in headings(text)
    assert "12 to 16 sessions" in text and "about once a week" in text and "about an hour" in text
    for phase in ("Beginning:", "Middle:", "End:"):
        assert phase in text
    assert "Group therapy" not in headings(text)


def test_young_persons_handout_names_the_parent_sessions() -> None:
    _, text = handout({"age": 15, "measures": {"phq9": 12, "phq9_item9": 0}})
    assert "Therapy for young people" in headings(text)
    assert "about 12 weeks" in text and "A parent or carer joins some of the sessions" in text
    assert "12 to 16 sessions" not in text


def test_a_deferred_handout_says_only_what_happens_next() -> None:
    decision, text = handout(
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
        }
    )
    assert decision["recommendation"]["format"] == "defer"
    assert headings(text) == ["What happens next", "If you need help urgently"]
    assert "Today, a clinician will talk with you about your safety" in " ".join(text.split())
    assert "group" not in text.lower() and "sessions" not in text


@pytest.mark.parametrize(
    "fragment, says",
    [
        ({"risk": {"cssrs": None}}, "We need to ask you some more questions"),
        ({"risk": {"cssrs": None, "cssrs_declined": True}}, "You chose not to answer some of our questions"),
        ({"risk": {"mania_history": True}}, "refer you to a specialist service"),
        ({"measures": {"phq9": 3}}, "do not show depression clearly enough"),
        ({"findings": {"role_transition": None}}, "talk more about the people in your life"),
    ],
)
def test_a_deferred_handout_says_why_in_plain_words(fragment: dict[str, Any], says: str) -> None:
    decision, text = handout(fragment)
    assert decision["recommendation"]["format"] == "defer"
    assert says in text


def test_a_violent_relationship_puts_safety_first_in_the_handout() -> None:
    _, text = handout(
        {
            "findings": {
                "role_transition": None,
                "role_dispute": {"present": True, "stage": "impasse", "violence": True, "onset_linked": True},
            }
        }
    )
    text = " ".join(text.split())
    assert "Your safety comes first" in text
    assert "sort it out" not in text


@pytest.mark.parametrize("path", EXAMPLES + VIGNETTES, ids=lambda p: p.name)
def test_every_handout_is_plain(path: Path) -> None:
    advisor = Advisor.load()
    rs = advisor.ruleset
    _, text = advisor.handout_text(load_intake_file(str(path)), "text")
    body = " ".join(text.split())
    assert not re.search(r"\b[A-Z]{2,}_[A-Z_]+\b", body), "no flag codes"
    assert not any(rule.id in body for rule in rs.rules), "no rule ids"
    for jargon in ("PHQ", "C-SSRS", "NICE", "NG222", "SPIN", "GAD", "IPT-A", "defer"):
        assert jargon not in body, jargon
    assert not re.search(r"[a-z]_[a-z]", body), "no identifiers"
    intake = load_intake_file(str(path))
    view = advisor.handout(advisor.assess(intake), intake)
    texts = view["intro"] + [t for s in view["sections"] for t in s["paragraphs"] + s["bullets"]]
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]
    words = [len(re.findall(r"[A-Za-z']+", s)) for s in sentences]
    assert max(words) <= 20, [s for s, n in zip(sentences, words) if n > 20]


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_cli_prints_the_handout_in_each_format(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"handout.{fmt}"
    result = CliRunner().invoke(
        cli, ["assess", str(ROOT / "examples" / "group.yaml"), "--handout", "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "What a group gives you" in text
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "<script" not in text and "@page { size: A4" in text
        assert 'class="urgent"' in text


@pytest.mark.parametrize("args", [["--format", "json"], ["--why-not", "group"]])
def test_handout_refuses_json_and_why_not(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["assess", str(ROOT / "examples" / "group.yaml"), "--handout", *args])
    assert result.exit_code == 2
    assert "--handout" in result.stderr


def test_handout_texts_escape_as_data() -> None:
    view = {
        "title": "<b>x</b>",
        "intro": ["*a* [l](http://e.x)"],
        "footer": "",
        "sections": [
            {"heading": "<i>h</i>", "paragraphs": ["{{ 7 * 7 }}"], "bullets": [], "blanks": [], "emphasis": False}
        ],
        "format": "group",
    }
    html = render_handout(view, "html")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<i>" not in html and "49" not in html
    md = render_handout(view, "md")
    assert r"\*a\* \[l\]" in md and "<b>" not in md


def test_lint_checks_the_handout(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    text = (rules / "handout.yaml").read_text(encoding="utf-8")
    text = text.replace("if_format: [defer]", "if_format: [deferr]").replace("isolation: >", "isolaton: >")
    text = text.replace("when: {phq9: {at_most: 4}}", "when: {phq9: {at_most: \"4\"}}")
    (rules / "handout.yaml").write_text(text, encoding="utf-8")
    _, problems = lint(rules)
    messages = [p.message for p in problems]
    assert "unknown format 'deferr'" in messages
    assert "no section of its own for the format defer (if_format)" in messages
    assert "no text for the focus area(s) isolation" in messages
    assert any("phq9 is a whole number" in m for m in messages)
    assert all(p.source.endswith("handout.yaml") for p in problems)

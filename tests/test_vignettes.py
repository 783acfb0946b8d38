"""The ten vignettes of the clinical brief (section 5) against the shipped rules.

Each ``tests/vignettes/NN-name.yaml`` encodes one vignette; its leading comment
block states the expected outcome, and ``VIGNETTES`` below holds the same
expectations as data.  For the vignettes the brief calls ambiguous the rules
make a definite choice, and the report must say so: ``considers`` names the
rules whose consideration (the alternative and what would change it) must be
present.

``VIGNETTES`` is also written out as a case file, ``tests/files/vignette-cases.yaml``
(``render_cases()``), so ``ipt-advisor rules test --cases`` and ``--mutate`` hold the
rules to the same expectations; the outcome test below runs through that file.

``docs/vignettes.md`` is generated from real runs by ``render_table()``; tests
regenerate both files and compare, so neither can drift.  After a deliberate change to
the rules or to ``VIGNETTES``, rewrite them with::

    .venv/bin/python tests/test_vignettes.py
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ipt_advisor import ruletests
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import load_intake_file

ROOT = Path(__file__).resolve().parent.parent
VIGNETTE_DIR = ROOT / "tests" / "vignettes"
TABLE = ROOT / "docs" / "vignettes.md"
CASES = ROOT / "tests" / "files" / "vignette-cases.yaml"


@dataclass(frozen=True)
class Expected:
    number: int
    person: str
    brief: str  # the brief's recommendation, in short
    status: str
    format: str
    primary: str | None
    secondary: str | None
    flags: tuple[str, ...]  # must be raised
    not_flags: tuple[str, ...]  # must not be raised
    considers: tuple[str, ...]  # rules whose consideration must be in the report
    verdict: str  # agreement, or the choice made for an ambiguous vignette


VIGNETTES: dict[str, Expected] = {
    "01-aurelia.yaml": Expected(
        1,
        "Aurelia, 62",
        "Group; grief; PROLONGED_GRIEF (assess)",
        "complete",
        "group",
        "grief",
        None,
        ("PROLONGED_GRIEF",),
        ("SUICIDE_IDEATION", "MORE_SEVERE", "NO_FOCUS_AREA"),
        (),
        "Agrees",
    ),
    "02-tomasz.yaml": Expected(
        2,
        "Tomasz, 41",
        "Ambiguous: IPT (either format), grief, if a depressive episode is confirmed; otherwise monitor",
        "complete",
        "group",
        "grief",
        None,
        (),
        ("PROLONGED_GRIEF", "SUICIDE_IDEATION", "MORE_SEVERE"),
        ("FOCUS-GRIEF-RECENT",),
        "Choice: group IPT, grief (less severe, nothing excludes a group), on condition that a depressive "
        "episode linked to the death is confirmed; the report says either format suits and that "
        "without a confirmed episode the plan is monitoring",
    ),
    "03-dana.yaml": Expected(
        3,
        "Dana, 34",
        "Individual; role dispute (impasse); IPV, SUICIDE_IDEATION, MORE_SEVERE",
        "complete",
        "individual",
        "role_dispute",
        None,
        ("IPV", "SUICIDE_IDEATION", "MORE_SEVERE"),
        ("SUICIDE_IMMINENT", "IPV_NOT_ASKED"),
        ("GRP-IPV",),
        "Agrees (safety planning first, no joint sessions, medication review)",
    ),
    "04-kwame.yaml": Expected(
        4,
        "Kwame, 26",
        "Group with preparation (individual if he declines); role transition; SOCIAL_ANXIETY_HIGH",
        "complete",
        "group",
        "role_transition",
        None,
        ("SOCIAL_ANXIETY_HIGH",),
        ("POSSIBLE_PRIMARY_SAD", "REFUSES_GROUP", "GROUP_DISCOMFORT", "MORE_SEVERE"),
        ("FMT-SOCIAL-ANXIETY-PREPARE",),
        "Choice: group with preparation; the report states the switch to individual IPT (declines after "
        "preparation, severe discomfort, or social anxiety disorder primary)",
    ),
    "05-ines.yaml": Expected(
        5,
        "Ines, 30",
        "Individual; interpersonal deficits; possible primary SAD",
        "complete",
        "individual",
        "isolation",
        None,
        ("POSSIBLE_PRIMARY_SAD", "SOCIAL_ANXIETY_HIGH", "REFUSES_GROUP", "GROUP_DISCOMFORT"),
        ("MORE_SEVERE", "SUICIDE_IDEATION"),
        ("FMT-POSSIBLE-PRIMARY-SAD",),
        "Agrees (assess for SAD; SAD-specific individual CBT if primary)",
    ),
    "06-leo.yaml": Expected(
        6,
        "Leo, 15",
        "Ambiguous: IPT-A, individual or group if available; role dispute ± role transition; ADOLESCENT",
        "complete",
        "individual",
        "role_dispute",
        "role_transition",
        ("ADOLESCENT",),
        ("MORE_SEVERE", "CLINICIAN_REVIEW", "IPV_NOT_ASKED"),
        ("PATH-ADOLESCENT-INDIVIDUAL",),
        "Choice: individual IPT-A with parent sessions (PHQ-9 14 is moderate: NICE NG134 puts individual "
        "therapy first); the report names group IPT-A as the alternative if available and preferred, or if "
        "the PHQ-9 falls below 10",
    ),
    "07-ray.yaml": Expected(
        7,
        "Ray, 49",
        "Ambiguous: individual assessment first, then group with individual check-ins; "
        "role transition; MORE_SEVERE, SUICIDE_IDEATION",
        "complete",
        "group",
        "role_transition",
        None,
        ("MORE_SEVERE", "SUICIDE_IDEATION", "CLINICIAN_REVIEW"),
        ("SUICIDE_IMMINENT",),
        ("FMT-SEVERE-ASKS-GROUP",),
        "Choice: group after an individual assessment, with individual check-ins and clinician review "
        "(his informed choice; risk not imminent); the report names individual IPT and what would switch to it",
    ),
    "08-mei.yaml": Expected(
        8,
        "Mei, 37",
        "No format yet; RISK_ASSESSMENT_MISSING; tentative role dispute",
        "incomplete",
        "defer",
        "role_dispute",
        None,
        ("RISK_ASSESSMENT_MISSING", "MORE_SEVERE", "IPV_NOT_ASKED"),
        ("SUICIDE_IDEATION", "SUICIDE_IMMINENT"),
        (),
        "Agrees (status incomplete; the blank item 9 is not read as 0)",
    ),
    "09-fatima.yaml": Expected(
        9,
        "Fatima, 29",
        "Ambiguous: individual or postpartum group IPT; role transition + role dispute; PERINATAL",
        "complete",
        "individual",
        "role_transition",
        "role_dispute",
        ("PERINATAL",),
        ("MORE_SEVERE", "SUICIDE_IDEATION"),
        ("PATH-PERINATAL-INDIVIDUAL",),
        "Choice: individual IPT (the perinatal trials were of individual IPT; postpartum group IPT has only "
        "a pilot); the report names a postpartum group as the alternative. Severity shown both ways: "
        "moderately severe (Kroenke), less severe (NICE)",
    ),
    "10-victor.yaml": Expected(
        10,
        "Victor, 45",
        "Not standard IPT: psychiatry and addiction services, IPSRT once stable; "
        "PSYCHOSIS_OR_MANIA, SUBSTANCE_DEPENDENCE",
        "complete",
        "defer",
        "role_transition",
        None,
        ("PSYCHOSIS_OR_MANIA", "SUBSTANCE_DEPENDENCE"),
        ("SUBSTANCE_MISUSE",),
        (),
        "Agrees (referrals to psychiatry and addiction services; IPSRT with medication once stable)",
    ),
}


def vignette_files() -> list[Path]:
    return sorted(VIGNETTE_DIR.glob("*.yaml"))


def assess(path: Path) -> dict:
    return Advisor.load().assess(load_intake_file(str(path)))


# ---------------------------------------------------------------- the table


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table() -> str:
    """docs/vignettes.md, with the tool's columns taken from real runs."""
    lines = [
        "# The clinical brief's vignettes, as the rule set decides them",
        "",
        "Generated by `tests/test_vignettes.py` from real runs of the shipped rules on",
        "`tests/vignettes/*.yaml` (regenerate with `.venv/bin/python tests/test_vignettes.py`;",
        "a test fails if this file and the rules disagree). \"Choice\" marks a vignette the",
        "brief calls ambiguous: the rules make a definite choice and the report says why and",
        "what would change it.",
        "",
        "| # | Person | Brief's recommendation | Tool: format | Tool: focus | Tool: flags | Agreement or choice made |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, exp in VIGNETTES.items():
        decision = assess(VIGNETTE_DIR / name)
        fmt = decision["recommendation"]["format"]
        if decision["status"] != "complete":
            fmt += f" ({decision['status']})"
        areas = [a for a in (decision["focus"]["primary"], decision["focus"]["secondary"]) if a]
        focus = " + ".join(areas) if areas else "none"
        flags = ", ".join(f["code"] for f in decision["flags"]) or "none"
        lines.append(
            f"| {exp.number} | {_cell(exp.person)} | {_cell(exp.brief)} | {fmt} | {focus} | "
            f"{flags} | {_cell(exp.verdict)} |"
        )
    return "\n".join(lines) + "\n"


def render_cases() -> str:
    """tests/files/vignette-cases.yaml: ``VIGNETTES`` as a case file (docs/rules.md, "Case files")."""
    cases = []
    for name, exp in VIGNETTES.items():
        expect = {
            "status": exp.status,
            "format": exp.format,
            "primary": exp.primary,
            "secondary": exp.secondary,
            "flags": list(exp.flags),
            "not_flags": list(exp.not_flags),
        }
        if exp.considers:
            expect["considers"] = list(exp.considers)
        cases.append(
            {"name": f"Vignette {exp.number}: {exp.person}", "intake": f"../vignettes/{name}", "expect": expect}
        )
    body = yaml.safe_dump({"cases": cases}, sort_keys=False, allow_unicode=True, width=100)
    return (
        "# The outcome each vignette of the clinical brief (section 5) must keep, as a case file:\n"
        "#   ipt-advisor rules test --cases tests/files/vignette-cases.yaml [--mutate]\n"
        "# Generated from VIGNETTES in tests/test_vignettes.py; regenerate with\n"
        "# .venv/bin/python tests/test_vignettes.py (a test fails if the two disagree).\n" + body
    )


# ---------------------------------------------------------------- the tests


def test_every_vignette_file_has_expectations() -> None:
    names = [p.name for p in vignette_files()]
    assert names == sorted(VIGNETTES), "tests/vignettes/*.yaml and VIGNETTES must list the same ten files"
    assert len(names) == 10


def _vignette_cases() -> list:
    if not CASES.exists():  # test_case_file_is_current says how to write it
        return []
    cases = ruletests.load_case_file(CASES, Advisor.load().ruleset)
    return [pytest.param(case, id=case.name) for case in cases]


@pytest.mark.parametrize("case", _vignette_cases())
def test_vignette_outcome(case: ruletests.Case) -> None:
    # the case file, checked the way `rules test --cases` checks it
    result = ruletests.run(Advisor.load(), case)
    assert result.passed, f"{result.location}: " + "; ".join(result.failures)
    number = int(case.name.split(":")[0].removeprefix("Vignette "))
    assert case.record["id"].startswith(f"VIG-{number:02d}-")


def test_case_file_is_current() -> None:
    assert CASES.read_text(encoding="utf-8") == render_cases(), (
        "tests/files/vignette-cases.yaml is out of date: regenerate it with .venv/bin/python tests/test_vignettes.py"
    )


AMBIGUOUS = ("02-tomasz.yaml", "04-kwame.yaml", "06-leo.yaml", "07-ray.yaml", "09-fatima.yaml")


@pytest.mark.parametrize("name", AMBIGUOUS)
def test_ambiguous_vignettes_state_the_choice(name: str) -> None:
    """A definite format, plus a consideration that names the alternative."""
    decision = assess(VIGNETTE_DIR / name)
    assert decision["recommendation"]["format"] in ("group", "individual")
    assert VIGNETTES[name].considers
    texts = [c["text"] for c in decision["considerations"] if c["rule"] in VIGNETTES[name].considers]
    other = {"group": "individual", "individual": "group"}[decision["recommendation"]["format"]]
    assert any(other in t.lower() or "either format" in t.lower() or "monitor" in t.lower() for t in texts), texts


@pytest.mark.parametrize("name", sorted(VIGNETTES))
def test_file_header_states_the_expected_outcome(name: str) -> None:
    """The leading comment block of each file says what the tables here say."""
    exp = VIGNETTES[name]
    text = (VIGNETTE_DIR / name).read_text(encoding="utf-8")
    lead = text.split("intake_version")[0]
    assert lead.strip() and all(line.startswith("#") or not line.strip() for line in lead.splitlines()), (
        "the file must open with its expected-outcome comment block"
    )
    assert f"status {exp.status}" in lead.lower()
    assert f"format {exp.format}" in lead.lower()
    for code in exp.flags + exp.not_flags + exp.considers:
        assert code in lead, f"{code} is not mentioned in the expected-outcome comment"


def test_fatima_severity_is_labelled_both_ways() -> None:
    severity = assess(VIGNETTE_DIR / "09-fatima.yaml")["severity"]
    assert severity == {"phq9": 15, "kroenke_band": "moderately_severe", "nice_band": "less_severe"}


def test_mei_item9_blank_is_not_read_as_zero() -> None:
    decision = assess(VIGNETTE_DIR / "08-mei.yaml")
    assert "measures.phq9_item9" in decision["not_assessed"]
    assert "risk.cssrs.wish_dead" in decision["not_assessed"]


def test_docs_table_is_current() -> None:
    assert TABLE.read_text(encoding="utf-8") == render_table(), (
        "docs/vignettes.md is out of date: regenerate it with .venv/bin/python tests/test_vignettes.py"
    )


if __name__ == "__main__":
    CASES.write_text(render_cases(), encoding="utf-8")
    TABLE.write_text(render_table(), encoding="utf-8")
    print(f"wrote {CASES.relative_to(ROOT)} and {TABLE.relative_to(ROOT)}")

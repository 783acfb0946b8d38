"""FHIR R4 in: `intake from-fhir`, `assess FILE.json`, the codes in facts.yaml.

Fixtures in tests/files/fhir/ are synthetic bundles shaped like the US Core examples (Patient,
QuestionnaireResponse with LHC-Forms linkIds, screening Observations), with a name, an address
and an identifier that must never reach the intake.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml
from hypothesis import given, settings, strategies as st

from cli import cli
from conftest import ROOT
from ipt_advisor.core.errors import IntakeError
from ipt_advisor.intake.fhir import map_fhir
from ipt_advisor.ruleset.load import lint

FHIR = ROOT / "tests" / "files" / "fhir"


def _from_fhir(runner, name: str, *args: str):
    return runner.invoke(cli, ["intake", "from-fhir", str(FHIR / name), *args])


def _record(runner, name: str, *args: str) -> dict:
    result = _from_fhir(runner, name, *args)
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.stdout)


def _decision(runner, path: Path | str, *args: str) -> dict:
    result = runner.invoke(cli, ["assess", str(path), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bundle_maps_to_an_intake_without_name_or_identifier(runner) -> None:
    result = _from_fhir(runner, "phq9-cssrs-negative.json")
    assert result.exit_code == 0, result.stderr
    record = yaml.safe_load(result.stdout)
    assert record["age"] == 36 and str(record["assessed_on"]) == "2026-11-02"  # born 1990-05-17
    assert record["measures"] == {"phq9": 12, "phq9_item9": 0}  # the items' sum, checked against the given total
    # Q3-Q5 were skipped by the form after Q2 "no": absent (not asked), never written as false
    assert record["risk"]["cssrs"] == {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}
    for private in ("Shaw", "Amy", "12345", "Meadow", "example-ipt-1"):
        assert private not in result.stdout
    assert record["id"].startswith("FHIR-") and "findings" not in record
    assert "not in FHIR data" in result.stdout  # the comment that says what the clinician must add


def test_skipped_questions_read_not_asked_and_the_decision_is_complete(runner) -> None:
    decision = _decision(runner, FHIR / "phq9-cssrs-negative.json")
    assert decision["status"] == "complete"
    assert "RISK_ASSESSMENT_MISSING" not in {f["code"] for f in decision["flags"]}


def test_positive_screen_with_plain_link_ids_raises_imminent(runner) -> None:
    record = _record(runner, "cssrs-positive.json")
    assert record["measures"] == {"phq9": 16, "phq9_item9": 1}  # no total given: computed from the nine items
    assert record["risk"]["cssrs"] == {
        "wish_dead": True,
        "active_thoughts": True,
        "method": True,
        "intent": False,
        "plan": True,
        "behavior_3m": False,
    }  # Q6 yes, not in the past 3 months
    flags = {f["code"]: f["level"] for f in _decision(runner, FHIR / "cssrs-positive.json")["flags"]}
    assert flags["SUICIDE_IMMINENT"] == "critical"


def test_unanswered_item_stays_unknown_and_makes_the_decision_incomplete(runner) -> None:
    record = _record(runner, "cssrs-unanswered.json")
    assert "wish_dead" not in record["risk"]["cssrs"]  # Q1 shown, not answered: not recorded, never "no"
    decision = _decision(runner, FHIR / "cssrs-unanswered.json")
    assert decision["status"] == "incomplete" and decision["recommendation"]["format"] == "defer"
    assert "RISK_ASSESSMENT_MISSING" in {f["code"] for f in decision["flags"]}


def test_observations_without_a_cssrs(runner) -> None:
    record = _record(runner, "observations.json")
    assert record["age"] == 16 and record["measures"] == {"phq9": 17, "phq9_item9": 2} and "risk" not in record
    flags = {f["code"] for f in _decision(runner, FHIR / "observations.json")["flags"]}
    assert {"RISK_ASSESSMENT_MISSING", "SUICIDE_IDEATION", "ADOLESCENT"} <= flags


HOSTILE = {
    "hostile-missing-items.json": [
        "Bundle.entry[1].resource: PHQ-9 total: not given, and 2 of 9 items have no answer (44255-8, 44251-7): "
        "the total cannot be computed"
    ],
    "hostile-wrong-codes.json": [
        "Bundle.entry[1].resource.item[0].answer[0]: answer code 'LA33-6' is not one of LA6568-5, LA6569-3, LA6570-1, LA6571-9",
        "Bundle.entry[1].resource.item[1].linkId: '/44250-0' is not an item of panel 44249-1",
        "Bundle.entry[1].resource.item[2].answer[0]: answer system 'http://snomed.info/sct': LOINC answer codes expected",
    ],
    "hostile-duplicated-items.json": [
        "Bundle.entry[1].resource.item[3]: item 44250-9 appears twice (also at Bundle.entry[1].resource.item[0]): "
        "which answer counts is unknown",
        "Bundle.entry[2].resource.item[3]: item 93247-5 appears twice (also at Bundle.entry[2].resource.item[1]): "
        "which answer counts is unknown",
    ],
    "hostile-out-of-range.json": [
        "Bundle.entry[1].resource.item[4].answer[0]: 7 is outside 0..3",
        "Bundle.entry[1].resource.item[9].answer[0]: 30 is outside 0..27",
    ],
    "hostile-total-disagrees.json": [
        "Bundle.entry[1].resource.item[9].answer[0]: PHQ-9 total 14 disagrees with its items: their sum is 12"
    ],
    "hostile-other-patient.json": [
        "Bundle.entry[2].resource.subject: refers to Patient/someone-else, not to the Patient in this file: "
        "data of another person is never mixed in"
    ],
    "questionnaire-response-only.json": ["no Patient resource: the age (from birthDate) is required"],
}


def test_each_hostile_file_exits_3_with_every_problem_and_its_resource_path(runner) -> None:
    for name, lines in HOSTILE.items():
        for command in (["intake", "from-fhir"], ["assess"]):
            result = runner.invoke(cli, [*command, str(FHIR / name)])
            assert result.exit_code == 3, (name, result.output)
            assert result.stdout == "" and "Traceback" not in result.stderr
            assert result.stderr.splitlines() == [f"{FHIR / name}: {line}" for line in lines], name


def _negative() -> dict:
    return json.loads((FHIR / "phq9-cssrs-negative.json").read_text())


def _errors(advisor, value: object | bytes) -> list[str]:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    try:
        map_fhir(data, "x.json", advisor.ruleset)
    except IntakeError as exc:
        return [f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems]
    raise AssertionError("mapped without a problem")


def test_malformed_json_gives_one_clear_line(advisor) -> None:
    assert _errors(advisor, b'{"resourceType": "Bundle", "entry": [') == ["not valid JSON: line 1: Expecting value"]
    assert _errors(advisor, b'{"resourceType": "Patient", "resourceType": "Bundle"}') == [
        "not valid JSON: the key 'resourceType' appears twice in one object"
    ]
    assert _errors(advisor, b'{"resourceType": "Bundle", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}") == [
        "JSON nested too deeply"
    ]
    assert _errors(advisor, b"\xff\xfe{}") == ["not UTF-8 text"]
    assert _errors(advisor, [1, 2]) == ["not a FHIR resource: a JSON object with a resourceType is expected"]


def test_broken_resources_are_problems_not_tracebacks(advisor) -> None:
    bundle = _negative()
    bundle["entry"].append({"resource": "nope"})
    phq = bundle["entry"][1]["resource"]
    phq["item"][0]["answer"] = [{"valueCoding": "LA6568-5"}]
    phq["item"][1]["answer"] = [{"valueString": "two"}]
    bundle["entry"][0]["resource"]["birthDate"] = "1990"
    bundle["entry"][2]["resource"]["authored"] = 20261102
    assert _errors(advisor, bundle) == [
        "Bundle.entry[0].resource.birthDate: missing or not a full date (YYYY-MM-DD): the age cannot be computed",
        "Bundle.entry[1].resource.item[0].answer[0]: answer code 'None' is not one of LA6568-5, LA6569-3, LA6570-1, LA6571-9",
        "Bundle.entry[1].resource.item[1].answer[0]: no answer of the expected kind (a LOINC-coded answer, a whole number)",
        "Bundle.entry[2].resource.authored: missing or not a date: the assessment date comes from it",
        "Bundle.entry[3].resource: missing, or not a resource with a resourceType",
    ]


def test_two_different_answers_on_the_same_day_are_a_problem_a_later_one_wins(advisor) -> None:
    bundle = _negative()
    second = copy.deepcopy(bundle["entry"][2])
    second["resource"]["item"][0]["answer"][0]["valueCoding"]["code"] = "LA33-6"  # Q1 yes
    bundle["entry"].append(second)
    assert _errors(advisor, bundle) == [
        "Bundle.entry[3].resource.item[0].answer[0]: cssrs_wish_dead: True here but False at "
        "Bundle.entry[2].resource.item[0].answer[0], both on 2026-11-02: which one holds is unknown"
    ]
    bundle["entry"][2]["resource"]["authored"] = "2026-10-01"
    mapped = map_fhir(json.dumps(bundle).encode(), "x.json", advisor.ruleset)
    assert mapped.record["risk"]["cssrs"]["wish_dead"] is True
    assert mapped.notes == [
        "answers from 2 dates (2026-10-01 to 2026-11-02); the latest of each is used and the "
        "assessment date is 2026-11-02"
    ]


def test_withdrawn_and_unrelated_resources_are_left_out(advisor) -> None:
    bundle = _negative()
    bundle["entry"][2]["resource"]["status"] = "entered-in-error"
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "valueQuantity": {"value": 72},
            }
        }
    )
    record = map_fhir(json.dumps(bundle).encode(), "x.json", advisor.ruleset).record
    assert "risk" not in record  # the withdrawn C-SSRS is not data; the heart rate is not ours


def test_ten_megabyte_bundle_maps_and_an_oversized_one_is_refused(advisor) -> None:
    bundle = _negative()
    filler = {
        "resourceType": "Observation",
        "status": "final",
        "effectiveDateTime": "2026-11-01",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "valueQuantity": {"value": 72, "unit": "/min"},
        "note": [{"text": "x" * 900}],
    }
    bundle["entry"] += [{"resource": dict(filler, id=f"hr-{i}")} for i in range(10_000)]
    data = json.dumps(bundle).encode()
    assert len(data) > 10_000_000
    assert map_fhir(data, "big.json", advisor.ruleset).record["measures"]["phq9"] == 12
    assert _errors(advisor, data + b" " * (17 * 1024 * 1024 - len(data))) == [
        f"file is larger than {16 * 1024 * 1024} bytes"
    ]


def test_findings_fragment_is_merged_and_its_problems_have_its_lines(runner, tmp_path: Path) -> None:
    fragment = tmp_path / "findings.yaml"
    fragment.write_text(
        "findings:\n  grief:\n    present: true\n    months_since_death: 4\npreferences:\n  format: group\n"
    )
    record = _record(runner, "phq9-cssrs-negative.json", "--findings", str(fragment), "--id", "C-2026-0042")
    assert record["id"] == "C-2026-0042" and record["findings"]["grief"]["months_since_death"] == 4
    decision = _decision(runner, FHIR / "phq9-cssrs-negative.json", "--findings", str(fragment))
    assert decision["focus"]["primary"] == "grief"
    fragment.write_text("findings:\n  gried:\n    present: true\nmeasures:\n  phq9: 3\n")
    result = _from_fhir(runner, "phq9-cssrs-negative.json", "--findings", str(fragment))
    assert result.exit_code == 3 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{fragment}:5: measures.phq9: comes from the FHIR data; the fragment may not set it"
    ]
    fragment.write_text("findings:\n  gried:\n    present: true\n")
    result = _from_fhir(runner, "phq9-cssrs-negative.json", "--findings", str(fragment), "--id", "Amy Shaw")
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert f"{fragment}:2: findings.gried: unknown key (did you mean 'grief'?)" in lines
    assert any(line.startswith(f"{FHIR / 'phq9-cssrs-negative.json'}: id: ") for line in lines)


def test_findings_and_id_are_for_fhir_input_only(runner) -> None:
    result = runner.invoke(cli, ["assess", str(ROOT / "examples" / "demo.yaml"), "--id", "X-1"])
    assert result.exit_code == 2 and "--id" in result.stderr


def test_stdin_and_determinism(runner) -> None:
    data = (FHIR / "cssrs-positive.json").read_text()
    first = runner.invoke(cli, ["intake", "from-fhir", "-"], input=data)
    second = runner.invoke(cli, ["intake", "from-fhir", "-"], input=data)
    assert first.exit_code == 0 and first.stdout == second.stdout
    assert runner.invoke(cli, ["assess", "-", "--format", "json"], input=data).exit_code == 0


ANSWERS = st.fixed_dictionaries(
    {},
    optional={
        q: st.one_of(st.none(), st.booleans())
        for q in ("93246-7", "93247-5", "93248-3", "93249-1", "93250-9", "93267-3", "93269-9")
    },
)
NAMES = {
    "93246-7": "wish_dead",
    "93247-5": "active_thoughts",
    "93248-3": "method",
    "93249-1": "intent",
    "93250-9": "plan",
    "93269-9": "behavior_3m",
}


@settings(max_examples=60, deadline=None)
@given(answers=ANSWERS)
def test_never_a_guessed_no(advisor, answers: dict) -> None:
    """Whatever subset of the C-SSRS is shown or answered, the intake holds exactly the
    answers given (and Q6 "no" as no behaviour in 3 months), nothing imputed."""
    bundle = _negative()
    qr = bundle["entry"][2]["resource"]
    qr["item"] = [
        {"linkId": f"/{code}"}
        | (
            {}
            if value is None
            else {"answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA33-6" if value else "LA32-8"}}]}
        )
        for code, value in answers.items()
    ]
    cssrs = map_fhir(json.dumps(bundle).encode(), "x.json", advisor.ruleset).record.get("risk", {}).get("cssrs", {})
    expected = {NAMES[code]: value for code, value in answers.items() if code in NAMES and value is not None}
    if answers.get("93267-3") is False and answers.get("93269-9") is None:
        expected["behavior_3m"] = False
    assert cssrs == expected


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_lint_checks_the_codes(rules_copy: Path) -> None:
    facts = rules_copy / "facts.yaml"
    _edit(facts, "loinc: 44261-6", "loinc: 44261-7")
    _edit(
        facts,
        "{loinc: 44260-8, panel: 44249-1, answers: phq_frequency}",
        "{loinc: 44260-8, panel: 44249-1, answers: yes_no}",
    )
    _edit(
        facts, "{loinc: 93248-3, panel: 93373-9, answers: yes_no}", "{loinc: 93247-5, panel: 93373-9, answers: yesno}"
    )
    _edit(facts, "    LA33-6: true\n", "    LA33-6: true\n    LA33: false\n")
    _, problems = lint(rules_copy)
    found = [f"{p.line}: {p.path}: {p.message}" for p in problems]
    assert any(
        "facts.phq9.codes.loinc: 44261-7: wrong check digit (a typo?); 44261-6 would be valid" in m for m in found
    )
    assert any(
        "facts.phq9_item9.codes: answer set yes_no: LA33-6: phq9_item9 is a whole number; "
        "a boolean cannot be compared with it" in m
        for m in found
    )
    assert any(
        "facts.cssrs_method.codes.answers: unknown answer set 'yesno' (did you mean 'yes_no'?)" in m for m in found
    )
    assert any(
        "facts.cssrs_method.codes: 93247-5 is already read by fact 'cssrs_active_thoughts': one code, one fact" in m
        for m in found
    )
    assert any("answer_sets.yes_no.LA33: must be a LOINC answer code such as LA6568-5" in m for m in found)


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 40)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["LA33-6", "LA6571-9", "/44250-9", "93247-5", "2026-11-02", "Patient/x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _paths_of(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths_of(sub, prefix + (key,))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _paths_of(sub, prefix + (i,))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_bundles_give_an_intake_or_a_clear_error_never_a_traceback(advisor, data) -> None:
    bundle = _negative()
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in _paths_of(bundle) if p]
        path = data.draw(st.sampled_from(paths))
        parent = bundle
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSONISH)
    try:
        mapped = map_fhir(json.dumps(bundle).encode(), "x.json", advisor.ruleset)
    except IntakeError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    cssrs = mapped.record.get("risk", {}).get("cssrs", {})
    assert all(type(v) is bool for v in cssrs.values())  # an answer, or absent: nothing else

"""`assess --format fhir`: a GuidanceResponse valid against the FHIR models, deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.guidanceresponse import GuidanceResponse
from pydantic.v1 import ValidationError  # fhir.resources 7 builds its models on pydantic's v1 API

from cli import cli
from conftest import EXAMPLES, ROOT

FHIR = ROOT / "tests" / "files" / "fhir"
# the required bindings the model library leaves as plain codes (R4 value sets)
BINDINGS = {
    ("GuidanceResponse", "status"): {
        "success",
        "data-requested",
        "data-required",
        "in-progress",
        "failure",
        "entered-in-error",
    },
    ("RequestGroup", "status"): {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    ("RequestGroup", "intent"): {
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    },
    ("DetectedIssue", "status"): {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    ("DetectedIssue", "severity"): {"high", "moderate", "low"},
}
PRIORITY = {"routine", "urgent", "asap", "stat"}
RELATIONSHIP = {
    "before-start",
    "before",
    "before-end",
    "concurrent-with-start",
    "concurrent",
    "concurrent-with-end",
    "after-start",
    "after",
    "after-end",
}


def _fhir(runner, path: Path) -> dict:
    result = runner.invoke(cli, ["assess", str(path), "--format", "fhir"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _check(resource: dict) -> None:
    """Valid by the model library, every required binding in its value set, every contained
    resource referenced (invariant dom-3) and every local reference resolved."""
    GuidanceResponse.parse_obj(resource)
    contained = {c["id"]: c for c in resource["contained"]}
    for r in (resource, *contained.values()):
        for (kind, element), allowed in BINDINGS.items():
            if r["resourceType"] == kind and element in r:
                assert r[element] in allowed, (kind, element, r[element])
    text = json.dumps(resource)
    refs = {part.split('"')[0] for part in text.split('"reference": "#')[1:]}
    assert refs == set(contained), (refs, set(contained))
    plan = contained[resource["result"]["reference"][1:]]
    ids = {a["id"] for a in plan["action"]}
    for action in plan["action"]:
        assert action.get("priority", "routine") in PRIORITY
        for rel in action.get("relatedAction", ()):
            assert rel["actionId"] in ids and rel["relationship"] in RELATIONSHIP


CASES = list(EXAMPLES) + [FHIR / "phq9-cssrs-negative.json", FHIR / "cssrs-positive.json", FHIR / "observations.json"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_every_example_gives_a_valid_guidance_response(runner, path: Path) -> None:
    resource = _fhir(runner, path)
    _check(resource)
    decision = json.loads(runner.invoke(cli, ["assess", str(path), "--format", "json"]).stdout)
    assert resource["status"] == ("success" if decision["status"] == "complete" else "data-required")
    issues = [c for c in resource["contained"] if c["resourceType"] == "DetectedIssue"]
    assert [i["code"]["coding"][0]["code"] for i in issues] == [f["code"] for f in decision["flags"]]
    plan = resource["contained"][0]
    assert [a["title"] for a in plan["action"] if a["id"].startswith("condition-")] == decision["recommendation"][
        "conditions"
    ]


def test_incomplete_lists_the_panel_still_needed_and_maps_levels(runner) -> None:
    resource = _fhir(runner, FHIR / "observations.json")
    assert resource["status"] == "data-required"
    assert resource["dataRequirement"] == [
        {
            "type": "QuestionnaireResponse",
            "codeFilter": [{"path": "questionnaire", "code": [{"system": "http://loinc.org", "code": "93373-9"}]}],
        }
    ]
    issue = next(
        c
        for c in resource["contained"]
        if c["resourceType"] == "DetectedIssue" and c["code"]["text"] == "RISK_ASSESSMENT_MISSING"
    )
    action = next(
        a for a in resource["contained"][0]["action"] if a.get("resource", {}).get("reference") == f"#{issue['id']}"
    )
    assert issue["severity"] == "high" and action["priority"] == "stat"


def test_the_library_rejects_what_we_must_not_emit(runner) -> None:
    """The check can fail: a broken resource is refused by the model library or by _check."""
    resource = _fhir(runner, FHIR / "cssrs-positive.json")
    broken = json.loads(json.dumps(resource))
    del broken["moduleUri"]
    with pytest.raises(ValidationError):
        GuidanceResponse.parse_obj(broken)
    broken = json.loads(json.dumps(resource))
    broken["contained"][1]["severity"] = "critical"
    with pytest.raises(AssertionError):
        _check(broken)


def test_deterministic_and_no_clock(runner) -> None:
    first = runner.invoke(cli, ["assess", str(FHIR / "cssrs-positive.json"), "--format", "fhir"]).stdout
    second = runner.invoke(cli, ["assess", str(FHIR / "cssrs-positive.json"), "--format", "fhir"]).stdout
    assert first == second and "DateTime" not in first


def test_fhir_format_refuses_handout_and_why_not(runner) -> None:
    demo = str(ROOT / "examples" / "demo.yaml")
    assert runner.invoke(cli, ["assess", demo, "--format", "fhir", "--handout"]).exit_code == 2
    assert runner.invoke(cli, ["assess", demo, "--format", "fhir", "--why-not", "group"]).exit_code == 2

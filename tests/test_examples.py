"""Every bundled example: a decision that fits the decision-v1 JSON Schema, the
path it is meant to take, and golden text/HTML reports.

Golden files are regenerated deliberately with ``UPDATE_GOLDEN=1 make test``;
review the diff like any other change to what a clinician reads.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from conftest import EXAMPLES, ROOT
from ipt_advisor import __version__
from ipt_advisor.intake import load_intake_file
from ipt_advisor.report import decision_json

SCHEMA = json.loads((ROOT / "docs" / "decision-v1.schema.json").read_text())
GOLDEN = ROOT / "tests" / "files" / "golden"

# The path each example is written to take (its header comment says why).
EXPECTED = {
    "adolescent.yaml": ("complete", None, "ADOLESCENT"),
    "defer-safety.yaml": ("complete", "defer", "SUICIDE_IMMINENT"),
    "demo.yaml": ("complete", "group", "SUICIDE_IDEATION"),
    "group.yaml": ("complete", "group", None),
    "incomplete.yaml": ("incomplete", "defer", "RISK_ASSESSMENT_MISSING"),
    "individual.yaml": ("complete", "individual", "REFUSES_GROUP"),
    "severe-prefers-group.yaml": ("complete", "group", "CLINICIAN_REVIEW"),
    "specialist.yaml": ("complete", "defer", "PSYCHOSIS_OR_MANIA"),
    "two-areas.yaml": ("complete", "group", None),
}


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_decision_fits_schema_and_path(advisor, path: Path) -> None:
    decision = advisor.assess(load_intake_file(_relative(path)))
    jsonschema.validate(decision, SCHEMA)
    status, fmt, flag = EXPECTED[path.name]
    assert decision["status"] == status
    if fmt is not None:
        assert decision["recommendation"]["format"] == fmt
    if flag is not None:
        assert flag in {f["code"] for f in decision["flags"]}


def test_examples_cover_the_required_paths(advisor) -> None:
    formats = {EXPECTED[p.name][1] for p in EXAMPLES}
    assert {"group", "individual", "defer"} <= formats
    two_areas = advisor.assess(load_intake_file("examples/two-areas.yaml"))["focus"]
    assert two_areas["primary"] and two_areas["secondary"]


@pytest.mark.parametrize("name", ["demo", "incomplete", "defer-safety", "severe-prefers-group"])
@pytest.mark.parametrize("fmt,ext", [("text", "txt"), ("html", "html")])
def test_golden_reports(advisor, monkeypatch, name: str, fmt: str, ext: str) -> None:
    monkeypatch.chdir(ROOT)  # the report names its intake by the path given
    intake = load_intake_file(f"examples/{name}.yaml")
    _, text = advisor.report(intake, fmt, __version__)
    golden = GOLDEN / f"{name}.{ext}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"missing {golden.name}: run UPDATE_GOLDEN=1 make test and review the diff"
    assert text == golden.read_text()


def test_json_golden_is_the_contract_shape(advisor) -> None:
    """Same intake twice: byte-identical JSON; and it parses back to the same object."""
    intake = load_intake_file("examples/demo.yaml")
    first, second = decision_json(advisor.assess(intake)), decision_json(advisor.assess(intake))
    assert first == second
    assert json.loads(first)["decision_version"] == 1

"""docs/decision-v1.schema.json is a valid JSON Schema and says what decision-v1.md says."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from jsonschema import Draft202012Validator

from conftest import CONTRACT_FLAG_CODES

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "decision-v1.schema.json"


# The example from decision-v1.md, with its "..." placeholders filled in.
EXAMPLE: dict[str, Any] = {
    "decision_version": 1,
    "intake_id": "C-2026-0042",
    "status": "complete",
    "recommendation": {
        "format": "group",
        "summary": "Group IPT",
        "conditions": ["Individual pre-group session to prepare for the group"],
    },
    "focus": {"primary": "grief", "secondary": "isolation"},
    "flags": [
        {
            "code": "SUICIDE_IDEATION",
            "level": "warning",
            "action": "Full risk assessment and safety plan before the first session",
            "rule": "RISK-SI-002",
        }
    ],
    "severity": {"phq9": 14, "kroenke_band": "moderate", "nice_band": "less_severe"},
    "trace": [
        {
            "rule": "SEV-NICE-001",
            "title": "...",
            "because": {"measures.phq9": 14},
            "effect": "nice_band=less_severe",
        }
    ],
    "ruleset": {"name": "ipt-suitability", "version": "1.0.0", "sha256": "0123456789abcdef" * 4},
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def variant(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    decision = copy.deepcopy(EXAMPLE)
    change(decision)
    return decision


def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_flag_codes_are_exactly_the_contracts(schema: dict[str, Any]) -> None:
    assert set(schema["$defs"]["flag_code"]["examples"]) == set(CONTRACT_FLAG_CODES)


def test_contract_example_validates(validator: Draft202012Validator) -> None:
    assert list(validator.iter_errors(EXAMPLE)) == []


def _incomplete(d: dict[str, Any]) -> None:
    d["status"] = "incomplete"
    d["recommendation"] = {
        "format": "defer",
        "summary": "Defer IPT allocation",
        "conditions": ["Complete the C-SSRS screener"],
    }
    d["flags"] = [
        {
            "code": "RISK_ASSESSMENT_MISSING",
            "level": "critical",
            "action": "Complete the C-SSRS screener today",
            "rule": "RISK-MISSING-001",
        }
    ]


def _extended(d: dict[str, Any]) -> None:
    d["recommendation"]["reasons"] = ["grief is onset-linked"]
    d["focus"]["reasons"] = {"primary": "onset-linked"}
    d["considerations"] = ["perinatal pathway"]
    d["trace"][0]["version"] = "1.2.0"
    d["not_assessed"] = ["gad7"]


def _nulls(d: dict[str, Any]) -> None:
    d["focus"] = {"primary": None, "secondary": None}
    d["severity"]["kroenke_band"] = None
    d["severity"]["nice_band"] = None
    d["flags"] = []
    d["trace"] = []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_incomplete, id="incomplete-defer"),
        pytest.param(_extended, id="tool-extensions"),
        pytest.param(_nulls, id="nulls-and-empty-lists"),
    ],
)
def test_valid_variants(validator: Draft202012Validator, change: Callable[[dict[str, Any]], None]) -> None:
    assert list(validator.iter_errors(variant(change))) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = d
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = d
        for key in parents:
            target = target[key]
        del target[last]

    return change


def _incomplete_but(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def both(d: dict[str, Any]) -> None:
        _incomplete(d)
        change(d)

    return both


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_set("flags.0.code", "suicidal ideation"), id="malformed-flag-code"),
        pytest.param(_set("recommendation.format", "maybe"), id="format-maybe"),
        pytest.param(_set("status", "incomplete"), id="incomplete-with-group"),
        pytest.param(_incomplete_but(_set("recommendation.format", "individual")), id="incomplete-with-individual"),
        pytest.param(_incomplete_but(_set("flags", [])), id="incomplete-without-missing-flag"),
        pytest.param(_set("decision_version", 2), id="decision-version-2"),
        pytest.param(_set("status", "partial"), id="unknown-status"),
        pytest.param(_set("focus.primary", "interpersonal_deficits"), id="unknown-focus-area"),
        pytest.param(_set("flags.0.level", "urgent"), id="unknown-flag-level"),
        pytest.param(_set("severity.phq9", 28), id="phq9-above-27"),
        pytest.param(_set("severity.phq9", "14"), id="phq9-a-string"),
        pytest.param(_set("severity.kroenke_band", "moderately severe"), id="kroenke-band-spelling"),
        pytest.param(_set("severity.nice_band", "severe"), id="unknown-nice-band"),
        pytest.param(_set("recommendation.conditions", "see GP"), id="conditions-not-a-list"),
        pytest.param(_set("trace.0.because", [["measures.phq9", 14]]), id="because-not-an-object"),
        pytest.param(_set("ruleset.sha256", "..."), id="sha256-placeholder"),
        pytest.param(_set("ruleset.sha256", "0123456789ABCDEF" * 4), id="sha256-uppercase"),
        pytest.param(_delete("focus.secondary"), id="missing-focus-secondary"),
        pytest.param(_delete("trace"), id="missing-trace"),
        pytest.param(_delete("severity.nice_band"), id="missing-nice-band"),
    ],
)
def test_broken_variants_are_rejected(
    validator: Draft202012Validator, change: Callable[[dict[str, Any]], None]
) -> None:
    assert list(validator.iter_errors(variant(change))) != []

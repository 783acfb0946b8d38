"""The decision as FHIR R4 (``ipt-advisor assess FILE --format fhir``).

One GuidanceResponse (``success``, or ``data-required`` when the decision is incomplete) holds,
as contained resources:

* a RequestGroup (``result``): the recommendation and the conditions that come first, in order,
  then one action per flag with its priority (critical -> stat, warning -> urgent, info -> routine);
* one DetectedIssue per flag, referenced by that flag's action. A flag is a clinical issue found
  by decision support with a severity and a recommended mitigation, which is what DetectedIssue
  models; an EHR stores and shows it without knowing ipt-advisor, where an extension would be
  opaque to every receiver (docs/fhir.md);
* a Parameters (``outputParameters``) with the format, the focus areas and the severity bands.

The data still needed is listed as ``dataRequirement`` by the LOINC panels of facts.yaml.
Like the decision JSON it contains no clock time and is a pure function of the decision.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..core.jsonline import canonical_bytes
from ..core.model import RuleSet

FLAG_SYSTEM = "urn:ipt-advisor:flag"
FORMAT_SYSTEM = "urn:ipt-advisor:format"
LOINC = "http://loinc.org"
SEVERITY = {"critical": "high", "warning": "moderate", "info": "low"}
PRIORITY = {"critical": "stat", "warning": "urgent", "info": "routine"}


def module_uri(ruleset: RuleSet) -> str:
    return f"urn:ipt-advisor:ruleset:{ruleset.name}:{ruleset.version}"


def _required_data(decision: dict[str, Any], ruleset: RuleSet) -> list[dict[str, Any]]:
    """The panels that hold the answers a decision found missing."""
    by_source = {spec.source: spec for spec in ruleset.facts.values() if spec.source and spec.codes}
    panels = sorted(
        {
            by_source[p].codes.panel  # type: ignore[union-attr]
            for p in decision.get("not_assessed", ())
            if p in by_source and by_source[p].codes.panel  # type: ignore[union-attr]
        }
    )  # type: ignore[type-var]
    return [
        {
            "type": "QuestionnaireResponse",
            "codeFilter": [{"path": "questionnaire", "code": [{"system": LOINC, "code": panel}]}],
        }
        for panel in panels
    ]


def _parameters(decision: dict[str, Any]) -> dict[str, Any]:
    rec, focus, sev = decision["recommendation"], decision["focus"], decision.get("severity", {})
    pairs = [
        ("format", rec["format"]),
        ("focus-primary", focus.get("primary")),
        ("focus-secondary", focus.get("secondary")),
        ("kroenke-band", sev.get("kroenke_band")),
        ("nice-band", sev.get("nice_band")),
    ]
    return {
        "resourceType": "Parameters",
        "id": "outputs",
        "parameter": [{"name": name, "valueCode": value} for name, value in pairs if value is not None],
    }


def guidance_response(decision: dict[str, Any], ruleset: RuleSet) -> dict[str, Any]:
    rec = decision["recommendation"]
    flags = decision["flags"]
    issues = [
        {
            "resourceType": "DetectedIssue",
            "id": f"flag-{i}",
            "status": "preliminary",
            "code": {"coding": [{"system": FLAG_SYSTEM, "code": flag["code"]}], "text": flag["code"]},
            "severity": SEVERITY[flag["level"]],
            "detail": f"{flag['action']} (rule {flag['rule']})",
            "mitigation": [{"action": {"text": flag["action"]}}],
        }
        for i, flag in enumerate(flags, 1)
    ]
    actions = [
        {
            "id": "recommendation",
            "title": rec["summary"],
            "code": [{"coding": [{"system": FORMAT_SYSTEM, "code": rec["format"]}]}],
            "description": "; ".join(f"{r['text']} [{r['rule']}]" for r in rec.get("reasons", ())) or rec["summary"],
        }
    ]
    actions += [
        {
            "id": f"condition-{i}",
            "title": text,
            "relatedAction": [{"actionId": "recommendation", "relationship": "before-start"}],
        }
        for i, text in enumerate(rec["conditions"], 1)
    ]
    actions += [
        {
            "id": f"flag-action-{i}",
            "title": flag["action"],
            "priority": PRIORITY[flag["level"]],
            "code": [{"coding": [{"system": FLAG_SYSTEM, "code": flag["code"]}]}],
            "resource": {"reference": f"#flag-{i}"},
        }
        for i, flag in enumerate(flags, 1)
    ]
    request_group = {
        "resourceType": "RequestGroup",
        "id": "plan",
        "status": "draft",
        "intent": "proposal",
        "action": actions,
    }
    rs = decision["ruleset"]
    body = {
        "resourceType": "GuidanceResponse",
        "id": "ipt-" + hashlib.sha256(canonical_bytes(decision)).hexdigest()[:32],
        "contained": [request_group, *issues, _parameters(decision)],
        "identifier": [{"system": "urn:ipt-advisor:case", "value": decision["intake_id"]}],
        "moduleUri": module_uri(ruleset),
        "status": "success" if decision["status"] == "complete" else "data-required",
        "note": [{"text": f"{rec['summary']} (rule set {rs['name']} {rs['version']}, sha256 {rs['sha256']})"}],
        "outputParameters": {"reference": "#outputs"},
        "result": {"reference": "#plan"},
    }
    if decision["status"] != "complete":
        body["dataRequirement"] = _required_data(decision, ruleset)
        if not body["dataRequirement"]:
            del body["dataRequirement"]
    return body


def guidance_json(decision: dict[str, Any], ruleset: RuleSet) -> str:
    return json.dumps(guidance_response(decision, ruleset), indent=2, ensure_ascii=False) + "\n"

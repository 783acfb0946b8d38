"""CDS Hooks 2.0: the ``ipt-suitability`` service on ``patient-view`` (served by ``serve``).

The web layer (``web/cds_views.py``) handles HTTP and authorisation; this module is the
service itself, free of Flask: the discovery document, reading a hook request's prefetch into
an intake (``intake.fhir``), the one card, and checking feedback.

* indicator by the contract: ``critical`` when a critical flag is raised, ``warning`` for a
  warning flag, ``info`` otherwise; a missing C-SSRS raises RISK_ASSESSMENT_MISSING (critical),
  so it is a critical card, not an error;
* the card's ``uuid`` is derived from the hookInstance and the rule set's sha256: the same
  call to the same rules names the same card, and feedback can be joined to it;
* data that cannot be read is a card too (never a 500): a ``warning`` card that lists the
  problems, ``critical`` when no C-SSRS screener was among the data at all.
"""

from __future__ import annotations

import uuid as uuidlib
from ..core.precompiled_classes import dataclass
from typing import Any

from ..core.errors import IntakeError
from ..intake.fhir import FhirIntake, map_resources
from ..core.model import RuleSet

SERVICE_ID = "ipt-suitability"
HOOK = "patient-view"
SUMMARY_MAX = 139  # the spec: "less than 140 characters"
LEVELS = ("critical", "warning", "info")
OVERRIDE_SYSTEM = "urn:ipt-advisor:cds-override-reason"
OVERRIDE_REASONS = (
    ("clinical-judgement", "My clinical assessment differs"),
    ("patient-preference", "The person prefers another treatment"),
    ("data-outdated", "The questionnaire data in the record is out of date or wrong"),
    ("already-addressed", "Already addressed (risk assessed, referral made)"),
)
_NAMESPACE = uuidlib.UUID("6f1c1f3e-6a7b-5c55-9d8e-1a2b3c4d5e6f")


class HookRequestError(ValueError):
    """The request is not a usable CDS Hooks call (HTTP 400), with what is wrong."""


class PrefetchMissing(LookupError):
    """Prefetch keys the service needs were not sent (HTTP 412 unless fetching is allowed)."""

    def __init__(self, keys: list[str]):
        super().__init__(", ".join(keys))
        self.keys = keys


def prefetch_templates(ruleset: RuleSet) -> dict[str, str]:
    """One query per LOINC panel of facts.yaml, plus the Patient (for the age)."""
    panels = sorted({spec.codes.panel for spec in ruleset.facts.values() if spec.codes and spec.codes.panel})
    items = sorted({spec.codes.loinc for spec in ruleset.facts.values() if spec.codes and spec.codes.panel})
    out = {"patient": "Patient/{{context.patientId}}"}
    for panel in panels:
        out[f"responses-{panel}"] = (
            f"QuestionnaireResponse?subject=Patient/{{{{context.patientId}}}}&questionnaire=http://loinc.org/q/{panel}"
        )
    out["observations"] = "Observation?subject=Patient/{{context.patientId}}&code=" + ",".join(
        f"http://loinc.org|{code}" for code in items
    )
    return out


def discovery(ruleset: RuleSet) -> dict[str, Any]:
    return {
        "services": [
            {
                "hook": HOOK,
                "id": SERVICE_ID,
                "title": "IPT suitability (ipt-advisor)",
                "description": "Group or individual Interpersonal Psychotherapy, risk flags first, from the PHQ-9 and "
                f"the C-SSRS screener in the record; rule set {ruleset.name} {ruleset.version}.",
                "prefetch": prefetch_templates(ruleset),
                "usageRequirements": "Interpersonal findings are completed in ipt-advisor; the card links there.",
            }
        ]
    }


def check_request(body: Any) -> dict[str, Any]:
    """The parts of a hook request the service relies on, or ``HookRequestError``."""
    if not isinstance(body, dict):
        raise HookRequestError("the request body must be a JSON object")
    problems = []
    if body.get("hook") != HOOK:
        problems.append(f"hook must be {HOOK!r}")
    hook_instance = body.get("hookInstance")
    if not isinstance(hook_instance, str) or not 1 <= len(hook_instance) <= 200:
        problems.append("hookInstance must be a string (a UUID)")
    context = body.get("context")
    if (
        not isinstance(context, dict)
        or not isinstance(context.get("patientId"), str)
        or not isinstance(context.get("userId"), str)
    ):
        problems.append("context must hold userId and patientId")
    if "prefetch" in body and not isinstance(body["prefetch"], dict):
        problems.append("prefetch must be an object")
    if "fhirServer" in body and not isinstance(body["fhirServer"], str):
        problems.append("fhirServer must be a URL")
    if problems:
        raise HookRequestError("; ".join(problems))
    return body


def card_uuid(hook_instance: str, ruleset: RuleSet) -> str:
    return str(uuidlib.uuid5(_NAMESPACE, f"{hook_instance}\0{ruleset.sha256}"))


def bundle_of(prefetch: dict[str, Any], ruleset: RuleSet) -> dict[str, Any]:
    """The prefetched data as one Bundle; ``PrefetchMissing`` for keys not sent at all
    (a key sent as null means the EHR has no such data: nothing to read, never "no")."""
    missing = [key for key in prefetch_templates(ruleset) if key not in prefetch]
    if missing:
        raise PrefetchMissing(missing)
    entries = []
    for key in prefetch_templates(ruleset):
        value = prefetch[key]
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            found = value.get("entry")
            entries += [e for e in (found if isinstance(found, list) else []) if isinstance(e, dict)]
        elif value is not None:
            entries.append({"resource": value})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


@dataclass
class Assessed:
    """What a hook call produced: the card, and the mapped intake and decision when there is one."""

    card: dict[str, Any]
    mapped: FhirIntake | None = None
    decision: dict[str, Any] | None = None


def _summary(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def _md(text: str) -> str:
    """Rule text as Markdown text: the characters Markdown would read as emphasis, code, links
    or HTML, escaped (a rule's words are shown, never interpreted)."""
    return "".join("\\" + c if c in "\\`*_[]<>|" else c for c in text)


def _base_card(ruleset: RuleSet, hook_instance: str, report_url: str | None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": card_uuid(hook_instance, ruleset),
        "source": {
            "label": f"ipt-advisor · rule set {ruleset.name} {ruleset.version}",
            "topic": {
                "system": "urn:ipt-advisor:ruleset",
                "code": ruleset.name,
                "display": f"{ruleset.name} {ruleset.version} (sha256 {ruleset.sha256[:12]})",
            },
        },
        "overrideReasons": [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display} for code, display in OVERRIDE_REASONS
        ],
    }
    if report_url:
        card["links"] = [{"label": "Full explained report in ipt-advisor", "url": report_url, "type": "absolute"}]
    return card


def decision_card(
    decision: dict[str, Any], ruleset: RuleSet, hook_instance: str, report_url: str | None
) -> dict[str, Any]:
    rec = decision["recommendation"]
    flags = decision["flags"]
    top = flags[0]["code"].replace("_", " ").lower() if flags else ""
    lines = [
        f"**Recommendation:** {_md(rec['summary'])}"
        + (" (incomplete: data missing)" if decision["status"] != "complete" else "")
    ]
    if rec["conditions"]:
        lines += ["", "**First:**"] + [f"{i}. {_md(c)}" for i, c in enumerate(rec["conditions"], 1)]
    if flags:
        lines += ["", "**Flags:**"] + [
            f"- **{f['level'].upper()}** {_md(f['code'])}: {_md(f['action'])} \\[{_md(f['rule'])}\\]" for f in flags
        ]
    focus = [a for a in (decision["focus"].get("primary"), decision["focus"].get("secondary")) if a]
    lines += ["", f"**Focus:** {_md(', '.join(focus)) if focus else 'none yet: complete the interpersonal inventory'}"]
    lines += [
        "",
        f"Rule set {_md(ruleset.name)} {_md(ruleset.version)}, sha256 {ruleset.sha256[:12]}. "
        "Supports and does not replace clinical judgement.",
    ]
    card = _base_card(ruleset, hook_instance, report_url)
    card.update(
        summary=_summary(f"IPT: {rec['summary']}" + (f" · {top}" if top else "")),
        indicator=indicator(decision),
        detail="\n".join(lines),
    )
    return dict(sorted(card.items()))


def indicator(decision: dict[str, Any]) -> str:
    """The contract: critical when a critical flag is raised, warning for a warning flag, else info."""
    levels = {f["level"] for f in decision["flags"]}
    return next((level for level in LEVELS[:2] if level in levels), "info")


def problem_card(error: IntakeError, bundle: dict[str, Any], ruleset: RuleSet, hook_instance: str) -> dict[str, Any]:
    """The EHR data could not be read: say what, and treat the risk screen as not done."""
    panels = {
        spec.codes.panel
        for spec in ruleset.facts.values()
        if spec.codes and spec.codes.panel and spec.source and spec.source.startswith("risk.")
    }
    has_screen = any(
        isinstance(e.get("resource"), dict)
        and str(e["resource"].get("questionnaire", "")).rstrip("/").endswith(tuple(panels))
        for e in bundle["entry"]
    )
    listed = error.problems[:10]
    lines = ["The record's questionnaire data could not be read, so IPT suitability was not assessed:", ""]
    lines += [f"- {_md(p.path + ': ' if p.path else '')}{_md(p.message)}" for p in listed]
    if len(error.problems) > len(listed):
        lines.append(f"- … and {len(error.problems) - len(listed)} more")
    lines += ["", "Until it is, treat the suicide-risk screen as **not done**, never as negative."]
    card = _base_card(ruleset, hook_instance, None)
    card.update(
        summary=_summary(
            f"IPT suitability not assessed: {len(error.problems)} problem(s) in the record's data"
            + ("" if has_screen else "; no C-SSRS risk screen")
        ),
        indicator="warning" if has_screen else "critical",
        detail="\n".join(lines),
    )
    return dict(sorted(card.items()))


def assess_hook(body: dict[str, Any], prefetch: dict[str, Any], advisor: Any, report_url: Any) -> Assessed:
    """One hook call -> its card. ``report_url(decision)`` gives the link after storing."""
    rs = advisor.ruleset
    bundle = bundle_of(prefetch, rs)
    try:
        mapped = map_resources(bundle, "prefetch", rs)
    except IntakeError as exc:
        return Assessed(problem_card(exc, bundle, rs, body["hookInstance"]))
    decision = advisor.assess(mapped.intake)
    return Assessed(decision_card(decision, rs, body["hookInstance"], report_url(mapped, decision)), mapped, decision)


def check_feedback(body: Any, known: set[str]) -> list[dict[str, Any]]:
    """Feedback items as rows, or ``HookRequestError`` naming every problem."""
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or len(items) > 100:
        raise HookRequestError("feedback must be a list of 1 to 100 items")
    reasons = {code for code, _ in OVERRIDE_REASONS}
    rows, problems = [], []
    for i, item in enumerate(items):
        where = f"feedback[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object")
            continue
        outcome, card = item.get("outcome"), item.get("card")
        if card not in known:
            problems.append(f"{where}.card: not a card this service returned")
        if outcome not in ("accepted", "overridden"):
            problems.append(f"{where}.outcome: must be accepted or overridden")
        stamp = item.get("outcomeTimestamp")
        if not isinstance(stamp, str) or not 10 <= len(stamp) <= 32:
            problems.append(f"{where}.outcomeTimestamp: required, an ISO instant")
        override = item.get("overrideReason")
        code = comment = None
        if override is not None:
            if not isinstance(override, dict):
                problems.append(f"{where}.overrideReason: must be an object")
            else:
                reason = override.get("reason")
                if reason is not None:
                    if (
                        not isinstance(reason, dict)
                        or reason.get("system") != OVERRIDE_SYSTEM
                        or reason.get("code") not in reasons
                    ):
                        problems.append(f"{where}.overrideReason.reason: not one of the card's overrideReasons")
                    else:
                        code = reason["code"]
                comment = override.get("userComment")
                if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
                    problems.append(f"{where}.overrideReason.userComment: text of at most 2000 characters")
        if outcome == "accepted" and override is not None:
            problems.append(f"{where}.overrideReason: an accepted card has no override reason")
        rows.append(
            {
                "card_uuid": card,
                "outcome": outcome,
                "outcome_timestamp": stamp,
                "reason_code": code,
                "user_comment": comment,
            }
        )
    if problems:
        raise HookRequestError("; ".join(problems))
    return rows

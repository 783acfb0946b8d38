"""How the rules' conclusions combine into one decision, read from the manifest's ``policies``.

The catalog's index explains this to trainers.  Nothing here is written by hand: every
order, limit and label comes from ``ruleset.yaml`` (``policies``) and the rules that
choose, rule out, propose or raise each thing, so the page cannot drift from the policy
the engine applies.
"""

from __future__ import annotations

from typing import Any

from ..core.model import ChooseFormat, ExcludeFormat, ProposeFocus, RaiseFlag, RuleSet, SetStatus


def _rules_with(ruleset: RuleSet, kind: type, test: Any) -> list[str]:
    return [r.id for r in ruleset.active_rules if any(isinstance(e, kind) and test(e) for e in r.then)]


def combination(ruleset: RuleSet) -> dict[str, Any]:
    """The combination policy as data for the index page: format, focus, status, flags."""
    policy = ruleset.policies
    assert policy is not None
    precedence = list(policy.format_precedence)
    formats = []
    for i, fmt in enumerate(precedence):
        formats.append(
            {
                "format": fmt,
                "label": policy.format_labels.get(fmt, fmt),
                "rank": i + 1,
                "chosen_by": _rules_with(ruleset, ChooseFormat, lambda e, f=fmt: e.format == f),
                # ruling out the next less restrictive format asks for this one
                "via_exclude": _rules_with(
                    ruleset, ExcludeFormat, lambda e, i=i: i + 1 < len(precedence) and e.format == precedence[i + 1]
                ),
            }
        )
    areas = [
        {
            "area": a,
            "label": policy.area_labels.get(a, a),
            "rank": i + 1,
            "proposed_by": _rules_with(ruleset, ProposeFocus, lambda e, a=a: e.area == a),
        }
        for i, a in enumerate(policy.focus_areas)
    ]
    statuses = sorted({e.status for r in ruleset.active_rules for e in r.then if isinstance(e, SetStatus)})
    levels = [
        {
            "level": lv,
            "rank": i + 1,
            "codes": list(
                dict.fromkeys(
                    e.code for r in ruleset.active_rules for e in r.then if isinstance(e, RaiseFlag) and e.level == lv
                )
            ),
        }
        for i, lv in enumerate(policy.flag_levels)
    ]
    return {
        "formats": formats,
        "most_restrictive": precedence[0] if precedence else "",
        "fallback": policy.format_fallback,
        "fallback_label": policy.format_labels.get(policy.format_fallback, policy.format_fallback),
        "fallback_reason": policy.format_fallback_reason,
        "areas": areas,
        "basis": list(policy.focus_basis),
        "max_areas": policy.focus_max,
        "status_default": policy.status_default,
        "statuses": [
            {"status": s, "set_by": _rules_with(ruleset, SetStatus, lambda e, s=s: e.status == s)} for s in statuses
        ],
        "levels": levels,
        "urgency": list(policy.flag_urgency),
        "condition_order": policy.condition_order,
        "banners": [{"text": b.text, "level": b.level, "flag": b.flag, "status": b.status} for b in policy.banners],
    }


def combination_text(ruleset: RuleSet) -> list[str]:
    """The same policy as short sentences (``rules doc`` tests and the README quote them)."""
    c = combination(ruleset)
    order = " > ".join(f["format"] for f in c["formats"])
    lines = [f"Format: the most restrictive format any rule asks for wins ({order}); with none, {c['fallback']}."]
    basis = " before ".join(b.replace("_", "-") for b in c["basis"])
    lines.append(f"Focus: {basis}, then {' > '.join(a['area'] for a in c['areas'])}; at most {c['max_areas']} kept.")
    lines.append(
        f"Status: {c['status_default']} unless a rule marks it "
        f"{' or '.join(s['status'] for s in c['statuses']) or 'otherwise'}."
    )
    lines.append(f"Flags: {' > '.join(lv['level'] for lv in c['levels'])}, then by urgency within a level.")
    return lines

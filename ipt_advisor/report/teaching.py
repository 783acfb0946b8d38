"""Teaching points for a case page, in a trainer's plain words, from the decision itself.

Written from the decision, the rule set's labels and flag descriptions and the "what would
have to change" answers (``smallest``), never per case by hand: what was decided and why,
which focus and why, what to act on first, and what would have to differ for each other
format.  The case file's own comment block stays beside them as the author's note.
"""

from __future__ import annotations

from typing import Any

from ..core.model import RuleSet
from ..core.wording import join_words


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def teaching_points(ruleset: RuleSet, decision: dict[str, Any], why_not: list[dict[str, Any]]) -> list[str]:
    policy = ruleset.policies
    assert policy is not None
    rec = decision["recommendation"]
    out = []
    label = policy.format_labels.get(rec["format"], rec["format"])
    reasons = [f"{_sentence(r['text'])} ({r['rule']})" for r in rec["reasons"]]
    if decision["status"] != policy.status_default:
        out.append(
            f"The decision is {decision['status']}: {label}. Missing is never read as negative, so no "
            "IPT allocation is made until what is missing is completed."
        )
    elif reasons:
        out.append(f"The recommendation is {label} because {join_words(reasons)}.")
    else:
        out.append(f"The recommendation is {label}: no rule asked for a format ({policy.format_fallback_reason})")
    if len(rec["reasons"]) > 1 or any(w["kept_by"] for w in why_not):
        order = " > ".join(policy.format_precedence)
        out.append(f"When rules ask for different formats, the most restrictive one wins ({order}).")
    focus = decision["focus"]
    if focus["primary"]:
        parts = [f"{policy.area_labels.get(r['area'], r['area'])}: {_sentence(r['text'])}" for r in focus["reasons"]]
        out.append(f"The focus is {join_words(parts)}.")
        if focus.get("dropped"):
            dropped = [policy.area_labels.get(d["area"], d["area"]) for d in focus["dropped"]]
            out.append(
                f"{join_words(dropped)} {'was' if len(dropped) == 1 else 'were'} also present but not kept: "
                f"at most {policy.focus_max} areas, those linked to the onset first."
            )
    if decision["flags"]:
        flags = [
            f"{ruleset.flags[f['code']].description if f['code'] in ruleset.flags else f['code']} "
            f"({f['code']}, {f['level']})"
            for f in decision["flags"]
        ]
        out.append(f"{'The flag' if len(flags) == 1 else 'The flags, most urgent first'}: {'; '.join(flags)}.")
    for w in why_not:
        sc = w.get("smallest") or {}
        if sc.get("options"):
            first = "; ".join(f"{c['label']}: {c['to']} instead of {c['from']}" for c in sc["options"][0])
            ways = len(sc["options"]) + sc.get("more", 0)
            out.append(
                f"It would be {w['target']} with {len(sc['options'][0])} answer"
                f"{'s' if len(sc['options'][0]) > 1 else ''} different, e.g. {first}"
                f"{f' ({ways} ways in all)' if ways > 1 else ''}."
            )
        elif sc.get("risk_only"):
            out.append(
                f"It would be {w['target']} only if the risk answers were different: what the risk "
                "screen found, or did not record, decides this case, and a risk answer is never offered "
                "as something to change."
            )
    return out

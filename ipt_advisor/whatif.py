"""Questions about a decision: "what if this answer were different?" and "why not that format?".

Both are worked out from the rule conditions themselves, never written per case:

* :func:`explain_change` re-assesses the intake with one or more ``dotted.path=VALUE``
  changes (each re-validated like any intake) and compares the two decisions: what
  changed, which rules fired only before or only after, and which facts moved.
* :func:`why_not` takes a format the decision did *not* reach.  Rules that fired and
  asked for something more restrictive (``decide.format_outcome``) kept it away, with the
  facts that made them true (``evaluate.supporting_facts``); rules that would have chosen
  it are shown with the parts of their condition that failed or were not assessed
  (``evaluate.blocking_leaves``).
"""

from __future__ import annotations

import copy
import textwrap
from typing import Any

from .core import yamlio
from .advisor import Advisor
from .report.words import leaf_words
from .decision.decide import derived_values, format_outcome
from .core.errors import IntakeError, IptError, Problem
from .core.hints import closest, did_you_mean
from .ruleset.evaluate import blocking_leaves, supporting_facts
from .intake.facts import input_values
from .intake.schema import FIELD_PATHS, Intake, from_mapping, load_intake, read_intake_file
from .core.model import RuleSet, nnf
from .core.wording import (
    NOT_ASKED,
    answer_words,
    derived_words,
    effect_words,
    fact_label,
    fact_words,
    intake_value_words,
    missing_words,
    value_words,
)

#: Every dotted path ``--set`` accepts: the intake's fields and the blocks holding them
#: (``risk.cssrs`` can be set to null to take the whole screen away).
SETTABLE = tuple(sorted({".".join(p.split(".")[:n]) for p in FIELD_PATHS for n in range(1, p.count(".") + 2)}))


class ChangeError(IptError):
    """A ``--set`` that cannot be applied: bad syntax or a path the intake does not have (usage)."""


# ------------------------------------------------------------------ what if


def parse_change(text: str) -> tuple[str, Any]:
    """``risk.cssrs.intent=true`` -> ``("risk.cssrs.intent", True)``; the value is read as YAML
    (``16``, ``true``, ``null``, ``group``, also ``2026-01-05`` or ``{...}``)."""
    from .intake.schema import is_free_text

    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ChangeError([Problem("--set", None, text, "expected dotted.path=VALUE, e.g. risk.cssrs.intent=true")])
    if path not in SETTABLE:
        raise ChangeError([Problem("--set", None, path, f"not an intake field{did_you_mean(closest(path, SETTABLE))}")])
    if not raw.strip():
        return path, None
    # the same reader as an intake file: no tags, no base-60 or octal numbers, bounded nesting
    # and number sizes, and a free-text value never repeated in a message
    value, _, problems = yamlio.load(
        raw, "--set", lambda keys: (path, ""), lambda keys: is_free_text(tuple(path.split(".")))
    )
    if problems:
        raise ChangeError([Problem("--set", None, path, f"value is not valid: {p.message}") for p in problems])
    return path, value


read_input = read_intake_file  # the bytes of an intake file (``-`` = stdin) and its name in messages


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set ``dotted.path`` in an intake mapping (a copy of ``value``), making the blocks on
    the way (e.g. risk.cssrs was null: the screen now has this one answer)."""
    target = record
    *parents, last = path.split(".")
    for part in parents:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[last] = copy.deepcopy(value)


def apply_changes(data: bytes, source: str, changes: list[tuple[str, Any]]) -> tuple[Intake, Intake]:
    """The intake as given, and the intake with ``changes`` applied; both validated.

    A change that makes the intake invalid raises ``IntakeError`` whose problems about
    the changed paths are attributed to ``--set`` (the file itself did not say that)."""
    before = load_intake(data, source)
    value, lines, _ = yamlio.load(data, source)  # parsed cleanly: load_intake just succeeded
    value = copy.deepcopy(value)
    for path, new in changes:
        set_path(value, path, new)
    try:
        after = from_mapping(value, lines, f"{source} (with --set)")
    except IntakeError as exc:
        changed = [path for path, _ in changes]
        raise IntakeError(
            [
                Problem("--set", None, p.path, p.message)
                if any(p.path == c or p.path.startswith(c + ".") for c in changed)
                else Problem(source, p.line, p.path, p.message)
                for p in exc.problems
            ]
        ) from None
    return before, after


def summary(decision: dict[str, Any]) -> dict[str, Any]:
    """The parts of a decision a what-if compares."""
    rec = decision["recommendation"]
    return {
        "status": decision["status"],
        "format": rec["format"],
        "because": [r["rule"] for r in rec["reasons"]],
        "focus": [a for a in (decision["focus"]["primary"], decision["focus"]["secondary"]) if a],
        "flags": [f"{f['code']} ({f['level']})" for f in decision["flags"]],
        "conditions": list(rec["conditions"]),
    }


def explain_change(advisor: Advisor, before: Intake, after: Intake, changes: list[tuple[str, Any]]) -> dict[str, Any]:
    """Before/after decisions side by side and the rules and facts that made the difference."""
    rs = advisor.ruleset
    d_before, d_after = advisor.assess(before), advisor.assess(after)
    s_before, s_after = summary(d_before), summary(d_after)
    fired_before = [t["rule"] for t in d_before["trace"]]
    fired_after = [t["rule"] for t in d_after["trace"]]

    facts = []
    v_before, v_after = input_values(before, rs), input_values(after, rs)
    x_before, x_after = derived_values(d_before, rs), derived_values(d_after, rs)
    old: Any
    new: Any
    for spec in rs.facts.values():
        if spec.derived:  # a list of values; empty = no rule derived it
            old, new = x_before.get(spec.name, []), x_after.get(spec.name, [])
        else:
            old, new = v_before.get(spec.name), v_after.get(spec.name)
        if old != new:
            facts.append(
                {
                    "fact": spec.name,
                    "key": spec.key,
                    "label": spec.label,
                    "derived": spec.derived,
                    "before": old,
                    "after": new,
                    "before_words": fact_words(rs, spec.name, v_before, x_before),
                    "after_words": fact_words(rs, spec.name, v_after, x_after),
                }
            )
    by_source = {spec.source: spec for spec in rs.facts.values() if spec.source}

    def change(path: str) -> dict[str, Any]:
        old, new = before.get(path), after.get(path)
        spec = by_source.get(path)
        return {
            "path": path,
            "before": old,
            "after": new,
            "before_words": answer_words(rs, spec.name, v_before) if spec else intake_value_words(old),
            "after_words": answer_words(rs, spec.name, v_after) if spec else intake_value_words(new),
        }

    def rules(ids: list[str]) -> list[dict[str, str]]:
        return [{"rule": rid, "title": rs.rule(rid).title} for rid in ids]

    return {
        "intake_id": before.case_id,
        "changes": [change(p) for p, _ in changes],
        "before": s_before,
        "after": s_after,
        "differs": [key for key in s_before if s_before[key] != s_after[key]],
        "changed_facts": facts,
        "fired_only_before": rules([r for r in fired_before if r not in fired_after]),
        "fired_only_after": rules([r for r in fired_after if r not in fired_before]),
    }


def explain_text(result: dict[str, Any]) -> str:
    """The what-if as a terminal report: a side-by-side table, then the differences."""
    changes = "; ".join(f"{c['path']} = {c['after_words']} (was {c['before_words']})" for c in result["changes"])
    out = _wrap([f"WHAT IF — case {result['intake_id']}: {changes}"]) + [""]
    rows = [
        ("status", "status"),
        ("format", "format"),
        ("because", "decided by"),
        ("focus", "focus"),
        ("flags", "flags"),
        ("conditions", "conditions"),
    ]
    width = 38
    out.append(f"{'':12}  {'BEFORE':{width}}  AFTER")
    for key, name in rows:
        old, new = result["before"][key], result["after"][key]
        left = _cell(old, width)
        right = _cell(new, width)
        mark = "*" if key in result["differs"] else " "
        for i in range(max(len(left), len(right))):
            label = f"{mark} {name}" if i == 0 else ""
            l_text = left[i] if i < len(left) else ""
            r_text = right[i] if i < len(right) else ""
            out.append(f"{label:12}  {l_text:{width}}  {r_text}".rstrip())
    out.append("")
    if not result["differs"]:
        out.append("The decision does not change.")
    else:
        names = dict(rows)
        out.append(f"Changed (*): {', '.join(names[key] for key in result['differs'])}.")
    out += ["", "FACTS THAT CHANGED"]
    for f in result["changed_facts"]:
        out += _wrap([f"  - {f['label']} ({f['key']}): {f['before_words']} -> {f['after_words']}"])
    if not result["changed_facts"]:
        out.append("  (none the rules read)")
    for key, title in (
        ("fired_only_before", "RULES THAT FIRED ONLY BEFORE"),
        ("fired_only_after", "RULES THAT FIRED ONLY AFTER"),
    ):
        out += ["", title]
        refs = result[key]
        w = max((len(r["rule"]) for r in refs), default=0)
        out += [f"  {r['rule'].ljust(w)}  {r['title']}" for r in refs] or ["  (none)"]
    return "\n".join(out) + "\n"


def _cell(value: Any, width: int) -> list[str]:
    items = value if isinstance(value, list) else [value]
    lines: list[str] = []
    for item in items:
        lines += textwrap.wrap(str(item), width, subsequent_indent="  ", break_long_words=True) or [""]
    return lines or ["-"]


# ------------------------------------------------------------------ why not


def why_not(advisor: Advisor, intake: Intake, decision: dict[str, Any], target: str) -> dict[str, Any]:
    """Why the decision is not ``target``: the rules that kept it away, and the rules that
    would have chosen it with what stopped them (see the module docstring)."""
    rs = advisor.ruleset
    policy = rs.policies
    assert policy is not None
    precedence = policy.format_precedence
    actual = decision["recommendation"]["format"]
    values = input_values(intake, rs)
    derived = derived_values(decision, rs)
    fired = [t["rule"] for t in decision["trace"]]
    result: dict[str, Any] = {
        "target": target,
        "target_label": policy.format_labels.get(target, target),
        "decision": actual,
        "decision_label": policy.format_labels.get(actual, actual),
        "is_decision": target == actual,
        "kept_by": [],
        "candidates": [],
        "fallback": None,
    }
    if target == actual:
        return result

    # 1. Fired rules that asked for something more restrictive than the target.
    for rid in dict.fromkeys(fired):
        rule = rs.rule(rid)
        for effect in rule.then:
            wanted = format_outcome(rule, effect, precedence)
            if wanted is not None and precedence.index(wanted) < precedence.index(target):
                result["kept_by"].append(
                    {
                        "rule": rid,
                        "title": rule.title,
                        "asks": wanted,
                        "effect": effect_words(effect, rs),
                        "facts": [
                            _fact_value(rs, name, values, derived)
                            for name in supporting_facts(rule.when, values, derived)
                        ],
                    }
                )

    # 2. Rules that would have chosen the target: fired but outranked, or why they did not fire.
    for rule in rs.active_rules:
        effects = [e for e in rule.then if format_outcome(rule, e, precedence) == target]
        if not effects:
            continue
        entry: dict[str, Any] = {
            "rule": rule.id,
            "title": rule.title,
            "effect": effect_words(effects[0], rs),
            "fired": rule.id in fired,
            "blocking": [],
        }
        if not entry["fired"]:
            # negation normal form: a test under a "not" is named as the test that must hold
            for leaf, truth in blocking_leaves(nnf(rule.when), values, derived):
                spec = rs.facts.get(leaf.fact)
                entry["blocking"].append(
                    {
                        "fact": leaf.fact,
                        "key": spec.key if spec else leaf.fact,
                        "test": leaf_words(leaf, rs),
                        "truth": truth,
                        "actual": _actual_words(rs, leaf.fact, values, derived),
                    }
                )
        result["candidates"].append(entry)
    if target == policy.format_fallback:
        result["fallback"] = policy.format_fallback_reason
    from .smallest import smallest_change

    result["smallest"] = smallest_change(advisor, intake, decision, target)
    return result


def _fact_value(rs: RuleSet, name: str, values: dict[str, Any], derived: dict[str, list[Any]]) -> dict[str, Any]:
    spec = rs.facts.get(name)
    value: Any = derived.get(name) if spec is None or spec.derived else values.get(name)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return {
        "fact": name,
        "key": spec.key if spec else name,
        "label": fact_label(rs, name),
        "value": value,
        "words": fact_words(rs, name, values, derived),
    }


def _actual_words(rs: RuleSet, name: str, values: dict[str, Any], derived: dict[str, list[Any]]) -> str:
    """What the intake (or the derivation) actually holds for a fact, in words."""
    spec = rs.facts.get(name)
    if spec is None or spec.derived:
        got = derived.get(name)
        return "not derived (no rule set it)" if not got else "derived as " + derived_words(got, spec)
    value = values.get(name)
    if value is not None:
        return f"recorded as {value_words(value, spec)}"
    words = missing_words(spec, values)
    skipped = [
        (other, want) for other, want in spec.asked_when if values.get(other) is not None and values.get(other) != want
    ]
    if words == NOT_ASKED and skipped:  # rightly not asked (C-SSRS Q3-5 after a "no" to Q2): not a gap
        other, want = skipped[0]
        return f"{NOT_ASKED} (asked only when {fact_label(rs, other)} is {value_words(want, rs.facts.get(other))})"
    return words


def why_not_text(result: dict[str, Any]) -> str:
    """``--why-not`` in words, for the terminal (wrapped at 88 columns like the report)."""
    return "\n".join(_wrap(_why_not_lines(result, md=False))) + "\n"


def _wrap(lines: list[str], width: int = 88) -> list[str]:
    """Wrap each line, continuing under its text (past any "- " bullet)."""
    out = []
    for line in lines:
        text = line.lstrip(" ")
        lead = line[: len(line) - len(text)]
        hang = lead + ("  " if text.startswith("- ") else "    ")
        out += textwrap.wrap(
            text, width, initial_indent=lead, subsequent_indent=hang, break_long_words=False, break_on_hyphens=False
        ) or [""]
    return out


def why_not_md(result: dict[str, Any]) -> str:
    """``--why-not`` as a Markdown section appended to the Markdown report."""
    return "\n".join(_why_not_lines(result, md=True)) + "\n"


def _why_not_lines(r: dict[str, Any], md: bool) -> list[str]:
    from .report.render import md_code, md_escape

    esc = md_escape if md else (lambda t: str(t))
    code = md_code if md else (lambda t: str(t))
    bullet, sub = ("- ", "  - ") if md else ("  ", "      - ")
    title = f"WHY NOT {r['target'].upper()}?"
    out = [f"## Why not {esc(r['target'])}?" if md else title, ""]
    if r["is_decision"]:
        out.append(f"The decision IS {esc(r['target'])} ({esc(r['target_label'])}): nothing kept it away.")
        return out
    out.append(f"The decision is {esc(r['decision'])}, not {esc(r['target'])}: {esc(r['decision_label'])}.")
    out.append("")
    if r.get("smallest"):  # the answer a trainer asks first: what would have to change
        from .smallest import smallest_lines

        out += smallest_lines(r["smallest"], md) + [""]
    if r["kept_by"]:
        out.append(
            f"Kept from {esc(r['target'])} by these rules (each asked for a more restrictive format; "
            "the most restrictive format asked for wins):"
        )
        for k in r["kept_by"]:
            out.append(f"{bullet}{code(k['rule'])}  {esc(k['title'])}")
            out.append(f"{sub}{esc(k['effect'])}")
            facts = "; ".join(f"{f['label']} = {f['words']}" for f in k["facts"])
            out.append(f"{sub}because: {esc(facts) if facts else 'its condition held'}")
    else:
        out.append(f"No rule that fired asked for something more restrictive than {esc(r['target'])}.")
    out.append("")
    if r["candidates"]:
        out.append(f"Rules that would choose {esc(r['target'])}:")
        for c in r["candidates"]:
            out.append(f"{bullet}{code(c['rule'])}  {esc(c['title'])}")
            if c["fired"]:
                out.append(f"{sub}fired, but a more restrictive format won (see above)")
                continue
            out.append(f"{sub}did not fire, because:" if c["blocking"] else f"{sub}did not fire")
            for b in c["blocking"]:
                why = b["actual"] if b["truth"] is None else "false: " + b["actual"]
                out.append(f"{'    ' if md else '          '}- {esc(b['test'])} — {esc(why)}")
    else:
        out.append(f"No active rule chooses {esc(r['target'])}.")
    if r["fallback"]:
        out += ["", f"{esc(r['target'])} is also the fallback when no rule reaches a format: {esc(r['fallback'])}"]
    return out


def target_problem(ruleset: RuleSet, target: str) -> str | None:
    """Why ``target`` is not a format of this rule set (with a suggestion), or None."""
    formats = ruleset.policies.format_precedence if ruleset.policies else ()
    if target in formats:
        return None
    hint = did_you_mean(closest(target, formats))
    return f"{target!r} is not a format of this rule set; choose from {', '.join(formats)}{hint}"


def report_with_why_not(
    advisor: Advisor, intake: Intake, decision: dict[str, Any], report_text: str, fmt: str, target: str
) -> str:
    """``assess --why-not``: the report, then the explanation (text and md); for json one
    object ``{"decision": ..., "why_not": ...}``.  HTML is refused by the command line."""
    import json

    result = why_not(advisor, intake, decision, target)
    if fmt == "json":
        return json.dumps({"decision": decision, "why_not": result}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return report_text.rstrip("\n") + "\n\n" + why_not_md(result)
    if fmt == "text":
        return report_text.rstrip("\n") + "\n\n" + why_not_text(result)
    raise ValueError(f"--why-not does not support the {fmt} format")

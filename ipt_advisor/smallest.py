"""The smallest change that would give a format: "which fewest intake answers would have to
differ for the decision to be FORMAT?"

The search is over the intake facts the *blocking* rules read: the rules that fired and
asked for something more restrictive, and the rules that would have chosen the format but
did not fire (a derived fact they read is followed back to the intake facts its rules
read).  Each fact is tried at the values its rules tell apart (for a whole number, the value
nearest the recorded one in each band the thresholds make; for an enum or yes/no, each other
value), within the intake schema: a follow-up question is only changed when its parent
answer asks it (``asked_when``), and every candidate is validated as an intake.  Fewest
changes first; all answers of that size are listed.

Risk answers (the intake's ``risk`` block and the manifest's ``report.risk_answers``) are
never offered as something to change: a clinician does not talk a risk down.  When only a
change to them would give the format, the answer says so and names none.

Candidates are decided by the plain-Python firing (``direct.Evaluator``, held to the engine
by tests/test_differential.py), and every answer found is confirmed by the engine itself.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from .advisor import Advisor
from .core.wording import fact_label, value_words
from .decision.decide import format_outcome
from .decision.direct import Evaluator
from .core.errors import IntakeError
from .intake.facts import input_values
from .intake.schema import Intake, from_mapping
from .core.model import Derive, RuleSet, leaves
from .report.tables import cuts

MAX_CHANGES = 3  # more than three answers different is another person, not a near miss
MAX_EVALUATIONS = 3000  # bound on candidates tried per question (about 1 ms each)


def risk_facts(ruleset: RuleSet) -> set[str]:
    """The input facts that are risk answers, never offered as a change: the intake's risk
    block, the report's "risk answers as recorded", and facts marked ``risk_answer`` (IPV)."""
    policy = ruleset.policies
    listed = set(policy.risk_answers) if policy is not None else set()
    return {
        s.name
        for s in ruleset.facts.values()
        if not s.derived and (s.risk_answer or s.name in listed or (s.source or "").startswith("risk."))
    }


def blocking_rules(ruleset: RuleSet, decision: dict[str, Any], target: str) -> list[str]:
    """Rules that fired and asked for more than ``target``, then rules that would choose it."""
    policy = ruleset.policies
    assert policy is not None
    precedence = policy.format_precedence
    fired = list(dict.fromkeys(t["rule"] for t in decision["trace"]))
    out = [
        rid
        for rid in fired
        if any(
            (w := format_outcome(ruleset.rule(rid), e, precedence)) is not None
            and precedence.index(w) < precedence.index(target)
            for e in ruleset.rule(rid).then
        )
    ]
    out += [
        r.id
        for r in ruleset.active_rules
        if r.id not in fired and any(format_outcome(r, e, precedence) == target for e in r.then)
    ]
    return out


def searched_facts(ruleset: RuleSet, rule_ids: list[str]) -> list[str]:
    """Intake facts the rules read, derived facts followed back to what their rules read."""
    made_by: dict[str, list[str]] = {}
    for rule in ruleset.active_rules:
        for e in rule.then:
            if isinstance(e, Derive):
                made_by.setdefault(e.fact, []).append(rule.id)
    out: list[str] = []
    seen: set[str] = set()
    todo = list(rule_ids)
    while todo:
        rid = todo.pop(0)
        if rid in seen:
            continue
        seen.add(rid)
        for leaf in leaves(ruleset.rule(rid).when):
            spec = ruleset.facts.get(leaf.fact)
            if spec is None:
                continue
            if spec.derived:
                todo += made_by.get(leaf.fact, [])
            elif leaf.fact not in out:
                out.append(leaf.fact)
    return out


def _options(ruleset: RuleSet, fact: str, current: Any) -> list[Any]:
    """The values worth trying for one fact: one per band its rules tell apart."""
    spec = ruleset.facts[fact]
    if spec.type == "boolean":
        return [v for v in (True, False) if v != current]
    if spec.type == "enum":
        return [v for v in spec.values if v != current]
    if spec.range is None:
        return []
    low, high = spec.range
    rules = [r for r in ruleset.active_rules if any(leaf.fact == fact for leaf in leaves(r.when))]
    starts = sorted({low} | {c for c in cuts(fact, rules) if low < c <= high})
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else high
        if current is not None and start <= current <= end:
            continue
        nearest = start if current is None or current < start else end
        out.append(nearest)
    return out


def _asked(ruleset: RuleSet, values: dict[str, Any]) -> bool:
    """Every answer given is one the intake asks, given the other answers."""
    for name, value in values.items():
        spec = ruleset.facts.get(name)
        if value is None or spec is None:
            continue
        if any(values.get(other) != want for other, want in spec.asked_when):
            return False
    return True


def _with(intake: Intake, ruleset: RuleSet, changes: dict[str, Any]) -> Intake | None:
    """The intake with these fact values, validated; None when the schema refuses it."""
    from .whatif import set_path

    record = copy.deepcopy(intake.record)
    for name, value in changes.items():
        set_path(record, ruleset.facts[name].source or name, value)
    try:
        return from_mapping(record, None, intake.source)
    except IntakeError:
        return None


def _search(
    ruleset: RuleSet,
    evaluator: Evaluator,
    values: dict[str, Any],
    facts: list[str],
    target: str,
    intake_id: str,
    budget: list[int],
) -> list[dict[str, Any]]:
    """The smallest sets of changes (fact -> value) giving ``target``, fewest first."""
    options = {f: _options(ruleset, f, values.get(f)) for f in facts}
    facts = [f for f in facts if options[f]]
    for size in range(1, MAX_CHANGES + 1):
        found: list[dict[str, Any]] = []
        for chosen in itertools.combinations(facts, size):
            for picked in itertools.product(*[options[f] for f in chosen]):
                if budget[0] <= 0:
                    return found
                changes = dict(zip(chosen, picked))
                trial = {**values, **changes}
                if not _asked(ruleset, trial):
                    continue
                budget[0] -= 1
                if evaluator.decide(trial, intake_id)["recommendation"]["format"] == target:
                    found.append(changes)
        if found:
            return found
    return []


def smallest_change(
    advisor: Advisor, intake: Intake, decision: dict[str, Any], target: str, limit: int = 5
) -> dict[str, Any]:
    """The fewest intake changes that would give ``target`` (see the module docstring)."""
    rs = advisor.ruleset
    values = input_values(intake, rs)
    risky = risk_facts(rs)
    facts = searched_facts(rs, blocking_rules(rs, decision, target))
    safe = [f for f in facts if f not in risky]
    evaluator = rs.memo(Evaluator)
    budget = [MAX_EVALUATIONS]
    result: dict[str, Any] = {
        "target": target,
        "searched": [rs.facts[f].key for f in safe],
        "risk_answers_read": [rs.facts[f].key for f in facts if f in risky],
        "options": [],
        "risk_only": False,
        "max_changes": MAX_CHANGES,
    }
    if decision["recommendation"]["format"] == target:
        return result
    found = _nearest(rs, values, _search(rs, evaluator, values, safe, target, intake.case_id, budget))
    result["more"] = max(0, len(found) - limit)
    for changes in found:
        changed = _with(intake, rs, changes)
        if changed is None or advisor.assess(changed)["recommendation"]["format"] != target:
            continue  # outside the schema, or the engine disagrees: never offered
        result["options"].append(
            [
                {
                    "fact": name,
                    "key": rs.facts[name].key,
                    "label": fact_label(rs, name),
                    "value": value,
                    "from": value_words(values.get(name), rs.facts[name]),
                    "to": value_words(value, rs.facts[name]),
                }
                for name, value in changes.items()
            ]
        )
        if len(result["options"]) >= limit:
            break
    if not result["options"] and any(f in risky for f in facts):
        result["risk_only"] = bool(_search(rs, evaluator, values, facts, target, intake.case_id, budget))
    result["evaluations"] = MAX_EVALUATIONS - budget[0]
    result["exhausted"] = budget[0] <= 0  # the bound was reached: "none found" is then not "none exists"
    return result


def _nearest(ruleset: RuleSet, values: dict[str, Any], found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One answer per choice of facts and non-numeric values: the numbers nearest the recorded
    ones (PHQ-9 17 -> 15 says what 17 -> 9 says, with less change); nearest first."""

    def distance(changes: dict[str, Any]) -> int:
        return sum(
            abs(v - values[f]) if ruleset.facts[f].type == "integer" and values.get(f) is not None else 0
            for f, v in changes.items()
        )

    best: dict[Any, dict[str, Any]] = {}
    for changes in found:
        shape = tuple((f, None if ruleset.facts[f].type == "integer" else v) for f, v in changes.items())
        if shape not in best or distance(changes) < distance(best[shape]):
            best[shape] = changes
    order = {id(c): i for i, c in enumerate(found)}
    return sorted(best.values(), key=lambda c: (distance(c) > 0, order[id(c)]))


def smallest_lines(r: dict[str, Any], md: bool = False) -> list[str]:
    """The answer in words, for the terminal and Markdown (``why_not`` appends it)."""
    from .report.render import md_code, md_escape

    esc = md_escape if md else (lambda t: str(t))
    code = md_code if md else (lambda t: str(t))
    bullet = "- " if md else "  - "
    target = esc(r["target"])
    out = [
        f"### Fewest changes that would give {target}"
        if md
        else f"FEWEST CHANGES THAT WOULD GIVE {r['target'].upper()}",
        "",
    ]
    if r["options"]:
        n = len(r["options"][0])
        out.append(
            f"{n} answer{'s' if n > 1 else ''} different would give {target}"
            f"{' (any one of these)' if len(r['options']) > 1 else ''}:"
        )
        for option in r["options"]:
            out.append(
                bullet
                + "; ".join(f"{esc(c['label'])} ({code(c['key'])}): {esc(c['from'])} -> {esc(c['to'])}" for c in option)
            )
        if r.get("more"):
            out.append(f"{bullet}... and {r['more']} more of the same size")
    elif r["risk_only"]:
        out.append(
            f"Only if the risk answers were different: no change to the other answers gives {target}, "
            "and risk answers are never offered as something to change."
        )
    elif r.get("exhausted"):
        out.append(
            f"None found among the {r['evaluations']} combinations tried (the search stops there); "
            f"more than {r['max_changes']} answers may have to differ."
        )
    else:
        out.append(f"No change of up to {r['max_changes']} answers the blocking rules read gives {target}.")
    if r["searched"]:
        out.append(
            f"Searched: {', '.join(code(k) for k in r['searched'])}"
            + (
                f"; risk answers left as recorded: {', '.join(code(k) for k in r['risk_answers_read'])}"
                if r["risk_answers_read"]
                else ""
            )
            + "."
        )
    return out

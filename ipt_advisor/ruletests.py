"""Test cases with expected outcomes, run against a rule set: one code path for
``ipt-advisor rules test`` (plain, ``--coverage`` and ``--mutate``) and for pytest
(tests/test_rules_embedded.py).

Cases come from two places:

* the rules themselves (each rule's ``tests:``): the case's intake fragment is merged
  onto the manifest's ``test_baseline`` (a ``null`` removes a block) and ``fires`` says
  whether *its* rule fires;
* case files (``--cases FILE``): whole intakes, each with the outcome it must keep, in the
  same ``expect`` vocabulary minus ``fires`` (docs/rules.md, "Case files").

Every case evaluates the WHOLE rule set and checks the decision.
"""

from __future__ import annotations

import copy
from dataclasses import field
from .core.precompiled_classes import dataclass
from pathlib import Path
from typing import Any

from .core import yamlio
from .advisor import Advisor
from .core.errors import IptError, Problem, ProblemCollector
from .intake.schema import Intake, from_mapping, load_intake_file
from .core.model import RuleSet
from .ruleset.load import EXPECT_KEYS

#: A case file's cases name no rule, so they expect anything but ``fires``.
CASE_EXPECT_KEYS = EXPECT_KEYS[1:]


class CaseFileError(IptError):
    """A case file could not be read or holds invalid cases."""


@dataclass(frozen=True)
class Case:
    """One intake and the outcome it must keep."""

    name: str
    location: str  # file:line of the case, for messages
    record: dict[str, Any] = field(repr=False)  # the whole intake mapping
    expect: dict[str, Any] = field(repr=False)
    owner: str | None = None  # embedded cases: the rule whose ``tests:`` hold it
    fragment: dict[str, Any] | None = field(default=None, repr=False)  # embedded: the fragment as written
    checked: bool = True  # False for a draft or retired rule's case (it documents intent)

    @property
    def label(self) -> str:
        return f'{self.owner} "{self.name}"' if self.owner else f'"{self.name}"'


@dataclass
class CaseResult:
    rule_id: str  # the owner rule, or "" for a case-file case
    name: str
    location: str
    failures: list[str] = field(default_factory=list)
    fired: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


def merge(base: Any, fragment: Any) -> Any:
    """Deep-merge ``fragment`` onto ``base``; mappings merge, anything else replaces."""
    if isinstance(base, dict) and isinstance(fragment, dict):
        out = copy.deepcopy(base)
        for key, value in fragment.items():
            out[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(fragment)


# ------------------------------------------------------------------ where cases come from


def embedded_cases(ruleset: RuleSet, rule_ids: list[str] | None = None) -> list[Case]:
    """Every rule's own test cases, in rule-file order."""
    out = []
    for rule in ruleset.rules:
        if rule_ids and rule.id not in rule_ids:
            continue
        for test in rule.tests:
            location = f"{rule.file}:{test.line}" if test.line else rule.location
            out.append(
                Case(
                    test.name,
                    location,
                    merge(ruleset.test_baseline, test.intake),
                    test.expect,
                    owner=rule.id,
                    fragment=test.intake,
                    checked=rule.status == "active",
                )
            )
    return out


def load_case_file(path: str | Path, ruleset: RuleSet) -> list[Case]:
    """The cases of one case file; raises ``CaseFileError`` listing every problem.

    ``intake:`` is an intake file (relative to the case file) or a whole intake inline."""
    from .ruleset.lint import expect_problems

    shown = str(path)
    out = ProblemCollector(shown)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CaseFileError([Problem(shown, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    value, lines, problems = yamlio.load(raw, shown)
    out.extend(problems)
    if problems:
        out.raise_if_any(CaseFileError)
    items = value.get("cases") if isinstance(value, dict) and set(value) == {"cases"} else None
    if not isinstance(items, list):
        raise CaseFileError(
            [Problem(shown, lines.line(()), "", "a case file is a mapping with one key, cases: (a list)")]
        )
    cases = []
    for i, item in enumerate(items):
        where = ("cases", i)
        line = lines.line(where)
        if (
            not isinstance(item, dict)
            or set(item) - {"name", "intake", "expect"}
            or not {"name", "intake", "expect"} <= set(item)
        ):
            out.add(yamlio.dotted(where), "a case has exactly the keys name, intake and expect", line)
            continue
        expect = item["expect"]
        if not isinstance(expect, dict) or not expect:
            out.add(yamlio.dotted(where + ("expect",)), "must be a mapping of expected outcomes", line)
            continue
        for key in expect:
            if key not in CASE_EXPECT_KEYS:
                out.add(
                    yamlio.dotted(where + ("expect", key)),
                    f"unknown key; a case file may expect {', '.join(CASE_EXPECT_KEYS)}",
                    lines.line(where + ("expect", key)),
                )
        for message in expect_problems(ruleset, expect):
            out.add(yamlio.dotted(where + ("expect",)), message, lines.line(where + ("expect",)))
        record = _case_intake(item["intake"], Path(path).parent, out, where, lines)
        if record is not None:
            cases.append(Case(str(item["name"]), f"{shown}:{line}", record, dict(expect)))
    out.raise_if_any(CaseFileError)
    return cases


def _case_intake(
    value: Any, folder: Path, out: ProblemCollector, where: tuple[Any, ...], lines: yamlio.Lines
) -> dict[str, Any] | None:
    here = where + ("intake",)
    if isinstance(value, dict):
        # the intake's own lines, so each problem points into the case file
        inner = yamlio.Lines({path[len(here) :]: n for path, n in lines.items() if path[: len(here)] == here})
        try:
            return from_mapping(value, inner, out.source).record
        except IptError as exc:
            for p in exc.problems:
                out.add(yamlio.dotted(here) + (f".{p.path}" if p.path else ""), p.message, p.line or lines.line(here))
            return None
    if isinstance(value, str):
        if not (folder / value).is_file():
            out.add(
                yamlio.dotted(here), f"no intake file {value!r} (names are relative to the case file)", lines.line(here)
            )
            return None
        try:
            return load_intake_file(str(folder / value)).record
        except IptError as exc:
            out.extend(exc.problems)  # they name the intake file and its lines
            return None
    out.add(yamlio.dotted(here), "must be an intake file name or an intake mapping", lines.line(here))
    return None


def all_cases(ruleset: RuleSet, case_files: list[str] | tuple[str, ...] = ()) -> list[Case]:
    """Embedded cases, then the cases of each case file in order."""
    cases = embedded_cases(ruleset)
    for path in case_files:
        cases.extend(load_case_file(path, ruleset))
    return cases


# ------------------------------------------------------------------ checking


def check(case: Case, decision: dict[str, Any], ruleset: RuleSet | None = None) -> list[str]:
    """What in ``decision`` contradicts the case's expectations (empty: it passes).
    ``ruleset`` (the rules that made the decision) is needed only for ``handout``."""
    expect = case.expect
    failures: list[str] = []
    if case.owner is not None and "fires" in expect:
        fired = any(t["rule"] == case.owner for t in decision["trace"])
        if expect["fires"] is True and not fired:
            failures.append("expected the rule to fire; it stayed silent")
        elif expect["fires"] is False and fired:
            failures.append("expected the rule to stay silent; it fired")
    actual = {
        "status": decision["status"],
        "format": decision["recommendation"]["format"],
        "primary": decision["focus"]["primary"],
        "secondary": decision["focus"]["secondary"],
    }
    for key, value in actual.items():
        if key in expect and expect[key] != value:
            failures.append(f"expected {key} {expect[key]!r}, got {value!r}")
    levels = {f["code"]: f["level"] for f in decision["flags"]}
    for code in expect.get("flags", []):
        if code not in levels:
            failures.append(f"expected flag {code}; flags were {sorted(levels) or 'none'}")
    for code in expect.get("not_flags", []):
        if code in levels:
            failures.append(f"flag {code} was raised but should not be")
    for code, level in (expect.get("flag_levels") or {}).items():
        if levels.get(code) != level:
            failures.append(f"expected flag {code} at level {level}, got {levels.get(code) or 'not raised'}")
    order = [f["code"] for f in decision["flags"]]
    if "flag_order" in expect and [c for c in order if c in expect["flag_order"]] != list(expect["flag_order"]):
        failures.append(
            f"expected the flags in the order {', '.join(expect['flag_order'])}; they were {', '.join(order) or 'none'}"
        )
    actions = {f["code"]: f["action"] for f in decision["flags"]}
    for code, text in (expect.get("actions") or {}).items():
        if not _found(text, [actions.get(code, "")]):
            failures.append(
                f"expected flag {code}'s action to contain {text!r}; it was {actions.get(code) or 'not raised'!r}"
            )
    conditions = decision["recommendation"]["conditions"]
    failures += [
        f"expected a condition containing {t!r}" for t in expect.get("conditions", []) if not _found(t, conditions)
    ]
    failures += [
        f"a condition contains {t!r} but should not" for t in expect.get("not_conditions", []) if _found(t, conditions)
    ]
    if "condition_order" in expect and not _in_order(expect["condition_order"], conditions):
        failures.append(
            f"expected conditions containing {', '.join(map(repr, expect['condition_order']))} in this order"
        )
    for name, value in (expect.get("severity") or {}).items():
        if decision["severity"].get(name) != value:
            failures.append(f"expected severity {name} {value!r}, got {decision['severity'].get(name)!r}")
    considered = {c["rule"] for c in decision["considerations"]}
    for rule_id in expect.get("considers", []):
        if rule_id not in considered:
            failures.append(f"expected a point for clinical review from {rule_id}; got {sorted(considered) or 'none'}")
    failures += [
        f"a point for clinical review from {rid} was shown but should not be"
        for rid in expect.get("not_considers", [])
        if rid in considered
    ]
    points = [c["text"] for c in decision["considerations"]]
    failures += [
        f"expected a point for clinical review containing {t!r}"
        for t in expect.get("considerations", [])
        if not _found(t, points)
    ]
    failures += [
        f"a point for clinical review contains {t!r} but should not"
        for t in expect.get("not_considerations", [])
        if _found(t, points)
    ]
    if "banners" in expect:
        shown = [b["text"] for b in decision["banners"]]
        wanted = list(expect["banners"])
        if len(shown) != len(wanted) or not all(_found(w, [b]) for w, b in zip(wanted, shown)):
            failures.append(f"expected the banners {wanted}; they were {shown or 'none'}")
    if expect.get("handout"):
        text = handout_text(ruleset, case, decision)
        failures += [f"expected the client handout to say {t!r}" for t in expect["handout"] if not _found(t, [text])]
    return failures


def _found(text: Any, texts: list[str]) -> bool:
    """Whether ``text`` is found, case-insensitively, in one of ``texts``."""
    needle = str(text).lower()
    return any(needle in t.lower() for t in texts)


def _in_order(wanted: list[Any], texts: list[str]) -> bool:
    """Whether each wanted text is found in one of ``texts``, the first of each in the order given."""
    at = [next((i for i, t in enumerate(texts) if str(w).lower() in t.lower()), None) for w in wanted]
    return None not in at and at == sorted(at) and len(set(at)) == len(at)  # type: ignore[type-var]  # None ruled out first


def handout_text(ruleset: RuleSet | None, case: Case, decision: dict[str, Any]) -> str:
    """The client handout for this case and decision, as one text (headings, paragraphs, bullets)."""
    from .decision.decide import derived_values
    from .intake.facts import input_values
    from .ruleset.handout import handout_view

    assert ruleset is not None, "checking a handout needs the rule set that made the decision"
    values = input_values(from_mapping(case.record, None, case.location), ruleset)
    view = handout_view(ruleset, decision, values, derived_values(decision, ruleset))
    parts = [view["title"], *view["intro"]]
    for s in view["sections"]:
        parts += [s["heading"], *s["paragraphs"], *s["bullets"]]
    return "\n".join(parts)


def validated(case: Case) -> Intake:
    return from_mapping(case.record, None, case.location)


def run(advisor: Advisor, case: Case) -> CaseResult:
    """Evaluate one case through the engine."""
    result = CaseResult(case.owner or "", case.name, case.location)
    try:
        decision = advisor.assess(validated(case))
    except IptError as exc:
        result.failures.extend(f"intake invalid: {p.path}: {p.message}" for p in exc.problems)
        return result
    result.fired = tuple(t["rule"] for t in decision["trace"])
    if case.checked:
        result.failures.extend(check(case, decision, advisor.ruleset))
    return result


def run_all(advisor: Advisor, cases: list[Case] | None = None) -> list[CaseResult]:
    return [run(advisor, case) for case in (embedded_cases(advisor.ruleset) if cases is None else cases)]


def coverage(advisor: Advisor, results: list[CaseResult]) -> dict[str, int]:
    """How many test cases fired each active rule (0 = never fired by any test)."""
    counts = {rule.id: 0 for rule in advisor.ruleset.active_rules}
    for result in results:
        for rid in set(result.fired):
            if rid in counts:
                counts[rid] += 1
    return counts

"""Run the test cases embedded in the rules: one code path for
``ipt-advisor rules test`` and for pytest (tests/test_rules_embedded.py).

Each case merges its intake fragment onto the manifest's ``test_baseline``
(a ``null`` removes a block), evaluates the WHOLE rule set, and checks that
the rule fired or stayed silent, plus any expected decision fields.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterator

from .advisor import Advisor
from .errors import IptError
from .intake import from_mapping
from .model import Rule, RuleTest


@dataclass
class CaseResult:
    rule_id: str
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


def cases(advisor: Advisor, rule_ids: list[str] | None = None) -> Iterator[tuple[Rule, RuleTest]]:
    for rule in advisor.ruleset.rules:
        if rule_ids and rule.id not in rule_ids:
            continue
        for test in rule.tests:
            yield rule, test


def run_case(advisor: Advisor, rule: Rule, test: RuleTest) -> CaseResult:
    """Evaluate one embedded test case."""
    location = f"{rule.file}:{test.line}" if test.line else rule.location
    result = CaseResult(rule.id, test.name, location)
    record = merge(advisor.ruleset.test_baseline, test.intake)
    try:
        decision = advisor.assess(from_mapping(record, None, location))
    except IptError as exc:
        result.failures.extend(f"intake invalid: {p.path}: {p.message}" for p in exc.problems)
        return result
    fired = tuple(t["rule"] for t in decision["trace"])
    result.fired = fired
    expect = test.expect
    if rule.status != "active":
        return result  # drafts and retired rules are not evaluated; their cases document intent
    if expect.get("fires") is True and rule.id not in fired:
        result.failures.append("expected the rule to fire; it stayed silent")
    if expect.get("fires") is False and rule.id in fired:
        result.failures.append("expected the rule to stay silent; it fired")
    checks = {
        "status": decision["status"],
        "format": decision["recommendation"]["format"],
        "primary": decision["focus"]["primary"],
        "secondary": decision["focus"]["secondary"],
    }
    for key, actual in checks.items():
        if key in expect and expect[key] != actual:
            result.failures.append(f"expected {key} {expect[key]!r}, got {actual!r}")
    codes = {f["code"] for f in decision["flags"]}
    for code in expect.get("flags", []):
        if code not in codes:
            result.failures.append(f"expected flag {code}; flags were {sorted(codes) or 'none'}")
    for code in expect.get("not_flags", []):
        if code in codes:
            result.failures.append(f"flag {code} was raised but should not be")
    return result


def run_all(advisor: Advisor, rule_ids: list[str] | None = None) -> list[CaseResult]:
    return [run_case(advisor, rule, test) for rule, test in cases(advisor, rule_ids)]


def coverage(advisor: Advisor, results: list[CaseResult]) -> dict[str, int]:
    """How many test cases fired each active rule (0 = never fired by any test)."""
    counts = {rule.id: 0 for rule in advisor.ruleset.active_rules}
    for result in results:
        for rid in set(result.fired):
            if rid in counts:
                counts[rid] += 1
    return counts

"""Rule maintenance: who wrote and approved a rule, and when it is due for review.

The fields (``author``, ``reviewed_on``, ``review_due``, ``approved_by``) are optional, per
rule or for a whole rule file (a rule's own value wins); they never change a decision.  A
rule past its ``review_due`` is a *warning*, not an error: the rule still applies, but the
quality team should look at it.  The date to compare with is passed in (``rules lint
--today``), so tests and catalogs built from the same inputs stay deterministic.
"""

from __future__ import annotations

import datetime

from ..core.errors import Problem
from ..core.model import Rule, RuleSet


def is_overdue(rule: Rule, today: datetime.date) -> bool:
    due = rule.governance.review_due
    return bool(due) and datetime.date.fromisoformat(due) < today


def overdue_warnings(ruleset: RuleSet, today: datetime.date) -> list[Problem]:
    """One warning per active or draft rule whose review is overdue on ``today``."""
    out = []
    for rule in ruleset.rules:
        if rule.status != "retired" and is_overdue(rule, today):
            g = rule.governance
            who = f"; approved by {g.approved_by}" if g.approved_by else ""
            last = f", last reviewed {g.reviewed_on}" if g.reviewed_on else ""
            out.append(
                Problem(
                    rule.file,
                    rule.line,
                    f"{rule.id}.review_due",
                    f"review overdue: due {g.review_due}{last}{who} (today {today.isoformat()})",
                )
            )
    return sorted(out, key=Problem.sort_key)

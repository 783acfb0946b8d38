"""CDS Hooks cards and their feedback in the store, and the per-rule override rates they give.

A card is recorded when the service returns it; feedback is accepted only for a card this
server issued (by its uuid), so an EHR cannot fill the audit with cards nobody saw.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import func, insert, select

from ..audit import decision_log
from ..audit.summary import FALLBACK
from .tables import assessments, cds_cards, cds_feedback

NO_REASON = "(none given)"  # an override without a reason code (CDS Hooks makes the reason optional)


def insert_card(conn: Any, uuid: str, assessment_id: int | None, indicator: str) -> None:
    """Remember a returned card, inside the caller's transaction (once per hook call)."""
    if conn.execute(select(cds_cards.c.uuid).where(cds_cards.c.uuid == uuid)).first() is None:
        conn.execute(
            insert(cds_cards),
            {"uuid": uuid, "assessment_id": assessment_id, "created_at": decision_log.now(), "indicator": indicator},
        )


def record_card(store: Any, uuid: str, assessment_id: int | None, indicator: str) -> None:
    """Remember a card that has no assessment of its own (the data could not be read)."""
    with store._transaction(write=True) as conn:
        insert_card(conn, uuid, assessment_id, indicator)


def known_cards(store: Any, uuids: list[str]) -> set[str]:
    with store._transaction(write=False) as conn:
        return set(conn.execute(select(cds_cards.c.uuid).where(cds_cards.c.uuid.in_(uuids))).scalars())


def save_feedback(store: Any, items: list[dict[str, Any]]) -> int:
    """Store checked feedback items, all or none; how many."""
    stamp = decision_log.now()
    with store._transaction(write=True) as conn:
        conn.execute(insert(cds_feedback), [dict(item, received_at=stamp) for item in items])
    return len(items)


def _latest(store: Any) -> list[dict[str, Any]]:
    """The newest feedback on each card, with its assessment's decision (None for a card
    about data that could not be read: it counts as reported on, in no rule)."""
    latest: dict[str, dict[str, Any]] = {}
    query = (
        select(
            cds_feedback.c.card_uuid, cds_feedback.c.outcome, cds_feedback.c.reason_code, assessments.c.decision_json
        )
        .join(cds_cards, cds_cards.c.uuid == cds_feedback.c.card_uuid)
        .outerjoin(assessments, assessments.c.id == cds_cards.c.assessment_id)
        .order_by(cds_feedback.c.id)
    )
    with store._transaction(write=False) as conn:
        for row in conn.execute(query).mappings():
            latest[row["card_uuid"]] = dict(row)
    return list(latest.values())


def _reason(row: dict[str, Any]) -> str:
    return row["reason_code"] or NO_REASON


def override_by_rule(store: Any, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per rule that drove a carded recommendation: cards with feedback, accepted, overridden,
    and the override reasons given (the newest feedback on a card counts). The rules are named
    as the audit's sign-off override rates name them (a fallback recommendation included)."""
    cards: Counter[str] = Counter()
    overridden: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {}
    for row in _latest(store) if rows is None else rows:
        if row["decision_json"] is None:
            continue
        decision = json.loads(row["decision_json"])
        for rule in dict.fromkeys(r["rule"] or FALLBACK for r in decision["recommendation"].get("reasons", ())):
            cards[rule] += 1
            if row["outcome"] == "overridden":
                overridden[rule] += 1
                reasons.setdefault(rule, Counter())[_reason(row)] += 1
    return {
        rule: {
            "cards": n,
            "accepted": n - overridden[rule],
            "overridden": overridden[rule],
            "percent": round(100.0 * overridden[rule] / n, 1),
            "reasons": dict(sorted(reasons.get(rule, Counter()).items())),
        }
        for rule, n in sorted(cards.items())
    }


def feedback_report(store: Any) -> dict[str, Any]:
    """What ``audit --db`` writes as cds-feedback.json and joins into summary.json
    (``cds_feedback``): the cards issued, those the EHR reported on, the overridden ones and
    their reasons, and the per-rule override rates (the rule ids of summary.json)."""
    rows = _latest(store)
    with store._transaction(write=False) as conn:
        cards = conn.execute(select(func.count()).select_from(cds_cards)).scalar() or 0
    overridden = [row for row in rows if row["outcome"] == "overridden"]
    return {
        "cards": cards,
        "cards_with_feedback": len(rows),
        "overridden": len(overridden),
        "reasons": dict(sorted(Counter(_reason(row) for row in overridden).items())),
        "override_by_rule": override_by_rule(store, rows),
    }


def feedback_json(store: Any) -> str:
    """cds-feedback.json's text (:func:`feedback_report`), next to summary.json."""
    return json.dumps(feedback_report(store), indent=2, ensure_ascii=False) + "\n"

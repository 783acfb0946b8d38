"""CDS Hooks cards and their feedback in the store, and the per-rule override rates they give.

A card is recorded when the service returns it; feedback is accepted only for a card this
server issued (by its uuid), so an EHR cannot fill the audit with cards nobody saw.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import func, insert, select

from .. import decision_log
from .tables import assessments, cds_cards, cds_feedback


def insert_card(conn: Any, uuid: str, assessment_id: int | None, indicator: str) -> None:
    """Remember a returned card, inside the caller's transaction (once per hook call)."""
    if conn.execute(select(cds_cards.c.uuid).where(cds_cards.c.uuid == uuid)).first() is None:
        conn.execute(insert(cds_cards), {"uuid": uuid, "assessment_id": assessment_id,
                                         "created_at": decision_log.now(), "indicator": indicator})


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


def override_by_rule(store: Any) -> dict[str, Any]:
    """Per rule that drove a carded recommendation: cards with feedback, accepted, overridden,
    and the override reasons given (the newest feedback on a card counts)."""
    cards: Counter[str] = Counter()
    overridden: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {}
    latest: dict[str, dict[str, Any]] = {}
    query = (select(cds_feedback.c.card_uuid, cds_feedback.c.outcome, cds_feedback.c.reason_code,
                    assessments.c.decision_json)
             .join(cds_cards, cds_cards.c.uuid == cds_feedback.c.card_uuid)
             .join(assessments, assessments.c.id == cds_cards.c.assessment_id)
             .order_by(cds_feedback.c.id))
    with store._transaction(write=False) as conn:
        for row in conn.execute(query).mappings():
            latest[row["card_uuid"]] = dict(row)
    for row in latest.values():
        decision = json.loads(row["decision_json"])
        for rule in dict.fromkeys(r["rule"] for r in decision["recommendation"].get("reasons", ())):
            cards[rule] += 1
            if row["outcome"] == "overridden":
                overridden[rule] += 1
                reasons.setdefault(rule, Counter())[row["reason_code"] or "(none given)"] += 1
    return {rule: {"cards": n, "overridden": overridden[rule],
                   "percent": round(100.0 * overridden[rule] / n, 1),
                   "reasons": dict(sorted(reasons.get(rule, Counter()).items()))}
            for rule, n in sorted(cards.items())}


def feedback_json(store: Any) -> str:
    """What ``audit --db`` writes as cds-feedback.json: the per-rule override rates of the
    cards, next to the sign-off override rates of summary.json (same rule ids)."""
    by_rule = override_by_rule(store)
    with store._transaction(write=False) as conn:
        cards = conn.execute(select(func.count()).select_from(cds_cards)).scalar() or 0
        reported = conn.execute(select(func.count(func.distinct(cds_feedback.c.card_uuid)))).scalar() or 0
    return json.dumps({"cards": cards, "cards_with_feedback": reported, "override_by_rule": by_rule},
                      indent=2, ensure_ascii=False) + "\n"

"""The decision log's hash chain, kept in the database.

The entries are those ``--log`` writes to a file (``decision_log.entry_for`` + ``link``),
stored as the same JSON text, one row each, numbered from 1. ``log_head`` holds the number
and hash of the last entry: a writer locks it, appends the next entries and moves it on in
the same transaction as their assessments, so the chain never forks, never skips, and never
holds an entry without its assessment (or the reverse). The lock is the database's (SQLite's
write lock, PostgreSQL's row lock), so this holds for writers in separate processes too. Unlike a file, the head also shows
entries cut off at the end.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, select, update

from ..audit.decision_log import GENESIS, LogError, entry_hash, entry_text, is_entry_shape
from ..core.errors import Problem
from .prepared import Prepared, cursor_of
from .tables import assessments, log_entries, log_head


_HEAD = select(log_head.c.seq, log_head.c.hash).where(log_head.c.id == 1)
_LOCK_HEAD = Prepared(_HEAD.with_for_update())  # SQLite compiles it without FOR UPDATE: see lock_head
_INSERT_ENTRY = Prepared(insert(log_entries), ["seq", "assessment_id", "hash", "prev", "entry"])
_MOVE_HEAD = Prepared(update(log_head).where(log_head.c.id == 1).values(seq=bindparam("nseq"), hash=bindparam("nhash")))


class Head(NamedTuple):
    seq: int
    hash: str


def lock_head(conn: Any) -> Head:
    """The head row, locked until the transaction ends (SQLite: the transaction already
    holds the write lock from ``BEGIN IMMEDIATE``; its dialect leaves ``FOR UPDATE`` out)."""
    seq, hash_ = _LOCK_HEAD.run(cursor_of(conn), conn.dialect).fetchone()
    return Head(seq, hash_)


def append(conn: Any, head: Head, assessment_id: int, entry: dict[str, Any]) -> Head:
    """Append ``entry`` (already linked to ``head.hash``); the chain's new end. The head row
    is moved there by :func:`move_head`, once per transaction, before it commits."""
    seq = head.seq + 1
    _INSERT_ENTRY.run(
        cursor_of(conn),
        conn.dialect,
        {
            "seq": seq,
            "assessment_id": assessment_id,
            "hash": entry["hash"],
            "prev": entry["prev"],
            "entry": entry_text(entry),
        },
    )
    return Head(seq, entry["hash"])


def move_head(conn: Any, head: Head) -> None:
    _MOVE_HEAD.run(cursor_of(conn), conn.dialect, {"nseq": head.seq, "nhash": head.hash})


def verify(conn: Any, source: str) -> tuple[int, str]:
    """Check every entry in order: its number, its content against its hash, its link to the
    one before, its assessment (case and intake hash), the head, and that no assessment is
    missing its entry. Returns (entries, last hash); raises ``LogError`` at the first break."""

    def broken(seq: int | None, message: str) -> LogError:
        return LogError([Problem(source, seq, "", message)])

    prev, count = GENESIS, 0
    rows = conn.execute(
        select(
            log_entries.c.seq,
            log_entries.c.hash,
            log_entries.c.prev,
            log_entries.c.entry,
            assessments.c.case_id,
            assessments.c.intake_sha256,
        )
        .join(assessments, assessments.c.id == log_entries.c.assessment_id, isouter=True)
        .order_by(log_entries.c.seq)
    )
    for row in rows:
        count += 1
        if row.seq != count:
            raise broken(row.seq, f"entries were deleted: entry {count} is missing")
        try:
            value = json.loads(row.entry)
        except ValueError:
            value = None
        if not is_entry_shape(value):
            raise broken(row.seq, "not a decision-log entry: it was edited or damaged")
        if entry_hash(value) != value["hash"] or value["hash"] != row.hash or value["prev"] != row.prev:
            raise broken(row.seq, "entry was edited: its content does not match its hash")
        if value["prev"] != prev:
            raise broken(row.seq, "the chain is broken: this entry does not follow the one before")
        if row.case_id is None:
            raise broken(row.seq, "its assessment is missing")
        if (value["case"], value["intake_sha256"]) != (row.case_id, row.intake_sha256):
            raise broken(row.seq, "its assessment was changed: case or intake hash differ from the entry")
        prev = value["hash"]
    head = conn.execute(select(log_head.c.seq, log_head.c.hash).where(log_head.c.id == 1)).one_or_none()
    if head is None or (head.seq, head.hash) != (count, prev):
        raise broken(
            None,
            f"entries were removed at the end: the chain's head names entry "
            f"{head.seq if head else '?'}, the last one found is {count}",
        )
    stored = conn.execute(select(func.count()).select_from(assessments)).scalar() or 0
    if stored != count:
        raise broken(None, f"{stored - count} assessment(s) have no log entry")
    return count, prev

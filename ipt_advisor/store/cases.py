"""Storing and reading assessments, cases and sign-offs.

Every write is one transaction: an assessment is stored with its flags, its case row and its
decision-log entry, or not at all; a failure (locked, full, unreachable) raises
:class:`StoreUnavailable` and leaves nothing half-stored. Writers of assessments take the
chain's head row first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on
PostgreSQL), so they append to the log one at a time, also from separate server processes,
and a submission id seen before is answered with the assessment it already made (a double
click is stored once).

**Group commit.** A commit waits for the disk (SQLite ``synchronous=FULL``, PostgreSQL's WAL
flush): an fsync of a few milliseconds, while the write lock is held. Assessments sent while
another is being written therefore queue in this process and the next writer stores all of
them in one transaction, one fsync for the lot; each caller returns only once the
transaction holding its assessment has committed, so "stored" still means on disk. A batch
that fails as a whole (the database locked, full, unreachable) fails every caller in it with
the database's reason, nothing of it stored; a batch that fails for any other reason is
retried one assessment at a time, so one cannot sink the others.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import field
from ..core.precompiled_classes import dataclass
from typing import Any, Callable, Iterator

from sqlalchemy import and_, bindparam, exists, func, insert, select, update

from ..audit import decision_log
from ..core.jsonline import canonical_bytes
from . import chain
from .connect import (
    BUSY_TIMEOUT,
    StoreUnavailable,
    WriterLock,
    check_current,
    display_url,
    migrate,
    open_engine,
    unavailable,
)
from .prepared import Prepared, cursor_of, mapping
from .tables import assessments, cases, flags, log_head, signoffs

LEVEL_ORDER = ("critical", "warning", "info")

# Statements built once, with their values bound at execution: building a statement with
# literal values costs more than the SQLite transaction that runs it. Those of storing an
# assessment and reading one back are run on the driver's cursor (``prepared``).
_ROW_KEYS = (
    "case_id",
    "submission",
    "assessed_on",
    "site",
    "clinician",
    "intake_json",
    "intake_sha256",
    "decision_json",
    "ruleset_name",
    "ruleset_version",
    "ruleset_sha256",
    "tool_version",
    "status",
    "format",
    "focus_primary",
    "focus_secondary",
    "top_level",
    "phq9",
    "created_at",
)
_FIND_SUBMISSION = Prepared(select(assessments.c.id).where(assessments.c.submission == bindparam("sub")))
_INSERT_ASSESSMENT = Prepared(insert(assessments).returning(assessments.c.id), _ROW_KEYS)
_INSERT_FLAGS = Prepared(insert(flags), ["assessment_id", "code", "level", "position"])
_INSERT_CASE = Prepared(insert(cases), ["case_id", "latest_id", "updated_at", "site", "assessments"])
_UPDATE_CASE = Prepared(
    update(cases)
    .where(cases.c.case_id == bindparam("cid"))
    .values(
        latest_id=bindparam("latest"),
        updated_at=bindparam("stamp"),
        site=bindparam("s"),
        assessments=cases.c.assessments + 1,
    )
)
_ASSESSMENT = Prepared(select(assessments).where(assessments.c.id == bindparam("aid")))
_LATEST_SIGNOFF = Prepared(
    select(signoffs).where(signoffs.c.assessment_id == bindparam("aid")).order_by(signoffs.c.id.desc()).limit(1)
)
_INSERT_SIGNOFF = insert(signoffs)


@dataclass(frozen=True)
class Assessment:
    """One stored assessment, with the sign-off made on it (the latest), if any."""

    id: int
    case_id: str
    created_at: str
    site: str | None
    clinician: str | None
    intake: dict[str, Any]  # the intake as submitted
    intake_sha256: str
    decision: dict[str, Any]
    tool_version: str
    signoff: dict[str, Any] | None

    @property
    def clinician_decision(self) -> dict[str, Any] | None:
        """The sign-off as an intake's ``clinician_decision`` block (what audits compare)."""
        if self.signoff is None:
            return None
        return {"format": self.signoff["format"], "focus": self.signoff["focus"], "reason": self.signoff["reason"]}

    def intake_with_decision(self) -> dict[str, Any]:
        """The stored intake with the clinician's sign-off as its ``clinician_decision``."""
        value = dict(self.intake)
        if self.signoff is not None:
            value["clinician_decision"] = {k: v for k, v in self.clinician_decision.items() if v is not None}  # type: ignore[union-attr]
        return value


def _top_level(decision: dict[str, Any]) -> str | None:
    levels = {f["level"] for f in decision["flags"]}
    return next((level for level in LEVEL_ORDER if level in levels), None)


class Store:
    """The web app's database: ``Store.open(url)``."""

    def __init__(self, engine: Any, busy_timeout: float = BUSY_TIMEOUT):
        self.engine = engine
        self.source = display_url(engine.url)
        # One writer at a time per process: the others queue here, in order, instead of polling
        # SQLite's lock with growing sleeps or holding PostgreSQL connections while they wait
        # for the head row; their assessments are written together by the next writer (group
        # commit, above). Each waits on its own event, woken when its batch is stored or when
        # it is to write the next one: waiting on the writers' lock instead, the threads
        # whose assessments were already stored took that lock one after the other just to
        # see so, each waiting for the interpreter lock, and under load that queue, not the
        # database, was most of a submission's time.
        self._writers = threading.Lock()  # held while writing (a batch, a sign-off)
        self._queued: list[_Pending] = []
        self._leading = False  # a thread is writing or about to: the others wait for it
        self._queue_lock = threading.Lock()
        # and one writer process at a time on a SQLite file, handed on at once (see WriterLock)
        self._file_lock = WriterLock(engine.url.database, busy_timeout) if engine.dialect.name == "sqlite" else None

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True, **options: Any) -> "Store":
        """Open (and with ``create``, create or upgrade) the database at ``url``."""
        engine = open_engine(url, create=create, **options)
        if create:
            migrate(engine)
        else:
            check_current(engine)
        return cls(engine, options.get("busy_timeout", BUSY_TIMEOUT))

    def close(self) -> None:
        self.engine.dispose()
        if self._file_lock is not None:
            self._file_lock.close()

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        """The SQLite writer lock across processes (the caller holds ``_writers``)."""
        if self._file_lock is None:
            yield
            return
        if not self._file_lock.acquire():
            raise StoreUnavailable(self.source, "the database is locked by another program (still busy after the wait)")
        try:
            yield
        finally:
            self._file_lock.release()

    @contextmanager
    def _transaction(self, write: bool, locked: bool = False) -> Iterator[Any]:
        """A transaction; ``write`` takes the database's write lock first (and this process's
        and the writer lock across processes, unless the caller holds them: ``locked``)."""
        try:
            with (
                self._writers if write and not locked else nullcontext(),
                self._process_lock() if write and not locked else nullcontext(),
                self.engine.connect() as connection,
            ):
                if write:
                    connection.execution_options(ipt_write=True)
                with connection.begin():
                    yield connection
        except StoreUnavailable:
            raise
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError

            # the driver's own errors too: the hot paths run on its cursor (``prepared``)
            if isinstance(exc, (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)):
                raise unavailable(self.engine, exc) from None
            raise

    # ------------------------------------------------------------------ writing

    def save(
        self,
        submitted: dict[str, Any],
        intake_sha256: str,
        decision: dict[str, Any],
        tool_version: str,
        submission: str,
        also: Callable[[Any, int], None] | None = None,
    ) -> tuple[int, bool]:
        """Store one assessment with its decision-log entry; (its id, whether it is new).
        ``also(connection, new_id)`` writes more rows in the same transaction (a CDS card)."""
        rs = decision["ruleset"]
        row = {
            "case_id": decision["intake_id"],
            "submission": submission,
            "assessed_on": str(submitted.get("assessed_on")),
            "site": submitted.get("site"),
            "clinician": submitted.get("clinician"),
            "intake_json": canonical_bytes(submitted).decode("utf-8"),
            "intake_sha256": intake_sha256,
            "decision_json": json.dumps(decision, ensure_ascii=False, separators=(",", ":")),
            "ruleset_name": rs["name"],
            "ruleset_version": rs["version"],
            "ruleset_sha256": rs["sha256"],
            "tool_version": tool_version,
            "status": decision["status"],
            "format": decision["recommendation"]["format"],
            "focus_primary": decision["focus"]["primary"],
            "focus_secondary": decision["focus"]["secondary"],
            "top_level": _top_level(decision),
            "phq9": decision["severity"].get("phq9"),
        }
        job = _Pending(row, decision, intake_sha256, tool_version, also)
        with self._queue_lock:
            self._queued.append(job)
            follow, self._leading = self._leading, True
        if follow:
            job.woken.wait()  # stored by the writer before, or made the next writer
        if not job.done:
            self._lead()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _lead(self) -> None:
        """Write what is queued, as this process's one writer, then hand on: to the first
        assessment queued meanwhile (its thread writes the next batch), or to no one."""
        try:
            with self._writers:
                with self._queue_lock:
                    waited = {id(job) for job in self._queued}
                try:
                    with self._process_lock():
                        # the batch is taken once the other processes' writer is done, not
                        # before waiting for it: what arrived meanwhile goes in this commit
                        # rather than waiting for the next one
                        self._write(self._take())
                except StoreUnavailable as exc:  # the lock was not handed on in time:
                    with self._queue_lock:  # those queued before the wait fail, later ones wait their turn
                        failed = [job for job in self._queued if id(job) in waited]
                        self._queued = [job for job in self._queued if id(job) not in waited]
                    self._fail(failed, exc)
        finally:
            with self._queue_lock:
                if self._queued:
                    self._queued[0].woken.set()
                else:
                    self._leading = False

    def _take(self) -> list["_Pending"]:
        """Every assessment queued so far (the caller holds ``_writers``)."""
        with self._queue_lock:
            batch, self._queued = self._queued, []
        return batch

    def _fail(self, batch: list["_Pending"], exc: StoreUnavailable) -> None:
        for job in batch:  # each caller its own exception: they are raised in different threads
            job.result, job.error, job.done = None, StoreUnavailable(self.source, exc.reason), True
            job.woken.set()

    def _write(self, batch: list["_Pending"]) -> None:
        """Store ``batch`` in one transaction (the caller holds ``_writers`` and the process
        lock); see the module docstring for what a failure does."""
        try:
            with self._transaction(write=True, locked=True) as conn:
                head = start = chain.lock_head(conn)  # every assessment writer queues here
                for job in batch:
                    job.result, head = _insert(conn, head, job)
                if head != start:
                    chain.move_head(conn, head)
        except StoreUnavailable as exc:
            self._fail(batch, exc)
        except Exception as exc:  # noqa: BLE001 - kept for its caller; the others are retried alone
            if len(batch) == 1:
                batch[0].result, batch[0].error = None, exc
            else:
                for job in batch:
                    self._write([job])
        for job in batch:
            job.done = True
            job.woken.set()

    def sign_off(self, assessment_id: int, decided: dict[str, Any], accepted: bool, clinician: str | None) -> int:
        """Record the clinician's decision on an assessment; the newest sign-off is the one that counts."""
        with self._transaction(write=True) as conn:
            return conn.execute(
                _INSERT_SIGNOFF,
                {
                    "assessment_id": assessment_id,
                    "created_at": decision_log.now(),
                    "clinician": clinician,
                    "accepted": accepted,
                    "format": decided["format"],
                    "focus": decided.get("focus"),
                    "reason": decided.get("reason"),
                },
            ).inserted_primary_key[0]

    # ------------------------------------------------------------------ reading

    def _latest_signoffs(self, conn: Any, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        newest = (
            select(signoffs.c.assessment_id, func.max(signoffs.c.id).label("id"))
            .where(signoffs.c.assessment_id.in_(ids))
            .group_by(signoffs.c.assessment_id)
            .subquery()
        )
        rows = conn.execute(select(signoffs).join(newest, signoffs.c.id == newest.c.id)).mappings()
        return {r["assessment_id"]: dict(r) for r in rows}

    def assessment(self, assessment_id: int) -> Assessment | None:
        with self._transaction(write=False) as conn:
            cursor = cursor_of(conn)
            row = mapping(_ASSESSMENT.run(cursor, conn.dialect, {"aid": assessment_id}))
            if row is None:
                return None
            signoff = mapping(_LATEST_SIGNOFF.run(cursor, conn.dialect, {"aid": assessment_id}))
        if signoff is not None:
            signoff["accepted"] = bool(signoff["accepted"])  # SQLite keeps booleans as 0/1
        return _assessment(row, signoff)

    def history(self, case_id: str) -> list[Assessment]:
        """Every assessment of one case, oldest first."""
        with self._transaction(write=False) as conn:
            rows = list(
                conn.execute(
                    select(assessments).where(assessments.c.case_id == case_id).order_by(assessments.c.id)
                ).mappings()
            )
            signed = self._latest_signoffs(conn, [r["id"] for r in rows])
        return [_assessment(r, signed.get(r["id"])) for r in rows]

    def cases(
        self,
        *,
        search: str = "",
        status: str = "",
        fmt: str = "",
        flag: str = "",
        site: str = "",
        signed: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Cases by their latest assessment, newest first, filtered; (rows, whether more follow)."""
        a = assessments
        signed_off = exists().where(signoffs.c.assessment_id == a.c.id)
        query = select(
            cases.c.case_id,
            cases.c.updated_at,
            cases.c.assessments,
            a.c.id,
            a.c.site,
            a.c.status,
            a.c.format,
            a.c.focus_primary,
            a.c.focus_secondary,
            a.c.top_level,
            a.c.phq9,
            a.c.assessed_on,
            signed_off.label("signed"),
        ).join(a, a.c.id == cases.c.latest_id)
        if search:
            query = query.where(func.lower(cases.c.case_id).contains(search.lower(), autoescape=True))
        for column, value in ((a.c.status, status), (a.c.format, fmt), (cases.c.site, site)):
            if value:
                query = query.where(column == value)
        if flag:
            query = query.where(exists().where(and_(flags.c.assessment_id == a.c.id, flags.c.code == flag)))
        if signed:
            query = query.where(signed_off if signed == "yes" else ~signed_off)
        query = query.order_by(cases.c.updated_at.desc(), cases.c.case_id).limit(limit + 1).offset(offset)
        with self._transaction(write=False) as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
            ids = [r["id"] for r in rows[:limit]]
            raised: dict[int, list[dict[str, str]]] = {}
            if ids:
                for r in conn.execute(
                    select(flags)
                    .where(flags.c.assessment_id.in_(ids))
                    .order_by(flags.c.assessment_id, flags.c.position)
                ).mappings():
                    raised.setdefault(r["assessment_id"], []).append({"code": r["code"], "level": r["level"]})
        for r in rows:
            r["flags"] = raised.get(r["id"], [])
        return rows[:limit], len(rows) > limit

    def choices(self) -> dict[str, list[str]]:
        """The sites, clinician codes and flag codes stored, for the filters of the case list
        and the quality page."""
        with self._transaction(write=False) as conn:
            sites = [
                s
                for (s,) in conn.execute(
                    select(cases.c.site).where(cases.c.site.is_not(None)).distinct().order_by(cases.c.site)
                )
            ]
            codes = [c for (c,) in conn.execute(select(flags.c.code).distinct().order_by(flags.c.code))]
            clinicians = [
                c
                for (c,) in conn.execute(
                    select(assessments.c.clinician)
                    .where(assessments.c.clinician.is_not(None))
                    .distinct()
                    .order_by(assessments.c.clinician)
                )
            ]
        return {"sites": sites, "flags": codes, "clinicians": clinicians}

    def counts(self) -> dict[str, int]:
        """How many assessments, cases, sign-offs and log entries are stored."""
        with self._transaction(write=False) as conn:
            head = conn.execute(select(log_head.c.seq).where(log_head.c.id == 1)).scalar() or 0
            return {
                "assessments": conn.execute(select(func.count()).select_from(assessments)).scalar() or 0,
                "cases": conn.execute(select(func.count()).select_from(cases)).scalar() or 0,
                "signoffs": conn.execute(select(func.count()).select_from(signoffs)).scalar() or 0,
                "log_entries": head,
            }

    def intakes(self, batch: int = 500) -> Iterator[Assessment]:
        """Every stored assessment, oldest first, read in batches (flat memory)."""
        last = 0
        while True:
            with self._transaction(write=False) as conn:
                rows = list(
                    conn.execute(
                        select(assessments).where(assessments.c.id > last).order_by(assessments.c.id).limit(batch)
                    ).mappings()
                )
                signed = self._latest_signoffs(conn, [r["id"] for r in rows])
            if not rows:
                return
            for r in rows:
                yield _assessment(r, signed.get(r["id"]))
            last = rows[-1]["id"]

    def jsonl(self) -> Iterator[str]:
        """Every stored intake as one JSON line (no newline), oldest first, with its sign-off as
        ``clinician_decision``: what ``export`` writes and ``audit --db`` reads."""
        for a in self.intakes():
            yield json.dumps(a.intake_with_decision(), ensure_ascii=False, separators=(",", ":"))

    def verify_log(self) -> tuple[int, str]:
        """Check the database's decision-log chain: (entries, last hash), or ``LogError``."""
        with self._transaction(write=False) as conn:
            return chain.verify(conn, self.source)


@dataclass
class _Pending:
    """One assessment waiting to be written, and then what became of it."""

    row: dict[str, Any]
    decision: dict[str, Any]
    intake_sha256: str
    tool_version: str
    also: Callable[[Any, int], None] | None = None  # more rows in the same transaction (a CDS card)
    result: tuple[int, bool] | None = None
    error: BaseException | None = None
    done: bool = False
    woken: threading.Event = field(default_factory=threading.Event)  # done, or to write the next batch


def _insert(conn: Any, head: chain.Head, job: _Pending) -> tuple[tuple[int, bool], chain.Head]:
    """Insert one assessment (unless its submission was stored before) with its flags, case
    row and log entry, after ``head``: ((its id, whether new), the chain's new end)."""
    row, decision, dialect, cursor = job.row, job.decision, conn.dialect, cursor_of(conn)
    known = _FIND_SUBMISSION.run(cursor, dialect, {"sub": row["submission"]}).fetchone()
    if known is not None:
        return (known[0], False), head
    stamp = decision_log.now()
    new_id = _INSERT_ASSESSMENT.run(cursor, dialect, dict(row, created_at=stamp)).fetchone()[0]
    if decision["flags"]:
        _INSERT_FLAGS.run_many(
            cursor,
            dialect,
            [
                {"assessment_id": new_id, "code": f["code"], "level": f["level"], "position": n}
                for n, f in enumerate(decision["flags"])
            ],
        )
    if not _UPDATE_CASE.run(
        cursor, dialect, {"cid": row["case_id"], "latest": new_id, "stamp": stamp, "s": row["site"]}
    ).rowcount:
        _INSERT_CASE.run(
            cursor,
            dialect,
            {
                "case_id": row["case_id"],
                "latest_id": new_id,
                "updated_at": stamp,
                "site": row["site"],
                "assessments": 1,
            },
        )
    entry = decision_log.entry_for(decision, job.intake_sha256, job.tool_version)
    head = chain.append(conn, head, new_id, decision_log.link(entry, head.hash, stamp))
    if job.also is not None:
        job.also(conn, new_id)
    return (new_id, True), head


def _assessment(row: Any, signoff: dict[str, Any] | None) -> Assessment:
    return Assessment(
        id=row["id"],
        case_id=row["case_id"],
        created_at=row["created_at"],
        site=row["site"],
        clinician=row["clinician"],
        intake=json.loads(row["intake_json"]),
        intake_sha256=row["intake_sha256"],
        decision=json.loads(row["decision_json"]),
        tool_version=row["tool_version"],
        signoff=signoff,
    )

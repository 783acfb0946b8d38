"""Batch audit: assess every intake of a corpus in parallel and write the results.

    report = run_audit("intakes.jsonl", "out/", jobs=4)
    report = run_audit("intakes.jsonl", "out/", jobs=4, resume=True)   # after an interruption

Outputs in the output folder (all owner-only, 0o600):

* ``decisions.jsonl`` — one compact decision-v1 object per valid intake, in input order
  (with ``compact=True``, ``decisions.compact.jsonl`` instead: the same decisions with the
  rule set's texts by number, :mod:`ipt_advisor.audit.compact`; never under the contract's name);
* ``errors.jsonl`` — one line per record that could not be assessed: its source, its
  line (JSONL line, CSV row; null for a file of a folder) and every problem, quoted values
  redacted so no free text leaks;
* ``overrides.jsonl`` — one line per case where the clinician's recorded decision departs
  from the recommendation, with their reason (for the quality team; never in the log);
* ``summary.json`` — counts, rule firing, concordance and the breakdowns by site, clinician
  and month (:mod:`ipt_advisor.audit.summary`); ``summary.html`` — the dashboard, charts and
  safety-critical overrides first (:mod:`ipt_advisor.audit.dashboard`); ``summary.md`` — a short
  digest for the terminal.

How it stays fast and flat:

* the parent reads raw records (:mod:`ipt_advisor.intake.corpus`) and writes results; it and
  ``jobs - 1`` workers (:mod:`ipt_advisor.audit.workers`: forked, one process per core by
  default, each worker with its own pipes) validate, assess and serialise, each with its own
  :class:`~ipt_advisor.advisor.Advisor` (a durable-rules session store is process-private);
* records travel in chunks (fewer, larger messages) and at most ``jobs * WINDOW`` chunks are
  in flight, so memory does not grow with the corpus; results are consumed in input order.

How it survives being stopped (:mod:`ipt_advisor.audit.state` has the details):

* every output is written in whole lines to ``NAME.partial`` and renamed into place only
  when the whole run succeeded: an interrupted run never leaves a file under a final name;
* about once a second (``CHECKPOINT_SECONDS``), between two chunks, the run syncs the
  ``.partial`` files and saves ``.audit-state.json``: records done, the files' lengths, the
  summary counters. With ``--log``, the log is appended after the new state is written and
  before it is put in place, so a state never counts a decision the log lacks, and a failed
  append leaves the old state, which counts none of that batch;
* SIGINT and SIGTERM (:mod:`ipt_advisor.core.interrupt`) stop the run at the next chunk with a
  checkpoint, then raise :class:`~ipt_advisor.core.interrupt.Interrupted`; a full disk raises
  ``OutputError`` with the last checkpoint kept. Either way ``resume=True`` continues from
  the checkpoint, and the finished files are byte for byte those of an uninterrupted run;
* the state outlives the run, marked done once every output is in place: a process killed
  after that, before it exits, is still known to have finished (``--resume`` says so), and
  a run whose decisions are in the log never loses its state, so the same command cannot log
  them again: it refuses, pointing at ``--resume`` (:func:`~ipt_advisor.audit.state.refuse_to_log_twice`);
* workers ignore SIGINT and SIGTERM (a terminal or a service manager signals the whole
  process group): the parent alone stops, then kills them; on Linux the kernel kills them
  too if the parent dies, so none is ever left behind. A worker that dies (SIGKILL, the
  out-of-memory killer) ends the run with ``WorkerLost``, resumable like a stop.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from contextlib import closing
from ..core.precompiled_classes import dataclass
from typing import Any, Callable, Iterable, TextIO

from .state import (
    PartialFile,
    ResumeError,
    StateFile,
    differences,
    finish_commit,
    identity,
    lock_folder,
    may_have_logged,
    recover_log_append,
    refuse_to_log_twice,
)
from .decision_log import DecisionLog, entry as log_entry
from ..core.output import make_private_dirs
from ..intake.corpus import Corpus, RawRecord, parse, redacted_problems
from ..core.errors import EngineError, IntakeError, IptError, OutputError, Problem
from . import workers
from ..core.interrupt import Interrupted, StopSignals, WorkerLost, signal_name
from ..core.jsonline import dumps, dumps_bytes, loads_own
from .dashboard import render_summary_html, write_pieces
from .summary import Outcome, Tally, outcome, render_summary_md, summary_json
from .workers import ordered_map

__all__ = ["AuditReport", "run_audit", "ordered_map", "default_progress", "Progress"]

CHUNK = workers.CHUNK  # records per message to a worker
LOG_BATCH = 1024  # decision-log entries per append (each append takes the lock and syncs)
CHECKPOINT_SECONDS = 1.0  # progress saved at least this often: a crash redoes at most this much work

STREAMS = ("decisions.jsonl", "errors.jsonl", "overrides.jsonl")  # written record by record
SUMMARIES = ("summary.json", "summary.md", "summary.html")  # written once, at the end
OUTPUTS = STREAMS + SUMMARIES


# --------------------------------------------------------------------------- the audit task


def _audit_init(rules_dir: str | None, compact: bool = False) -> Any:
    """A worker's state: the advisor, and how it writes a decision line."""
    from ..advisor import Advisor

    advisor = Advisor.load(rules_dir)
    if not compact:
        return advisor, dumps_bytes
    from .compact import TextTable

    encode = TextTable.of(advisor.ruleset).encode
    return advisor, lambda decision: dumps_bytes(encode(decision))


def _error_record(record: RawRecord, kind: str, problems: tuple[Problem, ...]) -> dict[str, Any]:
    return {"source": record.source, "line": record.line, "kind": kind, "problems": redacted_problems(problems)}


def _audit_one(state: Any, record: RawRecord) -> tuple[str, Any]:
    """("ok", (decision line, Outcome)) or ("invalid"/"engine", error record)."""
    advisor, line_of = state
    try:
        intake = parse(record)
    except IntakeError as exc:
        return "invalid", _error_record(record, "invalid", exc.problems)
    try:
        decision = advisor.assess(intake)
    except EngineError as exc:
        return "engine", _error_record(record, "engine", exc.problems)
    line = line_of(decision)
    return "ok", (line, outcome(record.index, record.source, record.line, intake, decision))


# --------------------------------------------------------------------------- progress

BAR = 24  # characters of the progress bar


class Progress:
    """A one-line progress display (count, rate, bar, ETA) for a terminal; call :meth:`update` often."""

    def __init__(self, stream: TextIO, total: Callable[[], float | None]):
        self.stream = stream
        self.total = total  # records expected (an estimate while the input is being read)
        self.start = time.monotonic()
        self.shown = 0.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.shown < 0.2:
            return
        self.shown = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        total = self.total()
        fraction = min(1.0, done / total) if total else None
        eta = ""
        if fraction and not final:
            left = elapsed * (1 - fraction) / fraction
            eta = f"  ETA {int(left) // 60}:{int(left) % 60:02d}"
        pct = f"  {100 * fraction:3.0f}%" if fraction is not None else ""
        bar = ""
        if fraction is not None:
            filled = int(BAR * fraction)
            bar = "  [" + "#" * filled + "." * (BAR - filled) + "]"
        self.stream.write(f"\r{done:>10,} records  {rate:>8,.0f}/s{bar}{pct}{eta}\x1b[K")
        if final:
            self.stream.write("\n")
        self.stream.flush()


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class AuditReport:
    """What a run did (for the command line: messages and exit code)."""

    records: int
    assessed: int
    invalid: int
    engine_errors: int
    out_dir: str
    seconds: float
    summary: dict[str, Any]
    resumed_from: int = 0  # records an interrupted run had done before this one resumed it
    damage: tuple[Problem, ...] = ()  # the input as a whole is damaged (a CSV quote never closed)


def run_audit(
    input_path: str,
    out_dir: str,
    *,
    rules_dir: str | None = None,
    jobs: int | None = None,
    log_path: str | None = None,
    tool_version: str = "",
    progress: TextIO | None = None,
    resume: bool = False,
    warn: Callable[[str], None] | None = None,
    compact: bool = False,
    cds_feedback: dict[str, Any] | None = None,
) -> AuditReport:
    """Assess every record of ``input_path`` and write the outputs into ``out_dir``.

    With ``resume=True``, finish the interrupted run saved in ``out_dir`` instead of starting
    over; it must have had the same input, rule set, tool version and log.

    Raises ``RuleSetError`` (the rule set is broken), ``CorpusError`` (the input cannot be
    read), ``OutputError`` (an output cannot be written), ``ResumeError`` (nothing to resume,
    or another run's), ``Interrupted`` (SIGINT/SIGTERM) or ``WorkerLost`` (a worker process
    died); an invalid *record* never raises. After ``Interrupted`` and ``WorkerLost``, and
    after ``OutputError`` once the run had started writing, the run can be resumed.
    ``warn`` gets one-line notes (a half decision-log entry cut off, see DecisionLog).
    With ``compact=True`` the decisions go to ``decisions.compact.jsonl`` as compact lines
    (:mod:`ipt_advisor.audit.compact`) instead of ``decisions.jsonl``. ``cds_feedback`` (an audit of
    what the web app stored: the EHR's card feedback, see Tally.as_dict) joins the summary.
    """
    from ..advisor import Advisor

    started = time.monotonic()
    advisor = Advisor.load(rules_dir)  # fails fast (exit 4) before any output exists
    ruleset = advisor.ruleset
    corpus = Corpus(input_path)
    jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    run_id = identity(corpus, ruleset, tool_version, log_path)
    if compact:  # only then: the state of a default run stays as it was
        run_id["decisions"] = "compact"
    state_file = StateFile(out_dir)
    if not resume:
        make_private_dirs(out_dir)
    lock = lock_folder(out_dir)  # one audit per folder; released when this process ends
    try:
        return _audit(
            corpus,
            state_file,
            run_id,
            ruleset,
            started,
            lock,
            resume=resume,
            rules_dir=rules_dir,
            jobs=jobs,
            log_path=log_path,
            tool_version=tool_version,
            progress=progress,
            warn=warn,
            cds_feedback=cds_feedback,
        )
    finally:
        if lock is not None:
            os.close(lock)


def _audit(
    corpus: Corpus,
    state_file: StateFile,
    run_id: dict[str, Any],
    ruleset: Any,
    started: float,
    lock: int | None,
    *,
    resume: bool,
    rules_dir: str | None,
    jobs: int,
    log_path: str | None,
    tool_version: str,
    progress: TextIO | None,
    warn: Callable[[str], None] | None,
    cds_feedback: dict[str, Any] | None,
) -> AuditReport:
    out_dir = state_file.out_dir
    log = DecisionLog(log_path, warn) if log_path else None
    logged_ahead = 0
    if resume:
        saved = state_file.load()
        tally, keep = _resume_point(saved, run_id, ruleset, state_file.path)
        if saved.get("phase") in ("commit", "done"):  # killed while putting the outputs in place, or after
            if saved["phase"] == "done" and warn is not None:
                warn(f"{out_dir}: nothing left to do: this audit had finished")
            summary = finish_commit(state_file, saved, tuple(_on_disk(name, run_id) for name in OUTPUTS))
            return _report(tally, out_dir, started, summary, tally.records)
        if log is not None:
            saved = recover_log_append(state_file, saved, log)
            tally, keep = _resume_point(saved, run_id, ruleset, state_file.path)
        logged_ahead = saved.get("logged_ahead", 0)
        # the summary names the input as the run was started with it, as an uninterrupted run would
        run_id["input"]["path"] = saved["input"]["path"]
    else:
        if log is not None:
            refuse_to_log_twice(state_file, run_id, log_path)
        state_file.remove()  # an older run in this folder is started over, not resumed
        tally, keep = Tally(ruleset), None
    resumed_from = tally.records
    files: dict[str, PartialFile] = {}
    state_file.saved = resume  # a saved state is what makes the .partial files worth keeping
    try:
        for name in STREAMS:
            files[name] = PartialFile(
                os.path.join(out_dir, _on_disk(name, run_id)), None if keep is None else keep[name]
            )
        if resume:
            _check_lines(files, tally.records, state_file.path)
        with StopSignals() as stop:
            summary = _run(
                corpus,
                files,
                tally,
                state_file,
                run_id,
                stop,
                log,
                logged_ahead,
                lock,
                rules_dir=rules_dir,
                jobs=jobs,
                tool_version=tool_version,
                progress=progress,
                cds_feedback=cds_feedback,
            )
    except (Interrupted, OutputError, ResumeError, WorkerLost, KeyboardInterrupt) as exc:
        hinted = _after_stop(exc, files, state_file)
        if hinted is not None:
            raise hinted from None
        raise
    except BaseException as exc:
        hinted = _after_failure(exc, files, state_file, log)
        if hinted is not None:
            raise hinted from None
        raise
    return _report(tally, out_dir, started, summary, resumed_from, tuple(corpus.damage))


def _report(
    tally: Tally,
    out_dir: str,
    started: float,
    summary: dict[str, Any],
    resumed_from: int,
    damage: tuple[Problem, ...] = (),
) -> AuditReport:
    return AuditReport(
        tally.records,
        tally.records - tally.invalid - tally.engine_errors,
        tally.invalid,
        tally.engine_errors,
        out_dir,
        time.monotonic() - started,
        summary,
        resumed_from,
        damage,
    )


def _after_stop(exc: BaseException, files: dict[str, PartialFile], state_file: StateFile) -> IptError | None:
    """A stop or a resumable failure: the .partial files stay if a state counts them; the error
    to raise instead of ``exc`` (with a hint to resume), or None to raise ``exc``."""
    for f in files.values():
        f.release()
    if isinstance(exc, (OutputError, WorkerLost)) and state_file.saved:
        return _with_resume_hint(exc)
    if not state_file.saved:
        for f in files.values():
            f.discard()
    return None


def _after_failure(
    exc: BaseException, files: dict[str, PartialFile], state_file: StateFile, log: DecisionLog | None
) -> IptError | None:
    """The input broke mid-way, or a bug: nothing worth resuming, unless decisions of this run
    are in the log: then the state stays (never deleted while its decisions are logged), so the
    same command refuses to log them again and --resume can finish. As :func:`_after_stop`."""
    if state_file.saved and log is not None and _may_have_logged(state_file):
        for f in files.values():
            f.release()
        return _with_resume_hint(exc) if isinstance(exc, IptError) else None
    for f in files.values():
        f.discard()
    state_file.remove()
    return None


def _may_have_logged(state_file: StateFile) -> bool:
    saved = state_file.peek()
    return saved is None or may_have_logged(saved, state_file.load_prepared())  # unreadable: keep it


def _with_resume_hint(exc: IptError) -> IptError:
    return type(exc)(
        [
            Problem(p.source, p.line, p.path, f"{p.message}; once fixed, run the same command with --resume to finish")
            for p in exc.problems
        ]
    )


def _resume_point(
    saved: dict[str, Any], run_id: dict[str, Any], ruleset: Any, where: str
) -> tuple[Tally, dict[str, int]]:
    """The counters and ``.partial`` lengths to resume from; ``ResumeError`` if ``saved`` is
    another run's, or not a state at all."""
    problems = differences(saved, run_id)
    if saved.get("decisions") != run_id.get("decisions"):
        problems.append(
            "the run was started with --compact" if saved.get("decisions") else "the run was started without --compact"
        )
    if problems:
        raise ResumeError([Problem(where, None, "", f"cannot resume: {message}") for message in problems])
    progress = saved["progress"]
    try:
        tally = Tally.restore(ruleset, progress["tally"])
    except ValueError:
        tally = None
    keep = progress["bytes"]
    if tally is None or tally.records != progress["records"] or set(keep) != set(STREAMS):
        raise ResumeError([Problem(where, None, "", "cannot resume: not an audit state (inconsistent progress)")])
    return tally, keep


def _check_lines(files: dict[str, PartialFile], records: int, where: str) -> None:
    """Decisions and errors together hold one line per record done, no more, no less."""
    lines = files["decisions.jsonl"].count_lines() + files["errors.jsonl"].count_lines()
    if lines != records:
        raise ResumeError(
            [
                Problem(
                    where,
                    None,
                    "",
                    f"cannot resume: the .partial files hold {lines} records, the saved state counts {records}",
                )
            ]
        )


class _Checkpoint:
    """Saves the run's progress about once a second, appending the decisions logged since the
    last save in the same recoverable step (see :meth:`__call__`)."""

    def __init__(
        self,
        files: dict[str, PartialFile],
        tally: Tally,
        state_file: StateFile,
        run_id: dict[str, Any],
        log: DecisionLog | None,
        logged_ahead: int,
        tool_version: str,
    ):
        self.files = files
        self.tally = tally
        self.state_file = state_file
        self.run_id = run_id
        self.log = log
        self.pending_log: list[dict[str, Any]] = []
        self.ahead = logged_ahead  # decisions in the log already (an append killed half-way): not again
        self.rs_info = dict(run_id["ruleset"])
        self.tool_version = tool_version

    def to_log(self, o: Outcome) -> None:
        """Queue a decision's log entry for the next checkpoint (unless it is logged already)."""
        if self.ahead:
            self.ahead -= 1  # logged by the run that was killed mid-append
        else:
            self.pending_log.append(_log_entry(log_entry, o, self.rs_info, self.tool_version))

    def __call__(self) -> None:
        files, tally, log, pending_log = self.files, self.tally, self.log, self.pending_log
        for f in files.values():
            f.sync()
        state = {
            **self.run_id,
            "progress": {
                "records": tally.records,
                "bytes": {name: f.size for name, f in files.items()},
                "tally": tally.snapshot(),
            },
        }
        if self.ahead:
            state["logged_ahead"] = self.ahead
        if log is None or not pending_log:
            self.state_file.save(state)
            return
        # One recoverable step, under the log's lock: the state that counts these decisions is
        # prepared (synced, not yet in place) naming where their entries go, then the entries
        # are appended, then the state is put in place. Killed anywhere in between, the resumed
        # run finds the prepared state and the log and logs each decision once.
        with log.locked() as held:
            data, last, stamp = held.chain(pending_log)
            state["log_append"] = {"start": held.size, "entries": len(pending_log), "time": stamp, "hash": last}
            self.state_file.prepare(state)
            try:
                held.write(data)
            except BaseException:
                self.state_file.abandon()
                raise
            self.state_file.commit()
        pending_log.clear()


def _run(
    corpus: Corpus,
    files: dict[str, PartialFile],
    tally: Tally,
    state_file: StateFile,
    run_id: dict[str, Any],
    stop: StopSignals,
    log: DecisionLog | None,
    logged_ahead: int,
    lock: int | None,
    *,
    rules_dir: str | None,
    jobs: int,
    tool_version: str,
    progress: TextIO | None,
    cds_feedback: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assess the records not done yet, checkpointing as it goes, then write the summaries
    and put every output in place; returns the summary. The first ``logged_ahead`` decisions
    are in the log already (an append killed half-way, see recover_log_append): not again."""
    checkpoint = _Checkpoint(files, tally, state_file, run_id, log, logged_ahead, tool_version)
    if not state_file.saved:
        checkpoint()  # from here on the run can be resumed
    bar = Progress(progress, corpus.estimated_total) if progress is not None else None
    _assess_rest(corpus, files, checkpoint, stop, bar, lock, rules_dir=rules_dir, jobs=jobs)
    checkpoint()  # every record done (or all up to the stop), every decision logged
    if stop.signum is not None:
        raise _interrupted(stop.signum, tally, state_file.out_dir)
    if bar is not None:
        bar.update(tally.records, final=True)
    summary = tally.as_dict(
        input_path=run_id["input"]["path"],
        input_kind=corpus.kind,
        input_sha256=corpus.sha256,
        tool_version=tool_version,
        departures_file="overrides.jsonl",
        cds_feedback=cds_feedback,
    )
    _put_in_place(files, summary, tally, state_file, run_id, stop)
    return summary


def _assess_rest(
    corpus: Corpus,
    files: dict[str, PartialFile],
    checkpoint: _Checkpoint,
    stop: StopSignals,
    bar: Progress | None,
    lock: int | None,
    *,
    rules_dir: str | None,
    jobs: int,
) -> None:
    """Assess the records the tally does not count yet, in chunks, until the end or a stop."""
    tally, run_id, state_file = checkpoint.tally, checkpoint.run_id, checkpoint.state_file
    records: Iterable[RawRecord] = corpus.records()
    if tally.records:
        records = itertools.islice(records, tally.records, None)  # read (and hashed) again, not assessed
    last = time.monotonic()
    compact = run_id.get("decisions") == "compact"
    with closing(
        ordered_map(
            records,
            _audit_init,
            _audit_one,
            (rules_dir, compact),
            jobs,
            CHUNK,
            stop.requested,
            state_file.out_dir,
            () if lock is None else (lock,),
        )
    ) as chunks:
        for results in chunks:
            _write_chunk(results, files, checkpoint)
            if bar is not None:
                bar.update(tally.records)
            if stop.requested():
                break
            if len(checkpoint.pending_log) >= LOG_BATCH or time.monotonic() - last >= CHECKPOINT_SECONDS:
                checkpoint()
                last = time.monotonic()


def _write_chunk(results: list[tuple[str, Any]], files: dict[str, PartialFile], checkpoint: _Checkpoint) -> None:
    """Count one chunk's results and append them to the streams (and the pending log entries)."""
    tally, logging = checkpoint.tally, checkpoint.log is not None
    lines: list[bytes] = []
    bad: list[str] = []
    departed: list[str] = []
    for kind, payload in results:
        if kind != "ok":
            tally.add_invalid(engine=kind == "engine")
            bad.append(dumps(payload) + "\n")  # the standard library's text, by orjson (jsonline)
            continue
        line, o = payload
        lines.append(line)
        departure = tally.add(o)
        if departure is not None:
            departed.append(dumps(departure) + "\n")
        if logging:
            checkpoint.to_log(o)
    if lines:
        lines.append(b"")  # so the join ends with a newline
        files["decisions.jsonl"].write_bytes(b"\n".join(lines))
    if bad:
        files["errors.jsonl"].write("".join(bad))
    if departed:
        files["overrides.jsonl"].write("".join(departed))


def _put_in_place(
    files: dict[str, PartialFile],
    summary: dict[str, Any],
    tally: Tally,
    state_file: StateFile,
    run_id: dict[str, Any],
    stop: StopSignals,
) -> None:
    """Write the summaries, then rename every output into place (recoverably: see finish_commit)."""
    for f in files.values():
        f.close()
    out_dir = state_file.out_dir
    ends: dict[str, PartialFile] = {}
    try:
        for name in SUMMARIES:
            ends[name] = PartialFile(os.path.join(out_dir, name))
        ends["summary.json"].write(summary_json(summary))
        for name, render in (("summary.md", render_summary_md), ("summary.html", render_summary_html)):
            with open(files["overrides.jsonl"].partial, "rb") as handle:
                write_pieces(render(summary, (loads_own(line) for line in handle)), ends[name].write)
        if stop.signum is not None:
            raise _interrupted(stop.signum, tally, out_dir)
        for f in (*files.values(), *ends.values()):
            f.close()
        # from here on a resumed run only finishes the renames (see finish_commit)
        final = {
            **run_id,
            "phase": "commit",
            "progress": {
                "records": tally.records,
                "bytes": {name: f.size for name, f in files.items()},
                "tally": tally.snapshot(),
            },
        }
        state_file.save(final)
    except BaseException:
        for f in ends.values():
            f.discard()  # written again from the saved state by a resumed run
        raise
    for f in (*files.values(), *ends.values()):
        f.commit()
    # the state stays, marked done: killed after this line, before the process exits, the run
    # is still known to be finished and its decisions logged (see audit.state)
    state_file.save({**final, "phase": "done"})


def _on_disk(name: str, run_id: dict[str, Any]) -> str:
    """An output's file name: the decisions of a ``--compact`` run are not decision-v1 lines,
    so they never go under the name tools read as such."""
    if name == "decisions.jsonl" and run_id.get("decisions") == "compact":
        from .compact import COMPACT_NAME

        return COMPACT_NAME
    return name


def _interrupted(signum: int, tally: Tally, out_dir: str) -> Interrupted:
    return Interrupted(
        signum,
        [
            Problem(
                out_dir,
                None,
                "",
                f"interrupted by {signal_name(signum)} with {tally.records:,} "
                "records done; run the same command with --resume to finish",
            )
        ],
    )


def _log_entry(
    make: Callable[..., dict[str, Any]], o: Outcome, rs_info: dict[str, str], tool_version: str
) -> dict[str, Any]:
    return make(
        o.case_id,
        o.intake_sha256,
        rs_info,
        tool_version,
        o.format,
        o.focus_primary,
        o.focus_secondary,
        o.flags,
        o.status,
        o.site,
        o.clinician_code,
    )


def default_progress() -> TextIO | None:
    """stderr when it is a terminal (a progress line helps there), else nothing."""
    return sys.stderr if sys.stderr.isatty() else None

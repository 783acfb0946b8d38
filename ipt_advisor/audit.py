"""Batch audit: assess every intake of a corpus in parallel and write the results.

    report = run_audit("intakes.jsonl", "out/", jobs=4)

Outputs in the output folder (all owner-only, 0o600):

* ``decisions.jsonl`` — one compact decision-v1 object per valid intake, in input order;
* ``errors.jsonl`` — one line per record that could not be assessed: its source, its
  line (JSONL line, CSV row; null for a file of a folder) and every problem, quoted values
  redacted so no free text leaks;
* ``overrides.jsonl`` — one line per case where the clinician's recorded decision departs
  from the recommendation, with their reason (for the quality team; never in the log);
* ``summary.json`` and ``summary.md`` — counts, rule firing and concordance
  (:mod:`ipt_advisor.summary`).

How it stays fast and flat:

* the parent only reads raw records (:mod:`ipt_advisor.corpus`) and writes results; the
  workers (``fork``, one per core by default) validate, assess and serialise, each with its
  own :class:`~ipt_advisor.advisor.Advisor` (a durable-rules Host is process-private);
* records travel in chunks (fewer, larger messages) and at most ``jobs * WINDOW`` chunks are
  in flight, so memory does not grow with the corpus; results are consumed in input order;
* every output is written line by line to ``NAME.partial`` and renamed into place only when
  the whole run succeeded: an interrupted run never leaves half a file under a final name.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TextIO

from .corpus import Corpus, RawRecord, parse, redacted_problems
from .errors import EngineError, IntakeError, OutputError, Problem
from .summary import Outcome, Tally, outcome, render_summary_md, summary_json

CHUNK = 64      # records per message to a worker
WINDOW = 4      # chunks in flight per worker
LOG_BATCH = 1024  # decision-log entries per append (each append takes the lock and syncs)

OUTPUTS = ("decisions.jsonl", "errors.jsonl", "overrides.jsonl", "summary.json", "summary.md")


# --------------------------------------------------------------------------- output files

class PartialFile:
    """A text output written to ``PATH.partial`` (owner-only) and renamed to ``PATH`` by
    :meth:`commit`. Writes are whole lines, flushed per call, in the order given."""

    def __init__(self, path: str):
        self.path = path
        self.partial = path + ".partial"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.partial, flags, 0o600)
            os.fchmod(fd, 0o600)  # the umask may have removed bits; an existing file may have had more
        except OSError as exc:
            raise OutputError([Problem(path, None, "", f"cannot write: {exc.strerror or exc}")]) from None
        self.file: TextIO = os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace", newline="\n")

    def write(self, text: str) -> None:
        try:
            self.file.write(text)
        except OSError as exc:
            raise OutputError([Problem(self.path, None, "", f"cannot write: {exc.strerror or exc}")]) from None

    def close(self) -> None:
        """Flush and sync, keep the ``.partial`` name."""
        if not self.file.closed:
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
            finally:
                self.file.close()

    def commit(self) -> None:
        """Close and rename into place."""
        try:
            self.close()
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise OutputError([Problem(self.path, None, "", f"cannot write: {exc.strerror or exc}")]) from None

    def discard(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        try:
            os.unlink(self.partial)
        except OSError:
            pass


# --------------------------------------------------------------------------- ordered parallel map

_WORKER: tuple[Callable[[Any, RawRecord], Any], Any] | None = None


def _init_worker(init: Callable[..., Any], run: Callable[[Any, RawRecord], Any], args: tuple[Any, ...]) -> None:
    global _WORKER
    import signal

    # Ctrl-C reaches the whole process group: the parent stops the pool, workers must not
    # each print a traceback of their own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = (run, init(*args))


def _run_chunk(chunk: list[RawRecord]) -> list[Any]:
    assert _WORKER is not None
    run, state = _WORKER
    return [run(state, record) for record in chunk]


def _chunks(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    chunk: list[RawRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ordered_map(records: Iterable[RawRecord], init: Callable[..., Any], run: Callable[[Any, RawRecord], Any],
                args: tuple[Any, ...], jobs: int, chunk: int = CHUNK) -> Iterator[list[Any]]:
    """``run(state, record)`` for every record, results yielded per chunk in input order.

    ``state = init(*args)`` is built once per worker process (``init`` and ``run`` must be
    module-level functions). With ``jobs <= 1`` everything runs in this process. At most
    ``jobs * WINDOW`` chunks are in flight, so the input is read only as fast as it is used.
    """
    if jobs <= 1:
        state = init(*args)
        for part in _chunks(records, chunk):
            yield [run(state, record) for record in part]
        return
    import multiprocessing

    # fork: a worker inherits the parent's loaded modules (and, if the parent already loaded
    # it, the Advisor cache), so start-up is near free; each worker still owns its Host copy.
    pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(init, run, args))
    try:
        pending: deque[Any] = deque()
        for part in _chunks(records, chunk):
            pending.append(pool.apply_async(_run_chunk, (part,)))
            if len(pending) >= jobs * WINDOW:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# --------------------------------------------------------------------------- the audit task

def _audit_init(rules_dir: str | None) -> Any:
    from .advisor import Advisor

    return Advisor.load(rules_dir)


def _error_record(record: RawRecord, kind: str, problems: tuple[Problem, ...]) -> dict[str, Any]:
    return {"source": record.source, "line": record.line, "kind": kind, "problems": redacted_problems(problems)}


# decision_json's text on one line; a decision is a plain tree, so the cycle check is skipped
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _audit_one(advisor: Any, record: RawRecord) -> tuple[str, Any]:
    """("ok", (decision line, Outcome)) or ("invalid"/"engine", error record)."""
    try:
        intake = parse(record)
    except IntakeError as exc:
        return "invalid", _error_record(record, "invalid", exc.problems)
    try:
        decision = advisor.assess(intake)
    except EngineError as exc:
        return "engine", _error_record(record, "engine", exc.problems)
    line = _COMPACT.encode(decision)
    return "ok", (line, outcome(record.index, record.source, record.line, intake, decision))


# --------------------------------------------------------------------------- progress

class Progress:
    """A one-line progress display (count, rate, ETA) for a terminal; call :meth:`update` often."""

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
        self.stream.write(f"\r{done:>10,} records  {rate:>8,.0f}/s{pct}{eta}\x1b[K")
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


def run_audit(input_path: str, out_dir: str, *, rules_dir: str | None = None, jobs: int | None = None,
              log_path: str | None = None, tool_version: str = "", progress: TextIO | None = None) -> AuditReport:
    """Assess every record of ``input_path`` and write the outputs into ``out_dir``.

    Raises ``RuleSetError`` (the rule set is broken), ``CorpusError`` (the input cannot be
    read) or ``OutputError`` (an output cannot be written); an invalid *record* never raises.
    """
    from .advisor import Advisor
    from .decision_log import DecisionLog, entry

    started = time.monotonic()
    advisor = Advisor.load(rules_dir)  # fails fast (exit 4) before any output exists
    ruleset = advisor.ruleset
    corpus = Corpus(input_path)
    jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    try:
        os.makedirs(out_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise OutputError([Problem(out_dir, None, "", f"cannot create folder: {exc.strerror or exc}")]) from None
    log = DecisionLog(log_path) if log_path else None
    rs_info = {"name": ruleset.name, "version": ruleset.version, "sha256": ruleset.sha256}
    tally = Tally(ruleset)
    files: dict[str, PartialFile | None] = {name: None for name in OUTPUTS}
    bar = Progress(progress, corpus.estimated_total) if progress is not None else None
    try:
        for name in OUTPUTS:
            files[name] = PartialFile(os.path.join(out_dir, name))
        decisions, errors, overrides = (files[n] for n in OUTPUTS[:3])
        pending_log: list[dict[str, Any]] = []
        assert decisions and errors and overrides
        for results in ordered_map(corpus.records(), _audit_init, _audit_one, (rules_dir,), jobs):
            lines: list[str] = []
            bad: list[str] = []
            departed: list[str] = []
            for kind, payload in results:
                if kind != "ok":
                    tally.add_invalid(engine=kind == "engine")
                    bad.append(json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n")
                    continue
                line, o = payload
                lines.append(line + "\n")
                departure = tally.add(o)
                if departure is not None:
                    departed.append(json.dumps(departure, ensure_ascii=False, separators=(",", ":")) + "\n")
                if log is not None:
                    pending_log.append(_log_entry(entry, o, rs_info, tool_version))
            if lines:
                decisions.write("".join(lines))
            if bad:
                errors.write("".join(bad))
            if departed:
                overrides.write("".join(departed))
            if log is not None and len(pending_log) >= LOG_BATCH:  # one locked, synced append per batch
                log.append(pending_log)
                pending_log = []
            if bar is not None:
                bar.update(tally.records)
        if log is not None:
            log.append(pending_log)
        if bar is not None:
            bar.update(tally.records, final=True)
        summary = tally.as_dict(input_path=input_path, input_kind=corpus.kind, input_sha256=corpus.sha256,
                                tool_version=tool_version, departures_file="overrides.jsonl")
        for name in OUTPUTS[:3]:
            files[name].close()  # type: ignore[union-attr]
        _write_summaries(files, summary)
        for name in OUTPUTS:
            files[name].commit()  # type: ignore[union-attr]
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt):  # an interrupted run keeps its .partial files
            for f in files.values():
                if f is not None:
                    f.discard()
        raise
    return AuditReport(tally.records, tally.records - tally.invalid - tally.engine_errors, tally.invalid,
                       tally.engine_errors, out_dir, time.monotonic() - started, summary)


def _log_entry(make: Callable[..., dict[str, Any]], o: Outcome, rs_info: dict[str, str], tool_version: str) -> dict[str, Any]:
    return make(o.case_id, o.intake_sha256, rs_info, tool_version, o.format, o.focus_primary, o.focus_secondary,
                o.flags, o.status)


def _write_summaries(files: dict[str, PartialFile | None], summary: dict[str, Any]) -> None:
    js, md, overrides = files["summary.json"], files["summary.md"], files["overrides.jsonl"]
    assert js and md and overrides
    js.write(summary_json(summary))
    with open(overrides.partial, "rb") as handle:
        departures = (json.loads(line) for line in handle)
        for piece in render_summary_md(summary, departures):
            md.write(piece)


def default_progress() -> TextIO | None:
    """stderr when it is a terminal (a progress line helps there), else nothing."""
    return sys.stderr if sys.stderr.isatty() else None

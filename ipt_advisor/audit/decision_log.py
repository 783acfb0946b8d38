"""An append-only, hash-chained decision log: what was decided, when, from which input and rules.

One JSON line per decision::

    {"time": "2026-11-02T09:14:03.512Z", "case": "C-2026-0042", "intake_sha256": "...",
     "ruleset": {"name": "...", "version": "...", "sha256": "..."}, "tool": "0.1.0",
     "format": "group", "focus": {"primary": "grief", "secondary": null},
     "flags": ["SUICIDE_IDEATION"], "status": "complete", "prev": "<hash of the entry before>",
     "hash": "<sha256 of this entry without 'hash', as canonical JSON>"}

* ``site`` and ``clinician`` (intake-v1 Additions, pseudonymous codes) follow ``status``
  when the intake carries them, and are absent otherwise: an entry without them is byte for
  byte what it was before they existed, so older logs still verify.

* Only ids, hashes and coded values: no free text from an intake (notes, reasons) ever
  enters the log. ``time`` is the only field that differs between two runs.
* ``prev`` of the first entry is 64 zeros; every later ``prev`` is the previous entry's
  ``hash``. Editing, inserting, deleting or reordering an entry breaks the chain, which
  :func:`verify` finds and names. Removing entries *at the end* cannot be seen from the
  file alone: keep the last hash ``verify`` prints somewhere else to detect that too.
* Writers append with ``O_APPEND`` under an exclusive ``flock``, reading the last entry's
  hash inside the lock, so concurrent ``assess --log`` and ``audit --log`` runs interleave
  whole entries and keep one valid chain. The file is created owner-only (0o600).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from ..core.errors import IptError, OutputError, Problem
from ..core.jsonline import canonical_bytes, dumps

GENESIS = "0" * 64
_FIELDS = ("time", "case", "intake_sha256", "ruleset", "tool", "format", "focus", "flags", "status", "prev", "hash")
_OPTIONAL = ("site", "clinician")  # pseudonymous codes, present only when the intake has them
_TAIL = 8192  # bytes read back from the end to find the last entry (an entry is ~400 bytes)


class LogError(IptError):
    """The decision log is broken: its chain does not verify."""


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash is computed over: sorted keys, no spaces, UTF-8 (the one canonical JSON)."""
    return canonical_bytes(entry)


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of ``entry`` without its ``hash`` key."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def entry(
    case_id: str,
    intake_sha256: str,
    ruleset: dict[str, str],
    tool_version: str,
    fmt: str,
    focus_primary: str | None,
    focus_secondary: str | None,
    flags: Iterable[str],
    status: str,
    site: str | None = None,
    clinician: str | None = None,
) -> dict[str, Any]:
    """A log entry without ``time``, ``prev`` and ``hash`` (those are set when appended)."""
    out = {
        "case": case_id,
        "intake_sha256": intake_sha256,
        "ruleset": {"name": ruleset["name"], "version": ruleset["version"], "sha256": ruleset["sha256"]},
        "tool": tool_version,
        "format": fmt,
        "focus": {"primary": focus_primary, "secondary": focus_secondary},
        "flags": list(flags),
        "status": status,
    }
    for key, value in (("site", site), ("clinician", clinician)):
        if value is not None:
            out[key] = value
    return out


def entry_for(decision: dict[str, Any], intake_sha256: str, tool_version: str) -> dict[str, Any]:
    """The log entry for one decision-v1 object."""
    return entry(
        decision["intake_id"],
        intake_sha256,
        decision["ruleset"],
        tool_version,
        decision["recommendation"]["format"],
        decision["focus"]["primary"],
        decision["focus"]["secondary"],
        (f["code"] for f in decision["flags"]),
        decision["status"],
        decision.get("site"),
        decision.get("clinician"),
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def now() -> str:
    """The log's time stamp: UTC, milliseconds, ``Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def link(item: dict[str, Any], prev: str, stamp: str) -> dict[str, Any]:
    """A whole entry: ``item`` (from :func:`entry`) stamped, chained to ``prev`` and hashed.
    Storage-neutral: the file log here and the web app's database chain both use it."""
    full = {"time": stamp, **item, "prev": prev}
    full["hash"] = entry_hash(full)
    return full


def entry_text(full: dict[str, Any]) -> str:
    """An entry as one line of the log, without the newline."""
    return dumps(full)


def is_entry_shape(value: Any) -> bool:
    """Whether ``value`` has exactly the keys of an entry: all of ``_FIELDS``, and of the
    optional codes only those it carries."""
    return isinstance(value, dict) and set(_FIELDS) <= set(value) <= set(_FIELDS) | set(_OPTIONAL)


class DecisionLog:
    """Appends entries to one log file, keeping the hash chain.

    A writer killed half-way through its append (SIGKILL, a power cut) leaves a last line
    without its newline. The next writer, under the lock (so that writer is gone), cuts
    that half line off, says so through ``warn`` and goes on: one dead writer must not stop
    every clinician from logging."""

    def __init__(self, path: str, warn: Callable[[str], None] | None = None):
        self.path = path
        self.warn = warn

    def _fail(self, reason: str) -> OutputError:
        return OutputError([Problem(self.path, None, "", f"cannot append to the decision log: {reason}")])

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Chain and append ``entries`` (from :func:`entry`) in one write, under an exclusive lock."""
        if not entries:
            return
        with self.locked() as log:
            log.write(log.chain(entries)[0])

    @contextmanager
    def locked(self) -> Iterator["LockedLog"]:
        """The log opened for appending under its exclusive lock (a half last line cut off)."""
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise self._fail(exc.strerror or str(exc)) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise self._fail("not a regular file")
                size = os.fstat(fd).st_size
                if size == 0:
                    os.fchmod(fd, 0o600)  # a new file: owner-only whatever the umask
                size = self._cut_half_line(fd, size)
                prev = self._last_hash(fd, size)
            except OSError as exc:
                raise self._fail(exc.strerror or str(exc)) from None
            yield LockedLog(self, fd, size, prev)
        finally:
            os.close(fd)  # closing releases the lock

    def _cut_half_line(self, fd: int, size: int) -> int:
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        start = max(0, size - _TAIL)
        while True:
            tail = os.pread(fd, size - start, start)
            if b"\n" in tail or start == 0:
                break
            start = max(0, start - _TAIL)
        keep = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        os.ftruncate(fd, keep)
        os.fsync(fd)
        if self.warn is not None:
            self.warn(
                f"{self.path}: cut off an incomplete last line ({size - keep:,} bytes) that a writer "
                "stopped half-way left; the entries before it are kept"
            )
        return keep

    def _last_hash(self, fd: int, size: int) -> str:
        if size == 0:
            return GENESIS
        start = max(0, size - _TAIL)
        tail = os.pread(fd, size - start, start)
        while not tail.rstrip(b"\n").count(b"\n") and start > 0:  # an unusually long last line
            start = max(0, start - _TAIL)
            tail = os.pread(fd, size - start, start)
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            value = json.loads(last)
            stored = value["hash"]
            ok = isinstance(stored, str) and entry_hash(value) == stored
        except (ValueError, KeyError, TypeError, RecursionError):
            raise self._fail("its last line is not a log entry; run `ipt-advisor log verify` on it") from None
        if not ok:
            raise self._fail("its last entry does not match its hash; run `ipt-advisor log verify` on it")
        return stored


class LockedLog:
    """A decision log held under its lock: where it ends and the hash entries chain from."""

    def __init__(self, log: DecisionLog, fd: int, size: int, last_hash: str):
        self.log, self.fd, self.size, self.last_hash = log, fd, size, last_hash

    def chain(self, entries: list[dict[str, Any]]) -> tuple[bytes, str, str]:
        """(the lines to append, the hash of the last one, their shared time) for ``entries``."""
        prev, stamp, lines = self.last_hash, now(), []
        for item in entries:
            full = link(item, prev, stamp)
            prev = full["hash"]
            lines.append(entry_text(full) + "\n")
        return "".join(lines).encode("utf-8"), prev, stamp

    def write(self, data: bytes) -> None:
        """Append ``data`` and sync; on failure cut the log back to where it ended."""
        try:
            try:
                _write_all(self.fd, data)
                os.fsync(self.fd)
            except OSError:
                # a full disk can take half of the write: cut it back (the lock is still held,
                # nobody else appended), so the log still ends with a whole, chained entry
                os.ftruncate(self.fd, self.size)
                raise
        except OSError as exc:
            raise self.log._fail(exc.strerror or str(exc)) from None
        self.size += len(data)

    def entries_from(self, offset: int, count: int, stamp: str) -> int:
        """How many whole entries stamped ``stamp`` follow each other from ``offset`` (at most
        ``count``): what an append killed half-way got into the log (one append shares one time)."""
        found, pos, rest = 0, offset, b""
        while found < count and pos < self.size:
            block = os.pread(self.fd, min(1 << 20, self.size - pos), pos)
            if not block:
                break
            pos += len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                try:
                    value = json.loads(raw)
                except (ValueError, RecursionError):
                    return found
                if not isinstance(value, dict) or value.get("time") != stamp:
                    return found
                found += 1
                if found == count:
                    return found
        return found


# --------------------------------------------------------------------------- verification


def _rows(path: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, entry or None when the line is not an entry) for every non-blank line."""
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw)
                except (ValueError, RecursionError):  # RecursionError: a line nested thousands deep
                    value = None
                ok = is_entry_shape(value) and isinstance(value.get("hash"), str) and isinstance(value.get("prev"), str)
                yield number, value if ok else None
    except OSError as exc:
        raise LogError([Problem(path, None, "", f"cannot read: {exc.strerror or exc}")]) from None


def verify(path: str) -> tuple[int, str]:
    """Check the chain; return (entries, last hash) or raise ``LogError`` naming the first break.

    Two streaming passes (the first only indexes each entry's hash by line), so a log of any
    length is checked in little memory. What a break most likely was, as far as the file
    can tell:

    * an entry whose own hash does not match its content was **edited**;
    * an entry whose ``prev`` names an entry further up than the line before it follows
      **inserted** lines (or, when the next line continues the chain, it is the inserted one);
    * an entry whose ``prev`` names an entry further down was **reordered**;
    * an entry whose ``prev`` is found nowhere: the entry before it was **deleted** (or rewritten).
    """
    hashes: dict[str, int] = {}
    for number, value in _rows(path):
        if value is not None:
            hashes.setdefault(value["hash"], number)

    def broken(line: int, message: str) -> LogError:
        return LogError([Problem(path, line, "", message)])

    rows = _rows(path)
    current = next(rows, None)
    prev_hash, prev_line, count = GENESIS, 0, 0
    while current is not None:
        number, value = current
        following = next(rows, None)
        if value is None:
            raise broken(number, "not a decision-log entry: the line was edited or damaged")
        if entry_hash(value) != value["hash"]:
            raise broken(number, "entry was edited: its content does not match its hash")
        if value["prev"] != prev_hash:
            origin = hashes.get(value["prev"])
            before = f"line {prev_line}" if prev_line else "the start"
            if origin is not None and origin > number:
                raise broken(number, f"entries were reordered: this entry belongs after line {origin}")
            if following is not None and following[1] is not None and following[1]["prev"] == prev_hash:
                raise broken(number, f"an entry was inserted here: line {following[0]} follows {before}")
            if origin is not None:
                raise broken(number, f"entries were inserted: this entry follows line {origin}, not {before}")
            if value["prev"] == GENESIS:
                raise broken(number, f"entries were inserted: this entry starts a chain, yet follows {before}")
            if not prev_line:
                raise broken(number, "entries were deleted before this first line: the chain does not start here")
            raise broken(number, f"an entry was deleted after line {prev_line}, or line {prev_line} was rewritten")
        prev_hash, prev_line, count = value["hash"], number, count + 1
        current = following
    return count, prev_hash

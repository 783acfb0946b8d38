"""A batch of intakes read as a stream of raw records, in input order.

Three input kinds, chosen by what INPUT is:

* a folder: its ``*.yaml``, ``*.yml`` and ``*.json`` files (hidden files skipped), sorted
  by name, one intake per file;
* a JSON Lines file (``.jsonl`` / ``.ndjson``): one intake per non-blank line;
* a CSV file (``.csv``): a header of dotted paths (``findings.grief.present``), one intake
  per row; an empty cell means the field is absent.

Reading and validating are split on purpose: :class:`Corpus` only reads (cheap, in the
parent process, one record at a time so memory stays flat whatever the input size) and
:func:`parse` turns one :class:`RawRecord` into an :class:`~ipt_advisor.intake.schema.Intake`
(the costly part, run in worker processes). A record never stops the batch: whatever is
wrong with it is raised as an ``IntakeError`` for that record alone.

While reading, the corpus hashes its input (:attr:`Corpus.sha256`), so a summary can name
exactly which bytes were audited.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from typing import Any, Iterator, NamedTuple

import orjson

from ..core import yamlio
from ..core.errors import IntakeError, IptError, Problem
from ..core.jsonline import keys_and_floats
from .schema import KNOWN_KEYS, Intake, coerce_strings, from_mapping, load_intake

__all__ = ["Corpus", "CorpusError", "RawRecord", "parse", "redacted_problems", "FOLDER_SUFFIXES"]

FOLDER_SUFFIXES = (".yaml", ".yml", ".json")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
#: The largest record accepted, as for one intake file.
MAX_RECORD_BYTES = yamlio.MAX_BYTES
_UNDECODED = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of a byte that is not UTF-8
# the CSV reader refuses a cell larger than its limit (131,072 by default): as large as a record
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))


class CorpusError(IptError):
    """The batch input as a whole cannot be read (missing, wrong kind, unreadable header)."""


class RawRecord(NamedTuple):
    """One record as read, not yet validated; a tuple so it is cheap to send to a worker."""

    index: int  # type: ignore[assignment]  # 0-based position in the input (shadows tuple.index, on purpose)
    source: str  # the file shown in messages
    line: int | None  # where the record starts (JSONL line, CSV row); None for a folder file
    kind: str  # "doc" (YAML/JSON text), "json" (one JSON line), "row" (CSV cells)
    data: Any  # bytes for doc/json, dict[str, str] for row
    problem: str | None = None  # what the reader already found wrong (a line too long, ...)


class _HashingReader(io.RawIOBase):
    """A binary file that feeds every byte it reads into a hash (CSV goes through text decoding)."""

    def __init__(self, raw: Any, digest: Any):
        self._raw = raw
        self._digest = digest
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self._digest.update(memoryview(buffer)[:n])
            self.consumed += n
        return n or 0


def _hash_into(path: str, digest: Any) -> int:
    """Feed the file's bytes into ``digest``; returns its size."""
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    _hash_into(path, digest)
    return digest.hexdigest()


class Corpus:
    """The records of one batch input; iterate :meth:`records` once."""

    def __init__(self, path: str):
        self.path = path
        self.kind = self._kind(path)
        self._digest = hashlib.sha256()
        self._done = False
        self._size = 0  # bytes (jsonl, csv) or files (folder), for progress
        self._consumed = 0
        self._read = 0  # records yielded so far
        self._names: list[str] = []
        #: problems with the input as a whole found while reading (a CSV quote never closed):
        #: the records are all accounted for, but the run must not report success
        self.damage: list[Problem] = []
        if self.kind == "folder":
            try:
                names = os.listdir(path)
            except OSError as exc:
                raise self._error(f"cannot read folder: {exc.strerror or exc}") from None
            # names only (not contents): sorting needs them all, and they are small
            self._names = sorted(
                n
                for n in names
                if n.lower().endswith(FOLDER_SUFFIXES)
                and not n.startswith(".")
                and os.path.isfile(os.path.join(path, n))
            )
            self._size = len(self._names)
        else:
            try:
                info = os.stat(path)
            except OSError as exc:
                raise self._error(f"cannot read file: {exc.strerror or exc}") from None
            if not stat.S_ISREG(info.st_mode):  # a pipe cannot be read twice, /dev/zero never ends
                raise self._error(
                    "cannot read: not a regular file (a pipe or a device); save the intakes to a file first"
                )
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise self._error(f"cannot read file: {exc.strerror or exc}") from None
            self._size = info.st_size

    def _error(self, message: str, line: int | None = None) -> CorpusError:
        return CorpusError([Problem(self.path, line, "", message)])

    def _kind(self, path: str) -> str:
        if os.path.isdir(path):
            return "folder"
        lower = path.lower()
        if lower.endswith(JSONL_SUFFIXES):
            return "jsonl"
        if lower.endswith(CSV_SUFFIXES):
            return "csv"
        if not os.path.exists(path):
            raise self._error("cannot read: no such file or folder")
        raise self._error("expected a folder of .yaml/.json intakes, a .jsonl file or a .csv file")

    @property
    def sha256(self) -> str:
        """SHA-256 of the input: the file's bytes, or for a folder the list of
        ``name NUL sha256-of-file`` lines in reading order. Known once fully read."""
        if not self._done:
            raise RuntimeError("the input's sha256 is known only after every record was read")
        return self._digest.hexdigest()

    def fingerprint(self) -> dict[str, Any]:
        """What the input is now, known before reading it (an audit saves it so that
        ``--resume`` can refuse an input that changed): its size and the sha256 of its bytes,
        for a folder the number of intake files and a sha256 over each one's name and the
        sha256 of its content. Contents, not sizes and times: ``cp -p``, ``rsync -t`` and tar
        keep both across an edit. One extra sequential read (a few ms per 10 MB)."""
        digest = hashlib.sha256()
        if self.kind == "folder":
            for name in self._names:
                try:
                    stamp = _file_sha256(os.path.join(self.path, name))
                except OSError:
                    stamp = "-"
                digest.update(f"{name}\0{stamp}\n".encode("utf-8", "surrogateescape"))
            return {"files": len(self._names), "sha256": digest.hexdigest()}
        try:
            size = _hash_into(self.path, digest)
        except OSError as exc:
            raise self._error(f"cannot read file: {exc.strerror or exc}") from None
        return {"bytes": size, "sha256": digest.hexdigest()}

    def progress(self) -> float | None:
        """Fraction of the input read so far (None when the size is unknown)."""
        return min(1.0, self._consumed / self._size) if self._size else None

    def estimated_total(self) -> float | None:
        """How many records the input holds: exact for a folder, else extrapolated from the
        bytes read so far (the reader runs ahead of the workers, so this settles early)."""
        if self.kind == "folder":
            return float(self._size)
        fraction = self.progress()
        return self._read / fraction if fraction else None

    def records(self) -> Iterator[RawRecord]:
        """Every record in input order; raises ``CorpusError`` if the input breaks mid-way."""
        reader = {"folder": self._folder, "jsonl": self._jsonl, "csv": self._csv}[self.kind]
        for record in reader():
            self._read += 1
            yield record
        self._done = True

    def _folder(self) -> Iterator[RawRecord]:
        for index, name in enumerate(self._names):
            source = os.path.join(self.path, name)
            problem = None
            try:
                with open(source, "rb") as handle:
                    data = handle.read(MAX_RECORD_BYTES + 1)  # one byte over: "too large"
            except OSError as exc:
                data, problem = b"", f"cannot read file: {exc.strerror or exc}"
            self._digest.update(f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode("utf-8", "surrogateescape"))
            self._consumed = index + 1
            yield RawRecord(index, source, None, "doc", data, problem)

    def _jsonl(self) -> Iterator[RawRecord]:
        index = 0
        try:
            handle = open(self.path, "rb")
        except OSError as exc:
            raise self._error(f"cannot read file: {exc.strerror or exc}") from None
        with handle:
            number = 0
            while True:
                line = handle.readline(MAX_RECORD_BYTES + 1)
                if not line:
                    break
                number += 1
                self._digest.update(line)
                self._consumed += len(line)
                problem = None
                if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                    # skip the rest of an over-long line without holding it
                    while more := handle.readline(1 << 20):
                        self._digest.update(more)
                        self._consumed += len(more)
                        if more.endswith(b"\n"):
                            break
                    line, problem = b"", f"line is larger than {MAX_RECORD_BYTES} bytes"
                elif not line.strip():
                    continue
                yield RawRecord(index, self.path, number, "json", line, problem)
                index += 1

    def _csv(self) -> Iterator[RawRecord]:
        try:
            raw = open(self.path, "rb", buffering=0)
        except OSError as exc:
            raise self._error(f"cannot read file: {exc.strerror or exc}") from None
        hashing = _HashingReader(raw, self._digest)
        # undecodable bytes become lone surrogates, so a bad row is one invalid record, not a dead file
        text = io.TextIOWrapper(io.BufferedReader(hashing), encoding="utf-8-sig", errors="surrogateescape", newline="")
        # strict: a stray quote is an error on its row (not silently glued into a cell); the
        # reader goes on at the next line after an error, so the batch goes on too
        reader = csv.reader(text, strict=True)
        with raw:
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise self._error(f"malformed CSV header: {_csv_problem(exc, 1, reader.line_num)}", 1) from None
            if header is None:
                raise self._error("file is empty: expected a header of dotted field names")
            seen: set[str] = set()
            if _UNDECODED.search("".join(header)):
                raise self._error("not UTF-8 text", 1)
            for column in header:
                if column in seen:
                    raise self._error(f"column {column!r} appears twice in the header", 1)
                seen.add(column)
            index, last = 0, reader.line_num
            while True:
                start = last + 1
                try:
                    row = next(reader, None)
                except csv.Error as exc:
                    last = reader.line_num
                    self._consumed = hashing.consumed
                    problem = _csv_problem(exc, start, last)
                    if str(exc).startswith("unexpected end of data"):
                        self.damage.append(Problem(self.path, start, "", problem))
                    yield RawRecord(index, self.path, start, "row", {}, problem)
                    index += 1
                    continue
                if row is None:
                    break
                last = reader.line_num
                self._consumed = hashing.consumed
                if not row or not any(cell.strip() for cell in row):
                    continue
                if _UNDECODED.search("".join(row)):
                    yield RawRecord(index, self.path, start, "row", {}, "not UTF-8 text")
                else:
                    cells: dict[Any, Any] = dict(zip(header, row))
                    if len(row) > len(header):
                        cells[None] = row[len(header) :]  # as csv.DictReader does: coerce_strings reports it
                    yield RawRecord(index, self.path, start, "row", cells)
                index += 1
            # what the CSV reader did not need (a trailing newline) still belongs to the hash
            while hashing.read(1 << 16):
                pass


def _csv_problem(exc: Exception, start: int, end: int) -> str:
    """A CSV reader error in words (never the cell's text: it may be free text)."""
    message = str(exc)
    if message.startswith("unexpected end of data"):
        return (
            f"a quoted cell starting on this row runs to the end of the file ({end - start + 1} lines): "
            "a closing quote is missing, so the rows after it could not be read"
        )
    if message.startswith("field larger than field limit"):
        return f"a cell is larger than {MAX_RECORD_BYTES:,} characters"
    if "expected after" in message:
        return "a quote inside a cell that does not start with one: quote the whole cell and double the quote"
    return "malformed CSV row: " + message.split(":")[0][:80]


# --------------------------------------------------------------------------- parsing


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


# A key in JSON text is a string followed by a colon: every key makes at least one match.
_KEY_END = re.compile(rb'"\s*:')
# orjson stops at 1,024 levels of nesting, the standard library near 1,000 (RecursionError):
# a text that could come near either goes to the standard library, whose limit is the contract
_FAST_BRACKETS = 512


def _may_repeat_keys(data: bytes, keys: int) -> bool:
    """Whether a JSON text that parsed to ``keys`` keys could hold a duplicate key.

    Every key in the text is followed by a colon of its own, and matches ``_KEY_END``,
    so both counts are at least the keys the text holds; a duplicate leaves one more key
    in the text than in the value.  When either count equals ``keys`` there is none.  A
    colon, or a ``":``, inside a string value only makes a count larger: the text goes to
    the duplicate-refusing parse, never lets a duplicate through.  One byte counts in
    ~0.1 µs; the regex, on the lines with colons in their text, in ~5 µs."""
    return keys != data.count(b":") and keys != len(_KEY_END.findall(data))


def _load_json(data: bytes) -> Any:
    """``json.loads`` that refuses duplicate keys and NaN/Infinity.

    orjson reads first (three times faster than ``json.loads``): its value is kept only
    when the standard library would give the same, i.e. when it read the text at all
    (it refuses what json refuses, and more: a lone surrogate, a byte order mark), the
    value holds no float (see ``keys_and_floats``) and no key can be a duplicate.  Anything
    else is read by the standard library as before, so values and messages are json's.

    The hook that refuses duplicate keys runs in Python and costs about twice the parse,
    so it runs only when a duplicate is possible (``_may_repeat_keys``)."""
    if data.count(b"{") + data.count(b"[") < _FAST_BRACKETS:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard library below says what is wrong, in its words
        else:
            keys, floats = keys_and_floats(value)
            if not floats and not _may_repeat_keys(data, keys):
                return value
    value = json.loads(data, parse_constant=_reject_constant)
    if _may_repeat_keys(data, keys_and_floats(value)[0]):
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    return value


def parse(record: RawRecord) -> Intake:
    """Validate one raw record; raises ``IntakeError`` whose problems carry the record's
    source and line (for JSONL and CSV the record's line, as their values have no own line)."""
    source, line = record.source, record.line
    if record.problem is not None:
        raise IntakeError([Problem(source, line, "", record.problem)])
    if record.kind == "doc":
        return load_intake(record.data, source)
    if record.kind == "json":
        try:
            value = _load_json(record.data)
        except _Duplicate as exc:
            key = exc.args[0]
            if key in KNOWN_KEYS:
                raise IntakeError([Problem(source, line, str(key), "duplicate key")]) from None
            raise IntakeError(
                [
                    Problem(
                        source,
                        line,
                        "",
                        f"duplicate key: an unknown key, {len(key):,} character{'s' if len(key) != 1 else ''}",
                    )
                ]
            ) from None
        except UnicodeDecodeError as exc:
            raise IntakeError([Problem(source, line, "", f"not UTF-8 text (byte {exc.start})")]) from None
        except (ValueError, RecursionError) as exc:
            column = getattr(exc, "colno", None)
            where = f" (column {column})" if column else ""
            message = getattr(exc, "msg", None) or str(exc)
            if "integer string conversion" in message:  # Python's own words for a huge number
                message = "a number has more than 4,300 digits"
            elif isinstance(exc, RecursionError):
                message = "nesting is too deep"
            message = message[:120]
            raise IntakeError([Problem(source, line, "", f"malformed JSON: {message}{where}")]) from None
        return _at_line(value, source, line)
    nested, problems = coerce_strings(record.data, source, line or 0)
    if problems:
        try:
            from_mapping(nested, None, source)
        except IntakeError as exc:  # report the cell problems and the record's own together
            problems += [p for p in exc.problems if not any(p.path == q.path for q in problems)]
        raise IntakeError([Problem(p.source, line, p.path, p.message) for p in problems])
    return _at_line(nested, source, line)


def _at_line(value: Any, source: str, line: int | None) -> Intake:
    try:
        return from_mapping(value, None, source)
    except IntakeError as exc:
        raise IntakeError([Problem(p.source, line, p.path, p.message) for p in exc.problems]) from None


# --------------------------------------------------------------------------- redaction

# A quoted value inside a message: Python repr of a str, either quote style.
_QUOTED = re.compile(r"""(did you mean )?('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
# A whole path segment that is a quoted key (an unknown key written as a sentence).
_TEXT = "<text>"


def redact(text: str) -> str:
    """``text`` with every quoted value replaced by ``<text>``; a suggestion that comes from
    the schema ("did you mean 'grief'?") is kept. Batch outputs must never echo free text
    (notes, reasons) that a clinician typed into the wrong field."""
    return _QUOTED.sub(lambda m: m.group(0) if m.group(1) else _TEXT, text)


def redacted_problems(problems: tuple[Problem, ...] | list[Problem]) -> list[dict[str, Any]]:
    """Problems as JSON-ready dicts (line, path, message) with quoted values redacted."""
    return [{"line": p.line, "path": redact(p.path), "message": redact(p.message)} for p in problems]

"""A cache of loaded and checked rule sets, as JSON data, in the user's cache folder.

Reading the shipped rule set (160 KB of YAML with line numbers for every value), checking
its structure and linting it took ~100 ms of a ~250 ms ``assess``; the engine's guarded
first load (a forked child, see ``engine._load_within``) ~10 ms more. A rule set that
loaded cleanly is stored here and the next process reads it back in a few ms.

Why this is safe (SECURITY.md, "Rule-set cache"):

* JSON data only, never code: no pickle, marshal or bytecode. The decoder builds only the
  rule model's own dataclasses (:data:`CLASSES`), from their fields; anything else in the
  file is a mismatch.
* Owner-only: the folder is 0o700, the file 0o600, both owned by this user, the file not a
  link; the cache folder's parent must not be writable by others (unless sticky). Otherwise
  nothing is read or written.
* Keyed and verified: an entry names the tool version, the stat of every module of the
  package (editing the loader or lint invalidates it), the directory as given and resolved,
  and the sha256 of every file of the rule-set folder (any ``*.yaml``/``*.yml`` under it and
  every file the load read). The body carries its own sha256. Any mismatch, a torn or
  corrupt file, a wrong type: a full load, silently, and a fresh entry.
* Written whole: to a temp file (``O_EXCL | O_NOFOLLOW``, 0o600) in the folder, then
  renamed over the entry, so concurrent writers never leave a mixed file.
* Checked at write time: the entry is decoded again and must encode to the same bytes
  (the codec is type-tagged, so equal bytes mean an equal typed structure).

``IPT_ADVISOR_NO_CACHE=1`` turns it off; ``XDG_CACHE_HOME`` moves it.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .core import model
from .ruleset import handout

FORMAT = 1
NAME = "ipt-advisor"
#: The classes an entry may build: the rule model's dataclasses and the handout's, by name.
CLASSES: dict[str, type] = {name: cls for module in (model, handout) for name, cls in vars(module).items()
                            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__}
_FIELDS: dict[type, tuple[tuple[str, ...], tuple[tuple[str, Any], ...]]] = {}


class Uncacheable(Exception):
    """The value holds something the codec does not carry (then nothing is written)."""


# --------------------------------------------------------------------------- codec

def _fields(cls: type) -> tuple[tuple[str, ...], tuple[tuple[str, Any], ...]]:
    """(the fields an entry carries, in order; the init=False ones with their factory)."""
    if cls not in _FIELDS:
        fs = dataclasses.fields(cls)
        _FIELDS[cls] = (tuple(f.name for f in fs if f.init),
                        tuple((f.name, f.default_factory) for f in fs if not f.init))
    return _FIELDS[cls]


def encode(value: Any) -> Any:
    """JSON-ready and type-tagged: scalars as themselves, ``["t", ...]`` a tuple, ``["l", ...]``
    a list, ``["d", k, v, ...]`` a dict (any keys), ``["o", class, field, ...]`` a model object,
    ``["date", iso]`` / ``["datetime", iso]`` a date (with its time zone, if any)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise Uncacheable("a float JSON cannot carry")
        return value
    if kind is tuple:
        return ["t", *map(encode, value)]
    if kind is list:
        return ["l", *map(encode, value)]
    if kind is dict:
        out: list[Any] = ["d"]
        for k, v in value.items():
            out += (encode(k), encode(v))
        return out
    if kind is datetime.date:  # YAML dates (a rule test's intake, governance)
        return ["date", value.isoformat()]
    if kind is datetime.datetime:
        return ["datetime", value.isoformat()]
    name = kind.__name__
    if CLASSES.get(name) is kind:
        return ["o", name, *(encode(getattr(value, f)) for f in _fields(kind)[0])]
    raise Uncacheable(f"a {name} value")


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`; ``ValueError``/``KeyError``/``TypeError`` on anything else."""
    if type(data) is not list:
        if data is None or type(data) in (bool, int, float, str):
            return data
        raise ValueError("not an encoded value")
    tag = data[0]
    if tag == "t":
        return tuple(decode(v) for v in data[1:])
    if tag == "l":
        return [decode(v) for v in data[1:]]
    if tag == "d":
        items = data[1:]
        if len(items) % 2:
            raise ValueError("a dict with an odd item count")
        return {decode(items[i]): decode(items[i + 1]) for i in range(0, len(items), 2)}
    if tag == "o":
        cls = CLASSES[data[1]]
        names, extra = _fields(cls)
        values = data[2:]
        if len(values) != len(names):
            raise ValueError(f"{data[1]}: {len(values)} fields, expected {len(names)}")
        obj = object.__new__(cls)
        # the fields as the loader built them (a Leaf's list already a tuple): no __init__ needed
        obj.__dict__.update(zip(names, map(decode, values)))
        for name, factory in extra:
            obj.__dict__[name] = factory()
        return obj
    if tag == "date" and len(data) == 2:
        return datetime.date.fromisoformat(data[1])
    if tag == "datetime" and len(data) == 2:
        return datetime.datetime.fromisoformat(data[1])
    raise ValueError(f"unknown tag {tag!r}")


# --------------------------------------------------------------------------- where, and the key

def folder() -> Path | None:
    """The cache folder (not created), or None if caching is off or unsafe here."""
    if os.environ.get("IPT_ADVISOR_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / NAME


def _safe_parent(path: Path) -> bool:
    """A folder others cannot write into (or sticky, like /tmp): a planted entry stays out."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and (not st.st_mode & 0o022 or bool(st.st_mode & stat.S_ISVTX))


def _private_dir(path: Path) -> bool:
    """The folder exists, is ours, a real folder and owner-only."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700


def _code_stamp() -> str:
    """Every module of the package by path, size and mtime: edited code is another key."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        try:
            st = path.stat()
        except OSError:
            continue
        h.update(f"{path.relative_to(package)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _entry_name(root: Path, shown: str) -> str:
    where = f"{FORMAT}\0{__version__}\0{sys.version_info[:2]}\0{root.resolve()}\0{shown}"
    return "ruleset-" + hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".json"


def _files_digest(root: Path, read: list[str]) -> str | None:
    """sha256 over every YAML file under ``root`` and every file named in ``read``: names and
    bytes (None if one cannot be read: then no cache)."""
    try:
        listed = {p.relative_to(root).as_posix() for p in root.rglob("*.y*ml")}
    except OSError:
        return None
    h = hashlib.sha256()
    for name in sorted(listed | set(read)):
        try:
            data = (root / name).read_bytes()
        except OSError:
            return None
        h.update(name.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def _key(root: Path, shown: str, read: list[str]) -> str | None:
    files = _files_digest(root, read)
    if files is None:
        return None
    return hashlib.sha256(f"{FORMAT}\0{__version__}\0{_code_stamp()}\0{root.resolve()}\0{shown}\0{files}".encode(
        "utf-8", "surrogateescape")).hexdigest()


# --------------------------------------------------------------------------- read and write

def read(root: Path, shown: str) -> tuple[model.RuleSet, str] | None:
    """(the cached rule set, the sha256 of the engine definition that loaded in time) for the
    rule-set folder ``root`` shown as ``shown``, or None: no entry, or not this rule set's."""
    base = folder()
    if base is None or not _safe_parent(base.parent) or not _private_dir(base):
        return None
    try:
        fd = os.open(base / _entry_name(root, shown), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) != 0o600:
            return None
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            raw = handle.read()
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        head, _, body = raw.partition(b"\n")
        header = json.loads(head)
        if (header.get("format") != FORMAT or header.get("sha256") != hashlib.sha256(body).hexdigest()
                or header.get("key") != _key(root, shown, header.get("read", []))):
            return None
        ruleset = decode(json.loads(body))
        engine_ok = header["engine"]
        if type(ruleset) is not model.RuleSet or type(engine_ok) is not str:
            return None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
        return None
    return ruleset, engine_ok


def write(root: Path, shown: str, read_files: list[str], ruleset: model.RuleSet, engine_ok: str) -> None:
    """Store ``ruleset`` (loaded from ``root`` without a problem) for the next process;
    quietly nothing if it cannot be stored safely."""
    base = folder()
    if base is None:
        return
    try:
        body = json.dumps(encode(ruleset), ensure_ascii=False, separators=(",", ":")).encode()
        # what a reader will build must be what was loaded: the same typed structure
        if json.dumps(encode(decode(json.loads(body))), ensure_ascii=False, separators=(",", ":")).encode() != body:
            return
    except (Uncacheable, RecursionError, ValueError):
        return
    key = _key(root, shown, read_files)
    if key is None:
        return
    header = json.dumps({"format": FORMAT, "key": key, "read": read_files, "engine": engine_ok,
                         "sha256": hashlib.sha256(body).hexdigest()}, ensure_ascii=False).encode()
    try:
        if not _safe_parent(base.parent):
            return
        try:
            os.mkdir(base, 0o700)
        except FileExistsError:
            pass
        if not _private_dir(base):
            return
        target = base / _entry_name(root, shown)
        temp = base / f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            with os.fdopen(fd, "wb") as handle:
                fd = -1
                handle.write(header + b"\n" + body)
            os.replace(temp, target)  # atomic: a reader sees the old entry or the new, whole
        except BaseException:
            if fd >= 0:
                os.close(fd)
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise
    except OSError:
        return

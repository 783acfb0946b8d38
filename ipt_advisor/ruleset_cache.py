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
* Keyed and verified: an entry names the tool version, the size and mtime of every module
  of the package loaded when it was written (editing the loader or lint invalidates it) and
  of PyYAML and durable's C core,
  the directory as given and resolved, and the sha256 of every file of the rule-set folder
  (any ``*.yaml``/``*.yml`` under it and every file the load read). The body carries its
  own sha256. Any mismatch, a torn or
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
from .core.jsonline import canonical_bytes
from .ruleset import compile as compiled_form, handout

FORMAT = 1
NAME = "ipt-advisor"
#: The classes an entry may build: the dataclasses of the rule model, the handout and the
#: compiled form, by name (no two share one).
CLASSES: dict[str, type] = {
    name: cls
    for module in (model, handout, compiled_form)
    for name, cls in vars(module).items()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
}
assert len(CLASSES) == len({cls.__name__ for cls in CLASSES.values()})
_FIELDS: dict[type, tuple[str, ...]] = {}


class Uncacheable(Exception):
    """The value holds something the codec does not carry (then nothing is written)."""


# --------------------------------------------------------------------------- codec


def _fields(cls: type) -> tuple[str, ...]:
    """The fields an entry carries, in order: those the class's __init__ takes (an init=False
    field is made again by __init__ itself)."""
    if cls not in _FIELDS:
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return _FIELDS[cls]


def encode(value: Any) -> Any:
    """JSON-ready and type-tagged: scalars and lists as themselves, every other value as a
    JSON object of one kind: ``{"t": [...]}`` a tuple, ``{"d": [k, v, ...]}`` a dict (any
    keys), ``{"o": class, "f": [field, ...]}`` a model object, ``{"date": iso}`` /
    ``{"datetime": iso}`` a date (with its time zone, if any), ``{"fs": [...]}`` a frozenset."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise Uncacheable("a float JSON cannot carry")
        return value
    if kind is list:
        return [encode(v) for v in value]
    if kind is tuple:
        return {"t": [encode(v) for v in value]}
    if kind is frozenset:  # the compiled form's derived facts
        # sorted: a set's order follows the process's string hashes, and the round trip that
        # write() checks must give the same bytes (unsorted, one start in a few never wrote)
        return {"fs": sorted((encode(v) for v in value), key=canonical_bytes)}
    if kind is dict:
        out: list[Any] = []
        for k, v in value.items():
            out += (encode(k), encode(v))
        return {"d": out}
    if kind is datetime.date:  # YAML dates (a rule test's intake, governance)
        return {"date": value.isoformat()}
    if kind is datetime.datetime:
        return {"datetime": value.isoformat()}
    name = kind.__name__
    if CLASSES.get(name) is kind:
        return {"o": name, "f": [encode(getattr(value, f)) for f in _fields(kind)]}
    raise Uncacheable(f"a {name} value")


def _built(obj: dict[str, Any]) -> Any:
    """json's object hook: one encoded object (its parts already decoded) as its value;
    ``ValueError``/``KeyError``/``TypeError`` for anything :func:`encode` does not write."""
    if len(obj) == 2 and "o" in obj:
        cls = CLASSES[obj["o"]]
        names = _fields(cls)
        values = obj["f"]
        if type(values) is not list or len(values) != len(names):
            raise ValueError(f"{obj['o']}: not its fields")
        # built through the class itself, as the loader builds it: its __post_init__ runs and a
        # frozen object is never written into after it is made
        return cls(**dict(zip(names, values)))
    if len(obj) != 1:
        raise ValueError("not an encoded value")
    if "t" in obj:
        return tuple(obj["t"])
    if "d" in obj:
        items = obj["d"]
        if len(items) % 2:
            raise ValueError("a dict with an odd item count")
        return {items[i]: items[i + 1] for i in range(0, len(items), 2)}
    if "fs" in obj:
        return frozenset(obj["fs"])
    if "date" in obj:
        return datetime.date.fromisoformat(obj["date"])
    return datetime.datetime.fromisoformat(obj["datetime"])


def decode(text: bytes | str) -> Any:
    """The value :func:`encode` made, from its JSON text; an error (see ``_built``) if the
    text is anything else."""
    return json.loads(text, object_hook=_built)


def dumps(value: Any) -> bytes:
    return json.dumps(encode(value), ensure_ascii=False, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- where, and the key


def folder() -> Path | None:
    """The cache folder (not created), or None if caching is off or unsafe here."""
    if os.environ.get("IPT_ADVISOR_NO_CACHE") or not hasattr(os, "getuid"):  # owner checks need POSIX
        return None
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / NAME


def _safe_parent(path: Path) -> bool:
    """A folder others cannot write into (or sticky, like the shared temporary folder): a planted entry stays out."""
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


_TOP = __name__.partition(".")[0]


def _package() -> Path:
    return Path(sys.modules[_TOP].__file__ or "").resolve().parent


def loaded_code() -> list[str]:
    """The package's modules loaded so far (after a full load: every module that shaped the
    rule set), relative to the package folder."""
    package = _package()
    out = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if (name == _TOP or name.startswith(f"{_TOP}.")) and path:
            out.append(Path(path).resolve().relative_to(package).as_posix())
    return sorted(out)


#: the libraries whose code shapes a loaded rule set: PyYAML parses the rule files, and
#: durable's C core is what loaded the definition in time (both pinned, but an upgrade is
#: another key all the same)
#: (an upgrade rewrites every file of a package: its first module and C extension are enough)
LIBRARIES = ("yaml", "yaml._yaml", "_yaml", "durable_rules_engine")


def loaded_libraries() -> list[str]:
    """The files of LIBRARIES loaded so far (absolute: they live outside the package)."""
    out = set()
    for name in LIBRARIES:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            out.add(str(Path(path).resolve()))
    return sorted(out)


def _code_stamp(code: list[str]) -> str:
    """The modules ``code`` by path, size and mtime: edited code is another key (an edit
    that makes the loader import a new module edits a module listed here)."""
    package = _package()
    h = hashlib.sha256()
    for rel in code:  # an absolute path (a library's) stays itself under package / rel
        try:
            st = (package / rel).stat()
        except OSError:
            h.update(f"{rel}\0missing\n".encode())
            continue
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
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


def _key(root: Path, shown: str, read: list[str], code: list[str]) -> str | None:
    files = _files_digest(root, read)
    if files is None:
        return None
    where = f"{FORMAT}\0{__version__}\0{_code_stamp(code)}\0{root.resolve()}\0{shown}\0{files}"
    return hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()


# --------------------------------------------------------------------------- read and write


def read(root: Path, shown: str) -> tuple[model.RuleSet, str, compiled_form.Compiled] | None:
    """(the cached rule set, the sha256 of the engine definition that loaded in time, its
    compiled form) for the rule-set folder ``root`` shown as ``shown``, or None: no entry, or
    not this rule set's, or anything at all going wrong while reading it."""
    try:
        return _read(root, shown)
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
        return None  # UnicodeError and json's errors are ValueErrors


def _read(root: Path, shown: str) -> tuple[model.RuleSet, str, compiled_form.Compiled] | None:
    base = folder()
    if base is None or not _safe_parent(base.parent) or not _private_dir(base):
        return None
    fd = os.open(base / _entry_name(root, shown), os.O_RDONLY | os.O_NOFOLLOW)
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
    head, _, body = raw.partition(b"\n")
    header = json.loads(head)
    if (
        header.get("format") != FORMAT
        or header.get("sha256") != hashlib.sha256(body).hexdigest()
        or header.get("key") != _key(root, shown, header["read"], header["code"] + header["libs"])
    ):
        return None
    ruleset, compiled = decode(body)
    engine_ok = header["engine"]
    if type(ruleset) is not model.RuleSet or type(compiled) is not compiled_form.Compiled or type(engine_ok) is not str:
        return None
    return ruleset, engine_ok, compiled


def write(
    root: Path,
    shown: str,
    read_files: list[str],
    ruleset: model.RuleSet,
    compiled: compiled_form.Compiled,
    engine_ok: str,
) -> None:
    """Store ``ruleset`` (loaded from ``root`` without a problem) and its compiled form for the
    next process; quietly nothing if it cannot be stored safely."""
    base = folder()
    if base is None:
        return
    try:
        body = dumps((ruleset, compiled))
        # what a reader will build must be what was loaded: the same typed structure
        if dumps(decode(body)) != body:
            return
    except (Uncacheable, RecursionError, ValueError, TypeError):
        return
    try:
        code, libs = loaded_code(), loaded_libraries()
        key = _key(root, shown, read_files, code + libs)
    except (OSError, RuntimeError, ValueError):
        return
    if key is None:
        return
    header = json.dumps(
        {
            "format": FORMAT,
            "key": key,
            "read": read_files,
            "code": code,
            "libs": libs,
            "engine": engine_ok,
            "sha256": hashlib.sha256(body).hexdigest(),
        },
        ensure_ascii=False,
    ).encode()
    try:
        # a fresh account may have no ~/.cache yet: made as XDG asks, owner-only
        os.makedirs(base.parent, 0o700, exist_ok=True)
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
    except (OSError, RuntimeError):  # a full disk, a read-only home, a symlink loop: no entry, no harm
        return

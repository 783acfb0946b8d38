"""Safe YAML/JSON loading that keeps a line number for every value.

Why not ``yaml.safe_load``: it silently keeps the last of two duplicate keys,
drops line numbers, and expands aliases into shared objects that an
"alias bomb" turns into billions of references once walked.  Here we compose
the node graph with libyaml (``CSafeLoader``, ~10x faster), then build plain
Python values ourselves:

* duplicate mapping keys are problems, not silent overwrites;
* anchors/aliases are refused outright (no intake or rule file needs them),
  so an alias bomb costs nothing;
* only the standard safe tags construct values; ``!!python/...`` and any
  custom tag is a problem with its line;
* every value's line is recorded in a ``Lines`` map keyed by its path.
"""

from __future__ import annotations

from typing import Any, Callable

import yaml

from .errors import Problem

try:  # libyaml is the fast path; pure Python keeps working without it
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

PathKey = tuple[object, ...]

# YAML input larger than this is refused before parsing: an intake is a few KB,
# a rule file a few tens of KB.
MAX_BYTES = 2 * 1024 * 1024


class Lines(dict[PathKey, int]):
    """Maps a value's path (tuple of keys/indices) to its 1-based line."""

    def line(self, path: PathKey) -> int | None:
        """The line of ``path`` or of its nearest recorded ancestor."""
        while True:
            if path in self:
                return self[path]
            if not path:
                return None
            path = path[:-1]


def dotted(path: PathKey) -> str:
    """``("risk", "cssrs", "intent")`` -> ``risk.cssrs.intent``; list indices as ``[i]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


#: (safe dotted path, note) for a path: hides keys that may be health data (see intake.safe_path)
Describe = Callable[[PathKey], tuple[str, str]]
#: whether a value at this path is free text, never to be shown in a message
Private = Callable[[PathKey], bool]
_STANDARD_TAG = "tag:yaml.org,2002:"
_DIGITS_LIMIT = 4300  # Python refuses to read an int of more digits (sys.int_info)


def shown(text: str, limit: int = 40) -> str:
    """A value's text for a message: quoted, one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...") + (
        f" ({len(text):,} characters)" if len(text) > limit else ""
    )


def _tag(tag: str) -> str:
    if tag.startswith(_STANDARD_TAG):
        return shown("!!" + tag[len(_STANDARD_TAG) :], 60)
    return f"a custom tag ({len(tag)} characters)"


class _Builder:
    def __init__(self, loader: Any, source: str, describe: Describe | None = None, private: Private | None = None):
        self.loader = loader
        self.source = source
        self.describe = describe
        self.private = private or (lambda path: False)
        self.lines = Lines()
        self.problems: list[Problem] = []
        self.seen: set[int] = set()
        self.alias_seen = False

    def problem(self, node: yaml.Node, path: PathKey, message: str) -> None:
        where, note = self.describe(path) if self.describe is not None else (dotted(path), "")
        self.problems.append(Problem(self.source, node.start_mark.line + 1, where, message + note))

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        if id(node) in self.seen:  # the same node reached twice is an alias
            if not self.alias_seen:  # one problem is enough: the whole document is refused
                line = self.lines.line(path)
                where, note = self.describe(path) if self.describe is not None else (dotted(path), "")
                self.problems.append(
                    Problem(self.source, line, where, "YAML anchors and aliases are not allowed" + note)
                )
            self.alias_seen = True
            return None
        self.seen.add(id(node))
        # a mapping value keeps its key's line (already recorded), which is where an author looks
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                self.problem(node, path, f"tag {_tag(node.tag)} is not allowed")
                return None
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> Any:
        if node.tag != "tag:yaml.org,2002:map":
            self.problem(node, path, f"tag {_tag(node.tag)} is not allowed")
            return None
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problem(key_node, path, "YAML merge keys (<<) are not allowed")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "mapping keys must be plain scalars")
                continue
            key = self._scalar(key_node, path)
            self.lines.setdefault(
                path + (key if isinstance(key, (str, int)) and not isinstance(key, bool) else key_node.value,),
                key_node.start_mark.line + 1,
            )
            if isinstance(key, bool) or key is None:
                # `no:`/`yes:`/`null:` keys are YAML 1.1 traps; keep the text the author wrote
                key = key_node.value
            if not isinstance(key, (str, int)):
                key = str(key_node.value)
            if key in out:
                first = self.lines.get(path + (key,))
                self.problem(key_node, path + (key,), f"duplicate key (first defined on line {first})")
                continue
            out[key] = self.build(value_node, path + (key,))
        return out

    def _scalar(self, node: yaml.Node, path: PathKey) -> Any:
        text = node.value if isinstance(node.value, str) else ""
        # the value of a free-text field is never shown, whatever it was read as
        what = "the value (free text, not shown)" if self.private(path) else shown(text)
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            digits = text.lstrip("+-")
            if node.tag.endswith("int") and len(digits) > 1 and digits[0] == "0":
                # YAML 1.1 reads 010 as octal 8 and 0x10 as 16: never what a clinician typed
                self.problem(node, path, f"{what}: write whole numbers without leading zeros or prefixes")
                return None
            if ":" in text or "_" in text:
                # YAML 1.1 reads 1:30 as 90 (base 60) and 3_8 as 38: never what a clinician typed
                self.problem(
                    node,
                    path,
                    f"{what}: write numbers as plain digits (YAML 1.1 reads digits with colons in base 60 and drops underscores)",
                )
                return None
            if node.tag.endswith("int") and len(digits) > _DIGITS_LIMIT:
                self.problem(
                    node,
                    path,
                    f"{'the value' if self.private(path) else 'a number'} has more than {_DIGITS_LIMIT:,} digits",
                )
                return None
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = _one_line(getattr(exc, "problem", None) or "cannot be read")[:120]
            self.problem(
                node, path, f"{problem} (tag {_tag(node.tag)} is not allowed)" if "constructor" in problem else problem
            )
            return None
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as exc:
            # e.g. 2026-02-30 (a date that does not exist), !!int abc, or an empty !!int (PyYAML
            # indexes its first character). Python's words for a number ("invalid literal for
            # int() with base 10: ...") repeat the value, and others name its internals: only a
            # date's own reason ("day is out of range for month") is kept
            why = (
                f" ({_one_line(exc)[:80]})"
                if node.tag.endswith("timestamp") and isinstance(exc, ValueError) and not self.private(path)
                else ""
            )
            if not text and not self.private(path):
                what = "an empty value"
            self.problem(node, path, f"{what} cannot be read as {node.tag.rsplit(':', 1)[-1][:20]}{why}")
            return None


def _one_line(value: object) -> str:
    """Messages are one line each: a problem list is read line by line."""
    return " ".join(str(value).split())


def load(
    text: str | bytes, source: str, describe: Describe | None = None, private: Private | None = None
) -> tuple[Any, Lines, list[Problem]]:
    """Parse one YAML or JSON document.

    Returns ``(value, lines, problems)``; ``value`` is ``None`` when the text
    cannot be parsed at all.  Never raises for bad input. ``describe`` and ``private``
    keep health data out of the problems (see :data:`Describe`, :data:`Private`).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            return None, Lines(), [Problem(source, None, "", f"file is larger than {MAX_BYTES} bytes")]
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return None, Lines(), [Problem(source, None, "", f"not UTF-8 text (byte {exc.start})")]
    if len(text) > MAX_BYTES:
        return None, Lines(), [Problem(source, None, "", f"file is larger than {MAX_BYTES} bytes")]
    if "\x00" in text:
        return None, Lines(), [Problem(source, None, "", "file contains a NUL byte: not a text file")]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = _one_line(" ".join(str(x) for x in (exc.context, exc.problem) if x))
        return None, Lines(), [Problem(source, line, "", f"malformed YAML/JSON: {message}")]
    except yaml.YAMLError as exc:
        return None, Lines(), [Problem(source, None, "", f"malformed YAML/JSON: {_one_line(exc)}")]
    except (ValueError, RecursionError) as exc:  # e.g. unencodable characters, absurd nesting
        return None, Lines(), [Problem(source, None, "", f"malformed YAML/JSON: {_one_line(exc)}")]
    finally:
        loader.dispose()
    if node is None:
        return None, Lines(), [Problem(source, None, "", "file is empty")]
    builder = _Builder(loader, source, describe, private)
    try:
        value = builder.build(node, ())
    except RecursionError:
        return None, Lines(), [Problem(source, None, "", "nesting is too deep")]
    if builder.alias_seen:  # a document with aliases is refused whole, not validated piecemeal
        return None, Lines(), builder.problems
    return value, builder.lines, builder.problems

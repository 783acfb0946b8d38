"""Compact one-line JSON for the batch hot path: decision lines and engine facts.

``orjson`` writes the same bytes as ``json.dumps(obj, ensure_ascii=False,
separators=(",", ":"))`` encoded as UTF-8 (checked for every code point and on
whole audit outputs, see tests/test_jsonline.py), about eight times faster: for an
audit that is ~60 µs of ~550 µs per intake.  The one input it refuses, a lone
surrogate (or an integer beyond 64 bits), goes through the standard library
instead, so the output is the same either way and nothing is ever refused here.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def dumps_bytes(obj: Any) -> bytes:
    """``obj`` as compact JSON, UTF-8 bytes (a lone surrogate becomes ``?``, as in every output file)."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _STDLIB.encode(obj).encode("utf-8", "replace")


_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME  # dates and times go to str(), as in json


def canonical_bytes(obj: Any) -> bytes:
    """``obj`` as compact JSON with sorted keys, anything else JSON lacks (dates) as ``str()``:
    the text an intake's sha256 is taken of when it has no bytes of its own (a JSONL line's
    value, a CSV row)."""
    try:
        return orjson.dumps(obj, default=str, option=_SORTED)
    except TypeError:
        return _CANONICAL.encode(obj).encode("utf-8", "replace")


def dumps(obj: Any) -> str:
    """``obj`` as compact JSON text."""
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError:
        return _STDLIB.encode(obj)


def keys_and_floats(value: Any) -> tuple[int, bool]:
    """Keys in a parsed JSON value, nested ones included, and whether it holds a float (a
    loop, not recursion: hot path).  orjson reads an integer beyond 64 bits as a float
    where the standard library reads the integer, so a float means: let json read it."""
    count, floats, pending = 0, False, [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:  # a parser makes exactly dict and list
            count += len(item)
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float:
            floats = True
    return count, floats


def loads_own(line: bytes) -> Any:
    """A line this package wrote (``dumps``, ``dumps_bytes``) read back, as ``json.loads``
    reads it: by orjson, three times faster, unless it refuses the text or the value holds
    a float (``keys_and_floats``).  Not for input from outside: that may repeat a key, and
    ``intake.corpus`` checks it."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)
    return json.loads(line) if keys_and_floats(value)[1] else value

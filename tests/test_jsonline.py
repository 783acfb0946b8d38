"""jsonline: orjson's bytes are the standard library's bytes, and what orjson refuses
still comes out (through the standard library), so switching encoders changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from ipt_advisor.core import jsonline
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import load_intake_file

REPO = Path(__file__).resolve().parents[1]


def stdlib(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_every_code_point_is_written_as_the_standard_library_writes_it() -> None:
    # one string per block of 4096 code points keeps this quick; surrogates are tested below
    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        value = {"text": "".join(chars[start : start + 4096]), "n": start, "ok": True, "none": None}
        assert jsonline.dumps_bytes(value) == stdlib(value), f"differs in the block from {start:#x}"
        assert jsonline.dumps(value) == stdlib(value).decode("utf-8")


def test_every_example_decision_is_written_as_the_standard_library_writes_it() -> None:
    advisor = Advisor.load()
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        decision = advisor.assess(load_intake_file(str(path)))
        assert jsonline.dumps_bytes(decision) == stdlib(decision), path.name


def test_what_orjson_refuses_comes_out_through_the_standard_library() -> None:
    lone = {"text": "a\ud800b", "big": 2**70}
    assert jsonline.dumps(lone) == json.dumps(lone, ensure_ascii=False, separators=(",", ":"))
    assert jsonline.dumps_bytes(lone) == b'{"text":"a?b","big":1180591620717411303424}'


def test_canonical_text_is_the_standard_librarys_sorted_text() -> None:
    # what an intake's sha256 is taken of: changing it would change every logged hash
    import datetime

    value = {
        "b": datetime.date(2025, 1, 2),
        "a": datetime.datetime(2025, 1, 2, 3, 4, 5),
        "é": 1,
        "e": "ü\ud800",
        "z": [1, {"y": 2, "x": None, "w": True}],
        "notes": "line\nbreak \"quoted\" \u2028",
    }
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert jsonline.canonical_bytes(value) == expected.encode("utf-8", "replace")
    del value["e"]  # without the lone surrogate, orjson's own path
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert jsonline.canonical_bytes(value) == expected.encode("utf-8")


def _typed(value: object) -> object:
    """A value with every type spelled out (1, 1.0 and True compare equal in Python)."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def test_lines_read_back_are_what_the_standard_library_reads() -> None:
    written = [
        {"case": "C-1", "line": 3, "flags": [{"code": "RISK", "level": "critical"}], "reason": None, "ok": True},
        {"big": 2**64, "bigger": -(2**70), "int64": 2**63 - 1},  # orjson would read the first two as floats
        {"float": 0.1, "tiny": 5e-324, "neg": -0.0},
        {"text": "caf\u00e9 \u2014 \U0001f600", "lone": "half \ud800 a character"},  # written as "?"
        ["a", 1, [2, [3, {"d": {}}]]],
    ]
    for value in written:
        line = jsonline.dumps_bytes(value)
        assert _typed(jsonline.loads_own(line)) == _typed(json.loads(line)), line


def test_keys_and_floats_counts_nested_keys_and_sees_any_float() -> None:
    assert jsonline.keys_and_floats({"a": {"b": 1, "c": [{"d": 2}, 3]}, "e": []}) == (5, False)
    assert jsonline.keys_and_floats([[[1.5]]]) == (0, True)
    assert jsonline.keys_and_floats({"a": True, "b": None, "c": "1.5"}) == (3, False)

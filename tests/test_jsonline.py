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

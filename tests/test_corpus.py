"""Reading a batch: a folder, JSON Lines or CSV becomes raw records in input order, each
parsed on its own; the input is hashed as it is read; quoted values are redacted."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from ipt_advisor.intake.corpus import Corpus, CorpusError, RawRecord, parse, redact
from ipt_advisor.core.errors import IntakeError

CORPUS = ROOT / "tests" / "files" / "corpus"
VALID_IDS = ["C-01", "C-02", "C-03", "C-04", "C-05", "C-06", "C-07", "C-08"]


def read(path: Path | str) -> tuple[Corpus, list[RawRecord]]:
    corpus = Corpus(str(path))
    return corpus, list(corpus.records())


def outcomes(records: list[RawRecord]) -> list[str]:
    """The case id of each valid record, or the problem lines of an invalid one."""
    out = []
    for record in records:
        try:
            out.append(parse(record).case_id)
        except IntakeError as exc:
            out.append(" | ".join(str(p) for p in exc.problems))
    return out


def test_folder_reads_yaml_and_json_files_sorted_by_name_and_skips_others() -> None:
    corpus, records = read(CORPUS / "intakes")
    assert corpus.kind == "folder"
    names = [Path(r.source).name for r in records]
    assert names == [
        "C-01.yaml",
        "C-02.yaml",
        "C-03.json",
        "C-04.yaml",
        "C-04b-invalid.yaml",
        "C-05.yaml",
        "C-06.yaml",
        "C-07.json",
        "C-08.yaml",
    ]  # README.txt is not an intake
    assert [r.index for r in records] == list(range(9))
    source = str(CORPUS / "intakes" / "C-04b-invalid.yaml")
    assert (
        outcomes(records)
        == VALID_IDS[:4]
        + [
            f"{source}:6: measures.phq9: must be a whole number from 0 to 27, got 31 | {source}:7: notes: must be text, got a list (put it in quotes)"
        ]
        + VALID_IDS[4:]
    )


def test_folder_hash_is_names_and_file_hashes_in_order() -> None:
    corpus, records = read(CORPUS / "intakes")
    expected = hashlib.sha256()
    for r in records:
        data = Path(r.source).read_bytes()
        expected.update(f"{Path(r.source).name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    assert corpus.sha256 == expected.hexdigest()


def test_jsonl_records_carry_their_line_and_blank_lines_are_skipped() -> None:
    path = CORPUS / "intakes.jsonl"
    corpus, records = read(path)
    assert corpus.kind == "jsonl"
    assert [r.line for r in records] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]  # line 6 is blank
    assert corpus.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    s = str(path)
    assert outcomes(records) == [
        "C-01",
        "C-02",
        f"{s}:3: malformed JSON: Expecting value (column 48)",
        "C-03",
        "C-04",
        "C-05",
        f"{s}:8: age: must be a whole number, got 'MARKER-NOTES-7731' (text) | {s}:8: notes: must be text, got a number (put it in quotes)",
        "C-06",
        "C-07",
        "C-08",
        f"{s}:12: measures.phq9: required",
    ]


def test_csv_rows_start_lines_count_multiline_cells() -> None:
    path = CORPUS / "intakes.csv"
    corpus, records = read(path)
    assert corpus.kind == "csv"
    # C-06's notes cell spans lines 8-9, so the next row starts on line 10
    assert [r.line for r in records] == [2, 3, 4, 5, 6, 7, 8, 10, 11, 12]
    assert corpus.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    s = str(path)
    assert outcomes(records) == [
        "C-01",
        "C-02",
        f"{s}:4: age: must be a whole number, got 'MARKER-NOTES-7731'",
        "C-03",
        "C-04",
        "C-05",
        "C-06",
        f"{s}:10: findings.role_transition.present: must be true or false, got 'yes' | "
        f"{s}:10: measures.phq9: must be a whole number, got 'eleven'",
        "C-07",
        "C-08",
    ]


def test_the_three_kinds_give_the_same_intakes() -> None:
    kinds = [
        [parse(r).record for r in read(CORPUS / name)[1] if _valid(r)]
        for name in ("intakes", "intakes.jsonl", "intakes.csv")
    ]
    assert kinds[0] == kinds[1] == kinds[2]
    assert [rec["id"] for rec in kinds[0]] == VALID_IDS


def _valid(record: RawRecord) -> bool:
    try:
        parse(record)
    except IntakeError:
        return False
    return True


@pytest.mark.parametrize(
    "line, expected",
    [
        (b'{"id": "A", "id": "B"}', "duplicate key"),
        (b'{"notes": "say \\": here", "measures": {"phq9": 1, "phq9": 2}}', "duplicate key"),
        (b'{"age": NaN}', "malformed JSON: NaN is not a number JSON allows"),
        (b'{"notes": "caf\xe9"}', "not UTF-8 text (byte 14)"),
        (b'[1, 2]', "an intake must be a mapping of fields (key: value), got a list"),
    ],
)
def test_jsonl_record_problems(tmp_path: Path, line: bytes, expected: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(line + b"\n")
    (record,) = read(path)[1]
    with pytest.raises(IntakeError) as info:
        parse(record)
    assert [p.message for p in info.value.problems] == [expected]
    assert info.value.problems[0].line == 1


def test_jsonl_text_that_looks_like_keys_is_not_a_duplicate(tmp_path: Path) -> None:
    record = json.loads((CORPUS / "intakes.jsonl").read_text().splitlines()[0])
    record["notes"] = 'she said "no": twice, "a":"b"'
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (raw,) = read(path)[1]
    assert parse(raw).get("notes") == record["notes"]


def test_jsonl_over_long_line_is_one_problem_and_reading_goes_on(tmp_path: Path, monkeypatch) -> None:
    import ipt_advisor.intake.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "MAX_RECORD_BYTES", 100)
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"notes": "' + b"x" * 500 + b'"}\n{"id": 1}\n')
    corpus, records = read(path)
    assert [(r.line, r.problem) for r in records] == [(1, "line is larger than 100 bytes"), (2, None)]
    assert corpus.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_row_that_is_not_utf8_is_one_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"id,notes\nA,caf\xe9\nB,ok\n")
    records = read(path)[1]
    assert [(r.line, r.problem) for r in records] == [(2, "not UTF-8 text"), (3, None)]


def test_csv_surplus_cells_and_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,age\nA,40,extra\n\n,\nB,41\n")
    records = read(path)[1]
    assert [r.line for r in records] == [2, 5]
    with pytest.raises(IntakeError) as info:
        parse(records[0])
    assert f"{path}:2: row has more cells than the header" in [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("dup.csv", "id,id\nA,B\n", "dup.csv:1: column 'id' appears twice in the header"),
        ("empty.csv", "", "empty.csv: file is empty: expected a header of dotted field names"),
        ("latin1.csv", b"id,caf\xe9\nA,B\n", "latin1.csv:1: not UTF-8 text"),
        ("notes.txt", "hello", "notes.txt: expected a folder of .yaml/.json intakes, a .jsonl file or a .csv file"),
    ],
)
def test_whole_input_problems_are_one_line(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(CorpusError) as info:
        read(path)
    assert [str(p) for p in info.value.problems] == [f"{tmp_path}/{message}"]


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as info:
        Corpus(str(tmp_path / "nope.jsonl"))
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path}/nope.jsonl: cannot read file: No such file or directory"
    ]
    with pytest.raises(CorpusError) as info:
        Corpus(str(tmp_path / "nope"))
    assert [str(p) for p in info.value.problems] == [f"{tmp_path}/nope: cannot read: no such file or folder"]


def test_hash_is_known_only_after_reading() -> None:
    corpus = Corpus(str(CORPUS / "intakes.jsonl"))
    with pytest.raises(RuntimeError):
        corpus.sha256  # noqa: B018 (the property read is what raises)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("must be a whole number, got 'secret words' (text)", "must be a whole number, got <text> (text)"),
        (
            'must be one of group, individual; got "it\'s" (did you mean \'group\'?)',
            "must be one of group, individual; got <text> (did you mean 'group'?)",
        ),
        ("'a \\' b': write whole numbers", "<text>: write whole numbers"),
        ("required", "required"),
    ],
)
def test_redact_removes_quoted_values_keeps_schema_suggestions(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_records_are_small_tuples_for_workers() -> None:
    _, records = read(CORPUS / "intakes.jsonl")
    assert isinstance(records[0], tuple)
    assert json.loads(records[0].data)["id"] == "C-01"


def test_estimated_total_for_progress() -> None:
    folder = Corpus(str(CORPUS / "intakes"))
    assert folder.estimated_total() == 9  # known before reading
    corpus = Corpus(str(CORPUS / "intakes.jsonl"))
    assert corpus.estimated_total() is None
    records = list(corpus.records())
    assert corpus.estimated_total() == len(records) == 11


def test_fingerprint_names_the_input_before_reading_it(tmp_path: Path) -> None:
    """What `audit --resume` compares: a file's size and sha256; a folder's intake names and
    the sha256 of each one's content (an edit that keeps size and time shows; a touch does not)."""
    path = CORPUS / "intakes.jsonl"
    data = path.read_bytes()
    assert Corpus(str(path)).fingerprint() == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    folder = tmp_path / "intakes"
    folder.mkdir()
    for source in sorted((CORPUS / "intakes").iterdir()):
        (folder / source.name).write_bytes(source.read_bytes())
    first = Corpus(str(folder)).fingerprint()
    assert first["files"] == 9 and first == Corpus(str(folder)).fingerprint()
    stamp = (folder / "C-02.yaml").stat()
    os.utime(folder / "C-02.yaml", ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))  # touched only
    assert Corpus(str(folder)).fingerprint() == first
    text = (folder / "C-02.yaml").read_text()
    (folder / "C-02.yaml").write_text(text.replace("age: ", "age:  ", 1)[:-1] if text.endswith("\n") else text + " ")
    os.utime(folder / "C-02.yaml", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same time
    assert (folder / "C-02.yaml").stat().st_size == stamp.st_size
    assert Corpus(str(folder)).fingerprint() != first
    (folder / "C-02.yaml").write_text(text)
    (folder / "README.txt").write_text("not an intake: not part of the input")
    assert Corpus(str(folder)).fingerprint() == first


# --------------------------------------------------------------------------- reading JSON: orjson first


def _stdlib_json(data: bytes) -> tuple[Any, ...]:
    """What the standard library alone makes of a JSONL line, as the reader did before
    orjson (json.loads; again with the duplicate-refusing hook when the text has more
    key-like ``":`` than the value has keys): the values, types and each refusal's words
    the fast path must keep."""
    from ipt_advisor.core.jsonline import keys_and_floats
    from ipt_advisor.intake import corpus as m

    def read_it() -> Any:
        value = json.loads(data, parse_constant=m._reject_constant)
        if len(re.findall(rb'"\s*:', data)) != keys_and_floats(value)[0]:
            value = json.loads(data, object_pairs_hook=m._no_duplicates, parse_constant=m._reject_constant)
        return value

    return _outcome(read_it)


def _outcome(read_it: Any) -> tuple[Any, ...]:
    try:
        value = read_it()
    except RecursionError:
        return ("too deep",)
    except Exception as exc:  # noqa: BLE001 - the refusal itself is what is compared
        return ("refused", type(exc).__name__, str(exc))
    return ("value", *_typed(value))


def _typed(value: Any) -> list[Any]:
    """A parsed value as tokens with every type spelled out (1, 1.0 and True compare equal
    in Python); a loop, as a value may be nested deeper than recursion goes."""
    tokens: list[Any] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            tokens.append(("dict", len(item)))
            for key, sub in reversed(item.items()):
                pending.append(sub)
                pending.append(("key", key))
        elif type(item) is list:
            tokens.append(("list", len(item)))
            pending.extend(reversed(item))
        elif type(item) is tuple and item and item[0] == "key":
            tokens.append(item)  # only this function puts tuples on the stack
        else:
            tokens.append((type(item).__name__, repr(item)))
    return tokens


TRICKY_JSON = [
    b'{"age": 99999999999999999999999}',  # orjson: a float; json: the integer
    b'{"age": 18446744073709551616}',
    b'{"age": -9223372036854775809}',
    b'{"age": 1e400}',  # orjson refuses; json: inf
    b'{"age": 1.5}',
    b'{"age": -0}',
    b'\xef\xbb\xbf{"age": 1}',  # a byte order mark: json reads past it, orjson refuses
    b'{"notes": "\\ud800"}',  # a lone surrogate: json reads it, orjson refuses
    b'{"age": NaN}',
    b'{"age": -Infinity}',
    b'{"id": "A" , "id" : "B"}',  # a duplicate behind whitespace before the colon
    b'{"id":"A",\t"id"\t:"B"}',
    b'{"id": "A", "id": "B"}',
    b'{"id": "A", "id": "B"} x',  # a duplicate, then more text: json's complaint is the text
    b'{"notes": "x\\": y", "age": 3}',
    b'{"notes": "plan: review", "age": 3}',  # a colon in a string, no duplicate
    b'{"notes": "plan: review", "id": "A", "id": "B"}',  # a colon in a string, and a duplicate
    b'{"notes": "plan\\":", "id":"A","id":"B"}',
    b'{"notes": "caf\xe9"}',
    b'{"a": 1}\x00',
    b"",
    b"[" * 511 + b"]" * 511,
    b"[" * 512 + b"]" * 512,
    b"[" * 1000 + b"]" * 1000,  # deeper than json goes, not orjson
    b"[" * 1020 + b"]" * 1020,
    b"[" * 1030 + b"]" * 1030,  # deeper than either parser goes
    '{"é": 1}'.encode("utf-16"),
]


@pytest.mark.parametrize("data", TRICKY_JSON)
def test_json_reading_is_the_standard_librarys(data: bytes) -> None:
    from ipt_advisor.intake.corpus import _load_json

    assert _outcome(lambda: _load_json(data)) == _stdlib_json(data)


_PIECES = [
    b'{"age": 30, "measures": {"phq9": 14}}',
    b"99999999999999999999999",
    b"1e400",
    b"2.5",
    b'"\\ud800"',
    b"\xef\xbb\xbf",
    b'"id"',
    b'"id" :',
    b'"id":',
    b": ",
    b", ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"NaN",
    b"true",
    b"null",
    b" ",
    b"\t",
    b'"x\\": y"',
    b"\xff",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_json_reading_is_the_standard_librarys_for_any_bytes(pieces: list[bytes]) -> None:
    from ipt_advisor.intake.corpus import _load_json

    data = b"".join(pieces)
    assert _outcome(lambda: _load_json(data)) == _stdlib_json(data)

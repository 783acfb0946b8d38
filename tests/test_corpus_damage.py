"""Batch inputs that are damaged as a whole, not only in one record: a CSV quote never closed,
a CSV cell too large for the reader, an input that is a pipe or a device. Nothing is lost
silently and nothing hangs: each is one invalid record (the batch goes on) or one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli

HEADER = "intake_version,id,assessed_on,age,measures.phq9,notes\n"


def csv_rows(n: int, notes: dict[int, str] | None = None) -> str:
    notes = notes or {}
    return HEADER + "".join(f"1,C-{i:03d},2026-10-01,40,11,{notes.get(i, 'fine')}\n" for i in range(1, n + 1))


def audit(tmp_path: Path, source: Path, *extra: str):
    return CliRunner().invoke(cli, ["audit", str(source), "-o", str(tmp_path / "out"), "--jobs", "1", *extra])


def errors(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]


def test_an_unclosed_quote_is_an_error_on_its_row_and_the_run_does_not_claim_success(tmp_path: Path) -> None:
    source = tmp_path / "intakes.csv"
    source.write_text(csv_rows(100, {4: '"Patient says hi'}))
    result = audit(tmp_path, source)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("4 records: 3 assessed, 1 invalid;")
    message = (
        "a quoted cell starting on this row runs to the end of the file (97 lines): a closing quote "
        "is missing, so the rows after it could not be read"
    )
    assert result.stderr.splitlines()[-1] == f"{source}:5: {message}"
    assert errors(tmp_path) == [
        {"source": str(source), "line": 5, "kind": "invalid", "problems": [{"line": 5, "path": "", "message": message}]}
    ]
    assert "Patient" not in result.output + (tmp_path / "out" / "errors.jsonl").read_text()


@pytest.mark.parametrize(
    "size, message",
    [
        (131_073, "must be at most 10000 characters, got 131073"),
        (2_200_000, "a cell is larger than 2,097,152 characters"),
    ],
)
def test_one_huge_cell_is_one_invalid_record_and_the_batch_goes_on(tmp_path: Path, size: int, message: str) -> None:
    source = tmp_path / "intakes.csv"
    source.write_text(csv_rows(5, {2: "x" * size}))
    result = audit(tmp_path, source)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("5 records: 4 assessed, 1 invalid;")
    [bad] = errors(tmp_path)
    assert bad["line"] == 3 and [p["message"] for p in bad["problems"]] == [message]


def test_a_quote_inside_a_cell_is_an_error_on_its_row_only(tmp_path: Path) -> None:
    source = tmp_path / "intakes.csv"
    source.write_text(csv_rows(4, {2: '"said"hi'}))
    result = audit(tmp_path, source)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("4 records: 3 assessed, 1 invalid;")
    [bad] = errors(tmp_path)
    assert bad["line"] == 3 and "said" not in json.dumps(bad)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_pipe_or_a_device_as_batch_input_is_refused_not_read_for_ever(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        source = tmp_path / "intakes.jsonl"
        os.mkfifo(source)
    else:
        source = tmp_path / "zero.jsonl"
        source.symlink_to("/dev/zero")
    result = audit(tmp_path, source)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"{source}: cannot read: not a regular file (a pipe or a device); save the intakes to a file first"
    ]

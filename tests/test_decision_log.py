"""The hash-chained decision log: `assess --log`, `audit --log`, `log verify`, tampering found."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from cli import cli
from conftest import ROOT
from ipt_advisor.audit.decision_log import GENESIS, DecisionLog, entry, entry_hash, verify

CORPUS = ROOT / "tests" / "files" / "corpus"
MARKER = "MARKER-NOTES-7731"
KEYS = ["time", "case", "intake_sha256", "ruleset", "tool", "format", "focus", "flags", "status", "prev", "hash"]


def marked_intake(tmp_path: Path) -> Path:
    """An intake whose free text (notes, clinician reason, role-dispute 'with') carries a marker."""
    record = json.loads((CORPUS / "intakes.jsonl").read_text().splitlines()[0])
    record["notes"] = f"{MARKER} private story"
    record["clinician_decision"] = {"format": "individual", "reason": f"{MARKER} reason"}
    record["findings"]["role_dispute"] = {
        "present": True,
        "with": f"{MARKER} partner",
        "stage": "impasse",
        "violence": False,
    }
    path = tmp_path / "marked.json"
    path.write_text(json.dumps(record))
    return path


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def make_log(runner, tmp_path: Path, n: int = 5) -> Path:
    log = tmp_path / "decisions.log"
    result = runner.invoke(
        cli, ["audit", str(CORPUS / "intakes.jsonl"), "-o", str(tmp_path / "out"), "--log", str(log)]
    )
    assert result.exit_code == 0, result.output
    lines = log_lines(log)
    log.write_text("\n".join(lines[:n]) + "\n")  # a prefix of a valid chain is a valid chain
    return log


def verify_cli(runner, log: Path):
    return runner.invoke(cli, ["log", "verify", str(log)])


def test_assess_log_appends_a_chain_with_no_free_text(runner, tmp_path: Path) -> None:
    intake = marked_intake(tmp_path)
    log = tmp_path / "decisions.log"
    for _ in range(2):
        result = runner.invoke(cli, ["assess", str(intake), "--format", "json", "--log", str(log)])
        assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert log.stat().st_mode & 0o777 == 0o600
    text = log.read_text()
    assert MARKER not in text and "private" not in text
    first, second = (json.loads(line) for line in log_lines(log))
    assert list(first) == KEYS
    assert first["prev"] == GENESIS and second["prev"] == first["hash"]
    assert first["hash"] == entry_hash(first)
    assert first["case"] == decision["intake_id"]
    assert first["ruleset"] == decision["ruleset"]
    assert first["format"] == decision["recommendation"]["format"]
    assert first["flags"] == [f["code"] for f in decision["flags"]]
    assert first["time"].endswith("Z")
    # the intake hash is the hash of the file's bytes
    import hashlib

    assert first["intake_sha256"] == hashlib.sha256(intake.read_bytes()).hexdigest()
    # only time, prev and hash differ between the two entries of the same intake
    assert {k for k in KEYS if first[k] != second[k]} <= {"time", "prev", "hash"}
    result = verify_cli(runner, log)
    assert result.exit_code == 0
    assert result.stdout.startswith("2 entries, chain intact")


def test_audit_log_one_entry_per_decision_in_input_order(runner, tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    result = runner.invoke(
        cli, ["audit", str(CORPUS / "intakes"), "-o", str(tmp_path / "out"), "--log", str(log), "--jobs", "2"]
    )
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in log_lines(log)]
    assert [e["case"] for e in entries] == ["C-01", "C-02", "C-03", "C-04", "C-05", "C-06", "C-07", "C-08"]
    assert MARKER not in log.read_text() and "waiting list" not in log.read_text()
    assert verify(str(log))[0] == 8


def test_audit_log_in_several_batches_keeps_one_chain(runner, tmp_path: Path, monkeypatch) -> None:
    from ipt_advisor.audit import run as audit

    monkeypatch.setattr(audit, "LOG_BATCH", 3)
    log = tmp_path / "decisions.log"
    for n in range(2):  # a second audit (into another folder: the same one refuses) continues the chain
        result = runner.invoke(
            cli,
            ["audit", str(CORPUS / "intakes.csv"), "-o", str(tmp_path / f"out-{n}"), "--log", str(log), "--jobs", "2"],
        )
        assert result.exit_code == 0, result.output
    assert verify(str(log))[0] == 16
    assert [json.loads(line)["case"] for line in log_lines(log)][:8] == [
        "C-01",
        "C-02",
        "C-03",
        "C-04",
        "C-05",
        "C-06",
        "C-07",
        "C-08",
    ]


def test_assess_with_broken_log_refuses_and_shows_nothing(runner, tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    log.write_text('{"not": "an entry"}\n')
    result = runner.invoke(cli, ["assess", str(ROOT / "examples" / "demo.yaml"), "--log", str(log)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{log}: cannot append to the decision log: its last line is not a log entry; run `ipt-advisor log verify` on it"
    ]


def test_edited_entry(runner, tmp_path: Path) -> None:
    log = make_log(runner, tmp_path)
    lines = log_lines(log)
    lines[2] = (
        lines[2].replace('"format":"individual"', '"format":"group"')
        if '"format":"individual"' in lines[2]
        else lines[2].replace('"format":"group"', '"format":"individual"')
    )
    log.write_text("\n".join(lines) + "\n")
    result = verify_cli(runner, log)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{log}:3: entry was edited: its content does not match its hash"]


def test_edited_entry_with_its_hash_recomputed_breaks_the_next(runner, tmp_path: Path) -> None:
    log = make_log(runner, tmp_path)
    lines = log_lines(log)
    forged = json.loads(lines[1])
    forged["format"] = "defer"
    forged["hash"] = entry_hash(forged)
    lines[1] = json.dumps(forged, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n")
    assert verify_cli(runner, log).stderr.splitlines() == [
        f"{log}:3: an entry was deleted after line 2, or line 2 was rewritten"
    ]


def test_deleted_entry(runner, tmp_path: Path) -> None:
    log = make_log(runner, tmp_path)
    lines = log_lines(log)
    log.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    result = verify_cli(runner, log)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{log}:3: an entry was deleted after line 2, or line 2 was rewritten"]


def test_deleted_first_entry(runner, tmp_path: Path) -> None:
    log = make_log(runner, tmp_path)
    log.write_text("\n".join(log_lines(log)[1:]) + "\n")
    assert verify_cli(runner, log).stderr.splitlines() == [
        f"{log}:1: entries were deleted before this first line: the chain does not start here"
    ]


def test_reordered_entries(runner, tmp_path: Path) -> None:
    log = make_log(runner, tmp_path)
    lines = log_lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.write_text("\n".join(lines) + "\n")
    result = verify_cli(runner, log)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{log}:2: entries were reordered: this entry belongs after line 3"]


def test_inserted_entry(runner, tmp_path: Path) -> None:
    log = make_log(runner, tmp_path)
    lines = log_lines(log)
    forged = json.loads(lines[1])
    forged["case"] = "FORGED"
    forged["prev"] = forged["hash"]
    forged["hash"] = entry_hash(forged)  # a well-formed entry that claims to follow line 2
    log.write_text("\n".join(lines[:2] + [json.dumps(forged, separators=(",", ":"))] + lines[2:]) + "\n")
    assert verify_cli(runner, log).stderr.splitlines() == [
        f"{log}:4: entries were inserted: this entry follows line 2, not line 3"
    ]
    clumsy = dict(forged, prev="f" * 64)
    clumsy["hash"] = entry_hash(clumsy)
    log.write_text("\n".join(lines[:2] + [json.dumps(clumsy, separators=(",", ":"))] + lines[2:]) + "\n")
    assert verify_cli(runner, log).stderr.splitlines() == [
        f"{log}:3: an entry was inserted here: line 4 follows line 2"
    ]


def test_damaged_line(runner, tmp_path: Path) -> None:
    log = make_log(runner, tmp_path)
    lines = log_lines(log)
    lines[3] = lines[3][:40]
    log.write_text("\n".join(lines) + "\n")
    assert verify_cli(runner, log).stderr.splitlines() == [
        f"{log}:4: not a decision-log entry: the line was edited or damaged"
    ]


def test_missing_log_exit_1_one_line(runner, tmp_path: Path) -> None:
    result = verify_cli(runner, tmp_path / "none.log")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{tmp_path}/none.log: cannot read: No such file or directory"]


def _append_many(path: str, worker: int) -> None:
    log = DecisionLog(path)
    rs = {"name": "r", "version": "1", "sha256": "0" * 64}
    for i in range(40):
        log.append(
            [entry(f"W{worker}-{i}-{j}", "0" * 64, rs, "t", "group", None, None, [], "complete") for j in range(3)]
        )


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.log")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert verify(path)[0] == 3 * 40 * 3


@pytest.mark.parametrize("tail", [b"garbage\n", b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"\n"])
def test_append_refuses_a_damaged_tail(tmp_path: Path, tail: bytes) -> None:
    """A whole last line that is not an entry (edited, or nested too deep to read) is refused."""
    from ipt_advisor.core.errors import OutputError

    path = tmp_path / "x.log"
    path.write_bytes(tail)
    with pytest.raises(OutputError):
        DecisionLog(str(path)).append(
            [
                entry(
                    "C",
                    "0" * 64,
                    {"name": "r", "version": "1", "sha256": "0"},
                    "t",
                    "group",
                    None,
                    None,
                    [],
                    "complete",
                )
            ]
        )
    assert path.read_bytes() == tail


def test_append_cuts_off_a_half_last_line_and_says_so(tmp_path: Path) -> None:
    """A writer killed mid-append leaves a line without its newline: the next writer cuts it
    back to the last whole entry (under the lock, so that writer is gone) instead of refusing
    every later append."""
    path = tmp_path / "x.log"
    rs = {"name": "r", "version": "1", "sha256": "0"}
    DecisionLog(str(path)).append([entry("C1", "0" * 64, rs, "t", "group", None, None, [], "complete")])
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"time": "2026-')
    notes: list[str] = []
    DecisionLog(str(path), warn=notes.append).append(
        [entry("C2", "0" * 64, rs, "t", "group", None, None, [], "complete")]
    )
    assert notes == [
        f"{path}: cut off an incomplete last line (15 bytes) that a writer stopped half-way left; "
        "the entries before it are kept"
    ]
    assert path.read_bytes().startswith(whole)
    assert verify(str(path))[0] == 2


def test_a_full_disk_mid_append_leaves_the_log_as_it_was(tmp_path: Path, monkeypatch) -> None:
    import errno
    import os

    from ipt_advisor.audit import decision_log
    from ipt_advisor.core.errors import OutputError

    rs = {"name": "r", "version": "1", "sha256": "0" * 64}
    batch = [entry(f"C-{i}", "0" * 64, rs, "t", "group", None, None, [], "complete") for i in range(50)]
    path = tmp_path / "x.log"
    log = DecisionLog(str(path))
    log.append(batch[:3])
    before = path.read_bytes()

    real_write = os.write

    def half_then_full(fd: int, data) -> int:  # as a real full disk: part of the write lands
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(decision_log.os, "write", half_then_full)
    with pytest.raises(OutputError) as info:
        log.append(batch[3:])
    monkeypatch.undo()
    assert [str(p) for p in info.value.problems] == [
        f"{path}: cannot append to the decision log: {os.strerror(errno.ENOSPC)}"
    ]
    assert path.read_bytes() == before  # the half-written entries are gone, the chain intact
    log.append(batch[3:])  # and the next append continues the chain
    assert verify(str(path))[0] == 50

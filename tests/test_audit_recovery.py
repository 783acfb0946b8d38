"""`audit` killed (SIGKILL: no handler runs) at the worst moments, another audit into the same
folder, and an input edited behind a run's back: nothing lost, nothing doubled.

A SIGKILL cannot be caught, so each of these runs the audit in a forked child that kills itself
at the chosen moment (inside the decision-log append, between the final renames); the test then
does what a user would: another clinician's `assess --log`, then `--resume`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from cli import cli
from conftest import ROOT
from ipt_advisor.audit import run as audit, state as audit_state, decision_log
from ipt_advisor.audit.decision_log import verify
from test_audit_faults import (
    CORPUS,
    LEFT_BY_A_STOP,
    OUTPUTS,
    STATE,
    assert_same_as,
    interrupted_run,
    invoke,
    running_audit,
    write_corpus,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc (Linux)")
DEMO = ROOT / "examples" / "demo.yaml"


def killed_in_child(body: Callable[[], Any]) -> None:
    """Run ``body`` in a forked child, which must die of SIGKILL on its own (the fault)."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(7)  # body returned or raised: the fault never happened
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL, "the child was meant to die of SIGKILL"


def suicide() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def logged_cases(log: Path) -> list[str]:
    return [json.loads(line)["case"] for line in log.read_text().splitlines()]


def decided_cases(out: Path) -> list[str]:
    return [json.loads(line)["intake_id"] for line in (out / "decisions.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- point 3: the log append


@pytest.mark.parametrize("moment", ["half-way", "after-the-write"])
def test_sigkill_in_the_log_append_then_other_writers_and_resume_log_each_decision_once(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    corpus, reference = small
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    args = [str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log)]
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
    real = decision_log._write_all
    appends = [0]

    def write(fd: int, data: bytes) -> None:
        appends[0] += 1
        if appends[0] == 3:  # the third batch: two are logged and counted already
            if moment == "half-way":
                real(fd, data[: len(data) // 2 + 7])  # several whole entries, then half of one
            else:
                real(fd, data)  # all of it, but the checkpoint that counts it is never put in place
            suicide()
        real(fd, data)

    monkeypatch.setattr(decision_log, "_write_all", write)
    killed_in_child(lambda: invoke(*args))
    monkeypatch.undo()
    assert sorted(os.listdir(out)) in (LEFT_BY_A_STOP, sorted(LEFT_BY_A_STOP + [STATE + ".tmp"]))

    # another clinician logs next: a half entry left by the killed run is cut back, with a word
    other = CliRunner().invoke(cli, ["assess", str(DEMO), "--log", str(log)])
    assert other.exit_code == 0, other.output
    if moment == "half-way":
        assert f"{log}: cut off an incomplete last line" in other.stderr
    assert verify(str(log))  # one valid chain

    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)
    cases = logged_cases(log)
    cases.remove("EX-DEMO-01")  # the other clinician's entry, somewhere in the middle
    assert cases == decided_cases(out)  # every decision once, in order: none missing, none twice
    assert verify(str(log))[0] == len(cases) + 1


# --------------------------------------------------------------------------- point 4: the final renames


@pytest.mark.parametrize("with_log", [False, True])
def test_sigkill_between_the_final_renames_then_resume_finishes_the_commit(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_log: bool
) -> None:
    corpus, reference = small
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    args = [str(corpus), "-o", str(out), "--jobs", "2", *(["--log", str(log)] if with_log else [])]
    real = audit_state._replace
    renamed = [0]

    def replace(src: str, dst: str) -> None:
        if src.endswith(".partial"):
            renamed[0] += 1
            if renamed[0] == 3:
                suicide()
        real(src, dst)

    monkeypatch.setattr(audit_state, "_replace", replace)
    killed_in_child(lambda: invoke(*args))
    monkeypatch.undo()
    names = os.listdir(out)
    assert any(n.endswith(".partial") for n in names) and any(n in OUTPUTS for n in names)

    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)
    if with_log:
        assert logged_cases(log) == decided_cases(out)


# --------------------------------------------------------------------------- what the chaos harness found
# A run whose decisions are in the log must leave a state behind, whatever ends it, so that
# the same command again cannot log them a second time.


def test_sigkill_after_the_run_finished_then_the_same_command_logs_nothing_twice(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window the chaos harness hit: every output in place, every decision logged, then
    the process killed before it exited (exit -9, no message). The run had left no state, so
    `--resume` said "nothing to resume" and the same command again logged every decision twice."""
    corpus, reference = small
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    args = [str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log)]
    real = audit.run_audit

    def finish_then_get_killed(*a: Any, **k: Any) -> Any:
        real(*a, **k)
        suicide()  # the library returned; the command had not printed or exited yet

    monkeypatch.setattr(audit, "run_audit", finish_then_get_killed)
    killed_in_child(lambda: invoke(*args))
    monkeypatch.undo()
    assert_same_as(out, reference)
    assert logged_cases(log) == decided_cases(out)

    # what a user does after a killed run: the same command again, then with --resume
    again = invoke(*args)
    assert again.exit_code == 1, again.output
    assert again.stderr.splitlines() == [
        f"{out}: this audit already finished here and its decisions are in {log}; running it again "
        "would log each of them a second time (for a second audit on purpose, use another folder)"
    ]
    resumed = invoke(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"{out}: nothing left to do: this audit had finished" in resumed.stderr
    assert_same_as(out, reference)
    assert logged_cases(log) == decided_cases(out)  # each decision once
    assert verify(str(log))[0] == len(decided_cases(out))


def test_a_fresh_run_over_an_interrupted_one_that_logged_decisions_refuses(small, tmp_path: Path) -> None:
    corpus, reference = small
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    interrupted_run(small, out, "--log", str(log))
    logged = log.read_bytes()
    assert logged  # some decisions were logged before the disk filled
    again = invoke(str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log))
    assert again.exit_code == 1, again.output
    assert again.stderr.splitlines() == [
        f"{out}: an interrupted run of this audit is here and some of its decisions are in {log}; run the "
        "same command with --resume to finish it (starting over would log them a second time)"
    ]
    assert log.read_bytes() == logged and sorted(os.listdir(out)) == LEFT_BY_A_STOP  # nothing touched
    assert invoke(str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log), "--resume").exit_code == 0
    assert_same_as(out, reference)
    assert logged_cases(log) == decided_cases(out)


def test_sigkill_after_the_first_log_append_before_its_state_then_a_fresh_run_refuses(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The saved state counts no decision yet; only the prepared one beside it knows the log
    holds some: a fresh run must see that too."""
    corpus, reference = small
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    args = [str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log)]
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
    real = decision_log._write_all

    def write_then_get_killed(fd: int, data: bytes) -> None:
        real(fd, data)
        suicide()

    monkeypatch.setattr(decision_log, "_write_all", write_then_get_killed)
    killed_in_child(lambda: invoke(*args))
    monkeypatch.undo()
    assert json.loads((out / STATE).read_text())["progress"]["records"] == 0
    assert log.read_text()
    again = invoke(*args)
    assert again.exit_code == 1 and "--resume to finish it" in again.stderr, again.output
    assert invoke(*args, "--resume").exit_code == 0
    assert_same_as(out, reference)
    assert logged_cases(log) == decided_cases(out)


def test_input_breaking_midway_after_decisions_were_logged_keeps_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An input that cannot be read on (a disk error, a removed mount) once decisions are in
    the log: the state stays, so the same command cannot log them twice, and --resume finishes
    once the input reads again."""
    from ipt_advisor.intake import corpus as corpus_module

    corpus = write_corpus(tmp_path / "intakes.jsonl", 600)
    reference, out, log = tmp_path / "reference", tmp_path / "out", tmp_path / "decisions.log"
    assert invoke(str(corpus), "-o", str(reference), "--jobs", "2").exit_code == 0
    args = [str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log)]
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
    real = corpus_module.Corpus._jsonl

    def breaks(self: Any) -> Any:
        for n, record in enumerate(real(self)):
            if n == 590:  # the reader runs ahead of the workers: late enough for some to be logged
                raise self._error("cannot read on: Input/output error", n + 1)
            yield record

    monkeypatch.setattr(corpus_module.Corpus, "_jsonl", breaks)
    result = invoke(*args)
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"{corpus}:591: cannot read on: Input/output error; once fixed, run the same command with --resume to finish"
    ]
    assert log.read_text() and sorted(os.listdir(out)) == LEFT_BY_A_STOP
    again = invoke(*args)
    assert again.exit_code == 1 and "--resume to finish it" in again.stderr, again.output
    assert invoke(*args, "--resume").exit_code == 0
    assert_same_as(out, reference)
    assert logged_cases(log) == decided_cases(out)


# --------------------------------------------------------------------------- point 5: one folder, one audit


def test_a_second_audit_into_the_same_folder_refuses_with_one_line(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "intakes.jsonl", 3000)
    other = write_corpus(tmp_path / "other.jsonl", 50)
    reference = tmp_path / "reference"
    assert invoke(str(corpus), "-o", str(reference), "--jobs", "2").exit_code == 0
    out = tmp_path / "out"
    proc = running_audit([str(corpus), "-o", str(out), "--jobs", "2"], out)
    try:
        assert proc.poll() is None, "the first run ended before the second started"
        second = invoke(str(other), "-o", str(out), "--jobs", "1")
        resumed = invoke(str(corpus), "-o", str(out), "--jobs", "1", "--resume")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for refused in (second, resumed):
        assert refused.exit_code == 1, refused.output
        assert refused.stderr.splitlines() == [
            f"{out}: another audit is writing into this folder; wait for it to end, or choose another folder"
        ]
    assert proc.returncode == 0, stderr
    assert_same_as(out, reference)


# --------------------------------------------------------------------------- point 8: folder contents


def test_resume_refuses_a_folder_input_edited_with_size_and_time_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "intakes"
    shutil.copytree(CORPUS / "intakes", folder)
    out = tmp_path / "out"
    monkeypatch.setattr(audit, "CHUNK", 2)
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
    real = audit_state._write_all
    writes = [0]

    def full(fd: int, data: Any) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("decisions.jsonl.partial"):
            writes[0] += 1
            if writes[0] == 2:
                raise OSError(28, os.strerror(28))
        real(fd, data)

    monkeypatch.setattr(audit_state, "_write_all", full)
    assert invoke(str(folder), "-o", str(out), "--jobs", "1").exit_code == 1
    monkeypatch.undo()
    assert (out / STATE).exists()
    # edit the last intake file keeping its size and modification time (cp -p, rsync -t, tar)
    last = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".json"))[-1]
    before = last.stat()
    text = last.read_text()
    edited = text.replace("phq9: 1", "phq9: 2", 1) if "phq9: 1" in text else text.replace("age: 3", "age: 4", 1)
    assert edited != text and len(edited) == len(text)
    last.write_text(edited)
    os.utime(last, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert last.stat().st_size == before.st_size and last.stat().st_mtime_ns == before.st_mtime_ns

    result = invoke(str(folder), "-o", str(out), "--jobs", "1", "--resume")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [f"{out / STATE}: cannot resume: {folder} changed since the run started"]

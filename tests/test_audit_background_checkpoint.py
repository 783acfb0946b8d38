"""`audit` saves its mid-run checkpoints on a thread while it goes on assessing (issue 18: the
syncs took ~60 ms of a 2.4 s two-process run, in which one of the two processes did nothing).

What that must not change: a saved state never counts a byte that was not synced before it was
saved; a failed sync still ends the run with one line and the resume hint; and the resumed or
uninterrupted outputs are byte for byte the reference's.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ipt_advisor.audit import run as audit, state as audit_state
from test_audit_faults import RESUME_HINT, assert_same_as, assert_stopped_cleanly, invoke

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
DECISIONS = "decisions.jsonl.partial"
EIO = os.strerror(errno.EIO)


def name_of(fd: int) -> str:
    return os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_run_goes_on_while_a_checkpoint_syncs_and_no_state_outruns_its_sync(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    corpus, reference = small
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)  # a checkpoint after every chunk
    real_fsync, real_prepare = os.fsync, audit_state.StateFile.prepare
    synced = [0]  # the decisions file's length when it was last synced
    grew_during_a_sync: list[bool] = []
    counted: list[tuple[int, int]] = []  # (bytes a saved state counts, bytes synced before it)

    def fsync(fd: int) -> None:
        if name_of(fd) == DECISIONS:
            size = os.fstat(fd).st_size
            if size and not grew_during_a_sync:
                # hold the first sync of a non-empty file until the run writes more, or give up
                deadline = time.monotonic() + 5.0
                while os.fstat(fd).st_size == size and time.monotonic() < deadline:
                    time.sleep(0.001)
                grew_during_a_sync.append(os.fstat(fd).st_size > size)
            real_fsync(fd)
            synced[0] = size
            return
        real_fsync(fd)

    def prepare(self: Any, state: dict[str, Any]) -> None:
        counted.append((state["progress"]["bytes"]["decisions.jsonl"], synced[0]))
        real_prepare(self, state)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(audit_state.StateFile, "prepare", prepare)
    out = tmp_path / "out"
    result = invoke(str(corpus), "-o", str(out), "--jobs", jobs)
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    assert grew_during_a_sync == [True], "the run waited for the checkpoint's sync"
    assert len(counted) > 5
    assert all(state <= on_disk for state, on_disk in counted), counted
    assert_same_as(out, reference)


def test_a_sync_that_fails_in_the_background_ends_the_run_resumably(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, reference = small
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
    real = os.fsync
    calls = [0]

    def fsync(fd: int) -> None:
        if name_of(fd) == DECISIONS:
            calls[0] += 1
            if calls[0] == 4:  # a mid-run checkpoint: the first one is taken before any record
                raise OSError(errno.EIO, EIO)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "out"
    args = [str(corpus), "-o", str(out), "--jobs", "2"]
    result = invoke(*args)
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [f"{out / 'decisions.jsonl'}: cannot write: {EIO}{RESUME_HINT}"]
    assert result.stdout == ""
    assert_stopped_cleanly(out)
    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)

"""Injected faults on a single assessment: nothing is lost, nothing half-written, one clear line.

Output faults (``assess -o``): a missing directory, a refused temp file or rename (we run
as root, so the refusal is simulated at ``os.open``/``os.replace``), a full disk during the
write or the flush.  Each must exit 1 with one ``PATH: cannot write: reason`` line, leave no
temp file, and leave an existing report byte-for-byte as it was.

Input faults: an unreadable intake (exit 3) or rule file (exit 4).

Engine faults: an action that raises inside durable-rules (whose own handling would
swallow it) is an ``EngineError`` (exit 4, one line per problem), and the same process,
the same ``Advisor``, keeps working afterwards, even after more failed evaluations than
durable-rules has sessions.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

import ipt_advisor.engine.durable_rules as engine_module
from cli import cli
from ipt_advisor.advisor import Advisor
from ipt_advisor.core.errors import EngineError
from ipt_advisor.intake.schema import load_intake_file

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.yaml"
OLD_REPORT = b"the previous report, which must survive\n"


def assess_to(out: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["assess", str(DEMO), "--format", "html", "-o", str(out), *extra])


def assert_one_line_exit(result: Any, code: int, prefix: str, reason: str) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix) and lines[0].endswith(reason), lines[0]
    assert result.stdout == ""


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    """A report already in place, as a clinician would have from yesterday."""
    report = tmp_path / "report.html"
    report.write_bytes(OLD_REPORT)
    report.chmod(0o600)
    return report


def untouched(report: Path) -> None:
    assert report.read_bytes() == OLD_REPORT
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert [p.name for p in report.parent.iterdir()] == [report.name], "a temp file was left behind"


def refusing(real: Callable[..., Any], where: Path, error: int) -> Callable[..., Any]:
    """``real``, except that it fails with ``error`` for paths inside ``where``."""

    def fake(*args: Any, **kwargs: Any) -> Any:
        if any(str(a).startswith(str(where)) for a in args if isinstance(a, (str, os.PathLike))):
            raise OSError(error, os.strerror(error), str(args[0]))
        return real(*args, **kwargs)

    return fake


# --------------------------------------------------------------------------- output faults


def test_missing_directory(tmp_path: Path) -> None:
    out = tmp_path / "no-such-dir" / "report.html"
    result = assess_to(out)
    assert_one_line_exit(result, 1, f"{out}: cannot write: ", os.strerror(errno.ENOENT))
    assert list(tmp_path.iterdir()) == []


def test_directory_not_writable(existing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "open", refusing(os.open, existing.parent, errno.EACCES))
    result = assess_to(existing)
    assert_one_line_exit(result, 1, f"{existing}: cannot write: ", os.strerror(errno.EACCES))
    monkeypatch.undo()
    untouched(existing)


def test_rename_refused(existing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "replace", refusing(os.replace, existing.parent, errno.EPERM))
    result = assess_to(existing)
    assert_one_line_exit(result, 1, f"{existing}: cannot write: ", os.strerror(errno.EPERM))
    monkeypatch.undo()
    untouched(existing)


@pytest.mark.parametrize("after_bytes", [0, 1, 4096])
def test_disk_full_during_write(existing: Path, monkeypatch: pytest.MonkeyPatch, after_bytes: int) -> None:
    real_write = os.write
    written = [0]

    def fill_up(fd: int, data: Any) -> int:
        # a real full disk: part of the data lands, then ENOSPC
        room = after_bytes - written[0]
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data[:room]))
        written[0] += n
        return n

    monkeypatch.setattr(os, "write", fill_up)
    result = assess_to(existing)
    monkeypatch.undo()
    assert_one_line_exit(result, 1, f"{existing}: cannot write: ", os.strerror(errno.ENOSPC))
    untouched(existing)


def test_flush_to_disk_fails(existing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", broken_fsync)
    result = assess_to(existing)
    monkeypatch.undo()
    assert_one_line_exit(result, 1, f"{existing}: cannot write: ", os.strerror(errno.EIO))
    untouched(existing)


def test_the_report_written_after_a_fault_is_whole(existing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "replace", refusing(os.replace, existing.parent, errno.EPERM))
    assert assess_to(existing).exit_code == 1
    monkeypatch.undo()
    result = assess_to(existing)
    assert result.exit_code == 0, result.output
    text = existing.read_text(encoding="utf-8")
    assert text.rstrip().endswith("</html>")
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert [p.name for p in existing.parent.iterdir()] == [existing.name]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_stdout_on_a_full_disk() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, str(REPO / "cli.py"), "assess", str(DEMO)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=REPO,
        )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


# --------------------------------------------------------------------------- input faults


def test_unreadable_intake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    intake = tmp_path / "intake.yaml"
    intake.write_bytes(DEMO.read_bytes())
    real_open = open

    def refuse(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(intake):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    result = CliRunner().invoke(cli, ["assess", str(intake), "--format", "json"])
    monkeypatch.undo()
    assert_one_line_exit(result, 3, f"{intake}: cannot read file: ", os.strerror(errno.EACCES))


def test_unreadable_rule_file(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_read = Path.read_bytes
    broken = rules_copy / "safety.yaml"

    def refuse(self: Path) -> bytes:
        if self == broken:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    result = CliRunner().invoke(cli, ["assess", str(DEMO), "--rules", str(rules_copy)])
    monkeypatch.undo()
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    assert f"{rules_copy}/safety.yaml: cannot read: {os.strerror(errno.EACCES)}" in result.stderr.splitlines()


# --------------------------------------------------------------------------- engine faults


class Exploding(Exception):
    pass


def explode(*args: Any, **kwargs: Any) -> None:
    raise Exploding("injected fault inside a rule action")


def test_an_action_that_raises_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    advisor = Advisor.load()
    intake = load_intake_file(str(DEMO))
    expected = advisor.assess(intake)
    monkeypatch.setattr(engine_module, "Firing", explode)
    with pytest.raises(EngineError) as info:
        advisor.assess(intake)
    problems = info.value.problems
    assert problems and all("Exploding: injected fault inside a rule action" in p.message for p in problems)
    assert all(len(str(p).splitlines()) == 1 for p in problems)
    monkeypatch.undo()
    # the same Advisor (same durable ruleset handle) still decides, identically
    assert advisor.assess(intake) == expected


def test_engine_error_exit_4_then_the_next_run_works(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    good = runner.invoke(cli, ["assess", str(DEMO), "--format", "json"])
    assert good.exit_code == 0
    monkeypatch.setattr(engine_module, "Firing", explode)
    result = runner.invoke(cli, ["assess", str(DEMO), "--format", "json"])
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(f"{DEMO}: engine: rule ") for line in lines), lines
    monkeypatch.undo()
    again = runner.invoke(cli, ["assess", str(DEMO), "--format", "json"])
    assert again.exit_code == 0 and again.stdout == good.stdout


def test_failed_evaluations_do_not_leak_engine_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    # durable-rules breaks for good after 1024 live sessions; a failed run must free its own
    advisor = Advisor.load()
    intake = load_intake_file(str(DEMO))
    expected = advisor.assess(intake)
    monkeypatch.setattr(engine_module, "Firing", explode)
    failures = 0
    for _ in range(1_100):
        try:
            advisor.assess(intake)
        except EngineError:
            failures += 1
    monkeypatch.undo()
    assert failures == 1_100
    assert advisor.assess(intake) == expected


def test_a_failure_of_the_engine_core_mid_action_frees_the_session() -> None:
    # If a call into durable-rules' C core fails while an action is in progress, the loop
    # abandons the action and deletes the session: 1,100 such failures in a row (more than
    # the 1,024 live sessions the library allows) and the next assessment is as before.
    # In a subprocess: were the cleanup wrong, the C core could take the interpreter down.
    script = f"""
import ipt_advisor.engine.durable_rules as em
from ipt_advisor.advisor import Advisor
from ipt_advisor.core.errors import EngineError
from ipt_advisor.intake.schema import load_intake_file

real = em._core
class Failing:
    def __getattr__(self, name):
        return getattr(real, name)
    def complete_and_start_action(self, handle, state):
        raise RuntimeError("injected core failure")

advisor, intake = Advisor.load(), load_intake_file({str(DEMO)!r})
expected = advisor.assess(intake)
em._core = Failing()
messages = set()
for _ in range(1_100):
    try:
        advisor.assess(intake)
    except EngineError as exc:
        messages.update(str(p) for p in exc.problems)
em._core = real
assert messages == {{{str(DEMO)!r} + ": engine: RuntimeError: injected core failure"}}, messages
assert advisor.assess(intake) == expected
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr

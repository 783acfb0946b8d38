"""`audit` under faults: interrupted by SIGINT/SIGTERM (a real process, real signals), a full
disk, an output folder it cannot write, and `--resume` finishing what was left.

What every interrupted or failed run must show: the documented exit code (130 SIGINT, 143
SIGTERM, 1 an output error) with one line on stderr and no traceback; no output under a final
name; `.partial` files of whole JSON lines only; no worker process left behind. And what
`--resume` must give: the files an uninterrupted run writes, byte for byte, with no decision
written or logged twice; or, for another run's folder, one clear line per reason and nothing
touched.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

import cli as cli_module
from cli import cli
from conftest import ROOT
from ipt_advisor import __version__
from ipt_advisor.audit import run as audit, state as audit_state
from ipt_advisor.audit.decision_log import verify

CORPUS = ROOT / "tests" / "files" / "corpus"
OUTPUTS = ["decisions.jsonl", "errors.jsonl", "overrides.jsonl", "summary.json", "summary.md", "summary.html"]
STREAMS = ["decisions.jsonl", "errors.jsonl", "overrides.jsonl"]
STATE = ".audit-state.json"
LEFT_BY_A_STOP = sorted([STATE] + [f"{name}.partial" for name in STREAMS])
FINISHED = sorted(OUTPUTS + [STATE])  # the state stays, marked done
RESUME_HINT = "; once fixed, run the same command with --resume to finish"
ENOSPC = os.strerror(errno.ENOSPC)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")


# --------------------------------------------------------------------------- corpora and references


def write_corpus(path: Path, n: int) -> Path:
    """n records cycling through the test corpus (valid intakes, some with a clinician's
    decision, and three kinds of invalid record), each valid one with its own id and PHQ-9,
    so all three streams (decisions, errors, overrides) get lines."""
    base = [line for line in (CORPUS / "intakes.jsonl").read_text().splitlines() if line.strip()]
    with path.open("w") as handle:
        for i in range(n):
            line = base[i % len(base)]
            try:
                record = json.loads(line)
            except ValueError:
                handle.write(line + "\n")
                continue
            record["id"] = f"{record['id']}-{i:05d}"
            if "phq9" in record.get("measures", {}):
                record["measures"]["phq9"] = i % 28
            handle.write(json.dumps(record) + "\n")
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["audit", *args])


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """3,000 intakes (a few seconds of work: long enough to be stopped mid-run) and the
    outputs of an uninterrupted run on them."""
    where = tmp_path_factory.mktemp("big")
    corpus = write_corpus(where / "intakes.jsonl", 3000)
    result = invoke(str(corpus), "-o", str(where / "reference"), "--jobs", "2")
    assert result.exit_code == 0, result.output
    return corpus, where / "reference"


def assert_same_as(out: Path, reference: Path) -> None:
    """The finished run left exactly the five outputs, each byte for byte the reference's,
    and its state marked done (what stops the same command from logging it all again)."""
    assert sorted(os.listdir(out)) == FINISHED
    assert json.loads((out / STATE).read_bytes())["phase"] == "done"
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def assert_stopped_cleanly(out: Path) -> int:
    """Only the .partial files and the state are there, of whole JSON lines; returns how many
    records they hold (decisions + errors)."""
    assert sorted(os.listdir(out)) == LEFT_BY_A_STOP
    for name in STREAMS:
        data = (out / f"{name}.partial").read_bytes()
        assert data == b"" or data.endswith(b"\n"), name
        for line in data.splitlines():
            json.loads(line)
    return sum(len((out / f"{n}.partial").read_bytes().splitlines()) for n in STREAMS[:2])


def assert_logged_once_each(log: Path, out: Path) -> None:
    cases = [json.loads(line)["case"] for line in log.read_text().splitlines()]
    ids = [json.loads(line)["intake_id"] for line in (out / "decisions.jsonl").read_text().splitlines()]
    assert cases == ids
    assert verify(str(log))[0] == len(ids)


# --------------------------------------------------------------------------- real signals


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def ignored_signals(pids: list[int]) -> list[set[int]]:
    """The signals each process ignores (SigIgn in /proc/PID/status)."""
    out = []
    for pid in pids:
        line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("SigIgn:"))
        bits = int(line.split()[1], 16)
        out.append({n for n in range(1, 65) if bits >> (n - 1) & 1})
    return out


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


def running_audit(args: list[str], out: Path) -> subprocess.Popen[str]:
    """``ipt-advisor audit ARGS`` in a process group of its own, once it has written its first
    decisions (the caller kills the group if the test fails before the run ends)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "audit", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    partial = out / "decisions.jsonl.partial"
    try:
        wait_for(
            lambda: proc.poll() is not None or (partial.exists() and partial.stat().st_size > 0), "the first decisions"
        )
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc


@pytest.mark.parametrize(
    "signum, to_group, with_log",
    [
        (signal.SIGINT, True, True),  # Ctrl-C in a terminal: the whole foreground group
        (signal.SIGTERM, True, False),  # a service manager stopping everything
        (signal.SIGTERM, False, True),  # `kill PID`: the parent alone
    ],
    ids=["SIGINT-group", "SIGTERM-group", "SIGTERM-parent"],
)
def test_a_signal_stops_cleanly_and_resume_finishes_identically(
    big, tmp_path: Path, signum: int, to_group: bool, with_log: bool
) -> None:
    corpus, reference = big
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    # --jobs 3: the parent and two forked workers, so the signal reaches more than one
    args = [str(corpus), "-o", str(out), "--jobs", "3", *(["--log", str(log)] if with_log else [])]
    proc = running_audit(args, out)
    try:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert len(group_members(proc.pid)) >= 3, "expected the parent and two workers"
        (os.killpg if to_group else os.kill)(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, stderr
    assert stdout == ""
    name = signal.Signals(signum).name
    match = re.fullmatch(
        rf"{re.escape(str(out))}: interrupted by {name} with ([\d,]+) records done; "
        r"run the same command with --resume to finish\n",
        stderr,
    )
    assert match, stderr  # one line, no traceback from the parent or a worker
    assert group_members(proc.pid) == [], "a worker outlived the run"
    done = int(match.group(1).replace(",", ""))
    assert 0 < done < 3000
    assert assert_stopped_cleanly(out) == done
    state = json.loads((out / STATE).read_text())
    assert state["tool_version"] == __version__
    assert state["input"]["sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert state["progress"]["records"] == done
    # a clean stop checkpoints exactly where the files end
    assert state["progress"]["bytes"] == {n: (out / f"{n}.partial").stat().st_size for n in STREAMS}
    if with_log:
        assert len(log.read_text().splitlines()) == len((out / "decisions.jsonl.partial").read_text().splitlines())

    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert f"(resumed: {done:,} were done before)" in result.stderr
    assert_same_as(out, reference)
    if with_log:
        assert_logged_once_each(log, out)


def test_a_worker_ignores_a_stray_sigterm(big, tmp_path: Path) -> None:
    """Only the parent decides when to stop: a SIGTERM sent to one worker alone changes nothing
    (a worker dying mid-chunk would lose that chunk's results and stall the run)."""
    corpus, reference = big
    out = tmp_path / "out"
    proc = running_audit([str(corpus), "-o", str(out), "--jobs", "2"], out)
    try:
        workers = [pid for pid in group_members(proc.pid) if pid != proc.pid]
        assert proc.poll() is None and workers
        for mask in ignored_signals(workers):  # at the kernel level, not by a handler that could race
            assert {signal.SIGINT, signal.SIGTERM} <= mask
        for _ in range(3):  # not one that a handler could take as the first of two
            os.kill(workers[0], signal.SIGTERM)
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr
    assert stdout.startswith("3000 records: ")
    assert_same_as(out, reference)


# --------------------------------------------------------------------------- a full disk


def full_disk(monkeypatch: pytest.MonkeyPatch, name: str, lines: int) -> None:
    """The disk fills up on the write that would take file ``name`` past ``lines`` lines:
    half of that write lands (cut mid-line, as on a real full disk), then ENOSPC."""
    real = audit_state._write_all
    written = [0]

    def fake(fd: int, data: Any) -> None:
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == name:
            data = bytes(data)
            if written[0] + data.count(b"\n") > lines:
                os.write(fd, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, ENOSPC)
            written[0] += data.count(b"\n")
        real(fd, data)

    monkeypatch.setattr(audit_state, "_write_all", fake)


@pytest.mark.parametrize(
    "name, lines",
    [
        ("decisions.jsonl.partial", 0),
        ("decisions.jsonl.partial", 250),
        ("errors.jsonl.partial", 60),
        ("overrides.jsonl.partial", 40),
        (".audit-state.json.tmp", 3),  # the checkpoint itself
        ("summary.md.partial", 20),  # every record done, the summary half written
    ],
)
def test_disk_full_then_resume(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, lines: int) -> None:
    corpus, reference = small
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    args = [str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log)]
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)  # a checkpoint after every chunk
    full_disk(monkeypatch, name, lines)
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    failed = name.removesuffix(".partial").removesuffix(".tmp")
    assert result.stderr.splitlines() == [f"{out / failed}: cannot write: {ENOSPC}{RESUME_HINT}"]
    assert result.stdout == ""
    done = assert_stopped_cleanly(out)
    state = json.loads((out / STATE).read_text())
    assert state["progress"]["records"] <= done  # the files may run ahead: resuming cuts them back
    counted = state["progress"]["tally"]
    logged = log.read_text().splitlines() if log.exists() else []
    assert len(logged) == counted["records"] - counted["invalid"] - counted["engine_errors"]  # no more, no fewer

    monkeypatch.undo()  # space was freed
    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)
    assert_logged_once_each(log, out)


def test_decision_log_full_then_resume_logs_each_decision_once(
    small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log refuses its second batch: the checkpoint that would count those decisions is
    not put in place, so the resumed run logs them, once."""
    corpus, reference = small
    out, log = tmp_path / "out", tmp_path / "decisions.log"
    args = [str(corpus), "-o", str(out), "--jobs", "2", "--log", str(log)]
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
    real = os.write
    appends = [0]

    def write(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") == str(log):
            appends[0] += 1
            if appends[0] == 2:
                raise OSError(errno.ENOSPC, ENOSPC)
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    result = invoke(*args)
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [f"{log}: cannot append to the decision log: {ENOSPC}{RESUME_HINT}"]
    assert_stopped_cleanly(out)
    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)
    assert_logged_once_each(log, out)


@pytest.mark.parametrize("name", ["intakes", "intakes.jsonl", "intakes.csv"])
def test_each_input_kind_resumes_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """A folder, JSON Lines and CSV, in chunks of two records, stopped after three decisions."""
    source = str(CORPUS / name)
    assert invoke(source, "-o", str(tmp_path / "reference")).exit_code == 0
    out = tmp_path / "out"
    monkeypatch.setattr(audit, "CHUNK", 2)
    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
    full_disk(monkeypatch, "decisions.jsonl.partial", 3)
    assert invoke(source, "-o", str(out), "--jobs", "2").exit_code == 1
    assert 0 < json.loads((out / STATE).read_text())["progress"]["records"] < 9
    monkeypatch.undo()
    result = invoke(source, "-o", str(out), "--resume", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert_same_as(out, tmp_path / "reference")


def interrupted_run(small, out: Path, *extra: str) -> Any:
    """A run stopped by a full disk part-way through (a checkpoint after every chunk)."""
    corpus, _ = small
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(audit, "CHECKPOINT_SECONDS", 0.0)
        full_disk(mp, "decisions.jsonl.partial", 250)
        result = invoke(str(corpus), "-o", str(out), "--jobs", "2", *extra)
    finally:
        mp.undo()
    assert result.exit_code == 1, result.output
    return result


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


# --------------------------------------------------------------------------- resume: what it accepts


def test_resume_drops_lines_written_after_the_checkpoint_and_a_cut_one(small, tmp_path: Path) -> None:
    """As after SIGKILL or a power cut: whole lines past the checkpoint and half a line."""
    corpus, reference = small
    out = tmp_path / "out"
    interrupted_run(small, out)
    with (out / "errors.jsonl.partial").open("a") as handle:
        handle.write('{"source":"x","line":1,"kind":"invalid","problems":[]}\n')
    with (out / "decisions.jsonl.partial").open("a") as handle:
        handle.write('{"decision_version":1,"intake_id":"C-0')
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)


def test_a_run_without_resume_starts_over(small, tmp_path: Path) -> None:
    corpus, reference = small
    out = tmp_path / "out"
    interrupted_run(small, out)
    result = invoke(str(corpus), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)


def test_interrupted_while_writing_the_summary(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal after the last record: the summaries are not put in place either."""
    corpus, reference = small
    out = tmp_path / "out"
    real = audit.render_summary_md

    def render_then_get_terminated(*args: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # handled by the audit: a stop request
        return real(*args)

    monkeypatch.setattr(audit, "render_summary_md", render_then_get_terminated)
    result = invoke(str(corpus), "-o", str(out), "--jobs", "2")
    assert result.exit_code == 143, result.output
    assert result.stderr.splitlines() == [
        f"{out}: interrupted by SIGTERM with 600 records done; run the same command with --resume to finish"
    ]
    assert assert_stopped_cleanly(out) == 600
    # what a SIGKILL could have left past the checkpoint, where no record remains to overwrite it
    with (out / "overrides.jsonl.partial").open("a") as handle:
        handle.write('{"case":"X","source":"x","line":1}\n{"case":"Y","sou')
    monkeypatch.undo()
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)


# --------------------------------------------------------------------------- resume: what it refuses


def test_resume_with_nothing_to_resume(small, tmp_path: Path) -> None:
    corpus, reference = small
    out = tmp_path / "missing"
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{out}: nothing to resume: no interrupted audit in this folder"]


def test_resume_of_a_finished_run_says_so_and_touches_nothing(small, tmp_path: Path) -> None:
    corpus, reference = small
    out = tmp_path / "finished"
    assert invoke(str(corpus), "-o", str(out)).exit_code == 0
    before = snapshot(out)
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"{out}: nothing left to do: this audit had finished"
    assert snapshot(out) == before
    assert_same_as(out, reference)


def test_a_finished_run_without_log_runs_again(small, tmp_path: Path) -> None:
    """Nothing can be logged twice without --log: the same command simply writes the same files."""
    corpus, reference = small
    out = tmp_path / "out"
    for _ in range(2):
        assert invoke(str(corpus), "-o", str(out)).exit_code == 0
    assert_same_as(out, reference)


def test_resume_refuses_another_run_and_touches_nothing(
    small, tmp_path: Path, rules_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another input path, another rule set, another tool version, another log: one line each."""
    from ipt_advisor.ruleset.load import load_ruleset

    corpus, reference = small
    out = tmp_path / "out"
    interrupted_run(small, out)
    before = snapshot(out)
    state = out / STATE
    other = tmp_path / "copy.jsonl"
    other.write_bytes(corpus.read_bytes())
    with (rules_copy / "ruleset.yaml").open("a") as handle:
        handle.write("# a changed rule set\n")
    then, now = (
        sha[:12] for sha in (json.loads(state.read_text())["ruleset"]["sha256"], load_ruleset(rules_copy).sha256)
    )
    monkeypatch.setattr(cli_module, "__version__", "9.9.9")
    result = invoke(
        str(other), "-o", str(out), "--rules", str(rules_copy), "--log", str(tmp_path / "x.log"), "--resume"
    )
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{state}: cannot resume: {reason}"
        for reason in (
            f"the rule set changed since the run started (sha256 {then}… then, sha256 {now}… now)",
            f"the run was started by ipt-advisor {__version__}, this is 9.9.9",
            f"the run was started on {corpus}, not {other}",
            "the run was started without --log",
        )
    ]
    assert snapshot(out) == before
    assert not (tmp_path / "x.log").exists()
    result = invoke(str(corpus), "-o", str(out), "--resume")  # the right command still finishes it
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)


def test_resume_refuses_a_changed_input(small, tmp_path: Path) -> None:
    _, reference = small
    corpus = write_corpus(tmp_path / "intakes.jsonl", 600)
    out = tmp_path / "out"
    interrupted_run((corpus, reference), out)
    before = snapshot(out)
    with corpus.open("a") as handle:
        handle.write('{"intake_version": 1}\n')
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{out / STATE}: cannot resume: {corpus} changed since the run started"]
    assert snapshot(out) == before


def test_resume_refuses_a_partial_file_shorter_than_saved(small, tmp_path: Path) -> None:
    corpus, _ = small
    out = tmp_path / "out"
    interrupted_run(small, out)
    saved = json.loads((out / STATE).read_text())["progress"]["bytes"]["decisions.jsonl"]
    partial = out / "decisions.jsonl.partial"
    partial.write_bytes(partial.read_bytes()[: saved - 10])
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{partial}: cannot resume: holds {saved - 10} bytes, fewer than the {saved} the saved state counts "
        "(was it changed, or did the system crash?)"
    ]
    assert partial.stat().st_size == saved - 10  # left as found


def test_resume_refuses_a_broken_state(small, tmp_path: Path) -> None:
    corpus, _ = small
    out = tmp_path / "out"
    interrupted_run(small, out)
    (out / STATE).write_text('{"state_version": 1, "progress": ')
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{out / STATE}: cannot resume: not an audit state (not JSON)"]
    assert sorted(os.listdir(out)) == LEFT_BY_A_STOP


# --------------------------------------------------------------------------- an output folder it cannot use


def test_output_folder_missing_is_created(small, tmp_path: Path) -> None:
    corpus, reference = small
    out = tmp_path / "a" / "b" / "out"
    result = invoke(str(corpus), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)


def test_output_folder_not_writable(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """We run as root, so the refusal is simulated where the audit opens its files."""
    corpus, _ = small
    out = tmp_path / "out"
    out.mkdir()
    real = os.open

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(out) + os.sep):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    result = invoke(str(corpus), "-o", str(out))
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{out / 'decisions.jsonl'}: cannot write: {os.strerror(errno.EACCES)}"]
    assert os.listdir(out) == []  # nothing to resume, so nothing kept
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{out}: nothing to resume: no interrupted audit in this folder"]


def test_output_folder_under_a_regular_file(small, tmp_path: Path) -> None:
    corpus, _ = small
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out"
    result = invoke(str(corpus), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{out}: cannot create folder: {os.strerror(errno.ENOTDIR)}"]
    result = invoke(str(corpus), "-o", str(out), "--resume")
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- the counters a checkpoint keeps


def test_tally_snapshot_restores_the_same_summary(small, advisor) -> None:
    from ipt_advisor.audit.summary import Outcome, Tally

    _, reference = small
    tally = Tally(advisor.ruleset)
    for i, line in enumerate((reference / "decisions.jsonl").read_text().splitlines()[:40]):
        d = json.loads(line)
        clinician = (("group", "individual", "defer")[i % 3], ("grief", None)[i % 2], None) if i % 4 else None
        tally.add(
            Outcome(
                i,
                "s",
                i,
                d["intake_id"],
                "0" * 64,
                d["status"],
                d["recommendation"]["format"],
                d["focus"]["primary"],
                d["focus"]["secondary"],
                tuple(f["code"] for f in d["flags"]),
                tuple(t["rule"] for t in d["trace"]),
                tuple(r["rule"] for r in d["recommendation"].get("reasons", ())),
                clinician,
            )
        )
    tally.add_invalid()
    tally.add_invalid(engine=True)
    again = Tally.restore(advisor.ruleset, json.loads(json.dumps(tally.snapshot())))
    kwargs = dict(input_path="p", input_kind="jsonl", input_sha256="0", tool_version="t", departures_file="o")
    assert tally.clinician and tally.engine_errors
    assert json.dumps(again.as_dict(**kwargs)) == json.dumps(tally.as_dict(**kwargs))
    for broken in (
        {"records": "many"},
        {**tally.snapshot(), "confusion": [["a", "b"]]},
        {**tally.snapshot(), "flags": []},
    ):
        with pytest.raises(ValueError):
            Tally.restore(advisor.ruleset, broken)


def test_stopping_early_never_hangs_on_a_half_sent_result() -> None:
    # The parent stops reading (a full disk, Ctrl-C, SIGTERM) while workers are sending large
    # results. Killing a worker mid-send left half a message in the pool's result pipe and
    # the shutdown waited for the rest forever: before the fix one stop in ten to thirty hung.
    # Now the workers are told to skip what is left and answer first. In a subprocess with a
    # timeout, so a hang fails the test instead of blocking the suite.
    script = """
import time
from ipt_advisor.audit.run import ordered_map
from ipt_advisor.intake.corpus import RawRecord

def init():
    return None

def big(state, record):
    return b"x" * 4_000_000  # a reply far larger than a pipe holds: sending takes a while

records = (RawRecord(i, "s", i, "json", b"{}") for i in range(10_000))
for attempt in range(100):
    results = ordered_map(records, init, big, (), 2, 1)
    next(results)
    results.close()  # stop early, as the audit does on a full disk or a signal
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_a_worker_killed_by_the_system_ends_the_run_resumably(big, tmp_path: Path) -> None:
    """SIGKILL (what the out-of-memory killer sends) to one worker: the chunk it held never
    comes back. The run used to wait for it forever; now it stops with one line and exit 1,
    and --resume finishes it identically."""
    corpus, reference = big
    out = tmp_path / "out"
    args = [str(corpus), "-o", str(out), "--jobs", "2"]
    proc = running_audit(args, out)
    try:
        workers = [pid for pid in group_members(proc.pid) if pid != proc.pid]
        assert proc.poll() is None and workers, "the run ended before a worker could be killed"
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, stderr
    assert stdout == ""
    assert stderr == (
        f"{out}: worker process {workers[0]} died (killed by SIGKILL; out of memory?); "
        "once fixed, run the same command with --resume to finish\n"
    )
    assert group_members(proc.pid) == [], "a worker outlived the run"
    assert_stopped_cleanly(out)

    result = invoke(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert_same_as(out, reference)

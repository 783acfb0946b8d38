"""`ipt-advisor audit`: every input kind, invalid records mixed in, input order kept with
several workers, private and atomic outputs, deterministic summaries, exit codes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from cli import cli
from conftest import ROOT
from ipt_advisor import __version__

CORPUS = ROOT / "tests" / "files" / "corpus"
VALID_IDS = ["C-01", "C-02", "C-03", "C-04", "C-05", "C-06", "C-07", "C-08"]
OUTPUTS = {"decisions.jsonl", "errors.jsonl", "overrides.jsonl", "summary.json", "summary.md", "summary.html"}
MARKER = "MARKER-NOTES-7731"  # in notes, in a wrongly typed field and in a reason of an invalid record


def audit(runner, source: Path | str, out: Path, *extra: str):
    return runner.invoke(cli, ["audit", str(source), "-o", str(out), *extra])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", ["intakes", "intakes.jsonl", "intakes.csv"])
def test_each_input_kind(runner, tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    result = audit(runner, CORPUS / name, out, "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert set(os.listdir(out)) == OUTPUTS | {".audit-state.json"}  # no .partial left; the state marked done
    for f in OUTPUTS | {".audit-state.json"}:
        assert (out / f).stat().st_mode & 0o777 == 0o600, f
    decisions = lines(out / "decisions.jsonl")
    assert [d["intake_id"] for d in decisions] == VALID_IDS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["kind"] == {"intakes": "folder", "intakes.jsonl": "jsonl", "intakes.csv": "csv"}[name]
    assert summary["records"]["assessed"] == 8
    assert result.stdout.startswith(f"{summary['records']['total']} records: 8 assessed, ")


def test_decisions_are_assess_json_on_one_line(runner, tmp_path: Path, advisor) -> None:
    """Exactly the decision `assess --format json` prints, compact, one per line."""
    out = tmp_path / "out"
    assert audit(runner, CORPUS / "intakes", out).exit_code == 0
    first = runner.invoke(cli, ["assess", str(CORPUS / "intakes" / "C-01.yaml"), "--format", "json"])
    expected = json.dumps(json.loads(first.stdout), ensure_ascii=False, separators=(",", ":"))
    assert (out / "decisions.jsonl").read_text().splitlines()[0] == expected


def test_the_three_kinds_give_identical_decisions(runner, tmp_path: Path) -> None:
    texts = []
    for name in ("intakes", "intakes.jsonl", "intakes.csv"):
        assert audit(runner, CORPUS / name, tmp_path / name).exit_code == 0
        texts.append((tmp_path / name / "decisions.jsonl").read_bytes())
    assert texts[0] == texts[1] == texts[2]


def test_invalid_records_exact_error_lines(runner, tmp_path: Path) -> None:
    s = str(CORPUS / "intakes.jsonl")
    result = audit(runner, s, tmp_path / "out")
    assert result.exit_code == 0
    assert (tmp_path / "out" / "errors.jsonl").read_text().splitlines() == [
        '{"source":"%s","line":3,"kind":"invalid","problems":[{"line":3,"path":"","message":"malformed JSON: Expecting value (column 48)"}]}'
        % s,
        '{"source":"%s","line":8,"kind":"invalid","problems":[{"line":8,"path":"age","message":"must be a whole number, got <text> (text)"},'
        '{"line":8,"path":"notes","message":"must be text, got a number (put it in quotes)"}]}' % s,
        '{"source":"%s","line":12,"kind":"invalid","problems":[{"line":12,"path":"measures.phq9","message":"required"}]}'
        % s,
    ]


def test_lone_surrogate_in_free_text_is_an_invalid_record_not_a_crash(runner, tmp_path: Path) -> None:
    # JSON can escape half a UTF-16 pair ("\\ud800"); it once crashed the whole audit with a traceback
    good = json.loads((CORPUS / "intakes.jsonl").read_text().splitlines()[0])
    source = tmp_path / "s.jsonl"
    half = json.dumps({**good, "id": "S-2", "notes": "before\ud800after"})
    assert "\\ud800" in half
    source.write_text(json.dumps(good) + "\n" + half + "\n" + json.dumps({**good, "id": "S-3"}) + "\n")
    result = audit(runner, source, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert [d["intake_id"] for d in lines(tmp_path / "out" / "decisions.jsonl")] == [good["id"], "S-3"]
    (error,) = lines(tmp_path / "out" / "errors.jsonl")
    assert (error["line"], error["problems"]) == (
        2,
        [
            {
                "line": 2,
                "path": "notes",
                "message": "must be valid Unicode text, got a lone surrogate escape (\\ud800-\\udfff)",
            }
        ],
    )


def test_csv_and_folder_error_lines(runner, tmp_path: Path) -> None:
    assert audit(runner, CORPUS / "intakes.csv", tmp_path / "csv").exit_code == 0
    assert [
        (e["line"], [(p["path"], p["message"]) for p in e["problems"]])
        for e in lines(tmp_path / "csv" / "errors.jsonl")
    ] == [
        (4, [("age", "must be a whole number, got <text>")]),
        (
            10,
            [
                ("findings.role_transition.present", "must be true or false, got <text>"),
                ("measures.phq9", "must be a whole number, got <text>"),
            ],
        ),
    ]
    assert audit(runner, CORPUS / "intakes", tmp_path / "dir").exit_code == 0
    (error,) = lines(tmp_path / "dir" / "errors.jsonl")
    assert error == {
        "source": str(CORPUS / "intakes" / "C-04b-invalid.yaml"),
        "line": None,
        "kind": "invalid",
        "problems": [
            {"line": 6, "path": "measures.phq9", "message": "must be a whole number from 0 to 27, got 31"},
            {"line": 7, "path": "notes", "message": "must be text, got a list (put it in quotes)"},
        ],
    }


@pytest.mark.parametrize("name", ["intakes", "intakes.jsonl", "intakes.csv"])
def test_no_free_text_in_any_output_but_the_reasons(runner, tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    assert audit(runner, CORPUS / name, out).exit_code == 0
    for f in OUTPUTS:
        assert MARKER not in (out / f).read_text(), f


def test_fail_on_errors_exit_code(runner, tmp_path: Path) -> None:
    assert audit(runner, CORPUS / "intakes.jsonl", tmp_path / "a", "--fail-on-errors").exit_code == 1
    assert audit(runner, CORPUS / "intakes.jsonl", tmp_path / "b").exit_code == 0
    clean = tmp_path / "clean.jsonl"
    clean.write_text(
        "".join(
            line + "\n"
            for line in (CORPUS / "intakes.jsonl").read_text().splitlines()
            if line.startswith('{"intake_version": 1, "assessed_on"')
        )
    )
    result = audit(runner, clean, tmp_path / "c", "--fail-on-errors")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("8 records: 8 assessed, 0 invalid")


def _many(tmp_path: Path, n: int) -> Path:
    """n valid intakes (ids in input order), varied enough to give different decisions."""
    base = json.loads((CORPUS / "intakes.jsonl").read_text().splitlines()[0])
    path = tmp_path / "many.jsonl"
    with path.open("w") as handle:
        for i in range(n):
            record = dict(base, id=f"N-{i:05d}", measures={"phq9": i % 28, "phq9_item9": i % 2})
            if i % 7 == 0:
                record["invalid_key"] = True
            handle.write(json.dumps(record) + "\n")
    return path


def test_input_order_is_kept_with_two_workers_and_output_matches_one(runner, tmp_path: Path) -> None:
    path = _many(tmp_path, 700)  # about 11 chunks, spread over both workers
    assert audit(runner, path, tmp_path / "two", "--jobs", "2").exit_code == 0
    assert audit(runner, path, tmp_path / "one", "--jobs", "1").exit_code == 0
    ids = [d["intake_id"] for d in lines(tmp_path / "two" / "decisions.jsonl")]
    assert ids == [f"N-{i:05d}" for i in range(700) if i % 7]
    assert [e["line"] for e in lines(tmp_path / "two" / "errors.jsonl")] == [i + 1 for i in range(700) if i % 7 == 0]
    for f in OUTPUTS:
        assert (tmp_path / "two" / f).read_bytes() == (tmp_path / "one" / f).read_bytes(), f


def test_summary_is_deterministic_and_names_input_rules_and_tool(runner, tmp_path: Path, advisor) -> None:
    path = CORPUS / "intakes.jsonl"
    assert audit(runner, path, tmp_path / "a").exit_code == 0
    assert audit(runner, path, tmp_path / "b", "--jobs", "2").exit_code == 0
    for f in ("summary.json", "summary.md", "summary.html"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    rs = advisor.ruleset
    assert summary["tool_version"] == __version__
    assert summary["input"] == {
        "path": str(path),
        "kind": "jsonl",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert summary["ruleset"] == {"name": rs.name, "version": rs.version, "sha256": rs.sha256}
    assert summary["records"] == {"total": 11, "assessed": 8, "invalid": 3, "engine_errors": 0}
    assert sum(summary["format"].values()) == sum(summary["status"].values()) == sum(summary["focus"].values()) == 8
    fired = summary["rules"]["fired"]
    assert list(fired) == [r.id for r in rs.active_rules]
    assert summary["rules"]["never_fired"] == [rid for rid, n in fired.items() if n == 0]
    decisions = lines(tmp_path / "a" / "decisions.jsonl")
    for rid, n in fired.items():
        assert n == sum(any(t["rule"] == rid for t in d["trace"]) for d in decisions), rid
    for code, n in summary["flags"].items():
        assert n == sum(any(f["code"] == code for f in d["flags"]) for d in decisions), code
    assert "time" not in json.dumps(summary)


def test_summary_md_lists_counts_and_never_fired(runner, tmp_path: Path) -> None:
    assert audit(runner, CORPUS / "intakes.jsonl", tmp_path / "a").exit_code == 0
    md = (tmp_path / "a" / "summary.md").read_text()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert "| Invalid, not assessed (`errors.jsonl`) | 3 |" in md
    assert f"| `group` | {summary['format']['group']} |" in md
    assert f"**Never fired ({len(summary['rules']['never_fired'])}):**" in md
    assert "## Safety-critical overrides: 0" in md and "`summary.html`" in md
    assert len(md.splitlines()) < 40  # a digest for the terminal; the tables are in summary.html


def test_broken_rule_set_exit_4_and_no_output(runner, tmp_path: Path, rules_copy: Path) -> None:
    (rules_copy / "severity.yaml").write_text("rules: [{id: X}]\n")
    out = tmp_path / "out"
    result = audit(runner, CORPUS / "intakes.jsonl", out, "--rules", str(rules_copy))
    assert result.exit_code == 4
    assert "Traceback" not in result.output and not out.exists()


def test_unreadable_input_exit_1_one_line(runner, tmp_path: Path) -> None:
    result = audit(runner, tmp_path / "missing.jsonl", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"{tmp_path}/missing.jsonl: cannot read file: No such file or directory"]
    assert not (tmp_path / "out").exists()


def test_input_breaking_midway_leaves_no_output_under_final_names(runner, tmp_path: Path, monkeypatch) -> None:
    from ipt_advisor.intake import corpus as corpus_module

    real = corpus_module.Corpus._csv

    def breaks(self):  # the input becomes unreadable after two rows (a disk error, a removed mount)
        rows = real(self)
        yield next(rows)
        yield next(rows)
        raise self._error("malformed CSV: cannot read on", 4)

    monkeypatch.setattr(corpus_module.Corpus, "_csv", breaks)
    path = tmp_path / "x.csv"
    path.write_text((CORPUS / "intakes.csv").read_text())
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("previous run")
    result = audit(runner, path, out)
    assert result.exit_code == 1, result.output
    assert len(result.stderr.splitlines()) == 1 and "malformed CSV" in result.stderr
    assert sorted(os.listdir(out)) == ["summary.json"]  # untouched, and no half files
    assert (out / "summary.json").read_text() == "previous run"


def test_output_folder_not_writable_exit_1(runner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = audit(runner, CORPUS / "intakes.jsonl", blocker / "out")
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and "cannot create folder" in result.stderr


def test_progress_goes_to_a_terminal_only(runner, tmp_path: Path) -> None:
    """CliRunner's stderr is not a TTY: only the one timing line, no progress bar."""
    result = audit(runner, CORPUS / "intakes.jsonl", tmp_path / "a")
    assert "\r" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "records/s" in result.stderr


def test_progress_line_shows_count_rate_and_eta() -> None:
    import io

    from ipt_advisor.audit.run import Progress

    stream = io.StringIO()
    bar = Progress(stream, lambda: 400.0)
    bar.update(100, final=False)
    bar.shown = 0.0
    bar.update(200)
    bar.update(300, final=True)
    text = stream.getvalue()
    assert "       200 records" in text and "/s" in text and "ETA" in text and "50%" in text
    assert "[############............]" in text  # 200 of 400: half the bar
    assert text.endswith("\n")


def test_progress_bar_on_a_terminal_stderr_only(tmp_path: Path) -> None:
    """Under a real pseudo-terminal the bar is drawn on stderr; stdout keeps the one result line."""
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    exe = Path(sys.executable).parent / "ipt-advisor"
    proc = subprocess.run(
        [str(exe), "audit", str(CORPUS / "intakes.jsonl"), "-o", str(tmp_path / "a")],
        stdout=subprocess.PIPE,
        stderr=secondary,
        timeout=120,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    err = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "\r" in err and "[" + "#" * 24 + "]" in err and "records/s" in err
    assert proc.stdout.decode().splitlines() == [f"11 records: 8 assessed, 3 invalid; wrote {tmp_path / 'a'}"]


def _init_nothing() -> None:
    return None


def _index(state: None, record) -> int:
    return record.index


def test_an_in_process_run_hands_frozen_objects_back_to_the_collector() -> None:
    # jobs=1 freezes the loaded state for speed, as workers do, but this process lives on
    # (a library user, this test run): afterwards its objects must be collectable again
    import gc

    from ipt_advisor.audit.run import ordered_map
    from ipt_advisor.intake.corpus import RawRecord

    assert gc.get_freeze_count() == 0
    records = [RawRecord(i, "s", i, "json", b"{}") for i in range(10)]
    results = [x for part in ordered_map(iter(records), _init_nothing, _index, (), 1, 3) for x in part]
    assert results == list(range(10)) and gc.get_freeze_count() == 0
    early = ordered_map(iter(records), _init_nothing, _index, (), 1, 3)
    assert next(early) == [0, 1, 2] and gc.get_freeze_count() > 0  # frozen while it runs
    early.close()  # stopped early
    assert gc.get_freeze_count() == 0


def _where(state: None, record) -> tuple[int, int]:
    import time

    time.sleep(0.0005)  # long enough that both processes get chunks
    return record.index, os.getpid()


@pytest.mark.parametrize("jobs", [2, 3])
def test_the_parent_works_beside_its_workers_and_order_is_kept(jobs: int) -> None:
    # --jobs N is N processes assessing: this one and N-1 forked workers (a mostly idle
    # parent as a third process on two cores cost 10 % of the throughput)
    import gc

    from ipt_advisor.audit.run import ordered_map
    from ipt_advisor.intake.corpus import RawRecord

    records = [RawRecord(i, "s", i, "json", b"{}") for i in range(600)]
    results = [x for part in ordered_map(iter(records), _init_nothing, _where, (), jobs, 8) for x in part]
    assert [index for index, _ in results] == list(range(600))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == jobs, pids
    assert gc.get_freeze_count() == 0  # handed back to the collector, as with jobs=1

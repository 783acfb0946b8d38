"""What the tool touches outside its own files, and what reaches a terminal (issue 11, 9/14/17/18).

* ``-o`` refuses an existing target that is not a regular file (a FIFO, a device, a symlink
  such as ``/dev/stdout``): it would otherwise be replaced, or written through unprivately;
* folders it creates are owner-only (0o700), parents included, whatever the umask;
* closed stdin or stdout, and ``/dev/zero`` as a case file, end with one line, not a traceback;
* rule text with bidi overrides or CR never reaches the terminal as is.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from conftest import ROOT

DEMO = ROOT / "examples" / "demo.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device-link"])
def test_o_refuses_a_target_that_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "report.txt"
    elsewhere = tmp_path / "elsewhere.txt"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        elsewhere.write_text("keep me")
        target.symlink_to(elsewhere)
    else:
        target.symlink_to("/dev/null")  # like /dev/stdout -> /proc/self/fd/1
    result = CliRunner().invoke(cli, ["assess", str(DEMO), "-o", str(target)])
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"{target}: cannot write: it exists and is not a regular file "
        "(a pipe, a device or a link); remove it or choose another name"
    ]
    assert target.is_symlink() if kind != "fifo" else stat.S_ISFIFO(os.lstat(target).st_mode)
    if kind == "symlink":
        assert elsewhere.read_text() == "keep me"


@pytest.mark.parametrize(
    "command",
    [
        ["audit", str(ROOT / "tests/files/corpus/intakes.jsonl"), "-o"],
        ["rules", "doc", "--no-default-cases", "--cases", str(DEMO), "-o"],
    ],
)
def test_created_folders_are_owner_only_under_umask_000(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "a" / "b" / "out"
    old = os.umask(0)
    try:
        result = CliRunner().invoke(cli, [*command, str(target)])
    finally:
        os.umask(old)
    assert result.exit_code in (0, 1), result.output
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_assess_with_stdin_closed_is_one_line() -> None:
    done = subprocess.run(
        f"{sys.executable} {ROOT / 'cli.py'} assess - <&-",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == ["<stdin>: cannot read: standard input is closed"]


def test_assess_with_stdout_closed_is_one_line() -> None:
    done = subprocess.run(
        f"{sys.executable} {ROOT / 'cli.py'} assess {DEMO} >&-",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr


def test_rules_doc_with_dev_zero_as_a_case_is_one_line(tmp_path: Path) -> None:
    done = run("rules", "doc", "--no-default-cases", "--cases", "/dev/zero", "-o", str(tmp_path / "site"))
    assert "Traceback" not in done.stderr
    assert "/dev/zero: cannot read: not a regular file" in done.stderr


def test_bidi_overrides_and_cr_in_rule_text_never_reach_the_terminal(rules_copy: Path) -> None:
    path = rules_copy / "safety.yaml"
    text = path.read_text()
    # YAML escapes: the rule file holds a right-to-left override and a carriage return
    path.write_text(
        text.replace(
            "title: Risk screen missing or incomplete", 'title: "\\u202eevil\\r Risk screen missing or incomplete"', 1
        )
    )
    for args in (
        ["rules", "show", "RISK-CSSRS-MISSING"],
        ["rules", "list"],
        ["explain", str(DEMO), "--set", "measures.phq9=20"],
        ["assess", str(DEMO), "--why-not", "group"],
    ):
        result = CliRunner().invoke(cli, [*args, "--rules", str(rules_copy)])
        assert result.exit_code == 0, (args, result.output)
        assert "\u202e" not in result.stdout and "\r" not in result.stdout, args


def test_no_compiled_template_cache_is_read_or_written(tmp_path: Path) -> None:
    """Bytecode planted in a loosely owned cache folder ran as the next user of `assess`. The
    cache saved a few ms of a ~300 ms start (within the noise of measuring it), so it is gone."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    done = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "assess", str(DEMO)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    assert done.returncode == 0, done.stderr
    # the one thing written there is the rule-set cache: JSON data, never code, owner-only
    # (tests/test_ruleset_cache.py); no template bytecode
    made = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*"))
    assert all(m == "ipt-advisor" or (m.startswith("ipt-advisor/ruleset-") and m.endswith(".json")) for m in made), made

"""The command line as a user meets it: exit codes, stderr lines, files written or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import cli
from conftest import EXAMPLES, ROOT

BAD = ROOT / "tests" / "files" / "bad_intakes"

# Each invalid intake kind the issue names, with the exact lines expected on stderr.
BAD_CASES = {
    "range.yaml": ["range.yaml:5: measures.phq9: must be a whole number from 0 to 27, got 31"],
    "type.yaml": [
        "type.yaml:4: age: must be a whole number, got 'forty' (text)",
        "type.yaml:5: measures.phq9: must be a whole number, got '16' (text)",
        "type.yaml:7: risk.cssrs.wish_dead: must be true or false, got 'no' (text)",
    ],
    "unknown-key.yaml": ["unknown-key.yaml:9: findings.gried: unknown key (did you mean 'grief'?)"],
    "missing-required.yaml": [
        "missing-required.yaml:1: age: required",
        "missing-required.yaml:1: id: required",
        "missing-required.yaml:3: measures.phq9: required",
    ],
    "malformed.yaml": [
        "malformed.yaml:3: malformed YAML/JSON: while parsing a flow sequence did not find expected ',' or ']'"
    ],
    "empty.yaml": ["empty.yaml: file is empty"],
    "list.yaml": ["list.yaml:1: an intake must be a mapping of fields (key: value), got a list"],
    "python-tag.yaml": ["python-tag.yaml:4: age: tag '!!python/object/apply:os.system' is not allowed"],
    "alias-bomb.yaml": ["alias-bomb.yaml:2: YAML anchors and aliases are not allowed (at an unknown key, 1 character)"],
}


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_invalid_intake_exit_3_every_problem_no_output(runner, tmp_path: Path, name: str) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(cli, ["assess", str(BAD / name), "--format", "html", "-o", str(out)])
    assert result.exit_code == 3, result.output
    expected = [f"{BAD / name}:{line.split(':', 1)[1]}" if ":" in line else line for line in BAD_CASES[name]]
    assert result.stderr.splitlines() == expected
    assert "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert result.stdout == ""


def test_python_tag_executes_nothing(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["assess", str(BAD / "python-tag.yaml")])
    assert result.exit_code == 3
    assert not (tmp_path / "pwned.txt").exists()


def test_intake_check_lists_each_file(runner) -> None:
    result = runner.invoke(cli, ["intake", "check", str(EXAMPLES[0]), str(BAD / "range.yaml")])
    assert result.exit_code == 1
    assert f"{EXAMPLES[0]}: ok" in result.stdout
    assert "range.yaml:5: measures.phq9" in result.stderr
    assert "1 of 2 intake(s) invalid" in result.stderr


def test_intake_check_all_examples_ok(runner) -> None:
    result = runner.invoke(cli, ["intake", "check", *map(str, EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count(": ok") == len(EXAMPLES)


def test_blank_template_is_refused_and_filled_template_warns(runner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["intake", "template"])
    assert result.exit_code == 0
    path = tmp_path / "t.yaml"
    path.write_text(result.stdout)
    checked = runner.invoke(cli, ["intake", "check", str(path)])
    # the template's required fields are blank: it cannot pass as a real intake
    assert checked.exit_code == 1
    assert {line.split(": ")[1] for line in checked.stderr.splitlines()[:-1]} == {
        "id",
        "assessed_on",
        "age",
        "measures.phq9",
    }
    filled = (
        result.stdout.replace("id:     ", "id: T-1 ", 1)
        .replace("assessed_on:     ", "assessed_on: 2026-10-01 ", 1)
        .replace("age:     ", "age: 40 ", 1)
        .replace("phq9:     ", "phq9: 12 ", 1)
    )
    path.write_text(filled)
    checked = runner.invoke(cli, ["intake", "check", str(path)])
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == f"{path}: ok\n"
    assert "warning: the decision will be incomplete: Risk screen missing or incomplete" in checked.stderr
    assessed = runner.invoke(cli, ["assess", str(path), "--format", "json"])
    assert json.loads(assessed.stdout)["status"] == "incomplete"


@pytest.mark.parametrize(
    "cssrs, missing",
    [
        (None, "C-SSRS Q1: wish to be dead: not recorded"),
        (
            {"wish_dead": True, "active_thoughts": True, "method": False, "behavior_3m": False},
            "C-SSRS Q4: intent to act: not recorded; C-SSRS Q5: plan with intent: not recorded",
        ),
        ("declined", "The person declined the C-SSRS screener: yes"),
    ],
)
def test_intake_check_warns_for_absent_partial_and_declined_screens(runner, tmp_path: Path, cssrs, missing) -> None:
    record = {
        "intake_version": 1,
        "id": "W-1",
        "assessed_on": "2026-10-01",
        "age": 40,
        "measures": {"phq9": 12},
        "findings": {"role_transition": {"present": True, "onset_linked": True}},
    }
    if cssrs == "declined":
        record["risk"] = {"cssrs_declined": True}
    elif cssrs is not None:
        record["risk"] = {"cssrs": cssrs}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(record))
    checked = runner.invoke(cli, ["intake", "check", str(path)])
    assert checked.exit_code == 0
    assert checked.stdout == f"{path}: ok\n"
    assert f"{path}: warning: the decision will be incomplete: " in checked.stderr
    assert missing in checked.stderr


def test_intake_check_is_silent_for_a_complete_screen(runner) -> None:
    checked = runner.invoke(cli, ["intake", "check", "examples/group.yaml"])
    assert checked.exit_code == 0 and checked.stderr == ""


def test_stdin_dash(runner) -> None:
    text = (ROOT / "examples" / "group.yaml").read_text()
    result = runner.invoke(cli, ["assess", "-", "--format", "json"], input=text)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["intake_id"] == "EX-GROUP-01"


def test_same_intake_twice_byte_identical_json(runner) -> None:
    path = str(ROOT / "examples" / "demo.yaml")
    first = runner.invoke(cli, ["assess", path, "--format", "json"]).stdout_bytes
    second = runner.invoke(cli, ["assess", path, "--format", "json"]).stdout_bytes
    assert first == second and first.startswith(b"{")


def test_output_file_is_owner_only_and_complete(runner, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    old = os.umask(0o022)
    try:
        result = runner.invoke(
            cli, ["assess", str(ROOT / "examples" / "demo.yaml"), "--format", "html", "-o", str(out)]
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    assert out.read_text().rstrip().endswith("</html>")
    assert result.stdout == ""


def test_output_to_missing_directory_exit_1_one_line(runner, tmp_path: Path) -> None:
    out = tmp_path / "nope" / "r.html"
    result = runner.invoke(cli, ["assess", str(ROOT / "examples" / "demo.yaml"), "-o", str(out)])
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and "No such file or directory" in result.stderr
    assert "Traceback" not in result.output


def test_hostile_notes_inert_in_html(runner, tmp_path: Path) -> None:
    text = (ROOT / "examples" / "group.yaml").read_text()
    text += '\nnotes: "<script>alert(1)</script><img src=x onerror=alert(2)>"\n' if "\nnotes:" not in text else ""
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    result = runner.invoke(cli, ["assess", str(path), "--format", "html"])
    assert result.exit_code == 0, result.output
    html = result.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower() and "<img" not in html.lower()


def test_python_cli_py_from_checkout() -> None:
    result = subprocess.run(
        [sys.executable, "cli.py", "assess", "examples/group.yaml", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["recommendation"]["format"] == "group"


def test_ctrl_c_while_loading_ends_quietly_with_130() -> None:
    # The signal arrives once cli.py has been imported but before main() runs: the window in
    # which the library and its dependencies load, where a Ctrl-C used to print a traceback.
    code = (
        "import sys; sys.argv[0] = 'ipt-advisor'; import os, signal, time, cli;"
        " os.kill(os.getpid(), signal.SIGINT); time.sleep(5); print('not stopped')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "ipt-advisor: interrupted\n")


def test_importing_cli_leaves_ctrl_c_alone() -> None:
    code = "import signal, cli; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout == "True\n", result.stderr


def test_main_hands_ctrl_c_back_to_python_while_the_command_runs(monkeypatch) -> None:
    # Once a command runs, Ctrl-C must be KeyboardInterrupt again, so the command's own
    # cleanup runs and click reports it in one line; once it is over, Ctrl-C does nothing.
    import signal

    import cli as cli_module

    during = []

    def command(prog_name: str) -> None:
        during.append(signal.getsignal(signal.SIGINT))
        raise SystemExit(0)

    monkeypatch.setattr(sys, "argv", ["ipt-advisor", "--version"])
    monkeypatch.setattr(cli_module, "cli", command)
    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, cli_module._interrupted_while_loading)
        with pytest.raises(SystemExit):
            cli_module.main()
        assert during == [signal.default_int_handler]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_python_shuts_down_after_a_command_prints_nothing() -> None:
    # A Ctrl-C that lands after the command's last line, while the interpreter shuts down
    # (here: an exit hook that sends it and gives Python time to run its handlers).
    code = (
        "import sys; sys.argv = ['ipt-advisor', '--version']; import atexit, os, signal, time, cli;"
        " atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.05), print('after')));"
        " cli.main()"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.endswith("after\n")


def _break_rules(rules_dir: Path) -> dict[str, tuple[str, int]]:
    """Put three different mistakes into a copy of the rule set; return where each is."""
    severity = rules_dir / "severity.yaml"
    text = severity.read_text()
    text = text.replace("when: {phq9: {at_least: 20}}", "when: {phq9_scroe: {at_least: 20}}", 1)
    severity.write_text(text)
    misspelt_line = next(i for i, l in enumerate(text.splitlines(), 1) if "phq9_scroe" in l)
    focus = rules_dir / "focus.yaml"
    text = focus.read_text()
    text = text.replace("- id: FOCUS-GRIEF\n", "- id: FOCUS-GRIEF-ONSET\n", 1)
    focus.write_text(text)
    dup_line = [i for i, l in enumerate(text.splitlines(), 1) if l.strip() == "- id: FOCUS-GRIEF-ONSET"][1]
    fmt = rules_dir / "format.yaml"
    lines = fmt.read_text().splitlines()
    idx = next(i for i, l in enumerate(lines) if l.strip().startswith("rationale:"))
    lines.insert(idx + 1, "    broken: [unclosed")
    fmt.write_text("\n".join(lines) + "\n")
    return {
        "misspelt": ("severity.yaml", misspelt_line),
        "duplicate": ("focus.yaml", dup_line),
        "syntax": ("format.yaml", idx + 2),
    }


def test_rules_lint_lists_all_three_problems(runner, rules_copy: Path) -> None:
    where = _break_rules(rules_copy)
    result = runner.invoke(cli, ["rules", "lint", str(rules_copy)])
    assert result.exit_code == 1
    err = result.stderr
    assert "Traceback" not in result.output
    file, line = where["misspelt"]
    assert (
        f"{rules_copy}/{file}:{line}: SEV-KROENKE-SEVERE.when: unknown fact 'phq9_scroe' (did you mean 'phq9'?)" in err
    )
    file, line = where["duplicate"]
    assert (
        f"{rules_copy}/{file}:{line - 0}: FOCUS-GRIEF-ONSET.id: duplicate rule id (first defined at {rules_copy}/focus.yaml:"
        in err
    )
    file, _ = where["syntax"]
    assert f"{rules_copy}/{file}:" in err and "malformed YAML/JSON" in err


def test_assess_with_broken_rules_exit_4(runner, rules_copy: Path) -> None:
    _break_rules(rules_copy)
    result = runner.invoke(cli, ["assess", str(ROOT / "examples" / "demo.yaml"), "--rules", str(rules_copy)])
    assert result.exit_code == 4
    assert "unknown fact 'phq9_scroe'" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_rules_lint_and_test_clean_on_shipped_rules(runner) -> None:
    lint = runner.invoke(cli, ["rules", "lint"])
    assert lint.exit_code == 0, lint.output
    assert "no problems" in lint.stdout
    tested = runner.invoke(cli, ["rules", "test", "--coverage"])
    assert tested.exit_code == 0, tested.output
    assert " 0 failed" in tested.stdout and "<- never fired" not in tested.stdout


def test_rules_test_reports_a_failing_case(runner, rules_copy: Path) -> None:
    path = rules_copy / "severity.yaml"
    old = "{name: PHQ-9 5, intake: {measures: {phq9: 5}}, expect: {fires: true, flags: [BELOW_DIAGNOSTIC_THRESHOLD]}}"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, old.replace("{phq9: 5}", "{phq9: 10}")))
    result = runner.invoke(cli, ["rules", "test", str(rules_copy)])
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "SEV-BELOW-THRESHOLD-MILD: PHQ-9 5" in result.stdout
    assert "expected the rule to fire; it stayed silent" in result.stdout

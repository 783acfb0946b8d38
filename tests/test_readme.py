"""The README's console examples are real output: each command of a ```console block
that runs on the checkout as written is run, and what the README shows must be what it
prints (a line ``...`` stands for lines left out). Commands that need files the README
makes up (rules-weak/, intakes-2026.jsonl) or that write files are listed in SKIPPED."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CLI = REPO / "cli.py"

# commands shown but not run here, each with the reason
SKIPPED = {
    "rules doc -o site": "writes a folder (tests/test_catalog.py checks the counts line)",
    "rules test rules-weak --coverage": "rules-weak/ is an illustration",
    "rules test rules-weak --mutate --rule RISK-SI-IMMINENT": "rules-weak/ is an illustration",
    "rules lint rules-next": "rules-next/ is an edited copy (tests/test_lint_tables.py checks the gap message)",
    "rules lint rules-next --today 2026-06-30": "rules-next/ is an edited copy (tests/test_lint_tables.py "
    "checks the overdue-review warning)",
    "intake from-fhir tests/files/fhir/phq9-cssrs-negative.json --findings my-findings.yaml > intake.yaml": "my-findings.yaml is the reader's own file, and the command redirects",
    "assess bundle.json --findings my-findings.yaml --format fhir   # a GuidanceResponse": "bundle.json and my-findings.yaml are the reader's own files",
    "audit --db sqlite:///clinic.db -o audit/ && jq '.cds_feedback' audit/summary.json": "needs the database of the serve session above (tests/test_cds.py checks the join)",
}


def console_examples() -> list[tuple[int, str, list[str]]]:
    """(README line, command after ``ipt-advisor``, the output lines shown) per command."""
    lines = README.read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str, list[str]]] = []
    in_block = False
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            in_block = line.strip() == "```console"
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            command = line[2:]
            out.append((number, command.removeprefix("ipt-advisor ") if command.startswith("ipt-advisor ") else "", []))
        elif out:
            out[-1][2].append(line)
    for _, _, shown in out:  # the blank line between two commands is not output
        while shown and not shown[-1].strip():
            shown.pop()
    return [(n, c, shown) for n, c, shown in out if c]


def shown_matches(shown: list[str], actual: list[str]) -> bool:
    """Whether the README's lines are the output, ``...`` lines standing for any run of lines."""
    pattern = "\n".join(".*?" if s.strip() == "..." else re.escape(s.rstrip()) for s in shown)
    return re.fullmatch(pattern, "\n".join(a.rstrip() for a in actual), re.S) is not None


EXAMPLES = [e for e in console_examples() if e[1] not in SKIPPED]


def test_the_readme_has_console_examples() -> None:
    assert len(EXAMPLES) >= 5, EXAMPLES
    assert {c for _, c, _ in console_examples()} >= set(SKIPPED), "SKIPPED names a command the README no longer shows"


@pytest.mark.parametrize("line, command, shown", EXAMPLES, ids=[f"README.md:{n}" for n, _, _ in EXAMPLES])
def test_console_example_is_real_output(line: int, command: str, shown: list[str]) -> None:
    args = command.split("  #")[0].split()
    proc = subprocess.run([sys.executable, str(CLI), *args], capture_output=True, text=True, cwd=REPO, timeout=300)
    actual = (proc.stdout + proc.stderr).splitlines()
    assert shown_matches(shown, actual), (
        f"README.md:{line}: `ipt-advisor {command}` prints something else now; its output:\n" + "\n".join(actual)
    )


def test_tests_cited_in_the_invariants_exist() -> None:
    """docs/invariants.md names the tests that hold each invariant; each must exist (a
    ``file.py::name`` citation in that file), or the table vouches for nothing."""
    text = (REPO / "docs" / "invariants.md").read_text(encoding="utf-8")
    tests = REPO / "tests"
    defined = {
        p.stem: set(re.findall(r"^\s*def (test_\w+)", p.read_text(encoding="utf-8"), re.M)) for p in tests.rglob("*.py")
    }
    everywhere = set().union(*defined.values())
    missing = []
    for file, name in re.findall(r"(?:(test_\w+)\.py::)?\b(test_\w+)\b(?!\.py)", text):
        if name in defined:  # a test file named on its own
            continue
        if (file and name not in defined.get(file, set())) or name not in everywhere:
            missing.append(f"{file + '.py::' if file else ''}{name}")
    assert len(re.findall(r"\btest_\w+", text)) >= 20, "docs/invariants.md cites fewer tests than expected"
    assert missing == [], f"docs/invariants.md cites tests that do not exist: {sorted(set(missing))}"

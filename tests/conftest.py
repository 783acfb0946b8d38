"""Shared fixtures: the repo root, a CliRunner, the bundled advisor, copies of the rules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def fresh_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter at the project root (nothing of the package loaded
    yet, as a command starts); its stdout, after asserting it exited 0."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


# The flag codes decision-v1.md names in its table ("at least these, named exactly so"),
# in its order: the one copy of the contract's codes the tests check the rules against.
CONTRACT_FLAG_CODES = (
    "SUICIDE_IMMINENT",
    "SUICIDE_IDEATION",
    "RISK_ASSESSMENT_MISSING",
    "PSYCHOSIS_OR_MANIA",
    "SUBSTANCE_DEPENDENCE",
    "SUBSTANCE_MISUSE",
    "COGNITIVE_IMPAIRMENT",
    "HOSTILE_OR_HOMICIDAL",
    "IPV",
    "MORE_SEVERE",
    "SOCIAL_ANXIETY_HIGH",
    "GROUP_DISCOMFORT",
    "REFUSES_GROUP",
    "ACUTE_CRISIS",
    "CONFIDENTIALITY",
    "ADOLESCENT",
    "OUT_OF_SCOPE_AGE",
    "PERINATAL",
    "PROLONGED_GRIEF",
    "NO_FOCUS_AREA",
)


@pytest.fixture(scope="session", autouse=True)
def private_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The rule-set cache (ipt_advisor.ruleset_cache) of this test session, commands run as
    subprocesses included: never the user's own ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def advisor():
    from ipt_advisor.advisor import Advisor

    return Advisor.load()


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """For the audit's fault tests: 600 intakes (about ten chunks, all three output streams)
    and the outputs of an uninterrupted ``--jobs 2`` run on them, to compare resumed runs with."""
    from test_audit_faults import invoke, write_corpus

    where = tmp_path_factory.mktemp("small")
    corpus = write_corpus(where / "intakes.jsonl", 600)
    result = invoke(str(corpus), "-o", str(where / "reference"), "--jobs", "2")
    assert result.exit_code == 0, result.output
    return corpus, where / "reference"


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped rule set to break or change."""
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target

"""Shared fixtures: the repo root, a CliRunner, the bundled advisor, copies of the rules."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def advisor():
    from ipt_advisor.advisor import Advisor

    return Advisor.load()


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped rule set to break or change."""
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target

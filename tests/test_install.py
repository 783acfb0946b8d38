"""A plain (non-editable) `pip install` of the repository works from any directory.

Slow: builds a fresh virtualenv, fetches the build backend and compiles durable-rules.
It proves the wheel carries the rule set and the templates (mapped into the package by
setup.cfg) and that nothing at runtime depends on the checkout or the current directory.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "docs" / "decision-v1.schema.json"
# Copied to a scratch directory first so the in-tree build writes no build/ or
# *.egg-info into the working copy (other test runs may be using it).
NOT_COPIED = shutil.ignore_patterns(
    ".venv", "venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis", "build", "dist",
    "*.egg-info", "site", "demo-report.html", "out", "node_modules",
)


def clean_env() -> dict[str, str]:
    """The caller's environment minus anything that could make the repo importable."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(args: list[str | Path], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True, text=True,
        timeout=timeout,
    )


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{' '.join(proc.args)} -> exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(bin directory of a fresh venv with ipt-advisor installed, an unrelated working dir)."""
    if importlib.util.find_spec("venv") is None or importlib.util.find_spec("ensurepip") is None:
        pytest.skip(f"'{sys.executable} -m venv' is unavailable (no venv/ensurepip module)")
    root = tmp_path_factory.mktemp("install")
    venv, source, elsewhere = root / "venv", root / "source", root / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(REPO, source, ignore=NOT_COPIED, symlinks=True)

    proc = run([sys.executable, "-m", "venv", venv], cwd=elsewhere)
    assert proc.returncode == 0, explain(proc)
    bin_dir = venv / "bin"
    proc = run([bin_dir / "python", "-m", "pip", "install", source], cwd=elsewhere, timeout=900)
    assert proc.returncode == 0, explain(proc)
    return bin_dir, elsewhere


def test_wheel_ships_rules_and_templates(installed: tuple[Path, Path]) -> None:
    bin_dir, elsewhere = installed
    proc = run(
        [bin_dir / "python", "-c", "import ipt_advisor, pathlib; print(pathlib.Path(ipt_advisor.__file__).parent)"],
        cwd=elsewhere,
    )
    assert proc.returncode == 0, explain(proc)
    package_dir = Path(proc.stdout.strip())
    assert bin_dir.parent in package_dir.parents, f"ipt_advisor imported from {package_dir}, not the venv"
    assert list((package_dir / "rules").rglob("*.yaml")), f"no rules/*.yaml in {package_dir}"
    assert list((package_dir / "templates").rglob("*.j2")), f"no templates/*.j2 in {package_dir}"


def test_intake_template_runs_from_anywhere(installed: tuple[Path, Path]) -> None:
    bin_dir, elsewhere = installed
    proc = run([bin_dir / "ipt-advisor", "intake", "template"], cwd=elsewhere)
    assert proc.returncode == 0, explain(proc)
    assert "intake_version" in proc.stdout, explain(proc)


def test_assess_json_from_anywhere(installed: tuple[Path, Path]) -> None:
    bin_dir, elsewhere = installed
    proc = run(
        [bin_dir / "ipt-advisor", "assess", REPO / "examples" / "group.yaml", "--format", "json"],
        cwd=elsewhere,
    )
    assert proc.returncode == 0, explain(proc)
    decision = json.loads(proc.stdout)
    assert decision["decision_version"] == 1

    from jsonschema import Draft202012Validator

    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).iter_errors(decision)
    ]
    assert errors == [], "decision does not match docs/decision-v1.schema.json"

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
    ".venv",
    "venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    "build",
    "dist",
    "*.egg-info",
    "site",
    "demo-report.html",
    "out",
    "node_modules",
    ".mypy_cache",
    ".ruff_cache",
)


def clean_env() -> dict[str, str]:
    """The caller's environment minus anything that could make the repo importable."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(args: list[str | Path], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
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


def test_serve_runs_from_the_wheel(installed: tuple[Path, Path]) -> None:
    """The wheel carries the web app's migrations, static files and page templates: the
    installed `serve` creates its database, answers, and stops cleanly."""
    import http.client
    import re
    import signal

    bin_dir, elsewhere = installed
    env = dict(clean_env(), XDG_DATA_HOME=str(elsewhere / "data"))
    proc = subprocess.Popen(
        [str(bin_dir / "ipt-advisor"), "serve", "--port", "0"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().rstrip("\n")
        match = re.fullmatch(r"ipt-advisor serving on http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", first)
        assert match, first + proc.stderr.read() if proc.poll() is not None else first
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=30)
        for path in ("/health", "/static/app.css", "/static/form.js"):
            conn.request("GET", path)
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 200, path
        conn.request("GET", f"/?token={match.group(2)}")
        answer = conn.getresponse()
        answer.read()
        cookie = answer.getheader("Set-Cookie").split(";", 1)[0]
        conn.request("GET", "/intake/new", headers={"Cookie": cookie})
        answer = conn.getresponse()
        assert answer.status == 200 and 'name="measures.phq9"' in answer.read().decode()
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (elsewhere / "data" / "ipt-advisor" / "ipt-advisor.db").is_file()


def test_rules_doc_has_the_teaching_cases_from_the_wheel(installed: tuple[Path, Path]) -> None:
    """An installed `rules doc` shows the bundled examples and the vignettes (package data),
    not only a checkout's: the library reads no tests/ folder once installed."""
    bin_dir, elsewhere = installed
    shipped = len(list((REPO / "examples").glob("*.yaml"))) + len(list((REPO / "tests" / "vignettes").glob("*.yaml")))
    proc = run([bin_dir / "ipt-advisor", "rules", "doc", "-o", elsewhere / "catalog"], cwd=elsewhere, timeout=300)
    assert proc.returncode == 0, explain(proc)
    assert f" flags, {shipped} cases," in proc.stdout, explain(proc)
    pages = {p.name for p in (elsewhere / "catalog").rglob("*.html")}
    assert any("aurelia" in name for name in pages), sorted(pages)

"""Boundaries the design depends on, checked on the source itself.

* The library never imports click: cli.py is the only adapter to the terminal.
* Exactly one library module, ipt_advisor/engine.py, imports durable (the rule
  engine); replacing the engine must stay a one-module change. cli.py does not
  import it either.
* No project file contains an absolute path of the machine it was written on.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ipt_advisor"
ENGINE = PACKAGE / "engine.py"
CLI = REPO / "cli.py"

# Directories that are never part of the project, for the no-git fallback walk.
NOT_PROJECT_DIRS = {
    ".venv", "venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache",
    ".ruff_cache", "build", "dist", "site", "node_modules", ".eggs", ".tox", ".nox",
}


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported by *path*, including importlib.import_module("x")."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            names.add(node.args[0].value)
    return names


def imports_top_level(path: Path, top: str) -> bool:
    return any(name == top or name.startswith(top + ".") for name in imported_modules(path))


def package_modules() -> list[Path]:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert modules, f"no Python modules found under {PACKAGE.name}/"
    return modules


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_library_never_imports_click() -> None:
    offenders = [rel(p) for p in package_modules() if imports_top_level(p, "click")]
    assert offenders == [], f"click belongs in cli.py only; imported by {offenders}"


def test_only_engine_imports_durable() -> None:
    assert ENGINE.is_file(), "ipt_advisor/engine.py not found: it must be the one module importing durable"
    importers = [rel(p) for p in package_modules()
                 if imports_top_level(p, "durable") or imports_top_level(p, "durable_rules_engine")]
    assert importers == ["ipt_advisor/engine.py"], (
        f"exactly ipt_advisor/engine.py may import durable; found {importers or 'none'}"
    )


def test_cli_does_not_import_durable() -> None:
    assert CLI.is_file(), "cli.py not found at the repository root"
    assert not imports_top_level(CLI, "durable"), "cli.py must go through ipt_advisor, not durable"


def project_files() -> list[Path]:
    """Files that are (or would be) committed: git's view if available, else a filtered walk."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True, timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is not None:
        files = [REPO / os.fsdecode(name) for name in out.split(b"\0") if name]
    else:
        files = []
        for dirpath, dirnames, filenames in os.walk(REPO):
            dirnames[:] = [
                d for d in dirnames if d not in NOT_PROJECT_DIRS and not d.endswith(".egg-info")
            ]
            files.extend(Path(dirpath) / f for f in filenames)
    return [f for f in files if f.is_file() and not f.is_symlink()]


def test_no_file_contains_an_absolute_path_of_this_machine() -> None:
    parent = REPO.parent
    if parent == Path(parent.anchor):  # repository at the file-system root: check its own path
        parent = REPO
    # The parent path as a path of its own, not as part of a longer name or of a URL
    # (see test_absolute_path_pattern for what matches and what does not).
    needle = re.compile(
        rb"(?<![\w.~-])" + re.escape(os.fsencode(str(parent))) + rb"(?![\w-])"
    )
    files = project_files()
    assert files, "no project files found"
    offenders = []
    for path in files:
        data = path.read_bytes()
        for match in needle.finditer(data):
            line = data.count(b"\n", 0, match.start()) + 1
            offenders.append(f"{rel(path)}:{line}")
    assert offenders == [], (
        "absolute paths of this machine in project files (use paths relative to the "
        f"repository or the package): {offenders}"
    )


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("see {p}/main/rules", True),
        ("file://{p}/main", True),
        ("path: {p}", True),
        ("{p}flows/ci.yml", False),
        ("https://example.org{p}/1", False),
        ("docs{p}/x", False),
    ],
)
def test_absolute_path_pattern(text: str, hit: bool) -> None:
    # Guards the regular expression above against both misses and false alarms.
    parent = "/srv/work"
    needle = re.compile(rb"(?<![\w.~-])" + re.escape(parent.encode()) + rb"(?![\w-])")
    assert bool(needle.search(text.format(p=parent).encode())) is hit

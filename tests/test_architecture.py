"""Boundaries the design depends on, checked on the source itself.

* The library never imports click: cli.py is the only adapter to the terminal.
* Exactly one library module, ipt_advisor/engine/durable_rules.py, imports durable (the rule
  engine); replacing the engine must stay a one-module change. cli.py does not
  import it either.
* No project file contains an absolute path of the machine it was written on.
* Every module belongs to one layer of docs/architecture.md (LAYER below), lives in that
  layer's subpackage (ipt_advisor/<layer>/; the advisor layer is the package's top level),
  and imports only from its own layer and the layers beneath it: the one-way rule between parts.
* ``import ipt_advisor`` and its public names load neither the rules nor durable-rules;
  the one did-you-mean matcher (core/hints.py) is the only user of difflib.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ipt_advisor"
ENGINE = PACKAGE / "engine" / "durable_rules.py"
CLI = REPO / "cli.py"

# Directories that are never part of the project, for the no-git fallback walk.
NOT_PROJECT_DIRS = {
    ".venv",
    "venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    "build",
    "dist",
    "site",
    "node_modules",
    ".eggs",
    ".tox",
    ".nox",
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
    assert ENGINE.is_file(), (
        "ipt_advisor/engine/durable_rules.py not found: it must be the one module importing durable"
    )
    importers = [
        rel(p)
        for p in package_modules()
        if imports_top_level(p, "durable") or imports_top_level(p, "durable_rules_engine")
    ]
    assert importers == ["ipt_advisor/engine/durable_rules.py"], (
        f"exactly ipt_advisor/engine/durable_rules.py may import durable; found {importers or 'none'}"
    )


def test_cli_does_not_import_durable() -> None:
    assert CLI.is_file(), "cli.py not found at the repository root"
    assert not imports_top_level(CLI, "durable"), "cli.py must go through ipt_advisor, not durable"


def project_files() -> list[Path]:
    """Files that are (or would be) committed: git's view if available, else a filtered walk."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is not None:
        files = [REPO / os.fsdecode(name) for name in out.split(b"\0") if name]
    else:
        files = []
        for dirpath, dirnames, filenames in os.walk(REPO):
            dirnames[:] = [d for d in dirnames if d not in NOT_PROJECT_DIRS and not d.endswith(".egg-info")]
            files.extend(Path(dirpath) / f for f in filenames)
    return [f for f in files if f.is_file() and not f.is_symlink()]


def test_no_file_contains_an_absolute_path_of_this_machine() -> None:
    parent = REPO.parent
    if parent == Path(parent.anchor):  # repository at the file-system root: check its own path
        parent = REPO
    # The parent path as a path of its own, not as part of a longer name or of a URL
    # (see test_absolute_path_pattern for what matches and what does not).
    needle = re.compile(rb"(?<![\w.~-])" + re.escape(os.fsencode(str(parent))) + rb"(?![\w-])")
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


# ------------------------------------------------------------------ layers (docs/architecture.md)

# Each part and the parts it may import from (and, transitively, theirs). Each part is the
# subpackage of its name (ipt_advisor/core/, ...), but advisor: the package's top level.
BELOW: dict[str, tuple[str, ...]] = {
    "core": (),  # errors, safe YAML, JSON, the model, words for messages
    "intake": ("core",),
    "ruleset": ("intake",),  # not "rules": ipt_advisor.rules is the YAML, as package data
    "engine": ("ruleset",),
    "decision": ("ruleset",),  # not the engine: decide reads a Run (core/firings.py)
    "report": ("decision",),
    "advisor": ("engine", "report"),  # the front door: load, assess, render
    "audit": ("advisor",),
    "quality": ("advisor",),  # mutation testing and MC/DC of the rules' tests
    "catalog": ("quality",),  # the static HTML rule catalog (`rules doc`)
    "store": ("audit",),
    "web": ("store",),
}

# Every module of the package, in exactly one layer. A new module fails
# test_every_module_has_a_layer until it is placed here (and in docs/architecture.md),
# and test_every_module_lives_in_its_layers_subpackage until its file is in that subpackage.
LAYER: dict[str, str] = {
    "ipt_advisor": "advisor",  # __init__: the public API, imported lazily from the parts
    **dict.fromkeys(["advisor", "whatif", "ruletests", "smallest", "ruleset_cache"], "advisor"),
    **dict.fromkeys(
        [
            "core",
            "core.errors",
            "core.jsonline",
            "core.yamlio",
            "core.hints",
            "core.model",
            "core.firings",
            "core.interrupt",
            "core.output",
            "core.catalog_manifest",
            "core.wording",
            "core.precompiled_classes",
            "core.compiled_classes",
        ],
        "core",
    ),
    **dict.fromkeys(
        ["intake", "intake.schema", "intake.template", "intake.corpus", "intake.facts", "intake.fhir"], "intake"
    ),
    **dict.fromkeys(
        [
            "ruleset",
            "ruleset.load",
            "ruleset.lint",
            "ruleset.satisfiable",
            "ruleset.deps",
            "ruleset.compile",
            "ruleset.evaluate",
            "ruleset.handout",
            "ruleset.governance",
        ],
        "ruleset",
    ),
    **dict.fromkeys(["engine", "engine.durable_rules"], "engine"),
    # direct: the plain-Python firing, decided as decide does
    **dict.fromkeys(["decision", "decision.decide", "decision.direct"], "decision"),
    **dict.fromkeys(
        [
            "report",
            "report.words",
            "report.view",
            "report.render",
            "report.charts",
            "report.combine",
            "report.tables",
            "report.teaching",
            "report.fhir",
            "report.cds",
            "report.precompiled",
            "report.compiled_templates",
            "report.compiled_summaries",
        ],
        "report",
    ),
    **dict.fromkeys(
        [
            "audit",
            "audit.run",
            "audit.state",
            "audit.decision_log",
            "audit.summary",
            "audit.workers",
            "audit.ruleset_diff",
            "audit.compact",
            "audit.dashboard",
        ],
        "audit",
    ),
    **dict.fromkeys(
        [
            "quality",
            "quality.equivalence",
            "quality.killing",
            "quality.mcdc",
            "quality.mutants",
            "quality.mutation",
            "quality.mutation_report",
        ],
        "quality",
    ),
    **dict.fromkeys(["catalog", "catalog.site", "catalog.graphs"], "catalog"),
    **dict.fromkeys(
        [
            "store",
            "store.cases",
            "store.chain",
            "store.connect",
            "store.tables",
            "store.migrations",
            "store.migrations.env",
            "store.migrations.versions",
            "store.migrations.versions.0001_initial",
            "store.migrations.versions.0002_cds_feedback",
            "store.feedback",
            "store.prepared",
        ],
        "store",
    ),
    **dict.fromkeys(
        [
            "web",
            "web.app",
            "web.chart",
            "web.form",
            "web.security",
            "web.server",
            "web.views",
            "web.cds_auth",
            "web.cds_views",
            "web.warmup",
        ],
        "web",
    ),
}

# Imports against the rule, each a deferred import inside one function, with its reason.
# Shrink this list; never grow it without a reason a reader accepts.
UPWARD = {
    (
        "ruleset.load",
        "engine.durable_rules",
    ): "`rules lint` asks the engine whether it can load the rules (engine_check)",
    ("ruleset.handout", "decision.decide"): "the handout picks a text variant with the decision's own choose_text",
    ("ruleset.lint", "report.tables"): "lint checks decision tables for gaps and overlaps with the code that draws "
    "them, so the catalog's table and lint's finding cannot disagree",
}


def module_name(path: Path) -> str:
    """``ruleset.load``, ``web.views``, ``ipt_advisor`` (the package itself) for a file of the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "ipt_advisor"


def package_imports(path: Path) -> set[str]:
    """The package modules *path* imports (relative or absolute), as ``module_name`` gives them."""
    known = set(LAYER)
    me = module_name(path)
    here = [] if me == "ipt_advisor" else me.split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()

    def add(dotted: list[str]) -> None:
        name = ".".join(dotted)
        while name and name not in known:  # a name imported from a module: the module
            name = name.rpartition(".")[0]
        found.add(name or "ipt_advisor")

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                base = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "ipt_advisor":
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                add(base + [alias.name])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ipt_advisor":
                    add(alias.name.split(".")[1:])
    found.discard(me)
    return found


def allowed_layers(layer: str) -> set[str]:
    out, todo = {layer}, list(BELOW[layer])
    while todo:
        below = todo.pop()
        if below not in out:
            out.add(below)
            todo.extend(BELOW[below])
    return out


def test_every_module_has_a_layer() -> None:
    modules = {module_name(p) for p in package_modules()}
    assert sorted(modules - set(LAYER)) == [], "place each new module in a layer: LAYER here and docs/architecture.md"
    assert sorted(set(LAYER) - modules) == [], "LAYER names modules that no longer exist"
    assert set(LAYER.values()) == set(BELOW), "every layer holds a module, and every module's layer is in BELOW"


def home_layer(module: str) -> str:
    """The layer a module's file says it is in: its subpackage, or advisor at the top level."""
    top = module.split(".")[0]
    return top if (PACKAGE / top / "__init__.py").is_file() else "advisor"


def test_every_module_lives_in_its_layers_subpackage() -> None:
    # the folder tree is the architecture: ipt_advisor/<layer>/ holds exactly that layer's modules
    misplaced = [
        f"{m} (layer {layer}) lives in {home_layer(m)}/"
        for m, layer in LAYER.items()
        if m != "ipt_advisor" and home_layer(m) != layer
    ]
    assert misplaced == [], "move each module into the subpackage of its layer:\n" + "\n".join(misplaced)
    missing = [layer for layer in BELOW if layer != "advisor" and not (PACKAGE / layer / "__init__.py").is_file()]
    assert missing == [], f"every layer but advisor is a subpackage ipt_advisor/<layer>/; missing: {missing}"
    stray = sorted(
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file() and p.name not in BELOW
    )
    assert stray == [], f"subpackages that are no layer of BELOW: {stray}"


def test_imports_go_one_way_between_layers() -> None:
    against = []
    for path in package_modules():
        me = module_name(path)
        for other in sorted(package_imports(path)):
            if LAYER[other] not in allowed_layers(LAYER[me]) and (me, other) not in UPWARD:
                against.append(f"{me} ({LAYER[me]}) imports {other} ({LAYER[other]})")
    assert against == [], "imports against the one-way rule of docs/architecture.md:\n" + "\n".join(against)


def test_upward_exceptions_are_still_needed() -> None:
    used = {(module_name(p), other) for p in package_modules() for other in package_imports(p)}
    assert sorted(set(UPWARD) - used) == [], "remove these from UPWARD: the imports are gone"


def architecture_parts() -> dict[str, str]:
    """docs/architecture.md's paragraph of each part: it starts with ``**<part>/**`` (``**advisor**``)."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^\*\*(\w+)/?\*\*(.*?)(?=\n\n)", text, re.S | re.M)}


def test_every_layer_is_in_the_architecture_document() -> None:
    parts = architecture_parts()
    assert sorted(set(BELOW) - set(parts)) == [], "docs/architecture.md needs a **<part>/** paragraph for each layer"
    missing = []
    for m, layer in LAYER.items():
        leaf = m[len(layer) + 1 :] if m.startswith(layer + ".") else m
        # a part's own __init__ is named by its paragraph's heading
        if m not in ("ipt_advisor", layer) and f"`{leaf}`" not in parts.get(layer, ""):
            missing.append(f"{m} (`{leaf}` in **{layer}/**)")
    assert missing == [], f"docs/architecture.md does not name these modules in their part's paragraph: {missing}"


def test_import_ipt_advisor_loads_neither_rules_nor_durable() -> None:
    """The public API is importable without the engine: durable-rules is loaded when
    something is evaluated, and decide (aggregation) does not import the engine."""
    code = (
        "import sys, ipt_advisor\n"
        "from ipt_advisor import Advisor, Intake, IptError, load_intake_file\n"
        "import ipt_advisor.decision.decide, ipt_advisor.advisor, ipt_advisor.ruleset.load, ipt_advisor.ruleset.lint\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('durable', 'durable_rules_engine')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"durable loaded by a plain import: {proc.stdout}"


def test_public_api_names_match_their_modules() -> None:
    import ipt_advisor

    assert set(ipt_advisor.__all__) == set(ipt_advisor._EXPORTS) | {"__version__"}
    for name in ipt_advisor.__all__:
        assert getattr(ipt_advisor, name) is not None, name


def test_one_did_you_mean_matcher() -> None:
    users = [rel(p) for p in [*package_modules(), CLI] if imports_top_level(p, "difflib")]
    assert users == ["ipt_advisor/core/hints.py"], (
        f"suggest through ipt_advisor.core.hints.closest; difflib used by {users}"
    )


def test_architecture_api_example_runs() -> None:
    """The public-API example of docs/architecture.md runs as written (on a bundled example)."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1).replace('"intake.yaml"', '"examples/demo.yaml"')
    code += "print(decision['recommendation']['format'], len(text) > 0)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["group", "True"], proc.stdout

"""``ipt-advisor rules doc``: the rule set as a static, offline HTML catalog.

Layout of the output directory (every link is relative, nothing is fetched)::

    index.html             rules table with search and filters, facts, flags, cases
    rules/<ID>.html        one rule as a trainer reads it (catalog.rule_detail)
    facts/<name>.html      one fact: the rules that read it and the rules that derive it
    flags/<CODE>.html      one flag code: the rules raising it, level and action
    areas.html             one small graph per area (safety, format, focus, ...)
    graph.html             the whole graph, rules clustered by area, drawn by Graphviz
    graph.dot              the whole graph's source, for anyone who wants to draw it differently
    cases/<slug>.html      a teaching case: intake, decision, trace, "why not" the others
    cases/<slug>.report.html  the same case as the printable report ``assess`` writes

Deterministic: no timestamps, sorted inputs, and Graphviz's own stable layout, so building
twice gives byte-identical files.  The graph needs ``dot`` (Debian package ``graphviz``);
without it the catalog is still written and the graph page says what to install.

Published atomically: everything is built in a hidden temporary directory beside the
target, which then replaces the target.  A target that exists, is not empty and is not a
catalog written by this tool (no marker file) is refused, so ``-o ~`` cannot wipe a home;
nor is a catalog replaced while it holds a file it did not write or one changed since
(the marker lists every file with its sha256, see :mod:`~ipt_advisor.core.catalog_manifest`).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import re
import shutil
import stat
import tempfile
from dataclasses import field
from ..core.precompiled_classes import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..report import words as catalog, tables
from . import graphs as catalog_graphs
from ..quality import mcdc
from ..core import wording, yamlio
from ..ruletests import embedded_cases
from ..advisor import Advisor
from ..report.combine import combination
from ..ruleset.governance import is_overdue
from ..report.teaching import teaching_points
from ..core.catalog_manifest import manifest_text, read_manifest, unlisted
from ..core.errors import IntakeError, OutputError, Problem
from ..intake.facts import input_values
from ..intake.schema import Intake, from_mapping, load_intake, read_intake_file
from ..core.output import make_private_dirs, write_atomic_bytes

MARKER = ".ipt-advisor-catalog"  # the list of files the catalog wrote (catalog_manifest)
_MAX_MANIFEST = 16 << 20  # bytes: ~200,000 files; a marker is read whole, so bounded
CASE_SUFFIXES = (".yaml", ".yml", ".json")
GRAPHVIZ_HINT = "install Graphviz (Debian/Ubuntu: apt-get install graphviz) and run rules doc again"
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def page_name(name: str) -> str:
    """A rule id, fact name or flag code as a safe file name (unchanged when already safe)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,100}", name):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{_SLUG.sub('-', name).strip('-')[:60] or 'x'}-{digest}"


@dataclass
class Case:
    """A teaching case: an intake file, what the rules decide for it and why."""

    slug: str
    label: str  # the file as named on the page (relative to the checkout)
    intake: Intake
    decision: dict[str, Any]
    comments: list[str]  # the file's leading comment block: the author's teaching note
    title: str = ""
    expect: Any = None  # a vignette's own expectation block, shown as written


@dataclass
class SiteResult:
    """What ``write_catalog`` wrote, and what it had to leave out."""

    out_dir: Path
    files: int = 0
    rules: int = 0
    facts: int = 0
    flags: int = 0
    cases: int = 0
    graph: bool = False
    problems: list[Problem] = field(default_factory=list)  # case files that could not be used
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ cases


def checkout_root() -> Path:
    """The repository root when running from a checkout (where examples/ lives)."""
    return Path(__file__).resolve().parents[2]


# The default teaching cases: the examples and the clinical brief's vignettes. A wheel
# carries them inside the package (setup.cfg maps ipt_advisor.examples and
# ipt_advisor.vignettes to these folders); a checkout or editable install reads them in place.
TEACHING_CASES = (("examples", "examples"), ("vignettes", "tests/vignettes"))


def default_case_paths() -> list[Path]:
    """The teaching-case folders shipped in the package, else those of the checkout."""
    here = Path(__file__).resolve().parents[1]
    found = []
    for packaged, in_checkout in TEACHING_CASES:
        for candidate in (here / packaged, here.parent / in_checkout):
            if candidate.is_dir():
                found.append(candidate)
                break
    return found


def _case_files(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, label) for every case file; labels are relative to the checkout when inside it."""
    root = checkout_root()
    out = []
    for path in paths:
        files = (
            sorted(p for p in path.iterdir() if p.suffix in CASE_SUFFIXES and p.is_file()) if path.is_dir() else [path]
        )
        for f in files:
            try:
                label = f.resolve().relative_to(root).as_posix()
            except ValueError:
                label = f.as_posix()
            out.append((f, label))
    return sorted(set(out), key=lambda item: item[1])


def load_cases(advisor: Advisor, paths: list[Path]) -> tuple[list[Case], list[Problem]]:
    """Assess every case file.  A file is an intake, or a vignette holding one under
    ``intake:`` (with optional ``title``/``expect``); anything else is a problem, skipped."""
    cases: list[Case] = []
    problems: list[Problem] = []
    slugs: set[str] = set()
    for path, label in _case_files(paths):
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # /dev/zero would be read for ever
                problems.append(Problem(label, None, "", "cannot read: not a regular file"))
                continue
            data, _ = read_intake_file(str(Path(path).absolute()), label)  # never "-" (stdin)
        except OSError as exc:
            problems.append(Problem(label, None, "", f"cannot read file: {exc.strerror or exc}"))
            continue
        except IntakeError as exc:
            problems.extend(exc.problems)
            continue
        title, expect = "", None
        try:
            intake = load_intake(data, label)
        except IntakeError as exc:
            value, lines, _ = yamlio.load(data, label)
            if not (isinstance(value, dict) and isinstance(value.get("intake"), dict)):
                problems.extend(exc.problems)
                continue
            try:
                intake = from_mapping(value["intake"], None, label)
            except IntakeError as inner:
                problems.extend(
                    Problem(p.source, lines.line(("intake",) + tuple(p.path.split("."))), "intake." + p.path, p.message)
                    for p in inner.problems
                )
                continue
            title = str(value.get("title") or value.get("name") or "")
            expect = value.get("expect")
        base = _SLUG.sub("-", path.stem).strip("-") or "case"
        slug, n = base, 1
        while slug in slugs:  # same name in two folders: the later label gets a number
            n += 1
            slug = f"{base}-{n}"
        slugs.add(slug)
        text = data.decode("utf-8", "replace")
        cases.append(Case(slug, label, intake, advisor.assess(intake), _leading_comments(text), title, expect))
    return cases, problems


def _leading_comments(text: str) -> list[str]:
    out = []
    for line in text.lstrip("\ufeff").splitlines():
        if not line.startswith("#"):
            break
        out.append(line.lstrip("#").strip())
    return out


# ------------------------------------------------------------------ pages


def _dot_string(text: Any) -> str:
    """A DOT double-quoted string (backslashes too: DOT reads \\n, \\l as escapes)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _environment() -> Any:
    """Jinja2 set up like the report's (autoescaped HTML, StrictUndefined), plus its filters
    (``dot`` quotes a string for the graphs' DOT template, which is not HTML)."""
    from ..report import render as report

    return report.make_environment(flow=catalog.flow, page=page_name, dot=_dot_string)


def _csp(script: str | None) -> str:
    """The pages' Content-Security-Policy: nothing from anywhere; the index's one inline
    script is allowed by its hash, so no other script can run."""
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    if script is not None:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        policy += f"; script-src 'sha256-{digest}'"
    return policy


def _graphs(advisor: Advisor, cases: list[Case], env: Any, draw: bool) -> tuple[dict[Any, str], str, bool]:
    """Every graph of the catalog as inline SVG by key (("rule", id), ("case", slug), ("area",
    name), "whole"), the whole graph's DOT source, and whether Graphviz drew them."""
    import markupsafe

    rs = advisor.ruleset
    wanted: list[tuple[Any, Any, str]] = [("whole", catalog_graphs.whole_graph(rs, page_name), "")]
    wanted += [(("rule", r.id), catalog_graphs.rule_graph(rs, r, page_name), "") for r in rs.rules]
    wanted += [
        (("case", c.slug), catalog_graphs.case_graph(rs, c.decision, input_values(c.intake, rs), page_name), "")
        for c in cases
    ]
    wanted += [
        (("area", a), catalog_graphs.area_graph(rs, a, page_name), f"area{i}")
        for i, a in enumerate(catalog_graphs.areas(rs))
    ]
    sources = [catalog_graphs.dot_source(g, env) for _, g, _ in wanted]
    svgs = catalog_graphs.render_svgs(sources, [prefix for _, _, prefix in wanted]) if draw else None
    if svgs is None:
        return {}, sources[0], False
    return {key: markupsafe.Markup(svg) for (key, _, _), svg in zip(wanted, svgs)}, sources[0], True


def build_pages(
    advisor: Advisor, cases: list[Case], tool_version: str, today: datetime.date | None = None, draw: bool = True
) -> tuple[dict[str, str], bool]:
    """Every file of the catalog (relative path -> text), and whether the graphs were drawn
    (``draw`` and Graphviz installed).  ``today`` marks rules past their review date (none
    when not given, so the pages depend on the rule files alone)."""
    rs = advisor.ruleset
    env = _environment()
    svg_of, dot_text, drawn = _graphs(advisor, cases, env, draw)
    page = _Renderer(env, rs, tool_version)
    details = [catalog.rule_detail(rs, rule) for rule in rs.rules]
    facts = catalog.fact_entries(rs)
    flags = catalog.flag_entries(rs)
    pages: dict[str, str] = {}
    pages["index.html"] = page(
        "index.html.j2",
        "",
        f"{rs.name} {rs.version} — rule catalog",
        script=env.get_template("catalog/filter.js.j2").render(),
        rules=details,
        facts=facts,
        flags=flags,
        cases=cases,
        graph=drawn,
        combine=combination(rs),
        tables=[tables.table_entry(rs, t) for t in rs.tables if not tables.problems(rs, t)],
        areas=sorted({d["area"] for d in details}),
        statuses=sorted({d["status"] for d in details}),
        flag_codes=[f["code"] for f in flags if f["raised_by"]],
    )
    pages.update(_rule_pages(page, rs, details, cases, svg_of, today))
    for f in facts:
        pages[f"facts/{page_name(f['name'])}.html"] = page("fact.html.j2", "../", f"Fact {f['name']}", fact=f)
    for f in flags:
        flag_cases = [c for c in cases if any(x["code"] == f["code"] for x in c.decision["flags"])]
        pages[f"flags/{page_name(f['code'])}.html"] = page(
            "flag.html.j2", "../", f"Flag {f['code']}", flag=f, cases=flag_cases
        )
    pages["graph.html"] = page(
        "graph.html.j2", "", "Whole dependency graph", svg=svg_of.get("whole"), graphviz_hint=GRAPHVIZ_HINT
    )
    pages["graph.dot"] = dot_text
    pages["areas.html"] = page(
        "areas.html.j2",
        "",
        "Graphs by area",
        graphviz_hint=GRAPHVIZ_HINT,
        drawn=drawn,
        areas=[
            {"name": a, "svg": svg_of.get(("area", a)), "rules": [r.id for r in rs.active_rules if r.area == a]}
            for a in catalog_graphs.areas(rs)
        ],
    )
    for c in cases:
        pages.update(_case_pages(page, advisor, c, tool_version, svg_of))
    return pages, drawn


class _Renderer:
    """Renders one catalog page: a template with what every page shows (the rule set, labels)."""

    def __init__(self, env: Any, rs: Any, tool_version: str):
        policy = rs.policies
        assert policy is not None
        self.env = env
        self.common = {
            "ruleset": {"name": rs.name, "version": rs.version, "sha256": rs.sha256, "description": rs.description},
            "tool_version": tool_version,
            "format_labels": dict(policy.format_labels),
            "area_labels": dict(policy.area_labels),
            "fact_by_key": {spec.key: spec.name for spec in rs.facts.values()},
            "labels": {spec.key: spec.label for spec in rs.facts.values()},
        }

    def __call__(self, template: str, root: str, title: str, script: str | None = None, **values: Any) -> str:
        import markupsafe

        return self.env.get_template(f"catalog/{template}").render(
            **self.common,
            **values,
            root=root,
            page_title=title,
            csp=_csp(script),
            script=markupsafe.Markup(script) if script is not None else None,
        )


def _rule_pages(
    page: _Renderer,
    rs: Any,
    details: list[dict[str, Any]],
    cases: list[Case],
    svg_of: dict[Any, str],
    today: datetime.date | None,
) -> dict[str, str]:
    """A page per rule: what it says, the cases it fires in, its condition coverage, its graph."""
    conditions = {c.rule_id: c for c in mcdc.coverage(rs, embedded_cases(rs))}
    pages = {}
    for d in details:
        fires_in = [c for c in cases if any(t["rule"] == d["id"] for t in c.decision["trace"])]
        pages[f"rules/{page_name(d['id'])}.html"] = page(
            "rule.html.j2",
            "../",
            f"{d['id']} — {d['title']}",
            rule=d,
            cases=fires_in,
            coverage=conditions.get(d["id"]),
            graph_svg=svg_of.get(("rule", d["id"])),
            overdue=today is not None and is_overdue(rs.rule(d["id"]), today),
        )
    return pages


def _case_pages(
    page: _Renderer, advisor: Advisor, c: Case, tool_version: str, svg_of: dict[Any, str]
) -> dict[str, str]:
    """A case's page (its inputs, the decision, why not the other formats, teaching points) and its report."""
    from ..whatif import why_not

    rs = advisor.ruleset
    policy = rs.policies
    assert policy is not None
    view = advisor.view(c.decision, c.intake, tool_version)
    values = input_values(c.intake, rs)
    inputs = [
        {
            "name": s.name,
            "key": s.key,
            "label": s.label,
            "value": values.get(s.name),
            "answer": wording.answer_words(rs, s.name, values),
        }
        for s in rs.facts.values()
        if not s.derived
    ]
    why = [
        why_not(advisor, c.intake, c.decision, fmt)
        for fmt in policy.format_precedence
        if fmt != c.decision["recommendation"]["format"]
    ]
    _, report_html = advisor.report(c.intake, "html", tool_version)
    return {
        f"cases/{c.slug}.html": page(
            "case.html.j2",
            "../",
            f"Case {c.intake.case_id}",
            case=c,
            view=view,
            inputs=inputs,
            why_not=why,
            teaching=teaching_points(rs, c.decision, why),
            graph_svg=svg_of.get(("case", c.slug)),
        ),
        f"cases/{c.slug}.report.html": report_html,
    }


# ------------------------------------------------------------------ writing


def write_catalog(
    advisor: Advisor,
    out_dir: str | os.PathLike[str],
    case_paths: list[Path] | None = None,
    tool_version: str = "",
    today: datetime.date | None = None,
) -> SiteResult:
    """Build the whole catalog and publish it at ``out_dir`` (see the module docstring)."""
    rs = advisor.ruleset
    target = Path(out_dir)
    _check_target(target)
    cases, problems = load_cases(advisor, default_case_paths() if case_paths is None else case_paths)
    pages, drawn = build_pages(advisor, cases, tool_version, today)
    result = SiteResult(
        target, rules=len(rs.rules), facts=len(rs.facts), cases=len(cases), graph=drawn, problems=problems
    )
    result.flags = len(catalog.flag_entries(rs))
    if not drawn:
        result.warnings.append(
            f"warning: Graphviz 'dot' not found: the catalog has no dependency graph; {GRAPHVIZ_HINT}"
        )
    files = {path: text.encode("utf-8") for path, text in pages.items()}
    files[MARKER] = manifest_text(files).encode("utf-8")  # what the next run may replace
    _publish(files, target)
    result.files = len(files)
    return result


def _check_target(target: Path) -> None:
    def refuse(message: str) -> NoReturn:
        raise OutputError([Problem(str(target), None, "", message)])

    if target.is_symlink():
        refuse("is a symbolic link; give the real directory")
    if target.exists():
        if not target.is_dir():
            refuse("exists and is not a directory")
        marker = target / MARKER
        if not any(target.iterdir()):
            return
        if marker.is_symlink() or not marker.is_file():
            refuse(
                f"exists, is not empty and is not a catalog written by ipt-advisor (no {MARKER}); "
                "choose a new or empty directory"
            )
        # a catalog is replaced whole: refuse while it holds anything it did not write, as written
        try:
            with open(marker, "rb") as handle:
                listed = read_manifest(handle.read(_MAX_MANIFEST).decode("utf-8", "replace"))
            foreign = unlisted(target, listed, MARKER)
        except OSError as exc:
            refuse(f"cannot read the catalog to replace: {exc.strerror or exc}")
        if not listed:
            refuse(
                f"is a catalog of an older ipt-advisor, whose {MARKER} does not list its files, so "
                "files of yours cannot be told apart: move them out and remove it, or choose another folder"
            )
        if foreign:
            shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
            refuse(
                f"holds {len(foreign)} file{'s' if len(foreign) != 1 else ''} this catalog did not write "
                f"or that changed since ({shown}); move them out, or choose another folder"
            )


def _publish(files: dict[str, bytes], target: Path) -> None:
    """Write ``files`` into a private temporary directory beside ``target``, then swap it in."""
    parent = target.absolute().parent
    temp: Path | None = None
    old: Path | None = None
    try:
        make_private_dirs(parent)
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
        for relative, data in sorted(files.items()):
            path = temp / relative
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic_bytes(path, data)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.rename(target, old / "catalog")
        try:
            os.rename(temp, target)
        except OSError:
            if old is not None:
                os.rename(old / "catalog", target)  # put the previous catalog back
            raise
        temp = None
    except OSError as exc:
        raise OutputError([Problem(str(target), None, "", f"cannot write: {exc.strerror or exc}")]) from None
    finally:
        for leftover in (temp, old):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)

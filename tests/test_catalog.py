"""Browsing and documenting the rules: ``rules list``, ``rules show``, ``rules doc``.

The words a trainer reads are checked against the rule model itself (labels from
facts.yaml, citations from the manifest, links from deps), so the tests hold as rules
are added.  The HTML catalog is built from a frozen copy of the rules.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from cli import cli
from conftest import EXAMPLES, ROOT
from ipt_advisor.report import words as catalog
from ipt_advisor.catalog import site as catalog_site
from ipt_advisor.ruleset import deps
from ipt_advisor.core import wording
from ipt_advisor.core.model import (
    AddCondition,
    All,
    AnyOf,
    ChooseFormat,
    Consider,
    Derive,
    ExcludeFormat,
    Leaf,
    Not,
    ProposeFocus,
    RaiseFlag,
    SetStatus,
)
from ipt_advisor.ruleset.load import load_ruleset

CONTRACT_KEYS = {"id", "title", "rationale", "references", "tests"}


@pytest.fixture(scope="module")
def ruleset():
    return load_ruleset(None)


def invoke_json(runner, args: list[str]):
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ------------------------------------------------------------------ rules list


def test_list_json_follows_the_contract(runner, ruleset) -> None:
    entries = invoke_json(runner, ["rules", "list", "--format", "json"])
    assert [e["id"] for e in entries] == [r.id for r in ruleset.rules]
    for entry in entries:
        rule = ruleset.rule(entry["id"])
        assert CONTRACT_KEYS | {"version", "status", "area", "evidence", "flags", "location"} <= set(entry)
        assert entry["tests"] == len(rule.tests)
        assert entry["title"] == rule.title
        # full citations, not the manifest's keys
        assert entry["references"] == [ruleset.sources[k] for k in rule.references]
        assert not any(re.fullmatch(r"S\d+", ref) for ref in entry["references"])
        assert entry["location"] == f"{rule.file}:{rule.line}"
        assert entry["flags"] == [e.code for e in rule.then if isinstance(e, RaiseFlag)]


@pytest.mark.parametrize(
    "option, value, keep",
    [
        ("--area", "safety", lambda r: r.area == "safety"),
        ("--flag", "MORE_SEVERE", lambda r: any(isinstance(e, RaiseFlag) and e.code == "MORE_SEVERE" for e in r.then)),
        (
            "--flag",
            "suicide_imminent",
            lambda r: any(isinstance(e, RaiseFlag) and e.code == "SUICIDE_IMMINENT" for e in r.then),
        ),
        ("--status", "active", lambda r: r.status == "active"),
    ],
)
def test_list_filters_select_exactly_the_matching_rules(runner, ruleset, option, value, keep) -> None:
    entries = invoke_json(runner, ["rules", "list", option, value, "--format", "json"])
    expected = [r.id for r in ruleset.rules if keep(r)]
    assert expected, "the filter should match something in the shipped rules"
    assert [e["id"] for e in entries] == expected


def test_list_text_is_an_aligned_table(runner, ruleset) -> None:
    result = runner.invoke(cli, ["rules", "list"])
    assert result.exit_code == 0
    header, *rows, total = result.stdout.splitlines()
    assert total == f"{len(ruleset.rules)} rule(s)"
    assert len(rows) == len(ruleset.rules)
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    for row, rule in zip(rows, ruleset.rules):
        assert row.startswith(rule.id + " ")
        for start in starts[1:]:  # every column begins at its header's column, after a gap
            assert row[start - 2 : start] == "  " and row[start] != " ", (row, start)
        assert row.endswith(rule.title)


@pytest.mark.parametrize(
    "option, value, hint",
    [
        ("--area", "safty", "did you mean 'safety'?"),
        ("--flag", "MORE_SEVER", "did you mean 'MORE_SEVERE'?"),
        ("--status", "actve", "did you mean 'active'?"),
    ],
)
def test_list_unknown_filter_value_is_a_usage_error(runner, option, value, hint) -> None:
    result = runner.invoke(cli, ["rules", "list", option, value])
    assert result.exit_code == 2
    assert hint in result.stderr


def test_list_on_an_invalid_rule_set_exits_4(runner, rules_copy: Path) -> None:
    (rules_copy / "ruleset.yaml").write_text("ruleset: [\n", encoding="utf-8")
    result = runner.invoke(cli, ["rules", "list", "--rules", str(rules_copy)])
    assert result.exit_code == 4
    assert "ruleset.yaml:" in result.stderr and "Traceback" not in result.output


# ------------------------------------------------------------------ words


def test_leaf_words_for_every_operator(ruleset) -> None:
    words = {
        Leaf("phq9", "at_least", 16): "PHQ-9 total is at least 16",
        Leaf("phq9", "at_most", 4): "PHQ-9 total is at most 4",
        Leaf("phq9", "above", 19): "PHQ-9 total is above 19",
        Leaf("phq9", "below", 16): "PHQ-9 total is below 16",
        Leaf("cssrs_intent", "is", True): "C-SSRS Q4: intent to act is yes",
        Leaf("cssrs_intent", "is_not", False): "C-SSRS Q4: intent to act is not no",
        Leaf("cssrs_intent", "unknown"): "C-SSRS Q4: intent to act is not recorded",
        Leaf("cssrs_intent", "known"): "C-SSRS Q4: intent to act is recorded",
        Leaf("preferred_format", "in", ("individual", "either")): "Preferred format is one of individual, either",
        Leaf("preferred_format", "not_in", ("group",)): "Preferred format is none of group",
        Leaf("nice_band", "is", "more_severe"): "Severity (NICE NG222) is more severe",
    }
    for leaf, text in words.items():
        assert catalog.leaf_words(leaf, ruleset) == text


def test_condition_lines_nest_and_fold_negations(ruleset) -> None:
    cond = All(
        (
            Leaf("phq9", "at_least", 16),
            AnyOf((Leaf("cssrs_plan", "is", True), Not(Leaf("cssrs_intent", "is", False)))),
            Not(All((Leaf("psychosis", "is", True), Leaf("mania_history", "is", True)))),
            Not(AnyOf((Leaf("age", "below", 12),))),
            Not(Not(Leaf("hostility", "is", True))),
        )
    )
    assert catalog.condition_lines(cond, ruleset) == [
        "all of:",
        "  - PHQ-9 total is at least 16",
        "  - any of:",
        "      - C-SSRS Q5: plan with intent is yes",
        "      - C-SSRS Q4: intent to act is not no",
        "  - not all of:",
        "      - Current psychotic symptoms is yes",
        "      - Any manic or hypomanic episode ever is yes",
        "  - none of:",
        "      - Age (years) is below 12",
        "  - Hostile or disruptive behaviour in care settings is yes",
    ]
    assert catalog.condition_lines(Leaf("phq9", "below", 16), ruleset) == ["PHQ-9 total is below 16"]


def test_effect_words(ruleset) -> None:
    assert (
        wording.effect_words(Derive("nice_band", "more_severe"), ruleset)
        == "sets Severity (NICE NG222) (nice_band) to more severe"
    )
    assert (
        wording.effect_words(RaiseFlag("IPV", "critical", "Safety plan"), ruleset)
        == "raises flag IPV (critical): Safety plan"
    )
    assert wording.effect_words(ChooseFormat("defer", "Risk first"), ruleset) == "chooses the format defer: Risk first"
    assert (
        wording.effect_words(ExcludeFormat("group", "Refuses"), ruleset)
        == "rules out the format group (so at least individual): Refuses"
    )
    assert (
        wording.effect_words(ProposeFocus("grief", "onset_linked", "A death"), ruleset)
        == "proposes the focus Grief (onset linked): A death"
    )
    assert (
        wording.effect_words(AddCondition("Pre-group session", ("group",)), ruleset)
        == "adds the condition (only when the format is group): Pre-group session"
    )
    assert wording.effect_words(SetStatus("incomplete"), ruleset) == "marks the decision incomplete"
    assert (
        wording.effect_words(Consider("Think  again\n twice"), ruleset)
        == "adds a point for clinical review: Think again twice"
    )


# ------------------------------------------------------------------ rules show


def test_show_reads_the_whole_rule_in_words(runner, ruleset) -> None:
    rule = ruleset.rule("RISK-CSSRS-MISSING")
    result = runner.invoke(cli, ["rules", "show", "RISK-CSSRS-MISSING"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"RISK-CSSRS-MISSING — {rule.title}\n")
    lines = out.splitlines()
    top = lines.index("  all of:")
    any_line = next(i for i, line in enumerate(lines) if line.strip() == "- any of:")
    all_line = next(i for i, line in enumerate(lines) if i > any_line and line.strip() == "- all of:")
    assert top < any_line < all_line and lines[all_line].index("-") > lines[any_line].index("-")
    assert "The person declined the C-SSRS screener is no" in out
    assert "C-SSRS Q4: intent to act is not recorded" in out
    assert "marks the decision incomplete" in out
    for citation in ruleset.citations(rule):
        assert citation.split(",")[0] in out
    for test in rule.tests:
        assert test.name in out
    assert "intake: {risk: {cssrs: null}}" in out


def test_show_lists_the_rules_it_feeds_and_is_fed_by(runner, ruleset) -> None:
    rule = ruleset.rule("SEV-NICE-MORE")
    fed_by, feeds = deps.feeds(ruleset, rule)
    assert feeds, "nice_band is read by the format rules"
    out = runner.invoke(cli, ["rules", "show", "sev-nice-more"]).stdout  # ids are case-insensitive
    assert "PHQ-9 total is at least 16" in out
    section = out.split("FEEDS (")[1]
    for rid in feeds:
        assert rid in section
    detail = json.loads(runner.invoke(cli, ["rules", "show", "SEV-NICE-MORE", "--format", "json"]).stdout)
    assert [r["id"] for r in detail["feeds"]] == feeds and [r["id"] for r in detail["fed_by"]] == fed_by
    assert detail["condition"] == {"kind": "leaf", "text": "PHQ-9 total is at least 16", "fact": "phq9"}


def test_show_unknown_rule_exits_1_with_a_suggestion(runner) -> None:
    result = runner.invoke(cli, ["rules", "show", "RISK-SI-IMMINET"])
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("RISK-SI-IMMINET: no such rule (did you mean 'RISK-SI-IMMINENT'?)")
    assert result.stdout == ""


# ------------------------------------------------------------------ rules doc


@pytest.fixture(scope="module")
def frozen_rules(tmp_path_factory) -> Path:
    """One copy of the rules for every catalog built in this module (they change under us)."""
    target = tmp_path_factory.mktemp("frozen") / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


@pytest.fixture(scope="module")
def site(tmp_path_factory, frozen_rules: Path) -> Path:
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("site") / "catalog"
    result = CliRunner().invoke(cli, ["rules", "doc", "-o", str(out), "--rules", str(frozen_rules)])
    assert result.exit_code == 0, result.output
    return out


def needs_dot() -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz 'dot' is missing in CI: .ci/run installs it (apt-get install graphviz)")
        pytest.skip("Graphviz 'dot' not installed: install with apt-get install graphviz")


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_doc_writes_a_page_per_rule_fact_flag_and_case(site: Path, frozen_rules: Path) -> None:
    rs = load_ruleset(frozen_rules)
    names = set(files_of(site))
    assert {"index.html", "graph.html", "graph.dot", catalog_site.MARKER} <= names
    assert {f"rules/{r.id}.html" for r in rs.rules} <= names
    assert {f"facts/{f}.html" for f in rs.facts} <= names
    assert {f"flags/{e['code']}.html" for e in catalog.flag_entries(rs)} <= names
    for example in EXAMPLES:
        assert f"cases/{example.stem}.html" in names
        assert f"cases/{example.stem}.report.html" in names


def test_doc_pages_link_facts_rules_and_decisions(site: Path) -> None:
    phq9 = (site / "facts" / "phq9.html").read_text()
    assert 'href="../rules/SEV-NICE-MORE.html"' in phq9 and "tests: PHQ-9 total is at least 16" in phq9
    nice = (site / "facts" / "nice_band.html").read_text()
    assert "Derived by" in nice and 'href="../rules/SEV-NICE-LESS.html"' in nice
    flag = (site / "flags" / "SUICIDE_IMMINENT.html").read_text()
    assert 'href="../rules/RISK-SI-IMMINENT.html"' in flag and "critical" in flag.lower()
    assert 'href="../cases/defer-safety.html"' in flag
    rule = (site / "rules" / "RISK-CSSRS-MISSING.html").read_text()
    assert 'href="../facts/cssrs_intent.html">C-SSRS Q4: intent to act is not recorded</a>' in rule
    case = (site / "cases" / "defer-safety.html").read_text()
    assert "<strong>Defer IPT allocation" in case
    assert 'href="../rules/RISK-SI-IMMINENT.html"' in case
    assert "Why not group?" in case and "Why not individual?" in case and "Why not defer?" not in case
    assert 'href="defer-safety.report.html"' in case


def test_doc_is_byte_identical_when_rebuilt(site: Path, frozen_rules: Path, tmp_path: Path, runner) -> None:
    again = tmp_path / "again"
    assert runner.invoke(cli, ["rules", "doc", "-o", str(again), "--rules", str(frozen_rules)]).exit_code == 0
    assert files_of(again) == files_of(site)
    # rebuilt in place: the old catalog is replaced as a whole, so a page it wrote that the new
    # one does not (a rule since removed) disappears; a page it did not write is refused instead
    # (tests/test_catalog_manifest.py)
    (again / "rules" / "STALE.html").write_text("old")
    with (again / catalog_site.MARKER).open("a") as handle:
        handle.write(f"{hashlib.sha256(b'old').hexdigest()}  rules/STALE.html\n")
    assert runner.invoke(cli, ["rules", "doc", "-o", str(again), "--rules", str(frozen_rules)]).exit_code == 0
    assert files_of(again) == files_of(site)
    assert [p.name for p in tmp_path.iterdir()] == ["again"]  # no temporary directory left behind


def test_doc_is_offline_private_and_machine_independent(site: Path) -> None:
    for name, data in files_of(site).items():
        text = data.decode("utf-8")
        mode = stat.S_IMODE((site / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
        assert str(site.parent) not in text and str(ROOT) not in text, name
        if name.endswith(".html"):
            assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", text), name
            assert "<link rel=\"stylesheet\"" not in text and "@import" not in text and "url(" not in text, name
            for href in re.findall(r'(?:xlink:)?href="([^"]*)"', text):
                assert not re.match(r"[a-z]+:|//", href) or href == "data:,", (name, href)
    for directory in [site] + [p for p in site.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_index_script_is_allowed_by_its_csp_hash(site: Path) -> None:
    index = (site / "index.html").read_text()
    script = re.search(r"<script>(.*?)</script>", index, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html.unescape(index)  # the attribute is entity-escaped
    for name in ("rules/RISK-SI-IMMINENT.html", "graph.html"):
        page = (site / name).read_text()
        assert "<script" not in page and "script-src" not in page


def test_doc_graph_is_an_inline_svg_linking_to_pages(site: Path, frozen_rules: Path) -> None:
    needs_dot()
    graph = (site / "graph.html").read_text()
    svg = graph[graph.index("<svg") : graph.index("</svg>")]
    assert "<?xml" not in graph and "<!DOCTYPE svg" not in graph
    rs = load_ruleset(frozen_rules)
    for rule in rs.rules:
        assert f'xlink:href="rules/{rule.id}.html"' in svg
    assert 'xlink:href="facts/phq9.html"' in svg and 'xlink:href="flags/SUICIDE_IMMINENT.html"' in svg


def test_doc_without_graphviz_still_writes_the_catalog(runner, frozen_rules: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(catalog_site.shutil, "which", lambda name: None)
    out = tmp_path / "site"
    result = runner.invoke(
        cli,
        [
            "rules",
            "doc",
            "-o",
            str(out),
            "--rules",
            str(frozen_rules),
            "--no-default-cases",
            "--cases",
            str(EXAMPLES[0]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Graphviz 'dot' not found" in result.stderr and "apt-get install graphviz" in result.stderr
    graph = (out / "graph.html").read_text()
    assert "<svg" not in graph and "needs Graphviz" in graph
    assert (out / "graph.dot").read_text().startswith("digraph ruleset {")


def test_doc_refuses_a_directory_that_is_not_a_catalog(runner, tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    result = runner.invoke(cli, ["rules", "doc", "-o", str(precious)])
    assert result.exit_code == 1
    assert "is not a catalog written by ipt-advisor" in result.stderr
    assert [p.name for p in precious.iterdir()] == ["thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_doc_cases_option_skips_invalid_files_and_reads_vignettes(runner, frozen_rules: Path, tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(ROOT / "examples" / "group.yaml", cases / "a-group.yaml")
    (cases / "b-broken.yaml").write_text("intake_version: 1\nid: X\nage: forty\n")
    body = (ROOT / "examples" / "individual.yaml").read_text().replace("\n", "\n  ")
    (cases / "c-vignette.yaml").write_text(
        f"title: Prefers individual\nexpect: {{format: individual}}\nintake:\n  {body}\n"
    )
    out = tmp_path / "site"
    result = runner.invoke(
        cli, ["rules", "doc", "-o", str(out), "--rules", str(frozen_rules), "--no-default-cases", "--cases", str(cases)]
    )
    assert result.exit_code == 1
    assert "b-broken.yaml:3: age: must be a whole number" in result.stderr
    assert "1 case file(s) left out" in result.stderr
    written = sorted(p.name for p in (out / "cases").iterdir())
    assert written == ["a-group.html", "a-group.report.html", "c-vignette.html", "c-vignette.report.html"]
    vignette = (out / "cases" / "c-vignette.html").read_text()
    assert "Prefers individual" in vignette and "{format: individual}" in vignette


def test_doc_rule_pages_show_condition_coverage_beside_the_tests(site: Path) -> None:
    page = (site / "rules" / "RISK-SI-IMMINENT.html").read_text()
    tests_at, coverage_at = page.index("Embedded test cases"), page.index("Condition coverage (MC/DC)")
    assert tests_at < coverage_at < page.index("Teaching cases where it fires")
    table = page[coverage_at:]
    assert "3 of 3 covered" in table
    row = table.split("C-SSRS Q5: plan with intent is yes")[1].split("</tr>")[0]
    # shown making it fire (plan alone, intent blank) and keeping it silent (a passive wish only)
    assert "plan recorded yes, intent blank" in row and "passive wish only" in row and "no case" not in row
    grief = (site / "rules" / "FOCUS-PROLONGED-GRIEF.html").read_text()
    assert "cannot decide on its own" in grief
    # a text variant's condition is listed beside the rule's own, with the cases that choose its text
    ideation = (site / "rules" / "RISK-SI-IDEATION.html").read_text()
    variant = ideation.split("text variant 1 of flag SUICIDE_IDEATION&#39;s action:")[1].split("</tr>")[0]
    assert "C-SSRS screen completeness is missing or incomplete" in variant
    assert "item 9 = 3 with no C-SSRS at all" in variant and "passive wish (Q1) only" in variant


def test_case_pages_use_the_reports_answer_words(site: Path) -> None:
    """A question the screener rightly skipped is "not asked" on the case page too, as in the
    report, the trace, explain and --why-not; a value reads as its label, never a raw enum."""
    page = (site / "cases" / "group.html").read_text(encoding="utf-8")
    assert "not asked" in page and "not assessed</span>" not in page
    assert "C-SSRS Q4: intent to act</a></td><td><code>risk.cssrs.intent</code></td>" in page
    assert ">less severe</strong>" in page and "less_severe</strong>" not in page
    assert "Risk answers as recorded" in page and "PHQ-9 total below 16" in page

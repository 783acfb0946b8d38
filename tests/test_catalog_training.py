"""The catalog for trainers: how rules combine and the decision tables, generated from the
manifest and the rules (an edit to a copy shows on the page), governance on rule pages, and
``rules doc --cases`` adding to the default teaching cases."""

from __future__ import annotations

import datetime
import html
import re
import shutil
from pathlib import Path

import pytest

from cli import cli
from conftest import ROOT
from ipt_advisor.catalog import site as catalog_site
from ipt_advisor.advisor import Advisor
from ipt_advisor.report.combine import combination, combination_text


def _pages(rules_dir: Path | None = None, today: datetime.date | None = None) -> dict[str, str]:
    advisor = Advisor.load(rules_dir)
    return catalog_site.build_pages(advisor, [], "test", today, draw=False)[0]


def _text(page: str, start: str, end: str) -> str:
    """The visible words between two markers, tags dropped, spaces collapsed."""
    part = page[page.index(start) : page.index(end, page.index(start))]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_how_rules_combine_is_read_from_the_shipped_policy() -> None:
    c = combination(Advisor.load().ruleset)
    assert [f["format"] for f in c["formats"]] == ["defer", "individual", "group"]
    assert "FMT-REFUSES-GROUP" in c["formats"][1]["via_exclude"] and "RISK-SI-IMMINENT" in c["formats"][0]["chosen_by"]
    assert [a["area"] for a in c["areas"]] == ["grief", "role_dispute", "role_transition", "isolation"]
    assert c["max_areas"] == 2 and c["basis"] == ["onset_linked", "present"]
    assert [s["status"] for s in c["statuses"]] == ["incomplete"]
    assert [lv["level"] for lv in c["levels"]] == ["critical", "warning", "info"]
    assert combination_text(Advisor.load().ruleset) == [
        "Format: the most restrictive format any rule asks for wins (defer > individual > group); with none, defer.",
        "Focus: onset-linked before present, then grief > role_dispute > role_transition > isolation; at most 2 kept.",
        "Status: complete unless a rule marks it incomplete.",
        "Flags: critical > warning > info, then by urgency within a level.",
    ]
    index = _pages()["index.html"]
    words = _text(index, '<section id="combine">', "</section>")
    assert "1 (most restrictive) defer — Defer IPT allocation" in words
    assert "Focus: onset first, then area order, at most 2" in words
    levels = words[words.index("Codes, in urgency order") :]
    assert levels.startswith(
        "Codes, in urgency order critical SUICIDE_IMMINENT HOSTILE_OR_HOMICIDAL PSYCHOSIS_OR_MANIA IPV "
    )
    assert 'href="index.html#combine"' in index and 'href="index.html#tables"' in index


def test_an_edit_to_the_policy_shows_on_the_index(rules_copy: Path) -> None:
    _edit(rules_copy / "ruleset.yaml", "    max_areas: 2", "    max_areas: 1")
    _edit(rules_copy / "ruleset.yaml", "      group: Group IPT\n", "      group: Group IPT (8 to 12 members)\n")
    words = _text(_pages(rules_copy)["index.html"], '<section id="combine">', "</section>")
    assert "at most 1" in words and "the first 1 are kept (primary)" in words and "secondary" not in words
    assert "group — Group IPT (8 to 12 members)" in words


def test_decision_tables_on_the_index_and_rule_pages() -> None:
    pages = _pages()
    words = _text(pages["index.html"], '<section id="tables">', "</section>")
    assert (
        "PHQ-9 severity bands (Kroenke et al. 2001) Hit policy: unique — exactly one rule per row; complete "
        "over the inputs' ranges."
    ) in words
    assert "1 0–4 PHQ-9 band (Kroenke et al. 2001): minimal — PHQ-9 band minimal (0-4) SEV-KROENKE-MINIMAL" in words
    assert (
        "4 18 or more 12 or more flag PROLONGED_GRIEF (warning) — Grief 12 months or more after the death "
        "(adult) FOCUS-PROLONGED-GRIEF"
    ) in words
    assert "3 10 or more no rule of this table" in words
    rule = pages["rules/FOCUS-PROLONGED-GRIEF.html"]
    assert '<a href="../index.html#table-prolonged_grief">Grief after a death, by age' in rule


def test_a_gap_shows_in_the_table_as_well(rules_copy: Path) -> None:
    text = (rules_copy / "focus.yaml").read_text()
    start = text.index("  - id: FOCUS-PROLONGED-GRIEF\n")
    (rules_copy / "focus.yaml").write_text(
        text[:start] + text[start:].replace("grief_months: {at_least: 12}", "grief_months: {at_least: 24}", 1)
    )
    from ipt_advisor.report import tables
    from ipt_advisor.ruleset.load import read_ruleset

    rs, _ = read_ruleset(rules_copy)  # lint refuses the copy; the table is still drawn from it
    assert rs is not None
    (table,) = [t for t in rs.tables if t.name == "prolonged_grief"]
    gaps = [r["ranges"] for r in tables.table_entry(rs, table)["rows"] if r["gap"]]
    assert gaps == [["18 or more", "12–23"]]


def test_rule_pages_show_governance_and_an_overdue_review(rules_copy: Path) -> None:
    _edit(rules_copy / "severity.yaml", "rules:\n", "author: Severity working group\nrules:\n")
    _edit(
        rules_copy / "severity.yaml",
        "    version: 1.1.0\n    status: active\n    area: severity\n",
        "    version: 1.1.0\n    status: active\n    area: severity\n    review_due: 2026-03-01\n",
    )
    late = _pages(rules_copy, datetime.date(2026, 4, 1))["rules/SEV-NICE-MORE.html"]
    words = _text(late, '<table class="meta">', "</table>")
    assert "Author Severity working group" in words and "Review due 2026-03-01 overdue" in words
    assert "Approved by not recorded" in words
    on_time = _pages(rules_copy, datetime.date(2026, 2, 1))["rules/SEV-NICE-MORE.html"]
    assert "overdue" not in _text(on_time, '<table class="meta">', "</table>")
    # without a date the page depends on the rule files alone
    assert "overdue" not in _text(_pages(rules_copy)["rules/SEV-NICE-MORE.html"], '<table class="meta">', "</table>")


@pytest.fixture(scope="module")
def one_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cases")
    shutil.copy(ROOT / "examples" / "group.yaml", folder / "zz-extra.yaml")
    return folder / "zz-extra.yaml"


def test_doc_cases_add_to_the_default_cases(runner, tmp_path: Path, one_case: Path) -> None:
    defaults = catalog_site._case_files(catalog_site.default_case_paths())
    out = tmp_path / "site"
    result = runner.invoke(cli, ["rules", "doc", "-o", str(out), "--cases", str(one_case)])
    assert result.exit_code == 0, result.output
    assert f"{len(defaults) + 1} cases" in result.stdout
    assert (out / "cases" / "zz-extra.html").is_file() and (out / "cases" / "demo.html").is_file()


def test_doc_no_default_cases_replaces_them(runner, tmp_path: Path, one_case: Path) -> None:
    out = tmp_path / "site"
    result = runner.invoke(cli, ["rules", "doc", "-o", str(out), "--no-default-cases", "--cases", str(one_case)])
    assert result.exit_code == 0, result.output
    assert "1 cases" in result.stdout
    assert sorted(p.name for p in (out / "cases").iterdir()) == ["zz-extra.html", "zz-extra.report.html"]


# ------------------------------------------------------------------ graphs people can read


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' not installed: apt-get install graphviz")
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("drawn") / "site"
    result = CliRunner().invoke(
        cli,
        [
            "rules",
            "doc",
            "-o",
            str(out),
            "--no-default-cases",
            "--cases",
            str(ROOT / "tests" / "vignettes" / "03-dana.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def _svg(page: str, holder: str) -> str:
    start = page.index(holder)
    return page[page.index("<svg", start) : page.index("</svg>", start)]


def test_a_rule_page_draws_its_inputs_feeders_and_conclusions(drawn: Path) -> None:
    svg = _svg((drawn / "rules" / "FMT-SEVERE-INDIVIDUAL.html").read_text(), 'id="rule-graph"')
    # it reads nice_band, which SEV-NICE-MORE and SEV-NICE-LESS derive; it chooses individual
    for link in ("../rules/SEV-NICE-MORE.html", "../rules/SEV-NICE-LESS.html", "../facts/nice_band.html"):
        assert f'xlink:href="{link}"' in svg, link
    assert ">format: individual<" in svg
    # nothing else of the rule set
    assert "SEV-KROENKE" not in svg and "RISK-SI-IMMINENT" not in svg


def test_a_case_page_draws_only_what_fired(drawn: Path) -> None:
    from ipt_advisor.intake.schema import load_intake_file

    advisor = Advisor.load()
    decision = advisor.assess(load_intake_file(str(ROOT / "tests" / "vignettes" / "03-dana.yaml")))
    fired = {t["rule"] for t in decision["trace"]}
    svg = _svg((drawn / "cases" / "03-dana.html").read_text(), 'id="case-graph"')
    drawn_rules = set(re.findall(r'xlink:href="\.\./rules/([A-Z0-9-]+)\.html"', svg))
    assert drawn_rules == fired
    assert ">PHQ-9 total: 17<" in html.unescape(svg) and ">nice_band: more severe<" in svg


def test_graphs_by_area_and_the_whole_graph_clustered(drawn: Path) -> None:
    areas = (drawn / "areas.html").read_text()
    rs = Advisor.load().ruleset
    names = list(dict.fromkeys(r.area for r in rs.active_rules))
    assert areas.count("<svg") == len(names) >= 3
    for name in ("safety", "format", "focus"):
        svg = _svg(areas, f'<h2 id="area-{name}">')
        assert set(re.findall(r'xlink:href="rules/([A-Z0-9-]+)\.html"', svg)) == {
            r.id for r in rs.active_rules if r.area == name
        }
    ids = re.findall(r'\bid="([^"]+)"', areas)
    assert len(ids) == len(set(ids))  # several SVGs on one page, no id twice
    whole = (drawn / "graph.dot").read_text()
    assert whole.startswith("digraph ruleset {") and '"cluster_area_safety"' in whole


def test_dot_strings_are_quoted(rules_copy: Path) -> None:
    from ipt_advisor.catalog.site import _dot_string

    assert _dot_string('say "hi" \\ then\nmore') == '"say \\"hi\\" \\\\ then more"'


def test_case_pages_open_with_teaching_points_in_plain_words(drawn: Path) -> None:
    page = (drawn / "cases" / "03-dana.html").read_text()
    points = re.findall(
        r"<li>(.*?)</li>",
        page[page.index('<ul id="teaching-points">') : page.index("</ul>", page.index('<ul id="teaching-points">'))],
        re.S,
    )
    points = [html.unescape(p) for p in points]
    assert points[0] == (
        "The recommendation is Individual IPT because violence in the disputed relationship - "
        "individual care with safety planning first (GRP-IPV) and more severe depression (NICE "
        "NG222) - individual treatment first (FMT-SEVERE-INDIVIDUAL)."
    )
    assert "the most restrictive one wins (defer > individual > group)" in points[1]
    assert points[2] == "The focus is Role dispute: the episode began or worsened with a dispute."
    assert points[3].startswith("The flags, most urgent first: Violence or coercion in a role dispute (IPV, critical);")
    assert points[-1].startswith("It would be group only if the risk answers were different")
    # the author's own note stays, under its own heading
    assert page.index("Teaching points") < page.index("The case author's note (from the file)")

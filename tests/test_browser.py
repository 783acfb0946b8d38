"""The HTML catalog and an HTML report, opened in a real headless Chromium.

Needs Debian's ``chromium`` and Playwright for Python (``pip install playwright``; the
browser Playwright would download is NOT used, so ``playwright install`` is not needed).
Missing either, the tests skip with the install command, except under CI (env ``CI``
set), where they fail: CI must prove they ran (``.ci/run`` installs chromium).
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
from click.testing import CliRunner

from chromium import launch
from cli import cli
from conftest import ROOT

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    yield from launch()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught exceptions."""
    context = browser.new_context(java_script_enabled=True)
    tab = context.new_page()
    tab.errors = []
    tab.on("console", lambda msg: tab.errors.append(f"{tab.url}: {msg.text}") if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: tab.errors.append(f"{tab.url}: {exc}"))
    yield tab
    context.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    rules = tmp_path_factory.mktemp("frozen") / "rules"
    shutil.copytree(ROOT / "rules", rules)
    out = tmp_path_factory.mktemp("site") / "catalog"
    result = CliRunner().invoke(cli, ["rules", "doc", "-o", str(out), "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    return out


# Every link target on the page (HTML anchors and SVG anchors: href or xlink:href) and every
# element id, in one round trip to the browser.
PAGE_FACTS = """() => ({
  links: Array.from(document.querySelectorAll("a"))
    .map(a => a.getAttribute("href") || a.getAttribute("xlink:href")).filter(h => h !== null),
  ids: Array.from(document.querySelectorAll("[id]")).map(e => e.id),
})"""


def links(tab) -> list[str]:
    return tab.evaluate(PAGE_FACTS)["links"]


def test_every_catalog_link_resolves_and_no_page_logs_an_error(page, site: Path) -> None:
    start = (site / "index.html").as_uri()
    queue, seen, broken = deque([start]), {start}, []
    ids: dict[str, set[str]] = {}
    anchors: list[tuple[str, str, str]] = []
    while queue:
        url = queue.popleft()
        page.goto(url, wait_until="domcontentloaded")  # no subresources to wait for: nothing is fetched
        facts = page.evaluate(PAGE_FACTS)
        ids[url] = set(facts["ids"])
        for href in facts["links"]:
            target, fragment = urldefrag(urljoin(url, href))
            assert urlparse(target).scheme == "file", f"{url} links outside the catalog: {href}"
            path = Path(unquote(urlparse(target).path))
            if not path.is_file():
                broken.append(f"{url} -> {href}")
                continue
            if fragment:
                anchors.append((url, target, fragment))
            if path.suffix == ".html" and target not in seen:
                seen.add(target)
                queue.append(target)
    assert broken == []
    for url, target, fragment in anchors:
        assert fragment in ids[target], f"{url} links to a missing #{fragment} in {target}"
    assert page.errors == []
    every_page = {p.as_uri() for p in site.rglob("*.html")}
    assert seen == every_page, f"pages nobody links to: {sorted(every_page - seen)}"


def test_search_box_and_filters_narrow_the_rules_table(page, site: Path) -> None:
    page.goto((site / "index.html").as_uri())
    rows = page.locator("#rules-table tbody tr")
    total = rows.count()
    visible = page.locator("#rules-table tbody tr:not([hidden])")
    assert visible.count() == total > 10
    assert page.text_content("#rules-count") == f"{total} of {total} rules shown"

    page.fill("#search", "imminent")
    shown = visible.count()
    assert 0 < shown < total
    for text in visible.evaluate_all("rs => rs.map(r => r.getAttribute('data-search'))"):
        assert "imminent" in text
    assert page.text_content("#rules-count") == f"{shown} of {total} rules shown"
    assert page.locator("#rules-table tbody tr:not([hidden]) a", has_text="RISK-SI-IMMINENT").count() == 1

    page.fill("#search", "")
    page.select_option("#filter-area", "safety")
    areas = visible.evaluate_all("rs => rs.map(r => r.getAttribute('data-area'))")
    assert areas and set(areas) == {"safety"} and len(areas) < total

    page.select_option("#filter-area", "")
    page.select_option("#filter-flag", "MORE_SEVERE")
    flags = visible.evaluate_all("rs => rs.map(r => r.getAttribute('data-flags'))")
    assert flags and all("MORE_SEVERE" in f.split() for f in flags)
    page.select_option("#filter-flag", "")
    assert visible.count() == total
    assert page.errors == []


def test_dependency_graph_renders(page, site: Path) -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz 'dot' is missing in CI: .ci/run installs it")
        pytest.skip("Graphviz 'dot' not installed: install with apt-get install graphviz")
    page.goto((site / "graph.html").as_uri())
    svg = page.locator("#graph svg")
    assert svg.count() == 1
    box = svg.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    nodes = page.locator("#graph svg g.node")
    rule_pages = len(list((site / "rules").glob("*.html")))
    assert nodes.count() > rule_pages
    first_rule = page.locator("#graph svg a[*|href^='rules/']").first
    assert first_rule.bounding_box()["width"] > 0
    first_rule.click()
    page.wait_for_load_state()
    assert "/rules/" in page.url and page.locator("h1").count() == 1
    assert page.errors == []


def test_small_graphs_fit_the_page_and_lead_to_their_pages(page, site: Path) -> None:
    """Rule, case and area graphs are drawn to the width of the page (no sideways scrolling),
    and a node opens its page."""
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz 'dot' is missing in CI: .ci/run installs it")
        pytest.skip("Graphviz 'dot' not installed: install with apt-get install graphviz")
    page.set_viewport_size({"width": 1280, "height": 900})
    for path, holder in (("rules/FMT-SEVERE-INDIVIDUAL.html", "#rule-graph"), ("cases/03-dana.html", "#case-graph")):
        page.goto((site / path).as_uri())
        box, frame = page.locator(f"{holder} svg").bounding_box(), page.locator(holder).bounding_box()
        assert box is not None and frame is not None and 100 < box["width"] <= frame["width"], path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    page.goto((site / "areas.html").as_uri())
    assert page.locator(".graph.small svg").count() == page.locator("h2[id^='area-']").count() >= 3
    page.locator("#area-safety + p + .graph svg a[*|href='rules/RISK-SI-IMMINENT.html']").click()
    page.wait_for_load_state()
    assert page.url.endswith("/rules/RISK-SI-IMMINENT.html")
    assert page.locator("#rule-graph svg").count() == 1
    assert page.errors == []


def test_index_explains_how_rules_combine_and_shows_the_decision_tables(page, site: Path) -> None:
    page.goto((site / "index.html").as_uri())
    page.click("nav a[href$='#combine']")
    assert page.locator("#combine table.combine").count() == 3
    first = page.locator("#combine table.combine").first.locator("tbody tr").first
    assert first.inner_text().startswith("1 (most restrictive)")
    page.click("nav a[href$='#tables']")
    kroenke = page.locator("#table-kroenke + p + table.dmn tbody tr")
    assert kroenke.count() == 5
    kroenke.nth(4).locator("a").click()
    page.wait_for_load_state()
    assert page.url.endswith("/rules/SEV-KROENKE-SEVERE.html")
    assert page.locator("a", has_text="PHQ-9 severity bands").count() == 1
    assert page.errors == []


def test_html_report_opens_cleanly(page, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["assess", str(ROOT / "examples" / "demo.yaml"), "--format", "html", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    page.goto(out.as_uri())
    assert page.locator("h1").inner_text().startswith("IPT advisor report")
    assert page.locator("#why .step").count() > 0
    for href in links(page):
        assert href.startswith("#") and page.locator(href).count() == 1
    assert page.errors == []

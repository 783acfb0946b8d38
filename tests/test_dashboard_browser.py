"""summary.html opened in a real headless Chromium (see tests/chromium.py): no console error
(a CSP violation is one), every chart drawn and labelled, the safety-critical overrides at the
top, and the A4 print: the safety section on page 1."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from chromium import launch
from cli import cli
from test_dashboard import CASES

pytestmark = pytest.mark.browser

CHARTS = ["format", "flags", "focus", "override-rule", "agreement-site", "agreement-clinician", "trend-1", "trend-2"]


@pytest.fixture(scope="module")
def browser():
    yield from launch("pdftotext")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dash-browser")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(c) + "\n" for c in CASES))
    result = CliRunner().invoke(cli, ["audit", str(corpus), "-o", str(root / "out")])
    assert result.exit_code == 0, result.output
    return root / "out" / "summary.html"


FACTS = """() => Array.from(document.querySelectorAll("figure.chart-block")).map(f => {
  const svg = f.querySelector("svg"), box = svg.getBoundingClientRect();
  return {id: f.id, title: svg.querySelector("title").textContent, label: svg.getAttribute("aria-labelledby"),
          width: box.width, height: box.height, marks: svg.querySelectorAll("rect.bar, circle.point").length,
          rows: f.querySelectorAll("table.data tbody tr").length, top: box.top + window.scrollY};
})"""


def test_dashboard_in_chromium(browser, dashboard: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(dashboard.as_uri())
    context_js = browser.new_context()  # the facts are read with script on, the page itself needs none
    probe = context_js.new_page()
    probe.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    probe.goto(dashboard.as_uri())
    charts = probe.evaluate(FACTS)
    assert [c["id"] for c in charts] == CHARTS
    for c in charts:
        assert c["title"].strip() and c["label"] == f"chart-{c['id']}-title", c
        assert c["width"] > 200 and c["height"] > 20 and c["marks"] > 0 and c["rows"] > 0, c
    safety_top = probe.locator("#safety-overrides").bounding_box()["y"]
    assert safety_top < min(c["top"] for c in charts)
    assert probe.locator("#safety-overrides td.flag-critical").all_inner_texts() == ["SUICIDE_IMMINENT"]
    assert errors == []
    context.close()
    context_js.close()


def test_dashboard_prints_on_a4_with_the_safety_overrides_on_page_one(browser, dashboard: Path, tmp_path: Path) -> None:
    page = browser.new_page()
    page.goto(dashboard.as_uri())
    pdf = tmp_path / "summary.pdf"
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    page.close()
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert "pts (A4)" in info
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert "Safety-critical overrides" in first and "D-3" in first and "SUICIDE_IMMINENT" in first

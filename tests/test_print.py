"""Printed on A4 in a real Chromium, page 1 of every report is the whole decision, and the
client handout is one page.

Every bundled example (examples/*.yaml) and every vignette (tests/vignettes/*.yaml) is
rendered as HTML, printed to PDF by headless Chromium (Debian's, through Playwright), and
read back page by page with ``pdftotext`` (poppler-utils). Page 1 must hold the decision
section from its first line to its last (the "Appendix on the next page" line that closes
it), and the appendix must start page 2. Missing Chromium, Playwright or pdftotext, the tests
skip, except under CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chromium import launch
from conftest import EXAMPLES, ROOT
from ipt_advisor import __version__
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import load_intake_file

pytestmark = pytest.mark.browser

CASES = EXAMPLES + sorted((ROOT / "tests" / "vignettes").glob("*.yaml"))
DECISION_END = "Appendix on the next page"


@pytest.fixture(scope="module")
def printer():
    for browser in launch("pdftotext"):
        yield browser.new_page()


def pdf_pages(page, html: str, path: Path) -> list[str]:
    """Print ``html`` on A4 and return the text of each page (whitespace collapsed)."""
    page.set_content(html, wait_until="load")
    page.pdf(path=str(path), format="A4", print_background=True)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [" ".join(p.split()) for p in text.split("\f") if p.strip()]


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_page_one_is_the_whole_decision(printer, case: Path, tmp_path: Path) -> None:
    advisor = Advisor.load()
    intake = load_intake_file(str(case))
    decision, html = advisor.report(intake, "html", __version__)
    pages = pdf_pages(printer, html, tmp_path / "report.pdf")
    first = pages[0]
    assert DECISION_END in first, f"the decision runs past page 1 of {case.name}"
    assert "Appendix — Why" not in first
    assert len(pages) > 1 and pages[1].startswith("Appendix — Why"), "the appendix starts page 2"
    # what a clinician looks for first is there, banners and the top risk leading
    for banner in decision["banners"]:
        assert first.upper().index(banner["text"][:30].upper()) < first.upper().index("RECOMMENDATION")
    for flag in decision["flags"]:
        assert flag["code"] in first
    for heading in ("Risk answers as recorded", "Severity — PHQ-9 in both schemes", "Sign-off"):
        assert heading in first


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_the_handout_is_one_page(printer, case: Path, tmp_path: Path) -> None:
    _, html = Advisor.load().handout_text(load_intake_file(str(case)), "html")
    pages = pdf_pages(printer, html, tmp_path / "handout.pdf")
    assert len(pages) == 1, f"the handout for {case.name} runs to {len(pages)} pages"
    assert "If you need help urgently" in pages[0]

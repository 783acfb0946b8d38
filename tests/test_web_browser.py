"""A clinician's session in a real headless Chromium against a real ``ipt-advisor serve``:
fill the form, meet a field error, fix it, submit, read the report, print it to PDF, sign
off, find the case in the list, re-assess and read its history.

Each page is saved as a screenshot (in ``$IPT_SCREENSHOTS`` when set, else a temporary
folder) so a person can look at what a clinician sees. Needs Debian's chromium and
Playwright (skips without them, fails under CI); the PDF is read back with pdftotext.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from chromium import launch
from webapp import start_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    yield from launch("pdftotext")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("IPT_SCREENSHOTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def server(tmp_path: Path):
    running = start_server(f"sqlite:///{tmp_path / 'cases.db'}")
    yield running
    running.stop()


def test_a_clinician_enters_signs_off_prints_and_finds_a_case(browser, server, shots: Path, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    page.goto(server.url)
    assert page.url.endswith("/intake/new"), "the token is exchanged and leaves the address bar"
    assert "token=" not in page.url

    # the form, filled in the order a clinician works
    page.fill("#f-site", "NORTH-01")
    page.fill("#f-clinician", "CL-017")
    page.fill("#f-id", "BR-2026-001")
    page.fill("#f-age", "4")  # a slip: meant 34
    page.fill("#f-measures-phq9", "17")
    page.check("input[name='measures.phq9_item9'][value='1']", force=True)
    page.check("input[name='risk.cssrs.wish_dead'][value='true']", force=True)
    method_row = page.locator("#f-risk-cssrs-method-row")
    assert method_row.is_hidden(), "Q3 is asked only after a yes to Q2"
    page.check("input[name='risk.cssrs.active_thoughts'][value='true']", force=True)
    assert method_row.is_visible()
    page.check("input[name='risk.cssrs.method'][value='true']", force=True)
    page.check("input[name='risk.cssrs.intent'][value='false']", force=True)
    page.check("input[name='risk.cssrs.plan'][value='false']", force=True)
    page.check("input[name='risk.cssrs.behavior_3m'][value='false']", force=True)
    stage_row = page.locator("#f-findings-role-dispute-stage-row")
    assert stage_row.is_hidden()
    page.check("input[name='findings.role_dispute.present'][value='true']", force=True)
    assert stage_row.is_visible()
    page.check("input[name='findings.role_dispute.stage'][value='impasse']", force=True)
    page.check("input[name='findings.role_dispute.violence'][value='false']", force=True)
    page.fill("#f-findings-role-dispute-with", "partner")
    page.fill("#f-notes", "Lives alone since the separation. <b>not markup</b>")
    shot("01-form")

    page.click("button[type=submit]")
    shot("02-form-with-error")
    assert page.locator("#problems").is_visible(), page.inner_text("main")[:800]
    assert "1 problem — nothing was stored" in page.inner_text("#problems")
    assert "must be a whole number from 5 to 120" in page.inner_text("#f-age-row")
    assert page.input_value("#f-measures-phq9") == "17", "what was typed is kept"
    assert page.input_value("#f-notes").startswith("Lives alone")
    shot("02-form-with-error")

    page.click("#problems a")  # the summary links to the field
    page.fill("#f-age", "34")
    page.click("button[type=submit]")

    # the report: the decision and the top risk first
    assert re.search(r"/assessments/\d+$", page.url)
    headline = page.inner_text("#recommendation .headline")
    assert "RECOMMENDATION" in headline.upper() and "IPT" in headline
    first_flag = page.locator("#flags .flag").first.inner_text()
    assert "SUICIDE_IDEATION" in first_flag
    assert page.inner_text("#signoff-state") == "Not signed off yet"
    assert "<b>not markup</b>" in page.inner_text("#notes")
    shot("03-report")
    report_url = page.url

    # the print view, printed to A4: page 1 holds the decision
    page.click("text=Print view")
    assert page.locator(".app-nav").count() == 0
    shot("04-print-view")
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    first_page = " ".join(text.split("\f")[0].split())
    assert "BR-2026-001" in first_page and "SUICIDE_IDEATION" in first_page and "Sign-off" in first_page

    page.goto(report_url)
    page.click("text=Client handout")
    assert "What to expect" in page.inner_text("body") or "WHAT TO EXPECT" in page.inner_text("body").upper()
    shot("05-handout")

    # sign-off: change the format, with a reason
    page.goto(report_url)
    page.click("text=Sign off")
    shot("06-signoff")
    assert page.locator("input[name='clinician_decision.format']").first.is_hidden()
    page.check("input[name='signoff'][value='change']", force=True)
    page.check("input[name='clinician_decision.format'][value='group']", force=True)
    page.check("input[name='clinician_decision.focus'][value='role_dispute']", force=True)
    page.fill("#f-clinician-decision-reason", "Wants the group: peers with the same conflict; safety plan agreed")
    page.click("button[type=submit]")
    assert page.url == report_url
    assert page.inner_text("#signoff-state").startswith("Signed off by CL-017")
    assert "changed to Group IPT" in page.inner_text("#signoff")
    shot("07-report-signed-off")

    # the case list: find it by its id
    page.click(".app-nav >> text=Cases")
    page.fill("#f-q", "br-2026")
    page.click("text=Filter")
    assert page.locator("#cases tbody tr").count() == 1
    assert "SUICIDE_IDEATION" in page.inner_text("#cases")
    shot("08-case-list")

    # re-assess a month later: the form starts from the last intake
    page.click("#cases a >> text=BR-2026-001")
    page.click("text=Re-assess")
    assert page.input_value("#f-id") == "BR-2026-001" and page.input_value("#f-age") == "34"
    page.fill("#f-measures-phq9", "11")
    page.click("button[type=submit]")
    page.click(".app-nav >> text=history")
    assert page.locator("#history tbody tr").count() == 2
    assert page.locator("#phq9-chart circle.point").count() == 2
    shot("09-case-page")
    # the form with a problem is answered 422, which Chromium logs; anything else is an error
    assert [e for e in errors if "status of 422" not in e] == []
    context.close()

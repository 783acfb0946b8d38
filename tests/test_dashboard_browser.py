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
    first = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Safety-critical overrides" in first and "D-3" in first and "SUICIDE_IMMINENT" in first


def _stored_db(path: Path) -> str:
    """A database holding three assessments (two sites) and one safety-critical sign-off,
    entered through the app's own form (Flask's test client)."""
    from ipt_advisor import __version__
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.store import Store
    from ipt_advisor.web.app import create_app
    from webapp import form_fields, valid_answers

    url = f"sqlite:///{path}"
    store = Store.open(url)
    try:
        client = create_app(
            store, Advisor.load(), token="t" * 32, hosts={"localhost"}, tool_version=__version__
        ).test_client()
        client.get("/?token=" + "t" * 32)
        intent = {
            "risk.cssrs.wish_dead": "true",
            "risk.cssrs.active_thoughts": "true",
            "risk.cssrs.method": "true",
            "risk.cssrs.intent": "true",
            "risk.cssrs.plan": "false",
        }
        for case, site, more in (("B-1", "NORTH-01", {}), ("B-2", "SOUTH-02", intent), ("B-3", "NORTH-01", {})):
            values = form_fields(client.get("/intake/new").get_data(as_text=True))
            values.update(valid_answers(case, site=site, clinician="CL-001", assessed_on="2026-10-01", **more))
            location = client.post("/intake", data=values).headers["Location"]
            if case == "B-2":
                csrf = form_fields(client.get(location + "/signoff").get_data(as_text=True))["csrf_token"]
                client.post(
                    location + "/signoff",
                    data={
                        "csrf_token": csrf,
                        "signoff": "change",
                        "clinician_decision.format": "group",
                        "clinician_decision.reason": "group starts next week",
                    },
                )
    finally:
        store.close()
    return url


def test_quality_page_in_serve_filters_without_console_errors(browser, tmp_path: Path) -> None:
    from webapp import start_server

    server = start_server(_stored_db(tmp_path / "cases.db"))
    try:
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.goto(server.url)
        page.click("text=Quality")
        assert page.inner_text("#quality-shown") == "3 assessments counted"
        assert page.locator("#safety-overrides td.flag-critical").all_inner_texts() == ["SUICIDE_IMMINENT"]
        assert page.locator("figure.chart-block svg > title").count() == page.locator("figure.chart-block").count() > 3
        page.screenshot(path=str(tmp_path / "quality.png"), full_page=True)
        page.select_option("#q-site", "NORTH-01")
        page.click("#quality-filters button")
        assert "site=NORTH-01" in page.url
        assert page.inner_text("#quality-shown") == "2 assessments counted (filtered)"
        assert page.locator("#safety-overrides td.flag-critical").count() == 0
        assert errors == []  # a style the CSP blocked would be one
        page.close()
    finally:
        server.stop()


# what a crowded safety-critical row carries: two critical flags, seven long others, a reason
CROWDED_FLAGS = [("RISK_ASSESSMENT_MISSING", "critical"), ("HOSTILE_OR_HOMICIDAL", "critical")] + [
    (code, "warning")
    for code in (
        "BELOW_DIAGNOSTIC_THRESHOLD",
        "SOCIAL_ANXIETY_HIGH",
        "GROUP_DISCOMFORT",
        "PROLONGED_GRIEF",
        "CONFIDENTIALITY",
        "CANNOT_ATTEND_GROUP",
        "REFUSES_GROUP",
    )
]
FRAME = """() => {
  const frame = document.querySelector("#safety-overrides"), fit = frame.querySelector(".fit");
  const inner = frame.getBoundingClientRect().right - parseFloat(getComputedStyle(frame).borderRightWidth);
  return {inner: inner, table: frame.querySelector("table").getBoundingClientRect().right,
          fit: fit.getBoundingClientRect().right, scrolls: fit.scrollWidth > fit.clientWidth,
          // a cell of n critical codes, none broken, takes at most n lines
          whole: Array.from(frame.querySelectorAll("td.flag-critical")).every(td => {
            const text = document.createRange();
            text.selectNodeContents(td);
            const lines = new Set(Array.from(text.getClientRects(), r => Math.round(r.top)));
            return lines.size <= td.innerText.split(", ").length;
          })};
}"""


@pytest.mark.parametrize(
    "media, width, fits",
    [("screen", 1200, True), ("screen", 1000, True), ("print", 703, True), ("screen", 700, False)],
)
def test_the_safety_table_stays_inside_its_red_frame(
    browser, dashboard: Path, tmp_path: Path, media: str, width: int, fits: bool
) -> None:
    """On a screen of 1,000 px or more, and across A4 (703 px between the margins), the table
    fits inside the frame; codes wrap after an underscore, never inside a word. On a narrower
    screen it scrolls inside the frame instead of running past it."""
    from ipt_advisor.audit.dashboard import render_summary_html

    out = dashboard.parent
    summary = json.loads((out / "summary.json").read_text())
    departures = [json.loads(line) for line in (out / "overrides.jsonl").read_text().splitlines()]
    critical = next(d for d in departures if d["safety_critical"])
    crowded = {
        **critical,
        "flags": [{"code": code, "level": level} for code, level in CROWDED_FLAGS],
        "reason": "Clinical judgement (synthetic).",
    }
    html = tmp_path / "crowded.html"
    html.write_text("".join(render_summary_html(summary, [crowded] * 3 + departures)), encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.emulate_media(media=media)
    page.goto(html.as_uri())
    box = page.evaluate(FRAME)
    page.close()
    assert box["fit"] <= box["inner"] + 0.5, box
    if fits:
        assert box["table"] <= box["inner"] + 0.5 and not box["scrolls"], box
    else:
        assert box["scrolls"], box
    if media == "screen" and width >= 1000:
        assert box["whole"], "a critical code wrapped on a wide screen"

"""The audit dashboard and the intake's site and clinician codes (issue 16).

A small corpus written by hand (tests/files/corpus/dashboard.jsonl): three sites (one intake without), two clinicians, two months,
and one case where the clinician chose group although the C-SSRS recorded intent (a critical
SUICIDE_IMMINENT flag, recommended defer): the safety-critical override the page leads with.

    case  site      clinician  month    recommended  clinician   safety-critical
    D-1   NORTH-01  CL-001     2026-09  group        group       -
    D-2   NORTH-01  CL-001     2026-09  group        individual  -
    D-3   SOUTH-02  CL-002     2026-10  defer        group       yes (SUICIDE_IMMINENT)
    D-4   SOUTH-02  CL-002     2026-10  defer        defer       -
    D-5   (none)    (none)     2026-10  group        (none)      -
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli import cli
from conftest import ROOT

CORPUS = ROOT / "tests" / "files" / "corpus" / "dashboard.jsonl"  # the table above, one intake a line
CASES = [json.loads(line) for line in CORPUS.read_text().splitlines()]


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> Path:
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("dash")
    corpus = root / "corpus.jsonl"
    corpus.write_bytes(CORPUS.read_bytes())
    result = CliRunner().invoke(cli, ["audit", str(corpus), "-o", str(root / "out"), "--log", str(root / "log")])
    assert result.exit_code == 0, result.output
    return root


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_codes_travel_into_decisions_overrides_and_the_log(audited: Path, runner) -> None:
    decisions = _lines(audited / "out" / "decisions.jsonl")
    assert [(d.get("site"), d.get("clinician")) for d in decisions] == [
        ("NORTH-01", "CL-001"),
        ("NORTH-01", "CL-001"),
        ("SOUTH-02", "CL-002"),
        ("SOUTH-02", "CL-002"),
        (None, None),
    ]
    assert list(decisions[0])[:4] == ["decision_version", "intake_id", "site", "clinician"]
    assert "site" not in decisions[4] and "clinician" not in decisions[4]  # absent, the decision is as before
    log = _lines(audited / "log")
    assert [(e.get("site"), e.get("clinician")) for e in log] == [
        (d.get("site"), d.get("clinician")) for d in decisions
    ]
    assert "site" not in log[4]
    assert runner.invoke(cli, ["log", "verify", str(audited / "log")]).exit_code == 0


def test_the_safety_critical_override_carries_its_flags(audited: Path) -> None:
    overrides = _lines(audited / "out" / "overrides.jsonl")
    assert [(d["case"], d["safety_critical"]) for d in overrides] == [("D-2", False), ("D-3", True)]
    d3 = overrides[1]
    assert {"code": "SUICIDE_IMMINENT", "level": "critical"} in d3["flags"]
    assert (d3["site"], d3["clinician_code"], d3["assessed_on_month"]) == ("SOUTH-02", "CL-002", "2026-10")
    summary = json.loads((audited / "out" / "summary.json").read_text())
    assert summary["concordance"]["departures"]["safety_critical"] == 1
    assert summary["flags_by_level"]["critical"]["flags"]["SUICIDE_IMMINENT"] == 2


def test_breakdowns_by_site_clinician_and_month(audited: Path) -> None:
    b = json.loads((audited / "out" / "summary.json").read_text())["breakdown"]
    assert list(b["site"]) == ["NORTH-01", "SOUTH-02", "(none)"]
    north, south = b["site"]["NORTH-01"], b["site"]["SOUTH-02"]
    assert (north["assessed"], north["clinician"], north["agree"], north["agree_percent"]) == (2, 2, 1, 50.0)
    assert (south["deferred"], south["deferred_percent"], south["override_percent"]) == (2, 100.0, 50.0)
    assert b["site"]["(none)"]["clinician"] == 0 and b["site"]["(none)"]["agree_percent"] is None
    assert b["clinician"]["CL-002"] == b["site"]["SOUTH-02"]
    assert list(b["month"]) == ["2026-09", "2026-10"]
    assert (b["month"]["2026-10"]["assessed"], b["month"]["2026-10"]["deferred_percent"]) == (3, 66.7)


def test_summary_html_leads_with_the_safety_critical_overrides(audited: Path) -> None:
    html = (audited / "out" / "summary.html").read_text()
    safety = html.index('id="safety-overrides"')
    assert safety < html.index('id="charts"') < html.index('id="departures"')
    row = re.search(r"<tr><td class=\"nowrap\"><code>D-3</code>.*?</tr>", html).group()
    assert "SOUTH-02" in row and "CL-002" in row and "<b>group</b>" in row
    assert '<td class="flag-critical">SUICIDE_<wbr>IMMINENT</td>' in row  # it may wrap after an underscore
    assert html.count("<code>D-2</code>") == 1 and html.index("<code>D-2</code>") > html.index('id="departures"')
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html and "@page { size: A4" in html


def test_every_chart_has_a_title_and_its_table(audited: Path) -> None:
    html = (audited / "out" / "summary.html").read_text()
    ids = re.findall(r'<figure class="chart-block" id="([^"]+)">', html)
    assert ids == [
        "format",
        "flags",
        "focus",
        "override-rule",
        "agreement-site",
        "agreement-clinician",
        "trend-1",
        "trend-2",
    ]
    for ident in ids:
        block = html[html.index(f'<figure class="chart-block" id="{ident}">') :]
        block = block[: block.index("</figure>")]
        assert f'<title id="chart-{ident}-title">' in block and "<table class=\"data\">" in block, ident


def test_all_zero_rows_and_columns_are_not_printed(audited: Path) -> None:
    html = (audited / "out" / "summary.html").read_text()
    focus = html[html.index('id="focus"') :]
    focus = focus[: focus.index("</figure>")]
    assert "<code>role_transition</code>" in focus and "<code>grief</code>" not in focus  # 0 cases: no row
    md = (audited / "out" / "summary.md").read_text()
    assert "| `individual` |" not in md  # no case recommended individual
    trend = html[html.index('id="trend-1"') :]
    assert "Assessments" in trend[: trend.index("</figure>")]


def test_summary_md_is_a_digest_that_names_the_safety_overrides(audited: Path) -> None:
    md = (audited / "out" / "summary.md").read_text()
    assert "## Safety-critical overrides: 1" in md
    assert "| `D-3` | group | SUICIDE\\_IMMINENT |" in md
    assert len(md.splitlines()) < 40


def test_byte_identical_on_rerun_and_across_jobs(audited: Path, runner) -> None:
    corpus = audited / "corpus.jsonl"
    for jobs in ("1", "2"):
        out = audited / f"again-{jobs}"
        assert runner.invoke(cli, ["audit", str(corpus), "-o", str(out), "--jobs", jobs]).exit_code == 0
        for name in ("summary.json", "summary.md", "summary.html", "overrides.jsonl", "decisions.jsonl"):
            assert (out / name).read_bytes() == (audited / "out" / name).read_bytes(), (jobs, name)


def test_a_site_code_outside_the_id_charset_is_an_error(tmp_path: Path, runner) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(CASES[0], site="North clinic (Dr Smith)")))
    result = runner.invoke(cli, ["intake", "check", str(bad)])
    assert result.exit_code == 1
    assert "site" in result.stderr


def test_the_confusion_table_leaves_out_what_nobody_chose(audited: Path, advisor) -> None:
    from ipt_advisor.audit.dashboard import page_context
    from ipt_advisor.audit.summary import Outcome, Tally

    html = (audited / "out" / "summary.html").read_text()
    table = html[html.index('<table class="data" id="confusion">') :]
    table = table[: table.index("</table>")]
    # the corpus: recommended defer twice (chosen defer, group), group twice (group, individual)
    rows = re.findall(r'<tr><th scope="row"><code>(\w+)</code></th>((?:<td class="num">\d+</td>)+)</tr>', table)
    assert re.findall(r'<th scope="col" class="num">(\w+)</th>', table) == ["defer", "individual", "group"]
    assert [(r, re.findall(r"\d+", cells)) for r, cells in rows] == [
        ("defer", ["1", "0", "1"]),
        ("group", ["0", "1", "1"]),
    ]
    # nobody chose defer or individual: those columns go, as the row nobody was recommended
    tally = Tally(advisor.ruleset)
    for i, fmt in enumerate(("group", "individual")):
        tally.add(
            Outcome(i, "s", i, f"K-{i}", "0" * 64, "complete", fmt, None, None, (), (), ("R",), ("group", None, None))
        )
    summary = tally.as_dict(
        input_path="x", input_kind="jsonl", input_sha256="0", tool_version="t", departures_file="overrides.jsonl"
    )
    confusion = page_context(summary, [], [], "t")["confusion"]
    assert confusion == {"columns": ["group"], "rows": [("individual", [1]), ("group", [1])]}


def test_a_code_may_wrap_after_an_underscore_and_stays_escaped() -> None:
    from ipt_advisor.report.render import breakable

    assert breakable("BELOW_DIAGNOSTIC_THRESHOLD") == "BELOW_<wbr>DIAGNOSTIC_<wbr>THRESHOLD"
    assert breakable("IPV") == "IPV"
    assert breakable("A_<b>&") == "A_<wbr>&lt;b&gt;&amp;"  # a rule set's own code is data, never markup

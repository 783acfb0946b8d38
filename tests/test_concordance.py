"""Concordance between the recommendations and the clinicians' recorded decisions.

The corpus (tests/files/corpus/intakes.jsonl) was checked by hand; seven of its eight valid
intakes carry a clinician decision:

    case  recommended (format / primary focus, rule)          clinician              departs
    C-01  group / role_transition  (FMT-GROUP-DEFAULT)        group / role_transition  -
    C-02  group / grief            (FMT-GROUP-DEFAULT)        individual / grief       format
    C-03  individual / role_dispute (FMT-SEVERE-INDIVIDUAL)   individual / role_dispute -
    C-04  individual / role_transition (FMT-SEVERE-INDIVIDUAL) group / isolation       format, focus
    C-05  defer / role_transition  (RISK-CSSRS-MISSING)       defer / role_transition  -
    C-06  (no clinician decision)
    C-07  group / isolation        (FMT-GROUP-DEFAULT)        group / (none)           focus
    C-08  individual / role_transition (FMT-REFUSES-GROUP)    individual / role_transition -
"""

from __future__ import annotations

import json
from pathlib import Path

from cli import cli
from conftest import ROOT
from ipt_advisor.audit.summary import Outcome, Tally

CORPUS = ROOT / "tests" / "files" / "corpus"


def test_hand_checked_corpus(runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert runner.invoke(cli, ["audit", str(CORPUS / "intakes.jsonl"), "-o", str(out)]).exit_code == 0
    c = json.loads((out / "summary.json").read_text())["concordance"]
    assert c["cases"] == 7
    assert c["format"] == {
        "overall": {"cases": 7, "agree": 5, "percent": 71.4},
        "by_recommended": {
            "defer": {"cases": 1, "agree": 1, "percent": 100.0},
            "individual": {"cases": 3, "agree": 2, "percent": 66.7},
            "group": {"cases": 3, "agree": 2, "percent": 66.7},
        },
    }
    assert c["confusion"] == {
        "rows": "recommended",
        "columns": "clinician",
        "table": {
            "defer": {"defer": 1, "individual": 0, "group": 0},
            "individual": {"defer": 0, "individual": 2, "group": 1},
            "group": {"defer": 0, "individual": 1, "group": 2},
        },
    }
    assert c["focus"] == {
        "overall": {"cases": 7, "agree": 5, "percent": 71.4},
        "by_recommended": {
            "grief": {"cases": 1, "agree": 1, "percent": 100.0},
            "role_dispute": {"cases": 1, "agree": 1, "percent": 100.0},
            "role_transition": {"cases": 4, "agree": 3, "percent": 75.0},
            "isolation": {"cases": 1, "agree": 0, "percent": 0.0},
        },
    }
    assert c["override_by_rule"] == {
        "RISK-CSSRS-MISSING": {"cases": 1, "overridden": 0, "percent": 0.0},
        "FMT-GROUP-DEFAULT": {"cases": 3, "overridden": 1, "percent": 33.3},
        "FMT-SEVERE-INDIVIDUAL": {"cases": 2, "overridden": 1, "percent": 50.0},
        "FMT-REFUSES-GROUP": {"cases": 1, "overridden": 0, "percent": 0.0},
    }
    assert c["departures"] == {"cases": 3, "with_reason": 2, "safety_critical": 0, "file": "overrides.jsonl"}
    departures = [json.loads(line) for line in (out / "overrides.jsonl").read_text().splitlines()]
    assert [(d["case"], d["line"], d["departs"], d["reason"]) for d in departures] == [
        ("C-02", 2, ["format"], "Wants to start alone; revisit a group in 6 weeks"),
        ("C-04", 5, ["format", "focus"], "Group starts sooner | waiting list *long*"),
        ("C-07", 10, ["focus"], None),
    ]
    assert all(d["safety_critical"] is False for d in departures)
    md = (out / "summary.md").read_text()
    assert (
        "The clinician chose the recommended format in **5 of 7** cases (71.4 %) and the recommended "
        "primary focus in **5 of 7** (71.4 %)." in md
    )
    html = (out / "summary.html").read_text()
    assert (
        "<tr><th scope=\"row\"><code>FMT-SEVERE-INDIVIDUAL</code></th><td class=\"num\">2</td>"
        "<td class=\"num\">1</td><td class=\"num\">50.0 %</td></tr>" in html
    )
    # the reason is clinician text: listed, but escaped so it cannot become markup
    assert "<td>Group starts sooner | waiting list *long*</td>" in html


def _outcome(
    i: int,
    fmt: str,
    focus: str | None,
    rules: tuple[str | None, ...],
    clinician: tuple[str, str | None, str | None] | None,
) -> Outcome:
    return Outcome(i, "s", i + 1, f"K-{i}", "0" * 64, "complete", fmt, focus, None, (), (), rules, clinician)


def test_tally_figures_independent_of_the_rules(advisor) -> None:
    tally = Tally(advisor.ruleset)
    outcomes = [
        _outcome(0, "group", "grief", ("R-A",), ("group", "grief", None)),
        _outcome(1, "group", "grief", ("R-A", "R-B"), ("individual", "grief", "prefers one to one")),
        _outcome(2, "individual", None, ("R-B",), ("individual", None, None)),
        _outcome(3, "defer", None, (None,), ("group", "isolation", "")),
        _outcome(4, "group", "isolation", ("R-A",), None),
    ]
    departures = [tally.add(o) for o in outcomes]
    assert [d and d["case"] for d in departures] == [None, "K-1", None, "K-3", None]
    assert departures[3]["departs"] == ["format", "focus"]
    c = tally.as_dict(
        input_path="x", input_kind="jsonl", input_sha256="0", tool_version="t", departures_file="overrides.jsonl"
    )["concordance"]
    assert c["format"]["overall"] == {"cases": 4, "agree": 2, "percent": 50.0}
    assert c["focus"]["overall"] == {"cases": 4, "agree": 3, "percent": 75.0}
    assert c["focus"]["by_recommended"]["none"] == {"cases": 2, "agree": 1, "percent": 50.0}
    assert c["override_by_rule"] == {
        "(no rule: fallback)": {"cases": 1, "overridden": 1, "percent": 100.0},
        "R-A": {"cases": 2, "overridden": 1, "percent": 50.0},
        "R-B": {"cases": 2, "overridden": 1, "percent": 50.0},
    }
    assert c["departures"]["cases"] == 2 and c["departures"]["with_reason"] == 1  # "" is no reason


def test_no_clinician_decisions_no_concordance(advisor) -> None:
    tally = Tally(advisor.ruleset)
    tally.add(_outcome(0, "group", "grief", ("R-A",), None))
    summary = tally.as_dict(
        input_path="x", input_kind="jsonl", input_sha256="0", tool_version="t", departures_file="overrides.jsonl"
    )
    assert summary["concordance"] is None


def test_summary_html_lists_the_first_departures_and_says_where_the_rest_are(advisor, monkeypatch) -> None:
    from ipt_advisor.audit import dashboard

    monkeypatch.setattr(dashboard, "DEPARTURE_LIMIT", 5)
    tally = Tally(advisor.ruleset)
    departures = [
        tally.add(_outcome(i, "group", None, ("R-A",), ("individual", None, f"reason {i}"))) for i in range(7)
    ]
    summary = tally.as_dict(
        input_path="x", input_kind="jsonl", input_sha256="0", tool_version="t", departures_file="overrides.jsonl"
    )
    html = "".join(dashboard.render_summary_html(summary, iter(departures)))
    assert (
        "7 cases depart from the recommendation in format or focus (7 with a reason); every one is in "
        "<code>overrides.jsonl</code>. The first 5 that are not safety-critical are listed." in html
    )
    assert [f"K-{i}" for i in range(7) if f"<td><code>K-{i}</code></td>" in html] == [f"K-{i}" for i in range(5)]
    monkeypatch.setattr(dashboard, "DEPARTURE_LIMIT", 7)
    full = "".join(dashboard.render_summary_html(summary, iter(departures)))
    assert "are listed" not in full and full.count("<td><code>K-") == 7

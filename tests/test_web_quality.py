"""The web app's quality page (issue 16): the audit dashboard over the stored assessments
and their sign-offs, filtered by site, clinician and assessment dates (Flask's test client
on a real SQLite database)."""

from __future__ import annotations

import re

from test_web_app import client, fields, store, submit  # noqa: F401 (fixtures)
from webapp import valid_answers

INTENT = {
    "risk.cssrs.wish_dead": "true",
    "risk.cssrs.active_thoughts": "true",
    "risk.cssrs.method": "true",
    "risk.cssrs.intent": "true",
    "risk.cssrs.plan": "false",
}


def _stored(client) -> None:  # noqa: F811
    submit(client, valid_answers("Q-1", site="NORTH-01", clinician="CL-001", assessed_on="2026-09-01"))
    location = submit(
        client, valid_answers("Q-2", site="SOUTH-02", clinician="CL-002", assessed_on="2026-09-20", **INTENT)
    ).headers["Location"]
    submit(client, valid_answers("Q-3", site="NORTH-01", clinician="CL-002", assessed_on="2026-10-05"))
    csrf = fields(client, location + "/signoff")["csrf_token"]
    done = client.post(
        location + "/signoff",
        data={
            "csrf_token": csrf,
            "signoff": "change",
            "clinician": "CL-002",
            "clinician_decision.format": "group",
            "clinician_decision.reason": "group starts next week",
        },
    )
    assert done.status_code == 303


def _page(client, query: str = "") -> str:  # noqa: F811
    response = client.get("/quality" + query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # both style blocks (the dashboard's, the app bar's) allowed by their hashes, nothing inline else
    assert response.headers["Content-Security-Policy"].count("'sha256-") == html.count("<style>") == 2
    return html


def _counted(html: str) -> int:
    return int(re.search(r'<span id="quality-shown">(\d+) assessment', html).group(1))


def test_quality_page_is_the_dashboard_with_the_safety_overrides_first(client, store) -> None:  # noqa: F811
    _stored(client)
    html = _page(client)
    assert _counted(html) == 3
    assert html.index('id="safety-overrides"') < html.index('id="charts"')
    row = re.search(r"<tr><td class=\"nowrap\"><code>Q-2</code>.*?</tr>", html).group()
    assert "SOUTH-02" in row and "CL-002" in row and "<b>group</b>" in row and "SUICIDE_<wbr>IMMINENT" in row
    assert "group starts next week" in row
    for ident in ("format", "flags", "focus", "agreement-site", "agreement-clinician", "trend-1"):
        assert f'<title id="chart-{ident}-title">' in html, ident
    assert "<script" not in html and 'http-equiv="Content-Security-Policy"' not in html  # the header's CSP rules
    assert '<a href="/quality">Quality</a>' in client.get("/cases").get_data(as_text=True)


def test_quality_filters_by_site_clinician_and_dates(client, store) -> None:  # noqa: F811
    _stored(client)
    north = _page(client, "?site=NORTH-01")
    assert _counted(north) == 2 and "<code>Q-2</code>" not in north
    assert '<option value="NORTH-01" selected>' in north
    assert _counted(_page(client, "?clinician=CL-002")) == 2
    assert _counted(_page(client, "?from=2026-09-10&to=2026-09-30")) == 1
    assert _counted(_page(client, "?site=SOUTH-02&from=2026-10-01")) == 0
    bad = _page(client, "?from=yesterday")
    assert _counted(bad) == 3 and "from: not a date written YYYY-MM-DD, ignored" in bad


def test_the_stored_log_entries_carry_the_codes_and_verify(client, store, runner) -> None:  # noqa: F811
    import json

    from cli import cli
    from ipt_advisor.store.tables import log_entries

    _stored(client)
    with store.engine.connect() as conn:
        entries = [
            json.loads(e)
            for (e,) in conn.execute(
                log_entries.select().with_only_columns(log_entries.c.entry).order_by(log_entries.c.seq)
            )
        ]
    assert [(e["case"], e["site"], e["clinician"]) for e in entries] == [
        ("Q-1", "NORTH-01", "CL-001"),
        ("Q-2", "SOUTH-02", "CL-002"),
        ("Q-3", "NORTH-01", "CL-002"),
    ]
    result = runner.invoke(cli, ["log", "verify", "--db", str(store.engine.url)])
    assert result.exit_code == 0, result.output

"""The web app's pages, in process (Flask's test client on a real SQLite database): the form
generated from the schema, validation exactly as ``intake check``, the C-SSRS skip logic on
the server, nothing stored on error, the report equal to ``assess --format html``, sign-off,
the case list and history, and the commands over the database (export, log verify --db)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from cli import cli
from conftest import EXAMPLES
from ipt_advisor import __version__
from ipt_advisor.core.errors import IntakeError
from ipt_advisor.intake.schema import FIELD_PATHS, from_mapping, load_intake_file
from ipt_advisor.store import Store
from ipt_advisor.web import form as web_form
from ipt_advisor.web.app import create_app
from webapp import form_fields, valid_answers

TOKEN = "t" * 32
HOST = "localhost"  # what the test client sends


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(f"sqlite:///{tmp_path / 'cases.db'}")
    yield opened
    opened.close()


@pytest.fixture
def client(store, advisor):
    app = create_app(store, advisor, token=TOKEN, hosts={HOST}, tool_version=__version__)
    c = app.test_client()
    assert c.get(f"/?token={TOKEN}").status_code == 303
    return c


def fields(client, path: str = "/intake/new") -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200
    return form_fields(page.get_data(as_text=True))


def submit(client, answers: dict[str, str], path: str = "/intake/new"):
    values = fields(client, path)
    values.update(answers)
    return client.post("/intake", data=values)


def problems(page) -> list[str]:
    return [
        re.sub(r"&#39;", "'", m) for m in re.findall(r'<p class="problem">([^<]*)</p>', page.get_data(as_text=True))
    ]


# --------------------------------------------------------------------------- the form from the schema


def test_every_intake_field_is_an_input_named_by_its_dotted_path(client) -> None:
    html = client.get("/intake/new").get_data(as_text=True)
    names = set(re.findall(r'<(?:input|textarea|select)[^>]* name="([^"]+)"', html))
    wanted = {p for p in FIELD_PATHS if not p.startswith("clinician_decision.")}
    assert wanted <= names
    assert names - wanted == {"csrf_token", "submission"}
    # every label comes from the schema table, none is missing
    for item in web_form.inputs(web_form.sections(client.application.extensions["ipt"]["advisor"].ruleset)):
        assert item.label, item.path


def test_cssrs_items_offer_yes_no_not_asked_and_declined_is_its_own_answer(client) -> None:
    html = client.get("/intake/new").get_data(as_text=True)
    for q in ("wish_dead", "active_thoughts", "method", "intent", "plan", "behavior_3m"):
        values = re.findall(rf'name="risk\.cssrs\.{q}" value="([^"]*)"', html)
        assert values == ["true", "false", ""], q
        assert re.search(rf'name="risk\.cssrs\.{q}" value=""[^>]* checked', html), "not asked is the start"
    assert re.findall(r'name="risk\.cssrs_declined" value="([^"]*)"', html) == ["true", "false"]
    # Q3-Q5 are shown only after a yes to Q2: the rule set's asked_when, as data for the script
    for q in ("method", "intent", "plan"):
        assert re.search(rf'id="f-risk-cssrs-{q}-row" data-asked-when="risk\.cssrs\.active_thoughts=true"', html)


def test_a_blank_form_gets_the_problems_of_intake_check_and_nothing_is_stored(client, store) -> None:
    page = submit(client, {})
    assert page.status_code == 422
    assert problems(page) == ["required", "required", "required"]  # id, age, PHQ-9 (the date is today)
    html = page.get_data(as_text=True)
    assert "3 problems — nothing was stored" in html
    assert store.counts()["assessments"] == 0


@pytest.mark.parametrize("case", EXAMPLES, ids=lambda p: p.stem)
def test_each_example_typed_into_the_form_gives_the_decision_of_assess(client, store, advisor, case: Path) -> None:
    mapping = yaml.safe_load(case.read_text())
    mapping.pop("clinician_decision", None)
    answers = web_form.flatten(mapping)
    page = submit(client, {k: v for k, v in answers.items()})
    assert page.status_code == 303, problems(page)
    stored = store.assessment(int(page.headers["Location"].rsplit("/", 1)[1]))
    expected = advisor.assess(from_mapping(mapping, None, "x"))
    assert stored.decision == expected


def test_field_problems_match_intake_check_and_what_was_typed_is_kept(client, store, tmp_path: Path, runner) -> None:
    answers = valid_answers(
        "W-1",
        age="forty",
        **{"measures.phq9": "30", "findings.role_dispute.present": "true", "notes": "kept <b>as typed</b>"},
    )
    page = submit(client, answers)
    assert page.status_code == 422
    found = problems(page)
    # the same file through intake check
    as_file = tmp_path / "same.yaml"
    as_file.write_text(
        yaml.safe_dump(
            {
                "intake_version": 1,
                "id": "W-1",
                "assessed_on": "2026-01-02",
                "age": "forty",
                "measures": {"phq9": 30, "phq9_item9": 0},
                "risk": {"cssrs": {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}},
                "findings": {
                    "grief": {"present": True, "months_since_death": 5, "onset_linked": True},
                    "role_dispute": {"present": True},
                },
            }
        )
    )
    checked = runner.invoke(cli, ["intake", "check", str(as_file)])
    assert checked.exit_code == 1
    messages = [line.split(": ", 2)[2] for line in checked.stderr.splitlines() if line.startswith(str(as_file))]
    # the same problems; a typed cell is always text, so the form does not add "(text)" to the value
    assert sorted(found) == sorted(m.replace(" (text)", "") for m in messages)
    again = form_fields(page.get_data(as_text=True))
    assert again["age"] == "forty" and again["measures.phq9"] == "30" and again["notes"] == "kept <b>as typed</b>"
    html = page.get_data(as_text=True)
    assert 'href="#f-age-row"' in html and 'id="f-age-row"' in html  # summary links to the field
    assert store.counts()["assessments"] == 0


def test_the_server_applies_the_screener_skip_logic_without_javascript(client, store) -> None:
    # Q2 no: a "no" to Q3-Q5 is not asked (dropped), never stored as an answer
    page = submit(client, valid_answers("S-1", **{"risk.cssrs.method": "false", "risk.cssrs.plan": "false"}))
    stored = store.assessment(int(page.headers["Location"].rsplit("/", 1)[1]))
    assert {"method", "plan"} & set(stored.intake["risk"]["cssrs"]) == set()
    # a recorded "yes" is never thrown away: the clinician must resolve the contradiction
    page = submit(client, valid_answers("S-2", **{"risk.cssrs.intent": "true"}))
    assert page.status_code == 422
    assert any("asked only when “Q2 Actual thoughts of killing themselves” is yes" in p for p in problems(page))
    # after a yes to Q2 the answers stand, and Q4 yes is imminent risk
    page = submit(
        client,
        valid_answers(
            "S-3",
            **{
                "risk.cssrs.active_thoughts": "true",
                "risk.cssrs.method": "true",
                "risk.cssrs.intent": "true",
                "risk.cssrs.plan": "false",
            },
        ),
    )
    stored = store.assessment(int(page.headers["Location"].rsplit("/", 1)[1]))
    assert "SUICIDE_IMMINENT" in {f["code"] for f in stored.decision["flags"]}
    assert store.counts()["assessments"] == 2


def test_declined_screen_is_incomplete_and_says_declined(client, store) -> None:
    answers = valid_answers(
        "D-1",
        **{
            "risk.cssrs_declined": "true",
            "risk.cssrs.wish_dead": "",
            "risk.cssrs.active_thoughts": "",
            "risk.cssrs.behavior_3m": "",
        },
    )
    page = submit(client, answers)
    assert page.status_code == 303
    report = client.get(page.headers["Location"]).get_data(as_text=True)
    stored = store.assessment(int(page.headers["Location"].rsplit("/", 1)[1]))
    assert stored.decision["status"] == "incomplete" and stored.decision["recommendation"]["format"] == "defer"
    assert "declined" in report


def test_site_and_clinician_are_remembered_for_the_session(client) -> None:
    assert submit(client, valid_answers("R-1", site="NORTH-01", clinician="CL-017")).status_code == 303
    again = fields(client)
    assert again["site"] == "NORTH-01" and again["clinician"] == "CL-017"
    assert again["id"] == ""


def test_a_repeated_submission_is_stored_once(client, store) -> None:
    values = fields(client)
    values.update(valid_answers("T-1"))
    first = client.post("/intake", data=values)
    second = client.post("/intake", data=values)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert store.counts() == {"assessments": 1, "cases": 1, "signoffs": 0, "log_entries": 1}


# --------------------------------------------------------------------------- report, print view, handout


def test_report_is_the_assess_html_report_and_links_print_view_and_handout(client, store, advisor) -> None:
    case = Path(EXAMPLES[0]).parent / "demo.yaml"
    mapping = yaml.safe_load(case.read_text())
    mapping.pop("clinician_decision", None)
    page = submit(client, web_form.flatten(mapping))
    location = page.headers["Location"]
    number = int(location.rsplit("/", 1)[1])
    html = client.get(location).get_data(as_text=True)
    printed = client.get(location + "/print").get_data(as_text=True)
    expected_decision, expected = advisor.report(
        from_mapping(store.assessment(number).intake, None, f"assessment #{number}"), "html", __version__
    )
    assert printed == expected
    # the report page is the same page with the app's navigation added in the template's blocks
    nav = re.compile(r'<style>\n  \.app-nav.*?</style>\n|<nav class="app-nav".*?</nav>\n', re.S)
    assert nav.sub("", html) == expected
    assert f'href="/assessments/{number}/print"' in html and f'href="/assessments/{number}/handout"' in html
    handout = client.get(location + "/handout")
    assert handout.status_code == 200 and "If you need help urgently" in handout.get_data(as_text=True)


def test_script_in_notes_is_shown_as_text(client, store) -> None:
    page = submit(client, valid_answers("X-1", notes='<script>alert("x")</script><img src=x onerror=alert(1)>'))
    html = client.get(page.headers["Location"]).get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- sign-off


def test_sign_off_accept_and_change_with_reason(client, store, advisor) -> None:
    location = submit(client, valid_answers("G-1")).headers["Location"]
    number = int(location.rsplit("/", 1)[1])
    assert "Not signed off yet" in client.get(location).get_data(as_text=True)
    csrf = fields(client, location + "/signoff")["csrf_token"]
    # changing without a reason is refused, nothing stored
    refused = client.post(
        location + "/signoff",
        data={"csrf_token": csrf, "signoff": "change", "clinician_decision.format": "individual", "clinician": "CL-9"},
    )
    assert refused.status_code == 422 and store.counts()["signoffs"] == 0
    done = client.post(
        location + "/signoff",
        data={
            "csrf_token": csrf,
            "signoff": "change",
            "clinician": "CL-9",
            "clinician_decision.format": "individual",
            "clinician_decision.focus": "grief",
            "clinician_decision.reason": "prefers one-to-one",
        },
    )
    assert done.status_code == 303
    stored = store.assessment(number)
    assert stored.clinician_decision == {"format": "individual", "focus": "grief", "reason": "prefers one-to-one"}
    printed = client.get(location + "/print").get_data(as_text=True)
    assert "changed to Individual IPT, focus Grief" in printed and "prefers one-to-one" in printed
    assert "Signed off by CL-9" in client.get(location).get_data(as_text=True)
    # accepting replaces it: the newest sign-off counts
    client.post(location + "/signoff", data={"csrf_token": csrf, "signoff": "accept", "clinician": "CL-9"})
    assert store.assessment(number).clinician_decision["format"] == stored.decision["recommendation"]["format"]
    assert "<strong>accepted</strong>" in client.get(location + "/print").get_data(as_text=True)


# --------------------------------------------------------------------------- cases, history, chart


def test_case_list_filters_and_newest_first(client, store) -> None:
    submit(client, valid_answers("LIST-A", site="NORTH-01"))
    submit(client, valid_answers("LIST-B", site="SOUTH-02", **{"preferences.format": "individual"}))
    submit(client, valid_answers("LIST-C", site="NORTH-01", **{"risk.cssrs.wish_dead": "true"}))

    def listed(query: str = "") -> list[str]:
        html = client.get("/cases" + query).get_data(as_text=True)
        return re.findall(r'<a href="/cases/([^"]+)"><strong>', html)

    assert listed() == ["LIST-C", "LIST-B", "LIST-A"]
    assert listed("?site=NORTH-01") == ["LIST-C", "LIST-A"]
    assert listed("?flag=SUICIDE_IDEATION") == ["LIST-C"]
    assert listed("?q=list-b") == ["LIST-B"]
    assert listed("?format=individual") == ["LIST-B"]
    assert listed("?status=incomplete") == []
    assert listed("?signed=yes") == []


def test_case_page_shows_the_history_and_the_phq9_chart(client, store) -> None:
    first = submit(client, valid_answers("H-1", **{"measures.phq9": "18"})).headers["Location"]
    number = int(first.rsplit("/", 1)[1])
    again = submit(client, {"measures.phq9": "9"}, path=f"/intake/new?from={number}")
    assert again.status_code == 303
    html = client.get("/cases/H-1").get_data(as_text=True)
    assert "History (2 assessments)" in html
    chart = re.search(r'<svg class="chart" id="phq9-chart".*?</svg>', html, re.S).group(0)
    assert len(re.findall(r'<circle class="point"', chart)) == 2
    assert re.findall(r'<text class="value"[^>]*>(\d+)</text>', chart) == ["18", "9"]
    ys = [float(y) for y in re.findall(r'<circle class="point" cx="[\d.]+" cy="([\d.]+)"', chart)]
    assert ys[0] < ys[1]  # the higher score is drawn higher up
    assert client.get("/cases/NOPE").status_code == 404


# --------------------------------------------------------------------------- commands over the database


def test_export_and_log_verify_read_what_the_app_stored(client, store, runner, tmp_path: Path) -> None:
    location = submit(client, valid_answers("E-1", notes="free text")).headers["Location"]
    submit(client, valid_answers("E-2"))
    csrf = fields(client, location + "/signoff")["csrf_token"]
    client.post(
        location + "/signoff",
        data={
            "csrf_token": csrf,
            "signoff": "change",
            "clinician_decision.format": "individual",
            "clinician_decision.reason": "r",
        },
    )
    url = str(store.engine.url)
    out = tmp_path / "intakes.jsonl"
    result = runner.invoke(cli, ["export", "--db", url, "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["E-1", "E-2"]
    assert lines[0]["clinician_decision"] == {"format": "individual", "reason": "r"}
    assert "clinician_decision" not in lines[1]
    for line in lines:
        from_mapping(line, None, "export")  # every exported line is a valid intake
    verified = runner.invoke(cli, ["log", "verify", "--db", url])
    assert verified.exit_code == 0 and verified.output.startswith("2 entries, chain intact")
    missing = runner.invoke(cli, ["export", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.exit_code == 1 and "no database here" in missing.stderr
    assert not (tmp_path / "none.db").exists()


def test_log_verify_db_names_a_tampered_entry(client, store, runner) -> None:
    for n in range(3):
        submit(client, valid_answers(f"V-{n}"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE log_entries SET entry = replace(entry, '\"group\"', '\"individual\"') WHERE seq = 2"
        )
    result = runner.invoke(cli, ["log", "verify", "--db", str(store.engine.url)])
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(":2: entry was edited: its content does not match its hash")


def test_the_migrated_schema_is_the_one_the_code_declares(store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ipt_advisor.store.tables import metadata

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_the_database_file_is_owner_only(tmp_path: Path) -> None:
    import os
    import stat

    folder = tmp_path / "data"
    opened = Store.open(f"sqlite:///{folder / 'x.db'}")
    opened.close()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for name in os.listdir(folder):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name


def test_examples_validate_through_the_form_reader_like_files(advisor) -> None:
    """The form reads a submission as a CSV row: for every example the mapping it builds
    validates to the same record as the file."""
    groups = web_form.sections(advisor.ruleset)
    for case in EXAMPLES:
        mapping = yaml.safe_load(case.read_text())
        mapping.pop("clinician_decision", None)
        read = web_form.read(web_form.flatten(mapping), groups)
        assert read.intake is not None, (case.name, read.problems)
        try:
            expected = load_intake_file(str(case)).record
        except IntakeError:  # pragma: no cover - the examples are valid
            raise
        assert read.intake.record == dict(expected, clinician_decision=None)


def test_audit_db_reads_the_stored_intakes_with_their_sign_off(client, store, runner, tmp_path: Path) -> None:
    first = submit(client, valid_answers("AU-1")).headers["Location"]
    submit(client, valid_answers("AU-2", **{"preferences.format": "individual"}))
    csrf = fields(client, first + "/signoff")["csrf_token"]
    client.post(
        first + "/signoff",
        data={
            "csrf_token": csrf,
            "signoff": "change",
            "clinician_decision.format": "defer",
            "clinician_decision.reason": "wants to wait",
        },
    )
    out = tmp_path / "audit"
    result = runner.invoke(cli, ["audit", "--db", str(store.engine.url), "-o", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in (out / "decisions.jsonl").read_text().splitlines()]
    assert [d["intake_id"] for d in decisions] == ["AU-1", "AU-2"]
    overrides = [json.loads(line) for line in (out / "overrides.jsonl").read_text().splitlines()]
    assert len(overrides) == 1 and "AU-1" in json.dumps(overrides[0])
    both = runner.invoke(
        cli, ["audit", str(out / "stored-intakes.jsonl"), "--db", str(store.engine.url), "-o", str(out)]
    )
    assert both.exit_code == 2


def test_warming_up_renders_every_page_and_stores_nothing_in_the_apps_database(
    store, advisor, tmp_path: Path, monkeypatch
) -> None:
    """``serve`` warms the app up before its workers fork (web/warmup.py): each page is
    rendered once, its writes go to a scratch database that is removed, the app's own
    database only read."""
    import tempfile

    from ipt_advisor.web.warmup import warm_up

    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    app = create_app(store, advisor, token=TOKEN, hosts={HOST}, tool_version=__version__)
    env = app.extensions["ipt"]["env"]
    seen: list[str] = []
    real_get = env.get_template
    monkeypatch.setattr(env, "get_template", lambda name, *a, **k: (seen.append(name), real_get(name, *a, **k))[1])
    warm_up(app, HOST, TOKEN)
    pages = {
        "web/form.html.j2",
        "web/report_page.html.j2",
        "web/signoff.html.j2",
        "web/cases.html.j2",
        "web/case.html.j2",
        "web/error.html.j2",
    }
    assert pages <= set(seen), pages - set(seen)
    assert app.extensions["ipt"]["store"] is store
    assert store.counts() == {"assessments": 0, "cases": 0, "signoffs": 0, "log_entries": 0}
    assert list(scratch_root.iterdir()) == []  # the scratch database is gone
    c = app.test_client()  # and the app serves as before
    assert c.get(f"/?token={TOKEN}").status_code == 303
    assert c.get("/cases").status_code == 200

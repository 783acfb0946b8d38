"""The CDS Hooks 2.0 service inside `serve`: discovery, the card, 412, feedback, auth.

In process through Flask's test client on a real SQLite store, plus one real `serve` process
over HTTP; every response and request is checked against the JSON Schemas transcribed from
the CDS Hooks 2.0 logical models (docs/cds-hooks/). A missing-prefetch fetch goes to a real
FHIR-shaped HTTP server on 127.0.0.1 that this test starts.
"""

from __future__ import annotations

import copy
import http.client
import http.server
import json
import re
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jsonschema import Draft202012Validator, FormatChecker

from cli import cli
from conftest import ROOT
from ipt_advisor import __version__
from ipt_advisor.store import Store
from ipt_advisor.web.app import create_app
from ipt_advisor.web.cds_auth import load_clients
from webapp import start_server

FHIR = ROOT / "tests" / "files" / "fhir"
SCHEMAS = ROOT / "docs" / "cds-hooks"
TOKEN = "c" * 32
HOST = "localhost"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SERVICE = "/cds-services/ipt-suitability"
ISSUER = "https://ehr.example.org/"


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        json.loads((SCHEMAS / f"{name}.schema.json").read_text()), format_checker=FormatChecker()
    )


def valid(name: str, value: object) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema(name).iter_errors(value)]
    assert errors == [], errors


def prefetch_from(name: str) -> dict:
    """A fixture bundle as an EHR prefetches it: the Patient, one searchset per template."""
    resources = [e["resource"] for e in json.loads((FHIR / name).read_text())["entry"]]
    out: dict = {"patient": None, "responses-44249-1": None, "responses-93373-9": None, "observations": None}
    for r in resources:
        if r["resourceType"] == "Patient":
            out["patient"] = r
            continue
        key = (
            "observations"
            if r["resourceType"] == "Observation"
            else "responses-" + r["questionnaire"].rsplit("/", 1)[-1]
        )
        out[key] = out[key] or {"resourceType": "Bundle", "type": "searchset", "entry": []}
        out[key]["entry"].append({"resource": r})
    return out


def hook_call(prefetch: dict | None, hook_instance: str = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", **extra) -> dict:
    body = {
        "hook": "patient-view",
        "hookInstance": hook_instance,
        "context": {"userId": "Practitioner/example", "patientId": "example-ipt-1"},
        **extra,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    valid("request", body)
    return body


@pytest.fixture
def store(tmp_path: Path):
    opened = Store.open(f"sqlite:///{tmp_path / 'cases.db'}")
    yield opened
    opened.close()


def make_client(store, advisor, **options):
    app = create_app(store, advisor, token=TOKEN, hosts={HOST}, tool_version=__version__, **options)
    return app.test_client()


@pytest.fixture
def client(store, advisor):
    return make_client(store, advisor)


def card_of(client, body: dict, headers: dict | None = None) -> dict:
    reply = client.post(SERVICE, json=body, headers=headers or BEARER)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    valid("response", reply.json)
    assert len(reply.json["cards"]) == 1
    return reply.json["cards"][0]


# --------------------------------------------------------------------------- discovery and the card


def test_discovery_lists_the_service_with_prefetch_by_loinc(client) -> None:
    reply = client.get("/cds-services", headers=BEARER)
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    valid("discovery", reply.json)
    (service,) = reply.json["services"]
    assert service["id"] == "ipt-suitability" and service["hook"] == "patient-view"
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert "questionnaire=http://loinc.org/q/44249-1" in service["prefetch"]["responses-44249-1"]
    assert "questionnaire=http://loinc.org/q/93373-9" in service["prefetch"]["responses-93373-9"]
    assert "http://loinc.org|44261-6" in service["prefetch"]["observations"]


def test_positive_screen_gives_one_critical_card_linked_to_the_stored_report(client, advisor) -> None:
    card = card_of(client, hook_call(prefetch_from("cssrs-positive.json")))
    assert card["indicator"] == "critical" and len(card["summary"]) < 140
    assert card["summary"].startswith("IPT: Defer IPT allocation")
    assert "**CRITICAL** SUICIDE\\_IMMINENT" in card["detail"] and "\\[RISK-SI-IMMINENT\\]" in card["detail"]
    rs = advisor.ruleset
    assert card["source"]["label"] == f"ipt-advisor · rule set {rs.name} {rs.version}"
    assert {r["code"] for r in card["overrideReasons"]} >= {"clinical-judgement", "already-addressed"}
    assert card["uuid"] == str(
        uuid.uuid5(
            uuid.UUID("6f1c1f3e-6a7b-5c55-9d8e-1a2b3c4d5e6f"), f"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea\0{rs.sha256}"
        )
    )
    (link,) = card["links"]
    assert link["type"] == "absolute" and link["url"] == "http://localhost/assessments/1"
    assert client.get(f"/?token={TOKEN}").status_code == 303  # a clinician signed in to the web app
    report = client.get("/assessments/1")
    assert report.status_code == 200 and "SUICIDE_IMMINENT" in report.get_data(as_text=True)


def test_same_hook_call_same_card_and_one_stored_assessment(client, store) -> None:
    body = hook_call(prefetch_from("phq9-cssrs-negative.json"))
    first, again = card_of(client, body), card_of(client, body)
    assert first == again and store.counts()["assessments"] == 1
    other = card_of(client, hook_call(prefetch_from("phq9-cssrs-negative.json"), hook_instance=str(uuid.uuid4())))
    assert other["uuid"] != first["uuid"]


def test_missing_cssrs_is_a_critical_card_not_an_error(client) -> None:
    prefetch = prefetch_from("phq9-cssrs-negative.json")
    prefetch["responses-93373-9"] = None  # the EHR has no C-SSRS for this patient
    card = card_of(client, hook_call(prefetch))
    assert card["indicator"] == "critical"
    assert "RISK\\_ASSESSMENT\\_MISSING" in card["detail"] and "incomplete" in card["detail"]


def test_unreadable_data_is_a_card_listing_the_problems(client) -> None:
    card = card_of(client, hook_call(prefetch_from("hostile-total-disagrees.json")))
    assert card["indicator"] == "warning" and "links" not in card
    assert "disagrees with its items" in card["detail"] and "not done" in card["detail"]
    prefetch = prefetch_from("hostile-total-disagrees.json")
    prefetch["responses-93373-9"] = None
    assert card_of(client, hook_call(prefetch))["indicator"] == "critical"  # and no risk screen at all


def test_indicator_follows_the_contract_for_every_example(advisor) -> None:
    from conftest import EXAMPLES
    from ipt_advisor.report.cds import decision_card
    from ipt_advisor.intake.schema import load_intake_file

    for path in EXAMPLES:
        decision = advisor.assess(load_intake_file(str(path)))
        levels = {f["level"] for f in decision["flags"]}
        want = "critical" if "critical" in levels else "warning" if "warning" in levels else "info"
        card = decision_card(decision, advisor.ruleset, "h-1", None)
        valid("response", {"cards": [card]})
        assert card["indicator"] == want, path.name


def test_bad_requests_are_400_json(client) -> None:
    for body in (
        [],
        {"hook": "order-sign", "hookInstance": "x", "context": {"userId": "a", "patientId": "b"}},
        {"hook": "patient-view", "context": {}},
    ):
        reply = client.post(SERVICE, json=body, headers=BEARER)
        assert reply.status_code == 400 and "error" in reply.json
    reply = client.post(SERVICE, data=b"{not json", headers=dict(BEARER, **{"Content-Type": "application/json"}))
    assert reply.status_code == 400


# --------------------------------------------------------------------------- prefetch missing: 412 or fetch


def test_missing_prefetch_is_412_without_a_trusted_fhir_server(client) -> None:
    prefetch = prefetch_from("phq9-cssrs-negative.json")
    del prefetch["observations"]
    reply = client.post(SERVICE, json=hook_call(prefetch, fhirServer="http://127.0.0.1:9/fhir"), headers=BEARER)
    assert reply.status_code == 412 and "observations" in reply.json["error"]
    reply = client.post(SERVICE, json=hook_call(None), headers=BEARER)
    assert reply.status_code == 412


class _Fhir(http.server.BaseHTTPRequestHandler):
    """A FHIR server's search answers for the fixture patient (read-only, this test's data)."""

    data: dict = {}
    seen: list = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        kind = self.path.split("/fhir/", 1)[1].split("?")[0]
        key = {"Patient": "patient", "Observation": "observations"}.get(kind.split("/")[0])
        if key is None:
            key = "responses-" + self.path.rsplit("/", 1)[-1]
        body = json.dumps(self.data.get(key) or {"resourceType": "Bundle", "type": "searchset"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_missing_prefetch_is_fetched_from_an_allowed_fhir_server(store, advisor) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fhir)
    _Fhir.data, _Fhir.seen = prefetch_from("cssrs-positive.json"), []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    try:
        client = make_client(store, advisor, fhir_servers=frozenset({base}))
        auth = {
            "access_token": "ehr-access",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "ipt-advisor",
        }
        card = card_of(client, hook_call({}, fhirServer=base, fhirAuthorization=auth))
    finally:
        server.shutdown()
        server.server_close()
    assert card["indicator"] == "critical"
    assert len(_Fhir.seen) == 4 and all(a == "Bearer ehr-access" for _, a in _Fhir.seen)
    assert "/fhir/Patient/example-ipt-1" in [p for p, _ in _Fhir.seen]
    # the same server, now gone: 412 naming what could not be fetched
    reply = client.post(SERVICE, json=hook_call({}, fhirServer=base), headers=BEARER)
    assert reply.status_code == 412 and reply.json["error"].startswith("fetching patient from the fhirServer failed")


# --------------------------------------------------------------------------- feedback and the audit


def _feedback(card: str, outcome: str = "overridden", code: str | None = "already-addressed", **extra) -> dict:
    item: dict = {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-02T10:40:00Z", **extra}
    if code:
        item["overrideReason"] = {
            "reason": {"system": "urn:ipt-advisor:cds-override-reason", "code": code},
            "userComment": "risk assessed in clinic today",
        }
    return {"feedback": [item]}


def _audit_db(runner, store, out: Path) -> dict:
    result = runner.invoke(cli, ["audit", "--db", str(store.engine.url), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())


def _assessment_of(card: dict) -> int:
    return int(card["links"][0]["url"].split("/assessments/")[1].split("/")[0])


def test_feedback_is_stored_and_joined_into_the_audit(client, store, runner, tmp_path: Path) -> None:
    positive = card_of(client, hook_call(prefetch_from("cssrs-positive.json")))
    negative = card_of(client, hook_call(prefetch_from("phq9-cssrs-negative.json"), hook_instance="h-2"))
    for body in (_feedback(positive["uuid"]), _feedback(negative["uuid"], "accepted", None)):
        valid("feedback", body)
        reply = client.post(f"{SERVICE}/feedback", json=body, headers=BEARER)
        assert reply.status_code == 200 and reply.json == {"stored": 1}
    # the clinician signs the negative case off against the recommendation: both sources per rule
    store.sign_off(
        _assessment_of(negative),
        {"format": "individual", "focus": None, "reason": "prefers one to one"},
        accepted=False,
        clinician="CL-001",
    )
    out = tmp_path / "audit"
    summary = _audit_db(runner, store, out)
    report = json.loads((out / "cds-feedback.json").read_text())
    assert report["cards"] == 2 and report["cards_with_feedback"] == 2 and report["overridden"] == 1
    assert report["override_by_rule"]["RISK-SI-IMMINENT"] == {
        "cards": 1,
        "accepted": 0,
        "overridden": 1,
        "percent": 100.0,
        "reasons": {"already-addressed": 1},
    }
    assert report["override_by_rule"]["FOCUS-NONE"] == {
        "cards": 2,
        "accepted": 1,
        "overridden": 1,
        "percent": 50.0,
        "reasons": {"already-addressed": 1},
    }
    assert "risk assessed" not in (out / "cds-feedback.json").read_text()  # free text stays in the database
    # joined into the audit's own summary, in the rule set's order, beside the sign-offs' rates
    cds = summary["cds_feedback"]
    assert {k: cds[k] for k in ("cards", "cards_with_feedback", "overridden", "reasons")} == {
        "cards": 2,
        "cards_with_feedback": 2,
        "overridden": 1,
        "reasons": {"already-addressed": 1},
    }
    assert cds["override_by_rule"] == {rid: report["override_by_rule"][rid] for rid in cds["override_by_rule"]}
    assert list(cds["override_by_rule"]) == [rid for rid in summary["rules"]["fired"] if rid in cds["override_by_rule"]]
    signed = summary["concordance"]["override_by_rule"]
    assert set(signed) < set(cds["override_by_rule"]) and all(o["overridden"] == 1 for o in signed.values())
    html = (out / "summary.html").read_text()
    table = html[html.index('id="override-rule"') :].split("</figure>")[0]
    assert "<th scope=\"col\" class=\"num\">EHR cards</th>" in table and "EHR override reasons" in table
    assert (
        "<tr><th scope=\"row\"><code>RISK-SI-IMMINENT</code></th><td class=\"num\">0</td><td class=\"num\">0</td>"
        "<td class=\"num\">–</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">100.0 %</td>"
        "<td class=\"num\">already-addressed 1</td></tr>"
    ) in table
    assert "RISK-SI-IMMINENT (EHR): 100.0 % (1 of 1 EHR cards)" in table  # the EHR bar's title
    for rid, o in signed.items():
        assert f"{rid}: {o['percent']:.1f} % (1 of {o['cases']} sign-offs)" in table
    assert "<b>2</b> of 2 EHR cards reported on, <b>1</b> overridden" in html
    assert (
        "**EHR card feedback (CDS Hooks):** 2 of 2 cards reported on, 1 overridden (`already-addressed` 1)"
        in (out / "summary.md").read_text()
    )
    # a rerun over the same store gives the same bytes
    first = {
        name: (out / name).read_bytes() for name in ("summary.json", "summary.html", "summary.md", "cds-feedback.json")
    }
    _audit_db(runner, store, out)
    assert {name: (out / name).read_bytes() for name in first} == first


def test_audit_db_without_feedback_is_as_before(client, store, runner, tmp_path: Path) -> None:
    """Cards issued, none reported on: no cds_feedback in the summary, no EHR column or line."""
    card = card_of(client, hook_call(prefetch_from("cssrs-positive.json")))
    store.sign_off(
        _assessment_of(card),
        {"format": "group", "focus": None, "reason": "risk managed"},
        accepted=False,
        clinician="CL-001",
    )
    out = tmp_path / "audit"
    summary = _audit_db(runner, store, out)
    assert json.loads((out / "cds-feedback.json").read_text())["cards_with_feedback"] == 0
    assert "cds_feedback" not in summary
    assert list(summary["concordance"]["override_by_rule"])  # the sign-offs' rates are there, alone
    for name in ("summary.html", "summary.md"):
        text = (out / name).read_text().split("</style>")[-1]
        assert "EHR" not in text and "sign-offs)" not in text, name
    table = (out / "summary.html").read_text().split('id="override-rule"')[1].split("</figure>")[0]
    assert re.findall(r'<th scope="col" class="num">([^<]*)</th>', table) == ["Cases", "Overridden", "%"]
    assert "RISK-SI-IMMINENT: 100.0 % (1 of 1)</title>" in table


def test_a_resumed_audit_joins_the_feedback_it_started_with(client, store, runner, tmp_path: Path, monkeypatch) -> None:
    """The disk fills up while the summaries are written; the EHR then changes its verdict. The
    resumed run finishes with the feedback kept in cds-feedback.json (that of the stored intakes
    it audits), a new run reads the new verdict."""
    from test_audit_faults import full_disk

    card = card_of(client, hook_call(prefetch_from("cssrs-positive.json")))
    assert client.post(f"{SERVICE}/feedback", json=_feedback(card["uuid"]), headers=BEARER).status_code == 200
    out = tmp_path / "audit"
    args = ["audit", "--db", str(store.engine.url), "-o", str(out)]
    full_disk(monkeypatch, "summary.md.partial", 3)
    assert runner.invoke(cli, args).exit_code == 1 and not (out / "summary.json").exists()
    monkeypatch.undo()
    assert (
        client.post(f"{SERVICE}/feedback", json=_feedback(card["uuid"], "accepted", None), headers=BEARER).status_code
        == 200
    )
    result = runner.invoke(cli, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["cds_feedback"]["overridden"] == 1
    assert _audit_db(runner, store, tmp_path / "again")["cds_feedback"]["overridden"] == 0


def test_bad_feedback_is_400_and_nothing_is_stored(client, store) -> None:
    card = card_of(client, hook_call(prefetch_from("cssrs-positive.json")))["uuid"]
    for body in (
        _feedback(str(uuid.uuid4())),
        _feedback(card, code="not-a-reason"),
        _feedback(card, outcome="ignored"),
        _feedback(card, "accepted"),
        {"feedback": []},
        {"feedback": [dict(_feedback(card)["feedback"][0], outcomeTimestamp=5)]},
    ):
        reply = client.post(f"{SERVICE}/feedback", json=body, headers=BEARER)
        assert reply.status_code == 400, body
    from ipt_advisor.store.feedback import override_by_rule

    assert override_by_rule(store) == {}


# --------------------------------------------------------------------------- authorisation


def test_without_the_bearer_token_every_cds_endpoint_is_401(client) -> None:
    assert client.get(f"/?token={TOKEN}").status_code == 303  # a browser session does not count
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        assert client.get("/cds-services", headers=headers).status_code == 401
        reply = client.post(SERVICE, json=hook_call(None), headers=headers)
        assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.post(f"{SERVICE}/feedback", json={}, headers=headers).status_code == 401


@pytest.fixture
def ehr(tmp_path: Path):
    """An EHR client: an ES384 and an RS384 key, their public JWK Set pinned in a clients file."""
    keys = {"ec-1": ec.generate_private_key(ec.SECP384R1()), "rsa-1": rsa.generate_private_key(65537, 2048)}
    jwks = {"keys": []}
    for kid, key in keys.items():
        jwk = json.loads(
            jwt.algorithms.get_default_algorithms()["ES384" if kid.startswith("ec") else "RS384"].to_jwk(
                key.public_key()
            )
        )
        jwks["keys"].append(dict(jwk, kid=kid))
    (tmp_path / "ehr-keys.json").write_text(json.dumps(jwks))
    (tmp_path / "clients.yaml").write_text(
        f"clients:\n  - issuer: {ISSUER}\n    jwks: ehr-keys.json\n    jku: https://ehr.example.org/jwks.json\n"
    )
    return keys, load_clients(str(tmp_path / "clients.yaml"))


def _jwt(keys, kid="ec-1", aud=f"http://{HOST}{SERVICE}", **changes) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "ehr-client", "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    header = {"kid": kid, "typ": "JWT"}
    for name in list(changes):
        if name in ("jku", "alg"):
            header[name] = changes.pop(name)
    claims.update(changes)
    alg = header.pop("alg", "RS384" if kid == "rsa-1" else "ES384")
    key = keys[kid] if kid in keys else keys["ec-1"]
    return jwt.encode(
        claims, key if alg != "HS256" else "a shared secret of thirty-two bytes!!", algorithm=alg, headers=header
    )


def test_signed_jwts_of_configured_clients(store, advisor, ehr) -> None:
    keys, clients = ehr
    client = make_client(store, advisor, ehr_clients=clients)
    body = hook_call(prefetch_from("phq9-cssrs-negative.json"))

    def status(token: str, path: str = SERVICE) -> int:
        return client.post(path, json=body, headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(_jwt(keys)) == 200
    assert status(_jwt(keys, "rsa-1")) == 200
    assert status(_jwt(keys, jku="https://ehr.example.org/jwks.json")) == 200  # the pinned key location
    replayed = _jwt(keys)
    assert status(replayed) == 200 and status(replayed) == 401  # a jti is good once
    assert status(_jwt(keys, aud=f"http://{HOST}/cds-services")) == 401  # minted for another endpoint
    assert status(_jwt(keys, iss="https://other.example.org/")) == 401
    assert status(_jwt(keys, jku="https://attacker.example/jwks.json")) == 401
    assert status(_jwt(keys, kid="unknown")) == 401
    assert status(_jwt(keys, alg="HS256")) == 401
    assert status(_jwt(keys, exp=int(time.time()) - 3600)) == 401
    assert status(_jwt(keys, jti=None)) == 401
    forged = _jwt(keys).rsplit(".", 1)[0] + "." + _jwt(keys, "rsa-1").rsplit(".", 1)[1]
    assert status(forged) == 401
    feedback_aud = _jwt(keys, aud=f"http://{HOST}{SERVICE}/feedback")
    assert (
        client.post(f"{SERVICE}/feedback", json={}, headers={"Authorization": f"Bearer {feedback_aud}"}).status_code
        == 400
    )


def test_a_broken_clients_file_stops_serve(runner, tmp_path: Path) -> None:
    (tmp_path / "clients.yaml").write_text("clients:\n  - issuer: x\n    jwks: missing.json\n  - {}\n")
    result = runner.invoke(
        cli,
        [
            "serve",
            "--port",
            "0",
            "--db",
            f"sqlite:///{tmp_path / 'c.db'}",
            "--ehr-clients",
            str(tmp_path / "clients.yaml"),
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'clients.yaml'}:2: clients[0].jwks: not a readable JWK Set with a kid per key (FileNotFoundError)",
        f"{tmp_path / 'clients.yaml'}:4: clients[1]: needs issuer: and jwks: (text), and at most jku:",
    ]


# --------------------------------------------------------------------------- a real server over HTTP


def test_real_serve_process_answers_discovery_call_and_feedback(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'cases.db'}")
    try:
        conn = http.client.HTTPConnection(server.hostport, timeout=60)
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}

        def call(method: str, path: str, body: object = None) -> tuple[int, dict]:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            reply = conn.getresponse()
            return reply.status, json.loads(reply.read())

        status, services = call("GET", "/cds-services")
        assert status == 200
        valid("discovery", services)
        status, cards = call("POST", SERVICE, hook_call(prefetch_from("cssrs-positive.json")))
        assert status == 200 and cards["cards"][0]["indicator"] == "critical"
        valid("response", cards)
        assert cards["cards"][0]["links"][0]["url"] == f"{server.base}assessments/1"
        status, stored = call("POST", f"{SERVICE}/feedback", _feedback(cards["cards"][0]["uuid"]))
        assert (status, stored) == (200, {"stored": 1})
        conn.close()
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    assert "clinic today" not in err  # the access log holds no free text


def test_schemas_reject_what_the_spec_forbids() -> None:
    """The transcribed invariants bite: the checks above could fail."""
    card = {
        "summary": "x" * 140,
        "indicator": "hard-stop",
        "source": {"label": "s"},
        "suggestions": [{"label": "do"}],
        "overrideReasons": [{"system": "s", "code": "c"}],
        "links": [{"label": "l", "url": "http://x", "type": "absolute", "appContext": "a"}],
    }
    problems = {e.json_path for e in schema("response").iter_errors({"cards": [card]})}
    assert {
        "$.cards[0].summary",
        "$.cards[0].indicator",
        "$.cards[0]",
        "$.cards[0].overrideReasons[0]",
        "$.cards[0].links[0]",
    } <= problems
    bad = copy.deepcopy(_feedback("c"))
    bad["feedback"][0]["outcomeTimestamp"] = "yesterday"
    assert list(schema("feedback").iter_errors(bad))
    assert list(
        schema("request").iter_errors(
            {"hook": "patient-view", "hookInstance": "h", "context": {}, "fhirAuthorization": {"access_token": "t"}}
        )
    )


def test_damaged_prefetch_gives_a_card_never_a_500(client) -> None:
    from hypothesis import given, settings, strategies as st

    junk = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    )

    @settings(max_examples=60, deadline=None)
    @given(
        key=st.sampled_from(["patient", "responses-44249-1", "responses-93373-9", "observations"]),
        value=junk | st.fixed_dictionaries({"resourceType": st.just("Bundle"), "entry": junk}),
    )
    def check(key: str, value: object) -> None:
        body = hook_call(prefetch_from("cssrs-positive.json"), hook_instance=str(uuid.uuid4()))
        body["prefetch"][key] = value  # not a valid request any more: the service must still cope
        reply = client.post(SERVICE, json=body, headers=BEARER)
        assert reply.status_code in (200, 400), reply.get_data(as_text=True)
        if reply.status_code == 200:
            valid("response", reply.json)

    check()


def test_cors_for_browser_based_ehrs(client) -> None:
    preflight = client.open(
        SERVICE,
        method="OPTIONS",
        headers={
            "Origin": "https://ehr.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    reply = client.get("/cds-services", headers=dict(BEARER, Origin="https://ehr.example.org"))
    assert reply.status_code == 200 and reply.headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/cds-services", headers={"Origin": "https://ehr.example.org"}).status_code == 401
    assert "Access-Control-Allow-Origin" not in client.get("/health").headers  # the web app's pages: no CORS


@pytest.fixture(scope="module")
def pg():
    from postgres import postgres_server

    yield from postgres_server()


def test_card_and_feedback_on_postgresql(pg, advisor) -> None:
    """Migration 0002 and the card / feedback rows on a real PostgreSQL server."""
    from ipt_advisor.store.feedback import feedback_json

    store = Store.open(pg.new_database())
    try:
        client = make_client(store, advisor)
        body = hook_call(prefetch_from("cssrs-positive.json"))
        card = card_of(client, body)
        assert card_of(client, body) == card and store.counts()["assessments"] == 1
        reply = client.post(f"{SERVICE}/feedback", json=_feedback(card["uuid"]), headers=BEARER)
        assert reply.status_code == 200
        report = json.loads(feedback_json(store))
        assert report["cards"] == 1 and report["override_by_rule"]["RISK-SI-IMMINENT"]["overridden"] == 1
    finally:
        store.close()

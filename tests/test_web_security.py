"""Security for health data in the web app, each property tested against a real
``ipt-advisor serve`` process over HTTP: wrong Host, no token or cookie, missing or wrong
CSRF token, a POST from another origin, script in notes, the CSP and no-store headers, the
loopback bind (and the warning for --host), and free text never in the server's output."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import pytest

from webapp import Client, assessment_id, start_server, valid_answers


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sec")
    running = start_server(f"sqlite:///{folder / 'cases.db'}", env={"XDG_DATA_HOME": str(folder)})
    yield running
    running.stop()


@pytest.fixture
def client(server):
    c = Client(server)
    assert c.login().status == 303
    yield c
    c.close()


def test_first_line_is_the_contract(server) -> None:
    assert re.fullmatch(r"ipt-advisor serving on http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{20,}", server.first_line)


def test_wrong_host_is_refused(server, client) -> None:
    for host in ("evil.example:80", f"evil.example:{server.hostport.split(':')[1]}", "127.0.0.1:1"):
        got = client.request("GET", "/cases", headers={"Host": host})
        assert got.status in (400, 421), host
        assert "C-" not in got.text


def test_no_token_and_no_cookie_is_refused(server) -> None:
    anonymous = Client(server)
    for path in ("/intake/new", "/cases", "/assessments/1", "/assessments/1/print", "/cases/X"):
        assert anonymous.request("GET", path).status == 401, path
    assert anonymous.request("GET", "/?token=wrong-token").status == 401
    assert anonymous.request("POST", "/intake", {"id": "A"}).status == 401
    assert anonymous.request("GET", "/health").status == 200  # says nothing but "ok"
    anonymous.close()


def test_token_becomes_an_httponly_strict_cookie_and_leaves_the_url(server) -> None:
    fresh = Client(server)
    got = fresh.login()
    assert got.status == 303 and got.header("location") == "/"
    cookie = got.header("set-cookie").lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert fresh.request("GET", "/intake/new").status == 200
    fresh.close()


def test_a_session_cookie_seen_before_does_not_open_the_door_to_altered_copies(server, client) -> None:
    """The server checks each cookie's signature once and remembers it (web/security.py
    ``Sessions``): a copy with its payload or its signature changed must still be refused."""
    assert client.request("GET", "/cases").status == 200  # this cookie is now known to the server
    name, value = client.cookie.split("=", 1)
    payload, stamp, signature = value.rsplit(".", 2)
    # the first character, not the last: base64 leaves the low bits of the last one unused, so
    # changing it there can decode to the very same signature (a valid cookie, not an altered one)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    altered = [
        f"{payload}.{stamp}.{flipped}",
        f"{payload}x.{stamp}.{signature}",
        f"{payload}.{stamp}.",
        f"{payload}.{stamp}.{signature}x",
        value.upper(),
    ]
    for cookie in altered:
        other = Client(server)
        try:
            other.cookie = f"{name}={cookie}"
            assert other.request("GET", "/cases").status == 401, cookie
        finally:
            other.close()
    assert client.request("GET", "/cases").status == 200


def test_a_remembered_session_cookie_still_expires(tmp_path: Path, advisor, monkeypatch) -> None:
    import time
    from datetime import timedelta

    from ipt_advisor.store import Store
    from ipt_advisor.web import security
    from ipt_advisor.web.app import create_app

    store = Store.open(f"sqlite:///{tmp_path / 'cases.db'}")
    app = create_app(store, advisor, token="launch-token", hosts={"127.0.0.1:5000"}, tool_version="t")
    app.permanent_session_lifetime = timedelta(seconds=60)  # the age Flask allows a cookie
    web = app.test_client()
    base = "http://127.0.0.1:5000"
    assert web.get("/?token=launch-token", base_url=base).status_code == 303
    assert web.get("/cases", base_url=base).status_code == 200
    assert web.get("/cases", base_url=base).status_code == 200  # the remembered cookie
    started = time.time()
    monkeypatch.setattr(security.time, "time", lambda: started + 61)
    assert web.get("/cases", base_url=base).status_code == 401
    store.close()


def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_stores_nothing(client) -> None:
    fields = client.new_form()
    fields.update(valid_answers("CSRF-1"))
    missing = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert client.request("POST", "/intake", missing).status in (400, 403)
    assert client.request("POST", "/intake", dict(fields, csrf_token="forged")).status in (400, 403)
    assert "CSRF-1" not in client.request("GET", "/cases").text


def test_post_from_another_origin_is_refused_even_with_the_token(client) -> None:
    fields = client.new_form()
    fields.update(valid_answers("ORIGIN-1"))
    assert client.request("POST", "/intake", fields, headers={"Origin": "http://evil.example"}).status == 403
    assert client.request("POST", "/intake", fields, headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    same = f"http://{client.server.hostport}"
    assert assessment_id(
        client.request("POST", "/intake", fields, headers={"Origin": same, "Sec-Fetch-Site": "same-origin"})
    )


def test_script_in_notes_is_escaped_on_every_page(client) -> None:
    payload = '<script>alert(document.cookie)</script>"><svg onload=alert(1)>'
    number = assessment_id(client.submit(valid_answers("XSS-1", notes=payload)))
    for path in (
        f"/assessments/{number}",
        f"/assessments/{number}/print",
        f"/assessments/{number}/signoff",
        "/cases/XSS-1",
    ):
        page = client.request("GET", path)
        assert page.status == 200
        assert "<script>alert" not in page.text and "<svg onload" not in page.text, path
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in client.request("GET", f"/assessments/{number}").text


def test_csp_has_no_inline_and_pages_are_not_stored(client) -> None:
    number = assessment_id(client.submit(valid_answers("CSP-1")))
    for path in (
        "/intake/new",
        "/cases",
        "/cases/CSP-1",
        f"/assessments/{number}",
        f"/assessments/{number}/print",
        f"/assessments/{number}/handout",
        f"/assessments/{number}/signoff",
    ):
        page = client.request("GET", path)
        csp = page.header("content-security-policy")
        assert csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert re.search(r"script-src 'self'(;|$)", csp), csp
        assert page.header("cache-control") == "no-store", path
        assert "<script>" not in page.text  # no inline script anywhere
        # every style block on the page is allowed by its hash, nothing else inline
        for block in re.findall(r"<style>(.*?)</style>", page.text, re.S):
            import base64
            import hashlib

            digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp
        assert " style=" not in page.text, path


def test_binds_loopback_only_by_default(server) -> None:
    port = int(server.hostport.split(":")[1])
    assert server.hostport.startswith("127.0.0.1:")
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no address besides loopback")
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex((outward, port)) != 0, "reachable on a non-loopback address"


def _outward_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outward interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_host_option_warns(tmp_path: Path) -> None:
    running = start_server(f"sqlite:///{tmp_path / 'c.db'}", "--host", "0.0.0.0")
    code, _, err = running.stop()
    assert code == 0
    assert "warning: listening on 0.0.0.0" in err and "plain HTTP" in err
    assert running.first_line.startswith("ipt-advisor serving on http://0.0.0.0:")


def test_free_text_and_the_token_never_reach_the_server_output(tmp_path: Path) -> None:
    running = start_server(f"sqlite:///{tmp_path / 'c.db'}")
    client = Client(running)
    client.login()
    marker = "NOTE-MARKER-7f3a"
    number = assessment_id(
        client.submit(
            valid_answers(
                "LOG-1",
                notes=f"{marker} private",
                **{
                    "findings.role_dispute.present": "true",
                    "findings.role_dispute.stage": "impasse",
                    "findings.role_dispute.with": f"{marker} partner",
                },
            )
        )
    )
    client.request("GET", f"/assessments/{number}")
    bad = client.submit(valid_answers("LOG-2", age=f"{marker}-age", notes=marker))
    assert bad.status == 422
    client.request(
        "POST",
        f"/assessments/{number}/signoff",
        {
            "csrf_token": client.new_form()["csrf_token"],
            "signoff": "change",
            "clinician_decision.format": "individual",
            "clinician_decision.reason": f"{marker} reason",
        },
    )
    client.close()
    code, out, err = running.stop(signal.SIGTERM)
    assert code == 0
    everything = running.first_line + out + err
    assert marker not in everything
    assert everything.count(running.token) == 1  # only in the first line, never in the access log
    assert "POST /intake 303" in err and "GET /?token" not in err

"""The web app under load and under failure, on SQLite and on a real PostgreSQL server.

* 20 concurrent clients each submit 50 intakes through a real ``serve`` process and read
  each report: 1,000 assessments stored, none lost, none doubled, the log chain intact.
* A locked, full or unreachable database: a clear page, what was typed kept, nothing
  half-stored, and the next submission after recovery is stored once.
* SIGTERM while a request is still arriving: it is answered in full, then the server exits 0.
"""

from __future__ import annotations

import http.client
import re
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from cli import cli
from ipt_advisor import __version__
from ipt_advisor.store import Store
from ipt_advisor.web.app import create_app
from postgres import postgres_server
from webapp import Client, assessment_id, form_fields, start_server, valid_answers

CLIENTS, EACH = 20, 50


@pytest.fixture(scope="module")
def pg():
    yield from postgres_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cases.db'}"
    return request.getfixturevalue("pg").new_database()


def _one_client(server, number: int) -> list[int]:
    client = Client(server)
    assert client.login().status == 303
    made = []
    for n in range(EACH):
        case = f"LOAD-{number:02d}-{n:02d}"
        new_id = assessment_id(client.submit(valid_answers(case, site=f"SITE-{number % 3}")))
        report = client.request("GET", f"/assessments/{new_id}")
        assert report.status == 200 and f"case {case}" in report.text
        made.append(new_id)
    client.close()
    return made


def test_twenty_clients_fifty_intakes_each(db_url: str) -> None:
    server = start_server(db_url, "--threads", "8")
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            made = [i for ids in pool.map(lambda n: _one_client(server, n), range(CLIENTS)) for i in ids]
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    assert len(made) == CLIENTS * EACH == len(set(made)) == 1000
    store = Store.open(db_url, create=False)
    try:
        assert store.counts() == {"assessments": 1000, "cases": 1000, "signoffs": 0, "log_entries": 1000}
        assert sorted(a.case_id for a in store.intakes()) == sorted(
            f"LOAD-{c:02d}-{n:02d}" for c in range(CLIENTS) for n in range(EACH)
        )
        entries, _ = store.verify_log()
        assert entries == 1000
    finally:
        store.close()
    verified = CliRunner().invoke(cli, ["log", "verify", "--db", db_url])
    assert verified.exit_code == 0 and verified.output.startswith("1000 entries, chain intact")


def test_the_same_submission_sent_by_many_at_once_is_stored_once(db_url: str) -> None:
    server = start_server(db_url)
    try:
        client = Client(server)
        client.login()
        fields = client.new_form()
        fields.update(valid_answers("TWICE-1"))
        cookie = client.cookie

        def send(_: int) -> str:
            one = Client(server)
            one.cookie = cookie
            got = one.request("POST", "/intake", fields)
            one.close()
            return got.header("location")

        with ThreadPoolExecutor(10) as pool:
            locations = set(pool.map(send, range(10)))
        client.close()
    finally:
        server.stop()
    assert len(locations) == 1
    store = Store.open(db_url, create=False)
    try:
        assert store.counts()["assessments"] == 1 and store.verify_log()[0] == 1
    finally:
        store.close()


# --------------------------------------------------------------------------- a database that fails


def _app(store, advisor):
    app = create_app(store, advisor, token="k" * 32, hosts={"localhost"}, tool_version=__version__)
    client = app.test_client()
    assert client.get("/?token=" + "k" * 32).status_code == 303
    return client


def _post(client, case: str, **more: str):
    fields = form_fields(client.get("/intake/new").get_data(as_text=True))
    fields.update(valid_answers(case, **more))
    return fields, client.post("/intake", data=fields)


def _intact(store, expected: int) -> None:
    counts = store.counts()
    assert counts["assessments"] == counts["log_entries"] == expected
    assert store.verify_log()[0] == expected


def test_locked_database_gives_a_clear_page_and_stores_nothing(tmp_path: Path, advisor) -> None:
    path = tmp_path / "cases.db"
    store = Store.open(f"sqlite:///{path}", busy_timeout=0.3)
    client = _app(store, advisor)
    _post(client, "LOCK-0")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
    try:
        fields, page = _post(client, "LOCK-1", notes="typed before the lock")
        html = page.get_data(as_text=True)
        assert page.status_code == 503
        assert "Nothing was stored: the database is locked by another program" in html
        assert form_fields(html)["notes"] == "typed before the lock" and form_fields(html)["id"] == "LOCK-1"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    _intact(store, 1)
    again = client.post("/intake", data=fields)  # the same form, sent again once the lock is gone
    assert again.status_code == 303
    _intact(store, 2)
    store.close()


def test_full_database_gives_a_clear_page_and_stores_nothing(tmp_path: Path, advisor) -> None:
    path = tmp_path / "cases.db"
    store = Store.open(f"sqlite:///{path}")
    client = _app(store, advisor)
    _post(client, "FULL-0")
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    from sqlalchemy import event

    # the same engine, now on a disk that holds no more pages than the file has
    event.listen(store.engine, "connect", lambda dbapi, _: dbapi.execute(f"PRAGMA max_page_count = {pages}"))
    store.engine.dispose()
    _, page = _post(client, "FULL-1", notes="x" * 9000)
    assert page.status_code == 503
    assert "Nothing was stored: the disk holding the database is full" in page.get_data(as_text=True)
    _intact(store, 1)
    assert [a.case_id for a in store.intakes()] == ["FULL-0"]
    store.close()


def test_unreachable_database_gives_a_clear_page_and_recovers(pg, advisor) -> None:
    url = pg.new_database()
    store = Store.open(url)
    client = _app(store, advisor)
    _post(client, "DOWN-0")
    pg.stop("fast")
    try:
        fields, page = _post(client, "DOWN-1", notes="kept while the server is down")
        html = page.get_data(as_text=True)
        assert page.status_code == 503
        assert "Nothing was stored: the database server cannot be reached" in html
        assert form_fields(html)["notes"] == "kept while the server is down"
        assert client.get("/cases").status_code == 503  # pages that read say so too
    finally:
        pg.restart()
    again = client.post("/intake", data=fields)
    assert again.status_code == 303
    _intact(store, 2)
    store.close()


# --------------------------------------------------------------------------- SIGTERM


@pytest.mark.parametrize("workers", ["1", "2"])  # one process; a parent and its worker processes
def test_sigterm_finishes_the_request_in_flight_then_exits(tmp_path: Path, workers: str) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    server = start_server(url, "--workers", workers)
    client = Client(server)
    client.login()
    fields = client.new_form()
    fields.update(valid_answers("TERM-1", notes="n" * 2000))
    body = urlencode(fields).encode()
    host, port = server.hostport.split(":")
    slow = http.client.HTTPConnection(host, int(port), timeout=60)
    slow.putrequest("POST", "/intake", skip_host=True)
    for name, value in (
        ("Host", server.hostport),
        ("Cookie", client.cookie),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", str(len(body))),
    ):
        slow.putheader(name, value)
    slow.endheaders()
    slow.send(body[: len(body) // 2])  # half the request has arrived ...
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)  # ... when the server is told to stop
    time.sleep(0.5)
    assert server.proc.poll() is None, "the server must wait for the request in flight"
    slow.send(body[len(body) // 2 :])
    answer = slow.getresponse()
    assert answer.status == 303 and re.search(r"/assessments/\d+$", answer.getheader("Location"))
    answer.read()
    slow.close()
    code, _, err = server.wait(timeout=60)  # the one SIGTERM is enough
    assert code == 0, err
    assert "stopped (SIGTERM): every request in progress was answered" in err
    gone = Client(server)
    with pytest.raises(OSError):  # no longer listening
        gone.request("GET", "/health")
    gone.close()
    store = Store.open(url, create=False)
    try:
        assert [a.case_id for a in store.intakes()] == ["TERM-1"]
        assert store.verify_log()[0] == 1
    finally:
        store.close()
    client.close()

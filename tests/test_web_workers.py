"""The web app in several processes and the store's group commit.

* ``serve --workers 2``: two worker processes share the port; a cookie and CSRF token from
  one are accepted by the other (made once, before the fork); a worker killed outright is
  replaced and the clinician's session still works; SIGTERM to the parent stops them all.
* Group commit: assessments sent while another is being written are stored together in one
  transaction, each with its own log entry in order, the same submission once; one that
  fails for a reason of its own does not take the others with it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from ipt_advisor.intake.schema import from_mapping
from ipt_advisor.store import Store
from postgres import postgres_server
from webapp import Client, assessment_id, start_server, valid_answers


def _workers(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return {int(p) for p in listing.read().split()}


def _wait_for(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_workers_share_the_session_and_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'cases.db'}", "--workers", "2", "--threads", "2")
    try:
        first = _workers(server.proc.pid)
        assert len(first) == 2
        client = Client(server)
        client.login()
        form = client.new_form()  # its CSRF token was made by whichever worker answered
        cookie = client.cookie
        client.close()

        def send(n: int) -> int:  # fresh connections: spread over both workers
            one = Client(server)
            one.cookie = cookie
            fields = dict(form, submission=f"{'s' * 20}{n:04d}", **valid_answers(f"W-{n}"))
            new_id = assessment_id(one.request("POST", "/intake", fields))
            assert one.request("GET", f"/assessments/{new_id}").status == 200
            one.close()
            return new_id

        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(send, range(40)))
        assert len(set(made)) == 40
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: len(_workers(server.proc.pid) - {victim}) == 2)
        with ThreadPoolExecutor(4) as pool:  # the same cookie, now partly on the new worker
            made += list(pool.map(send, range(40, 60)))
        assert len(set(made)) == 60
    finally:
        code, _, err = server.stop()
    assert code == 0, err
    assert "ended unexpectedly" in err and "starting another" in err
    assert "stopped (SIGTERM): every request in progress was answered" in err
    store = Store.open(f"sqlite:///{tmp_path / 'cases.db'}", create=False)
    try:
        assert store.counts()["assessments"] == 60 and store.verify_log()[0] == 60
    finally:
        store.close()


def _sockets(pid: int) -> int:
    """Open sockets of a process: its connections, and the listening one."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def test_keep_alive_connections_are_spread_over_the_workers(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'cases.db'}", "--workers", "2", "--threads", "2")
    clients = []
    try:
        for _ in range(8):  # one after the other, each kept open like a browser's
            client = Client(server)
            assert client.request("GET", "/health").status == 200
            clients.append(client)
        open_by_worker = [_sockets(pid) - 1 for pid in _workers(server.proc.pid)]
        assert sum(open_by_worker) == 8 and max(open_by_worker) - min(open_by_worker) <= 1, open_by_worker
    finally:
        for client in clients:
            client.close()
        server.stop()


# --------------------------------------------------------------------------- group commit


@pytest.fixture(scope="module")
def pg():
    yield from postgres_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    url = (
        f"sqlite:///{tmp_path / 'cases.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg").new_database()
    )
    opened = Store.open(url)
    yield opened
    opened.close()


def _decision(advisor, case: str) -> tuple[dict, str, dict]:
    submitted = dict(yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text()), id=case)
    intake = from_mapping(submitted, None, "test")
    return submitted, intake.sha256, advisor.assess(intake)


def _batched(store, jobs) -> list:
    """Run ``jobs`` (callables) in threads while the store's writer lock is held, so that all
    of them queue, then let go: the next writer stores them as one batch."""
    results: list = [None] * len(jobs)

    def run(n: int) -> None:
        try:
            results[n] = jobs[n]()
        except Exception as exc:  # noqa: BLE001 - what the caller got
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    with store._writers:
        for t in threads:
            t.start()
        _wait_for(lambda: len(store._queued) == len(jobs))
    for t in threads:
        t.join()
    return results


def test_queued_assessments_are_stored_in_one_transaction_each_with_its_entry(store, advisor) -> None:
    commits: list[int] = []
    real_write = store._write
    store._write = lambda batch: (commits.append(len(batch)), real_write(batch))[1]
    jobs = []
    for n in range(12):
        submitted, sha, decision = _decision(advisor, f"G-{n}")
        submission = "same-submission-000001" if n >= 10 else f"submission-{n:016d}"
        jobs.append(lambda s=submitted, h=sha, d=decision, sub=submission: store.save(s, h, d, "t", sub))
    results = _batched(store, jobs)
    assert commits == [12]  # one writer stored them all
    ids = [r[0] for r in results]
    assert len(set(ids[:10])) == 10 and ids[10] == ids[11]  # the repeated submission once
    assert sorted(r[1] for r in results).count(False) == 1
    assert store.counts() == {"assessments": 11, "cases": 11, "signoffs": 0, "log_entries": 11}
    assert store.verify_log()[0] == 11


def test_an_assessment_that_fails_alone_does_not_sink_its_batch(store, advisor) -> None:
    jobs = []
    for n in range(5):
        submitted, sha, decision = _decision(advisor, f"F-{n}")
        if n == 2:  # a flag without its code: this one insert fails, for a reason of its own
            decision = dict(decision, flags=[{"level": "info"}])
        jobs.append(lambda s=submitted, h=sha, d=decision, n=n: store.save(s, h, d, "t", f"submission-{n:016d}"))
    results = _batched(store, jobs)
    assert isinstance(results[2], KeyError)
    assert all(isinstance(r, tuple) and r[1] for i, r in enumerate(results) if i != 2)
    assert store.counts()["assessments"] == 4 and store.verify_log()[0] == 4


def test_sqlite_writers_of_other_processes_wait_for_the_writer_lock(tmp_path: Path, advisor) -> None:
    import fcntl

    from ipt_advisor.store import StoreUnavailable

    path = tmp_path / "cases.db"
    store = Store.open(f"sqlite:///{path}", busy_timeout=0.3)
    submitted, sha, decision = _decision(advisor, "L-1")
    holder = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)  # another process's writer
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(StoreUnavailable, match="locked by another program"):
            store.save(submitted, sha, decision, "t", "submission-lock-000001")
        assert store.counts()["assessments"] == 0  # readers do not wait
        waiting = threading.Thread(target=store.save, args=(submitted, sha, decision, "t", "submission-lock-000002"))
        waiting.start()
        time.sleep(0.1)
        fcntl.flock(holder, fcntl.LOCK_UN)  # the other writer is done: this one goes on at once
        waiting.join(timeout=5)
        assert not waiting.is_alive()
    finally:
        os.close(holder)
    assert store.counts()["assessments"] == 1 and store.verify_log()[0] == 1
    assert oct(os.stat(f"{path}-writer.lock").st_mode & 0o777) == "0o600"
    store.close()

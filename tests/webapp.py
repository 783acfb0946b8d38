"""The web app as its users meet it: a real ``ipt-advisor serve`` process and plain HTTP
clients that behave like a browser without JavaScript (cookies, the form's own fields).

* :func:`start_server` runs ``cli.py serve --port 0`` and reads the address from the first
  line it prints (the contract's ``ipt-advisor serving on http://HOST:PORT/?token=TOKEN``).
* :class:`Client` keeps one connection and the session cookie, reads a form back the way a
  browser would send it (hidden fields, checked radios, typed values) and submits it.
"""

from __future__ import annotations

import http.client
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
FIRST_LINE = re.compile(r"^ipt-advisor serving on (http://([^/]+)/)\?token=([A-Za-z0-9_-]+)$")


@dataclass
class Server:
    proc: subprocess.Popen
    base: str  # http://127.0.0.1:PORT/
    hostport: str  # 127.0.0.1:PORT
    token: str
    first_line: str
    stderr: Any  # a file: a pipe nobody reads would fill with access-log lines and stall the server

    @property
    def url(self) -> str:
        return f"{self.base}?token={self.token}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str, str]:
        """Send ``sig`` and wait: (exit code, rest of stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> tuple[int, str, str]:
        """Wait for the process to end: (exit code, rest of stdout, stderr)."""
        out, _ = self.proc.communicate(timeout=timeout)
        self.stderr.seek(0)
        err = self.stderr.read()
        self.stderr.close()
        return self.proc.returncode, out, err


def start_server(db_url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Server:
    """Start ``ipt-advisor serve --port 0 --db URL ARGS`` and wait for its first line."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    err = tempfile.TemporaryFile("w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), "serve", "--port", "0", "--db", db_url, *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline and not line.endswith("\n"):
        if not selector.select(timeout=1):
            if proc.poll() is not None:
                break
            continue
        chunk = proc.stdout.readline()
        if not chunk:
            break
        line += chunk
    selector.close()
    match = FIRST_LINE.match(line.rstrip("\n"))
    if match is None:
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        err.seek(0)
        raise AssertionError(f"serve did not print its first line: {line!r}\nstdout: {out}\nstderr: {err.read()}")
    return Server(proc, match.group(1), match.group(2), match.group(3), line.rstrip("\n"), err)


class _FormReader(HTMLParser):
    """What a browser would send for the first <form method=post> on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.in_form = False
        self.done = False
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method") == "post" and not self.done:
            self.in_form = True
        if not self.in_form or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind == "radio":
                self.fields.setdefault(a["name"], "")
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value", "")
            elif kind not in ("submit", "button"):
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self.select = a.get("name")
        elif tag == "option" and self.select and ("selected" in a or self.select not in self.fields):
            self.fields[self.select] = a.get("value", "")
        elif tag == "textarea":
            self.textarea = a.get("name")
            self.fields[self.textarea or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.in_form:
            self.in_form, self.done = False, True
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


def form_fields(html: str) -> dict[str, str]:
    reader = _FormReader()
    reader.feed(html)
    return reader.fields


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Client:
    """One browser-like client: a keep-alive connection and the session cookie."""

    def __init__(self, server: Server, timeout: float = 60):
        parts = urlsplit(server.base)
        self.server = server
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.cookie = ""

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        sent = {"Host": self.server.hostport, **(headers or {})}
        if self.cookie:
            sent.setdefault("Cookie", self.cookie)
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=sent)
                raw = self.conn.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # a keep-alive connection the server closed: once more, fresh
                if attempt:
                    raise
        text = raw.read().decode("utf-8")
        got = {k.lower(): v for k, v in raw.getheaders()}
        if "set-cookie" in got:
            self.cookie = got["set-cookie"].split(";", 1)[0]
        return Response(raw.status, got, text)

    def login(self) -> Response:
        return self.request("GET", f"/?token={self.server.token}")

    def new_form(self, path: str = "/intake/new") -> dict[str, str]:
        page = self.request("GET", path)
        assert page.status == 200, page.text[:500]
        return form_fields(page.text)

    def submit(self, changes: dict[str, str], path: str = "/intake/new") -> Response:
        """Fill the form as a clinician would (defaults kept, ``changes`` typed) and send it."""
        fields = self.new_form(path)
        fields.update(changes)
        return self.request("POST", "/intake", fields)

    def close(self) -> None:
        self.conn.close()


def valid_answers(case_id: str, **more: str) -> dict[str, str]:
    """A complete intake as a clinician fills it in the form."""
    answers = {
        "id": case_id,
        "age": "41",
        "measures.phq9": "14",
        "measures.phq9_item9": "0",
        "risk.cssrs.wish_dead": "false",
        "risk.cssrs.active_thoughts": "false",
        "risk.cssrs.behavior_3m": "false",
        "findings.grief.present": "true",
        "findings.grief.months_since_death": "5",
        "findings.grief.onset_linked": "true",
    }
    answers.update(more)
    return answers


def assessment_id(response: Response) -> int:
    """The id of the assessment a successful submission redirected to."""
    assert response.status == 303, (response.status, response.text[:800])
    match = re.search(r"/assessments/(\d+)$", response.header("location"))
    assert match, response.header("location")
    return int(match.group(1))


def wait_gone(proc: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)

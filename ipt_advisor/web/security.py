"""What keeps health data in the web app to the clinician who started it.

* **Host allow-list** (against DNS rebinding: a page on another site whose name resolves to
  127.0.0.1): a request whose ``Host`` is not this server's own address and port is refused
  with 421, before anything else runs.
* **A per-launch token** in the printed URL is exchanged, once per browser, for a session
  cookie (HttpOnly, SameSite=Strict, signed with a key that lives only in this process);
  the browser is then sent to the same page without the token, so it stays out of history
  and Referer headers. Without the cookie every page but ``/health`` and the stylesheet
  answers 401.
* **CSRF**: every POST carries the session's token (a hidden field), and, when the browser
  says where it comes from (``Origin``, ``Sec-Fetch-Site``), it must be this server.
* The session cookie is Flask's (signed with ``itsdangerous``); :class:`Sessions` only makes
  the signer once per launch and checks each cookie's signature once: the same cookie
  string, seen again, gives the same session without hashing it again (its age is still
  checked on every request). A cookie is accepted exactly when Flask's own would accept it.
* **Headers**: a strict Content-Security-Policy (no inline script; a style block only when
  its hash is listed, which is how the report page keeps its one self-contained stylesheet),
  ``Cache-Control: no-store`` on every page (they hold health data), no referrer, no framing.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import secrets
import threading
import time
from typing import Any, Iterable, Iterator

from flask import Flask, Response, abort, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

CSRF_FIELD = "csrf_token"
OPEN_ENDPOINTS = frozenset({"web.health", "web.favicon", "static"})  # no data behind them


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """Every ``Host`` header value this server answers to: its loopback names (and the
    address it was bound to, or the names given) with its port."""
    names = {"127.0.0.1", "localhost", "[::1]"} | set(extra)
    if host not in ("0.0.0.0", "::", ""):
        names.add(f"[{host}]" if ":" in host else host)
    return frozenset(f"{name}:{port}".lower() for name in names)


def _same_origin() -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    # under Referrer-Policy: no-referrer a browser's form POST says "Origin: null": no
    # information, so Sec-Fetch-Site (above) and the CSRF token decide
    return origin in (None, "null") or origin.lower() == f"{request.scheme}://{request.host}".lower()


@functools.lru_cache(maxsize=64)
def _style_hash(block: bytes) -> str:
    """The CSP hash of one style block (the same few stylesheets on every page: kept)."""
    return base64.b64encode(hashlib.sha256(block).digest()).decode("ascii")


def _style_blocks(body: bytes) -> Iterator[bytes]:
    """What each ``<style>...</style>`` holds, in order (what ``re.findall(rb"<style>(.*?)</style>",
    body, re.S)`` finds, in an eighth of its time on a report page: the lazy ``.*?`` tries
    to end the match at every byte of a stylesheet)."""
    start = body.find(b"<style>")
    while start >= 0:
        end = body.find(b"</style>", start)
        if end < 0:
            return
        yield body[start + len(b"<style>") : end]
        start = body.find(b"<style>", end)


def _styles_csp(body: bytes) -> str:
    hashes = [_style_hash(block) for block in _style_blocks(body)]
    return " ".join(["'self'"] + [f"'sha256-{h}'" for h in dict.fromkeys(hashes)])


class Sessions(SecureCookieSessionInterface):
    """Flask's cookie sessions, each cookie's signature checked once (see the module docstring).

    Checking a signature costs a key derivation and an HMAC, and building Flask's signer
    more: together about a twentieth of the server's CPU per request."""

    KEEP = 1024  # cookies remembered; a new one per change of the session (sign-in, codes)

    def __init__(self) -> None:
        self._signer: tuple[Any, Any] | None = None  # (secret key, signer made with it)
        self._seen: dict[str, tuple[dict[str, Any], int]] = {}  # cookie -> (its data, when it was signed)
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> Any:
        made = self._signer
        if made is None or made[0] != (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ())):
            made = (
                (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ())),
                super().get_signing_serializer(app),
            )
            self._signer = made
            with self._lock:
                self._seen.clear()  # checked with another key
        return made[1]

    def open_session(self, app: Flask, request: Any) -> Any:
        signer = self.get_signing_serializer(app)
        if signer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        seen = self._seen.get(cookie)
        if seen is None:
            try:
                data, signed = signer.loads(cookie, max_age=max_age, return_timestamp=True)
            except BadSignature:  # and its subclass SignatureExpired: as Flask, a new empty session
                return self.session_class()
            seen = (data, int(signed.timestamp()))
            with self._lock:
                if len(self._seen) >= self.KEEP:
                    self._seen.pop(next(iter(self._seen)))
                self._seen[cookie] = seen
        elif int(time.time()) - seen[1] > max_age:  # as itsdangerous counts a cookie's age
            return self.session_class()
        return self.session_class(copy.deepcopy(seen[0]))  # each request changes its own copy


def install(app: Flask, token: str, hosts: "set[str] | frozenset[str]") -> None:
    """Guard every request and set the security headers on every response."""

    app.session_interface = Sessions()

    @app.before_request
    def _guard() -> Any:
        if request.host.lower() not in hosts:
            abort(421)  # not one of this server's names: possibly DNS rebinding
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        if request.blueprint == "cds":
            return None  # server-to-server JSON: Bearer tokens (web/cds_auth.py), no cookie, no CSRF
        offered = request.args.get("token")
        if offered is not None and request.method == "GET":
            if not hmac.compare_digest(offered.encode(), token.encode()):
                abort(401)
            session.clear()
            session["auth"] = True
            session[CSRF_FIELD] = secrets.token_urlsafe(32)
            return redirect(request.path, code=303)  # the token leaves the address bar
        if not session.get("auth"):
            abort(401)
        if request.method not in ("GET", "HEAD"):
            if not _same_origin():
                abort(403)
            sent = request.form.get(CSRF_FIELD, "")
            if not sent or not hmac.compare_digest(sent.encode(), str(session.get(CSRF_FIELD, "")).encode()):
                abort(403)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        styles = "'self'"
        if response.mimetype == "text/html" and not response.direct_passthrough:
            styles = _styles_csp(response.get_data())
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'self'; style-src {styles}; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response


def csrf_token() -> str:
    """The session's CSRF token, for the hidden field of every form."""
    return str(session.get(CSRF_FIELD, ""))

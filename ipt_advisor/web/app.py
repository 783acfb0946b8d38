"""The Flask application: ``create_app(store, advisor, token=..., hosts=...)``.

Pages are rendered by the same Jinja2 environment as the reports (``report.make_environment``:
autoescape for HTML, ``StrictUndefined``), so the report page *is* the report of
``assess --format html``, with the app's navigation in the two blocks the report template
leaves empty. Errors are pages, never tracebacks; and nothing a clinician typed reaches a log
line: unexpected errors are logged by type and place only.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, url_for
from werkzeug.exceptions import HTTPException

from ..report.render import make_environment
from ..store import StoreUnavailable
from . import security

log = logging.getLogger("ipt_advisor.web")

# status -> (title, what to do); shown by templates/web/error.html.j2
ERRORS = {
    400: ("Bad request", "The request could not be read. Go back and try again."),
    401: (
        "Not signed in",
        "Open the address that `ipt-advisor serve` printed when it started (it ends in "
        "?token=…). A restarted server prints a new one.",
    ),
    403: (
        "Form expired or from elsewhere",
        "This form was not sent from this server's own page, or the "
        "server was restarted since it was opened. Nothing was stored: "
        "go back, reload the page and send it again.",
    ),
    404: ("Not found", "There is no such page, case or assessment."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "What was sent is larger than an intake can be. Nothing was stored."),
    421: ("Unknown address", "This server answers only to its own address (as printed at start-up)."),
    500: (
        "Something went wrong",
        "The server could not complete the request. Nothing was half-stored: "
        "an assessment is stored whole or not at all.",
    ),
    503: ("Database unavailable", "Nothing was stored."),
}


class App(Flask):
    def log_exception(self, exc_info: Any) -> None:
        """An unexpected error, logged by its type and where it happened: an exception's
        message can hold what a clinician typed, and free text is never logged."""
        _, exc, tb = exc_info
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb is not None else "?"
        log.error("unexpected error %s at %s (details withheld: they may hold health data)", type(exc).__name__, where)


def create_app(
    store: Any,
    advisor: Any,
    *,
    token: str,
    hosts: "set[str] | frozenset[str]",
    tool_version: str,
    secret_key: bytes | None = None,
    ehr_clients: dict[str, Any] | None = None,
    fhir_servers: "frozenset[str]" = frozenset(),
) -> Flask:
    """The web app over ``store`` and ``advisor``; ``token`` is the per-launch secret of the
    printed URL and ``hosts`` the ``Host`` values it answers to (``security.allowed_hosts``).
    The CDS Hooks service also accepts the JWTs of ``ehr_clients`` (``cds_auth.load_clients``)
    and fetches missing prefetch only from ``fhir_servers``."""
    from .cds_auth import Authorizer
    from .cds_views import bp as cds_blueprint
    from .views import web

    app = App(__name__, static_folder="static", static_url_path="/static")
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        SESSION_COOKIE_NAME="ipt_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=False,  # plain HTTP on this machine; Strict + HttpOnly keep it to this server
        MAX_CONTENT_LENGTH=1024 * 1024,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        PROPAGATE_EXCEPTIONS=False,
    )
    app.extensions["ipt"] = {
        "store": store,
        "advisor": advisor,
        "tool_version": tool_version,
        "env": _environment(),
        "cds_auth": Authorizer(token, dict(ehr_clients or {})),
        "fhir_servers": frozenset(s.rstrip("/") for s in fhir_servers),
    }
    security.install(app, token, hosts)
    app.register_blueprint(web)
    app.register_blueprint(cds_blueprint)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        from .views import page

        code = exc.code or 500
        title, advice = ERRORS.get(code, (exc.name, exc.description or ""))
        return page("web/error.html.j2", code, title=title, advice=advice, detail=""), code

    @app.errorhandler(StoreUnavailable)
    def _store_error(exc: StoreUnavailable) -> Any:
        from .views import page

        title, advice = ERRORS[503]
        return page("web/error.html.j2", 503, title=title, advice=advice, detail=exc.reason), 503

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        from .views import page

        app.log_exception((type(exc), exc, exc.__traceback__))
        title, advice = ERRORS[500]
        return page("web/error.html.j2", 500, title=title, advice=advice, detail=""), 500

    return app


def _environment() -> Any:
    from ..audit.summary import format_percent

    env = make_environment(pct=format_percent)  # pct: the quality page is the audit dashboard
    env.globals["url_for"] = url_for
    env.globals["csrf_token"] = security.csrf_token
    env.globals["csrf_field"] = security.CSRF_FIELD
    return env

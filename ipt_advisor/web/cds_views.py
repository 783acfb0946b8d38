"""The CDS Hooks endpoints of ``serve``: discovery, the service, feedback (JSON in and out).

Authorisation is ``cds_auth``; the session cookie and CSRF token of the clinicians' pages do
not apply here (an EHR calls server to server). Errors are JSON with a one-line reason,
never a page or a traceback; what the EHR sends is never logged.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from ..report import cds
from ..core.errors import EngineError
from ..store import StoreUnavailable
from ..store import feedback as cds_store

bp = Blueprint("cds", __name__)
MAX_BODY = 16 * 1024 * 1024  # a hook call carries the prefetched bundles
FETCH_TIMEOUT = 5.0


def _json(value: Any, status: int = 200, **headers: str) -> Response:
    return Response(
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        status,
        mimetype="application/json",
        headers=headers,
    )


def _error(status: int, message: str, **headers: str) -> Response:
    return _json({"error": message}, status, **headers)


def _ipt() -> dict[str, Any]:
    return current_app.extensions["ipt"]


@bp.before_request
def _authorise() -> Response | None:
    request.max_content_length = MAX_BODY
    if request.method == "OPTIONS":
        return Response(status=204)  # a browser-based EHR's CORS preflight carries no credentials
    audience = request.base_url  # the CDS Hooks aud: this endpoint's own URL
    if not _ipt()["cds_auth"].allows(request.headers.get("Authorization"), audience):
        return _error(
            401,
            "a Bearer token is required: the launch token, or a JWT of a configured EHR client",
            **{"WWW-Authenticate": 'Bearer realm="ipt-advisor CDS Hooks"'},
        )
    return None


@bp.after_request
def _cors(response: Response) -> Response:
    """CORS for browser-based CDS clients (the spec's "will require CORS support"). Any origin:
    nothing here rides on a cookie, every call must present its own Bearer token."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def _body() -> Any:
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError):
        return None


@bp.get("/cds-services")
def discovery() -> Response:
    return _json(cds.discovery(_ipt()["advisor"].ruleset))


def _fetch(body: dict[str, Any], keys: list[str]) -> dict[str, Any] | None:
    """The missing prefetch from the request's fhirServer, when this server was told to trust
    it (``serve --fhir-server URL``); None when that is not allowed."""
    server = str(body.get("fhirServer", "")).rstrip("/")
    if not server or server not in _ipt()["fhir_servers"]:
        return None
    given = body.get("fhirAuthorization")
    auth: dict[str, Any] = given if isinstance(given, dict) else {}
    templates = cds.prefetch_templates(_ipt()["advisor"].ruleset)
    patient = urllib.parse.quote(body["context"]["patientId"], safe="")
    out = {}
    for key in keys:
        query = templates[key].replace("{{context.patientId}}", patient)
        req = urllib.request.Request(f"{server}/{query}", headers={"Accept": "application/fhir+json"})
        if isinstance(auth.get("access_token"), str):
            req.add_header("Authorization", f"Bearer {auth['access_token']}")
        try:
            with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as reply:
                out[key] = json.loads(reply.read(MAX_BODY + 1))
        except urllib.error.HTTPError as exc:  # before OSError, of which it is one
            if exc.code != 404:
                raise _FetchFailed(f"fetching {key} from the fhirServer failed (HTTP {exc.code})") from None
            out[key] = None  # not there: no such data
        except (OSError, ValueError) as exc:
            raise _FetchFailed(f"fetching {key} from the fhirServer failed ({type(exc).__name__})") from None
    return out


class _FetchFailed(Exception):
    """The trusted fhirServer could not give the data (HTTP 412, as the spec says)."""


@bp.post("/cds-services/ipt-suitability")
def service() -> Response:
    ipt = _ipt()
    advisor, store = ipt["advisor"], ipt["store"]
    try:
        body = cds.check_request(_body())
    except cds.HookRequestError as exc:
        return _error(400, str(exc))
    prefetch = dict(body.get("prefetch") or {})
    missing = [key for key in cds.prefetch_templates(advisor.ruleset) if key not in prefetch]
    if missing:
        try:
            fetched = _fetch(body, missing)
        except _FetchFailed as exc:
            return _error(412, str(exc))
        if fetched is None:
            return _error(
                412,
                "prefetch missing: " + ", ".join(missing) + "; this service fetches from a "
                "fhirServer only when started with --fhir-server for it",
            )
        prefetch.update(fetched)

    saved: dict[str, int] = {}

    def stored_report(mapped: Any, decision: dict[str, Any]) -> str:
        """Store the assessment (the card's uuid is its submission id: a repeated call is
        stored once) and link its report in the web app."""
        card = cds.card_uuid(body["hookInstance"], advisor.ruleset)
        saved["id"], _ = store.save(
            mapped.intake.record,
            mapped.intake.sha256,
            decision,
            ipt["tool_version"],
            card,
            also=lambda conn, new_id: cds_store.insert_card(conn, card, new_id, cds.indicator(decision)),
        )
        return url_for("web.report", assessment_id=saved["id"], _external=True)

    try:
        result = cds.assess_hook(body, prefetch, advisor, stored_report)
        if "id" not in saved:  # a card about unreadable data: no assessment to store it with
            cds_store.record_card(store, result.card["uuid"], None, result.card["indicator"])
    except StoreUnavailable as exc:
        return _error(503, f"database unavailable: {exc.reason}")
    except EngineError as exc:
        return _error(500, f"the rule set failed on this record: {exc.problems[0].message}")
    return _json({"cards": [result.card]})


@bp.post("/cds-services/ipt-suitability/feedback")
def feedback() -> Response:
    store = _ipt()["store"]
    body = _body()
    items = body.get("feedback") if isinstance(body, dict) else None
    cards = [i.get("card") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    uuids = [c for c in cards if isinstance(c, str)]
    try:
        rows = cds.check_feedback(body, cds_store.known_cards(store, uuids[:100]) if uuids else set())
        cds_store.save_feedback(store, rows)
    except cds.HookRequestError as exc:
        return _error(400, str(exc))
    except StoreUnavailable as exc:
        return _error(503, f"database unavailable: {exc.reason}")
    return _json({"stored": len(rows)})

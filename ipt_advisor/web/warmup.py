"""Warming the app up in the parent process, before the workers fork.

Much of the app is made on first use: each Jinja2 template is compiled the first time it is
rendered (the report page about 20 ms of CPU), each stored statement is compiled for its
dialect on its first run, and modules such as the report view are imported then. Left to
the first requests, every worker pays for all of it on its own, while the clinicians whose
connections it holds wait: the first few dozen requests after a start were the slowest by
far. :func:`warm_up` pays once, in the parent, and the workers inherit the result when they
fork (copy-on-write, frozen out of the garbage collector's sight by ``server.run``).

It drives the real app through Flask's test client, signed in with the launch token, the
way a clinician's first visit would: the form, a submission, its report, print view,
handout and sign-off, the case list and case page. What that writes goes to a scratch
SQLite file in a private temporary folder, deleted afterwards; the app's own database is
only read (its statements compiled). The intake is a made-up one. A failure of any step is
ignored: warming up must never keep the server from starting.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from typing import Any

log = logging.getLogger("ipt_advisor.web")

#: A made-up, complete intake as a clinician fills in the form (no real person's data).
WARM_ANSWERS = {
    "id": "WARM-UP-1",
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


def warm_up(app: Any, host: str, token: str) -> None:
    """Render every page once (see the module docstring); ``host`` is a ``Host`` value the
    app answers to, ``token`` the launch token."""
    from ..store import Store
    from ..store.prepared import Prepared

    ipt = app.extensions["ipt"]
    real = ipt["store"]
    try:
        Prepared.compile_all(real.engine.dialect)
        real.cases(limit=1)  # the list's statements, compiled in the real engine's cache
        real.choices()
        real.history("")
    except Exception as exc:  # noqa: BLE001 - the first request will report a database problem itself
        log.debug("warm-up: reading the database failed (%s)", type(exc).__name__)
    try:
        with tempfile.TemporaryDirectory(prefix="ipt-warm-") as folder:
            scratch = Store.open(f"sqlite:///{os.path.join(folder, 'warm.db')}")
            ipt["store"] = scratch
            try:
                _visit(app, host, token)
            finally:
                ipt["store"] = real
                scratch.close()
    except Exception as exc:  # noqa: BLE001 - see the module docstring (no temporary folder, ...)
        log.debug("warm-up stopped early (%s)", type(exc).__name__)


def _visit(app: Any, host: str, token: str) -> None:
    from . import form
    from .security import CSRF_FIELD
    from .views import _groups

    with app.app_context():
        answers = dict(form.defaults(_groups()), **WARM_ANSWERS)  # as the blank form sends them, filled in
    client = app.test_client()
    base = f"http://{host}"
    client.get(f"/?token={token}", base_url=base)
    with client.session_transaction(base_url=base) as session:
        csrf = session.get(CSRF_FIELD, "")
    client.get("/intake/new", base_url=base)
    sent = client.post(
        "/intake", base_url=base, data=dict(answers, submission=secrets.token_urlsafe(18), **{CSRF_FIELD: csrf})
    )
    client.post(
        "/intake",
        base_url=base,
        data={"submission": secrets.token_urlsafe(18), CSRF_FIELD: csrf, "measures.phq9": "99"},
    )  # the form again, with errors
    where = sent.headers.get("Location", "")
    if sent.status_code == 303 and "/assessments/" in where:
        page = where[where.index("/assessments/") :]
        for path in ("", "/print", "/handout", "/signoff"):
            client.get(page + path, base_url=base)
        client.get(f"/intake/new?from={page.rsplit('/', 1)[1]}", base_url=base)
        client.get(f"/cases/{WARM_ANSWERS['id']}", base_url=base)
    client.get("/cases", base_url=base)
    client.get("/no-such-page", base_url=base)  # the error page

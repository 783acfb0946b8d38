"""The pages: intake form, report (with its print view and the client handout), sign-off,
case list and case history.

A valid intake is assessed, stored (with its decision-log entry, in one transaction) and the
browser is sent to its report (POST, then redirect, then GET: reloading the report never
submits twice; the form's one-time id makes a repeated POST harmless too). An invalid one is
shown again with what was typed and every problem, and nothing is stored.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, request, session, url_for

from ..core.errors import EngineError, IntakeError, Problem
from ..intake.schema import SCHEMA, from_mapping
from ..report.render import LEVELS, NOTICE, render, render_handout
from ..store import StoreUnavailable
from . import chart, form

web = Blueprint("web", __name__)
_SUBMISSION = re.compile(r"[A-Za-z0-9_-]{16,64}")
PAGE_SIZE = 50


def _ipt() -> dict[str, Any]:
    return current_app.extensions["ipt"]


def page(template: str, status: int = 200, **context: Any) -> str:
    """Render an app page with what every page shows (the codes of this session, the rule set)."""
    ipt = _ipt()
    rs = ipt["advisor"].ruleset
    context.setdefault("title", "")
    return (
        ipt["env"]
        .get_template(template)
        .render(
            session_site=session.get("site", ""),
            session_clinician=session.get("clinician", ""),
            ruleset={"name": rs.name, "version": rs.version},
            tool_version=ipt["tool_version"],
            format_labels=dict(rs.policies.format_labels),
            area_labels=dict(rs.policies.area_labels),
            levels=LEVELS,
            status=status,
            **context,
        )
    )


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/html")


@web.get("/health")
def health() -> Response:
    return Response("ok\n", mimetype="text/plain")


@web.get("/favicon.ico")
def favicon() -> Response:
    return Response(status=204)


@web.get("/")
def home() -> Any:
    return redirect(url_for("web.new_intake"), code=303)


# --------------------------------------------------------------------------- the intake form


def _groups() -> list[form.Group]:
    ipt = _ipt()
    if "form" not in ipt:
        ipt["form"] = form.sections(ipt["advisor"].ruleset)
    return ipt["form"]


def _form_page(
    values: dict[str, str],
    submission: str,
    problems: list[Problem],
    status: int,
    unavailable: str = "",
    reassess: Any = None,
) -> Response:
    groups = _groups()
    by_field = form.problems_by_field(problems, groups)
    labels = {i.path: (i.label, i.id) for i in form.inputs(groups)}
    summary = [
        {"label": labels.get(path, ("", ""))[0], "id": labels.get(path, ("", ""))[1], "message": m}
        for path, messages in by_field.items()
        for m in messages
    ]
    return _html(
        page(
            "web/form.html.j2",
            status,
            title="New intake" if reassess is None else "Re-assessment",
            groups=groups,
            values=values,
            errors=by_field,
            summary=summary,
            submission=submission,
            unavailable=unavailable,
            reassess=reassess,
        ),
        status,
    )


@web.get("/intake/new")
def new_intake() -> Response:
    groups = _groups()
    values = form.defaults(groups)
    reassess = None
    source = request.args.get("from", type=int)
    if source is not None:
        stored = _ipt()["store"].assessment(source)
        if stored is None:
            abort(404)
        values.update(form.flatten(stored.intake))
        values["assessed_on"] = date.today().isoformat()
        reassess = stored
    for code in ("site", "clinician"):
        values[code] = values.get(code) or session.get(code, "")
    return _form_page(values, secrets.token_urlsafe(18), [], 200, reassess=reassess)


@web.post("/intake")
def submit_intake() -> Response:
    ipt = _ipt()
    submission = request.form.get("submission", "")
    if not _SUBMISSION.fullmatch(submission):
        abort(400)
    sub = form.read(request.form, _groups())
    if sub.intake is None or sub.submitted is None:
        return _form_page(sub.values, submission, sub.problems, 422)
    try:
        decision = ipt["advisor"].assess(sub.intake)
    except EngineError as exc:
        return _form_page(
            sub.values,
            submission,
            [Problem("form", None, "", f"the rule set failed on this intake: {exc.problems[0].message}")],
            500,
        )
    try:
        new_id, _ = ipt["store"].save(sub.submitted, sub.intake.sha256, decision, ipt["tool_version"], submission)
    except StoreUnavailable as exc:
        return _form_page(sub.values, submission, [], 503, unavailable=exc.reason)
    for code in ("site", "clinician"):
        if sub.submitted.get(code) and session.get(code) != sub.submitted[code]:
            session[code] = sub.submitted[code]  # a changed session is a new cookie to sign: only on a change
    return redirect(url_for("web.report", assessment_id=new_id), code=303)


# --------------------------------------------------------------------------- reports


def _stored(assessment_id: int) -> Any:
    stored = _ipt()["store"].assessment(assessment_id)
    if stored is None:
        abort(404)
    return stored


def _view(stored: Any) -> dict[str, Any] | None:
    """The report view of a stored assessment, or None when this server's rule set is not the
    one that decided it (its words could not explain that decision)."""
    advisor = _ipt()["advisor"]
    if stored.decision["ruleset"]["sha256"] != advisor.ruleset.sha256:
        return None
    try:
        intake = from_mapping(stored.intake_with_decision(), None, f"assessment #{stored.id}")
    except IntakeError:
        return None
    return advisor.view(stored.decision, intake, stored.tool_version)


def _other_rules(stored: Any) -> Response:
    return _html(
        page("web/other_rules.html.j2", title=f"Assessment #{stored.id}", stored=stored, decision=stored.decision)
    )


@web.get("/assessments/<int:assessment_id>")
def report(assessment_id: int) -> Response:
    stored = _stored(assessment_id)
    view = _view(stored)
    if view is None:
        return _other_rules(stored)
    env = _ipt()["env"]
    text = env.get_template("web/report_page.html.j2").render(**view, notice=NOTICE, levels=LEVELS, stored=stored)
    return _html(text)


@web.get("/assessments/<int:assessment_id>/print")
def print_view(assessment_id: int) -> Response:
    stored = _stored(assessment_id)
    view = _view(stored)
    return _other_rules(stored) if view is None else _html(render(view, "html"))


@web.get("/assessments/<int:assessment_id>/handout")
def handout(assessment_id: int) -> Response:
    stored = _stored(assessment_id)
    advisor = _ipt()["advisor"]
    if _view(stored) is None:
        return _other_rules(stored)
    intake = from_mapping(stored.intake, None, f"assessment #{stored.id}")
    return _html(render_handout(advisor.handout(stored.decision, intake), "html"))


# --------------------------------------------------------------------------- sign-off


def _signoff_groups() -> list[form.Group]:
    block = SCHEMA.fields["clinician_decision"]
    return [form.build(block, "clinician_decision.", block.label, block.help, {})]  # type: ignore[arg-type]


def _signoff_page(stored: Any, values: dict[str, str], problems: list[Problem], status: int) -> Response:
    groups = _signoff_groups()
    errors = form.problems_by_field(problems, groups)
    for p in problems:
        if p.path in ("signoff", "clinician"):
            errors.setdefault(p.path, []).append(p.message)
    return _html(
        page(
            "web/signoff.html.j2",
            status,
            title=f"Sign-off — {stored.case_id}",
            stored=stored,
            decision=stored.decision,
            groups=groups,
            values=values,
            errors=errors,
            summary=[p.message for p in problems],
        ),
        status,
    )


@web.get("/assessments/<int:assessment_id>/signoff")
def signoff(assessment_id: int) -> Response:
    stored = _stored(assessment_id)
    rec = stored.decision
    values = {
        "signoff": "accept",
        "clinician": session.get("clinician", ""),
        "clinician_decision.format": rec["recommendation"]["format"],
        "clinician_decision.focus": rec["focus"]["primary"] or "",
        "clinician_decision.reason": "",
    }
    if stored.signoff is not None:
        s = stored.signoff
        values.update(
            {
                "signoff": "accept" if s["accepted"] else "change",
                "clinician": s["clinician"] or "",
                "clinician_decision.format": s["format"],
                "clinician_decision.focus": s["focus"] or "",
                "clinician_decision.reason": s["reason"] or "",
            }
        )
    return _signoff_page(stored, values, [], 200)


@web.post("/assessments/<int:assessment_id>/signoff")
def sign_off(assessment_id: int) -> Any:
    stored = _stored(assessment_id)
    fields = (
        "signoff",
        "clinician",
        "clinician_decision.format",
        "clinician_decision.focus",
        "clinician_decision.reason",
    )
    values = {name: str(request.form.get(name, "")) for name in fields}
    rec = stored.decision
    accepted = values["signoff"] == "accept"
    problems: list[Problem] = []
    if values["signoff"] not in ("accept", "change"):
        problems.append(Problem("form", None, "signoff", "choose: accept the recommendation, or change it"))
    if accepted:
        decided = {"format": rec["recommendation"]["format"], "focus": rec["focus"]["primary"]}
    else:
        decided = {
            "format": values["clinician_decision.format"] or None,
            "focus": values["clinician_decision.focus"] or None,
        }
        if not values["clinician_decision.reason"].strip():
            problems.append(
                Problem(
                    "form", None, "clinician_decision.reason", "required when you change the recommendation: say why"
                )
            )
    decided["reason"] = values["clinician_decision.reason"].strip() or None
    check = dict(stored.intake, clinician_decision={k: v for k, v in decided.items() if v is not None})
    if values["clinician"].strip():
        check["clinician"] = values["clinician"].strip()
    try:
        from_mapping(check, None, "form")
    except IntakeError as exc:
        problems.extend(p for p in exc.problems if p.path.startswith("clinician_decision") or p.path == "clinician")
    if problems:
        return _signoff_page(stored, values, problems, 422)
    code = values["clinician"].strip() or None
    _ipt()["store"].sign_off(stored.id, decided, accepted, code)
    if code:
        session["clinician"] = code
    return redirect(url_for("web.report", assessment_id=stored.id), code=303)


# --------------------------------------------------------------------------- cases

FILTERS = ("q", "status", "format", "flag", "site", "signed")


@web.get("/cases")
def cases() -> Response:
    store = _ipt()["store"]
    chosen = {name: request.args.get(name, "").strip()[:64] for name in FILTERS}
    page_number = max(1, request.args.get("page", 1, type=int) or 1)
    rows, more = store.cases(
        search=chosen["q"],
        status=chosen["status"],
        fmt=chosen["format"],
        flag=chosen["flag"],
        site=chosen["site"],
        signed=chosen["signed"],
        limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE,
    )
    return _html(
        page(
            "web/cases.html.j2",
            title="Cases",
            rows=rows,
            more=more,
            chosen=chosen,
            page_number=page_number,
            choices=store.choices(),
        )
    )


@web.get("/cases/<case_id>")
def case(case_id: str) -> Response:
    history = _ipt()["store"].history(case_id)
    if not history:
        abort(404)
    advisor = _ipt()["advisor"]
    return _html(
        page(
            "web/case.html.j2",
            title=f"Case {case_id}",
            case_id=case_id,
            history=history,
            latest=history[-1],
            phq9=chart.phq9(history, advisor.ruleset),
        )
    )


# --------------------------------------------------------------------------- quality

QUALITY_FILTERS = ("site", "clinician", "from", "to")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@web.get("/quality")
def quality() -> Response:
    """The audit dashboard (as ``audit`` writes it) over what this app stored, filtered by
    site, clinician and a range of assessment dates."""
    from ..audit.dashboard import page_context, stored_dashboard

    ipt = _ipt()
    store = ipt["store"]
    chosen = {name: request.args.get(name, "").strip()[:64] for name in QUALITY_FILTERS}
    problems = [
        f"{name}: not a date written YYYY-MM-DD, ignored"
        for name in ("from", "to")
        if chosen[name] and not _ISO_DAY.fullmatch(chosen[name])
    ]
    for name in ("from", "to"):
        if not _ISO_DAY.fullmatch(chosen[name]):
            chosen[name] = ""
    data = stored_dashboard(
        store.intakes(),
        ipt["advisor"].ruleset,
        tool_version=ipt["tool_version"],
        source="stored assessments",
        site=chosen["site"],
        clinician=chosen["clinician"],
        date_from=chosen["from"],
        date_to=chosen["to"],
    )
    context = page_context(data["summary"], data["safety"], data["departures"], "Quality dashboard")
    return _html(
        page(
            "web/quality.html.j2",
            chosen=chosen,
            choices=store.choices(),
            problems=problems,
            shown=data["shown"],
            **context,
        )
    )

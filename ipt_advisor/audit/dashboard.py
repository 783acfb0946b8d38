"""The audit dashboard: ``summary.html``, one self-contained page for quality teams.

Built from the summary (:mod:`ipt_advisor.audit.summary`) and one pass over ``overrides.jsonl``:
the safety-critical overrides (the clinician allocated IPT despite a critical flag) come
first, with their flags; then charts, each an SVG drawn by ``templates/audit_charts.html.j2``
with a ``<title>`` and its data table beside it. No script, no external asset, a strict CSP;
nothing in it depends on the time or the number of jobs, so a rerun gives the same bytes.
Rows and columns that are all zero are not printed.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator

from ..report import charts
from .summary import NO_CODE, format_percent

# Listed in full up to these counts (every one is in overrides.jsonl, and the page says so):
# a page of 10,000 table rows helps nobody and costs a second to render.
SAFETY_LIMIT = 500
DEPARTURE_LIMIT = 200
# Sites / clinicians charted (the most assessed first); the table lists every one of them.
GROUP_LIMIT = 30


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def count_chart(title: str, counts: dict[str, int], assessed: int, of: str = "% of assessed") -> dict[str, Any]:
    """A bar per non-zero count, with its share of ``assessed``, and the table of both."""
    rows = [(key, n, f"{n} ({format_percent(_pct(n, assessed))})", "") for key, n in counts.items() if n]
    return {
        **charts.bars(title, rows),
        "table": {
            "columns": ("Cases", of),
            "rows": [(key, (n, format_percent(_pct(n, assessed)))) for key, n in counts.items() if n],
        },
    }


def _flag_chart(s: dict[str, Any], assessed: int) -> dict[str, Any]:
    rows, table = [], []
    for level, group in s["flags_by_level"].items():
        for code, n in group["flags"].items():
            rows.append((code, n, f"{n} ({format_percent(_pct(n, assessed))})", f"level-{level}"))
            table.append((code, (level, n, format_percent(_pct(n, assessed)))))
    return {
        **charts.bars("Flags raised, by level (most urgent first)", rows),
        "table": {"columns": ("Level", "Cases", "% of assessed"), "rows": table},
    }


def _override_chart(s: dict[str, Any]) -> dict[str, Any]:
    """Override rate per rule that drove the format: from the clinicians' sign-offs and, after
    ``audit --db`` with CDS feedback, from the EHR's cards (a second bar and columns per rule)."""
    c, cds = s["concordance"], s.get("cds_feedback")
    signed = {rid: o for rid, o in (c["override_by_rule"] if c else {}).items() if o["cases"]}
    title = "Override rate per rule that drove the format (%)"
    if cds is None:
        rows = [
            (rid, o["percent"] or 0.0, f"{format_percent(o['percent'])} ({o['overridden']} of {o['cases']})", "")
            for rid, o in signed.items()
        ]
        return {
            **charts.bars(title, rows, maximum=100),
            "table": {
                "columns": ("Cases", "Overridden", "%"),
                "rows": [
                    (rid, (o["cases"], o["overridden"], format_percent(o["percent"]))) for rid, o in signed.items()
                ],
            },
        }
    ehr = cds["override_by_rule"]
    order = {rid: n for n, rid in enumerate(s["rules"]["fired"])}  # the rule set's order
    rules = sorted({**signed, **ehr}, key=lambda rid: order.get(rid, len(order)))
    rows, table = [], []
    for rid in rules:
        o, e = signed.get(rid), ehr.get(rid)
        if o is not None:
            rows.append(
                (
                    rid,
                    o["percent"] or 0.0,
                    f"{format_percent(o['percent'])} ({o['overridden']} of {o['cases']} sign-offs)",
                    "",
                )
            )
        if e is not None:
            rows.append(
                (
                    f"{rid} (EHR)",
                    e["percent"] or 0.0,
                    f"{format_percent(e['percent'])} ({e['overridden']} of {e['cards']} EHR cards)",
                    "ehr",
                )
            )
        reasons = ", ".join(f"{code} {n}" for code, n in e["reasons"].items()) if e else ""
        table.append(
            (
                rid,
                (
                    *((o["cases"], o["overridden"], format_percent(o["percent"])) if o else (0, 0, "–")),
                    *((e["cards"], e["overridden"], format_percent(e["percent"])) if e else (0, 0, "–")),
                    reasons or "–",
                ),
            )
        )
    return {
        **charts.bars(
            "Override rate per rule that drove the format: clinicians' sign-offs and the EHR's CDS Hooks cards (%)",
            rows,
            maximum=100,
        ),
        "table": {
            "columns": ("Sign-offs", "Overridden", "%", "EHR cards", "EHR overridden", "EHR %", "EHR override reasons"),
            "rows": table,
        },
    }


def _agreement_chart(title: str, groups: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Format agreement per site / clinician, for the groups with clinician decisions."""
    judged = [(k, g) for k, g in groups.items() if g["clinician"]]
    if not judged:
        return None
    shown = sorted(judged, key=lambda kg: (-kg[1]["clinician"], kg[0] == NO_CODE, kg[0]))[:GROUP_LIMIT]
    rows = [
        (k, g["agree_percent"] or 0.0, f"{format_percent(g['agree_percent'])} ({g['agree']} of {g['clinician']})", "")
        for k, g in shown
    ]
    chart = charts.bars(
        title + (f" ({GROUP_LIMIT} with most decisions)" if len(judged) > GROUP_LIMIT else ""), rows, maximum=100
    )
    table_rows = [
        (
            k,
            (
                g["assessed"],
                g["clinician"],
                g["agree"],
                format_percent(g["agree_percent"]),
                format_percent(g["deferred_percent"]),
            ),
        )
        for k, g in groups.items()
    ]
    return {
        **chart,
        "table": {
            "columns": ("Assessed", "With clinician decision", "Agreed", "Agreement", "Deferred"),
            "rows": table_rows,
        },
    }


def _without_zero_columns(table: dict[str, Any]) -> dict[str, Any]:
    """``table`` without the columns whose every cell is zero or empty ("–"); a 0.0 % stays (it can be news)."""
    rows = table["rows"]
    keep = [any(cells[i] not in (0, "–") for _, cells in rows) for i in range(len(table["columns"]))]
    return {
        "columns": [c for c, on in zip(table["columns"], keep) if on],
        "rows": [(k, tuple(c for c, on in zip(cells, keep) if on)) for k, cells in rows],
    }


def _trend_charts(months: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    dated = {m: g for m, g in months.items() if m != NO_CODE}
    if not dated:
        return []
    labels = list(dated)
    counts = charts.lines(
        "Assessments per month (by assessed_on)", labels, [("assessments", [g["assessed"] for g in dated.values()])]
    )
    counts["table"] = {"columns": ("Assessments",), "rows": [(m, (g["assessed"],)) for m, g in dated.items()]}
    series = [
        ("deferred", [g["deferred_percent"] for g in dated.values()]),
        ("incomplete", [g["incomplete_percent"] for g in dated.values()]),
    ]
    if any(g["clinician"] for g in dated.values()):
        series.append(("override rate", [g["override_percent"] for g in dated.values()]))
    shares = charts.lines(
        "Share deferred, share incomplete and override rate per month (%)", labels, series, percent=True
    )
    table = [
        (
            m,
            (
                format_percent(g["deferred_percent"]),
                format_percent(g["incomplete_percent"]),
                format_percent(g["override_percent"]),
            )[: len(series)],
        )
        for m, g in dated.items()
    ]
    shares["table"] = {"columns": ("Deferred", "Incomplete", "Override rate")[: len(series)], "rows": table}
    return [counts, shares]


def dashboard_charts(s: dict[str, Any]) -> list[dict[str, Any]]:
    """Every chart of the page, in reading order, each with a ``table`` of its data and an
    ``id``; a chart with nothing to show is left out."""
    assessed = s["records"]["assessed"]
    found: list[tuple[str, dict[str, Any] | None]] = [
        ("format", count_chart("Recommended format", s["format"], assessed) if assessed else None),
        ("flags", _flag_chart(s, assessed) if s["flags_by_level"] else None),
        ("focus", count_chart("Primary focus area", s["focus"], assessed) if assessed else None),
    ]
    c = s["concordance"]
    if c is not None or s.get("cds_feedback"):
        found.append(("override-rule", _override_chart(s)))
    if c is not None:
        found.append(("agreement-site", _agreement_chart("Format agreement by site (%)", s["breakdown"]["site"])))
        found.append(
            ("agreement-clinician", _agreement_chart("Format agreement by clinician (%)", s["breakdown"]["clinician"]))
        )
    found += [(f"trend-{n}", chart) for n, chart in enumerate(_trend_charts(s["breakdown"]["month"]), 1)]
    return finish_charts(found)


def finish_charts(found: list[tuple[str, dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """The charts that have something to show, each named by its id, all-zero columns dropped."""
    out = []
    for ident, chart in found:
        if chart is not None and (chart["kind"] == "lines" or chart["rows"]):
            chart["id"] = ident
            chart["table"] = _without_zero_columns(chart["table"])
            out.append(chart)
    return out


def split_departures(departures: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the first SAFETY_LIMIT safety-critical overrides, the first DEPARTURE_LIMIT others),
    in input order, from one pass over overrides.jsonl."""
    safety: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    for d in departures:
        if d.get("safety_critical"):
            if len(safety) < SAFETY_LIMIT:
                safety.append(d)
        elif len(other) < DEPARTURE_LIMIT:
            other.append(d)
        if len(safety) >= SAFETY_LIMIT and len(other) >= DEPARTURE_LIMIT:
            break
    return safety, other


def render_summary_html(
    summary: dict[str, Any], departures: Iterable[dict[str, Any]], title: str = "Audit dashboard"
) -> Iterator[str]:
    """summary.html, streamed in pieces."""
    from .summary import markdown_environment

    safety, other = split_departures(departures)
    template = markdown_environment().get_template("audit_summary.html.j2")
    return template.generate(**page_context(summary, safety, other, title))


def write_pieces(pieces: Iterable[str], write: Any, block: int = 1 << 16) -> None:
    """Join the many small pieces a template yields into writes of about ``block`` characters."""
    buffer: list[str] = []
    size = 0
    for piece in itertools.chain(pieces, [""]):
        buffer.append(piece)
        size += len(piece)
        if size >= block:
            write("".join(buffer))
            buffer, size = [], 0
    write("".join(buffer))


# --------------------------------------------------------------------------- what the web app stored


def stored_dashboard(
    assessments: Iterable[Any],
    ruleset: Any,
    *,
    tool_version: str,
    source: str,
    site: str = "",
    clinician: str = "",
    date_from: str = "",
    date_to: str = "",
) -> dict[str, Any]:
    """The dashboard's data for stored assessments (``Store.intakes()``), each counted with its
    own stored decision and latest sign-off, kept when it matches every filter given (site and
    clinician codes exactly; ``assessed_on`` within the ISO dates, both ends included).
    Returns ``summary`` (summary.json's shape), ``safety`` and ``departures`` (as
    :func:`split_departures`) and ``shown`` (assessments counted)."""
    from types import SimpleNamespace

    from .summary import Tally, outcome

    tally = Tally(ruleset)
    found: list[dict[str, Any]] = []
    safety_n = other_n = shown = 0
    for a in assessments:
        day = str(a.intake.get("assessed_on") or "")
        if (
            (site and a.site != site)
            or (clinician and a.clinician != clinician)
            or (date_from and day < date_from)
            or (date_to and day > date_to)
        ):
            continue
        shown += 1
        intake = SimpleNamespace(record=a.intake_with_decision(), sha256=a.intake_sha256)
        departure = tally.add(outcome(shown - 1, f"assessment {a.id}", None, intake, a.decision))
        if departure is None:
            continue
        # the first of each kind only, as overrides.jsonl would give them (memory stays flat)
        if departure["safety_critical"] and safety_n < SAFETY_LIMIT:
            safety_n += 1
            found.append(departure)
        elif not departure["safety_critical"] and other_n < DEPARTURE_LIMIT:
            other_n += 1
            found.append(departure)
    summary = tally.as_dict(
        input_path=source,
        input_kind="database",
        input_sha256="",
        tool_version=tool_version,
        departures_file="the database (sign-offs)",
    )
    safety, departures = split_departures(found)
    return {"summary": summary, "safety": safety, "departures": departures, "shown": shown}


def page_context(
    summary: dict[str, Any], safety: list[dict[str, Any]], departures: list[dict[str, Any]], title: str
) -> dict[str, Any]:
    """What ``audit_summary.html.j2`` renders (the web app's page extends it)."""
    c = summary["concordance"]
    confusion = None
    if c is not None and c["confusion"]["table"]:
        table = c["confusion"]["table"]
        columns = [col for col in next(iter(table.values())) if any(row[col] for row in table.values())]
        confusion = {"columns": columns, "rows": [(r, [cells[col] for col in columns]) for r, cells in table.items()]}
    return {
        "s": summary,
        "charts": dashboard_charts(summary),
        "confusion": confusion,
        "safety": safety,
        "departures": departures,
        "safety_limit": SAFETY_LIMIT,
        "departures_limit": DEPARTURE_LIMIT,
        "page_title": title,
        "no_code": NO_CODE,
    }

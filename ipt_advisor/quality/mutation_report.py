"""The mutation report as text (``rules test --mutate``) and as data (``--format json``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..report.words import flow
from .mutation import Report, Result


def text(report: Report) -> str:
    """``rules test --mutate``: every survivor with what would kill it, the equivalent
    mutants apart, then the counts and the time."""
    out = [
        f"mutation testing {report.ruleset}: {len(report.results)} mutants, "
        f"{sum(report.cases.values())} test cases ({_sources(report.cases)})",
        "",
    ]
    for r in report.results:
        if r.status != "survived":
            continue
        m = r.mutant
        out.append(f"SURVIVED  {m.subject}  {m.location}  [{m.operator}]")
        out.append(f"  change:    {m.change}")
        out.append(f"  missed by: {r.nearest}")
        s = r.suggestion
        if s is None:
            out.append("  no existing case, or one answer away from one, tells it apart: review whether it matters")
        elif s.kind == "extend":
            out.append(f"  kill it:   add to that case's expect: {flow(s.expect)}")
        else:
            out.append(f"  kill it:   add to {s.rule_id}'s tests:" if s.rule_id else "  kill it:   add to a case file:")
            out.append(f"               - name: {s.name}")
            out.append(f"                 intake: {flow(s.intake)}")
            out.append(f"                 expect: {flow(s.expect)}")
        if s is not None:
            out.append(f"             (the mutant gives: {s.mutant_gives})")
        out.append("")
    equivalent = [r for r in report.results if r.status == "equivalent"]
    if equivalent:
        out.append(f"EQUIVALENT ({len(equivalent)}: no intake can tell them apart; not counted in the score)")
        for r in equivalent:
            out.append(f"  {r.mutant.subject}  {r.mutant.location}  {r.mutant.change}")
            out.append(f"    {r.reason}")
        out.append("")
    out.append(
        f"{len(report.results)} mutants: {report.count('killed')} killed, {report.count('survived')} survived, "
        f"{report.count('equivalent')} equivalent ({report.duplicates} duplicates of another mutant not counted); "
        f"mutation score {report.score:.1f} %"
    )
    out.append(f"{report.seconds:.1f} s with {report.jobs} worker{'s' if report.jobs != 1 else ''}")
    return "\n".join(out) + "\n"


def _sources(cases: dict[str, int]) -> str:
    return ", ".join(
        f"{n} {'embedded in the rules' if source == 'embedded' else 'from ' + source}" for source, n in cases.items()
    )


def report_json(report: Report) -> dict[str, Any]:
    """The report as plain data (``rules test --mutate --format json``)."""

    def result(r: Result) -> dict[str, Any]:
        m = r.mutant
        out: dict[str, Any] = {
            "number": m.number,
            "rule": m.rule_id or None,
            "operator": m.operator,
            "location": m.location,
            "change": m.change,
            "status": r.status,
        }
        if r.status == "killed":
            out["killed_by"] = r.killed_by
        elif r.status == "equivalent":
            out["reason"] = r.reason
        else:
            out["missed_by"] = r.nearest
            out["suggestion"] = dataclasses.asdict(r.suggestion) if r.suggestion else None
        return out

    return {
        "ruleset": report.ruleset,
        "cases": report.cases,
        "counts": {
            "mutants": len(report.results),
            "killed": report.count("killed"),
            "survived": report.count("survived"),
            "equivalent": report.count("equivalent"),
            "duplicates": report.duplicates,
        },
        "score": round(report.score, 1),
        "seconds": round(report.seconds, 2),
        "jobs": report.jobs,
        "results": [result(r) for r in report.results],
    }

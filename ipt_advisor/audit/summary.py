"""What a batch of decisions adds up to: counts, rule firing, and clinician concordance.

:class:`Tally` is fed one small :class:`Outcome` per decision (never the decision itself)
and keeps only counters, so its memory does not grow with the corpus. Clinician departures
from the recommendation are *returned* by :meth:`Tally.add` for the caller to stream to a
file, not kept.

Concordance (only for intakes that carry ``clinician_decision``):

* format agreement: the clinician's format equals the recommended format, per recommended
  format and overall, with a confusion table (recommended x clinician);
* focus agreement: the clinician's focus equals the recommended *primary* focus (both empty
  counts as agreement), per recommended primary focus and overall;
* override rate per rule: for each rule that drove the recommendation (the rules named in
  ``recommendation.reasons``), how often the clinician chose another format;
* departures: cases where format or focus differ, with the clinician's stated reason, every
  flag with its level, and whether it is *safety-critical*: the clinician chose group or
  individual IPT (not the recommended format, not defer) although a critical flag was raised.

EHR card feedback (``cds_feedback``; ``audit --db`` only, when the EHR reported on a CDS Hooks
card): the same override rate per rule, from the cards accepted or overridden in the EHR, with
the override reasons, beside the sign-offs' rates (it needs no ``clinician_decision``).

Breakdowns (``breakdown``): per site, per clinician (the intake's pseudonymous codes; without
one, the group ``(none)``) and per month of ``assessed_on``: assessed, deferred, incomplete,
with the clinician's decision, agreeing with the recommended format, and their shares.

The summary holds no wall-clock time, so the same input and rule set give the same bytes.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any, Iterable, Iterator, NamedTuple

from ..core.model import RuleSet

SUMMARY_VERSION = 1
NO_FOCUS = "none"
FALLBACK = "(no rule: fallback)"
NO_CODE = "(none)"  # an intake without a site / clinician code (a code cannot hold brackets)
CRITICAL = "critical"  # decision-v1's most urgent flag level
DEFER = "defer"  # decision-v1's "no IPT allocation now"

#: Breakdowns (dimension -> what each outcome is grouped by) and what is counted per group.
DIMENSIONS = ("site", "clinician", "month")
MEASURES = ("assessed", "deferred", "incomplete", "clinician", "agree")


class Outcome(NamedTuple):
    """The parts of one decision (and its intake) that a summary and a decision log need."""

    index: int  # type: ignore[assignment]  # a field named index shadows tuple.index, on purpose
    source: str
    line: int | None
    case_id: str
    intake_sha256: str
    status: str
    format: str
    focus_primary: str | None
    focus_secondary: str | None
    flags: tuple[str, ...]
    fired: tuple[str, ...]
    reason_rules: tuple[str | None, ...]
    clinician: tuple[str, str | None, str | None] | None  # (format, focus, reason)
    levels: tuple[str, ...] = ()  # each flag's level, in the order of ``flags``
    site: str | None = None  # intake-v1 Additions: pseudonymous codes
    clinician_code: str | None = None
    month: str = ""  # assessed_on as YYYY-MM


def outcome(index: int, source: str, line: int | None, intake: Any, decision: dict[str, Any]) -> Outcome:
    """Extract an :class:`Outcome` from a decision and the intake it was made for."""
    clinician = None
    if intake.record.get("clinician_decision") is not None:
        given = intake.record["clinician_decision"]
        clinician = (given["format"], given.get("focus"), given.get("reason"))
    rec = decision["recommendation"]
    return Outcome(
        index,
        source,
        line,
        decision["intake_id"],
        intake.sha256,
        decision["status"],
        rec["format"],
        decision["focus"]["primary"],
        decision["focus"]["secondary"],
        tuple(f["code"] for f in decision["flags"]),
        tuple(t["rule"] for t in decision["trace"]),
        tuple(r["rule"] for r in rec.get("reasons", ())),
        clinician,
        tuple(f["level"] for f in decision["flags"]),
        intake.record.get("site"),
        intake.record.get("clinician"),
        str(intake.record.get("assessed_on") or "")[:7],
    )


def percent(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, one decimal; None when there is nothing to divide."""
    return round(100.0 * part / whole, 1) if whole else None


def _ordered(counter: Counter[str], order: Iterable[str], keep_zero: bool = True) -> dict[str, int]:
    """Counts in a fixed order (declared values first, any others after, sorted)."""
    known = list(dict.fromkeys(order))
    out = {k: counter.get(k, 0) for k in known if keep_zero or counter.get(k)}
    out.update((k, counter[k]) for k in sorted(set(counter) - set(known)))
    return out


class Tally:
    """Counters over a stream of outcomes and invalid records."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.records = 0
        self.invalid = 0
        self.engine_errors = 0
        self.status: Counter[str] = Counter()
        self.format: Counter[str] = Counter()
        self.focus: Counter[str] = Counter()
        self.flags: Counter[str] = Counter()
        self.fired: Counter[str] = Counter()
        # concordance
        self.clinician = 0
        self.confusion: Counter[tuple[str, str]] = Counter()
        self.focus_pairs: Counter[tuple[str, str]] = Counter()
        self.rule_cases: Counter[str] = Counter()
        self.rule_overridden: Counter[str] = Counter()
        self.departures = 0
        self.departures_with_reason = 0
        self.safety_overrides = 0
        self.levels: Counter[tuple[str, str]] = Counter()  # (level, flag code)
        # (dimension, key) -> counts in MEASURES order: site, clinician and month breakdowns
        self.groups: dict[tuple[str, str], list[int]] = {}

    def add_invalid(self, engine: bool = False) -> None:
        self.records += 1
        if engine:
            self.engine_errors += 1
        else:
            self.invalid += 1

    def add(self, o: Outcome) -> dict[str, Any] | None:
        """Count one decision; return the departure record when the clinician departed from it."""
        self.records += 1
        self.status[o.status] += 1
        self.format[o.format] += 1
        self.focus[o.focus_primary or NO_FOCUS] += 1
        self.flags.update(o.flags)
        self.levels.update(zip(o.levels, o.flags))
        self.fired.update(o.fired)
        self.add_to_groups(o)
        if o.clinician is None:
            return None
        clin_format, clin_focus, reason = o.clinician
        self.clinician += 1
        self.confusion[(o.format, clin_format)] += 1
        self.focus_pairs[(o.focus_primary or NO_FOCUS, clin_focus or NO_FOCUS)] += 1
        for rule in dict.fromkeys(o.reason_rules):
            key = rule or FALLBACK
            self.rule_cases[key] += 1
            self.rule_overridden[key] += clin_format != o.format
        departs = [
            name
            for name, differs in (
                ("format", clin_format != o.format),
                ("focus", (clin_focus or None) != o.focus_primary),
            )
            if differs
        ]
        if not departs:
            return None
        self.departures += 1
        self.departures_with_reason += bool(reason)
        # the clinician allocated IPT although the rules raised a flag that asks for action today
        safety = clin_format != o.format and clin_format != DEFER and CRITICAL in o.levels
        self.safety_overrides += safety
        return {
            "case": o.case_id,
            "source": o.source,
            "line": o.line,
            "departs": departs,
            "recommended": {"format": o.format, "focus": o.focus_primary},
            "clinician": {"format": clin_format, "focus": clin_focus},
            "reason": reason,
            "safety_critical": safety,
            "flags": [{"code": code, "level": level} for code, level in zip(o.flags, o.levels)],
            "site": o.site,
            "clinician_code": o.clinician_code,
            "assessed_on_month": o.month or None,
        }

    def add_to_groups(self, o: Outcome) -> None:
        """Count one decision in its site, clinician and month (the dashboard's breakdowns):
        per group one list of counts in :data:`MEASURES` order (a list, not a key per count:
        this runs in the audit's one parent process for every record)."""
        judged = o.clinician is not None
        add = (1, o.format == DEFER, o.status == "incomplete", judged, judged and o.clinician[0] == o.format)  # type: ignore[index]
        groups = self.groups
        for key in (
            ("site", o.site or NO_CODE),
            ("clinician", o.clinician_code or NO_CODE),
            ("month", o.month or NO_CODE),
        ):
            counts = groups.get(key)
            if counts is None:
                counts = groups[key] = [0] * len(MEASURES)
            for i, n in enumerate(add):
                counts[i] += n

    # ----------------------------------------------------------------------- checkpoints

    _NUMBERS = (
        "records",
        "invalid",
        "engine_errors",
        "clinician",
        "departures",
        "departures_with_reason",
        "safety_overrides",
    )
    _COUNTERS = ("status", "format", "focus", "flags", "fired", "rule_cases", "rule_overridden")
    _PAIRS = ("confusion", "focus_pairs", "levels")
    _GROUPS = ("groups",)

    def snapshot(self) -> dict[str, Any]:
        """Every counter as JSON-ready data, for a resumable run's checkpoint. Key order is
        kept (it decides the order of ties in the summary), so :meth:`restore` gives back a
        tally whose summary is byte for byte the same."""
        out: dict[str, Any] = {name: getattr(self, name) for name in self._NUMBERS}
        out.update((name, dict(getattr(self, name))) for name in self._COUNTERS)
        out.update((name, [[a, b, n] for (a, b), n in getattr(self, name).items()]) for name in self._PAIRS)
        out.update((name, [[*key, *counts] for key, counts in getattr(self, name).items()]) for name in self._GROUPS)
        return out

    @classmethod
    def restore(cls, ruleset: RuleSet, data: dict[str, Any]) -> Tally:
        """The tally a :meth:`snapshot` was taken of; ``ValueError`` if ``data`` is not one."""
        tally = cls(ruleset)
        try:
            for name in cls._NUMBERS:
                if not isinstance(data[name], int):
                    raise ValueError(name)
                setattr(tally, name, data[name])
            for name in cls._COUNTERS:
                counts = data[name]
                if not all(isinstance(k, str) and isinstance(n, int) for k, n in counts.items()):
                    raise ValueError(name)
                setattr(tally, name, Counter(counts))
            for name in cls._PAIRS:
                pairs: Counter[tuple[str, str]] = Counter()
                for a, b, n in data[name]:
                    if not (isinstance(a, str) and isinstance(b, str) and isinstance(n, int)):
                        raise ValueError(name)
                    pairs[(a, b)] = n
                setattr(tally, name, pairs)
            for name in cls._GROUPS:
                groups: dict[tuple[str, str], list[int]] = {}
                for dim, key, *counts in data[name]:
                    if not (
                        isinstance(dim, str)
                        and isinstance(key, str)
                        and len(counts) == len(MEASURES)
                        and all(isinstance(n, int) for n in counts)
                    ):
                        raise ValueError(name)
                    groups[(dim, key)] = counts
                setattr(tally, name, groups)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not a tally snapshot: {exc}") from None
        return tally

    # ----------------------------------------------------------------------- output

    def as_dict(
        self,
        *,
        input_path: str,
        input_kind: str,
        input_sha256: str,
        tool_version: str,
        departures_file: str,
        cds_feedback: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The summary as JSON-ready data, key order fixed. ``cds_feedback`` (the EHR's CDS Hooks
        card feedback, :func:`ipt_advisor.store.feedback.feedback_report`) joins the summary
        as ``cds_feedback`` when the EHR reported on any card; without it the summary is as before."""
        rs = self.ruleset
        policy = rs.policies
        assert policy is not None
        formats = policy.format_precedence
        areas = (*policy.focus_areas, NO_FOCUS)
        active = [r.id for r in rs.active_rules]
        return {
            "summary_version": SUMMARY_VERSION,
            "tool_version": tool_version,
            "input": {"path": input_path, "kind": input_kind, "sha256": input_sha256},
            "ruleset": {"name": rs.name, "version": rs.version, "sha256": rs.sha256},
            "records": {
                "total": self.records,
                "assessed": self.records - self.invalid - self.engine_errors,
                "invalid": self.invalid,
                "engine_errors": self.engine_errors,
            },
            "status": _ordered(self.status, ("complete", "incomplete")),
            "format": _ordered(self.format, formats),
            "focus": _ordered(self.focus, areas),
            "flags": _ordered(self.flags, rs.flags),
            "flags_by_level": self._flags_by_level(rs.flags),
            "rules": {
                "fired": _ordered(self.fired, active),
                "never_fired": [rid for rid in active if not self.fired.get(rid)],
            },
            "concordance": self._concordance(formats, areas, departures_file) if self.clinician else None,
            **(
                {"cds_feedback": self._cds_feedback(cds_feedback)}
                if cds_feedback and cds_feedback["cards_with_feedback"]
                else {}
            ),
            "breakdown": {dim: self._breakdown(dim) for dim in DIMENSIONS},
        }

    def _in_rule_order(self, rules: Iterable[str]) -> list[str]:
        """Rule ids in the rule set's order, the fallback and unknown ids last."""
        order = {rid: n for n, rid in enumerate([r.id for r in self.ruleset.rules] + [FALLBACK])}
        return sorted(rules, key=lambda r: order.get(r, len(order)))

    def _cds_feedback(self, feedback: dict[str, Any]) -> dict[str, Any]:
        """The EHR's verdicts on the cards, next to the clinicians' sign-offs: the cards issued
        and reported on, the overridden ones and why, and per rule that drove a card's
        recommendation the same counts (the newest feedback on a card counts)."""
        by_rule = feedback["override_by_rule"]
        return {
            "cards": feedback["cards"],
            "cards_with_feedback": feedback["cards_with_feedback"],
            "overridden": feedback["overridden"],
            "reasons": feedback["reasons"],
            "override_by_rule": {
                rid: {
                    "cards": by_rule[rid]["cards"],
                    "accepted": by_rule[rid]["cards"] - by_rule[rid]["overridden"],
                    "overridden": by_rule[rid]["overridden"],
                    "percent": percent(by_rule[rid]["overridden"], by_rule[rid]["cards"]),
                    "reasons": by_rule[rid]["reasons"],
                }
                for rid in self._in_rule_order(by_rule)
            },
        }

    def _flags_by_level(self, order: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Flags raised per level (most urgent first; a level only when raised): the total and
        each flag's count, in the rule set's order. A flag raised at two levels counts in each."""
        known = (CRITICAL, "warning", "info")
        levels = [*known, *sorted({lv for lv, _ in self.levels} - set(known))]
        out: dict[str, dict[str, Any]] = {}
        for level in levels:
            codes = Counter({code: n for (lv, code), n in self.levels.items() if lv == level})
            if codes:
                out[level] = {"total": sum(codes.values()), "flags": _ordered(codes, order, keep_zero=False)}
        return out

    def _breakdown(self, dim: str) -> dict[str, dict[str, Any]]:
        """Per site / clinician / month (sorted by key, the group without a code last): the
        counts of :data:`MEASURES`, shares of assessed, format agreement and override rate."""
        keys = sorted({k for d, k in self.groups if d == dim}, key=lambda k: (k == NO_CODE, k))
        out: dict[str, dict[str, Any]] = {}
        for key in keys:
            n = dict(zip(MEASURES, self.groups[(dim, key)]))
            out[key] = {
                **n,
                "overridden": n["clinician"] - n["agree"],
                "deferred_percent": percent(n["deferred"], n["assessed"]),
                "incomplete_percent": percent(n["incomplete"], n["assessed"]),
                "agree_percent": percent(n["agree"], n["clinician"]),
                "override_percent": percent(n["clinician"] - n["agree"], n["clinician"]),
            }
        return out

    def _concordance(self, formats: tuple[str, ...], areas: tuple[str, ...], departures_file: str) -> dict[str, Any]:
        clinician_formats = (*formats, *sorted({c for _, c in self.confusion} - set(formats)))
        recommended = (*formats, *sorted({r for r, _ in self.confusion} - set(formats)))

        def agreement(pairs: Counter[tuple[str, str]], keys: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
            per: dict[str, Any] = {}
            for key in keys:
                total = sum(n for (r, _), n in pairs.items() if r == key)
                if total:
                    agree = pairs.get((key, key), 0)
                    per[key] = {"cases": total, "agree": agree, "percent": percent(agree, total)}
            agree_all = sum(n for (r, c), n in pairs.items() if r == c)
            overall = {"cases": self.clinician, "agree": agree_all, "percent": percent(agree_all, self.clinician)}
            return overall, per

        format_all, format_per = agreement(self.confusion, recommended)
        focus_keys = (*areas, *sorted({r for r, _ in self.focus_pairs} - set(areas)))
        focus_all, focus_per = agreement(self.focus_pairs, focus_keys)
        rules = self._in_rule_order(self.rule_cases)
        return {
            "cases": self.clinician,
            "format": {"overall": format_all, "by_recommended": format_per},
            "confusion": {
                "rows": "recommended",
                "columns": "clinician",
                "table": {
                    r: {c: self.confusion.get((r, c), 0) for c in clinician_formats}
                    for r in recommended
                    if any(self.confusion.get((r, c)) for c in clinician_formats)
                },
            },
            "focus": {"overall": focus_all, "by_recommended": focus_per},
            "override_by_rule": {
                rid: {
                    "cases": self.rule_cases[rid],
                    "overridden": self.rule_overridden[rid],
                    "percent": percent(self.rule_overridden[rid], self.rule_cases[rid]),
                }
                for rid in rules
            },
            "departures": {
                "cases": self.departures,
                "with_reason": self.departures_with_reason,
                "safety_critical": self.safety_overrides,
                "file": departures_file,
            },
        }


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as stable JSON text (contract key order, final newline)."""
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- Markdown

_env: Any = None


def markdown_environment() -> Any:
    """The Jinja2 environment for batch reports (same loader and safety settings as
    :mod:`ipt_advisor.report.render`: templates are files, data is only ever a variable,
    ``StrictUndefined``, Markdown text escaped by the ``md`` filter)."""
    global _env
    if _env is None:
        from ..report.render import make_environment

        _env = make_environment(pct=format_percent)
    return _env


def format_percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


# Safety-critical overrides listed in the terminal digest; the rest are in summary.html.
MD_SAFETY = 20


def render_summary_md(
    summary: dict[str, Any], departures: Iterable[dict[str, Any]], limit: int = MD_SAFETY
) -> Iterator[str]:
    """The short Markdown digest, streamed: ``departures`` (overrides.jsonl's records) is read
    lazily, only until the first ``limit`` safety-critical overrides are found."""
    template = markdown_environment().get_template("audit_summary.md.j2")
    safety = itertools.islice((d for d in departures if d.get("safety_critical")), limit)
    return template.generate(s=summary, safety=safety, safety_limit=limit)

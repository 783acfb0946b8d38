"""Generators of valid intake records (intake-v1), for property and differential tests.

One description of the intake space, two drivers:

* :func:`intakes` — a hypothesis strategy (shrinks to a minimal failing record);
* :func:`random_intake` — a seeded ``random.Random`` driver, about ten times faster,
  for the bulk differential run.

Both walk :func:`_intake` with a *picker*, so they cover exactly the same space: every
field of the schema, absent keys, ``null`` where the schema allows it (unknown risk items,
absent blocks), every enum value, and the edge values the rules turn on (age 5/11/12/17/18,
PHQ-9 4/5/9/10/14/15/16/19/20/27, SPIN 18/19, grief 11/12/13 months, ...).  Edge values are
listed here as *test data*; no threshold is decided here.

Every generated mapping is checked with ``intake.from_mapping``: a strategy that produced an
invalid record would be a bug in this file, and fails loudly.
"""

from __future__ import annotations

import functools
import random
import string
from datetime import date, timedelta
from typing import Any, Callable, Sequence, TypeVar

from hypothesis import strategies as st

from ipt_advisor.intake.schema import Intake, from_mapping

T = TypeVar("T")

#: Marks "leave the key out" (different from ``None``, which writes ``null``).
ABSENT: Any = object()

SOURCE = "<generated>"
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2025, 12, 31)  # always in the past, whatever day the suite runs

AGE_EDGES = (5, 6, 11, 12, 13, 17, 18, 19, 64, 65, 119, 120)
PHQ9_EDGES = (0, 4, 5, 9, 10, 14, 15, 16, 17, 19, 20, 27)
GAD7_EDGES = (0, 9, 10, 14, 15, 21)
SPIN_EDGES = (0, 18, 19, 20, 40, 41, 68)
MONTHS_EDGES = (0, 1, 5, 6, 7, 11, 12, 13, 24, 600)

ID_CHARS = string.ascii_letters + string.digits + "-_."
# Free text that has tripped report generators elsewhere: markup, template syntax,
# control characters, right-to-left overrides, non-Latin scripts, very long lines.
NASTY_TEXT = (
    "",
    " ",
    "spouse",
    "job_loss",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% raw %}",
    "**bold** _it_ [link](http://x)",
    "# heading",
    "- item",
    "1. item",
    "| a | b |",
    "\x1b[31mred",
    "line one\nline two",
    "\u202egnp.exe",
    "名前 ü é",
    "😀",
    "\\",
    "'\"",
    "null",
    "true",
    "0",
)


class _Picker:
    """What :func:`_intake` needs from a source of choices."""

    def choice(self, options: Sequence[T]) -> T:
        raise NotImplementedError

    def integer(self, lo: int, hi: int, edges: Sequence[int]) -> int:
        raise NotImplementedError

    def text(self, max_len: int) -> str:
        raise NotImplementedError

    def ident(self) -> str:
        raise NotImplementedError

    def day(self) -> date:
        raise NotImplementedError


@functools.lru_cache(maxsize=4096)  # bounded: some option tuples hold a drawn value
def _sampled(options: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    # building a strategy costs more than drawing from it: build each one once
    return st.sampled_from(options)


@functools.lru_cache(maxsize=None)
def _integers(lo: int, hi: int, edges: tuple[int, ...]) -> st.SearchStrategy[int]:
    return st.sampled_from([e for e in edges if lo <= e <= hi]) | st.integers(lo, hi)


@functools.lru_cache(maxsize=None)
def _texts(max_len: int) -> st.SearchStrategy[str]:
    return st.sampled_from((*NASTY_TEXT, "n" * max_len)) | st.text(max_size=min(max_len, 60))


# hypothesis also tries string constants found in the code, such as the template's refused placeholder id
_IDENTS = st.text(alphabet=ID_CHARS, min_size=1, max_size=64).filter(lambda s: s != "C-YYYY-NNNN")
_DAYS = st.dates(FIRST_DAY, LAST_DAY)


class _HypothesisPicker(_Picker):
    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]):
        self.draw = draw

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(_sampled(tuple(options)))

    def integer(self, lo: int, hi: int, edges: Sequence[int]) -> int:
        return self.draw(_integers(lo, hi, tuple(edges)))

    def text(self, max_len: int) -> str:
        return self.draw(_texts(max_len))

    def ident(self) -> str:
        return self.draw(_IDENTS)

    def day(self) -> date:
        return self.draw(_DAYS)


class _RandomPicker(_Picker):
    def __init__(self, rng: random.Random):
        self.rng = rng

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def integer(self, lo: int, hi: int, edges: Sequence[int]) -> int:
        inside = [e for e in edges if lo <= e <= hi]
        return self.rng.choice(inside) if inside and self.rng.random() < 0.5 else self.rng.randint(lo, hi)

    def text(self, max_len: int) -> str:
        if self.rng.random() < 0.5:
            return self.rng.choice((*NASTY_TEXT, "n" * max_len))
        alphabet = string.printable + "éü名😀\u202e"
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(0, min(max_len, 60))))

    def ident(self) -> str:
        return "".join(self.rng.choice(ID_CHARS) for _ in range(self.rng.randint(1, 64)))

    def day(self) -> date:
        return FIRST_DAY + timedelta(days=self.rng.randint(0, (LAST_DAY - FIRST_DAY).days))


# --------------------------------------------------------------------------- the intake space


def _put(mapping: dict[str, Any], key: str, value: Any) -> None:
    if value is not ABSENT:
        mapping[key] = value


def _bool_or_absent(p: _Picker) -> Any:
    """A field with a default (false/true): omitted or a real boolean, never null."""
    return p.choice((ABSENT, True, False))


def _risk_item(p: _Picker) -> Any:
    """A risk question: unknown (omitted or null) is a real, different answer from false."""
    return p.choice((ABSENT, None, True, False, True, False))


def _enum_or_absent(p: _Picker, values: Sequence[str]) -> Any:
    return p.choice((ABSENT, *values))


def _cssrs(p: _Picker) -> Any:
    shape = p.choice(("absent", "null", *["complete"] * 6, "any", "any"))
    if shape == "absent":
        return ABSENT
    if shape == "null":
        return None
    block: dict[str, Any] = {}
    for name in ("wish_dead", "active_thoughts", "behavior_3m"):
        _put(block, name, p.choice((True, False)) if shape == "complete" else _risk_item(p))
    asked = block.get("active_thoughts") is True
    for name in ("method", "intent", "plan"):
        # "complete": Q3-Q5 answered when Q2 is yes, else usually left out (rightly not asked)
        if shape == "complete":
            _put(block, name, p.choice((True, False)) if asked else p.choice((ABSENT, ABSENT, False, True)))
        else:
            _put(block, name, _risk_item(p))
    return block


def _risk(p: _Picker) -> Any:
    shape = p.choice(("absent", "null", *["block"] * 6))
    if shape == "absent":
        return ABSENT
    if shape == "null":
        return None
    block: dict[str, Any] = {}
    _put(block, "cssrs", _cssrs(p))
    _put(block, "cssrs_declined", p.choice((ABSENT, False, ABSENT, False, ABSENT, True)))
    for name in ("psychosis", "mania_history", "hostility", "harm_to_others", "acute_crisis"):
        _put(block, name, p.choice((ABSENT, False, ABSENT, False, True)))
    _put(block, "substance", _enum_or_absent(p, ("none", "misuse", "dependence")))
    _put(block, "cognitive_impairment", _enum_or_absent(p, ("none", "mild", "severe")))
    return block


def _area(p: _Picker, details: Callable[[dict[str, Any], bool], None]) -> Any:
    shape = p.choice(("absent", "null", "present", "present", "not present"))
    if shape == "absent":
        return ABSENT
    if shape == "null":
        return None
    present = shape == "present"
    block: dict[str, Any] = {"present": present}
    # details of an absent area are allowed (and dropped by validation); give some anyway
    if present or p.choice((False, True)):
        details(block, present)
    _put(block, "onset_linked", _bool_or_absent(p))
    return block


def _findings(p: _Picker) -> Any:
    shape = p.choice(("absent", "null", "block", "block", "block", "block"))
    if shape == "absent":
        return ABSENT
    if shape == "null":
        return None

    def grief(block: dict[str, Any], present: bool) -> None:
        months = p.integer(0, 600, MONTHS_EDGES)
        _put(block, "months_since_death", months if present else p.choice((ABSENT, None, months)))

    def dispute(block: dict[str, Any], present: bool) -> None:
        _put(block, "with", p.choice((ABSENT, None, p.text(200))))
        stage = p.choice(("renegotiation", "impasse", "dissolution"))
        _put(block, "stage", stage if present else p.choice((ABSENT, None, stage)))
        _put(block, "violence", _risk_item(p))

    def transition(block: dict[str, Any], present: bool) -> None:
        _put(block, "kind", p.choice((ABSENT, None, p.text(200))))

    block: dict[str, Any] = {}
    _put(block, "grief", _area(p, grief))
    _put(block, "role_dispute", _area(p, dispute))
    _put(block, "role_transition", _area(p, transition))
    _put(block, "isolation", _area(p, lambda b, present: None))
    _put(block, "social_anxiety", _enum_or_absent(p, ("none", "mild", "moderate", "severe")))
    _put(block, "group_discomfort", _enum_or_absent(p, ("none", "mild", "moderate", "severe")))
    return block


def _preferences(p: _Picker) -> Any:
    shape = p.choice(("absent", "null", "block", "block"))
    if shape == "absent":
        return ABSENT
    if shape == "null":
        return None
    block: dict[str, Any] = {}
    _put(block, "format", _enum_or_absent(p, ("group", "individual", "either")))
    _put(block, "confidentiality_concern", p.choice((ABSENT, False, False, True)))
    _put(block, "can_attend_group_times", p.choice((ABSENT, True, True, False)))
    return block


def _clinician_decision(p: _Picker) -> Any:
    shape = p.choice(("absent", "absent", "null", "block"))
    if shape == "absent":
        return ABSENT
    if shape == "null":
        return None
    block: dict[str, Any] = {"format": p.choice(("group", "individual", "defer"))}
    _put(block, "focus", p.choice((ABSENT, None, "grief", "role_dispute", "role_transition", "isolation")))
    _put(block, "reason", p.choice((ABSENT, None, p.text(2000))))
    return block


def _intake(p: _Picker) -> dict[str, Any]:
    record: dict[str, Any] = {
        "intake_version": 1,
        "id": p.ident(),
        # YAML gives a date object for 2026-01-01, JSON and CSV give the string: both valid
        "assessed_on": (lambda d: p.choice((d, d.isoformat())))(p.day()),
        "age": p.integer(5, 120, AGE_EDGES),
    }
    _put(record, "perinatal", _enum_or_absent(p, ("none", "pregnant", "postpartum")))
    measures: dict[str, Any] = {"phq9": p.integer(0, 27, PHQ9_EDGES)}
    _put(measures, "phq9_item9", p.choice((ABSENT, None, p.integer(0, 3, (0, 1, 3)))))
    _put(measures, "gad7", p.choice((ABSENT, None, p.integer(0, 21, GAD7_EDGES))))
    _put(measures, "spin", p.choice((ABSENT, None, p.integer(0, 68, SPIN_EDGES))))
    record["measures"] = measures
    _put(record, "risk", _risk(p))
    _put(record, "findings", _findings(p))
    _put(record, "preferences", _preferences(p))
    _put(record, "notes", p.choice((ABSENT, None, p.text(10_000))))
    _put(record, "clinician_decision", _clinician_decision(p))
    # drawn last, so the records drawn before these fields existed are drawn unchanged
    _put(record, "site", p.choice((ABSENT, ABSENT, None, p.ident())))
    _put(record, "clinician", p.choice((ABSENT, ABSENT, None, p.ident())))
    return record


# --------------------------------------------------------------------------- public API


def validated(mapping: dict[str, Any]) -> Intake:
    """The mapping as a validated Intake; an IntakeError here is a bug in this generator."""
    return from_mapping(mapping, None, SOURCE)


@st.composite
def intake_mappings(draw: Callable[[st.SearchStrategy[Any]], Any]) -> dict[str, Any]:
    """Hypothesis strategy: a valid intake-v1 mapping (as a parsed YAML/JSON file gives it)."""
    return _intake(_HypothesisPicker(draw))


def intakes() -> st.SearchStrategy[tuple[dict[str, Any], Intake]]:
    """Hypothesis strategy: ``(mapping, validated Intake)`` pairs."""
    return intake_mappings().map(lambda m: (m, validated(m)))


def random_intake(rng: random.Random) -> dict[str, Any]:
    """A valid intake-v1 mapping from a seeded generator (fast; for bulk runs)."""
    return _intake(_RandomPicker(rng))


def cssrs_incomplete(record: dict[str, Any]) -> bool:
    """The C-SSRS screen is missing or partial, read straight from the validated record
    (intake-v1: block absent, Q1/Q2/Q6 unanswered, or Q2 yes with any of Q3-Q5 unanswered).
    Independent of the rule set, on purpose: the status invariant is checked against it.
    A screen the person declined is incomplete whatever it holds."""
    if (record.get("risk") or {}).get("cssrs_declined"):
        return True
    cssrs = (record.get("risk") or {}).get("cssrs")
    if cssrs is None:
        return True
    if any(cssrs.get(q) is None for q in ("wish_dead", "active_thoughts", "behavior_3m")):
        return True
    return cssrs.get("active_thoughts") is True and any(cssrs.get(q) is None for q in ("method", "intent", "plan"))

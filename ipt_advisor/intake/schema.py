"""Intake records (contract: intake-v1): strict validation into one normalised record.

The schema is a declarative table (``_SCHEMA``) walked by one small validator, so
the fields, their defaults and ``FIELD_PATHS`` all come from the same place.

Two principles shape the defaults:

* a risk screen that was not done is *unknown* (``None``), never ``False``/``0``:
  the C-SSRS answers, PHQ-9 item 9 and role-dispute violence stay ``None`` when
  absent, and an absent C-SSRS block makes ``risk.cssrs`` itself ``None``;
* every problem is gathered before one ``IntakeError`` is raised, so a clinician
  fixes a file in one pass, and no input ever produces a traceback.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import field
from ..core.precompiled_classes import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

from ..core import yamlio
from ..core.errors import IntakeError, Problem
from ..core.hints import closest, did_you_mean
from ..core.jsonline import canonical_bytes
from ..core.yamlio import Lines, PathKey

__all__ = [
    "FIELDS",
    "FIELD_PATHS",
    "SCHEMA",
    "Block",
    "Field",
    "Intake",
    "coerce_strings",
    "from_mapping",
    "load_intake",
    "load_intake_file",
    "read_intake_file",
]

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
# ids that only ever come from an unfilled template (earlier versions printed this one)
_PLACEHOLDER_IDS = frozenset({"C-YYYY-NNNN"})


# --------------------------------------------------------------------------- schema table


@dataclass(frozen=True)
class Field:
    """One leaf: its kind, whether it is required, its default and its limits, and how a
    clinician is asked for it (``label``, ``help``, ``choice_labels``: the web form is
    generated from these, and the commented template can be)."""

    kind: Literal["int", "bool", "enum", "text", "id", "date", "version"]
    required: bool = False
    default: object = None
    lo: int = 0
    hi: int = 0
    choices: tuple[str, ...] = ()
    max_len: int = 200
    required_if: str | None = None  # a sibling boolean that makes this field required when true
    label: str = field(default="", compare=False)
    help: str = field(default="", compare=False)
    choice_labels: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # (choice, words)


@dataclass(frozen=True)
class Block:
    """A nested mapping; ``when_absent`` says what an omitted (or null) block means."""

    fields: dict[str, Field | Block]
    # "walk": validate as if empty (required leaves inside are reported, defaults filled);
    # "none": the record holds None (C-SSRS not done, no clinician decision);
    # "area": an interpersonal area not present (all defaults, present False).
    when_absent: Literal["walk", "none", "area"] = "walk"
    label: str = field(default="", compare=False)
    help: str = field(default="", compare=False)
    # (name, spec, is a nested block, the leaf's kind, whether leaving the leaf out is never a
    # problem): what the walker loops over, sorted out once instead of once per field per
    # intake (the batch hot path)
    entries: tuple[tuple[str, Any, bool, str, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(_entry(name, sub) for name, sub in self.fields.items()))


def _entry(name: str, sub: Field | Block) -> tuple[str, Any, bool, str, bool]:
    if isinstance(sub, Block):
        return name, sub, True, "", False
    return name, sub, False, sub.kind, not sub.required and not sub.required_if


def _int(lo: int, hi: int, label: str, help: str = "", required: bool = False, required_if: str | None = None) -> Field:
    return Field("int", required=required, lo=lo, hi=hi, required_if=required_if, label=label, help=help)


def _bool(default: bool | None, label: str, help: str = "") -> Field:
    return Field("bool", default=default, label=label, help=help)


def _enum(
    *choices: str | tuple[str, str],
    label: str,
    help: str = "",
    default: str | None = None,
    required: bool = False,
    required_if: str | None = None,
) -> Field:
    """Choices are names, or (name, words) where the name alone would not say enough;
    ("", words) names no choice at all (an optional field left empty) and is not a value."""
    names = tuple(c if isinstance(c, str) else c[0] for c in choices if c != "" and (isinstance(c, str) or c[0]))
    words = tuple(c for c in choices if not isinstance(c, str))
    return Field(
        "enum",
        required=required,
        default=default,
        choices=names,
        required_if=required_if,
        label=label,
        help=help,
        choice_labels=words,
    )


def _text(label: str, help: str = "", max_len: int = 200) -> Field:
    return Field("text", max_len=max_len, label=label, help=help)


def _area(label: str, help: str, **details: Field) -> Block:
    return Block(
        {
            "present": Field("bool", required=True, default=False, label="Present"),
            **details,
            "onset_linked": _bool(False, "Did this episode begin or get worse with it?"),
        },
        when_absent="area",
        label=label,
        help=help,
    )


_SEVERITY = ("none", "mild", "moderate", "severe")
_CSSRS_ONLY_IF_Q2 = "Asked only when Q2 is yes."

_SCHEMA = Block(
    {
        "intake_version": Field("version", required=True, label="Intake record version"),
        "site": Field("id", label="Site code", help="Pseudonymous code of the service or clinic."),
        "clinician": Field(
            "id", label="Clinician code", help="Pseudonymous code of the assessing clinician, never a name."
        ),
        "id": Field(
            "id", required=True, label="Case id", help="Pseudonymous: letters, digits, - _ . (up to 64). Never a name."
        ),
        "assessed_on": Field("date", required=True, label="Date of assessment", help="YYYY-MM-DD, not in the future."),
        "age": _int(5, 120, "Age (years)", "Whole years, 5 to 120.", required=True),
        "perinatal": _enum(
            ("none", "neither"),
            "pregnant",
            ("postpartum", "postpartum (≤ 12 months)"),
            label="Pregnant or postpartum",
            help="Postpartum: up to 12 months after the birth.",
            default="none",
        ),
        "measures": Block(
            {
                "phq9": _int(0, 27, "PHQ-9 total", "0 to 27.", required=True),
                "phq9_item9": _int(
                    0,
                    3,
                    "PHQ-9 item 9: thoughts of death or self-harm",
                    "0 not at all, 1 several days, 2 more than half the days, 3 nearly every day. "
                    "Never a substitute for the C-SSRS.",
                ),
                "gad7": _int(0, 21, "GAD-7 total", "0 to 21; empty if not done."),
                "spin": _int(0, 68, "SPIN total (Social Phobia Inventory)", "0 to 68; empty if not done."),
            },
            label="Measures",
        ),
        "risk": Block(
            {
                "cssrs": Block(
                    {
                        # None = not answered; method/intent/plan are asked only after a "yes" to Q2
                        "wish_dead": _bool(None, "Q1 Wished to be dead, or to go to sleep and not wake up"),
                        "active_thoughts": _bool(None, "Q2 Actual thoughts of killing themselves"),
                        "method": _bool(None, "Q3 Thought about how they might do this", _CSSRS_ONLY_IF_Q2),
                        "intent": _bool(None, "Q4 Some intention of acting on these thoughts", _CSSRS_ONLY_IF_Q2),
                        "plan": _bool(
                            None, "Q5 Worked out details of a plan, with intent to carry it out", _CSSRS_ONLY_IF_Q2
                        ),
                        "behavior_3m": _bool(
                            None, "Q6 Done, started or prepared anything to end their life (past 3 months)"
                        ),
                    },
                    when_absent="none",
                    label="C-SSRS screener, past month",
                    help="Record each answer as given. 'Not asked' is never read as no: the decision then waits.",
                ),
                # offered the screener and declined it: the screen stays unknown (never "no")
                "cssrs_declined": _bool(
                    False,
                    "The person was offered the C-SSRS screener and declined it",
                    "Record any answers given before they stopped.",
                ),
                "psychosis": _bool(False, "Current psychotic symptoms"),
                "mania_history": _bool(False, "Any manic or hypomanic episode, ever"),
                "substance": _enum(
                    "none",
                    ("misuse", "misuse (short of dependence)"),
                    "dependence",
                    label="Current alcohol or drug use",
                    default="none",
                ),
                "cognitive_impairment": _enum("none", "mild", "severe", label="Cognitive impairment", default="none"),
                "hostility": _bool(False, "Hostile, disruptive or antisocial behaviour in care settings"),
                "harm_to_others": _bool(False, "Thoughts or threats of harming someone else"),
                "acute_crisis": _bool(
                    False, "In an acute crisis now", "Eviction, legal trouble, a sudden catastrophe."
                ),
            },
            label="Risk",
        ),
        "findings": Block(
            {
                "grief": _area(
                    "Grief",
                    "The death of someone important (other losses are role transitions).",
                    months_since_death=_int(0, 600, "Months since the death", "0 to 600.", required_if="present"),
                ),
                "role_dispute": _area(
                    "Role dispute",
                    "A conflict of expectations with someone important.",
                    **{
                        "with": _text("With whom", "In a few words, e.g. spouse, mother."),
                        "stage": _enum(
                            ("renegotiation", "renegotiation (both still trying)"),
                            ("impasse", "impasse (stalled)"),
                            ("dissolution", "dissolution (ending)"),
                            label="Stage",
                            required_if="present",
                        ),
                        # a risk question: unknown stays unknown
                        "violence": _bool(None, "Violence, threats or coercive control in this relationship"),
                    },
                ),
                "role_transition": _area(
                    "Role transition",
                    "A life change: job loss, move, divorce, new baby, diagnosis, retirement ...",
                    kind=_text("What changed", "In a few words."),
                ),
                "isolation": _area(
                    "Interpersonal deficits", "Few or poor relationships, loneliness, social isolation."
                ),
                "social_anxiety": _enum(*_SEVERITY, label="Social anxiety (your rating)", default="none"),
                "group_discomfort": _enum(*_SEVERITY, label="Discomfort at the idea of a group", default="none"),
            },
            label="Interpersonal inventory",
            help="Mark each problem area found.",
        ),
        "preferences": Block(
            {
                "format": _enum("group", "individual", "either", label="Format the person wants", default="either"),
                "confidentiality_concern": _bool(
                    False, "Being seen in a group would cost them", "A public role, a small town."
                ),
                "can_attend_group_times": _bool(True, "Can come at the group's times"),
            },
            label="Preferences",
        ),
        "notes": _text("Notes", "Free text for the report. Never read by a rule.", max_len=10_000),
        "clinician_decision": Block(
            {
                "format": _enum("group", "individual", "defer", label="Format decided", required=True),
                "focus": _enum(
                    "grief",
                    ("role_dispute", "role dispute"),
                    ("role_transition", "role transition"),
                    ("isolation", "interpersonal deficits (isolation)"),
                    ("", "no focus area"),
                    label="Focus decided",
                ),
                "reason": _text("Reason", "Why you departed from the recommendation, if you did.", max_len=2_000),
            },
            when_absent="none",
            label="The clinician's decision",
            help="For audits only: never read by a rule.",
        ),
    },
    label="The case",
)
#: The declarative schema itself: validation walks it; the web form is generated from it.
SCHEMA: Block = _SCHEMA


def _leaves(block: Block, prefix: str = "") -> list[tuple[str, Field]]:
    out: list[tuple[str, Field]] = []
    for name, spec in block.fields.items():
        out.extend(_leaves(spec, f"{prefix}{name}.") if isinstance(spec, Block) else [(prefix + name, spec)])
    return out


_FIELDS: dict[str, Field] = dict(_leaves(_SCHEMA))
_FREE_TEXT = frozenset(p for p, f in _FIELDS.items() if f.kind == "text")
#: every key name the schema knows, at any level (a duplicate of one may be named)
KNOWN_KEYS = frozenset(part for p in _FIELDS for part in p.split("."))
FIELD_PATHS: tuple[str, ...] = tuple(_FIELDS)
#: every leaf by its dotted path (read-only: the schema is ``SCHEMA``)
FIELDS: Mapping[str, Field] = MappingProxyType(_FIELDS)
#: The fields a rule may read: typed answers only. Never free text, the id, the date, or the
#: clinician's own decision (audits compare the rules against it).
RULE_FIELDS: tuple[str, ...] = tuple(
    p for p, f in _FIELDS.items() if f.kind in ("int", "bool", "enum") and not p.startswith("clinician_decision.")
)
# blocks too (``risk.cssrs``), so Intake.get can tell a typo from an unknown value
_KNOWN_PATHS = frozenset(".".join(p.split(".")[:n]) for p in FIELD_PATHS for n in range(1, p.count(".") + 2))


# --------------------------------------------------------------------------- what validation guarantees


def may_be_unknown(path: str) -> bool:
    """Whether a valid record can hold no value (None) at ``path``: a field with a default
    or a required field always has one, unless a block above it can be absent as a whole
    (the C-SSRS screen).  Mutation testing uses this to know which states are possible."""
    block: Block = _SCHEMA
    *parents, last = path.split(".")
    for name in parents:
        sub = block.fields[name]
        assert isinstance(sub, Block), path
        if sub.when_absent == "none":
            return True
        block = sub
    spec = block.fields[last]
    assert isinstance(spec, Field), path
    return not spec.required and spec.default is None


def area_rule(path: str) -> tuple[str, object, bool] | None:
    """For a detail of an interpersonal area (``findings.grief.months_since_death``): the
    area's ``present`` path, the value the detail always has when the area is not present
    (validation drops the details of an absent area), and whether it is required when the
    area is present.  None for any other field, and for ``present`` itself."""
    *parents, last = path.split(".")
    block: Any = _SCHEMA
    for name in parents:
        block = block.fields.get(name) if isinstance(block, Block) else None
    if not isinstance(block, Block) or block.when_absent != "area" or last == "present" or last not in block.fields:
        return None
    spec = block.fields[last]
    return ".".join(parents + ["present"]), spec.default, spec.required_if == "present"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- value checks


def _show(value: object, text_expected: bool = False) -> str:
    """A value as a clinician would recognise it in a message (YAML spelling, one line)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = repr(value if len(value) <= 40 else value[:37] + "...")
        return shown if text_expected else f"{shown} (text)"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime):
        return f"{value.isoformat(sep=' ')} (a date and time)"
    if isinstance(value, date):
        return f"{value.isoformat()} (a date)"
    if isinstance(value, int) and value.bit_length() > 64:  # repr of a huge int is slow or refused
        return "a number too large to show"
    return repr(value)[:40]


def _check_int(spec: Field, v: object) -> tuple[object, str | None]:
    # bool is an int subclass and 3.0 == 3: both are refused, a score is typed as a whole number
    if type(v) is not int:
        return None, f"must be a whole number, got {_show(v)}"
    if not spec.lo <= v <= spec.hi:
        return None, f"must be a whole number from {spec.lo} to {spec.hi}, got {_show(v)}"
    return v, None


def _check_bool(spec: Field, v: object) -> tuple[object, str | None]:
    return (v, None) if isinstance(v, bool) else (None, f"must be true or false, got {_show(v)}")


def _check_enum(spec: Field, v: object) -> tuple[object, str | None]:
    if isinstance(v, str) and v in spec.choices:
        return v, None
    message = f"must be one of {', '.join(spec.choices)}; got {_show(v, text_expected=True)}"
    if isinstance(v, str):
        message += did_you_mean(closest(v.lower(), spec.choices))
    return None, message


def _kind_of(value: object) -> str:
    """What a value is, without the value: for a free-text field, whose value is never shown."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a value of another kind"


def _check_text(spec: Field, v: object) -> tuple[object, str | None]:
    if not isinstance(v, str):
        return None, f"must be text, got {_kind_of(v)} (put it in quotes)"
    if len(v) > spec.max_len:
        return None, f"must be at most {spec.max_len} characters, got {len(v)}"
    if not v.isascii() and _SURROGATE.search(v):
        # JSON can spell half a character (\ud800); it is not text, and no output could hold it
        return None, "must be valid Unicode text, got a lone surrogate escape (\\ud800-\\udfff)"
    return v, None


def _check_id(spec: Field, v: object) -> tuple[object, str | None]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return None, f"must be text, got {_show(v)} (put it in quotes)"
    if not isinstance(v, str) or not _ID.fullmatch(v):
        return (
            None,
            f"must be 1 to 64 letters, digits, hyphens, underscores or dots, got {_show(v, text_expected=True)}",
        )
    if v in _PLACEHOLDER_IDS:
        return None, f"{v!r} is the template's placeholder: give the case's own pseudonymous id"
    return v, None


def _check_date(spec: Field, v: object) -> tuple[object, str | None]:
    # YAML gives a date for an unquoted 2026-11-02, JSON gives the string; a datetime is not a date
    day: date | None = None
    if isinstance(v, date) and not isinstance(v, datetime):
        day = v
    elif isinstance(v, str) and _ISO_DATE.fullmatch(v):
        try:
            day = date.fromisoformat(v)
        except ValueError:
            return None, f"is not a real date, got {_show(v, text_expected=True)}"
    if day is None:
        return None, f"must be a date written YYYY-MM-DD, got {_show(v)}"
    if day > date.today():
        return None, f"must not be in the future, got {day.isoformat()}"
    return day.isoformat(), None


def _check_version(spec: Field, v: object) -> tuple[object, str | None]:
    return (v, None) if type(v) is int and v == 1 else (None, f"must be 1, got {_show(v)}")


_CHECKS: dict[str, Callable[[Field, object], tuple[object, str | None]]] = {
    "int": _check_int,
    "bool": _check_bool,
    "enum": _check_enum,
    "text": _check_text,
    "id": _check_id,
    "date": _check_date,
    "version": _check_version,
}


# --------------------------------------------------------------------------- the walker


def _key_text(key: object) -> str:
    """A key as it appears in a dotted path; odd keys are quoted so a message stays one line."""
    return key if isinstance(key, str) and re.fullmatch(r"[\w-]+", key) else repr(key)


class _Walker:
    """Validates a parsed value against ``_SCHEMA`` and builds the normalised record."""

    def __init__(self, lines: Lines | None, source: str):
        self.lines = lines
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, path: PathKey, message: str, at: PathKey | None = None) -> None:
        line = self.lines.line(path if at is None else at) if self.lines is not None else None
        text = ".".join(_key_text(k) for k in path)
        self.problems.append(Problem(self.source, line, text, message))

    def block(self, spec: Block, value: dict[Any, Any], path: PathKey) -> dict[str, Any]:
        fields = spec.fields
        for key in value:
            if key not in fields:
                close = closest(key, fields)
                if close:  # close to a known key: a typo, named with the suggestion
                    self.problem(path + (key,), f"unknown key{did_you_mean(close)}")
                else:  # anything else may be health data typed as a key: described, not named
                    self.problem(path, f"{_unknown_key(key)} is not a field of intake-v1", at=path + (key,))
        out: dict[str, Any] = {}
        checks = _CHECKS
        for name, sub, is_block, kind, optional in spec.entries:
            given = value.get(name)
            if is_block:
                out[name] = self.sub_block(sub, given, path + (name,))
            elif given is not None:
                # the valid answers of the common kinds inline, as _check_int, _check_bool and
                # _check_enum accept them (a call each was a fifth of the walk)
                if kind == "int":
                    if type(given) is int and sub.lo <= given <= sub.hi:
                        out[name] = given
                        continue
                elif kind == "bool":
                    if given is True or given is False:
                        out[name] = given
                        continue
                elif kind == "enum" and isinstance(given, str) and given in sub.choices:
                    out[name] = given
                    continue
                checked, message = checks[kind](sub, given)
                if message:
                    self.problem(path + (name,), message)
                    checked = sub.default
                out[name] = checked
            elif optional and (sub.default is None or name not in value):
                out[name] = sub.default  # left out, or null where null means the default: no problem
            else:
                out[name] = self.missing(sub, name in value, path + (name,), out)
        if spec.when_absent == "area" and out["present"] is not True:
            # details of an area that is not there are dropped, so no rule can read them
            out = _absent(spec)
        return out

    def sub_block(self, spec: Block, value: object, path: PathKey) -> Any:
        if value is not None and not isinstance(value, dict):
            self.problem(path, f"must be a mapping of fields, got {_show(value)}")
            value = None
        if value is None and spec.when_absent != "walk":
            return None if spec.when_absent == "none" else _absent(spec)
        return self.block(spec, value or {}, path)

    def missing(self, spec: Field, given: bool, path: PathKey, siblings: dict[str, Any]) -> object:
        """The value of a leaf that was omitted (``given`` False) or null."""
        if spec.required or (spec.required_if and siblings.get(spec.required_if) is True):
            condition = f" when {spec.required_if} is true" if spec.required_if else ""
            self.problem(path, f"required{condition}")
        elif given and spec.default is not None:
            # null would be read as "not asked"; only omitting the key means the default
            self.problem(path, _CHECKS[spec.kind](spec, None)[1] or "must not be null")
        return spec.default


def _unknown_key(key: object) -> str:
    n = len(str(key))
    return f"an unknown key, {n:,} character{'s' if n != 1 else ''}"


def safe_path(path: PathKey) -> tuple[str, str]:
    """``path`` as a message may show it: the known keys, and an unknown one only when it is
    close to a known key; otherwise the path stops before it and the note describes it."""
    spec: Any = _SCHEMA
    shown_parts: list[str] = []
    for key in path:
        fields = spec.fields if isinstance(spec, Block) else {}
        if key in fields:
            shown_parts.append(str(key))
            spec = fields[key]
            continue
        if isinstance(key, str) and fields and closest(key, fields) and len(key) <= 40:
            shown_parts.append(_key_text(key))
            spec = None
            continue
        return ".".join(shown_parts), f" (at {_unknown_key(key)})"
    return ".".join(shown_parts), ""


def is_free_text(path: PathKey) -> bool:
    """Whether ``path`` is a free-text field (notes, a reason, who with, what changed)."""
    return ".".join(str(k) for k in path) in _FREE_TEXT


def _absent(spec: Block) -> dict[str, Any]:
    """The normalised value of a block that was not given (areas: not present)."""
    return {
        name: (None if sub.when_absent == "none" else _absent(sub)) if isinstance(sub, Block) else sub.default
        for name, sub in spec.fields.items()
    }


def _validate(value: object, lines: Lines | None, source: str) -> tuple[dict[str, Any], list[Problem]]:
    walker = _Walker(lines, source)
    if not isinstance(value, dict):
        walker.problem((), f"an intake must be a mapping of fields (key: value), got {_show(value)}")
        return {}, walker.problems
    return walker.block(_SCHEMA, value, ()), walker.problems


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class Intake:
    """A validated intake: the normalised ``record`` (read-only by convention) and where it came from."""

    record: dict[str, Any]
    source: str = field(compare=False)
    sha256: str = field(compare=False)

    def get(self, dotted_path: str) -> Any:
        """The value at ``dotted_path`` (e.g. ``risk.cssrs.intent``); ``None`` when absent or unknown.

        A path the schema does not know raises ``KeyError``: a typo must not read as "unknown".
        """
        if dotted_path not in _KNOWN_PATHS:
            raise KeyError(
                f"{dotted_path}: not an intake field{did_you_mean(closest(dotted_path, sorted(_KNOWN_PATHS)))}"
            )
        value: Any = self.record
        for part in dotted_path.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    @property
    def case_id(self) -> str:
        """The pseudonymous case id."""
        return str(self.record["id"])


def _canonical_sha256(value: object) -> str:
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def _build(value: object, lines: Lines | None, source: str, sha256: str | None, earlier: list[Problem]) -> Intake:
    record, problems = _validate(value, lines, source)
    # a path the parser already reported (refused tag, duplicate key) is not reported twice
    reported = {p.path for p in earlier}
    problems = earlier + [
        p for p in problems if not any(r and (p.path == r or p.path.startswith(r + ".")) for r in reported)
    ]
    if problems:
        raise IntakeError(problems)
    return Intake(record, source, sha256 or _canonical_sha256(value))


def from_mapping(value: object, lines: Lines | None, source: str) -> Intake:
    """Validate an already-parsed mapping (a JSONL line, a CSV row); raises ``IntakeError``."""
    return _build(value, lines, source, None, [])


def load_intake(data: bytes | str, source: str) -> Intake:
    """Parse YAML or JSON text and validate it; raises ``IntakeError`` with every problem."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        value, lines, problems = yamlio.load(data, source, safe_path, is_free_text)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        # PyYAML raises plain exceptions for values such as 2026-02-30 or `!!int abc`
        raise IntakeError([Problem(source, None, "", "malformed YAML/JSON: a value cannot be read")]) from None
    # some parser messages span lines ("... in <unicode string>, position 2"); a problem is one line
    problems = [Problem(p.source, p.line, p.path, " ".join(p.message.split())) for p in problems]
    if value is None and problems:
        raise IntakeError(problems)
    return _build(value, lines, source, hashlib.sha256(raw).hexdigest(), problems)


def read_stdin() -> bytes:
    """Standard input, bounded; ``IntakeError`` if it is closed (``assess - <&-``)."""
    try:
        if sys.stdin is None:
            raise OSError("closed")
        return sys.stdin.buffer.read(yamlio.MAX_BYTES + 1)
    except (OSError, ValueError, AttributeError):
        raise IntakeError([Problem("<stdin>", None, "", "cannot read: standard input is closed")]) from None


def read_intake_file(path: str, label: str | None = None) -> tuple[bytes, str]:
    """The bytes of an intake file (``-`` = standard input), bounded, and the name its
    messages use (``label``, else the path): the one reader of intake files."""
    if path == "-":
        return read_stdin(), "<stdin>"
    shown = path if label is None else label
    try:
        with open(path, "rb") as handle:
            return handle.read(yamlio.MAX_BYTES + 1), shown  # one byte over is enough to say "too large"
    except OSError as exc:
        raise IntakeError([Problem(shown, None, "", f"cannot read file: {exc.strerror or exc}")]) from None


def load_intake_file(path: str) -> Intake:
    """Read and validate one intake file; ``-`` reads standard input."""
    return load_intake(*read_intake_file(path))


def _coerce_cell(spec: Field | None, cell: str) -> tuple[object, str | None]:
    """One CSV cell as the type its column expects; unknown columns stay text."""
    text = cell.strip()
    if spec is None or spec.kind == "text":
        return cell, None
    if spec.kind in ("int", "version"):
        if re.fullmatch(r"[+-]?\d{1,100}", text):
            return int(text), None
        return None, f"must be a whole number, got {cell[:40]!r}"
    if spec.kind == "bool":
        if text.lower() in ("true", "false"):  # spreadsheets write TRUE/FALSE
            return text.lower() == "true", None
        return None, f"must be true or false, got {cell[:40]!r}"
    return text, None  # enum, id, date: validated as text by from_mapping


def coerce_strings(flat: dict[str, str], source: str, row: int) -> tuple[dict[str, Any], list[Problem]]:
    """Turn one CSV row (dotted column -> cell text) into a nested mapping for ``from_mapping``.

    An empty cell means absent, so a row with no C-SSRS answers has no C-SSRS block.
    Booleans are ``true``/``false`` (any case), integers plain digits; other cells stay
    text. Unknown columns are kept as text so ``from_mapping`` reports them with a
    suggestion. Problems carry ``row`` as their line.
    """
    nested: dict[str, Any] = {}
    problems: list[Problem] = []
    for column, cell in flat.items():
        if column is None:  # csv.DictReader puts surplus cells under None
            problems.append(Problem(source, row, "", "row has more cells than the header"))
            continue
        if cell is None or cell == "":  # DictReader gives None for missing trailing cells
            continue
        value, message = _coerce_cell(_FIELDS.get(column), cell)
        *parents, last = column.split(".")
        target: Any = nested
        for part in parents:
            target = target.setdefault(part, {}) if isinstance(target, dict) else None
        if message is None and (not isinstance(target, dict) or isinstance(target.get(last), dict)):
            message = "column clashes with another column"
        if message is not None:
            problems.append(Problem(source, row, column, message))
            continue
        target[last] = value
    return nested, problems

"""The intake form, generated from the one intake schema (``intake.SCHEMA``).

Nothing here is written per field: each schema leaf becomes one input whose ``name`` is its
dotted path (as in CSV columns), with the schema's label, help and choice words; a widget is
chosen from the field's kind. A submission is read exactly like a CSV row (the same
coercion and validation as ``intake check`` and ``audit``), so the form can accept nothing
a file could not.

Skip logic: a question is shown only when what it depends on holds. For interpersonal areas
that is the schema's own rule (details only when the area is present; validation drops them
otherwise); for the C-SSRS it is the rule set's ``asked_when`` (Q3-Q5 only after a yes to
Q2). The server applies the C-SSRS rule without JavaScript: an answer to a question the
screener skips is dropped when it is "no", and refused when it is "yes" (a recorded yes is
never thrown away: the clinician corrects Q2 or the answer).
"""

from __future__ import annotations

from dataclasses import field
from ..core.precompiled_classes import dataclass
from datetime import date
from typing import Any

from ..intake.corpus import RawRecord, parse
from ..core.errors import IntakeError, Problem
from ..intake.schema import SCHEMA, Block, Field, Intake, area_rule
from ..core.wording import spelled, value_words

SOURCE = "form"
#: Blocks that are not part of the intake form (the sign-off page asks for them).
NOT_ON_FORM = ("clinician_decision",)
NOT_ASKED = "not asked"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass
class Input:
    """One form control: a schema leaf, with how it is shown."""

    path: str
    label: str
    help: str
    widget: str  # hidden | text | textarea | date | number | radio | select
    required: bool
    choices: tuple[Choice, ...] = ()
    lo: int | None = None
    hi: int | None = None
    max_len: int | None = None
    asked_when: tuple[tuple[str, str], ...] = ()  # (path, value): shown only when each holds

    @property
    def id(self) -> str:
        return "f-" + self.path.replace(".", "-").replace("_", "-")


@dataclass
class Group:
    """A schema block: a section of the form (top level) or a fieldset inside one."""

    key: str
    title: str
    help: str
    items: list[Any] = field(default_factory=list)  # Input | Group


def _widget(spec: Field) -> tuple[str, tuple[Choice, ...]]:
    """The control for a leaf and its choices. An optional answer gets an explicit empty
    choice: "not asked" for a question, or the schema's words for no choice (its
    ``choice_labels`` entry for ""); a required-if choice starts blank ("—")."""
    words = dict(spec.choice_labels)
    empty: tuple[Choice, ...] = ()
    if not spec.required and spec.default is None:
        empty = (Choice("", words.get("", "—" if spec.required_if else NOT_ASKED)),)
    if spec.kind == "version":
        return "hidden", ()
    if spec.kind == "bool":
        return "radio", (Choice("true", "yes"), Choice("false", "no")) + empty
    if spec.kind == "enum":
        options = tuple(Choice(c, words.get(c, value_words(c))) for c in spec.choices)
        return ("radio" if len(options) <= 4 else "select"), options + empty
    if spec.kind == "int" and spec.hi - spec.lo <= 3:
        return "radio", tuple(Choice(str(n), str(n)) for n in range(spec.lo, spec.hi + 1)) + empty
    if spec.kind == "int":
        return "number", ()
    if spec.kind == "date":
        return "date", ()
    return ("textarea" if spec.kind == "text" and spec.max_len > 200 else "text"), ()


def build(block: Block, prefix: str, title: str, help: str, asked: dict[str, tuple[tuple[str, str], ...]]) -> Group:
    group = Group(prefix.rstrip(".") or "case", title, help)
    for name, spec in block.fields.items():
        path = prefix + name
        if isinstance(spec, Block):
            group.items.append(build(spec, path + ".", spec.label, spec.help, asked))
            continue
        widget, choices = _widget(spec)
        area = area_rule(path)
        when = ((area[0], "true"),) if area else asked.get(path, ())
        group.items.append(
            Input(
                path,
                spec.label,
                spec.help,
                widget,
                spec.required,
                choices,
                spec.lo if spec.kind == "int" else None,
                spec.hi if spec.kind == "int" else None,
                spec.max_len if spec.kind in ("text", "id") else None,
                when,
            )
        )
    return group


def skip_rules(ruleset: Any) -> dict[str, tuple[tuple[str, str], ...]]:
    """The rule set's ``asked_when`` as (intake path, form value) conditions per intake path."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for spec in ruleset.facts.values():
        if spec.source and spec.asked_when:
            out[spec.source] = tuple(
                (ruleset.facts[other].source, form_value(want))
                for other, want in spec.asked_when
                if ruleset.facts[other].source
            )
    return out


def sections(ruleset: Any) -> list[Group]:
    """The form: the top-level fields as one section, then one section per block, then each
    top-level field that follows the blocks (the notes) as a section of its own."""
    asked = skip_rules(ruleset)
    root = build(
        Block({k: v for k, v in SCHEMA.fields.items() if k not in NOT_ON_FORM}), "", SCHEMA.label, SCHEMA.help, asked
    )
    out: list[Group] = []
    after_blocks = False
    for item in root.items:
        if isinstance(item, Group):
            out.append(item)
            after_blocks = True
        elif after_blocks:
            out.append(Group(item.path, item.label, "", [item]))
        else:
            if not out:
                out.append(Group("case", root.title, root.help))
            out[0].items.append(item)
    return out


def inputs(groups: list[Group]) -> list[Input]:
    out: list[Input] = []
    for group in groups:
        for item in group.items:
            out.extend(inputs([item]) if isinstance(item, Group) else [item])
    return out


# --------------------------------------------------------------------------- values


def form_value(value: Any) -> str:
    """A stored or default value as the form spells it (what a CSV cell would hold)."""
    return "" if value is None else spelled(value)  # a date's str() is its ISO form


def defaults(groups: list[Group]) -> dict[str, str]:
    """A blank form: each field's schema default, today's date."""
    values: dict[str, str] = {}
    specs = leaf_specs()
    for item in inputs(groups):
        spec = specs[item.path]
        values[item.path] = "1" if spec.kind == "version" else form_value(spec.default)
    values["assessed_on"] = date.today().isoformat()
    return values


def leaf_specs(block: Block = SCHEMA, prefix: str = "") -> dict[str, Field]:
    out: dict[str, Field] = {}
    for name, spec in block.fields.items():
        if isinstance(spec, Block):
            out.update(leaf_specs(spec, prefix + name + "."))
        else:
            out[prefix + name] = spec
    return out


def flatten(mapping: Any, prefix: str = "") -> dict[str, str]:
    """A stored intake as form values (re-assessment starts from the last one)."""
    out: dict[str, str] = {}
    if isinstance(mapping, dict):
        for key, value in mapping.items():
            if isinstance(value, dict):
                out.update(flatten(value, f"{prefix}{key}."))
            else:
                out[prefix + str(key)] = form_value(value)
    return out


@dataclass
class Submission:
    """What a submitted form gave: the values as typed, and either an Intake or the problems."""

    values: dict[str, str]
    submitted: dict[str, Any] | None = None  # the mapping validated (as a CSV row gives it)
    intake: Intake | None = None
    problems: list[Problem] = field(default_factory=list)


def _skip(values: dict[str, str], groups: list[Group], labels: dict[str, str]) -> tuple[dict[str, str], list[Problem]]:
    """Apply the screener's skip logic (rule-set ``asked_when``; areas are validation's)."""
    cells = dict(values)
    problems = []
    for item in inputs(groups):
        if not item.asked_when or area_rule(item.path) is not None:
            continue
        unmet = [(other, want) for other, want in item.asked_when if cells.get(other, "") != want]
        if not unmet or cells.get(item.path, "") == "":
            continue
        if cells[item.path] == "true":
            other, want = unmet[0]
            problems.append(
                Problem(
                    SOURCE,
                    None,
                    item.path,
                    (
                        f"is yes, but this question is asked only when “{labels[other]}” is "
                        f"{'yes' if want == 'true' else want}: correct that answer, or set this one to {NOT_ASKED}"
                    ),
                )
            )
        else:
            cells[item.path] = ""  # not asked: the screener skips it
    return cells, problems


def read(form: Any, groups: list[Group]) -> Submission:
    """Read a submitted form: the same coercion and validation as a CSV row."""
    fields = inputs(groups)
    values = {item.path: str(form.get(item.path, "")) for item in fields}
    cells, problems = _skip(values, groups, {item.path: item.label for item in fields})
    from ..intake.schema import coerce_strings

    nested, cell_problems = coerce_strings(cells, SOURCE, 0)
    try:
        intake = parse(RawRecord(0, SOURCE, None, "row", cells))
    except IntakeError as exc:
        return Submission(values, problems=problems + list(exc.problems))
    if problems:
        return Submission(values, problems=problems)
    return Submission(values, nested if not cell_problems else None, intake)


def problems_by_field(problems: list[Problem], groups: list[Group]) -> dict[str, list[str]]:
    """Each problem under the input it is about (a block's problem under its first input);
    record-level problems under ''."""
    paths = [item.path for item in inputs(groups)]
    out: dict[str, list[str]] = {}
    for p in problems:
        target = p.path if p.path in paths else next((x for x in paths if p.path and x.startswith(p.path + ".")), "")
        out.setdefault(target, []).append(p.message)
    return out

"""The rule model: what a loaded rule set *is*, independent of YAML and of the engine.

Values are frozen; a rule's source location is kept out of equality
(``compare=False``) so two rule-set versions compare by content.
"""

from __future__ import annotations

import functools
from dataclasses import field
from .precompiled_classes import dataclass
from typing import Any, Callable, TypeVar, Union

_T = TypeVar("_T")

# ---------------------------------------------------------------- conditions

#: Comparison operators of the rule language, with their negation.  The
#: negation table is what lets ``not`` be pushed down to the leaves so the
#: engine never needs negation-as-failure (see docs/rules.md, "Unknown values").
NEGATION = {
    "is": "is_not",
    "is_not": "is",
    "at_least": "below",
    "below": "at_least",
    "at_most": "above",
    "above": "at_most",
    "in": "not_in",
    "not_in": "in",
    "known": "unknown",
    "unknown": "known",
}
ORDER_OPS = ("at_least", "at_most", "above", "below")
SET_OPS = ("in", "not_in")
PRESENCE_OPS = ("known", "unknown")


@dataclass(frozen=True)
class Leaf:
    """``fact op value``: one test of one fact (``value`` is None for known/unknown)."""

    fact: str
    op: str
    value: Any = None
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # a list (``in``/``not_in``, as YAML gives it) is kept as a tuple: a frozen leaf is
        # hashable wherever it sits (a rule's condition, a text's variant, a banner)
        if isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))


@dataclass(frozen=True)
class All:
    """Every item holds (``all:``)."""

    items: tuple["Cond", ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AnyOf:
    """At least one item holds (``any:``)."""

    items: tuple["Cond", ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Not:
    """The item does not hold (``not:``); where the item is unknown, so is this, never true."""

    item: "Cond"
    line: int | None = field(default=None, compare=False)


Cond = Union[Leaf, All, AnyOf, Not]


def leaves(cond: Cond) -> list[Leaf]:
    """Every leaf of a condition, in reading order."""
    if isinstance(cond, Leaf):
        return [cond]
    if isinstance(cond, Not):
        return leaves(cond.item)
    return [leaf for item in cond.items for leaf in leaves(item)]


def negate(cond: Cond) -> Cond:
    """Push a negation down to the leaves (De Morgan + the operator table)."""
    if isinstance(cond, Leaf):
        return Leaf(cond.fact, NEGATION[cond.op], cond.value, cond.line)
    if isinstance(cond, Not):
        return nnf(cond.item)
    if isinstance(cond, All):
        return AnyOf(tuple(negate(c) for c in cond.items), cond.line)
    return All(tuple(negate(c) for c in cond.items), cond.line)


def nnf(cond: Cond) -> Cond:
    """Negation normal form: no ``Not`` nodes left."""
    if isinstance(cond, Leaf):
        return cond
    if isinstance(cond, Not):
        return negate(cond.item)
    if isinstance(cond, All):
        return All(tuple(nnf(c) for c in cond.items), cond.line)
    return AnyOf(tuple(nnf(c) for c in cond.items), cond.line)


# ------------------------------------------------------------------- effects
# Each effect keeps the line it was written on (out of equality, like a leaf's), so a
# mutation report or a lint message can point at it.


@dataclass(frozen=True)
class Variant:
    """A text that replaces an effect's (or a label's) default text for one case: the
    first variant whose ``when`` is true on the intake and the facts derived by the
    whole run is used (docs/rules.md, "Texts that depend on the case")."""

    when: Cond
    text: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Derive:
    """``derive: {fact: value}``: a derived fact another rule may read (e.g. the severity band)."""

    fact: str
    value: Any
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RaiseFlag:
    """``flag:``: a risk or caution flag with its level and the action it asks for."""

    code: str
    level: str
    action: str
    variants: tuple[Variant, ...] = ()
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ChooseFormat:
    """``format: {choose: …}``: the format this rule asks for, with the reason shown for it."""

    format: str
    reason: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ExcludeFormat:
    """``format: {exclude: …}``: a format ruled out; the policies' precedence gives the next more restrictive one."""

    format: str
    reason: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ProposeFocus:
    """``focus:``: a problem area proposed as the focus, on a basis the policies rank."""

    area: str
    basis: str
    reason: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AddCondition:
    """``condition:``: something the recommendation is conditional on, for some formats or all."""

    text: str  # the condition, or (with a topic) its detail; may be "" then
    if_format: tuple[str, ...] = ()  # empty: whatever the format
    variants: tuple[Variant, ...] = ()
    topic: str = ""  # conditions of one topic print as one (policies.conditions.topics)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SetStatus:
    """``status:``: the decision's status (``incomplete`` when a needed answer is missing)."""

    status: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Consider:
    """``consider:``: a point for the clinician that changes no outcome."""

    text: str
    if_format: tuple[str, ...] = ()  # empty: whatever the format
    variants: tuple[Variant, ...] = ()
    line: int | None = field(default=None, compare=False)


Effect = Union[Derive, RaiseFlag, ChooseFormat, ExcludeFormat, ProposeFocus, AddCondition, SetStatus, Consider]


# --------------------------------------------------------------------- rules


@dataclass(frozen=True)
class RuleTest:
    """One of a rule's embedded tests: an intake fragment and what the decision must show."""

    name: str
    intake: dict[str, Any] = field(compare=False, hash=False)
    expect: dict[str, Any] = field(compare=False, hash=False)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Governance:
    """Who keeps a rule and when it is next reviewed (Arden-style maintenance), per rule or
    for a whole file; every field optional, dates as ISO text (YYYY-MM-DD)."""

    author: str = ""
    reviewed_on: str = ""
    review_due: str = ""
    approved_by: str = ""

    def items(self) -> list[tuple[str, str]]:
        """The fields that are set, in a fixed order, for pages and diffs."""
        return [
            (k, v)
            for k, v in (
                ("author", self.author),
                ("reviewed_on", self.reviewed_on),
                ("review_due", self.review_due),
                ("approved_by", self.approved_by),
            )
            if v
        ]


@dataclass(frozen=True)
class Rule:
    """One rule as written in ``rules/*.yaml``: its condition, effects, rationale, references and tests."""

    id: str
    title: str
    version: str
    status: str
    area: str
    rationale: str
    references: tuple[str, ...]
    when: Cond
    then: tuple[Effect, ...]
    tests: tuple[RuleTest, ...] = field(compare=False)
    evidence: str = "consistent"  # or "mixed": the report then names what would change the decision
    file: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)
    governance: Governance = field(default=Governance(), compare=False)  # never changes a decision

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class FactCodes:
    """How FHIR R4 data carries one input fact (facts.yaml ``codes:``): the LOINC code of the
    item (a QuestionnaireResponse item's linkId, an Observation's code) and of its panel, the
    coded answers and the value each one means, and for a total the items it sums."""

    loinc: str
    panel: str | None = None
    answers: dict[str, Any] = field(default_factory=dict, hash=False)  # LOINC answer (LA) code -> value
    answer_set: str | None = None
    items: tuple[str, ...] = ()  # a total: the item codes whose answers it sums
    asked_after_yes: str | None = None  # asked only after a yes to this item; a no there is a no here


@dataclass(frozen=True)
class FactSpec:
    """One fact rules may read: an intake answer (``source``) or a value derived by rules."""

    name: str
    type: str  # integer | boolean | enum
    label: str
    source: str | None = None  # dotted intake path; None for derived facts
    values: tuple[Any, ...] = ()  # enum values
    range: tuple[int, int] | None = None
    asked_when: tuple[tuple[str, Any], ...] = ()  # unknown only counts as "not assessed" when these hold
    description: str = ""
    line: int | None = field(default=None, compare=False)
    # how reports name each value (enum and integer facts); a value without one prints as itself
    value_labels: dict[Any, str] = field(default_factory=dict, compare=False, hash=False)
    label_variants: tuple[Variant, ...] = ()  # the label for one case (e.g. by age)
    declined_when: tuple[tuple[str, Any], ...] = ()  # an unknown value then reads "declined"
    codes: FactCodes | None = field(default=None, compare=False, hash=False)  # how FHIR data carries it
    risk_answer: bool = False  # a risk answer outside the intake's risk block: never offered as a change

    @property
    def derived(self) -> bool:
        return self.source is None

    @property
    def key(self) -> str:
        """How the trace and reports name this fact: its intake path, or its own name."""
        return self.source or self.name


@dataclass(frozen=True)
class Policies:
    """How fired rules aggregate into a decision (manifest ``policies``): nothing clinical is hard-coded."""

    format_precedence: tuple[str, ...]
    format_fallback: str
    format_fallback_reason: str
    format_labels: dict[str, str] = field(compare=False, hash=False)
    focus_areas: tuple[str, ...] = ()
    focus_basis: tuple[str, ...] = ()
    focus_max: int = 2
    area_labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    flag_levels: tuple[str, ...] = ("critical", "warning", "info")
    severity: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    status_default: str = "complete"
    # urgency: flag codes most urgent first, ordering flags within a level (and, with
    # condition_order "flag_urgency", the conditions); codes not listed keep trace order
    flag_urgency: tuple[str, ...] = ()
    condition_order: str = "trace"  # trace | flag_urgency
    condition_topics: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    banners: tuple["Banner", ...] = ()
    risk_answers: tuple[str, ...] = ()  # facts listed in a report's "risk answers as recorded"
    # format -> words that tie a text to that format: lint wants such a text scoped (if_format)
    scoped_words: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    # manifest line of each policy entry a mutation report may point at, by dotted path
    # ("flags.urgency.3", "conditions.order")
    lines: dict[str, int | None] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Banner:
    """A line shown above everything else when its trigger holds: a flag raised (at
    ``flag_level`` when given) or the decision's status."""

    level: str
    text: str
    flag: str = ""
    flag_level: str = ""
    status: str = ""
    variants: tuple[Variant, ...] = ()
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DecisionTable:
    """Rules that split the range of one or more facts into bands (manifest ``decision_tables``):
    shown DMN-style in the catalog, and checked by lint for gaps and overlaps."""

    name: str
    title: str
    inputs: tuple[str, ...]  # the banded facts (integer ranges, enum or boolean values)
    rules: tuple[str, ...] = ()  # the rule ids of the table ...
    output: str = ""  # ... and/or every rule deriving this fact
    given: tuple[tuple[str, Any], ...] = ()  # facts fixed for the whole table (e.g. grief present)
    complete: bool = True  # every input combination meets a rule
    unique: bool = True  # no combination meets two rules
    note: str = ""
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FlagCode:
    """A flag code the rule set declares, with what it means."""

    code: str
    description: str


@dataclass(frozen=True)
class RuleSet:
    """A loaded, checked rule set: its facts, rules, policies, flag codes and sources, and their sha256."""

    name: str
    version: str
    description: str
    sha256: str
    root: str = field(compare=False)  # the directory as shown in messages
    facts: dict[str, FactSpec] = field(compare=False, hash=False)
    rules: tuple[Rule, ...] = ()
    policies: Policies | None = None
    flags: dict[str, FlagCode] = field(default_factory=dict, compare=False, hash=False)
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    test_baseline: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    max_firings: int = 1000
    max_seconds: float = 5.0
    handout: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # the client handout's texts
    tables: tuple[DecisionTable, ...] = field(default=(), compare=False)
    # what ``memo`` computed: not an argument, so dataclasses.replace() starts a new one
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @property
    def active_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.status == "active")

    def memo(self, factory: Callable[[RuleSet], _T]) -> _T:
        """``factory(self)``, computed once per rule set: what the hot path derives
        from the rules (lookup plans, trace texts) lives as long as the rules do."""
        cache = self._memo  # the dict is the rule set's own; filling it leaves the rule set frozen
        if factory not in cache:
            cache[factory] = factory(self)
        return cache[factory]  # type: ignore[no-any-return]  # stored by this very factory

    @functools.cached_property
    def by_id(self) -> dict[str, Rule]:
        """Rules by id (the first of duplicates, which lint reports)."""
        out: dict[str, Rule] = {}
        for r in self.rules:
            out.setdefault(r.id, r)
        return out

    def rule(self, rule_id: str) -> Rule:
        return self.by_id[rule_id]

    def citations(self, rule: Rule) -> list[str]:
        """A rule's references, expanded to full citations."""
        return [self.sources.get(ref, ref) for ref in rule.references]

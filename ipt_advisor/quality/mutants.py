"""Mutants of a rule set: small, meaningful edits a rule author could make by mistake.

Each mutant changes ONE node of ONE active rule (a condition leaf or group, one ``then``
effect, or one of an effect's text variants) or ONE entry of the manifest's policies,
and says where (``file:line``) and what, in words.  If the tests still pass on a mutant,
nothing pins that part of the rules (docs/rules.md, "Mutation testing").  The operators:

===============  ====================================================================
drop-leaf        a test of a fact is removed (an ``all`` needs one criterion less, an
                 ``any`` accepts one alternative less; the last test of a group takes
                 the group with it, the only test of a rule makes it always fire)
negate-leaf      a test is negated (``is`` ↔ ``is_not``, ``at_least`` ↔ ``below`` ...)
threshold        a number moves one step either way (``at_least: 16`` → 15 and 17)
boundary         ``at_least`` ↔ ``above``, ``at_most`` ↔ ``below`` (same number)
literal          an ``is``/``is_not`` value becomes each other value the fact can take
in-list          a value is removed from, or added to, an ``in``/``not_in`` list
any-all          an ``all`` becomes ``any`` and the other way round
drop-not         a ``not`` is removed
drop-effect      one ``then`` effect is removed
flag-level       a flag's level is lowered one step (critical → warning → info)
format           a chosen or excluded format becomes a neighbouring one
derive-value     a derived value becomes each other value of its fact
focus            a focus proposal's basis swaps, or its area becomes the next one
drop-variant     a text variant (of a flag's action, a condition, a consideration or a
                 banner) is removed: the default text prints in its cases
topic            a condition's topic becomes another topic, or (with a detail of its
                 own) is dropped so the detail prints alone
if-format        a condition's or consideration's ``if_format`` scope is dropped (it
                 prints in every format) or loses one of its formats
urgency          a flag code leaves the urgency list, or two neighbours swap
condition-order  the conditions' order: ``flag_urgency`` ↔ ``trace``
banner           a banner is removed, loses its ``flag_level``, or swaps with the next
===============  ====================================================================

The eight condition operators also apply to the condition (``when``) of every text
variant, of a rule's effect or of a banner: a variant's condition is a condition too.

Mutants that mean the same as an earlier mutant of the same rule (on whole numbers
``above 16`` is ``at_least 17``; on a yes/no fact ``is_not true`` is ``is false``) are
generated once; ``duplicates`` counts the others.
"""

from __future__ import annotations

import dataclasses
from ..core.precompiled_classes import dataclass
from typing import Any, Iterator

from ..report.words import brief_condition, leaf_words
from ..core.model import (
    NEGATION,
    AddCondition,
    All,
    AnyOf,
    Banner,
    ChooseFormat,
    Cond,
    Consider,
    Derive,
    Effect,
    ExcludeFormat,
    Leaf,
    Not,
    Policies,
    ProposeFocus,
    RaiseFlag,
    Rule,
    RuleSet,
    SetStatus,
    Variant,
)
from ..core.wording import clip, describe_effect, effect_owner
from ..ruleset.load import MANIFEST

OPERATORS = (
    "drop-leaf",
    "negate-leaf",
    "threshold",
    "boundary",
    "literal",
    "in-list",
    "any-all",
    "drop-not",
    "drop-effect",
    "flag-level",
    "format",
    "derive-value",
    "focus",
    "drop-variant",
    "topic",
    "if-format",
    "urgency",
    "condition-order",
    "banner",
)
_BOUNDARY = {"at_least": "above", "above": "at_least", "at_most": "below", "below": "at_most"}


@dataclass(frozen=True)
class Mutant:
    number: int  # 1-based, in generation order (rule-file order, then node order; policies last)
    rule_id: str  # the rule changed; "" for a change to the manifest's policies
    operator: str  # one of OPERATORS
    location: str  # file:line of the node it changes
    change: str  # the change in words
    rule: Rule | None  # the mutated rule (same id); None for a policy mutant
    target: str = "when"  # when (the rule's condition) | then (an effect, or one of its variants) | policies
    effect: int | None = None  # then: the index of the effect changed
    variant: int | None = None  # the index of the text variant changed, when one is (of the effect or banner)
    banner: int | None = None  # policies: the index of the banner changed, when one is
    policies: Policies | None = None  # policies: the changed policies
    home: str = ""  # the rule whose tests should pin it: the rule itself, or for a policy the rule it concerns

    @property
    def on_condition(self) -> bool:
        """Whether it changes the rule's own condition (so it can change which rules fire)."""
        return self.target == "when"

    @property
    def subject(self) -> str:
        """What it changes, for a report: the rule id, or ``policies``."""
        return self.rule_id or "policies"


@dataclass(frozen=True)
class Generated:
    mutants: tuple[Mutant, ...]
    duplicates: int  # mutants left out because an earlier one of the same rule means the same


@dataclass(frozen=True)
class _Raw:
    operator: str
    line: int | None
    change: str
    when: Cond = All(())
    then: tuple[Effect, ...] = ()
    target: str = "when"
    effect: int | None = None
    variant: int | None = None
    banner: int | None = None
    policies: Policies | None = None
    home: str = ""


def generate(ruleset: RuleSet, rule_ids: list[str] | None = None, operators: tuple[str, ...] = OPERATORS) -> Generated:
    """Every mutant of every active rule (or of ``rule_ids`` only), in rule-file order,
    then (unless ``rule_ids`` are given) every mutant of the manifest's policies."""
    out: list[Mutant] = []
    duplicates = 0
    for rule in ruleset.active_rules:
        if rule_ids and rule.id not in rule_ids:
            continue
        seen = {_key(rule.when, rule.then, ruleset)}
        for raw in _rule_mutants(rule, ruleset):
            if raw.operator not in operators:
                continue
            key = _key(raw.when, raw.then, ruleset)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            out.append(
                Mutant(
                    len(out) + 1,
                    rule.id,
                    raw.operator,
                    f"{rule.file}:{raw.line or rule.line}",
                    raw.change,
                    dataclasses.replace(rule, when=raw.when, then=raw.then),
                    raw.target,
                    raw.effect,
                    raw.variant,
                    home=rule.id,
                )
            )
    if not rule_ids and ruleset.policies is not None:
        manifest = f"{ruleset.root}/{MANIFEST}"
        seen_policies = {_policy_key(ruleset.policies, ruleset)}
        for raw in _policy_mutants(ruleset):
            if raw.operator not in operators:
                continue
            key = _policy_key(raw.policies, ruleset)  # type: ignore[arg-type]
            if key in seen_policies:
                duplicates += 1
                continue
            seen_policies.add(key)
            out.append(
                Mutant(
                    len(out) + 1,
                    "",
                    raw.operator,
                    f"{manifest}:{raw.line}" if raw.line else manifest,
                    raw.change,
                    None,
                    "policies",
                    None,
                    raw.variant,
                    raw.banner,
                    raw.policies,
                    raw.home,
                )
            )
    return Generated(tuple(out), duplicates)


def mutated_ruleset(ruleset: RuleSet, mutant: Mutant) -> RuleSet:
    """The rule set with the mutant's rule (or policies) in place of the original."""
    if mutant.policies is not None:
        return dataclasses.replace(ruleset, policies=mutant.policies)
    rules = tuple(mutant.rule if r.id == mutant.rule_id and r.status == "active" else r for r in ruleset.rules)
    return dataclasses.replace(ruleset, rules=rules)  # type: ignore[arg-type]  # a rule mutant has its rule


# ------------------------------------------------------------------ a rule's mutants

Path = tuple[int, ...]


def _rule_mutants(rule: Rule, ruleset: RuleSet) -> Iterator[_Raw]:
    for operator, line, change, new in condition_mutants(rule.when, ruleset, "the rule fires for every intake"):
        yield _Raw(operator, line, change, new, rule.then)
    for i, effect in enumerate(rule.then):

        def put(new_effect: Effect | None) -> tuple[Effect, ...]:
            return rule.then[:i] + ((new_effect,) if new_effect is not None else ()) + rule.then[i + 1 :]

        for operator, change, new_effect in _effect_mutants(effect, ruleset):
            yield _Raw(operator, effect.line, change, rule.when, put(new_effect), "then", i)
        what = effect_owner(effect)
        for k, operator, line, change, variants in _variant_mutants(getattr(effect, "variants", ()), ruleset, what):
            yield _Raw(
                operator,
                line or effect.line,
                change,
                rule.when,
                put(dataclasses.replace(effect, variants=variants)),  # type: ignore[arg-type]  # only effects with variants reach here
                "then",
                i,
                k,
            )


def condition_mutants(root: Cond, ruleset: RuleSet, always: str) -> Iterator[tuple[str, int | None, str, Cond]]:
    """(operator, line, change, mutated condition) for every node of ``root``; ``always``
    says what it means when the only test is dropped (the condition is then always true)."""
    for path, node in _nodes(root):
        for operator, change, new in _node_mutants(node, path, root, ruleset, always):
            yield operator, node.line, change, new


def _nodes(cond: Cond, path: Path = ()) -> Iterator[tuple[Path, Cond]]:
    yield path, cond
    if isinstance(cond, Not):
        yield from _nodes(cond.item, path + (0,))
    elif isinstance(cond, (All, AnyOf)):
        for i, child in enumerate(cond.items):
            yield from _nodes(child, path + (i,))


def _node_mutants(node: Cond, path: Path, root: Cond, ruleset: RuleSet, always: str) -> Iterator[tuple[str, str, Cond]]:
    if isinstance(node, Leaf):
        words = _quote(leaf_words(node, ruleset))
        removed = _remove(root, path)
        everything = isinstance(removed, All) and not removed.items
        yield "drop-leaf", f"drop {words}" + (f": {always}" if everything else ""), removed
        for op, new in _leaf_variants(node, ruleset):
            yield op, f"{words} → {_quote(leaf_words(new, ruleset))}", _replace(root, path, new)
    elif isinstance(node, Not):
        yield "drop-not", f"drop the \"not\" before {_group_words(node.item, ruleset)}", _replace(root, path, node.item)
    elif len(node.items) >= 2:
        flipped: Cond = AnyOf(node.items, node.line) if isinstance(node, All) else All(node.items, node.line)
        old, new = ("all of", "any of") if isinstance(node, All) else ("any of", "all of")  # type: ignore[assignment]
        yield "any-all", f'"{old}" → "{new}" ({len(node.items)} parts)', _replace(root, path, flipped)


def _leaf_variants(leaf: Leaf, ruleset: RuleSet) -> Iterator[tuple[str, Leaf]]:
    spec = ruleset.facts.get(leaf.fact)
    op, value = leaf.op, leaf.value

    def make(new_op: str, new_value: Any) -> Leaf:
        return Leaf(leaf.fact, new_op, new_value, leaf.line)

    yield "negate-leaf", make(NEGATION[op], value)
    if _is_number(value) and op not in ("in", "not_in"):
        for step in (-1, 1):
            yield "threshold", make(op, value + step)
    if op in _BOUNDARY:
        yield "boundary", make(_BOUNDARY[op], value)
    domain = _domain(spec, ruleset)
    if op in ("is", "is_not") and domain and not _is_number(value):
        for other in domain:
            if other != value:
                yield "literal", make(op, other)
    if op in ("in", "not_in") and isinstance(value, tuple):
        if len(value) > 1:
            for v in value:
                yield "in-list", make(op, tuple(x for x in value if x != v))
        for other in domain or ():
            if other not in value:
                yield "in-list", make(op, value + (other,))


def _domain(spec: Any, ruleset: RuleSet) -> tuple[Any, ...]:
    """The values a fact can take, for literal mutants (integers: none, see threshold)."""
    if spec is None:
        return ()
    if spec.type == "boolean":
        return (True, False)
    return tuple(spec.values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def without(root: Cond, node: Cond) -> Cond:
    """``root`` with ``node`` (found by identity) dropped, as the drop-leaf operator does."""
    path = next(p for p, n in _nodes(root) if n is node)
    return _remove(root, path)


def _replace(root: Cond, path: Path, new: Cond) -> Cond:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(root, Not):
        return Not(_replace(root.item, rest, new), root.line)
    items = list(root.items)  # type: ignore[union-attr]
    items[head] = _replace(items[head], rest, new)
    return type(root)(tuple(items), root.line)  # type: ignore[arg-type]


def _remove(root: Cond, path: Path) -> Cond:
    """``root`` without the node at ``path``; a group (or ``not``) left empty goes too,
    and an empty root is ``all: []`` (always true), never an empty ``any``, which the
    engine would read differently from Kleene logic."""
    if not path:
        return All(())
    for cut in range(len(path), 0, -1):  # the deepest ancestor that keeps something
        parent_path, index = path[: cut - 1], path[cut - 1]
        parent = _at(root, parent_path)
        if isinstance(parent, (All, AnyOf)) and len(parent.items) > 1:
            items = parent.items[:index] + parent.items[index + 1 :]
            return _replace(root, parent_path, type(parent)(items, parent.line))
    return All(())


def _at(root: Cond, path: Path) -> Cond:
    node = root
    for index in path:
        node = node.item if isinstance(node, Not) else node.items[index]  # type: ignore[union-attr]
    return node


def _group_words(node: Cond, ruleset: RuleSet) -> str:
    if isinstance(node, Leaf):
        return _quote(leaf_words(node, ruleset))
    return '"all of"' if isinstance(node, All) else '"any of"' if isinstance(node, AnyOf) else '"not"'


def _quote(text: str) -> str:
    return f'"{text}"'


# ------------------------------------------------------------------ effect operators


def _effect_mutants(effect: Effect, ruleset: RuleSet) -> Iterator[tuple[str, str, Effect | None]]:
    policy = ruleset.policies
    assert policy is not None
    yield "drop-effect", f"drop {_quote(clip(describe_effect(effect)))}", None
    if isinstance(effect, RaiseFlag) and effect.level in policy.flag_levels:
        rank = policy.flag_levels.index(effect.level)
        if rank + 1 < len(policy.flag_levels):
            lower = policy.flag_levels[rank + 1]
            yield "flag-level", f"flag {effect.code} {effect.level} → {lower}", dataclasses.replace(effect, level=lower)
    precedence = policy.format_precedence
    if isinstance(effect, ChooseFormat) and effect.format in precedence:
        for other in _neighbours(precedence, effect.format):
            yield "format", f"choose {effect.format} → choose {other}", dataclasses.replace(effect, format=other)
    if isinstance(effect, ExcludeFormat) and effect.format in precedence:
        for other in _neighbours(precedence, effect.format):
            if other != precedence[0]:  # the most restrictive format cannot be excluded
                yield "format", f"exclude {effect.format} → exclude {other}", dataclasses.replace(effect, format=other)
    if isinstance(effect, Derive):
        for other in _domain(ruleset.facts.get(effect.fact), ruleset):
            if other != effect.value:
                yield (
                    "derive-value",
                    f"derive {describe_effect(effect)} → {describe_effect(Derive(effect.fact, other))}",
                    dataclasses.replace(effect, value=other),
                )
    if isinstance(effect, ProposeFocus):
        for basis in policy.focus_basis:
            if basis != effect.basis:
                yield (
                    "focus",
                    f"focus {effect.area}: basis {effect.basis} → {basis}",
                    dataclasses.replace(effect, basis=basis),
                )
        if effect.area in policy.focus_areas and len(policy.focus_areas) > 1:
            areas = policy.focus_areas
            other = areas[(areas.index(effect.area) + 1) % len(areas)]
            yield "focus", f"focus {effect.area} → {other}", dataclasses.replace(effect, area=other)
    if isinstance(effect, AddCondition):
        what = effect_owner(effect)
        for topic in policy.condition_topics if effect.topic else ():
            if topic != effect.topic:
                yield (
                    "topic",
                    f"{what}: topic {effect.topic or '(none)'} → {topic}",
                    dataclasses.replace(effect, topic=topic),
                )
        if effect.topic and effect.text:
            yield (
                "topic",
                f"{what}: drop the topic {effect.topic} (the detail prints alone)",
                dataclasses.replace(effect, topic=""),
            )
    if isinstance(effect, (AddCondition, Consider)) and effect.if_format:
        what = effect_owner(effect)
        scope = "/".join(effect.if_format)
        yield (
            "if-format",
            f"{what}: drop \"if_format: {scope}\" (it prints in every format)",
            dataclasses.replace(effect, if_format=()),
        )
        if len(effect.if_format) > 1:
            for fmt in effect.if_format:
                kept = tuple(f for f in effect.if_format if f != fmt)
                yield (
                    "if-format",
                    f"{what}: if_format {scope} → {'/'.join(kept)}",
                    dataclasses.replace(effect, if_format=kept),
                )


def _variant_mutants(
    variants: tuple[Variant, ...], ruleset: RuleSet, what: str
) -> Iterator[tuple[int, str, int | None, str, tuple[Variant, ...]]]:
    """(variant index, operator, line, change, the new variants) for each text variant: drop
    it, and every condition operator on its condition."""
    for k, variant in enumerate(variants):
        label = f"{what}, text variant {k + 1} (when {brief_condition(variant.when, ruleset)})"
        yield (
            k,
            "drop-variant",
            variant.line,
            f"{label}: dropped (the text before it prints instead)",
            variants[:k] + variants[k + 1 :],
        )
        for operator, line, change, new in condition_mutants(variant.when, ruleset, "the variant is always chosen"):
            yield (
                k,
                operator,
                line,
                f"{label}: {change}",
                variants[:k] + (dataclasses.replace(variant, when=new),) + variants[k + 1 :],
            )


def _neighbours(order: tuple[str, ...], item: str) -> list[str]:
    i = order.index(item)
    return [order[j] for j in (i + 1, i - 1) if 0 <= j < len(order)]


# ------------------------------------------------------------------ policy operators


def _policy_mutants(ruleset: RuleSet) -> Iterator[_Raw]:
    policy = ruleset.policies
    assert policy is not None
    urgency = policy.flag_urgency
    for i, code in enumerate(urgency):
        line = policy.lines.get(f"flags.urgency.{i}")
        home = _raiser(ruleset, code)
        yield _Raw(
            "urgency",
            line,
            f"flag urgency: drop {code} (it follows every listed code)",
            target="policies",
            policies=dataclasses.replace(policy, flag_urgency=urgency[:i] + urgency[i + 1 :]),
            home=home,
        )
        if i + 1 < len(urgency):
            swapped = urgency[:i] + (urgency[i + 1], code) + urgency[i + 2 :]
            yield _Raw(
                "urgency",
                line,
                f"flag urgency: {code} ↔ {urgency[i + 1]} (the next one)",
                target="policies",
                policies=dataclasses.replace(policy, flag_urgency=swapped),
                home=home,
            )
    other = "trace" if policy.condition_order == "flag_urgency" else "flag_urgency"
    if (
        sum(any(isinstance(e, AddCondition) for e in r.then) for r in ruleset.active_rules) > 1
    ):  # else no order to change
        yield _Raw(
            "condition-order",
            policy.lines.get("conditions.order"),
            f"conditions order: {policy.condition_order} → {other}",
            target="policies",
            policies=dataclasses.replace(policy, condition_order=other),
            home=next(
                (
                    r.id
                    for r in ruleset.active_rules
                    if any(isinstance(e, AddCondition) for e in r.then)
                    and any(isinstance(e, RaiseFlag) for e in r.then)
                ),
                "",
            ),
        )
    banners = policy.banners
    for i, banner in enumerate(banners):
        what = f'banner "{clip(banner.text, 40)}"'
        home = _banner_home(ruleset, banner)

        def put(new: Banner | None, i: int = i) -> Policies:
            return dataclasses.replace(
                policy, banners=banners[:i] + ((new,) if new is not None else ()) + banners[i + 1 :]
            )

        yield _Raw(
            "banner", banner.line, f"{what}: dropped", target="policies", banner=i, policies=put(None), home=home
        )
        if banner.flag_level:
            yield _Raw(
                "banner",
                banner.line,
                f"{what}: shown for {banner.flag} at any level, not only {banner.flag_level}",
                target="policies",
                banner=i,
                policies=put(dataclasses.replace(banner, flag_level="")),
                home=home,
            )
        if i + 1 < len(banners):
            swapped = banners[:i] + (banners[i + 1], banner) + banners[i + 2 :]  # type: ignore[assignment]
            yield _Raw(
                "banner",
                banner.line,
                f"{what} ↔ the next banner (their order)",
                target="policies",
                banner=i,
                policies=dataclasses.replace(policy, banners=swapped),  # type: ignore[arg-type]
                home=home,
            )
        for k, operator, line, change, variants in _variant_mutants(banner.variants, ruleset, what):
            yield _Raw(
                operator,
                line or banner.line,
                change,
                target="policies",
                variant=k,
                banner=i,
                policies=put(dataclasses.replace(banner, variants=variants)),
                home=home,
            )


def _raiser(ruleset: RuleSet, code: str, level: str = "") -> str:
    """The first active rule raising ``code`` (at ``level``, when given, if one does)."""
    raisers = [
        (r.id, e.level) for r in ruleset.active_rules for e in r.then if isinstance(e, RaiseFlag) and e.code == code
    ]
    return next((rid for rid, lvl in raisers if lvl == level), raisers[0][0] if raisers else "")


def _banner_home(ruleset: RuleSet, banner: Banner) -> str:
    if banner.flag:
        return _raiser(ruleset, banner.flag, banner.flag_level)
    return next(
        (
            r.id
            for r in ruleset.active_rules
            if any(isinstance(e, SetStatus) and e.status == banner.status for e in r.then)
        ),
        "",
    )


# ------------------------------------------------------------------ sameness


def _key(when: Cond, then: tuple[Effect, ...], ruleset: RuleSet) -> Any:
    return (_canonical(when, ruleset), tuple(_canonical_effect(e, ruleset) for e in then))


def _canonical_effect(effect: Effect, ruleset: RuleSet) -> Any:
    variants = getattr(effect, "variants", ())
    if not variants:
        return effect
    return (dataclasses.replace(effect, variants=()), _canonical_variants(variants, ruleset))  # type: ignore[arg-type]


def _canonical_variants(variants: tuple[Variant, ...], ruleset: RuleSet) -> Any:
    return tuple((_canonical(v.when, ruleset), v.text) for v in variants)


def _policy_key(policy: Policies, ruleset: RuleSet) -> Any:
    return (
        policy.flag_urgency,
        policy.condition_order,
        tuple((dataclasses.replace(b, variants=()), _canonical_variants(b.variants, ruleset)) for b in policy.banners),
    )


def _canonical(cond: Cond, ruleset: RuleSet) -> Any:
    """A hashable form in which conditions that mean the same compare equal (for the
    spellings one operator turns into another's)."""
    if isinstance(cond, Leaf):
        spec = ruleset.facts.get(cond.fact)
        op, value = cond.op, cond.value
        if isinstance(value, tuple):
            if len(value) == 1:
                op, value = ("is" if op == "in" else "is_not"), value[0]
            else:
                value = tuple(sorted(value, key=repr))
        if spec is not None and spec.type == "integer" and _is_number(value):
            if op == "above":
                op, value = "at_least", value + 1
            elif op == "below":
                op, value = "at_most", value - 1
        if spec is not None and spec.type == "boolean" and op == "is_not" and isinstance(value, bool):
            op, value = "is", not value
        return ("leaf", cond.fact, op, value)
    if isinstance(cond, Not):
        return ("not", _canonical(cond.item, ruleset))
    return (type(cond).__name__, tuple(_canonical(c, ruleset) for c in cond.items))

"""The client handout ("what to expect"): texts are data in the rule folder, chosen per case.

The manifest names the file (``handout: handout.yaml``).  It holds a title, an introduction
and sections; each section says for which recommended formats it prints (``if_format``) and,
optionally, on which facts (``when``), and each paragraph or bullet may carry its own
``when`` or ``variants`` (the same conditions and three-valued logic as the rules).  A
section can hold one text per focus area (``focus``), printed for the areas the decision
chose, lines left blank for the clinician to fill in on paper (``blanks``), and may ask to
stand out (``emphasis``).

Nothing clinical is written here: this module parses, checks and selects.
"""

from __future__ import annotations

from ..core.precompiled_classes import dataclass
from typing import Any

from .evaluate import truth
from ..core.model import Cond, RuleSet, Variant

SECTION_KEYS = ("heading", "if_format", "when", "paragraphs", "bullets", "focus", "blanks", "emphasis")


@dataclass(frozen=True)
class Para:
    """A paragraph of the client handout, printed when its condition holds, in the case's words."""

    text: str
    when: Cond | None = None
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True)
class Section:
    """A section of the client handout: a heading with its paragraphs, bullets and blanks to fill in."""

    heading: str
    if_format: tuple[str, ...] = ()  # empty: every format
    when: Cond | None = None
    paragraphs: tuple[Para, ...] = ()
    bullets: tuple[Para, ...] = ()
    focus: tuple[tuple[str, Para], ...] = ()
    blanks: tuple[str, ...] = ()
    emphasis: bool = False  # printed so it stands out (where to get help urgently)


def parse_handout(f: Any, value: Any) -> dict[str, Any]:
    """The handout file as data; problems go to ``f`` (a ``ruleset.load._File``) with their lines."""
    from .load import _variants, parse_condition

    root = f.mapping(value, (), ("title", "sections"), ("intro", "footer"))
    if root is None:
        return {}

    def para(item: Any, path: tuple[Any, ...]) -> Para:
        if isinstance(item, str):
            return Para(f.text(item, path))
        m = f.mapping(item, path, ("text",), ("when", "variants")) or {}
        when = parse_condition(f, m["when"], path + ("when",)) if "when" in m else None
        variants = _variants(f, m["variants"], path + ("variants",)) if "variants" in m else ()
        return Para(f.text(m.get("text"), path + ("text",)), when, variants)

    def paras(items: Any, path: tuple[Any, ...]) -> tuple[Para, ...]:
        if not isinstance(items, list):
            f.add(path, "must be a list of texts")
            return ()
        return tuple(para(item, path + (i,)) for i, item in enumerate(items))

    sections = []
    items = root.get("sections")
    if not isinstance(items, list) or not items:
        f.add(("sections",), "must be a non-empty list of sections")
        items = []
    for i, item in enumerate(items):
        path = ("sections", i)
        m = f.mapping(item, path, ("heading",), SECTION_KEYS[1:])
        if m is None:
            continue
        scope = m.get("if_format", [])
        if not isinstance(scope, list):
            f.add(path + ("if_format",), "must be a list of formats")
            scope = []
        focus = m.get("focus", {})
        if not isinstance(focus, dict):
            f.add(path + ("focus",), "must map each focus area to its text")
            focus = {}
        sections.append(
            Section(
                heading=f.text(m.get("heading"), path + ("heading",)),
                if_format=tuple(str(s) for s in scope),
                when=parse_condition(f, m["when"], path + ("when",)) if "when" in m else None,
                paragraphs=paras(m.get("paragraphs", []), path + ("paragraphs",)),
                bullets=paras(m.get("bullets", []), path + ("bullets",)),
                focus=tuple((str(area), para(text, path + ("focus", area))) for area, text in focus.items()),
                blanks=f.text_list(m.get("blanks", []), path + ("blanks",)),
                emphasis=m.get("emphasis") is True,
            )
        )
        if "emphasis" in m and not isinstance(m["emphasis"], bool):
            f.add(path + ("emphasis",), "must be true or false")
    return {
        "title": f.text(root.get("title"), ("title",)),
        "intro": paras(root.get("intro", []), ("intro",)),
        "footer": f.text(root["footer"], ("footer",)) if "footer" in root else "",
        "sections": tuple(sections),
    }


def handout_problems(ruleset: RuleSet) -> list[tuple[str, str, Cond | None]]:
    """Meaning-level problems of the handout (path, message, None), and every condition it
    holds (path, "", condition) for lint to check like a rule's."""
    policy = ruleset.policies
    h = ruleset.handout
    out: list[tuple[str, str, Cond | None]] = []
    if policy is None or not h:
        return out
    covered: set[str] = set()
    for i, s in enumerate(h["sections"]):
        path = f"sections.{i}"
        for fmt in s.if_format:
            if fmt not in policy.format_precedence:
                out.append((path + ".if_format", f"unknown format {fmt!r}", None))
        covered.update(s.if_format)  # a section for every format does not count as any one's own
        if s.focus:
            missing = [a for a in policy.focus_areas if a not in dict(s.focus)]
            unknown = [a for a, _ in s.focus if a not in policy.focus_areas]
            if missing:
                out.append((path + ".focus", f"no text for the focus area(s) {', '.join(missing)}", None))
            if unknown:
                out.append((path + ".focus", f"unknown focus area(s) {', '.join(unknown)}", None))
        if s.when is not None:
            out.append((path + ".when", "", s.when))
        for kind, items in (
            ("paragraphs", s.paragraphs),
            ("bullets", s.bullets),
            ("focus", tuple(p for _, p in s.focus)),
        ):
            for j, p in enumerate(items):
                conds = ([p.when] if p.when is not None else []) + [v.when for v in p.variants]
                out.extend((f"{path}.{kind}.{j}", "", c) for c in conds)
    for fmt in policy.format_precedence:
        if fmt not in covered:
            out.append(("sections", f"no section of its own for the format {fmt} (if_format)", None))
    return out


def handout_view(
    ruleset: RuleSet, decision: dict[str, Any], values: dict[str, Any], derived: dict[str, list[Any]]
) -> dict[str, Any]:
    """What the handout templates print for one decision."""
    from ..decision.decide import choose_text

    h = ruleset.handout
    fmt = decision["recommendation"]["format"]
    areas = [a for a in (decision["focus"]["primary"], decision["focus"]["secondary"]) if a]

    def shown(p: Para) -> str | None:
        if p.when is not None and truth(p.when, values, derived) is not True:
            return None
        return choose_text(p.text, p.variants, values, derived)

    def texts(items: tuple[Para, ...]) -> list[str]:
        return [t for p in items if (t := shown(p)) is not None]

    sections = []
    for s in h.get("sections", ()):
        if s.if_format and fmt not in s.if_format:
            continue
        if s.when is not None and truth(s.when, values, derived) is not True:
            continue
        by_area = dict(s.focus)
        focus = [t for a in areas if a in by_area and (t := shown(by_area[a])) is not None]
        # one bullet per chosen area, so two areas never read as one text
        sections.append(
            {
                "heading": s.heading,
                "paragraphs": texts(s.paragraphs),
                "bullets": focus + texts(s.bullets),
                "blanks": list(s.blanks),
                "emphasis": s.emphasis,
            }
        )
    return {
        "title": h.get("title", ""),
        "intro": texts(h.get("intro", ())),
        "sections": sections,
        "footer": h.get("footer", ""),
        "format": fmt,
    }

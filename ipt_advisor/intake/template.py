"""The commented blank intake that ``ipt-advisor intake template`` prints, written from the
one intake schema (:data:`ipt_advisor.intake.schema.SCHEMA`): a field added, renamed or given new
limits there shows here without a second copy to keep in step.

Each field is one line, ``key: default  # what it is``: REQUIRED when it must be filled in,
the schema's label and help, the choices of an enum and the range of a number. A block of
the clinician's own decision (absent until decided, with a required field) is printed
commented out, so the blank template stays a blank intake: checking it lists exactly its
empty required fields.
"""

from __future__ import annotations

import re

from .schema import SCHEMA, Block, Field

__all__ = ["TEMPLATE", "render_template"]

_HEAD = """\
# IPT intake record, version 1. Fill in, then run:  ipt-advisor assess this-file.yaml
# Fill in every REQUIRED field (the check refuses the blank template). Leave a risk
# question EMPTY if it was not asked: empty means "not known", never "no", and the tool
# then withholds a recommendation.
"""
_COMMENT_AT = 29  # the column of the comments (a longer key pushes its comment right)
_WIDTH = 116  # a comment longer than this goes on to the next lines


def render_template(schema: Block = SCHEMA) -> str:
    """The template text for ``schema``: every field, blank or at its default, explained."""
    lines = _HEAD.splitlines()
    after_block = True  # a blank line after the head, and around every block
    for name, spec in schema.fields.items():
        if isinstance(spec, Block) or after_block:
            lines.append("")
        after_block = isinstance(spec, Block)
        if isinstance(spec, Block) and spec.when_absent == "none" and _has_required(spec):
            lines += _commented_out(name, spec)
        else:
            lines += _entry(name, spec, 0)
    return "\n".join(lines) + "\n"


def _entry(name: str, spec: Field | Block, depth: int, lead: str = "") -> list[str]:
    """A field's line, or a block's line and its fields' (``lead``: "# " comments them out)."""
    indent = lead + "  " * depth
    if isinstance(spec, Field):
        return _with_comment(f"{indent}{name}:{_value(spec)}", _field_words(name, spec), lead)
    lines = _with_comment(f"{indent}{name}:", "" if lead else _block_words(name, spec), lead)
    for sub_name, sub in spec.fields.items():
        lines += _entry(sub_name, sub, depth + 1, lead)
    return lines


def _commented_out(name: str, spec: Block) -> list[str]:
    """A block recorded only once there is something to record: shown, each line a comment."""
    intro = _block_words(name, spec) + " Uncomment the block to record it."
    return [*_with_comment("", intro), *_entry(name, spec, 0, lead="# ")]


def _with_comment(code: str, words: str, lead: str = "") -> list[str]:
    """``code`` with ``words`` as its comment, wrapped at word boundaries past ``_WIDTH``."""
    if not words:
        return [code]
    column = max(_COMMENT_AT, len(code) + 2) if code else 0
    lines = [code.ljust(column) + "#"]
    for word in re.findall(r"\([^)]*\)\S*|\S+", words):  # "(not asked)" never split
        if len(lines[-1]) + 1 + len(word) > _WIDTH and len(lines[-1]) > column + 2:
            lines.append(lead.rstrip().ljust(column) + "#")
        lines[-1] += " " + word
    return lines


def _value(spec: Field) -> str:
    if spec.kind == "version":
        return " 1"  # the one version there is
    if spec.default is None:
        return ""
    if isinstance(spec.default, bool):
        return " true" if spec.default else " false"
    return f" {spec.default}"


def _field_words(name: str, spec: Field) -> str:
    what = _label(name, spec.label)
    if spec.required and spec.default is None and spec.kind != "version":
        what = f"REQUIRED {what}"
    elif spec.required_if:
        what = f"required when {spec.required_if}" + (f": {what[:1].lower()}{what[1:]}" if what else "")
    limits = _limits(spec)
    if limits and not (spec.kind == "int" and limits in spec.help):  # else the help says it already
        what += (", " if ":" in what else ": ") + limits if what else limits
    return " ".join(_sentence(part) for part in (what, spec.help) if part)


def _limits(spec: Field) -> str:
    if spec.kind == "int":
        return f"{spec.lo} to {spec.hi}"
    if spec.kind == "enum":
        words = dict(spec.choice_labels)
        # a choice's words in full where they only add to its name ("impasse (stalled)")
        shown = " | ".join(words[c] if words.get(c, "").startswith(c + " (") else c for c in spec.choices)
        return shown + (f", or empty for {words['']}" if "" in words else "")
    if spec.kind == "bool" and spec.default is None:
        return "true / false / empty (not asked)"  # unknown stays unknown, never "no"
    return ""


def _block_words(name: str, spec: Block) -> str:
    area = "Set present: true if found." if spec.when_absent == "area" else ""  # else it reads not present
    return " ".join(_sentence(part) for part in (_label(name, spec.label), spec.help, area) if part)


def _label(name: str, label: str) -> str:
    """The label, unless it only says the key again (``measures``: "Measures")."""
    return "" if label.lower() == name.replace("_", " ") else label


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".?!:" else text + "."


def _has_required(block: Block) -> bool:
    return any(_has_required(s) if isinstance(s, Block) else s.required for s in block.fields.values())


#: The template as ``intake template`` prints it.
TEMPLATE = render_template()

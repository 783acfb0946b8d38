"""Render one decision as a report a clinician can read, trust and print.

Formats: ``text`` (terminal, wrapped at 88 columns), ``md`` (renders on GitHub), ``html``
(one self-contained file; printed on A4, page 1 is the decision and the appendix follows)
and ``json`` (the decision itself, contract ``decision-v1``). The three human formats come
from Jinja2 templates that carry the same content, worked out once by ``view``; this module
only adds small, format-specific filters. ``render_handout`` does the same for the client
handout (``handout``). Nothing clinical is written here: banners, labels and cut-offs come
from the rule set.

Safety rules kept here:

* free text (intake ``notes``, rule text) is data: it reaches a template only as a variable,
  never as template source;
* HTML is autoescaped, Markdown text is backslash-escaped (``md`` filter), and the terminal
  text drops control characters so a note cannot inject escape sequences;
* ``StrictUndefined``: a missing key in the view is an error, never a silently blank section.

Jinja2 is imported lazily: ``import ipt_advisor.report.render`` stays cheap for commands that only
print JSON.
"""

from __future__ import annotations

import functools
import json
import pathlib
import re
from typing import Any

from ..core.wording import value_words

FORMATS = ("text", "md", "html", "json")

_TEMPLATES = {"text": "report.txt.j2", "md": "report.md.j2", "html": "report.html.j2"}
_HANDOUTS = {"text": "handout.txt.j2", "md": "handout.md.j2", "html": "handout.html.j2"}
HANDOUT_FORMATS = tuple(_HANDOUTS)

#: Shown at the end of every report (and near the top of the HTML page).
NOTICE = (
    "This report supports and does not replace clinical judgement. It applies a fixed, "
    "versioned rule set to the intake exactly as recorded: check the intake, weigh what the "
    "rules do not cover, and record your own decision."
)

#: Flag levels in reading order, with what each asks of the clinician.
LEVELS = (
    ("critical", "Critical", "act today"),
    ("warning", "Warning", "act before therapy starts"),
    ("info", "Info", "for information"),
)

# Control characters other than tab and newline (this includes ESC, so no ANSI sequences),
# and the bidirectional overrides that can make printed text read differently from its bytes.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str, json_text: bool = False) -> str:
    """``text`` fit for a terminal: control characters (CR and ESC included) and bidi overrides
    dropped, as in the text report; in JSON text they become ``\\uXXXX`` escapes, the same value."""
    if json_text:
        return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _CONTROL.sub("", text)


# Characters that could start Markdown or inline HTML anywhere in a line.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>|#~&!])")
# List markers ("- ", "+ ", "1. ", "1) ") only count at the start of a line, before a space.
_MD_BULLET = re.compile(r"^(\s*)([-+])(?=\s|$)")
_MD_ORDERED = re.compile(r"^(\s*\d{1,9})([.)])(?=\s|$)")

_env: Any = None  # the cached jinja2.Environment, built on first use


def templates_dir() -> pathlib.Path:
    """Where the templates live: inside the package when installed, else the repo root."""
    package = pathlib.Path(__file__).resolve().parents[1]
    bundled = package / "templates"
    if bundled.is_dir():
        return bundled
    return package.parent / "templates"


def decision_json(decision: dict) -> str:
    """The decision as JSON: contract key order kept (not sorted), UTF-8 text, final newline.

    Equal input gives byte-identical output, so decisions can be diffed and hashed.
    """
    return json.dumps(decision, indent=2, ensure_ascii=False) + "\n"


def render(view: dict, fmt: str) -> str:
    """Render ``view`` (see the module tests for its shape) in one of :data:`FORMATS`.

    ``json`` returns :func:`decision_json` of ``view["decision"]``; the others render the
    matching template. A key missing from ``view`` raises ``jinja2.UndefinedError``.
    """
    if fmt == "json":
        return decision_json(view["decision"])
    if fmt not in _TEMPLATES:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _template(_TEMPLATES[fmt]).render(**view, notice=NOTICE, levels=LEVELS)


def render_handout(view: dict, fmt: str) -> str:
    """The client handout (``Advisor.handout``) in one of :data:`HANDOUT_FORMATS`."""
    if fmt not in _HANDOUTS:
        raise ValueError(f"unknown handout format {fmt!r}; expected one of {', '.join(HANDOUT_FORMATS)}")
    return _template(_HANDOUTS[fmt]).render(**view)


def _template(name: str) -> Any:
    """A report template of the package: its precompiled form while that is exactly what its
    source compiles to, else compiled from the source. As the loader does (_Loader), but
    without Jinja2's lookup around it: a report's start is what ``assess`` is measured by."""
    from .precompiled import template

    env = _environment()
    path = templates_dir() / name
    try:
        source = path.read_bytes()
    except OSError:
        source = b""  # get_template says what is wrong
    return template(env, name, source, str(path)) or env.get_template(name)


@functools.cache
def _loader_class() -> Any:
    """The loader class, made once (jinja2 is imported only when something renders)."""
    import jinja2

    class _Loader(jinja2.FileSystemLoader):
        """Template files; one the package ships precompiled (``precompiled``) is built from
        that Python while it is exactly what this source compiles to, else compiled as usual.
        Every environment comes from :func:`make_environment`, whose settings are those the
        precompiled code was made with; only filters differ, and they are looked up when a
        template is built, not compiled in."""

        def load(self, environment: Any, name: str, globals: Any = None) -> Any:
            from .precompiled import template

            source, filename, _ = self.get_source(environment, name)
            built = template(environment, name, source.encode("utf-8"), filename, globals)
            return built if built is not None else super().load(environment, name, globals)

    return _Loader


def make_environment(source_only: bool = False, **filters: Any) -> Any:
    """A Jinja2 environment with the settings every ipt-advisor template relies on:
    templates are files from :func:`templates_dir` (data is only ever a variable),
    HTML templates (``*.html.j2``) are autoescaped and no others, ``StrictUndefined``,
    and the shared value filters; ``filters`` adds or overrides filters. Templates the package
    ships precompiled are built from that code unless ``source_only`` (tests compare the two)."""
    import jinja2

    env = jinja2.Environment(
        loader=(jinja2.FileSystemLoader if source_only else _loader_class())(str(templates_dir())),
        # Only HTML templates are escaped; text and Markdown have their own filters.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), disabled_extensions=(), default=False
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # no bytecode cache: a cache folder another user can write is code they can run
        # (SECURITY.md), and it saved a few ms of a ~300 ms start
    )
    env.filters.update(
        words=value_words,
        by_level=flags_by_level,
        wrap=wrap,
        box=box,
        md=md_escape,
        md_quote=md_quote,
        code=md_code,
        breakable=breakable,
        flag_codes=flag_codes,
    )
    env.filters.update(filters)
    return env


def _environment() -> Any:
    """The report environment, built once."""
    global _env
    if _env is None:
        _env = make_environment()
    return _env


# --- filters shared by all formats (they return plain str, so HTML still escapes them) ---


def flags_by_level(flags: list[dict]) -> list[tuple[str, str, str, list[dict]]]:
    """Group flags as (level, name, meaning, flags), critical first; empty groups dropped.

    A level outside the contract is still shown (after the known ones), never dropped.
    """
    known = [level for level, _, _ in LEVELS]
    groups = [(level, name, meaning, [f for f in flags if f["level"] == level]) for level, name, meaning in LEVELS]
    for level in dict.fromkeys(f["level"] for f in flags if f["level"] not in known):
        groups.append((level, str(level).capitalize(), "", [f for f in flags if f["level"] == level]))
    return [group for group in groups if group[3]]


# --- text ---


def wrap(text: Any, indent: str = "", first: str | None = None, width: int = 88) -> str:
    """Wrap plain text at ``width``; ``first`` prefixes the first line, ``indent`` the rest.

    Line breaks in the input are kept (a clinician's note keeps its paragraphs) and
    control characters are removed so the terminal shows text, never escape sequences.
    """
    import textwrap

    first = indent if first is None else first
    lines = _CONTROL.sub("", str(text)).strip().split("\n")
    out = []
    for number, line in enumerate(lines):
        lead = first if number == 0 else indent
        filled = textwrap.fill(
            line,
            width=width,
            initial_indent=lead,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        out.append(filled or lead.rstrip())
    return "\n".join(out)


def box(text: Any, edge: str, second: str = "", width: int = 88) -> str:
    """A line of text framed above and below by ``edge`` characters, so it is the first
    thing the eye finds on a page (banners, the recommendation); ``second`` is a line of its own."""
    rule = edge * width
    body = wrap(text, "    ", "  ", width)
    extra = ("\n" + wrap(second, "    ", "  ", width)) if second else ""
    return f"{rule}\n{body}{extra}\n{rule}"


# --- HTML ---


def breakable(text: Any) -> Any:
    """A code (``BELOW_DIAGNOSTIC_THRESHOLD``) as escaped HTML that may wrap after each
    underscore, so a narrow table column breaks it between words, never inside one."""
    from markupsafe import Markup, escape

    return Markup("_<wbr>").join(escape(part) for part in str(text).split("_"))


def flag_codes(flags: Any, level: str, at: bool = True) -> Any:
    """The codes of the flags at ``level`` (or, ``at`` false, at any other level), each
    ``breakable``, comma-separated: what ``selectattr | map | map("breakable") | join``
    gave, in one call (the dashboard lists up to 500 rows of them: that chain was a third
    of rendering summary.html, which the audit's last seconds wait for)."""
    from markupsafe import Markup

    return Markup(", ").join(breakable(f["code"]) for f in flags if (f["level"] == level) is at)


# --- Markdown ---


def md_escape(text: Any) -> str:
    """Inline Markdown text that renders literally: punctuation escaped, whitespace collapsed.

    Keeps data from becoming markup (links, emphasis, raw HTML, table cells) on GitHub.
    """
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    escaped = _MD_SPECIAL.sub(r"\\\1", flat)
    return _MD_ORDERED.sub(r"\1\\\2", _MD_BULLET.sub(r"\1\\\2", escaped))


def md_quote(text: Any) -> str:
    """Multi-line free text as an escaped Markdown block quote, paragraphs kept."""
    lines = _CONTROL.sub("", str(text)).strip().split("\n")
    return "\n".join("> " + md_escape(line) if line.strip() else ">" for line in lines)


def md_code(text: Any) -> str:
    """An identifier (rule id, flag code, dotted path) as a Markdown code span."""
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"

"""Words for problem messages: the one did-you-mean matcher, and what a value is.

Every "(did you mean 'x'?)" the tool prints comes from ``closest`` with one cut-off, so a
typo is caught the same way in an intake, a rule file, a ``--set`` path or a rule id.
"""

from __future__ import annotations

from typing import Any, Iterable

CUTOFF = 0.6  # difflib's own default: close enough to be a typo, not just a shared word


def closest(word: object, options: Iterable[object], *, prefix: bool = False) -> str | None:
    """The option ``word`` most likely mistypes, or None.

    ``prefix``: an option that ``word`` starts with wins (a misspelt suffix, "phq9_scroe",
    usually keeps the real name as its prefix). Only for names an author wrote (rule
    files): an intake's unknown key may be health data typed as a key, named only when
    it is close to a field as a whole."""
    text = str(word)
    names = [str(o) for o in options]
    if prefix:
        prefixed = sorted((n for n in names if len(n) >= 3 and text.startswith(n)), key=len, reverse=True)
        if prefixed:
            return prefixed[0]
    import difflib  # only when a name is wrong: every `assess` would import it otherwise (~1.5 ms)

    matches = difflib.get_close_matches(text, names, n=1, cutoff=CUTOFF)
    return matches[0] if matches else None


def did_you_mean(close: str | None) -> str:
    """`` (did you mean 'x'?)``, or nothing when there is no suggestion."""
    return f" (did you mean {close!r}?)" if close else ""


def suggest(word: object, options: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` or nothing, for a name in a rule set (prefixes count)."""
    return did_you_mean(closest(word, options, prefix=True))


def unknown(what: str, name: object, options: Iterable[object]) -> str:
    """A rule set's problem with a name it does not declare: ``unknown flag code 'IPVV' (did
    you mean 'IPV'?)`` (one wording for every kind of name lint and the loader check)."""
    return f"unknown {what} {name!r}{suggest(name, options)}"


def type_name(value: Any) -> str:
    """A value as a problem message names it: its kind, and a text in full."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__

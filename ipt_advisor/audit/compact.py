"""Compact decision lines (``audit --compact``): a decision with the rule set's texts left out.

    table = TextTable.of(ruleset)
    line = dumps_bytes(table.encode(decision))     # what decisions.compact.jsonl holds
    assert dumps_bytes(table.expand(loads(line))) == dumps_bytes(decision)

Most of a decision line's bytes are texts of the rule set, the same on every line: rule
titles and versions, effect descriptions, reasons, flag actions, banners. A compact line is
the decision with

* a first key ``compact_version`` (so a reader cannot take it for a decision);
* every text at a text position (banner, summary, condition, reason, action, consideration,
  trace title and effect) that the rule set holds replaced by its number in the rule set's
  text table (:class:`TextTable`: every string of the rules and policies, sorted, so the
  numbers depend on the rule set alone); a text chosen for this case that the table lacks
  stays a string, so a number is always a table reference and nothing is approximated;
* each trace step as ``[rule, because, effect]`` (version and title come from the rule);
* ``ruleset`` as the rule set's sha256.

:meth:`TextTable.expand` rebuilds the decision-v1 object key for key, in the same order, so
its JSON is byte-identical to the default line (tests/test_compact.py checks whole audits).
Expanding needs the same rule set: a line of another rule set is refused.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Iterator

from ..core.errors import IptError, Problem
from ..core.jsonline import dumps_bytes
from ..core.model import RuleSet
from ..core.wording import describe_effect

COMPACT_VERSION = 1
COMPACT_NAME = "decisions.compact.jsonl"  # what audit --compact writes instead of decisions.jsonl


class CompactError(IptError):
    """A compact line that does not belong to this rule set, or is not a compact line."""


def _strings(value: Any, out: set[str]) -> None:
    """Every string inside a rule-set object (dataclasses, tuples, dicts), recursively."""
    if isinstance(value, str):
        out.add(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _strings(getattr(value, f.name), out)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, (tuple, list, frozenset, set)):
        for v in value:
            _strings(v, out)


class TextTable:
    """The numbered texts of one rule set, and the rule facts a compact line leaves out."""

    def __init__(self, ruleset: RuleSet):
        texts: set[str] = set()
        _strings(ruleset.rules, texts)
        _strings(ruleset.policies, texts)
        texts.update(spec.key for spec in ruleset.facts.values())  # the keys of a trace step's because
        for rule in ruleset.rules:  # the trace's effect strings, as decide writes them
            texts.add("; ".join(describe_effect(e) for e in rule.then))
            texts.update(describe_effect(e) for e in rule.then)
        self.texts = tuple(sorted(texts))
        self.number = {text: i for i, text in enumerate(self.texts)}
        self.rules = {
            r.id: (r.version, r.title, "; ".join(describe_effect(e) for e in r.then)) for r in ruleset.by_id.values()
        }
        self.ruleset = {"name": ruleset.name, "version": ruleset.version, "sha256": ruleset.sha256}
        self.sha256 = ruleset.sha256[:SHA_DIGITS]

    @classmethod
    def of(cls, ruleset: RuleSet) -> "TextTable":
        return ruleset.memo(cls)

    # ------------------------------------------------------------------ both ways

    def _ref(self, text: Any) -> Any:
        return self.number.get(text, text) if type(text) is str else text

    def _text(self, value: Any) -> Any:
        return self.texts[value] if type(value) is int else value

    @staticmethod
    def _items(items: list[dict[str, Any]], key: str, f: Callable[[Any], Any]) -> list[dict[str, Any]]:
        return [{**item, key: f(item[key]), **({"rule": f(item["rule"])} if "rule" in item else {})} for item in items]

    def _texts(self, decision: dict[str, Any], f: Callable[[Any], Any], step: Callable[[Any], Any]) -> dict[str, Any]:
        """``decision`` with ``f`` applied at every text position (and rule id) and ``step``
        to every trace step; keys and their order kept."""
        items = self._items
        out: dict[str, Any] = {}
        for key, value in decision.items():
            if key in ("banners", "considerations"):
                value = items(value, "text", f)
            elif key == "recommendation":
                value = dict(
                    value,
                    summary=f(value["summary"]),
                    conditions=[f(c) for c in value["conditions"]],
                    reasons=items(value["reasons"], "text", f),
                )
            elif key == "focus":
                value = dict(
                    value, reasons=items(value["reasons"], "text", f), dropped=items(value["dropped"], "text", f)
                )
            elif key == "flags":
                value = items(value, "action", f)
            elif key == "trace":
                value = [step(s) for s in value]
            out[key] = value
        return out

    # ------------------------------------------------------------------ encode

    def encode(self, decision: dict[str, Any]) -> dict[str, Any]:
        """The compact form of a decision made with this rule set."""
        out = {"compact_version": COMPACT_VERSION, **self._texts(decision, self._ref, self._step)}
        if out.get("ruleset") == self.ruleset:
            out["ruleset"] = self.sha256
        return out

    def _step(self, step: dict[str, Any]) -> Any:
        """``[rule, because]`` (``because`` flattened to key number, value, ...), with the
        effect appended when it is not the rule's usual one; the step itself if it is not
        what decide writes."""
        known = self.rules.get(step["rule"])
        if list(step) != _STEP or known is None or known[:2] != (step["version"], step["title"]):
            return step
        ref = self._ref
        flat = [x for key, value in step["because"].items() for x in (ref(key), value)]
        out = [ref(step["rule"]), flat]
        if step["effect"] != known[2]:
            out.append(ref(step["effect"]))
        return out

    # ------------------------------------------------------------------ expand

    def _unstep(self, step: list[Any], where: str) -> dict[str, Any]:
        text = self._text
        rule = text(step[0])
        if rule not in self.rules:
            raise CompactError([Problem(where, None, "trace", f"rule {rule} is not in this rule set")])
        version, title, effect = self.rules[rule]
        flat = step[1]
        because = {text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        return {
            "rule": rule,
            "version": version,
            "title": title,
            "because": because,
            "effect": text(step[2]) if len(step) > 2 else effect,
        }

    def expand(self, compact: dict[str, Any], where: str = "") -> dict[str, Any]:
        """The decision-v1 object a compact line stands for (byte-identical once dumped)."""
        if type(compact) is not dict or compact.get("compact_version") != COMPACT_VERSION:
            raise CompactError(
                [Problem(where, None, "", f"not a compact decision line (compact_version {COMPACT_VERSION} expected)")]
            )
        if compact.get("ruleset") not in (self.sha256, self.ruleset):
            raise CompactError(
                [
                    Problem(
                        where,
                        None,
                        "ruleset",
                        "this compact line was written with another rule set "
                        f"(sha256 {str(compact.get('ruleset'))[:12]}…, this one is {self.sha256[:12]}…): "
                        "expand it with the rules it was written with",
                    )
                ]
            )
        body = {key: value for key, value in compact.items() if key != "compact_version"}
        out = self._texts(body, self._text, lambda s: s if type(s) is dict else self._unstep(s, where))
        if out.get("ruleset") == self.sha256:
            out["ruleset"] = dict(self.ruleset)
        return out


_STEP = ["rule", "version", "title", "because", "effect"]  # a trace step's keys, in decide's order
SHA_DIGITS = 16  # of the rule set's sha256 on a compact line: enough to refuse another rule set
_MAX_PROBLEMS = 20  # listed per file; past that the count is given


def expand_lines(lines: Iterable[bytes], table: TextTable, source: str) -> Iterator[bytes]:
    """Each compact line of ``lines`` as its decision-v1 JSON line (newline included).

    A line that is not a compact line of this rule set is a problem: every such line is
    listed (up to 20) in one ``CompactError`` raised at the end, after the good lines were
    yielded, so a caller writing a file discards it whole."""
    import orjson

    problems: list[Problem] = []
    bad = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield dumps_bytes(table.expand(orjson.loads(line), source)) + b"\n"
        except (orjson.JSONDecodeError, CompactError, TypeError, ValueError, KeyError, IndexError) as exc:
            bad += 1
            if len(problems) < _MAX_PROBLEMS:
                message = (
                    exc.problems[0].message
                    if isinstance(exc, CompactError)
                    else f"not a compact decision line ({type(exc).__name__})"
                )
                problems.append(Problem(source, number, "", message))
    if bad > len(problems):
        problems.append(Problem(source, None, "", f"... and {bad - len(problems)} more bad line(s)"))
    if problems:
        raise CompactError(problems)

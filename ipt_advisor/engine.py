"""The only module that imports durable-rules (``durable``).

It runs a compiled rule set on one intake fact and returns what fired.  Each
trap of the library (see the team's durable-rules guide) is handled here:

* ``SyncHost``: no background dispatcher threads, so an action can never run
  late on another thread; one private Host per loaded rule-set version.
* ``set_rulesets`` mutates its argument: it gets a deep copy.
* at most 1024 live sessions per ruleset: every session is deleted after use.
* ``delete_state`` after a fact no rule matched segfaults: a catch-all rule
  matches every fact we assert, so that never happens.
* exceptions inside actions are swallowed by the library: every action is
  wrapped, errors are collected and raised as ``EngineError`` afterwards, and
  the session state's ``exception`` is checked too.
* an action with two parameters is treated as asynchronous and never
  completes: actions are closures taking exactly ``(c)``.
* a runaway rule set: every action counts firings and checks a deadline;
  past the limit actions stop asserting, so the chain ends, and the
  evaluation fails with a clear message.
"""
from __future__ import annotations

import copy
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from durable import engine as _durable

from .compile import CATCH_ALL, Alternative, Compiled, LAST
from .errors import EngineError, Problem, RuleSetError
from .model import Derive, RuleSet


# durable calls _unix_now() twice per action (a datetime subtraction, ~10% of an
# evaluation); it only ever compares its results with each other, so the plain
# clock serves the same purpose at a fraction of the cost.
_durable._unix_now = time.time


class SyncHost(_durable.Host):
    """A Host without its two self-rescheduling timer threads."""

    def _run(self) -> None:  # noqa: D401 - overrides the thread starter
        return None


@dataclass
class Firing:
    rule_id: str
    order: int
    depth: int
    seq: int
    because: dict[str, Any]


@dataclass
class Run:
    """What one evaluation produced, before the policies aggregate it."""

    sid: str
    deadline: float
    limit: int
    firings: list[Firing] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    derived: dict[str, list[Any]] = field(default_factory=dict)
    count: int = 0
    errors: list[str] = field(default_factory=list)

    def ordered(self) -> list[Firing]:
        """Firings in trace order: derivation depth, then declaration order."""
        return sorted(self.firings, key=lambda f: (f.depth, f.order))


class Engine:
    """A compiled rule set loaded into its own private durable-rules Host."""

    def __init__(self, ruleset: RuleSet, compiled: Compiled):
        self.ruleset = ruleset
        self.compiled = compiled
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._run: Run | None = None
        self._late: list[str] = []
        key_of = {name: spec.key for name, spec in ruleset.facts.items()}
        definition: dict[str, Any] = {}
        for alt, body in zip(compiled.alternatives, (a.body for a in compiled.alternatives)):
            rule = ruleset.rule(alt.rule_id)
            derives = tuple((e.fact, e.value) for e in rule.then if isinstance(e, Derive))
            definition[alt.name] = dict(copy.deepcopy(body), run=self._action(alt, derives, key_of))
        # The catch-all matches every fact we assert (intake and derived), so no
        # assert is ever "not handled" and delete_state stays safe.
        definition[CATCH_ALL] = {"all": [{"m": {"$ex": {"k": 1}}}], "pri": LAST, "run": _noop}
        self._host = SyncHost()
        try:
            self._host.set_rulesets(copy.deepcopy({compiled.name: definition}))
        except Exception as exc:  # noqa: BLE001 - durable's C parser refuses with a bare error code
            raise RuleSetError([Problem(ruleset.root, None, "", f"the rule engine cannot load this rule set ({exc}): "
                                        "a condition may be too large for it; split the rule")]) from None

    def _action(self, alt: Alternative, derives: tuple[tuple[str, Any], ...], key_of: dict[str, str]) -> Callable[[Any], None]:
        reads = tuple((alias, key_of[fact], fact) for alias, fact in alt.reads)
        read_derived = self.compiled.read_derived

        def action(c: Any) -> None:  # exactly one parameter: see module docstring
            run = self._run
            try:
                matched = c._m
                if run is None or next(iter(matched.values()))["sid"] != run.sid:
                    self._late.append(alt.rule_id)
                    return
                run.count += 1
                if run.count > run.limit:
                    if len(run.errors) < 1:
                        run.errors.append(f"firing limit of {run.limit} exceeded at rule {alt.rule_id}: the rule set does not settle")
                    return
                if time.process_time() > run.deadline:
                    if len(run.errors) < 1:
                        run.errors.append(f"time limit exceeded at rule {alt.rule_id}: the rule set does not settle")
                    return
                if alt.rule_id in run.fired:  # another alternative of the same rule already fired
                    return
                run.fired.add(alt.rule_id)
                because = {key: matched[alias].get(fact) for alias, key, fact in reads}
                run.firings.append(Firing(alt.rule_id, alt.order, alt.depth, len(run.firings), because))
                for fact, value in derives:
                    seen = run.derived.setdefault(fact, [])
                    if value in seen:  # same derived value twice would be a duplicate fact identity
                        continue
                    seen.append(value)
                    if fact in read_derived:
                        c.assert_fact({"k": fact, fact: value})
            except BaseException as exc:  # the library would swallow it: keep it
                (run.errors if run is not None else self._late).append(f"rule {alt.rule_id}: {type(exc).__name__}: {exc}")

        return action

    def run(self, fact: dict[str, Any], source: str) -> Run:
        """Evaluate one intake fact; raise ``EngineError`` if anything went wrong."""
        with self._lock:
            sid = str(next(self._sids))
            # CPU time, not wall time: a stalled or busy machine must not fail an intake
            run = Run(sid, time.process_time() + self.ruleset.max_seconds, self.ruleset.max_firings)
            self._run = run
            handled = False
            try:
                state = self._host.assert_fact(self.compiled.name, dict(fact, sid=sid))
                handled = True
                if isinstance(state, dict) and state.get("exception"):
                    run.errors.append("the engine reported an error in an action")
            except _durable.MessageNotHandledException:
                run.errors.append("no rule matched the intake fact (the catch-all rule is missing)")
            except Exception as exc:  # noqa: BLE001 - any engine failure becomes a clear error
                run.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self._run = None
                if handled:
                    self._host.delete_state(self.compiled.name, sid)
            if self._late:
                run.errors.extend(f"rule {rid} ran outside its evaluation" for rid in self._late)
                self._late.clear()
        if run.errors:
            raise EngineError([Problem(source, None, "", f"engine: {e}") for e in run.errors])
        return run


def _noop(c: Any) -> None:
    return None


def check_loadable(ruleset: RuleSet) -> list[Problem]:
    """Whether durable-rules accepts the compiled rule set (its C parser has limits lint
    cannot see, e.g. on the size of one condition).  Costs one throwaway Host, which the
    library never frees: for ``rules lint``, not for every load."""
    from .compile import compile_ruleset

    try:
        Engine(ruleset, compile_ruleset(ruleset))
    except RuleSetError as exc:
        return list(exc.problems)
    return []

"""The only module that imports durable-rules (its C core, ``durable_rules_engine``).

It runs a compiled rule set on one intake fact and returns what fired.

durable-rules has two layers: a C core (Rete network, sessions, agenda) and a
Python layer (``durable.engine``: Host, Closure, Promise, timer threads).  This
module drives the C core directly with a small synchronous loop, because the
Python layer cost about 50 µs per action (a Closure, a Promise, a JSON round
trip of the session state, two clock reads), two thirds of an evaluation, and
brought traps of its own (see the team's durable-rules guide):

* background dispatcher threads that could run an action late: there are none
  here; every action runs inside :meth:`Engine.run`, on the caller's thread;
* ``set_rulesets`` mutating its argument, and one ruleset name per Host: the
  definition is serialised here, each Engine owns its own ruleset handle;
* exceptions inside actions swallowed, actions with two parameters never
  completing: actions are plain functions called by this loop; every error is
  kept and raised as ``EngineError`` once the session is cleaned up.

The traps of the C core remain and are handled here:

* at most 1024 live sessions per ruleset: every session is deleted after use,
  also after an error, and only once the agenda is drained (an action in
  progress is abandoned first);
* ``delete_state`` after a fact that fired no action segfaults: a catch-all
  rule fires for every fact we assert (intake and derived), so every asserted
  fact fires something.  It must stay even though it does nothing;
* a runaway rule set: every action counts firings and checks a CPU-time
  deadline; past either limit actions stop asserting, so the chain ends, and
  the evaluation fails with a clear message.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from typing import Any, Callable

import durable_rules_engine as _core

from ..ruleset.compile import CATCH_ALL, INTAKE_ALIAS, Alternative, Compiled, LAST
from ..core.errors import EngineError, Problem, RuleSetError
from ..core.firings import Firing, Run
from ..core.jsonline import dumps
from ..core.model import Derive, RuleSet

# Result codes of the C core's assert calls (durable rules.h) that mean trouble; 0 is
# done (3, "deferred", needs a message-queue callback, which is never set here).
_NOT_HANDLED, _OBSERVED = 1, 2
_ASSERT_PROBLEM = {
    _NOT_HANDLED: "no rule matched it (the catch-all rule is missing)",
    _OBSERVED: "a fact with the same identity was already asserted",
}

_loads = json.loads
#: How long loading a rule set into the C core may take. Some shapes make ``create_ruleset``
#: spin for ever inside C (a node with 512 branches, see lint.MAX_BRANCHES), where no signal or
#: thread can stop it; so a forked child loads it first, and is killed past this limit.
LOAD_SECONDS = 10.0


def _load_within(seconds: float, name: str, text: str, root: str) -> None:
    """Load the definition once in a forked child; ``RuleSetError`` if that does not finish in
    time. The load is deterministic, so what the child loaded, this process loads too."""
    import os

    if not hasattr(os, "fork"):  # pragma: no cover - POSIX only
        return
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            _core.create_ruleset(name, text)
            code = 0
        except BaseException:  # noqa: BLE001 - this process reports the refusal itself
            code = 4
        finally:
            os._exit(code)
    deadline = time.monotonic() + seconds
    delay = 0.0005
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return  # loaded or refused: the real load below says which
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise RuleSetError(
                [
                    Problem(
                        root,
                        None,
                        "",
                        f"the rule engine did not finish loading this rule set within "
                        f"{seconds:g} s (it spins on a node with 512 or more branches): "
                        "run `ipt-advisor rules lint` on it",
                    )
                ]
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


Action = Callable[[str, str, Run], None]


class Engine:
    """A compiled rule set loaded into its own durable-rules ruleset handle."""

    def __init__(self, ruleset: RuleSet, compiled: Compiled, loadable: str | None = None):
        self.ruleset = ruleset
        self.compiled = compiled
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        key_of = {name: spec.key for name, spec in ruleset.facts.items()}
        definition: dict[str, Any] = {}
        self._actions: dict[str, Action] = {}
        for alt in compiled.alternatives:
            rule = ruleset.rule(alt.rule_id)
            derives = tuple((e.fact, e.value) for e in rule.then if isinstance(e, Derive))
            definition[alt.name] = alt.body  # only serialised below, never mutated
            self._actions[alt.name] = self._action(alt, derives, key_of)
        # The catch-all fires for every fact we assert (intake and derived); see the
        # module docstring.  It has no Python action: the loop just completes it.
        definition[CATCH_ALL] = {"all": [{"m": {"$ex": {"k": 1}}}], "pri": LAST}
        text = json.dumps(definition, ensure_ascii=False)
        #: what the rule-set cache records once this definition has loaded (ruleset_cache)
        self.definition_sha256 = hashlib.sha256(text.encode()).hexdigest()
        if loadable != self.definition_sha256:  # not known to load in time: try it in a child first
            _load_within(LOAD_SECONDS, compiled.name, text, ruleset.root)
        try:
            self._handle = _core.create_ruleset(compiled.name, text)
        except Exception as exc:  # noqa: BLE001 - durable's C parser refuses with a bare error code
            raise RuleSetError(
                [
                    Problem(
                        ruleset.root,
                        None,
                        "",
                        f"the rule engine cannot load this rule set ({exc}): "
                        "a condition may be too large for it; split the rule",
                    )
                ]
            ) from None

    def close(self) -> None:
        """Free the ruleset in the C core (an Engine is otherwise kept for the process)."""
        with self._lock:  # never under a running evaluation
            handle, self._handle = self._handle, None
        if handle is not None:
            _core.delete_ruleset(handle)

    def _assert(self, fact: dict[str, Any]) -> tuple[int, int]:
        result: tuple[int, int] = _core.assert_fact(self._handle, dumps(fact))  # the C core parses JSON text
        return result

    def _action(self, alt: Alternative, derives: tuple[tuple[str, Any], ...], key_of: dict[str, str]) -> Action:
        reads = tuple((alias, key_of[fact], fact) for alias, fact in alt.reads)
        intake_reads = tuple((key, fact) for alias, key, fact in reads if alias == INTAKE_ALIAS)
        derived_reads = tuple((alias, key, fact) for alias, key, fact in reads if alias != INTAKE_ALIAS)
        read_derived = self.compiled.read_derived
        rule_id = alt.rule_id
        order, depth = alt.order, alt.depth
        process_time = time.process_time

        def action(name: str, messages: str, run: Run) -> None:
            try:
                run.count += 1
                if run.count > run.limit:
                    if not run.errors:
                        run.errors.append(
                            f"firing limit of {run.limit} exceeded at rule {rule_id}: the rule set does not settle"
                        )
                    return
                # the clock is a system call (~1 µs): read it every 8th firing only; the
                # firing limit alone already stops a chain that runs away fast
                if not run.count & 7 and process_time() > run.deadline:
                    if not run.errors:
                        run.errors.append(f"time limit exceeded at rule {rule_id}: the rule set does not settle")
                    return
                fired = run.fired
                if rule_id in fired:  # another alternative of the same rule already fired
                    return
                fired.add(rule_id)
                get = run.intake.get
                because = {key: get(fact) for key, fact in intake_reads}
                if derived_reads:
                    because.update(_derived_because(name, messages, derived_reads, run.derived))
                firings = run.firings
                firings.append(Firing(rule_id, order, depth, len(firings), because))
                for fact, value in derives:
                    seen = run.derived.setdefault(fact, [])
                    if value in seen:  # same derived value twice would be a duplicate fact identity
                        continue
                    seen.append(value)
                    if fact in read_derived:
                        code, _ = self._assert({"k": fact, fact: value, "sid": run.sid})
                        if code in _ASSERT_PROBLEM:
                            run.errors.append(f"rule {rule_id}: derived fact {fact}: {_ASSERT_PROBLEM[code]}")
            except Exception as exc:  # noqa: BLE001 - kept and raised once the session is cleaned up
                run.errors.append(f"rule {rule_id}: {type(exc).__name__}: {exc}")

        return action

    def run(self, fact: dict[str, Any], source: str) -> Run:
        """Evaluate one intake fact; raise ``EngineError`` if anything went wrong."""
        with self._lock:
            if self._handle is None:
                raise EngineError([Problem(source, None, "", "engine: this engine was closed")])
            sid = str(next(self._sids))
            # CPU time, not wall time: a stalled or busy machine must not fail an intake
            run = Run(sid, time.process_time() + self.ruleset.max_seconds, self.ruleset.max_firings)
            try:
                run.intake = dict(fact, sid=sid)
                self._evaluate(run)
            except Exception as exc:  # noqa: BLE001 - any engine failure becomes a clear error
                run.errors.append(f"{type(exc).__name__}: {exc}")
        if run.errors:
            raise EngineError([Problem(source, None, "", f"engine: {e}") for e in run.errors])
        return run

    def _evaluate(self, run: Run) -> None:
        """Assert the intake fact, run every action the session's agenda offers, delete the session."""
        handle, actions = self._handle, self._actions
        code, state = self._assert(run.intake)
        if code == _NOT_HANDLED:  # no session to clean up, and delete_state would segfault
            run.errors.append("no rule matched the intake fact (the catch-all rule is missing)")
            return
        in_action = False
        try:
            started = _core.start_action_for_state(handle, state)
            messages = started[1] if started else None
            while messages is not None:
                in_action = True
                # the agenda entry is '{"<action name>": {...matched facts...}}'; names are
                # compile's RULE-ID#n or the catch-all, neither holds a quote
                name = messages[2 : messages.index('"', 2)]
                if name != CATCH_ALL:
                    actions[name](name, messages, run)
                messages = _core.complete_and_start_action(handle, state)
                in_action = messages is not None
        finally:
            if in_action:  # a C-level failure mid-action: release it before the session goes
                _core.abandon_action(handle, state)
            _core.delete_state(handle, run.sid)


def _derived_because(
    name: str, messages: str, reads: tuple[tuple[str, str, str], ...], derived: dict[str, list[Any]]
) -> dict[str, Any]:
    """The derived values a firing matched.  A derived fact with one value can only have
    matched that value; only when a fact holds several does the agenda entry (JSON text,
    the costly part) say which one."""
    if all(len(derived.get(fact, ())) == 1 for _, _, fact in reads):
        return {key: derived[fact][0] for _, key, fact in reads}
    matched = _loads(messages)[name]
    return {key: matched[alias].get(fact) for alias, key, fact in reads}


def check_loadable(ruleset: RuleSet) -> list[Problem]:
    """Whether durable-rules accepts the compiled rule set (its C parser has limits lint
    cannot see, e.g. on the size of one condition).  Builds a throwaway engine, then frees it."""
    from ..ruleset.compile import compile_ruleset

    try:
        Engine(ruleset, compile_ruleset(ruleset)).close()
    except RuleSetError as exc:
        return list(exc.problems)
    return []

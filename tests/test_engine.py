"""The engine wrapper at its edges: chaining, volume, no match, cycles, runaway rule sets,
types, and two rule-set versions in one process.

Each test builds a tiny rule set in ``tmp_path`` (JSON is YAML, so the files are written
with ``json.dumps``) and drives it through the library or the CLI.  Anything that could
crash the interpreter (durable-rules is C) runs in a subprocess, so a segfault is a
failing return code rather than a dead test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import cli
from ipt_advisor.advisor import Advisor
from ipt_advisor.core.errors import EngineError
from ipt_advisor.intake.facts import engine_fact, input_values
from ipt_advisor.intake.schema import from_mapping, load_intake_file
from ipt_advisor.ruleset.load import lint, read_ruleset

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.yaml"
SUBPROCESS_TIMEOUT = 120  # generous: only there so a hang fails instead of blocking CI

INTAKE = {
    "intake_version": 1,
    "id": "T-1",
    "assessed_on": "2025-01-01",
    "age": 40,
    "measures": {"phq9": 12},
    "risk": {"cssrs": {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}},
}


# --------------------------------------------------------------------------- tiny rule sets


def rule(rule_id: str, when: dict[str, Any], then: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": rule_id,
        "title": f"rule {rule_id}",
        "version": "1.0.0",
        "status": "active",
        "area": "test",
        "rationale": "test rule",
        "references": ["T1"],
        "when": when,
        "then": then,
        "tests": [
            {"name": "fires", "intake": {}, "expect": {"fires": True}},
            {"name": "silent", "intake": {}, "expect": {"fires": False}},
        ],
    }


def tiny(
    directory: Path,
    rules: list[dict[str, Any]],
    *,
    version: str = "1.0.0",
    derived: tuple[str, ...] = (),
    max_firings: int = 100,
) -> Path:
    """Write a minimal rule set: one input fact (phq9), boolean derived facts, ``rules``."""
    directory.mkdir(parents=True)
    manifest = {
        "ruleset": "tiny",
        "version": version,
        "rule_files": ["rules.yaml"],
        "policies": {
            "format": {
                "precedence": ["defer", "individual", "group"],
                "fallback": "defer",
                "fallback_reason": "No rule reached a format",
                "labels": {"defer": "Defer", "individual": "Individual", "group": "Group"},
            },
            "focus": {
                "areas": ["grief", "role_dispute", "role_transition", "isolation"],
                "basis": ["onset_linked", "present"],
                "max_areas": 2,
                "labels": {},
            },
            "flags": {"levels": ["critical", "warning", "info"]},
            "severity": {"phq9": "phq9", "kroenke_band": "phq9", "nice_band": "phq9"},
        },
        "limits": {"max_firings": max_firings, "max_seconds": 30},
        "flags": {"CHAIN_END": "the end of a chain"},
        "sources": {"T1": "a test source"},
        "test_baseline": INTAKE,
    }
    facts = {"phq9": {"type": "integer", "range": [0, 27], "source": "measures.phq9", "label": "PHQ-9"}}
    facts.update({name: {"type": "boolean", "derived": True, "label": name} for name in derived})
    (directory / "ruleset.yaml").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    (directory / "facts.yaml").write_text(json.dumps({"facts": facts}, indent=1), encoding="utf-8")
    (directory / "rules.yaml").write_text(json.dumps({"rules": rules}, indent=1), encoding="utf-8")
    return directory


def chain(length: int) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """R1: phq9 >= 10 -> d1; R2: d1 -> d2; ... the last also raises CHAIN_END.
    Declared last-first, so declaration order is the reverse of the firing order."""
    names = tuple(f"d{i}" for i in range(1, length + 1))
    rules = []
    for i in range(1, length + 1):
        when = {"phq9": {"at_least": 10}} if i == 1 else {names[i - 2]: True}
        then: list[dict[str, Any]] = [{"derive": {names[i - 1]: True}}]
        if i == length:
            then.append({"flag": {"code": "CHAIN_END", "level": "info", "action": "none"}})
        rules.append(rule(f"R{i}", when, then))
    return rules[::-1], names


def intake(**measures: int) -> Any:
    return from_mapping({**INTAKE, "measures": {"phq9": 12, **measures}}, None, "t.yaml")


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def one_line_problems(result: Any, code: int) -> list[str]:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines and all(line.strip() for line in lines)
    return lines


# --------------------------------------------------------------------------- chaining


def test_three_derivations_fire_in_chain_order(tmp_path: Path) -> None:
    rules, names = chain(3)
    directory = tiny(tmp_path / "rules", rules, derived=names)
    ruleset, problems = lint(directory)
    assert problems == [] and ruleset is not None
    advisor = Advisor(ruleset)

    decision = advisor.assess(intake())
    assert [t["rule"] for t in decision["trace"]] == ["R1", "R2", "R3"]
    assert [t["effect"] for t in decision["trace"]] == ["d1=true", "d2=true", "d3=true; flag CHAIN_END (info)"]
    assert [f["code"] for f in decision["flags"]] == ["CHAIN_END"]

    # the engine itself fired them in that order (its own sequence numbers, not the trace sort)
    run = advisor.engine.run(engine_fact(input_values(intake(), ruleset)), "t.yaml")
    assert [f.rule_id for f in sorted(run.firings, key=lambda f: f.seq)] == ["R1", "R2", "R3"]
    assert run.derived == {"d1": [True], "d2": [True], "d3": [True]}

    silent = advisor.assess(intake(phq9=3))  # the chain's first link does not hold
    assert silent["trace"] == [] and silent["flags"] == []


def test_two_thousand_assessments_through_one_advisor() -> None:
    # durable-rules allows 1024 live sessions per rule set; every evaluation frees its own
    advisor = Advisor.load()
    record = load_intake_file(str(DEMO))
    first = advisor.assess(record)
    for n in range(2_000):
        assert advisor.assess(record) == first, f"assessment {n} differs"


# --------------------------------------------------------------------------- no match


def test_intake_matching_no_rule_does_not_crash(tmp_path: Path) -> None:
    # durable-rules segfaults in delete_state after a fact no rule matched; the catch-all
    # rule is what prevents it, so this runs in a subprocess.
    directory = tiny(tmp_path / "rules", [rule("ONLY", {"phq9": {"at_least": 20}}, [{"consider": "severe"}])])
    record = tmp_path / "intake.json"
    record.write_text(json.dumps(INTAKE), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "assess", str(record), "--rules", str(directory), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=tmp_path,
    )
    assert done.returncode == 0, (done.returncode, done.stderr)
    decision = json.loads(done.stdout)
    assert decision["trace"] == []
    assert decision["recommendation"]["format"] == "defer"  # the manifest's fallback
    assert decision["recommendation"]["reasons"] == [{"rule": None, "text": "No rule reached a format"}]


# --------------------------------------------------------------------------- cycles

CYCLE = [
    rule("START", {"phq9": {"at_least": 10}}, [{"derive": {"x": True}}]),
    rule("X-TO-Y", {"x": True}, [{"derive": {"y": True}}]),
    rule("Y-TO-X", {"y": True}, [{"derive": {"x": True}}, {"consider": "went round"}]),
]


def test_derivation_cycle_is_refused_by_lint(tmp_path: Path) -> None:
    directory = tiny(tmp_path / "rules", CYCLE, derived=("x", "y"))
    lines = one_line_problems(run_cli("rules", "lint", str(directory)), 1)
    assert any("derivation cycle: " in line and "X-TO-Y" in line and "Y-TO-X" in line for line in lines), lines
    lines = one_line_problems(run_cli("assess", str(DEMO), "--rules", str(directory)), 4)
    assert any("derivation cycle: " in line for line in lines), lines


def test_derivation_cycle_still_terminates_when_lint_is_bypassed(tmp_path: Path) -> None:
    # Each rule fires at most once and equal derived values count once, so even a cyclic
    # rule set settles; a subprocess with a timeout turns a hang into a failure.
    directory = tiny(tmp_path / "rules", CYCLE, derived=("x", "y"))
    script = f"""
import json, sys
from ipt_advisor.advisor import Advisor
from ipt_advisor.intake.schema import from_mapping
from ipt_advisor.ruleset.load import read_ruleset
ruleset, problems = read_ruleset({str(directory)!r})
decision = Advisor(ruleset).assess(from_mapping({INTAKE!r}, None, "t"))
print(json.dumps([t["rule"] for t in decision["trace"]]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)) == ["START", "X-TO-Y", "Y-TO-X"]


# --------------------------------------------------------------------------- runaway rule sets


def test_firing_limit_stops_a_runaway_rule_set(tmp_path: Path) -> None:
    rules, names = chain(5)
    directory = tiny(tmp_path / "rules", rules, derived=names, max_firings=3)
    ruleset, problems = lint(directory)
    assert problems == [] and ruleset is not None
    with pytest.raises(EngineError) as info:
        Advisor(ruleset).assess(intake())
    messages = [p.message for p in info.value.problems]
    assert messages == ["engine: firing limit of 3 exceeded at rule R4: the rule set does not settle"]

    lines = one_line_problems(run_cli("assess", str(DEMO), "--rules", str(directory)), 4)
    assert lines == [f"{DEMO}: engine: firing limit of 3 exceeded at rule R4: the rule set does not settle"]


def test_the_limit_counts_each_evaluation_afresh(tmp_path: Path) -> None:
    rules, names = chain(3)
    ruleset, _ = read_ruleset(tiny(tmp_path / "rules", rules, derived=names, max_firings=3))
    assert ruleset is not None
    advisor = Advisor(ruleset)
    for _ in range(50):  # three firings each time: exactly at the limit, never over
        assert [t["rule"] for t in advisor.assess(intake())["trace"]] == ["R1", "R2", "R3"]


# --------------------------------------------------------------------------- types


def test_numeric_string_is_refused_before_the_engine(tmp_path: Path) -> None:
    # durable-rules compares "16" >= 10 as text (false): a string must never reach it
    record = tmp_path / "intake.yaml"
    record.write_text(json.dumps({**INTAKE, "measures": {"phq9": "16"}}), encoding="utf-8")
    lines = one_line_problems(run_cli("assess", str(record)), 3)
    assert lines == [f"{record}:1: measures.phq9: must be a whole number, got '16' (text)"]


def test_the_engine_fact_builder_refuses_a_string_too() -> None:
    # defence in depth, should anything but the validator ever build an intake
    class Forged:
        source = "forged"

        def get(self, path: str) -> Any:
            return "16" if path == "measures.phq9" else None

    with pytest.raises(EngineError) as info:
        input_values(Forged(), Advisor.load().ruleset)
    assert [str(p) for p in info.value.problems] == [
        "forged: measures.phq9: value '16' does not fit fact phq9 (integer)"
    ]


# --------------------------------------------------------------------------- versions side by side


def test_two_rule_set_versions_in_one_process(tmp_path: Path) -> None:
    old = tiny(
        tmp_path / "v1", [rule("FMT", {"phq9": {"at_least": 10}}, [{"format": {"choose": "group", "reason": "v1"}}])]
    )
    new = tiny(
        tmp_path / "v2",
        [rule("FMT", {"phq9": {"at_least": 10}}, [{"format": {"choose": "individual", "reason": "v2"}}])],
        version="2.0.0",
    )
    first, second = Advisor.load(old), Advisor.load(new)
    assert first is not second and first.engine is not second.engine
    for _ in range(50):  # interleaved: neither engine sees the other's rules or sessions
        a, b = first.assess(intake()), second.assess(intake())
        assert (a["recommendation"]["format"], a["ruleset"]["version"]) == ("group", "1.0.0")
        assert (b["recommendation"]["format"], b["ruleset"]["version"]) == ("individual", "2.0.0")
    assert Advisor.load().assess(load_intake_file(str(DEMO)))["ruleset"]["name"] == "ipt-suitability"


# --------------------------------------------------------------------------- aggregation edge


def test_a_flag_is_shown_at_the_most_severe_level_raised(tmp_path: Path) -> None:
    warn = {"flag": {"code": "CHAIN_END", "level": "warning", "action": "look into it"}}
    crit = {"flag": {"code": "CHAIN_END", "level": "critical", "action": "act today"}}
    rules = [
        rule("EARLY-WARNING", {"phq9": {"at_least": 5}}, [warn]),
        rule("LATE-CRITICAL", {"phq9": {"at_least": 10}}, [crit, {"format": {"choose": "defer", "reason": "x"}}]),
    ]
    ruleset, problems = lint(tiny(tmp_path / "rules", rules))
    assert problems == [] and ruleset is not None
    (flag,) = Advisor(ruleset).assess(intake())["flags"]
    assert (flag["level"], flag["rule"], flag["action"]) == ("critical", "LATE-CRITICAL", "act today")


# --------------------------------------------------------------------------- what a firing matched


def test_a_rule_reading_a_fact_with_two_derived_values_shows_the_one_it_matched(tmp_path: Path) -> None:
    # x is derived both true and false here (lint would call that a conflict; the engine must
    # still tell which value each reader matched, from the agenda entry, not guess the first)
    rules = [
        rule("X-TRUE", {"phq9": {"at_least": 5}}, [{"derive": {"x": True}}]),
        rule("X-FALSE", {"phq9": {"at_least": 10}}, [{"derive": {"x": False}}]),
        rule("READS-FALSE", {"x": False}, [{"consider": "x was false"}]),
        rule("READS-TRUE", {"x": True}, [{"consider": "x was true"}]),
    ]
    ruleset, _ = read_ruleset(tiny(tmp_path / "rules", rules, derived=("x",)))
    assert ruleset is not None
    run = Advisor(ruleset).engine.run(engine_fact(input_values(intake(), ruleset)), "t.yaml")
    assert sorted(run.derived["x"]) == [False, True]
    because = {f.rule_id: f.because for f in run.firings}
    assert because["READS-FALSE"] == {"x": False}
    assert because["READS-TRUE"] == {"x": True}
    assert because["X-TRUE"] == because["X-FALSE"] == {"measures.phq9": 12}


def test_a_closed_engine_refuses_to_run_and_closing_twice_is_harmless(tmp_path: Path) -> None:
    # rules lint builds a throwaway engine to see whether durable-rules accepts a rule set,
    # then frees it; a freed engine must never reach the C core again
    from ipt_advisor.ruleset.compile import compile_ruleset
    from ipt_advisor.engine.durable_rules import Engine

    ruleset, _ = read_ruleset(tiny(tmp_path / "rules", [rule("FMT", {"phq9": {"at_least": 10}}, [{"consider": "x"}])]))
    assert ruleset is not None
    engine = Engine(ruleset, compile_ruleset(ruleset))
    assert [f.rule_id for f in engine.run(engine_fact(input_values(intake(), ruleset)), "t.yaml").firings] == ["FMT"]
    engine.close()
    engine.close()
    with pytest.raises(EngineError) as info:
        engine.run(engine_fact(input_values(intake(), ruleset)), "t.yaml")
    assert [str(p) for p in info.value.problems] == ["t.yaml: engine: this engine was closed"]


def _crowd() -> list[dict[str, Any]]:
    """82 rules with different first tests that all hold for phq9 = 27."""
    whens = (
        [{"phq9": {"at_least": k}} for k in range(28)]
        + [{"phq9": {"is_not": k}} for k in range(27)]
        + [{"phq9": {"above": k}} for k in range(27)]
    )
    return [rule(f"CROWD-{i:02d}", when, [{"consider": f"note {i}"}]) for i, when in enumerate(whens)]


def test_an_intake_matching_more_first_tests_than_the_engine_stack_holds_fires_them_all(tmp_path: Path) -> None:
    """durable's C core walks the alpha nodes a fact reaches with a 64-entry stack and failed
    such an intake with error 303 (ERR_MAX_STACK_SIZE); compile now groups crowded patterns."""
    from ipt_advisor.ruleset import compile as compiling

    ruleset, problems = read_ruleset(tiny(tmp_path / "rules", _crowd(), max_firings=200))
    assert ruleset is not None, problems
    advisor = Advisor(ruleset)
    assert any(compiling.GROUP_KEY in json.dumps(alt.body) for alt in advisor.compiled.alternatives)
    decision = advisor.assess(from_mapping({**INTAKE, "measures": {"phq9": 27}}, None, "t"))
    assert len(decision["trace"]) == 82
    assert (
        len(advisor.assess(from_mapping({**INTAKE, "measures": {"phq9": 0}}, None, "t"))["trace"]) == 27
    )  # at_least 0, is_not 1..26
    advisor.engine.close()


def test_the_same_crowd_loaded_flat_fails_with_error_303(tmp_path: Path, monkeypatch) -> None:
    """The cause, kept visible: loaded as before (no groups), the C core refuses the intake."""
    import dataclasses

    from ipt_advisor.ruleset import compile as compiling

    ruleset, _ = read_ruleset(tiny(tmp_path / "rules", _crowd(), max_firings=200))
    monkeypatch.setattr(compiling, "FLAT_PATTERNS", 10_000)
    advisor = Advisor(dataclasses.replace(ruleset, name="tiny-flat"))
    with pytest.raises(EngineError, match="error code: 303"):
        advisor.assess(from_mapping({**INTAKE, "measures": {"phq9": 27}}, None, "t"))
    advisor.engine.close()


def test_grouped_patterns_decide_exactly_as_flat_ones(monkeypatch) -> None:
    """Every pattern of the shipped rules behind group tests: the same decisions, byte for byte."""
    import dataclasses
    import random

    from ipt_advisor.ruleset import compile as compiling
    from ipt_advisor.core.jsonline import dumps_bytes
    from strategies import random_intake

    flat = Advisor.load()
    monkeypatch.setattr(compiling, "FLAT_PATTERNS", 0)
    grouped = Advisor(dataclasses.replace(flat.ruleset, name="grouped-copy"))
    assert all(compiling.GROUP_KEY in json.dumps(alt.body) for alt in grouped.compiled.alternatives)
    rng = random.Random(303)
    for _ in range(400):
        intake = from_mapping(json.loads(json.dumps(random_intake(rng), default=str)), None, "t")
        first, second = flat.assess(intake), grouped.assess(intake)
        second["ruleset"] = first["ruleset"]  # the copy's name differs, nothing else may
        assert dumps_bytes(second) == dumps_bytes(first)
    grouped.engine.close()

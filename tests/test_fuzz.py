"""Fuzzing the two loaders: whatever the bytes, a decision or a clear error, never a crash.

* Intake loader: any byte string, any text, and mutated valid intakes (lines deleted or
  duplicated, YAML tags, deep nesting, huge numbers, odd unicode, truncation, random bytes)
  through ``load_intake`` give a decision or ``IntakeError`` whose problems are one line
  each; through the CLI (``assess -``) exit 0 or 3 and no traceback.
* Rule loader: mutated copies of the shipped rule files (values swapped or retyped, lines
  deleted, duplicated or re-indented, random keys inserted) through ``ruleload.lint`` and
  ``Advisor.load`` give a rule set or problems; ``assess --rules`` exits 0 or 4 and
  ``rules lint`` 0 or 1, never with a traceback.

Default budgets are small so the suite stays quick; ``-m slow`` runs the same fuzzers
with ten times the examples.  No time is asserted: a hang would show as a stuck suite.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cli import cli
from ipt_advisor.advisor import Advisor
from ipt_advisor.core.errors import EngineError, IntakeError, RuleSetError
from ipt_advisor.intake.schema import load_intake
from ipt_advisor.intake.template import TEMPLATE
from ipt_advisor.ruleset.load import default_rules_dir

REPO = Path(__file__).resolve().parents[1]
SEEDS = [p.read_text(encoding="utf-8") for p in sorted((REPO / "examples").glob("*.yaml"))] + [TEMPLATE]
RULE_FILES = sorted(p.name for p in default_rules_dir().glob("*.yaml"))
GOOD_INTAKE = (REPO / "examples" / "demo.yaml").read_bytes()

# generated inputs are big on purpose (deep nesting, 5000-digit numbers)
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
FUZZ_LONG = settings(max_examples=2_000, deadline=None, suppress_health_check=SLOW_OK)
RULE_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=SLOW_OK)
RULE_FUZZ_LONG = settings(max_examples=300, deadline=None, suppress_health_check=SLOW_OK)

TAGS = (
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!python/object:builtins.dict {}",
    "!!python/tuple [1]",
    "!custom x",
    "!<tag:example.org,2026:x> y",
    "!!binary aGk=",
    "!!set {a}",
    "!!omap [a: 1]",
    "!!timestamp 2026-01-01",
    "!!float 1",
    "!!str 1",
    "!!int 1.5",
    "!!int abc",
    "!!bool maybe",
    "!!null x",
    "!!map [1]",
    "!!seq {a: 1}",
)
VALUES = (
    "9" * 5000,
    "-" + "9" * 400,
    "1e999",
    "-0",
    "0x10",
    "010",
    "0o17",
    "1_000",
    ".nan",
    ".inf",
    "-.inf",
    "2026-02-30",
    "9999-12-31",
    "2026-01-01T10:00:00",
    "~",
    "null",
    "yes",
    "no",
    "on",
    "''",
    '""',
    "[",
    "{",
    "]",
    "}",
    "&a x",
    "*a",
    "<<: *a",
    '"\\ud800"',
    '"\\x00"',
    '"\\u202e"',
    "'\t'",
    "\t",
    "[1, [2, [3]]]",
    "{a: {b: {c: 1}}}",
    "名前",
    "😀",
    "|\n  block",
    ">-\n  folded",
    "? complex",
    "- item",
    "%YAML 1.1",
    "---",
    "...",
    "#",
    "@x",
    "`x`",
)


# --------------------------------------------------------------------------- text mutation


def _nested(kind: str, depth: int) -> str:
    return ("[" * depth + "1" + "]" * depth) if kind == "list" else ("{a: " * depth + "1" + "}" * depth)


MUTATION = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 300)),
    st.tuples(st.just("duplicate"), st.integers(0, 300)),
    st.tuples(st.just("swap"), st.integers(0, 300), st.integers(0, 300)),
    st.tuples(st.just("value"), st.integers(0, 300), st.sampled_from(VALUES) | st.text(max_size=20)),
    st.tuples(st.just("tag"), st.integers(0, 300), st.sampled_from(TAGS)),
    st.tuples(st.just("nest"), st.integers(0, 300), st.sampled_from(("list", "map")), st.integers(1, 3000)),
    st.tuples(st.just("indent"), st.integers(0, 300), st.integers(-4, 4)),
    st.tuples(st.just("insert"), st.integers(0, 300), st.text(max_size=30), st.sampled_from(VALUES)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000)),
    st.tuples(st.just("bytes"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
)


def mutate(text: str, ops: list[tuple[Any, ...]]) -> bytes:
    """Apply line-level mutations (indices taken modulo the line count) to a YAML text."""
    lines = text.split("\n")
    tail = b""
    for op in ops:
        kind, at = op[0], op[1] % max(len(lines), 1)
        if not lines:
            lines = [""]
        line = lines[at]
        key, colon, _ = line.partition(":")
        if kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, line)
        elif kind == "swap":  # swap the values of two `key: value` lines
            other = op[2] % len(lines)
            okey, ocolon, ovalue = lines[other].partition(":")
            if colon and ocolon:
                lines[at], lines[other] = key + ":" + ovalue, okey + ":" + line.partition(":")[2]
        elif kind == "value":
            lines[at] = (key + ": " if colon else "") + op[2]
        elif kind == "tag":
            lines[at] = (key + ": " if colon else "") + op[2]
        elif kind == "nest":
            lines[at] = (key + ": " if colon else "") + _nested(op[2], op[3])
        elif kind == "indent":
            lines[at] = " " * max(0, len(line) - len(line.lstrip()) + op[2]) + line.lstrip()
        elif kind == "insert":
            indent = " " * (len(line) - len(line.lstrip()))
            lines.insert(at, f"{indent}{op[2]}: {op[3]}")
        elif kind == "truncate":
            joined = "\n".join(lines)
            lines = joined[: op[1] % (len(joined) + 1)].split("\n")
        elif kind == "bytes":
            tail += op[2]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if tail:  # raw bytes spliced in at some position: invalid UTF-8, NULs, BOMs
        cut = ops[-1][1] % (len(data) + 1)
        data = data[:cut] + tail + data[cut:]
    return data


# --------------------------------------------------------------------------- intake checks


def check_intake(data: bytes | str, advisor: Advisor) -> str:
    """Load and assess; 'valid' or 'invalid' — anything else raises and fails the test."""
    try:
        intake = load_intake(data, "fuzz.yaml")
    except IntakeError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert len(str(problem).splitlines()) == 1, str(problem)
        event("intake invalid: problems reported")  # shown by --hypothesis-show-statistics
        return "invalid"
    decision = advisor.assess(intake)
    assert decision["recommendation"]["format"] in ("group", "individual", "defer")
    event("intake valid: decided")
    return "valid"


def check_cli(result: Result, allowed: tuple[int, ...]) -> None:
    assert result.exit_code in allowed, (result.exit_code, result.output[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code not in (0,):
        lines = result.stderr.splitlines()
        assert lines and all(line.strip() for line in lines), result.stderr


@pytest.fixture(scope="module")
def shipped() -> Advisor:
    return Advisor.load()


@FUZZ
@given(st.binary(max_size=4096))
def test_any_bytes_give_a_decision_or_problems(shipped: Advisor, data: bytes) -> None:
    check_intake(data, shipped)


@FUZZ
@given(st.text(alphabet=st.characters(codec=None), max_size=2048))
def test_any_text_gives_a_decision_or_problems(shipped: Advisor, data: str) -> None:
    check_intake(data, shipped)  # includes lone surrogates, which bytes cannot carry


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_intakes_give_a_decision_or_problems(shipped: Advisor, seed: str, ops: list[tuple[Any, ...]]) -> None:
    data = mutate(seed, ops)
    outcome = check_intake(data, shipped)
    result = CliRunner().invoke(cli, ["assess", "-", "--format", "json"], input=data)
    check_cli(result, (0, 3))
    assert result.exit_code == (0 if outcome == "valid" else 3)
    if result.exit_code == 0:
        assert json.loads(result.stdout)["decision_version"] == 1


@pytest.mark.slow
@FUZZ_LONG
@given(st.sampled_from(SEEDS), st.lists(MUTATION, min_size=1, max_size=6), st.binary(max_size=2048))
def test_intake_fuzz_long_run(shipped: Advisor, seed: str, ops: list[tuple[Any, ...]], data: bytes) -> None:
    check_intake(data, shipped)
    test_mutated_intakes_give_a_decision_or_problems.hypothesis.inner_test(shipped, seed, ops)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- rule loader


def check_rules(file: str, ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(default_rules_dir(), rules)
        target = rules / file
        target.write_bytes(mutate(target.read_text(encoding="utf-8"), ops))

        runner = CliRunner()
        linted = runner.invoke(cli, ["rules", "lint", str(rules)])  # lint() behind it never raises
        check_cli(linted, (0, 1))
        try:
            advisor = Advisor.load(rules)
        except RuleSetError as exc:
            assert linted.exit_code == 1 and exc.problems
            assert all(len(str(p).splitlines()) == 1 for p in exc.problems)
            event("rule set refused: problems reported")
        else:
            assert linted.exit_code == 0, linted.stderr
            event("rule set still valid: loaded and evaluated")
            try:
                advisor.assess(load_intake(GOOD_INTAKE, "demo.yaml"))
            except EngineError as exc:  # e.g. a mutated firing limit
                assert all(len(str(p).splitlines()) == 1 for p in exc.problems)
        check_cli(runner.invoke(cli, ["assess", str(REPO / "examples" / "demo.yaml"), "--rules", str(rules)]), (0, 4))


@RULE_FUZZ
@given(st.sampled_from(RULE_FILES), st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_rule_sets_give_a_rule_set_or_problems(file: str, ops: list[tuple[Any, ...]]) -> None:
    check_rules(file, ops)


@pytest.mark.slow
@RULE_FUZZ_LONG
@given(st.sampled_from(RULE_FILES), st.lists(MUTATION, min_size=1, max_size=5))
def test_rule_fuzz_long_run(file: str, ops: list[tuple[Any, ...]]) -> None:
    check_rules(file, ops)


# --------------------------------------------------------------------------- known holes

# Two lint-clean rule sets that durable-rules refuses when the engine is built; found by
# the generated-rule-set differential (tests/test_differential.py) and by hand.
ENGINE_REFUSES = {
    # enum values that are mappings pass lint, and compile to an expression the engine's
    # parser rejects (durable error 202)
    "mapping-enum-value": (
        "  odd_band:\n    type: enum\n    values: [{a: 1}, plain]\n    derived: true\n    label: Odd\n",
        [
            ("{phq9: {at_least: 0}}", "[{derive: {odd_band: {a: 1}}}]"),
            ("{odd_band: {is: {a: 1}}}", "[{consider: odd}]"),
        ],
    ),
    # an `any` of 14 two-condition `all`s: more than 31 expressions in one engine pattern
    # (durable error 113); lint only limits the number of alternatives
    "large-condition": (
        None,
        [
            (
                "{any: [" + ", ".join(f"{{all: [{{phq9: {i}}}, {{age: {{at_least: 18}}}}]}}" for i in range(14)) + "]}",
                "[{consider: large}]",
            )
        ],
    ),
}


def _rule_text(rule_id: str, when: str, then: str) -> str:
    return f"""
  - id: {rule_id}
    title: refused by the engine
    version: 1.0.0
    status: active
    area: severity
    rationale: r
    references: [S30]
    when: {when}
    then: {then}
    tests:
      - {{name: a, intake: {{}}, expect: {{fires: true}}}}
      - {{name: b, intake: {{}}, expect: {{fires: false}}}}
"""


@pytest.mark.parametrize("case", sorted(ENGINE_REFUSES))
def test_engine_refusal_is_a_rule_set_error(rules_copy: Path, case: str) -> None:
    facts_text, rules = ENGINE_REFUSES[case]
    if facts_text:
        with (rules_copy / "facts.yaml").open("a", encoding="utf-8") as handle:
            handle.write(facts_text)
    with (rules_copy / "severity.yaml").open("a", encoding="utf-8") as handle:
        for n, (when, then) in enumerate(rules):
            handle.write(_rule_text(f"SEV-REFUSED-{n}", when, then))
    runner = CliRunner()
    linted = runner.invoke(cli, ["rules", "lint", str(rules_copy)])
    assessed = runner.invoke(cli, ["assess", str(REPO / "examples" / "demo.yaml"), "--rules", str(rules_copy)])
    check_cli(assessed, (4,))
    assert linted.exit_code == 1, "lint should refuse what the engine refuses"


def refused(rules_copy: Path, file: str, written: str, instead: str) -> Result:
    """Write ``instead`` of the first ``written`` in ``file``: lint must refuse the rule set
    with problems (exit 1) and assess with it (exit 4), neither with a traceback; the lint run."""
    path = rules_copy / file
    text = path.read_text(encoding="utf-8")
    assert written in text
    path.write_text(text.replace(written, instead, 1), encoding="utf-8")
    runner = CliRunner()
    linted = runner.invoke(cli, ["rules", "lint", str(rules_copy)])
    check_cli(linted, (1,))
    check_cli(runner.invoke(cli, ["assess", str(REPO / "examples" / "demo.yaml"), "--rules", str(rules_copy)]), (4,))
    return linted


@pytest.mark.parametrize("value", ["[[1]]", "{is: {a: 1}}", "{in: [[true]]}"])
def test_lint_reports_an_unhashable_condition_value(rules_copy: Path, value: str) -> None:
    refused(rules_copy, "safety.yaml", "        - cssrs_intent: true\n", f"        - cssrs_intent: {value}\n")


@pytest.mark.parametrize("value", ["5", "null", ".nan", "2026-01-01"])
def test_rule_loader_reports_a_wrongly_typed_if_format(rules_copy: Path, value: str) -> None:
    refused(rules_copy, "format.yaml", "if_format: [group]", f"if_format: {value}")


@pytest.mark.parametrize("value", ["[1]", "{a: 1}", "1", "yes please"])
def test_a_test_expecting_fires_that_is_not_true_or_false_is_one_problem(rules_copy: Path, value: str) -> None:
    # found by test_rule_fuzz_long_run: `fires: [1]` crashed lint (a set of the values written)
    linted = refused(rules_copy, "format.yaml", "          fires: true\n", f"          fires: {value}\n")
    assert "expect.fires: must be true or false" in linted.stderr

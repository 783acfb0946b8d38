"""Compact decision lines (`audit --compact`, `expand`): at least 3x fewer bytes, and expanded
back, byte for byte the decisions.jsonl a plain audit writes; another rule set's lines refused."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings

from cli import cli
from conftest import ROOT
from ipt_advisor.advisor import Advisor
from ipt_advisor.audit.compact import COMPACT_NAME, CompactError, TextTable, expand_lines
from ipt_advisor.core.jsonline import dumps_bytes
from strategies import intakes, random_intake

CORPUS = ROOT / "tests" / "files" / "corpus"


def write_corpus(path: Path, n: int, seed: int = 18) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps(random_intake(rng), default=str) + "\n" for _ in range(n)))
    return path


def test_compact_audit_expands_to_the_plain_audit_byte_for_byte(runner, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c.jsonl", 400)
    plain, compact = tmp_path / "plain", tmp_path / "compact"
    assert runner.invoke(cli, ["audit", str(corpus), "-o", str(plain), "--jobs", "2"]).exit_code == 0
    done = runner.invoke(cli, ["audit", str(corpus), "-o", str(compact), "--jobs", "2", "--compact"])
    assert done.exit_code == 0, done.output
    assert not (compact / "decisions.jsonl").exists()  # never a non-contract line under the contract's name
    small = (compact / COMPACT_NAME).read_bytes()
    big = (plain / "decisions.jsonl").read_bytes()
    assert len(big) >= 3 * len(small), (len(big), len(small))
    assert small.count(b"\n") == big.count(b"\n") == 400
    for name in ("errors.jsonl", "overrides.jsonl", "summary.json", "summary.md"):
        assert (compact / name).read_bytes() == (plain / name).read_bytes(), name
    out = tmp_path / "expanded.jsonl"
    result = runner.invoke(cli, ["expand", str(compact / COMPACT_NAME), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == big
    to_stdout = runner.invoke(cli, ["expand", str(compact / COMPACT_NAME)])
    assert to_stdout.exit_code == 0 and to_stdout.stdout_bytes == big


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(intakes())
def test_every_decision_round_trips(advisor: Advisor, pair) -> None:
    decision = advisor.assess(pair[1])
    table = TextTable.of(advisor.ruleset)
    line = dumps_bytes(table.encode(decision))
    assert dumps_bytes(table.expand(orjson.loads(line))) == dumps_bytes(decision)


def test_a_text_the_rule_set_lacks_stays_a_text(advisor: Advisor) -> None:
    """Whatever decide writes, the round trip is exact: an unknown text (a case's own wording),
    a step whose title is not the rule's, and a number where a text would be all survive."""
    from ipt_advisor.intake.schema import load_intake_file

    decision = advisor.assess(load_intake_file(str(ROOT / "examples" / "demo.yaml")))
    decision["recommendation"]["conditions"].append("a condition no rule set holds")
    decision["trace"][0] = {**decision["trace"][0], "title": "renamed"}
    decision["trace"][1] = {**decision["trace"][1], "effect": "an effect of this case only"}
    table = TextTable.of(advisor.ruleset)
    compact = orjson.loads(dumps_bytes(table.encode(decision)))
    assert compact["recommendation"]["conditions"][-1] == "a condition no rule set holds"
    assert type(compact["trace"][0]) is dict and len(compact["trace"][1]) == 3
    assert dumps_bytes(table.expand(compact)) == dumps_bytes(decision)


def test_expand_refuses_another_rule_sets_lines_and_writes_nothing(runner, tmp_path: Path, advisor) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "facts.yaml").write_bytes((rules / "facts.yaml").read_bytes() + b"\n")  # another sha256
    out = tmp_path / "audit"
    assert runner.invoke(cli, ["audit", str(CORPUS / "intakes.jsonl"), "-o", str(out), "--compact"]).exit_code == 0
    compact = out / COMPACT_NAME
    with compact.open("ab") as handle:
        handle.write(b"not json\n{\"decision_version\":1}\n")
    target = tmp_path / "expanded.jsonl"
    result = runner.invoke(cli, ["expand", str(compact), "-o", str(target), "--rules", str(rules)])
    assert result.exit_code == 1
    assert not target.exists()
    problems = result.stderr.splitlines()
    assert problems[0].startswith(f"{compact}:1: ") and "written with another rule set" in problems[0]
    assert len(problems) == 10  # every line listed: 8 decisions of another rule set, 2 not compact lines at all
    assert "not a compact decision line" in problems[-1]
    # with the rules it was written with, the good lines expand; the two bad ones are still named
    result = runner.invoke(cli, ["expand", str(compact), "-o", str(target)])
    assert result.exit_code == 1 and not target.exists()
    assert [p.split(": ")[0] for p in result.stderr.splitlines()] == [f"{compact}:9", f"{compact}:10"]


def test_expand_lines_lists_at_most_twenty_problems(advisor) -> None:
    table = TextTable.of(advisor.ruleset)
    try:
        list(expand_lines([b"[]\n"] * 30, table, "x.jsonl"))
    except CompactError as exc:
        assert len(exc.problems) == 21
        assert "... and 10 more bad line(s)" in [p.message for p in exc.problems]
    else:
        raise AssertionError("30 bad lines expanded")


def test_resume_refuses_a_run_started_without_compact(runner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    corpus = CORPUS / "intakes.jsonl"
    assert runner.invoke(cli, ["audit", str(corpus), "-o", str(out)]).exit_code == 0
    state = json.loads((out / ".audit-state.json").read_text())
    state["phase"] = "running"  # as if it had been interrupted
    (out / ".audit-state.json").write_text(json.dumps(state))
    result = runner.invoke(cli, ["audit", str(corpus), "-o", str(out), "--resume", "--compact"])
    assert result.exit_code == 1
    assert "the run was started without --compact" in result.stderr

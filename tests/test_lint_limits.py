"""Rule sets that pass the schema yet the engine cannot run, or that would break every command:
lint refuses each with one line, and loading never hangs.

Measured limits of durable-rules 2.0.28 (see docs/invariants.md): an alpha node keeps its
branches in a hash set of 512 buckets and looks a branch up by probing until an empty bucket,
so a node with 512 branches makes ``create_ruleset`` spin for ever. The engine's first node
branches on the kind of fact (the intake, and each derived fact a rule reads): 511 derived
facts load (0.05 s), 512 spin. Lint allows at most ``lint.MAX_BRANCHES`` = 500 branches
(499 derived facts), and loading itself runs under a time limit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipt_advisor.ruleset import lint as lint_module
from ipt_advisor.ruleset.load import lint
from test_engine import chain, rule, tiny


def problems_of(directory: Path) -> list[str]:
    _, problems = lint(directory)
    return [p.message for p in problems]


def test_a_chain_longer_than_the_engine_can_load_is_refused_by_lint(tmp_path: Path) -> None:
    rules, names = chain(512)  # 511 derived facts read: with the intake, the first node would get 512 branches
    messages = problems_of(tiny(tmp_path / "rules", rules, derived=names, max_firings=10_000))
    assert any("rules read 511 different derived facts; the engine can load at most 499" in m for m in messages), (
        messages
    )


def test_a_chain_within_the_limit_lints_and_runs(tmp_path: Path) -> None:
    from ipt_advisor.advisor import Advisor
    from test_engine import intake

    rules, names = chain(400)  # deep, yet no RecursionError in lint or the compiler
    ruleset, problems = lint(tiny(tmp_path / "rules", rules, derived=names, max_firings=10_000))
    assert problems == [] and ruleset is not None
    assert [f["code"] for f in Advisor(ruleset).assess(intake())["flags"]] == ["CHAIN_END"]


def test_too_many_branches_on_one_fact_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_module, "MAX_BRANCHES", 20)
    rules = [
        rule(
            f"R{i}",
            {"all": [{"phq9": {"at_least": i}}, {"phq9": {"at_most": 27}}]},
            [{"flag": {"code": "CHAIN_END", "level": "info", "action": "none"}}],
        )
        for i in range(25)
    ]
    messages = problems_of(tiny(tmp_path / "rules", rules))
    assert any("25 different first tests on the intake" in m for m in messages), messages


def test_loading_runs_under_a_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a rule set lint never saw (the library's Engine directly) cannot hang a process."""
    from ipt_advisor.engine import durable_rules as engine
    from ipt_advisor.ruleset.compile import compile_ruleset
    from ipt_advisor.core.errors import RuleSetError
    from ipt_advisor.ruleset.load import read_ruleset

    rules, names = chain(512)
    ruleset, _ = read_ruleset(tiny(tmp_path / "rules", rules, derived=names, max_firings=10_000))
    assert ruleset is not None
    monkeypatch.setattr(engine, "LOAD_SECONDS", 2.0)
    with pytest.raises(RuleSetError) as caught:
        engine.Engine(ruleset, compile_ruleset(ruleset))
    assert "did not finish loading this rule set within 2 s" in str(caught.value)


@pytest.mark.parametrize("name", ["intake", "m", "s", "k", "sid", "id"])
def test_internal_engine_names_are_reserved(tmp_path: Path, name: str) -> None:
    """A derived fact named `intake` was the engine's intake fact too: lint passed, and a
    complete C-SSRS read as incomplete."""
    rules = [
        rule("R1", {"phq9": {"at_least": 10}}, [{"derive": {name: True}}]),
        rule("R2", {name: True}, [{"flag": {"code": "CHAIN_END", "level": "info", "action": "none"}}]),
    ]
    messages = problems_of(tiny(tmp_path / "rules", rules, derived=(name,)))
    assert any("is a name the engine uses itself" in m for m in messages), messages


def write_manifest_change(directory: Path, change) -> Path:
    manifest = json.loads((directory / "ruleset.yaml").read_text())
    change(manifest)
    (directory / "ruleset.yaml").write_text(json.dumps(manifest))
    return directory


def test_a_severity_policy_without_a_field_the_reports_show_is_refused(tmp_path: Path) -> None:
    rules, names = chain(1)
    directory = tiny(tmp_path / "rules", rules, derived=names)
    assert problems_of(directory) == []
    write_manifest_change(directory, lambda m: m["policies"].__setitem__("severity", {"phq9": "phq9"}))
    messages = problems_of(directory)
    assert messages == ["needs kroenke_band and nice_band too: every report shows them"], messages


@pytest.mark.parametrize("value", [".inf", ".nan", "1.5"])
def test_firing_limits_must_be_finite_whole_numbers(tmp_path: Path, value: str) -> None:
    rules, names = chain(1)
    directory = tiny(tmp_path / "rules", rules, derived=names)
    text = (directory / "ruleset.yaml").read_text().replace('"max_firings": 100', f'"max_firings": {value}')
    (directory / "ruleset.yaml").write_text(text)
    _, problems = lint(directory)
    assert any(p.path == "limits.max_firings" for p in problems), problems

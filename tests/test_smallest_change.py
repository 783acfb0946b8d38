"""The smallest change that would give a format (``assess --why-not``, catalog case pages).

Every answer offered is re-checked here by editing the intake YAML by hand and assessing
it with the engine (the independent oracle), and shown to be minimal: no answer with fewer
changes among the searched facts gives the format.  Risk answers are never offered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import cli
from conftest import EXAMPLES, ROOT
from ipt_advisor import smallest
from ipt_advisor.core.errors import IntakeError
from ipt_advisor.intake.schema import load_intake_file
from test_whatif import edited_copy

FORMATS = ("group", "individual", "defer")


def _assess(advisor, path: Path):
    intake = load_intake_file(str(path))
    return intake, advisor.assess(intake)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_answer_offered_gives_the_format_and_none_smaller_does(advisor, path: Path, tmp_path: Path) -> None:
    intake, decision = _assess(advisor, path)
    risky = {advisor.ruleset.facts[f].key for f in smallest.risk_facts(advisor.ruleset)}
    for target in FORMATS:
        if target == decision["recommendation"]["format"]:
            continue
        got = smallest.smallest_change(advisor, intake, decision, target)
        sizes = {len(option) for option in got["options"]}
        assert len(sizes) <= 1, sizes  # fewest changes only
        for option in got["options"]:
            assert not {c["key"] for c in option} & risky, option
            copy = edited_copy(path, tmp_path, {c["key"]: c["value"] for c in option})
            assert advisor.assess(load_intake_file(str(copy)))["recommendation"]["format"] == target, option
        if got["options"] and len(got["options"][0]) > 1:
            # no single searched answer does it alone
            for key in got["searched"]:
                spec = next(s for s in advisor.ruleset.facts.values() if s.key == key)
                for value in smallest._options(advisor.ruleset, spec.name, intake.get(key)):
                    try:
                        copy = edited_copy(path, tmp_path, {key: value})
                        result = advisor.assess(load_intake_file(str(copy)))
                    except IntakeError:  # outside the schema (e.g. a follow-up not asked): no answer
                        continue
                    assert result["recommendation"]["format"] != target, (key, value)


def test_one_answer_turns_a_group_case_individual(advisor) -> None:
    intake, decision = _assess(advisor, ROOT / "examples" / "group.yaml")
    got = smallest.smallest_change(advisor, intake, decision, "individual")
    offered = [[(c["key"], c["from"], c["to"]) for c in option] for option in got["options"]]
    assert [("preferences.format", "either", "individual")] in offered
    assert [("preferences.can_attend_group_times", "yes", "no")] in offered
    assert all(len(o) == 1 for o in offered)


def test_violence_in_a_dispute_is_a_risk_answer_never_offered(advisor) -> None:
    intake, decision = _assess(advisor, ROOT / "tests" / "vignettes" / "03-dana.yaml")
    assert decision["recommendation"]["format"] == "individual"
    got = smallest.smallest_change(advisor, intake, decision, "group")
    assert got["options"] == [] and got["risk_only"] is True
    assert "findings.role_dispute.violence" in got["risk_answers_read"]
    assert "findings.role_dispute.violence" not in got["searched"]
    lines = smallest.smallest_lines(got)
    assert lines[2].startswith("Only if the risk answers were different: no change to the other answers gives group")


def test_an_imminent_risk_case_says_only_the_risk_answers(runner) -> None:
    result = runner.invoke(cli, ["assess", "examples/defer-safety.yaml", "--why-not", "group"])
    assert result.exit_code == 0, result.output
    text = result.stdout[result.stdout.index("WHY NOT GROUP?") :]
    # the answer to "what would have to change" comes before the list of rules
    assert text.index("FEWEST CHANGES THAT WOULD GIVE GROUP") < text.index("Kept from group by these rules")
    assert "Only if the risk answers were different" in text
    assert "risk.cssrs.intent" in text.split("risk answers left as recorded:")[1]


def test_why_not_json_carries_the_search(runner) -> None:
    import json

    result = runner.invoke(cli, ["assess", "examples/group.yaml", "--format", "json", "--why-not", "individual"])
    got = json.loads(result.stdout)["why_not"]["smallest"]
    assert got["target"] == "individual" and got["max_changes"] == smallest.MAX_CHANGES
    assert got["options"] and all(
        set(c) == {"fact", "key", "label", "value", "from", "to"} for option in got["options"] for c in option
    )


def test_the_nearest_number_is_offered(advisor) -> None:
    """A PHQ-9 of 17 (more severe) becomes 15, the nearest less-severe score, not 9."""
    values = {"phq9": 17}
    found = [{"phq9": 9}, {"phq9": 15}, {"phq9": 14}, {"preferred_format": "group"}]
    assert smallest._nearest(advisor.ruleset, values, found) == [{"preferred_format": "group"}, {"phq9": 15}]


def test_search_stays_within_the_intake_schema(advisor) -> None:
    """A follow-up answer is only changed when its parent answer asks it."""
    rs = advisor.ruleset
    assert not smallest._asked(rs, {"dispute_present": False, "dispute_stage": "impasse"})
    assert smallest._asked(rs, {"dispute_present": True, "dispute_stage": "impasse"})
    # one value per band the PHQ-9 thresholds make (0-4, 5-9, 10-14, 15, 16-19, 20-27), nearest to
    # 17, none from its own band
    assert smallest._options(rs, "phq9", 17) == [4, 9, 14, 15, 20]

"""Report rendering (text, md, html, json) and atomic, private file output."""

from __future__ import annotations

import copy
import errno
import json
import os
import pathlib
import re
import stat
import subprocess
import sys

import jinja2
import pytest

from ipt_advisor.core import output
from ipt_advisor.report import render as report
from ipt_advisor.advisor import Advisor
from ipt_advisor.core.errors import OutputError
from ipt_advisor.intake.schema import from_mapping

HUMAN_FORMATS = ("text", "md", "html")

# Vignette 4 of the clinical brief (group IPT with preparation), plus a second area and notes.
KWAME = {
    "intake_version": 1,
    "id": "EX-DEMO-01",
    "assessed_on": "2026-11-02",
    "age": 26,
    "measures": {"phq9": 12, "gad7": 9, "spin": 33},
    "risk": {"cssrs": {"wish_dead": False, "active_thoughts": False, "behavior_3m": False}},
    "findings": {
        "role_transition": {"present": True, "kind": "moved city", "onset_linked": True},
        "isolation": {"present": True},
        "social_anxiety": "moderate",
        "group_discomfort": "mild",
    },
    "notes": "Moved from Gdańsk in March for a new job; knows nobody in town.\n"
    "Nervous about groups but willing to try. Asked whether sessions can be after 17:00.",
}


def view_of(record: dict) -> dict:
    """The view a report renders, for a real intake through the shipped rules (as JSON, so a
    test may change any part of it)."""
    intake = from_mapping(copy.deepcopy(record), None, "examples/demo.yaml")
    advisor = Advisor.load()
    return json.loads(json.dumps(advisor.view(advisor.assess(intake), intake, "0.1.0")))


@pytest.fixture
def view() -> dict:
    return view_of(KWAME)


def incomplete_view(view: dict) -> dict:
    """No C-SSRS and no problem area: incomplete, deferred, a flag at every level."""
    record = copy.deepcopy(KWAME)
    record["risk"] = {"cssrs": None}
    record["findings"] = {"social_anxiety": "moderate", "group_discomfort": "mild"}
    record["preferences"] = {"format": "individual"}
    del record["notes"]
    del record["measures"]["gad7"]
    return view_of(record)


# --- content ------------------------------------------------------------------------------

SECTIONS = {
    "text": [
        "IPT ADVISOR REPORT — case EX-DEMO-01, assessed 2026-11-02",
        "RECOMMENDATION: Group IPT",
        "FOCUS AREA",
        "FLAGS",
        "RISK ANSWERS AS RECORDED",
        "SEVERITY — PHQ-9 in both schemes",
        "POINTS FOR CLINICAL REVIEW",
        "SIGN-OFF — the clinician's decision",
        "APPENDIX — WHY: the rules that fired, in order",
        "NOT ASSESSED",
        "CLINICIAN NOTES (not used by any rule)",
    ],
    "md": [
        "# IPT advisor report — case EX-DEMO-01, assessed 2026-11-02",
        "## Recommendation: Group IPT",
        "## Focus area",
        "## Flags",
        "## Risk answers as recorded",
        "## Severity — PHQ-9 in both schemes",
        "## Points for clinical review",
        "## Sign-off — the clinician's decision",
        "# Appendix",
        "## Why — the rules that fired, in order",
        "## Not assessed",
        "## Clinician notes (not used by any rule)",
    ],
    "html": [
        "<h1>IPT advisor report — case EX-DEMO-01</h1>",
        "<h2>Flags</h2>",
        "<h2>Focus area</h2>",
        "<h2>Risk answers as recorded</h2>",
        "<h2>Severity — PHQ-9 in both schemes</h2>",
        "<h2>Points for clinical review</h2>",
        "<h2>Sign-off — the clinician's decision</h2>",
        "<h2>Appendix — Why: the rules that fired, in order</h2>",
        "<h2>Not assessed</h2>",
        "<h2>Clinician notes (not used by any rule)</h2>",
    ],
}


@pytest.mark.parametrize("fmt", HUMAN_FORMATS)
def test_every_section_and_fact_is_present(view, fmt):
    out = report.render(view, fmt)
    for heading in SECTIONS[fmt]:
        assert heading in out, heading
    # Provenance: rule set name, version and hash.
    assert "ipt-suitability" in out and "1.0.0" in out
    assert view["decision"]["ruleset"]["sha256"] in out
    # Recommendation, its conditions and the rules behind it.
    assert "Group IPT" in out
    assert "Individual pre-group session to prepare for the group" in out
    assert "FMT-GROUP-DEFAULT" in out
    # Focus with reasons, flags with action and rule.
    assert "Role transition" in out and "Interpersonal deficits / isolation" in out
    assert "FOCUS-TRANSITION-ONSET" in out
    assert "SOCIAL_ANXIETY_HIGH" in out and "FMT-SOCIAL-ANXIETY" in out
    # Both severity schemes, each labelled with its source and the rule's own cut-off.
    assert "PHQ-9 band (Kroenke et al. 2001)" in out and "moderate" in out
    assert "Severity (NICE NG222)" in out and "less severe" in out and "PHQ-9 total below 16" in out
    # The trace: every step, with conclusions in words, labelled facts, rationale, references.
    for step in view["decision"]["trace"]:
        assert step["rule"] in out
    assert "sets Severity (NICE NG222)" in out and "to less severe" in out
    assert {"text": "PHQ-9 total = 12", "md": "PHQ-9 total = 12", "html": "PHQ-9 total = <strong>12</strong>"}[
        fmt
    ] in out
    assert "not asked" in out  # C-SSRS Q4 after a "no" to Q2: rightly skipped
    assert "Kroenke, Spitzer &amp; Williams" in out if fmt == "html" else "Kroenke, Spitzer" in out
    # Not assessed items by label and path; notes; the standing notice.
    assert "measures.phq9_item9" in out
    assert "Gdańsk" in out
    assert "This report supports and does not replace clinical judgement." in out


def test_trace_is_numbered_in_firing_order(view):
    out = report.render(view, "text")
    positions = [out.index(f"({step['rule']}") for step in view["steps"]]
    assert positions == sorted(positions)
    assert [s["number"] for s in view["steps"] + view["quiet_steps"]] == sorted(
        s["number"] for s in view["steps"] + view["quiet_steps"]
    )


@pytest.mark.parametrize("fmt", HUMAN_FORMATS)
def test_incomplete_defer_and_all_flag_levels(view, fmt):
    out = report.render(incomplete_view(view), fmt)
    assert "INCOMPLETE — risk screen missing; no IPT allocation until completed" in out
    assert "What must happen first" in out
    assert "No interpersonal focus area identified" in out
    assert "Nothing missing" not in out
    assert "No notes" in out
    # Flags grouped critical, then warning, then info.
    order = [out.index(code) for code in ("RISK_ASSESSMENT_MISSING", "NO_FOCUS_AREA", "REFUSES_GROUP")]
    assert order == sorted(order)
    assert "not recorded" in out


def test_html_flags_have_text_labels_not_colour_only(view):
    out = report.render(incomplete_view(view), "html")
    for level, name in (("critical", "Critical"), ("warning", "Warning"), ("info", "Info")):
        assert f'class="flag flag-{level}"' in out
        assert f'<span class="level">{name}</span>' in out


def test_text_is_plain_and_wrapped(view):
    v = copy.deepcopy(view)
    v["case"]["notes"] = "red \x1b[31malert\x1b[0m and a very " + "long line " * 30
    out = report.render(v, "text")
    assert "\x1b" not in out
    assert max(len(line) for line in out.splitlines()) <= 88
    assert out.endswith("\n")


def test_html_is_self_contained_and_printable(view):
    out = report.render(view, "html")
    assert out.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in out
    assert "@media print" in out and "break-inside: avoid" in out
    assert "<script" not in out.lower()
    assert "<link" not in out.lower() and "<img" not in out.lower() and "@import" not in out
    # No external asset or link: a reference URL stays plain text.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", out, re.I)
    assert not re.search(r"url\(", out, re.I)
    assert out.count("This report supports and does not replace clinical judgement.") == 2  # top and end


# --- escaping -----------------------------------------------------------------------------


def hostile_view(view: dict) -> dict:
    v = copy.deepcopy(view)
    v["case"]["notes"] = "<script>alert(1)</script> *bold* [x](https://evil.example) | # heading"
    v["steps"][0]["rationale"] = "A <b>bold</b> claim & more"
    return v


def test_html_autoescapes_free_text(view):
    out = report.render(hostile_view(view), "html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "A &lt;b&gt;bold&lt;/b&gt; claim &amp; more" in out
    assert "<script" not in out.lower()
    assert "<b>" not in out


def test_markdown_escapes_free_text(view):
    out = report.render(hostile_view(view), "md")
    assert not re.search(r"(?<!\\)<", out), "an unescaped < could open raw HTML on GitHub"
    assert r"\<script\>alert(1)\</script\>" in out
    assert r"\*bold\*" in out and r"\[x\](https://evil.example)" in out
    assert r"A \<b\>bold\</b\> claim \& more" in out


def test_markdown_blocks_are_separated_for_github(view):
    # GitHub needs a blank line before a table or list that follows a paragraph or heading.
    lines = report.render(incomplete_view(view), "md").splitlines()
    for before, line in zip(lines, lines[1:]):
        if line.startswith("| ") and not before.startswith("|"):
            assert before == "", line
        if line.startswith("- ") and not before.startswith(("- ", "  - ")):
            assert before == "", line


def test_text_and_md_are_not_html_escaped(view):
    v = hostile_view(view)
    assert "<script>alert(1)</script>" in report.render(v, "text")
    assert "&lt;" not in report.render(v, "text")
    assert "&lt;" not in report.render(v, "md")


def test_free_text_is_never_compiled_as_a_template(view):
    v = copy.deepcopy(view)
    v["case"]["notes"] = "{{ 7 * 7 }} {% if true %}x{% endif %}"
    v["steps"][0]["rationale"] = "{{ tool_version }}"
    for fmt in HUMAN_FORMATS:
        out = report.render(v, fmt)
        # the rule set's sha256 may hold a "49" of its own: look past hex digests
        assert "49" not in re.sub(r"[0-9a-f]{12,}", "", out)
        assert "{{ tool_version }}" in out or r"\{\{ tool\_version \}\}" in out


# --- strictness ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", HUMAN_FORMATS)
@pytest.mark.parametrize(
    "remove",
    [
        ("severity",),
        ("not_assessed",),
        ("decision", "considerations"),
        ("case", "notes"),
        ("risk_answers",),
        ("signoff",),
        ("steps",),
    ],
)
def test_missing_key_raises_rather_than_rendering_blank(view, fmt, remove):
    v = copy.deepcopy(view)
    target = v
    for key in remove[:-1]:
        target = target[key]
    del target[remove[-1]]
    with pytest.raises(jinja2.UndefinedError):
        report.render(v, fmt)


def test_unknown_format_is_refused(view):
    with pytest.raises(ValueError, match="unknown report format"):
        report.render(view, "pdf")


# --- JSON ---------------------------------------------------------------------------------


def test_decision_json_is_deterministic_and_round_trips(view):
    decision = view["decision"]
    first = report.decision_json(decision)
    again = report.decision_json(view_of(KWAME)["decision"])
    assert first == again
    assert first.endswith("}\n")
    assert json.loads(first) == decision
    assert list(json.loads(first)) == list(decision)  # contract order, not sorted
    assert report.render(view, "json") == first


def test_decision_json_keeps_non_ascii(view):
    decision = copy.deepcopy(view["decision"])
    decision["intake_id"] = "Łódź-1"
    assert '"intake_id": "Łódź-1"' in report.decision_json(decision)


# --- environment and imports --------------------------------------------------------------


def test_templates_dir_holds_every_template():
    directory = report.templates_dir()
    for name in ("report.txt.j2", "report.md.j2", "report.html.j2"):
        assert (directory / name).is_file()


def test_import_does_not_load_jinja2_or_click():
    code = "import sys, ipt_advisor.report.render, ipt_advisor.core.output; print('jinja2' in sys.modules, 'click' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
    )
    assert result.stdout.split() == ["False", "False"]


def test_only_html_is_autoescaped():
    env = report._environment()
    assert env.autoescape("report.html.j2") is True
    assert env.autoescape("report.txt.j2") is False
    assert env.autoescape("report.md.j2") is False
    assert env.undefined is jinja2.StrictUndefined


# --- write_atomic -------------------------------------------------------------------------


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o277, 0o000])
def test_write_atomic_creates_owner_only_file(tmp_path, umask):
    target = tmp_path / "report.html"
    old = os.umask(umask)
    try:
        output.write_atomic(target, "héllo\n")
    finally:
        os.umask(old)
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_write_atomic_replaces_existing_file(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("old")
    target.chmod(0o644)
    inode = target.stat().st_ino
    output.write_atomic(str(target), "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o600
    assert target.stat().st_ino != inode  # renamed into place, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_write_atomic_bytes(tmp_path):
    target = tmp_path / "d.jsonl"
    output.write_atomic_bytes(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"


def test_missing_directory_raises_output_error(tmp_path):
    target = tmp_path / "no" / "such" / "report.html"
    with pytest.raises(OutputError) as info:
        output.write_atomic(target, "x")
    (problem,) = info.value.problems
    assert problem.source == str(target)
    assert "No such file or directory" in problem.message
    assert "Traceback" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only directory")
def test_unwritable_directory_raises_output_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            output.write_atomic(locked / "report.html", "x")
    finally:
        locked.chmod(0o700)


def test_permission_denied_is_reported_even_as_root(tmp_path, monkeypatch):
    # Root ignores directory modes, so simulate the refusal where the temp file is created.
    def refuse(path, flags, mode=0o777):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OutputError) as info:
        output.write_atomic(tmp_path / "report.html", "x")
    assert info.value.problems[0].message == f"cannot write: {os.strerror(errno.EACCES)}"
    assert list(tmp_path.iterdir()) == []


def test_disk_full_leaves_old_target_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("previous report")
    real_write = os.write
    calls = []

    def write_then_fill_disk(fd, data):
        # First call writes part of the data (as a real disk would), the next one fails.
        if not calls:
            calls.append(fd)
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", write_then_fill_disk)
        with pytest.raises(OutputError) as info:
            output.write_atomic(target, "a new report that will not fit " * 10)
    assert calls, "the fake write was not used"
    assert target.read_text() == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    (problem,) = info.value.problems
    assert problem.message == f"cannot write: {os.strerror(errno.ENOSPC)}"
    assert not isinstance(info.value, OSError)


def test_target_is_a_directory_raises_output_error(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputError):
        output.write_atomic(tmp_path / "out", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_rendered_report_written_atomically(tmp_path, view):
    target = tmp_path / "r.html"
    output.write_atomic(target, report.render(view, "html"))
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

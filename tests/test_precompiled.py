"""The precompiled report templates (ipt_advisor/report/precompiled.py, compiled_templates.py, compiled_summaries.py): current,
rendering exactly what the templates' source renders, and never used for an edited template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ipt_advisor.report import precompiled
from ipt_advisor.report import render as report
from ipt_advisor.intake.schema import load_intake_file

from conftest import EXAMPLES, ROOT


@pytest.mark.parametrize("module", sorted(precompiled.MODULES))
def test_the_shipped_module_is_what_the_templates_compile_to(module: str) -> None:
    shipped = (precompiled.HERE / f"{module}.py").read_text(encoding="utf-8")
    assert shipped == precompiled.generate(report.templates_dir(), module), (
        f"ipt_advisor/report/{module}.py is stale: run `make templates` (python -m ipt_advisor.report.precompiled)"
    )


def test_precompiled_and_source_templates_render_the_same_bytes(advisor) -> None:
    env = report.make_environment(source_only=True)  # every template compiled from its source
    vignettes = sorted((ROOT / "tests" / "vignettes").glob("*.yaml"))
    for path in [*EXAMPLES, *vignettes]:
        intake = load_intake_file(str(path))
        decision = advisor.assess(intake)
        view, handout = advisor.view(decision, intake, "t"), advisor.handout(decision, intake)
        for fmt, name in report._TEMPLATES.items():
            built = precompiled.template(
                report._environment(), name, (report.templates_dir() / name).read_bytes(), name
            )
            assert built is not None
            source = env.get_template(name).render(**view, notice=report.NOTICE, levels=report.LEVELS)
            assert report.render(view, fmt) == source, (path.name, fmt)
        for fmt, name in report._HANDOUTS.items():
            assert report.render_handout(handout, fmt) == env.get_template(name).render(**handout), (path.name, fmt)


def test_an_edited_template_is_compiled_from_its_source(
    advisor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(report.templates_dir(), copy)
    text = copy / "report.txt.j2"
    text.write_text("EDITED {{ decision.intake_id }}\n" + text.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(report, "templates_dir", lambda: copy)
    monkeypatch.setattr(report, "_env", None)  # an environment reading the copy
    intake = load_intake_file(str(ROOT / "examples" / "demo.yaml"))
    decision = advisor.assess(intake)
    assert report.render(advisor.view(decision, intake, "t"), "text").startswith("EDITED ")
    assert report.render(advisor.view(decision, intake, "t"), "md") == report._environment().get_template(
        "report.md.j2"
    ).render(**advisor.view(decision, intake, "t"), notice=report.NOTICE, levels=report.LEVELS)


def test_another_jinja2_version_compiles_from_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipt_advisor.report import compiled_templates

    name = "report.txt.j2"
    source = (report.templates_dir() / name).read_bytes()
    env = report.make_environment()
    assert precompiled.template(env, name, source, name) is not None
    monkeypatch.setattr(compiled_templates, "JINJA2", "0.0.0")
    assert precompiled.template(report.make_environment(), name, source, name) is None


def test_the_batch_summaries_render_the_same_from_precompiled_code(tmp_path: Path) -> None:
    # the dashboard (with its imported charts and included style) and the digest are built
    # from the shipped code, and render exactly what their source renders
    import json

    from ipt_advisor.audit import summary
    from ipt_advisor.audit.dashboard import page_context, split_departures
    from ipt_advisor.audit.run import run_audit

    out = tmp_path / "out"
    run_audit(str(ROOT / "tests" / "files" / "corpus" / "dashboard.jsonl"), str(out), jobs=1, tool_version="t")
    env = summary.markdown_environment()
    for name in ("audit_summary.html.j2", "audit_charts.html.j2", "dashboard.css.j2", "audit_summary.md.j2"):
        assert precompiled.function_name(name) in env.get_template(name).root_render_func.__qualname__, name
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    overrides = [json.loads(line) for line in (out / "overrides.jsonl").read_text(encoding="utf-8").splitlines()]
    assert overrides, "the corpus should have overrides for the dashboard to list"
    source = report.make_environment(source_only=True, pct=summary.format_percent)
    context = page_context(data, *split_departures(overrides), "Audit dashboard")
    html = "".join(source.get_template("audit_summary.html.j2").generate(**context))
    assert (out / "summary.html").read_text(encoding="utf-8") == html
    safety = [d for d in overrides if d.get("safety_critical")][: summary.MD_SAFETY]
    md = "".join(
        source.get_template("audit_summary.md.j2").generate(s=data, safety=iter(safety), safety_limit=summary.MD_SAFETY)
    )
    assert (out / "summary.md").read_text(encoding="utf-8") == md

"""The precompiled report templates (ipt_advisor/report/precompiled.py, compiled_templates.py): current,
rendering exactly what the templates' source renders, and never used for an edited template."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ipt_advisor.report import precompiled
from ipt_advisor.report import render as report
from ipt_advisor.intake.schema import load_intake_file

from conftest import EXAMPLES, ROOT


def test_the_shipped_module_is_what_the_templates_compile_to() -> None:
    assert precompiled.MODULE.read_text(encoding="utf-8") == precompiled.generate(report.templates_dir()), (
        "ipt_advisor/report/compiled_templates.py is stale: run `make templates` (python -m ipt_advisor.report.precompiled)"
    )


def test_precompiled_and_source_templates_render_the_same_bytes(advisor) -> None:
    env = report._environment()
    vignettes = sorted((ROOT / "tests" / "vignettes").glob("*.yaml"))
    for path in [*EXAMPLES, *vignettes]:
        intake = load_intake_file(str(path))
        decision = advisor.assess(intake)
        view, handout = advisor.view(decision, intake, "t"), advisor.handout(decision, intake)
        for fmt, name in report._TEMPLATES.items():
            assert precompiled.template(env, name, (report.templates_dir() / name).read_bytes(), name) is not None
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

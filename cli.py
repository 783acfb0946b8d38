"""ipt-advisor command line: a thin adapter over the ``ipt_advisor`` library.

Each command parses options, calls the library, prints, and maps errors to
the exit codes of decision-v1: 0 done; 1 problems found (lint, rule tests,
invalid intakes in ``intake check``, an output that could not be written);
2 usage; 3 invalid intake for ``assess``; 4 invalid rule set; and, for an ``audit``
interrupted by SIGINT or SIGTERM, 130 or 143 (128 + the signal, as a shell reports it).
Library modules are imported inside commands to keep start-up fast.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, NoReturn


def _interrupted_while_loading(signum: int, frame: object) -> None:
    # Ctrl-C while Python, click and the library are still loading, before any command has
    # started: nothing has been read or written yet, so end at once as a shell expects of
    # SIGINT (130), rather than with a traceback of whatever module was being imported.
    os.write(2, b"ipt-advisor: interrupted\n")
    os._exit(128 + signal.SIGINT)


# Only when this process is the command (the console script, or `python cli.py`): a program that
# imports cli, such as the test suite, keeps its own Ctrl-C.
if os.path.basename(sys.argv[0]) in ("ipt-advisor", "cli.py"):
    signal.signal(signal.SIGINT, _interrupted_while_loading)

import click  # noqa: E402  (after the handler above, which covers its import too)

from ipt_advisor import __version__  # noqa: E402
from ipt_advisor.report.render import FORMATS  # noqa: E402  (the report formats: one list, the renderer's)

EXIT_PROBLEMS, EXIT_INTAKE, EXIT_RULES = 1, 3, 4
#: audit and rules diff: both run audit.workers.ordered_map, where --jobs N is N processes
JOBS_OPTION = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes that assess: this one and N-1 workers (default: one per CPU).",
)
RULES_OPTION = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Rule-set directory (default: the rule set shipped with ipt-advisor).",
)


def warn(message: str) -> None:
    """A one-line note on stderr that does not stop the command."""
    click.echo(message, err=True)


def fail(error: Any, code: int) -> NoReturn:
    """Print every problem on its own line to stderr and exit with ``code``."""
    for problem in error.problems:
        click.echo(str(problem), err=True)
    sys.exit(code)


def load_advisor(rules_dir: str | None) -> Any:
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.core.errors import RuleSetError

    try:
        advisor = Advisor.load(rules_dir)
    except RuleSetError as exc:
        fail(exc, EXIT_RULES)
    if _ONE_SHOT:  # see main(): what start-up made stays; the collector need not walk it again
        import gc

        gc.freeze()
        gc.enable()
    return advisor


def emit(text: str, out: str | None) -> None:
    """Print, or write atomically (owner-only) to ``out``."""
    if out is None:
        from ipt_advisor.report.render import for_terminal

        if sys.stdout is None:  # `assess FILE >&-`
            click.echo("<stdout>: cannot write: standard output is closed", err=True)
            sys.exit(EXIT_PROBLEMS)
        try:
            click.echo(for_terminal(text, json_text=text.startswith("{")), nl=False)
            sys.stdout.flush()  # a full disk or closed pipe shows here, not at exit
        except OSError as exc:
            # nothing more can reach stdout; point it at /dev/null so the final flush at exit stays quiet
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            if isinstance(exc, BrokenPipeError):  # `assess x | head`: the reader chose to stop
                sys.exit(EXIT_PROBLEMS)
            click.echo(f"<stdout>: cannot write: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_PROBLEMS)
        return
    from ipt_advisor.core.errors import OutputError
    from ipt_advisor.core.output import write_atomic

    try:
        write_atomic(out, text)
    except OutputError as exc:
        fail(exc, EXIT_PROBLEMS)


def append_log(path: str, decision: dict[str, Any], intake_sha256: str) -> None:
    """Append one decision to the decision log, or exit 1 saying why it could not be."""
    from ipt_advisor.audit.decision_log import DecisionLog, entry_for
    from ipt_advisor.core.errors import OutputError

    try:
        DecisionLog(path, warn=warn).append([entry_for(decision, intake_sha256, __version__)])
    except OutputError as exc:
        fail(exc, EXIT_PROBLEMS)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipt-advisor")
def cli() -> None:
    """Decision support for Interpersonal Psychotherapy (IPT): group or individual,
    focus area, risk flags, each step explained from the rules that fired.

    Supports and does not replace clinical judgement.
    """


@cli.command()
@click.argument("intake_file", metavar="FILE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, "fhir")),
    default="text",
    show_default=True,
    help="Report format; json prints the decision-v1 object, fhir the decision as a FHIR R4 GuidanceResponse.",
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the report to this file (atomically, readable by you only).",
)
@RULES_OPTION
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Append the decision to this hash-chained decision log (no free text is logged).",
)
@click.option(
    "--why-not",
    "why_not",
    metavar="group|individual|defer",
    default=None,
    help="After the report, explain why the decision is not this format: the rules that kept "
    "it away and what stopped the rules that would choose it (text, md; json: one object "
    "with decision and why_not).",
)
@click.option(
    "--handout",
    is_flag=True,
    help="Print the client's plain-language 'what to expect' handout instead of the report (text, md or html).",
)
@click.option(
    "--findings",
    "findings",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="FHIR input only: an intake fragment with the interpersonal findings and preferences.",
)
@click.option(
    "--id",
    "case_id",
    default=None,
    metavar="ID",
    help="FHIR input only: the case id (default: a hash of the Patient's resource id).",
)
def assess(
    intake_file: str,
    fmt: str,
    out: str | None,
    rules_dir: str | None,
    log_file: str | None,
    why_not: str | None,
    handout: bool,
    findings: str | None,
    case_id: str | None,
) -> None:
    """Assess one intake (YAML or JSON; - reads stdin) and print an explained report.
    A FHIR R4 JSON file (a Bundle, QuestionnaireResponse or Observation) is mapped first,
    as `intake from-fhir` does.

    \b
    Example:
      ipt-advisor assess examples/demo.yaml
      ipt-advisor assess intake.yaml --format html -o report.html
      ipt-advisor assess intake.yaml --handout --format html -o handout.html
      ipt-advisor assess bundle.json --findings findings.yaml
    """
    from ipt_advisor.core.errors import EngineError, IntakeError
    from ipt_advisor.intake.fhir import load_assessable

    if why_not is not None and fmt == "html":
        raise click.BadParameter("works with --format text, md or json, not html", param_hint="--why-not")
    if fmt == "fhir" and (handout or why_not is not None):
        raise click.BadParameter(
            "prints the decision alone; not with --handout or --why-not", param_hint="--format fhir"
        )
    if handout and (fmt == "json" or why_not is not None):
        raise click.BadParameter(
            "prints the client handout in text, md or html; not with --format json or --why-not", param_hint="--handout"
        )
    advisor = load_advisor(rules_dir)
    if why_not is not None:
        from ipt_advisor.whatif import target_problem

        if (problem := target_problem(advisor.ruleset, why_not)) is not None:
            raise click.BadParameter(problem, param_hint="--why-not")
    try:
        intake, notes, fhir = load_assessable(intake_file, advisor.ruleset, findings, case_id)
    except IntakeError as exc:
        fail(exc, EXIT_INTAKE)
    if not fhir and (findings or case_id):
        raise click.BadParameter(
            "--findings and --id go with FHIR input; this file is an intake",
            param_hint="--findings" if findings else "--id",
        )
    for note in notes:
        warn(f"{intake.source}: note: {note}")
    try:
        if fmt == "fhir":
            from ipt_advisor.report.fhir import guidance_json

            decision = advisor.assess(intake)
            text = guidance_json(decision, advisor.ruleset)
        elif handout:
            decision, text = advisor.handout_text(intake, fmt)
        else:
            decision, text = advisor.report(intake, fmt, __version__)
        if why_not is not None:
            from ipt_advisor.whatif import report_with_why_not

            text = report_with_why_not(advisor, intake, decision, text, fmt, why_not)
    except EngineError as exc:
        fail(exc, EXIT_RULES)
    if log_file:  # logged before it is shown: no decision leaves without its log entry
        append_log(log_file, decision, intake.sha256)
    emit(text, out)


@cli.group()
def intake() -> None:
    """Intake records: a blank template, and validation."""


@intake.command("template")
def intake_template() -> None:
    """Print a commented intake record to fill in.

    \b
    Example:
      ipt-advisor intake template > my-intake.yaml
    """
    from ipt_advisor.intake.template import TEMPLATE

    click.echo(TEMPLATE, nl=False)


@intake.command("from-fhir")
@click.argument("fhir_file", metavar="FILE")
@click.option(
    "--findings",
    "findings",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="An intake fragment (findings:, preferences:, other risk: fields, notes:) to merge in.",
)
@click.option(
    "--id",
    "case_id",
    default=None,
    metavar="ID",
    help="The case id (default: FHIR- and a hash of the Patient's resource id).",
)
@RULES_OPTION
def intake_from_fhir(fhir_file: str, findings: str | None, case_id: str | None, rules_dir: str | None) -> None:
    """Turn FHIR R4 data (a Bundle, QuestionnaireResponse or Observation; - reads stdin) into
    an intake record, printed as YAML. The PHQ-9 and C-SSRS screener are read by the LOINC
    codes in the rule set's facts.yaml; no name or identifier is copied. Every mapping problem
    is listed with its resource path (exit 3).

    \b
    Example:
      ipt-advisor intake from-fhir bundle.json --findings findings.yaml > intake.yaml
    """
    from ipt_advisor.core.errors import IntakeError
    from ipt_advisor.intake.fhir import load_fhir_file, to_yaml

    advisor = load_advisor(rules_dir)
    try:
        mapped = load_fhir_file(fhir_file, advisor.ruleset, findings, case_id)
    except IntakeError as exc:
        fail(exc, EXIT_INTAKE)
    emit(to_yaml(mapped, mapped.intake.source), None)


@intake.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@RULES_OPTION
def intake_check(files: tuple[str, ...], rules_dir: str | None) -> None:
    """Validate intake files; list every problem (exit 1 if any file is invalid).

    A valid intake whose decision will be incomplete (risk screen absent, partial or
    declined) is ok, with a warning on stderr naming what is missing.

    \b
    Example:
      ipt-advisor intake check examples/*.yaml
    """
    from ipt_advisor.core.errors import EngineError, IntakeError
    from ipt_advisor.intake.schema import load_intake_file

    advisor = load_advisor(rules_dir)
    bad = 0
    for name in files:
        try:
            intake_record = load_intake_file(name)
        except IntakeError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            continue
        click.echo(f"{name}: ok")
        try:
            reasons = advisor.incomplete_reasons(advisor.assess(intake_record), intake_record)
        except EngineError as exc:
            fail(exc, EXIT_RULES)
        for reason in reasons:
            click.echo(f"{name}: warning: the decision will be incomplete: {reason}", err=True)
    if bad:
        click.echo(f"{bad} of {len(files)} intake(s) invalid", err=True)
        sys.exit(EXIT_PROBLEMS)


@cli.group()
def rules() -> None:
    """Rule sets: lint, test, browse."""


TODAY_OPTION = click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="The date rules' review_due is compared with (default: today).",
)


def today_of(value: Any) -> Any:
    import datetime

    return value.date() if value is not None else datetime.date.today()


@rules.command("lint")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@TODAY_OPTION
def rules_lint(directory: str | None, today: Any) -> None:
    """Check a rule set: schema, unknown facts, types, duplicate ids, unreachable rules, cycles,
    gaps and overlaps in decision tables; warn (exit 0) on rules past their review_due.

    \b
    Example:
      ipt-advisor rules lint my-rules/
    """
    from ipt_advisor.ruleset.governance import overdue_warnings
    from ipt_advisor.ruleset.load import lint

    ruleset, problems = lint(directory, engine_check=True)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(EXIT_PROBLEMS)
    assert ruleset is not None
    warnings = overdue_warnings(ruleset, today_of(today))
    for problem in warnings:
        click.echo(f"warning: {problem}", err=True)
    overdue = f", {len(warnings)} rule(s) overdue for review" if warnings else ""
    click.echo(
        f"{ruleset.name} {ruleset.version}: {len(ruleset.rules)} rules, "
        f"{len(ruleset.facts)} facts, {len(ruleset.tables)} decision tables, no problems{overdue} "
        f"(sha256 {ruleset.sha256[:12]})"
    )


@rules.command("test")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option(
    "--cases",
    "case_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="A case file: intakes with the outcome each must keep (repeatable).",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Also show how many cases fired each rule, and condition coverage (MC/DC) by each rule's own tests.",
)
@click.option(
    "--mutate",
    is_flag=True,
    help="Mutation testing: change each rule in small ways; list every change no test notices (exit 1 if any).",
)
@click.option(
    "--rule",
    "rule_ids",
    multiple=True,
    metavar="ID",
    help="With --mutate: mutate only this rule (repeatable); every case still runs.",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes for --mutate (default: one per CPU)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="The --mutate report as text or as JSON.",
)
@click.option("-v", "--verbose", is_flag=True, help="List passing cases and covered conditions too.")
def rules_test(
    directory: str | None,
    case_files: tuple[str, ...],
    coverage: bool,
    mutate: bool,
    rule_ids: tuple[str, ...],
    jobs: int | None,
    fmt: str,
    verbose: bool,
) -> None:
    """Run the test cases embedded in the rule files, and any case files (exit 1 on any failure).

    With --mutate, also check that the tests pin the rules' meaning: every mutant (a
    rule with one condition or effect changed) must make some case fail. Survivors are
    listed with where, what changed, the test that missed it and a case that would not.

    \b
    Examples:
      ipt-advisor rules test --coverage
      ipt-advisor rules test --mutate --cases tests/files/vignette-cases.yaml
      ipt-advisor rules test --mutate --rule RISK-SI-IMMINENT
    """
    import json

    from ipt_advisor.report import words as catalog
    from ipt_advisor.quality import mcdc, mutation, mutation_report
    from ipt_advisor import ruletests

    advisor = load_advisor(directory)
    for rule_id in rule_ids:
        if advisor.ruleset.by_id.get(rule_id) is None:
            raise click.BadParameter(
                f"{rule_id!r}: no such rule{catalog.suggest_rule(advisor.ruleset, rule_id)}", param_hint="--rule"
            )
    try:
        cases = ruletests.all_cases(advisor.ruleset, case_files)
    except ruletests.CaseFileError as exc:
        fail(exc, EXIT_PROBLEMS)
    results = ruletests.run_all(advisor, cases)
    # with a JSON report on stdout, the test run's own lines go to stderr
    say = click.echo if not (mutate and fmt == "json") else lambda text="", **kw: click.echo(text, err=True, **kw)
    for r in results:
        if not r.passed or verbose:
            say(f"{'PASS' if r.passed else 'FAIL'} {r.location}: {r.rule_id + ': ' if r.rule_id else ''}{r.name}")
            for failure in r.failures:
                say(f"     {failure}")
    failed = sum(not r.passed for r in results)
    if coverage:
        counts = ruletests.coverage(advisor, results)
        say("coverage (test cases that fired each active rule):")
        for rid, n in counts.items():
            say(f"  {n:4d}  {rid}{'   <- never fired' if n == 0 else ''}")
        never = [rid for rid, n in counts.items() if n == 0]
        say(f"{len(counts) - len(never)} of {len(counts)} active rules fired by at least one test")
        say(mcdc.text(mcdc.coverage(advisor.ruleset, cases), verbose), nl=False)
    say(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(EXIT_PROBLEMS)
    if mutate:
        try:
            report = mutation.run(advisor.ruleset, cases, advisor=advisor, jobs=jobs, rule_ids=list(rule_ids) or None)
        except mutation.MutationError as exc:
            fail(exc, EXIT_PROBLEMS)
        if fmt == "json":
            click.echo(json.dumps(mutation_report.report_json(report), indent=2, ensure_ascii=False))
        else:
            click.echo(mutation_report.text(report), nl=False)
        if report.count("survived"):
            sys.exit(EXIT_PROBLEMS)


@rules.command("diff")
@click.argument("old_dir", metavar="OLD_DIR", type=click.Path(file_okay=False))
@click.argument("new_dir", metavar="NEW_DIR", type=click.Path(file_okay=False))
@click.option(
    "--cases",
    "cases",
    required=True,
    metavar="INPUT",
    help="Intakes to compare on: a folder of YAML/JSON, a .jsonl or a .csv file.",
)
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write rules-diff.md, rules-diff.html (charts) and rules-diff.json into this folder "
    "(default: Markdown to stdout).",
)
@JOBS_OPTION
@click.option("--fail-on-change", is_flag=True, help="Exit 1 if any case changes.")
def rules_diff(
    old_dir: str, new_dir: str, cases: str, out_dir: str | None, jobs: int | None, fail_on_change: bool
) -> None:
    """Which cases a new rule-set version changes (format, focus, flags, status), and which rules did it.

    \b
    Example:
      ipt-advisor rules diff rules/ rules-next/ --cases intakes-2026.jsonl -o impact/
    """
    import os

    from ipt_advisor.intake.corpus import CorpusError
    from ipt_advisor.core.errors import OutputError, RuleSetError
    from ipt_advisor.core.output import write_atomic
    from ipt_advisor.core.interrupt import WorkerLost
    from ipt_advisor.audit.ruleset_diff import render_html, render_md, report_json, run_diff

    try:
        report = run_diff(old_dir, new_dir, cases, jobs=jobs)
    except RuleSetError as exc:
        fail(exc, EXIT_RULES)
    except (CorpusError, WorkerLost) as exc:
        fail(exc, EXIT_PROBLEMS)
    if out_dir is None:
        click.echo(render_md(report), nl=False)
    else:
        from ipt_advisor.core.output import make_private_dirs

        try:
            make_private_dirs(out_dir)
            write_atomic(os.path.join(out_dir, "rules-diff.json"), report_json(report))
            write_atomic(os.path.join(out_dir, "rules-diff.md"), render_md(report))
            write_atomic(os.path.join(out_dir, "rules-diff.html"), render_html(report))
        except OSError as exc:
            click.echo(f"{out_dir}: cannot create folder: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_PROBLEMS)
        except OutputError as exc:
            fail(exc, EXIT_PROBLEMS)
        c = report["cases"]
        click.echo(
            f"{c['changed']} of {c['assessed']} cases change ({c['invalid']} invalid); "
            f"wrote {os.path.join(out_dir, 'rules-diff.md')}, rules-diff.html and rules-diff.json"
        )
    if fail_on_change and report["cases"]["changed"]:
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.argument("input_path", metavar="INPUT", required=False)
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for decisions.jsonl, errors.jsonl, overrides.jsonl, summary.json and summary.md "
    "(with --db also cds-feedback.json).",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="Audit what the web app stored (with each sign-off as clinician_decision) instead of INPUT; "
    "the intakes are exported to stored-intakes.jsonl in the output folder first.",
)
@JOBS_OPTION
@RULES_OPTION
@click.option("--fail-on-errors", is_flag=True, help="Exit 1 if any record is invalid.")
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Append every decision to this hash-chained decision log.",
)
@click.option(
    "--resume", is_flag=True, help="Finish the interrupted run in the output folder (same INPUT, rules and --log)."
)
@click.option(
    "--compact",
    is_flag=True,
    help="Write decisions.compact.jsonl (rule-set texts by number, ~4x smaller) instead of "
    "decisions.jsonl; `ipt-advisor expand` turns it back into decision-v1 lines.",
)
def audit(
    input_path: str | None,
    out_dir: str,
    db_url: str | None,
    jobs: int | None,
    rules_dir: str | None,
    fail_on_errors: bool,
    log_file: str | None,
    resume: bool,
    compact: bool,
) -> None:
    """Assess a whole batch: a folder of YAML/JSON intakes, a .jsonl or a .csv file (dotted columns).

    Writes one decision per valid intake (decisions.jsonl, input order), one line per
    invalid record (errors.jsonl), the clinicians' departures (overrides.jsonl), the summary
    (summary.json), a dashboard with charts, safety-critical overrides first (summary.html)
    and a short digest (summary.md). Invalid records never stop the run.

    Outputs appear under their names only when the whole run succeeded. Stopped by Ctrl-C
    (exit 130), SIGTERM (exit 143) or an output error such as a full disk (exit 1), a run
    keeps its progress in the folder: the same command with --resume finishes it, and the
    files are then exactly those of an uninterrupted run, with no decision written or
    logged twice. The folder keeps .audit-state.json (marked done once finished): with
    --log, the same command over a run whose decisions are logged refuses (exit 1)
    rather than log them a second time, and --resume of a finished run says so (exit 0).

    \b
    Exit codes: 0 done; 1 invalid records (with --fail-on-errors), unreadable
    input, an output not written, nothing to resume, decisions logged already;
    4 invalid rule set (or it failed on a record); 130 interrupted (SIGINT);
    143 terminated (SIGTERM).

    \b
    Example:
      ipt-advisor audit intakes-2026.jsonl -o audit-2026/
      ipt-advisor audit intakes/ -o out/ --jobs 4 --fail-on-errors
      ipt-advisor audit intakes-2026.jsonl -o audit-2026/ --resume
      ipt-advisor audit --db sqlite:///clinic.db -o audit-clinic/

    With --db the folder also gets cds-feedback.json: per rule that drove a CDS Hooks card's
    recommendation, how many cards the EHR reported on, how many were overridden and why;
    when the EHR reported on any card, summary.json (cds_feedback), the dashboard's override
    rate per rule and summary.md show these beside the clinicians' sign-offs.
    """
    from ipt_advisor.audit.run import default_progress, run_audit
    from ipt_advisor.audit.state import ResumeError
    from ipt_advisor.intake.corpus import CorpusError
    from ipt_advisor.core.errors import OutputError, RuleSetError
    from ipt_advisor.core.interrupt import Interrupted, WorkerLost, exit_code

    if (input_path is None) == (db_url is None):
        raise click.UsageError("give an INPUT or --db URL (one of them)")
    cds_feedback = None
    if db_url is not None:
        input_path, cds_feedback = export_for_audit(db_url, out_dir, resume)
    try:
        assert input_path is not None  # checked above: INPUT or --db
        report = run_audit(
            input_path,
            out_dir,
            rules_dir=rules_dir,
            jobs=jobs,
            log_path=log_file,
            tool_version=__version__,
            progress=default_progress(),
            resume=resume,
            warn=warn,
            compact=compact,
            cds_feedback=cds_feedback,
        )
    except RuleSetError as exc:
        fail(exc, EXIT_RULES)
    except (CorpusError, OutputError, ResumeError, WorkerLost) as exc:
        fail(exc, EXIT_PROBLEMS)
    except Interrupted as exc:
        fail(exc, exit_code(exc.signum))
    concordance = report.summary.get("concordance") or {}
    safety = (concordance.get("departures") or {}).get("safety_critical", 0)
    overrides = f", {safety} safety-critical override{'s' if safety != 1 else ''} (summary.html)" if safety else ""
    click.echo(
        f"{report.records} records: {report.assessed} assessed, {report.invalid} invalid"
        f"{f', {report.engine_errors} engine errors' if report.engine_errors else ''}"
        f"{overrides}; "
        f"wrote {out_dir}"
    )
    done_now = report.records - report.resumed_from
    rate = done_now / report.seconds if report.seconds else 0.0
    resumed = f" (resumed: {report.resumed_from:,} were done before)" if resume else ""
    if done_now or not resume:  # a resumed run with no record left has no rate to show
        click.echo(f"{report.seconds:.2f} s, {rate:,.0f} records/s{resumed}", err=True)
    for problem in report.damage:  # every record is accounted for, but the input is broken
        click.echo(str(problem), err=True)
    if report.engine_errors:
        click.echo(f"{report.engine_errors} record(s) made the rule set fail: see errors.jsonl", err=True)
        sys.exit(EXIT_RULES)
    if report.damage:
        sys.exit(EXIT_PROBLEMS)
    if fail_on_errors and report.invalid:
        sys.exit(EXIT_PROBLEMS)


@cli.group()
def log() -> None:
    """Decision logs: check the hash chain."""


@log.command("verify")
@click.argument("log_file", metavar="FILE", required=False)
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="Verify the chain the web app keeps in this database instead of a file.",
)
def log_verify(log_file: str | None, db_url: str | None) -> None:
    """Check a decision log's hash chain (exit 1 naming the first broken entry): a log file,
    or with --db the chain `ipt-advisor serve` keeps in its database.

    \b
    Example:
      ipt-advisor log verify decisions.log
      ipt-advisor log verify --db sqlite:///cases.db
    """
    from ipt_advisor.audit.decision_log import LogError, verify

    if (log_file is None) == (db_url is None):
        raise click.UsageError("give a log FILE or --db URL (one of them)")
    try:
        if db_url is not None:
            store = open_store(db_url)
            try:
                entries, last = store.verify_log()
            finally:
                store.close()
        else:
            entries, last = verify(log_file)  # type: ignore[arg-type]
    except LogError as exc:
        fail(exc, EXIT_PROBLEMS)
    click.echo(f"{entries} entries, chain intact (last hash {last})")


# ---- intake clinicians: the web app and its database


def open_store(db_url: str | None) -> Any:
    """An existing database, read-only use (exit 1 if it is missing, unreachable or of another version)."""
    from ipt_advisor.store import Store, StoreError

    try:
        return Store.open(db_url, create=False)
    except StoreError as exc:
        fail(exc, EXIT_PROBLEMS)


def export_for_audit(db_url: str, out_dir: str, resume: bool) -> tuple[str, dict[str, Any] | None]:
    """The stored intakes as OUT_DIR/stored-intakes.jsonl, the audit's input, and the CDS card
    feedback as OUT_DIR/cds-feedback.json (both kept as they were for --resume, so the resumed
    run audits the same records and feedback); returns the input's path and the feedback."""
    import json
    import os

    from ipt_advisor.core.errors import OutputError
    from ipt_advisor.core.output import make_private_dirs, write_atomic

    path = os.path.join(out_dir, "stored-intakes.jsonl")
    feedback_path = os.path.join(out_dir, "cds-feedback.json")
    if resume and os.path.exists(path):
        try:
            with open(feedback_path, encoding="utf-8") as handle:
                return path, json.load(handle)
        except FileNotFoundError:
            return path, None
        except (OSError, ValueError) as exc:
            click.echo(f"{feedback_path}: cannot read the saved CDS feedback: {exc}", err=True)
            sys.exit(EXIT_PROBLEMS)
    text, feedback = stored_jsonl(db_url, with_feedback=True)
    try:
        make_private_dirs(out_dir)
        write_atomic(path, text)
        write_atomic(feedback_path, feedback)
    except OutputError as exc:
        fail(exc, EXIT_PROBLEMS)
    return path, json.loads(feedback)


def stored_jsonl(db_url: str | None, with_feedback: bool = False) -> Any:
    """Every stored intake as JSON Lines (exit 1 if the database cannot be read); with
    ``with_feedback`` also the CDS card feedback's per-rule override rates (JSON text)."""
    from ipt_advisor.store import StoreUnavailable
    from ipt_advisor.store.feedback import feedback_json

    store = open_store(db_url)
    try:
        text = "".join(line + "\n" for line in store.jsonl())
        return (text, feedback_json(store)) if with_feedback else text
    except StoreUnavailable as exc:
        fail(exc, EXIT_PROBLEMS)
    finally:
        store.close()


def _local_names(bind: str) -> set[str]:
    """Names this machine answers to when bound to every interface (for the Host allow-list)."""
    import socket

    if bind not in ("0.0.0.0", "::"):
        return set()
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
    return {f"[{n}]" if ":" in n else n for n in names if n}


def _cpus() -> int:
    """The CPUs this process may run on (its affinity, not just the machine's count)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="TCP port; 0 picks a free one (the first line printed says which).",
)
@click.option(
    "--host",
    default=None,
    metavar="ADDR",
    help="IP address to listen on (default 127.0.0.1, this machine only). Anything else is "
    "reachable from the network over plain HTTP: a warning is printed.",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (default: a SQLite file in "
    "your data folder, readable by you only); created or upgraded on start.",
)
@RULES_OPTION
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server processes sharing the port (default: one per CPU).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Requests each worker process serves at once.",
)
@click.option(
    "--ehr-clients",
    "ehr_clients",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="CDS Hooks: EHR clients whose signed JWTs are accepted (issuer, pinned JWK Set, jku).",
)
@click.option(
    "--fhir-server",
    "fhir_servers",
    multiple=True,
    metavar="URL",
    help="CDS Hooks: a FHIR server the service may fetch missing prefetch from (repeatable); "
    "without it a call missing prefetch is answered 412.",
)
def serve(
    port: int,
    host: str | None,
    db_url: str | None,
    rules_dir: str | None,
    workers: int | None,
    threads: int,
    ehr_clients: str | None,
    fhir_servers: tuple[str, ...],
) -> None:
    """The clinicians' web app: intake form, report (print view, client handout), sign-off,
    case list and history, stored in a database; and the CDS Hooks 2.0 service
    (/cds-services) an EHR calls with the launch token or a configured client's JWT.

    The first line printed is the address to open, with this run's secret token:
    `ipt-advisor serving on http://HOST:PORT/?token=TOKEN`. Stop with Ctrl-C or SIGTERM:
    requests in progress are finished first.

    \b
    Example:
      ipt-advisor serve
      ipt-advisor serve --port 0 --db sqlite:///clinic.db
    """
    import ipaddress
    import secrets
    import signal

    from ipt_advisor.store import Store, StoreError, display_url
    from ipt_advisor.web.app import create_app
    from ipt_advisor.web.security import allowed_hosts
    from ipt_advisor.web.server import access_log, listen, run
    from ipt_advisor.web.warmup import warm_up

    bind = host or "127.0.0.1"
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        raise click.BadParameter(
            f"{bind!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::1)", param_hint="--host"
        ) from None
    if host is not None and not address.is_loopback:
        click.echo(
            f"warning: listening on {bind}: other machines can reach this server, and it speaks plain "
            "HTTP (health data unencrypted on the network); use it only behind a TLS proxy or on a "
            "trusted network",
            err=True,
        )
    advisor = load_advisor(rules_dir)
    clients = {}
    if ehr_clients:
        from ipt_advisor.web.cds_auth import ClientsError, load_clients

        try:
            clients = load_clients(ehr_clients)
        except ClientsError as exc:
            fail(exc, EXIT_PROBLEMS)
    try:
        store = Store.open(db_url, pool_size=threads)
    except StoreError as exc:
        fail(exc, EXIT_PROBLEMS)
    try:
        sock = listen(bind, port)
    except OSError as exc:
        store.close()
        click.echo(f"cannot listen on {bind}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_PROBLEMS)
    bound, bound_port = sock.getsockname()[:2]
    token = secrets.token_urlsafe(24)  # made before the workers fork: every one accepts it
    app = create_app(
        store,
        advisor,
        token=token,
        hosts=allowed_hosts(bound, bound_port, _local_names(bind)),
        tool_version=__version__,
        ehr_clients=clients,
        fhir_servers=frozenset(fhir_servers),
    )
    warm_up(app, f"127.0.0.1:{bound_port}", token)  # once here, not in every worker on its first requests

    def ready() -> None:
        shown = f"[{bound}]" if ":" in bound else bound
        click.echo(f"ipt-advisor serving on http://{shown}:{bound_port}/?token={token}")
        click.echo(
            f"database {display_url(store.engine.url)} · rule set {advisor.ruleset.name} {advisor.ruleset.version}"
        )
        click.echo(
            "Open the address above in a browser on this machine. Stop with Ctrl-C (requests in progress finish first)."
        )
        sys.stdout.flush()

    try:
        signum, clean = run(
            access_log(app),
            sock,
            threads=threads,
            workers=workers or _cpus(),
            ready=ready,
            before_fork=store.engine.dispose,
        )
    finally:
        store.close()
    how = signal.Signals(signum).name if signum else "done"
    if not clean:
        click.echo(f"stopped ({how}): a worker process did not finish cleanly; see the lines above", err=True)
        sys.exit(EXIT_PROBLEMS)
    click.echo(f"stopped ({how}): every request in progress was answered", err=True)


@cli.command()
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="The web app's database (default: the one `serve` uses by default).",
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to this file (atomically, readable by you only) instead of stdout.",
)
def export(db_url: str | None, out: str | None) -> None:
    """Every stored intake as JSON Lines, oldest first, each with the clinician's sign-off as
    its clinician_decision: an input for `audit` and `rules diff`.

    \b
    Example:
      ipt-advisor export --db sqlite:///clinic.db -o intakes.jsonl
      ipt-advisor audit intakes.jsonl -o audit/
    """
    text = stored_jsonl(db_url)
    emit(text, out)
    click.echo(f"{text.count(chr(10))} stored intake(s) exported", err=True)


@cli.command()
@click.argument("compact_file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to this file (atomically, readable by you only) instead of stdout.",
)
@RULES_OPTION
def expand(compact_file: str, out: str | None, rules_dir: str | None) -> None:
    """Turn the compact decision lines of `audit --compact` back into decision-v1 lines,
    byte for byte those a plain `audit` writes. Needs the rule set they were written with.

    \b
    Exit codes: 0 done; 1 a line is not a compact line of this rule set (every one listed;
    with -o nothing is written); 4 invalid rule set.

    \b
    Example:
      ipt-advisor audit intakes.jsonl -o audit/ --compact
      ipt-advisor expand audit/decisions.compact.jsonl -o audit/decisions.jsonl
    """
    from ipt_advisor.audit.compact import CompactError, TextTable, expand_lines
    from ipt_advisor.core.errors import OutputError
    from ipt_advisor.core.output import write_atomic_bytes

    table = TextTable.of(load_rules(rules_dir))
    try:
        with open(compact_file, "rb") as handle:
            if out is None:
                for line in expand_lines(handle, table, compact_file):
                    sys.stdout.buffer.write(line)
                sys.stdout.flush()
            else:
                write_atomic_bytes(out, b"".join(expand_lines(handle, table, compact_file)))
    except (CompactError, OutputError) as exc:
        fail(exc, EXIT_PROBLEMS)
    except OSError as exc:
        click.echo(f"{compact_file}: cannot read: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_PROBLEMS)


# ---- training programs: browse, document and question the rules


def load_rules(rules_dir: str | None) -> Any:
    """The checked rule set alone (no engine): enough to browse it."""
    from ipt_advisor.core.errors import RuleSetError
    from ipt_advisor.ruleset.load import load_ruleset

    try:
        return load_ruleset(rules_dir)
    except RuleSetError as exc:
        fail(exc, EXIT_RULES)


def check_choice(value: str | None, known: Any, option: str, upper: bool = False) -> None:
    """A filter value no rule has is a usage error (exit 2) with a suggestion."""
    from ipt_advisor.core.hints import closest, did_you_mean

    known = sorted(set(known))
    if value is None or (value.upper() if upper else value.lower()) in known:
        return
    hint = did_you_mean(closest(value.upper() if upper else value.lower(), known))
    raise click.BadParameter(f"{value!r} is not used by any rule{hint}; known: {', '.join(known)}", param_hint=option)


@rules.command("list")
@click.option("--area", default=None, help="Only rules of this area (safety, severity, format, ...).")
@click.option("--flag", default=None, metavar="CODE", help="Only rules raising this flag code.")
@click.option("--status", default=None, help="Only rules with this status (active, draft, retired).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: an aligned table; json: one object per rule.",
)
@RULES_OPTION
def rules_list(area: str | None, flag: str | None, status: str | None, fmt: str, rules_dir: str | None) -> None:
    """List the rules: id, version, status, area, evidence, test cases, flags, where, title.

    \b
    Example:
      ipt-advisor rules list --area safety
      ipt-advisor rules list --flag MORE_SEVERE --format json
    """
    import json

    from ipt_advisor.report import words as catalog

    ruleset = load_rules(rules_dir)
    check_choice(area, [r.area.lower() for r in ruleset.rules], "--area")
    check_choice(status, [r.status.lower() for r in ruleset.rules], "--status")
    check_choice(
        flag, [c for r in ruleset.rules for c in catalog.flags_raised(r)] + list(ruleset.flags), "--flag", upper=True
    )
    entries = catalog.list_rules(ruleset, area=area, flag=flag, status=status)
    if fmt == "json":
        emit(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", None)
    else:
        emit(catalog.list_text(entries), None)


@rules.command("show")
@click.argument("rule_id", metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@RULES_OPTION
def rules_show(rule_id: str, fmt: str, rules_dir: str | None) -> None:
    """Show one rule as a trainer reads it: rationale, references, the condition and
    conclusions in words, its test cases, and the rules it is fed by and feeds.

    \b
    Example:
      ipt-advisor rules show RISK-SI-IMMINENT
    """
    import json

    from ipt_advisor.report import words as catalog
    from ipt_advisor.core.errors import IptError, Problem

    ruleset = load_rules(rules_dir)
    rule = catalog.find_rule(ruleset, rule_id)
    if rule is None:
        fail(
            IptError([Problem(ruleset.root, None, rule_id, "no such rule" + catalog.suggest_rule(ruleset, rule_id))]),
            EXIT_PROBLEMS,
        )
    detail = catalog.rule_detail(ruleset, rule)
    if fmt == "json":
        emit(json.dumps(detail, indent=2, ensure_ascii=False, default=str) + "\n", None)
    else:
        emit(catalog.show_text(detail), None)


@rules.command("doc")
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Catalog folder: created, or replaced if it holds a catalog written earlier and "
    "nothing else (a file added or edited there since is named, and the run refuses).",
)
@click.option(
    "--cases",
    "case_paths",
    multiple=True,
    type=click.Path(exists=True),
    metavar="PATH",
    help="Intake files or folders to show as teaching cases, beside the default ones "
    "(the bundled examples and the clinical brief's vignettes); repeatable.",
)
@click.option("--no-default-cases", is_flag=True, help="Show only the --cases given, not the default teaching cases.")
@TODAY_OPTION
@RULES_OPTION
def rules_doc(
    out_dir: str, case_paths: tuple[str, ...], no_default_cases: bool, today: Any, rules_dir: str | None
) -> None:
    """Write the rule set as a static, offline HTML catalog: searchable index, one page per
    rule, fact and flag, a dependency graph (needs Graphviz) and the teaching cases.

    Case files that are not valid intakes are listed on stderr and left out (exit 1).

    \b
    Example:
      ipt-advisor rules doc -o site/
      xdg-open site/index.html
    """
    from pathlib import Path

    from ipt_advisor.catalog.site import write_catalog
    from ipt_advisor.core.errors import EngineError, OutputError

    advisor = load_advisor(rules_dir)
    try:
        from ipt_advisor.catalog.site import default_case_paths

        paths = ([] if no_default_cases else default_case_paths()) + [Path(p) for p in case_paths]
        result = write_catalog(advisor, out_dir, paths, __version__, today_of(today))
    except OutputError as exc:
        fail(exc, EXIT_PROBLEMS)
    except EngineError as exc:
        fail(exc, EXIT_RULES)
    for warning in result.warnings:
        click.echo(warning, err=True)
    for problem in result.problems:
        click.echo(str(problem), err=True)
    click.echo(
        f"wrote {Path(out_dir) / 'index.html'}: {result.rules} rules, {result.facts} facts, "
        f"{result.flags} flags, {result.cases} cases, graph {'drawn' if result.graph else 'missing'} "
        f"({result.files} files)"
    )
    if result.problems:
        click.echo(f"{len({p.source for p in result.problems})} case file(s) left out", err=True)
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.argument("intake_file", metavar="INTAKE")
@click.option(
    "--set",
    "changes",
    multiple=True,
    required=True,
    metavar="PATH=VALUE",
    help="Change one intake field (repeatable); VALUE is YAML: true, 16, null, group.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@RULES_OPTION
def explain(intake_file: str, changes: tuple[str, ...], fmt: str, rules_dir: str | None) -> None:
    """What if: the decision before and after changing intake answers, side by side, with
    the rules that fired only before or only after and the facts that changed.

    An unknown field is a usage error (exit 2, with a suggestion); a change that makes the
    intake invalid exits 3 listing the problems.

    \b
    Example:
      ipt-advisor explain examples/group.yaml --set risk.cssrs.intent=true
      ipt-advisor explain examples/demo.yaml --set risk.cssrs=null --set measures.phq9=18
    """
    import json

    from ipt_advisor import whatif
    from ipt_advisor.core.errors import EngineError, IntakeError, Problem

    problems: list[Problem] = []
    parsed = []
    for text in changes:
        try:
            parsed.append(whatif.parse_change(text))
        except whatif.ChangeError as exc:
            problems.extend(exc.problems)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        sys.exit(2)
    advisor = load_advisor(rules_dir)
    try:
        data, source = whatif.read_input(intake_file)
        before, after = whatif.apply_changes(data, source, parsed)
    except IntakeError as exc:
        fail(exc, EXIT_INTAKE)
    try:
        result = whatif.explain_change(advisor, before, after, parsed)
    except EngineError as exc:
        fail(exc, EXIT_RULES)
    if fmt == "json":
        emit(json.dumps(result, indent=2, ensure_ascii=False) + "\n", None)
    else:
        emit(whatif.explain_text(result), None)


#: set by main() for ``ipt-advisor assess`` (a process that is mostly its own start-up)
_ONE_SHOT = False


def main() -> None:
    """Console-script entry point."""
    global _ONE_SHOT
    # From here Ctrl-C is Python's KeyboardInterrupt again: the command's own cleanup runs (an
    # output is only ever renamed into place whole) and click reports it in one line.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.argv[1:2] == ["assess"]:
        # An assess makes a few hundred thousand long-lived objects as it starts (modules, the
        # rule set, the engine) and a few thousand for its report. The cyclic collector walking
        # the first again and again, and once more at exit, was ~18 ms of its ~140 ms of CPU. It
        # is off while they are made; load_advisor then freezes them out of its sight (as the
        # audit's workers do) and turns it on again for the rest of the run.
        import gc

        gc.disable()
        _ONE_SHOT = True
    try:
        cli(prog_name="ipt-advisor")
    finally:
        # The command is over: its outputs are in place, or cleaned up and reported. A Ctrl-C
        # from here on would stop nothing, yet, landing while Python shuts down, print a
        # traceback from its threading module after the command's own last line.
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()

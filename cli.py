"""ipt-advisor command line: a thin adapter over the ``ipt_advisor`` library.

Each command parses options, calls the library, prints, and maps errors to
the exit codes of decision-v1: 0 done; 1 problems found (lint, rule tests,
invalid intakes in ``intake check``, an output that could not be written);
2 usage; 3 invalid intake for ``assess``; 4 invalid rule set.
Library modules are imported inside commands to keep start-up fast.
"""
from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from ipt_advisor import __version__

EXIT_PROBLEMS, EXIT_INTAKE, EXIT_RULES = 1, 3, 4
RULES_OPTION = click.option(
    "--rules", "rules_dir", type=click.Path(file_okay=False), default=None,
    help="Rule-set directory (default: the rule set shipped with ipt-advisor).")


def fail(error: Any, code: int) -> NoReturn:
    """Print every problem on its own line to stderr and exit with ``code``."""
    for problem in error.problems:
        click.echo(str(problem), err=True)
    sys.exit(code)


def load_advisor(rules_dir: str | None) -> Any:
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.errors import RuleSetError

    try:
        return Advisor.load(rules_dir)
    except RuleSetError as exc:
        fail(exc, EXIT_RULES)


def emit(text: str, out: str | None) -> None:
    """Print, or write atomically (owner-only) to ``out``."""
    if out is None:
        click.echo(text, nl=False)
        return
    from ipt_advisor.errors import OutputError
    from ipt_advisor.output import write_atomic

    try:
        write_atomic(out, text)
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
@click.option("--format", "fmt", type=click.Choice(["text", "md", "html", "json"]), default="text",
              show_default=True, help="Report format; json prints the decision-v1 object.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the report to this file (atomically, readable by you only).")
@RULES_OPTION
def assess(intake_file: str, fmt: str, out: str | None, rules_dir: str | None) -> None:
    """Assess one intake (YAML or JSON; - reads stdin) and print an explained report.

    \b
    Example:
      ipt-advisor assess examples/demo.yaml
      ipt-advisor assess intake.yaml --format html -o report.html
    """
    from ipt_advisor.errors import EngineError, IntakeError
    from ipt_advisor.intake import load_intake_file

    advisor = load_advisor(rules_dir)
    try:
        intake = load_intake_file(intake_file)
    except IntakeError as exc:
        fail(exc, EXIT_INTAKE)
    try:
        _, text = advisor.report(intake, fmt, __version__)
    except EngineError as exc:
        fail(exc, EXIT_RULES)
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
    from ipt_advisor.intake import TEMPLATE

    click.echo(TEMPLATE, nl=False)


@intake.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def intake_check(files: tuple[str, ...]) -> None:
    """Validate intake files; list every problem (exit 1 if any file is invalid).

    \b
    Example:
      ipt-advisor intake check examples/*.yaml
    """
    from ipt_advisor.errors import IntakeError
    from ipt_advisor.intake import load_intake_file

    bad = 0
    for name in files:
        try:
            intake_record = load_intake_file(name)
        except IntakeError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            continue
        note = "" if intake_record.get("risk.cssrs") is not None else " (valid, but the C-SSRS screen is missing: the decision will be incomplete)"
        click.echo(f"{name}: ok{note}")
    if bad:
        click.echo(f"{bad} of {len(files)} intake(s) invalid", err=True)
        sys.exit(EXIT_PROBLEMS)


@cli.group()
def rules() -> None:
    """Rule sets: lint, test, browse."""


@rules.command("lint")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def rules_lint(directory: str | None) -> None:
    """Check a rule set: schema, unknown facts, types, duplicate ids, unreachable rules, cycles.

    \b
    Example:
      ipt-advisor rules lint my-rules/
    """
    from ipt_advisor.ruleload import lint

    ruleset, problems = lint(directory)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(EXIT_PROBLEMS)
    assert ruleset is not None
    click.echo(f"{ruleset.name} {ruleset.version}: {len(ruleset.rules)} rules, "
               f"{len(ruleset.facts)} facts, no problems (sha256 {ruleset.sha256[:12]})")


@rules.command("test")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--coverage", is_flag=True, help="Also show how many test cases fired each rule.")
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
def rules_test(directory: str | None, coverage: bool, verbose: bool) -> None:
    """Run the test cases embedded in the rule files (exit 1 on any failure).

    \b
    Example:
      ipt-advisor rules test --coverage
    """
    from ipt_advisor import ruletests

    advisor = load_advisor(directory)
    results = ruletests.run_all(advisor)
    for r in results:
        if not r.passed or verbose:
            click.echo(f"{'PASS' if r.passed else 'FAIL'} {r.location}: {r.rule_id}: {r.name}")
            for failure in r.failures:
                click.echo(f"     {failure}")
    failed = sum(not r.passed for r in results)
    if coverage:
        counts = ruletests.coverage(advisor, results)
        click.echo("coverage (test cases that fired each active rule):")
        for rid, n in counts.items():
            click.echo(f"  {n:4d}  {rid}{'   <- never fired' if n == 0 else ''}")
        never = [rid for rid, n in counts.items() if n == 0]
        click.echo(f"{len(counts) - len(never)} of {len(counts)} active rules fired by at least one test")
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(EXIT_PROBLEMS)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ipt-advisor")


if __name__ == "__main__":
    main()

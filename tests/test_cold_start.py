"""What `ipt-advisor assess` does for a fast start (cli.main): the cyclic collector is off while
the process loads, then what it loaded is frozen and the collector is on again for the rest;
every other command, and the library, keep the collector as Python sets it."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, fresh_python

DEMO = str(ROOT / "examples" / "demo.yaml")


def run_main(*args: str) -> tuple[str, str]:
    """Run cli.main() with ``args`` in a fresh process; (its output, the collector's state after)."""
    code = (
        "import gc, sys\n"
        f"sys.argv = ['ipt-advisor', *{list(args)!r}]\n"
        "import cli\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('GC', gc.isenabled(), gc.get_freeze_count() > 0)\n"
    )
    output, _, state = fresh_python(code).rpartition("GC ")
    return output, state.strip()


def test_assess_loads_with_the_collector_off_then_runs_with_it_on() -> None:
    output, state = run_main("assess", DEMO)
    assert "RECOMMENDATION:" in output
    assert state == "True True", "on again after the load, with the loaded objects frozen"


def test_other_commands_keep_the_collector_as_it_was() -> None:
    output, state = run_main("rules", "list")
    assert output.strip()
    assert state == "True False"


def test_the_same_report_with_and_without_the_fast_start() -> None:
    fast = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "assess", DEMO, "--format", "md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    code = f"import sys, cli; sys.argv = ['ipt-advisor', 'assess', {DEMO!r}, '--format', 'md']; cli.cli()"
    plain = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert fast.returncode == plain.returncode == 0, (fast.stderr, plain.stderr)
    assert fast.stdout == plain.stdout

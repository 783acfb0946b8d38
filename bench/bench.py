"""ipt-advisor benchmarks: a script that prints numbers, not a test that asserts them.

    python bench/bench.py                 # audit 20,000 intakes, cold start, engine per intake
    python bench/bench.py --n 50000       # a bigger audit
    python bench/bench.py --flat          # + memory flatness: audit 200,000 vs 20,000 (slow)
    python bench/bench.py --memory        # + 50,000 assessments in one process, RSS before/after
    python bench/bench.py --mutation      # only: mutation testing of the shipped rules (target: 60 s)
    python bench/bench.py --parallel      # + one worker against two, interleaved: speed-up, CPU per intake
    python bench/bench.py --compact       # + bytes of audit --compact against decisions.jsonl
    python bench/bench.py --scale         # + rule sets 2x and 4x the shipped size: CPU per intake, per firing
    python bench/bench.py --all           # everything

What is measured:

* audit end to end: the ``ipt-advisor audit`` console script on N synthetic JSONL intakes
  (seeded, covering every pathway: risk, specialist, severity bands, adolescents,
  perinatal, group exclusions, each focus area, clinician decisions), wall-clock intakes/s
  (median of ``--repeat`` runs, 3 by default, with the slowest and fastest) and the peak RSS
  of the process tree (parent + workers, sampled from /proc every 20 ms;
  the largest single process is shown too);
* cold start: ``ipt-advisor assess examples/demo.yaml`` (text report), median of 9 runs;
* the engine alone: ``Advisor.assess`` per intake (validation excluded), the durable-rules
  run inside it, and the plain-Python firing of the same rules (``direct.Evaluator``, what
  mutation testing uses), which must fire the same rules;
* memory: 50,000 ``Advisor.assess`` calls in one process, RSS before and after;
* the dashboard's share: what the site / clinician / month breakdowns add to the tally and
  what rendering ``summary.html`` costs, against the audit's wall time (target: at most 10 %);
* mutation testing: ``ipt-advisor rules test --mutate`` on the shipped rules with the
  vignette case file, end to end (median of 3, with 1 and with 2 workers), the counts, and
  what evaluating the mutants with one durable-rules engine each would cost instead
  (measured on a sample, extrapolated).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def console_script() -> str:
    """The ipt-advisor console script next to this Python (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "ipt-advisor"
    return str(local) if local.exists() else "ipt-advisor"


# --------------------------------------------------------------------------- synthetic intakes

SITES = ("NORTH-01", "SOUTH-02", "EAST-03", "WEST-04", "CITY-05")


def synthetic(rng: random.Random, i: int) -> dict[str, Any]:
    """One valid intake; the mix is skewed towards what a clinic sees, yet reaches every rule."""
    roll = rng.random
    age = rng.choice([rng.randint(18, 80)] * 8 + [rng.randint(12, 17), rng.randint(6, 11)])
    record: dict[str, Any] = {
        "intake_version": 1,
        "id": f"B-{i:07d}",
        "assessed_on": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "age": age,
        "measures": {"phq9": rng.randint(0, 27)},
    }
    if roll() < 0.15 and 16 <= age <= 50:
        record["perinatal"] = rng.choice(["pregnant", "postpartum"])
    for name, hi, p in (("phq9_item9", 3, 0.9), ("gad7", 21, 0.6), ("spin", 68, 0.4)):
        if roll() < p:
            record["measures"][name] = rng.choice([0, 0, 0, rng.randint(0, hi)])
    risk: dict[str, Any] = {}
    if roll() < 0.92:  # the C-SSRS screen is usually done
        active = roll() < 0.12
        cssrs: dict[str, Any] = {"wish_dead": roll() < 0.2, "active_thoughts": active, "behavior_3m": roll() < 0.03}
        if active:
            cssrs.update(method=roll() < 0.5, intent=roll() < 0.2, plan=roll() < 0.1)
        if roll() < 0.03:
            del cssrs[rng.choice(list(cssrs))]  # a question not asked
        risk["cssrs"] = cssrs
    for name, p in (
        ("psychosis", 0.02),
        ("mania_history", 0.03),
        ("hostility", 0.02),
        ("harm_to_others", 0.01),
        ("acute_crisis", 0.04),
    ):
        if roll() < p:
            risk[name] = True
    if roll() < 0.1:
        risk["substance"] = rng.choice(["misuse", "misuse", "dependence"])
    if roll() < 0.06:
        risk["cognitive_impairment"] = rng.choice(["mild", "severe"])
    record["risk"] = risk
    findings: dict[str, Any] = {}
    if roll() < 0.35:
        findings["grief"] = {
            "present": True,
            "months_since_death": rng.choice([rng.randint(0, 11), rng.randint(12, 60)]),
            "onset_linked": roll() < 0.6,
        }
    if roll() < 0.35:
        findings["role_dispute"] = {
            "present": True,
            "with": "partner",
            "stage": rng.choice(["renegotiation", "impasse", "dissolution"]),
            "onset_linked": roll() < 0.5,
        }
        if roll() < 0.9:
            findings["role_dispute"]["violence"] = roll() < 0.1
    if roll() < 0.45:
        findings["role_transition"] = {"present": True, "kind": "job loss", "onset_linked": roll() < 0.6}
    if roll() < 0.3:
        findings["isolation"] = {"present": True, "onset_linked": roll() < 0.3}
    for name in ("social_anxiety", "group_discomfort"):
        if roll() < 0.3:
            findings[name] = rng.choice(["none", "mild", "moderate", "severe"])
    record["findings"] = findings
    prefs: dict[str, Any] = {}
    if roll() < 0.5:
        prefs["format"] = rng.choice(["group", "individual", "either"])
    if roll() < 0.08:
        prefs["confidentiality_concern"] = True
    if roll() < 0.08:
        prefs["can_attend_group_times"] = False
    record["preferences"] = prefs
    if roll() < 0.3:
        record["notes"] = "Synthetic case for benchmarking; no real person."
    # site and clinician codes from the index, not the generator: the rest of the corpus stays
    # what it was before the intake had them (the numbers stay comparable)
    if i % 20:
        record["site"] = SITES[(i * 7919) % len(SITES)]
        record["clinician"] = f"CL-{(i * 104729) % 23 + 1:03d}"
    if roll() < 0.6:
        decision: dict[str, Any] = {"format": rng.choice(["group", "individual", "defer"])}
        if roll() < 0.8:
            decision["focus"] = rng.choice(["grief", "role_dispute", "role_transition", "isolation"])
        if roll() < 0.3:
            decision["reason"] = "Clinical judgement (synthetic)."
        record["clinician_decision"] = decision
    return record


def write_corpus(path: Path, n: int, seed: int = 20261) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps(synthetic(rng, i), separators=(",", ":")) + "\n")


# --------------------------------------------------------------------------- process-tree memory


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as handle:
                todo.extend(int(c) for c in handle.read().split())
        except OSError:
            pass
    return out


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child so far, their own children included
    (an audit's workers are waited for by it, so they count): a shared machine's steal shows
    in wall time, much less in this."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(cmd: list[str], sample: bool = True) -> tuple[float, int, int, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; return (wall seconds, peak RSS of the tree in KB, peak single process KB, result).
    With ``sample=False`` no RSS is sampled (0, 0): the sampler reads /proc 50 times a second,
    CPU taken from a run that keeps both cores busy."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_tree = peak_one = 0
    done = threading.Event()

    def measure() -> None:
        nonlocal peak_tree, peak_one
        while not done.is_set():
            sizes = [_rss_kb(p) for p in _tree(proc.pid)]
            peak_tree = max(peak_tree, sum(sizes))
            peak_one = max(peak_one, max(sizes, default=0))
            done.wait(0.02)

    sampler = threading.Thread(target=measure, daemon=True)
    if sample:
        sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    if sample:
        sampler.join()
    return wall, peak_tree, peak_one, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def bench_audit(
    n: int,
    workdir: Path,
    jobs: int | None,
    repeat: int = 1,
    extra: tuple[str, ...] = (),
    corpus: Path | None = None,
    sample: bool = True,
) -> dict[str, Any]:
    """Audit ``n`` synthetic intakes ``repeat`` times (a shared VM's speed drifts from run to
    run): the median wall time, the fastest and slowest, the highest peak RSS, and the CPU
    time of the whole process tree per intake (median)."""
    corpus = corpus or workdir / f"corpus-{n}.jsonl"
    if not corpus.exists():
        write_corpus(corpus, n)
    walls, cpus, tree, one = [], [], 0, 0
    for run in range(repeat):
        out = workdir / f"out-{n}-{jobs}-{run}{'-'.join(('',) + extra)}"
        shutil.rmtree(out, ignore_errors=True)  # a fresh folder, not the last run's files to replace
        cmd = [console_script(), "audit", str(corpus), "-o", str(out), *extra]
        if jobs:
            cmd += ["--jobs", str(jobs)]
        cpu = children_cpu()
        wall, run_tree, run_one, result = run_measured(cmd, sample)
        cpus.append(children_cpu() - cpu)
        if result.returncode != 0:
            raise SystemExit(f"audit failed ({result.returncode}): {result.stderr.strip()}")
        walls.append(wall)
        tree, one = max(tree, run_tree), max(one, run_one)
    summary = json.loads((out / "summary.json").read_text())
    wall = statistics.median(walls)
    decisions = out / ("decisions.compact.jsonl" if "--compact" in extra else "decisions.jsonl")
    return {
        "n": n,
        "wall": wall,
        "rate": n / wall,
        "runs": repeat,
        "fastest": n / min(walls),
        "slowest": n / max(walls),
        "tree_mb": tree / 1024,
        "one_mb": one / 1024,
        "cpu_us": statistics.median(cpus) / n * 1e6,
        "assessed": summary["records"]["assessed"],
        "never_fired": summary["rules"]["never_fired"],
        "fired_per_intake": sum(summary["rules"]["fired"].values()) / max(1, summary["records"]["assessed"]),
        "corpus_mb": corpus.stat().st_size / 1e6,
        "decision_bytes": decisions.stat().st_size,
        "out": out,
        "corpus": corpus,
    }


# --------------------------------------------------------------------------- the dashboard's share


def bench_dashboard(a: dict[str, Any], repeat: int = 3) -> dict[str, Any]:
    """What summary.html adds to the audit ``a`` (bench_audit's result): the breakdown
    counting per record (Tally.add with and without ``add_to_groups``, on the run's own
    decisions) plus rendering summary.html from the run's overrides.jsonl, each the median
    of ``repeat``; as a share of the audit's median wall time."""
    from types import SimpleNamespace

    from ipt_advisor.advisor import Advisor
    from ipt_advisor.audit.dashboard import render_summary_html
    from ipt_advisor.audit.summary import Tally, outcome, render_summary_md

    ruleset = Advisor.load().ruleset
    out: Path = a["out"]
    with a["corpus"].open(encoding="utf-8") as records, (out / "decisions.jsonl").open(encoding="utf-8") as decisions:
        outcomes = [
            outcome(i, "bench", i + 1, SimpleNamespace(record=json.loads(r), sha256="0" * 64), json.loads(d))
            for i, (r, d) in enumerate(zip(records, decisions))
        ]

    class Plain(Tally):
        def add_to_groups(self, o: Any) -> None:  # the tally as it was before the breakdowns
            return None

    def tally_seconds(cls: type) -> tuple[float, Tally]:
        times = []
        for _ in range(repeat):
            tally = cls(ruleset)
            start = time.perf_counter()
            for o in outcomes:
                tally.add(o)
            times.append(time.perf_counter() - start)
        return statistics.median(times), tally

    with_groups, tally = tally_seconds(Tally)
    plain, _ = tally_seconds(Plain)
    summary = tally.as_dict(
        input_path="bench",
        input_kind="jsonl",
        input_sha256="0",
        tool_version="bench",
        departures_file="overrides.jsonl",
    )

    def render_seconds(render: Any) -> tuple[float, int]:
        times, size = [], 0
        for _ in range(repeat):
            start = time.perf_counter()
            with (out / "overrides.jsonl").open("rb") as handle:
                size = len("".join(render(summary, (json.loads(line) for line in handle))))
            times.append(time.perf_counter() - start)
        return statistics.median(times), size

    html, html_size = render_seconds(render_summary_html)
    md, _ = render_seconds(render_summary_md)
    extra = max(0.0, with_groups - plain) + html
    return {
        "groups_s": max(0.0, with_groups - plain),
        "tally_s": with_groups,
        "html_s": html,
        "md_s": md,
        "html_kb": html_size / 1024,
        "extra_s": extra,
        "share": 100.0 * extra / a["wall"],
        "safety": (summary["concordance"] or {}).get("departures", {}).get("safety_critical", 0),
    }


def bench_parallel(n: int, workdir: Path, repeat: int) -> dict[str, Any]:
    """One worker against two, interleaved (1, 2, 1, 2, ...) so drift hits both alike:
    wall rates, their ratio (parallel efficiency = ratio / 2), CPU per intake of each."""
    one: list[dict[str, Any]] = []
    two: list[dict[str, Any]] = []
    for _ in range(repeat):
        one.append(bench_audit(n, workdir, 1, sample=False))  # no RSS sampler taking CPU from the run
        two.append(bench_audit(n, workdir, 2, sample=False))
    rate1 = statistics.median(r["rate"] for r in one)
    rate2 = statistics.median(r["rate"] for r in two)
    return {
        "rate1": rate1,
        "rate2": rate2,
        "speedup": rate2 / rate1,
        "cpu1": statistics.median(r["cpu_us"] for r in one),
        "cpu2": statistics.median(r["cpu_us"] for r in two),
    }


def bench_compact(n: int, workdir: Path) -> dict[str, Any]:
    """Bytes of decisions.jsonl against decisions.compact.jsonl for the same corpus."""
    plain = bench_audit(n, workdir, None)
    compact = bench_audit(n, workdir, None, extra=("--compact",))
    return {
        "plain": plain["decision_bytes"],
        "compact": compact["decision_bytes"],
        "plain_cpu": plain["cpu_us"],
        "compact_cpu": compact["cpu_us"],
    }


def bench_scale(workdir: Path, n: int = 3000, factors: tuple[int, ...] = (1, 2, 4)) -> list[dict[str, Any]]:
    """The audit on rule sets N times the shipped size (bench/scale.py), one worker: CPU per
    intake and per firing, and whether any intake failed in the engine."""
    from scale import scaled_rules

    corpus = workdir / f"corpus-{n}.jsonl"
    out = []
    for factor in factors:
        rules = workdir / f"rules-x{factor}"
        count = scaled_rules(factor, rules)
        r = bench_audit(n, workdir, 1, extra=("--rules", str(rules)), corpus=corpus)
        out.append(
            {
                "factor": factor,
                "rules": count,
                "cpu_us": r["cpu_us"],
                "fired": r["fired_per_intake"],
                "assessed": r["assessed"],
                "n": n,
            }
        )
    return out


# --------------------------------------------------------------------------- cold start

#: what every ``assess`` must import whatever it does: the import floor of a cold start
FLOOR = "import durable_rules_engine, yaml, jinja2, click"
FORMATS = ("text", "md", "html", "json")


def bench_cold(runs: int = 9) -> dict[str, Any]:
    """``assess examples/demo.yaml`` per format, the import floor and a bare Python, each run
    interleaved with the others (drift hits all alike): median wall and median CPU in ms.

    The package is byte-compiled first, as ``pip install`` does: in a checkout run with
    PYTHONDONTWRITEBYTECODE every start would compile ~30 modules from source, which the
    floor's libraries (installed, compiled) never pay. One assess runs before the timed
    ones, so the rule-set cache (ruleset_cache) holds this rule set, as it does for every
    assess after a user's first."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "ipt_advisor"), str(ROOT / "cli.py")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    demo = str(ROOT / "examples" / "demo.yaml")
    subprocess.run([console_script(), "assess", demo], stdout=subprocess.DEVNULL, check=True)
    commands = {fmt: [console_script(), "assess", demo, "--format", fmt] for fmt in FORMATS}
    commands["floor"] = [sys.executable, "-c", FLOOR]
    commands["python"] = [sys.executable, "-c", "pass"]
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            cpu = children_cpu()
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(children_cpu() - cpu)
    return {
        name: {"wall_ms": statistics.median(walls[name]) * 1000, "cpu_ms": statistics.median(cpus[name]) * 1000}
        for name in commands
    }


# --------------------------------------------------------------------------- engine alone


def bench_engine(n: int = 3000) -> dict[str, Any]:
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.decision.direct import Evaluator
    from ipt_advisor.intake.facts import engine_fact, input_values
    from ipt_advisor.intake.schema import from_mapping
    from ipt_advisor.core.jsonline import dumps_bytes

    advisor = Advisor.load()
    rs = advisor.ruleset
    rng = random.Random(7)
    intakes = [from_mapping(synthetic(rng, i), None, "bench") for i in range(n)]
    evaluator = Evaluator(rs)
    for intake in intakes[:200]:  # warm up
        advisor.assess(intake)

    start = time.perf_counter()
    for intake in intakes:
        from_mapping(intake.record, None, "bench")
    validate = (time.perf_counter() - start) / n

    start = time.perf_counter()
    decisions = [advisor.assess(intake) for intake in intakes]
    assess = (time.perf_counter() - start) / n

    start = time.perf_counter()
    for d in decisions:
        dumps_bytes(d)
    dumps = (time.perf_counter() - start) / n

    values_all = [input_values(intake, rs) for intake in intakes]
    facts = [engine_fact(v) for v in values_all]
    start = time.perf_counter()
    runs = [advisor.engine.run(fact, "bench") for fact in facts]
    engine = (time.perf_counter() - start) / n

    start = time.perf_counter()
    direct = [evaluator.fire(values).fired for values in values_all]
    plain = (time.perf_counter() - start) / n

    disagree = sum(set(run.fired) != set(d) for run, d in zip(runs, direct))
    # what one intake costs the engine: its rule firings (Run.count: every action the agenda
    # offered, a second alternative of a fired rule included) and one catch-all firing per
    # fact asserted (the intake, and each derived value some rule reads)
    read = advisor.compiled.read_derived
    asserted = sum(1 + sum(len(v) for f, v in run.derived.items() if f in read) for run in runs) / n
    return {
        "n": n,
        "validate_us": validate * 1e6,
        "assess_us": assess * 1e6,
        "engine_us": engine * 1e6,
        "direct_us": plain * 1e6,
        "dumps_us": dumps * 1e6,
        "disagree": disagree,
        "rules": len(rs.active_rules),
        "actions": sum(run.count for run in runs) / n,
        "distinct": sum(len(run.fired) for run in runs) / n,
        "asserted": asserted,
    }


# --------------------------------------------------------------------------- mutation testing


def bench_mutation(repeat: int = 3) -> dict[str, Any]:
    import dataclasses

    from ipt_advisor import ruletests
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.quality.mutants import generate, mutated_ruleset

    cases = ROOT / "tests" / "files" / "vignette-cases.yaml"
    out: dict[str, Any] = {}
    for jobs in (1, 2):
        walls, report = [], {}
        for _ in range(repeat):
            start = time.perf_counter()
            done = subprocess.run(
                [
                    console_script(),
                    "rules",
                    "test",
                    "--mutate",
                    "--cases",
                    str(cases),
                    "--format",
                    "json",
                    "--jobs",
                    str(jobs),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            walls.append(time.perf_counter() - start)
            report = json.loads(done.stdout)
        out[jobs] = {"wall": statistics.median(walls), "tool": report["seconds"]}
        out["counts"], out["score"] = report["counts"], report["score"]
    # the alternative: one durable-rules engine per mutant, every case through it
    advisor = Advisor.load()
    all_cases = ruletests.all_cases(advisor.ruleset, [str(cases)])
    mutants = generate(advisor.ruleset).mutants
    sample = mutants[:: max(1, len(mutants) // 20)][:20]
    start = time.perf_counter()
    for m in sample:
        engine = Advisor(dataclasses.replace(mutated_ruleset(advisor.ruleset, m), name=f"bench-{m.number}"))
        for case in all_cases:
            ruletests.run(engine, case)
        engine.engine.close()
    out["engine_per_mutant_s"] = (time.perf_counter() - start) / len(sample)
    out["mutants"], out["cases"] = len(mutants), len(all_cases)
    return out


# --------------------------------------------------------------------------- memory in one process


def bench_memory(n: int = 50_000) -> dict[str, float]:
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.intake.schema import from_mapping

    advisor = Advisor.load()
    rng = random.Random(11)
    pool = [from_mapping(synthetic(rng, i), None, "bench") for i in range(500)]
    for intake in pool:
        advisor.assess(intake)
    before = _rss_kb(os.getpid()) / 1024
    start = time.perf_counter()
    for i in range(n):
        advisor.assess(pool[i % len(pool)])
        if i == n // 2:
            middle = _rss_kb(os.getpid()) / 1024
    seconds = time.perf_counter() - start
    after = _rss_kb(os.getpid()) / 1024
    return {"n": n, "before_mb": before, "middle_mb": middle, "after_mb": after, "seconds": seconds}


# --------------------------------------------------------------------------- report


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="intakes for the audit benchmark (default 20,000)")
    parser.add_argument("--jobs", type=int, default=None, help="pass --jobs to audit (default: its own, one per CPU)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="audit runs of N intakes; the median is shown (default 3)"
    )
    parser.add_argument(
        "--flat", action="store_true", help="also audit 200,000 intakes and compare peak RSS with 20,000"
    )
    parser.add_argument(
        "--memory", action="store_true", help="also run 50,000 assessments in one process (RSS before/after)"
    )
    parser.add_argument(
        "--mutation", action="store_true", help="only the mutation-testing benchmark (with --all: everything and it)"
    )
    parser.add_argument("--parallel", action="store_true", help="also --jobs 1 against --jobs 2, interleaved")
    parser.add_argument("--compact", action="store_true", help="also the bytes of audit --compact against the default")
    parser.add_argument(
        "--scale", action="store_true", help="also rule sets 2x and 4x the shipped size (3,000 intakes)"
    )
    parser.add_argument("--all", action="store_true", help="everything")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    rows: list[tuple[str, str]] = []
    if args.mutation or args.all:
        rows += mutation_rows(bench_mutation())
        if not args.all:
            show(rows)
            return
    with tempfile.TemporaryDirectory(prefix="ipt-bench-") as tmp:
        work = Path(tmp)
        a = bench_audit(args.n, work, args.jobs, max(1, args.repeat))
        rows += [
            (
                f"audit {a['n']:,} JSONL intakes ({a['corpus_mb']:.1f} MB), median wall of {a['runs']}",
                f"{a['wall']:.2f} s",
            ),
            (
                "audit throughput, end to end (median; slowest-fastest run)",
                f"{a['rate']:,.0f} intakes/s ({a['slowest']:,.0f}-{a['fastest']:,.0f})",
            ),
            ("audit CPU per intake, parent + workers (user + sys, median)", f"{a['cpu_us']:.0f} µs"),
            ("audit peak RSS, process tree (parent + workers)", f"{a['tree_mb']:.0f} MB"),
            ("audit peak RSS, largest single process", f"{a['one_mb']:.0f} MB"),
            ("rules never fired by the synthetic corpus", ", ".join(a["never_fired"]) or "none"),
        ]
        d = bench_dashboard(a)
        rows += [
            (
                "dashboard: breakdown counting (site, clinician, month) over the run",
                f"{d['groups_s'] * 1000:.0f} ms (the whole tally {d['tally_s'] * 1000:.0f} ms)",
            ),
            (
                f"dashboard: rendering summary.html ({d['html_kb']:.0f} KB, {d['safety']:,} safety-critical overrides)",
                f"{d['html_s'] * 1000:.0f} ms (summary.md digest {d['md_s'] * 1000:.0f} ms)",
            ),
            (
                "dashboard's share of the audit's wall time (target <= 10 %)",
                f"{d['share']:.1f} % ({d['extra_s']:.2f} s of {a['wall']:.2f} s)",
            ),
        ]
        if args.parallel or args.all:
            p = bench_parallel(args.n, work, max(1, args.repeat))
            rows += [
                (
                    "audit --jobs 1 vs --jobs 2 (interleaved), median wall rate",
                    f"{p['rate1']:,.0f} vs {p['rate2']:,.0f} intakes/s: {p['speedup']:.2f}x, "
                    f"efficiency {50 * p['speedup']:.0f} %",
                ),
                ("  CPU per intake, --jobs 1 vs --jobs 2", f"{p['cpu1']:.0f} µs vs {p['cpu2']:.0f} µs"),
                # on a shared machine wall time says how busy the others were; CPU time says
                # what two workers cost over one, and what 2 idle cores could do with it
                (
                    "  efficiency from CPU (CPU per intake, --jobs 1 / --jobs 2); 2 cores at that CPU",
                    f"{100 * p['cpu1'] / p['cpu2']:.0f} %; {2e6 / p['cpu2']:,.0f} intakes/s",
                ),
            ]
        if args.compact or args.all:
            k = bench_compact(args.n, work)
            rows += [
                (
                    "decisions.jsonl vs audit --compact's decisions.compact.jsonl",
                    f"{k['plain'] / 1e6:.1f} MB vs {k['compact'] / 1e6:.1f} MB ({k['plain'] / k['compact']:.1f}x fewer bytes)",
                ),
                ("  CPU per intake, plain vs --compact", f"{k['plain_cpu']:.0f} µs vs {k['compact_cpu']:.0f} µs"),
            ]
        if args.scale or args.all:
            base = None
            for r in bench_scale(work):
                base = base or r
                extra = r["cpu_us"] - base["cpu_us"]
                more = r["fired"] - base["fired"]
                per = f", +{extra / more:.1f} µs per extra firing" if more > 0 else ""
                rows.append(
                    (
                        f"rules x{r['factor']} ({r['rules']} rules): {r['assessed']:,} of {r['n']:,} assessed, 1 worker",
                        f"{r['cpu_us']:.0f} µs CPU per intake, {r['fired']:.1f} firings per intake{per}",
                    )
                )
        if args.flat or args.all:
            small = a if a["n"] == 20_000 else bench_audit(20_000, work, args.jobs)
            big = bench_audit(200_000, work, args.jobs)
            growth = 100.0 * (big["tree_mb"] - small["tree_mb"]) / small["tree_mb"]
            rows += [
                ("audit 200,000 intakes, wall / throughput", f"{big['wall']:.1f} s / {big['rate']:,.0f} intakes/s"),
                (
                    "peak RSS tree: 20,000 vs 200,000",
                    f"{small['tree_mb']:.0f} MB vs {big['tree_mb']:.0f} MB ({growth:+.1f} %)",
                ),
            ]
    c = bench_cold()
    floor = c["floor"]
    rows.append((f"import floor `{FLOOR}`, wall / CPU", f"{floor['wall_ms']:.0f} ms / {floor['cpu_ms']:.0f} ms"))
    for fmt in FORMATS:
        rows.append(
            (
                f"assess cold start, --format {fmt}: wall / CPU (x floor)",
                f"{c[fmt]['wall_ms']:.0f} ms / {c[fmt]['cpu_ms']:.0f} ms "
                f"({c[fmt]['wall_ms'] / floor['wall_ms']:.2f}x / {c[fmt]['cpu_ms'] / floor['cpu_ms']:.2f}x)",
            )
        )
    rows.append(("bare `python -c pass`, for reference", f"{c['python']['wall_ms']:.0f} ms"))
    e = bench_engine()
    rows += [
        ("intake validation (from_mapping), per intake", f"{e['validate_us']:.0f} µs"),
        (f"Advisor.assess per intake ({e['rules']} active rules)", f"{e['assess_us']:.0f} µs"),
        ("  of which the durable-rules run", f"{e['engine_us']:.0f} µs"),
        (
            "  firings per intake: rule actions (distinct rules) + catch-all (facts asserted)",
            f"{e['actions']:.2f} ({e['distinct']:.2f}) + {e['asserted']:.2f} = {e['actions'] + e['asserted']:.2f}",
        ),
        ("plain-Python evaluation of the same rules", f"{e['direct_us']:.0f} µs"),
        ("one decision as a compact JSON line (audit's encoder)", f"{e['dumps_us']:.0f} µs"),
        ("engine vs plain Python: intakes firing different rules", f"{e['disagree']} of {e['n']:,}"),
    ]
    if args.memory or args.all:
        m = bench_memory()
        rows += [
            (
                f"{m['n']:,} assessments in one process, RSS before / middle / after",
                f"{m['before_mb']:.1f} / {m['middle_mb']:.1f} / {m['after_mb']:.1f} MB ({m['seconds']:.1f} s)",
            ),
        ]
    show(rows)


def mutation_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    c = m["counts"]
    return [
        (
            f"rules test --mutate: {c['mutants']} mutants x {m['cases']} cases, 1 worker (median of 3)",
            f"{m[1]['wall']:.1f} s wall ({m[1]['tool']:.1f} s in the run)",
        ),
        ("the same, 2 workers", f"{m[2]['wall']:.1f} s wall ({m[2]['tool']:.1f} s in the run)"),
        (
            "mutants: killed / survived / equivalent (duplicates merged)",
            f"{c['killed']} / {c['survived']} / {c['equivalent']} ({c['duplicates']}); score {m['score']:.1f} %",
        ),
        (
            "instead: one durable-rules engine per mutant (sampled), all mutants",
            f"{m['engine_per_mutant_s'] * 1000:.0f} ms each, {m['engine_per_mutant_s'] * m['mutants']:.0f} s in all",
        ),
    ]


def show(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()

"""Benchmark of the web app: submit -> stored -> report, through a real ``ipt-advisor serve``.

Each simulated clinician keeps one connection and repeats: send a filled-in intake form
(POST, answered by a redirect once the assessment is stored with its log entry) and read
the report it redirects to (GET). One such pair is one measured operation. Reading the
blank form first is not measured (a clinician spends minutes on it, the server
milliseconds). Printed: operations, p50, p95 and p99 latency and the slowest, throughput, for 1, 10 and 50
concurrent clients, on SQLite and, when Debian's PostgreSQL is installed, on a PostgreSQL
server started for the run; and the CPU time per operation of the server (its worker
processes, from /proc) and of the clients, with the load average: on a shared machine
wall-clock latency follows what else runs, CPU time per operation much less.

    python bench/serve_bench.py                 # 200 operations per client count
    python bench/serve_bench.py --ops 500 --clients 1 10 50 --no-postgres
    python bench/serve_bench.py --workers 1     # one server process (default: one per CPU)
    python bench/serve_bench.py --threads 2     # serve --threads (default 8)
    python bench/serve_bench.py --pace 1        # also: each client one intake per second
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's server and client helpers

from webapp import Client, assessment_id, start_server, valid_answers  # noqa: E402


def server_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by ``pid`` and each of its children (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total: dict[int, float] = {}
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            pids += [int(p) for p in listing.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total[p] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def run(server, clients: int, ops: int, pace: float = 0.0) -> dict[str, float]:
    """``pace`` 0: each client sends its next intake as soon as it has read the last report
    (the server saturated: a stress test). ``pace`` > 0: each client starts one every
    ``pace`` seconds (clinicians working at a set rate), waiting when it is early."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = max(1, ops // clients if not pace else min(ops // clients, 20))  # paced: at most 20 each
    began: list[float] = []
    barrier = threading.Barrier(clients, action=lambda: began.append(time.perf_counter()))

    def one(number: int) -> None:
        client = Client(server)
        client.login()
        forms = []
        for n in range(per_client):  # the blank forms, as each browser would have them open
            fields = client.new_form()
            fields.update(valid_answers(f"B-{clients}-{number}-{n}", site=f"S-{number % 4}"))
            forms.append(fields)
        mine = []
        barrier.wait()
        time.sleep(pace * number / clients)  # paced clients start spread over one period
        for n, fields in enumerate(forms):
            if pace:
                time.sleep(max(0.0, began[0] + pace * (n + number / clients) - time.perf_counter()))
            started = time.perf_counter()
            new_id = assessment_id(client.request("POST", "/intake", fields))
            report = client.request("GET", f"/assessments/{new_id}")
            mine.append(time.perf_counter() - started)
            assert report.status == 200
        client.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    while not began:
        time.sleep(0.001)
    cpu0, own0 = server_cpu(server.proc.pid), time.process_time()  # the blank forms excluded
    for t in threads:
        t.join()
    wall = time.perf_counter() - began[0]
    cpu1, own = server_cpu(server.proc.pid), time.process_time() - own0
    used = sorted((cpu1[p] - cpu0.get(p, 0.0) for p in cpu1), reverse=True)
    cpu = sum(used)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "ops": len(latencies),
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
        "max": latencies[-1] * 1000,
        "throughput": len(latencies) / wall,
        "cpu": cpu / len(latencies) * 1000,
        "clients_cpu": own / len(latencies) * 1000,
        "split": "/".join(f"{u / cpu * 100:.0f}" for u in used if u > 0) if cpu else "-",
    }


def bench(label: str, url: str, counts: list[int], ops: int, pace: float, workers: str, threads: str) -> None:
    server = start_server(
        url, *(["--threads", threads] if threads else []), *(["--workers", workers] if workers else [])
    )
    try:
        for clients in counts:
            for each in [0.0, pace] if pace else [0.0]:
                r = run(server, clients, ops, each)
                how = f"one per {each:g} s each" if each else "back to back"
                print(
                    f"{label:<11} {clients:>3} clients {how:<20} {r['ops']:>5} ops  p50 {r['p50']:6.1f} ms  "
                    f"p95 {r['p95']:6.1f} ms  p99 {r['p99']:6.1f} ms  max {r['max']:6.1f} ms  {r['throughput']:6.1f} ops/s  server CPU {r['cpu']:5.2f} ms/op  "
                    f"clients CPU {r['clients_cpu']:5.2f} ms/op  by process {r['split']} %  load {os.getloadavg()[0]:4.1f}",
                    flush=True,
                )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=200, help="operations per client count (default 200)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--workers", default="", help="serve --workers (default: serve's, one per CPU)")
    parser.add_argument("--threads", default="", help="serve --threads (default: serve's)")
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also run with each client starting one intake every SECONDS",
    )
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"serve --threads {args.threads or 8} --workers {args.workers or os.cpu_count()}; one op = POST intake (stored) + GET its report; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as folder:
        bench(
            "sqlite",
            f"sqlite:///{Path(folder) / 'bench.db'}",
            args.clients,
            args.ops,
            args.pace,
            args.workers,
            args.threads,
        )
    if args.no_postgres:
        return
    import postgres

    if postgres.missing():
        print(f"postgresql  skipped: {postgres.missing()}")
        return
    server = postgres.PostgresServer(postgres.binaries())  # type: ignore[arg-type]
    server.start()
    try:
        bench("postgresql", server.new_database(), args.clients, args.ops, args.pace, args.workers, args.threads)
    finally:
        server.remove()


if __name__ == "__main__":
    main()

"""Benchmark of the CDS Hooks service: one `patient-view` call -> its card, through a real
``ipt-advisor serve`` (issue 15 target: p95 <= 100 ms on 2 cores).

Each call carries the prefetch an EHR would send (the Patient, the PHQ-9 and C-SSRS
QuestionnaireResponses as searchsets) and a fresh hookInstance, so every call maps the FHIR
data, assesses, stores the assessment with its decision-log entry and records the card.
Printed: calls, p50 / p95 / max latency and throughput for 1 and 4 concurrent EHR clients,
then the same card flow in process without HTTP, stage by stage.

    python bench/cds_bench.py                    # 300 calls per client count
    python bench/cds_bench.py --calls 1000 --clients 1 4 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's server helper and fixtures
sys.path.insert(0, str(ROOT))

from webapp import start_server  # noqa: E402

SERVICE = "/cds-services/ipt-suitability"


def prefetch() -> dict:
    bundle = json.loads((ROOT / "tests" / "files" / "fhir" / "cssrs-positive.json").read_text())
    resources = [e["resource"] for e in bundle["entry"]]
    search = lambda r: {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r}]}  # noqa: E731
    return {
        "patient": resources[0],
        "responses-44249-1": search(resources[1]),
        "responses-93373-9": search(resources[2]),
        "observations": None,
    }


def body(data: dict) -> bytes:
    return json.dumps(
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/bench", "patientId": "example-ipt-1"},
            "prefetch": data,
        }
    ).encode()


def quantiles(latencies: list[float]) -> tuple[float, float, float]:
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[94] * 1000, latencies[-1] * 1000


def over_http(server, clients: int, calls: int) -> None:
    data = prefetch()
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def one() -> None:
        conn = http.client.HTTPConnection(server.hostport, timeout=60)
        headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
        mine = []
        barrier.wait()
        for _ in range(calls // clients):
            payload = body(data)
            started = time.perf_counter()
            conn.request("POST", SERVICE, body=payload, headers=headers)
            reply = conn.getresponse()
            reply.read()
            mine.append(time.perf_counter() - started)
            assert reply.status == 200, reply.status
        conn.close()
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    p50, p95, worst = quantiles(latencies)
    print(
        f"  {clients:>2} client(s): {len(latencies)} calls, p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"max {worst:.1f} ms, {len(latencies) / wall:.1f} calls/s"
    )


def in_process(calls: int, db: str) -> None:
    """The same work without HTTP: where a call's time goes."""
    from ipt_advisor.advisor import Advisor
    from ipt_advisor.report.cds import bundle_of, decision_card
    from ipt_advisor.intake.fhir import map_resources
    from ipt_advisor.store import Store
    from ipt_advisor.report.cds import card_uuid, indicator
    from ipt_advisor.store.feedback import insert_card

    advisor = Advisor.load()
    store = Store.open(db)
    data = prefetch()
    stages: dict[str, list[float]] = {"map FHIR": [], "assess": [], "store with the card": [], "card text": []}
    for _ in range(calls):
        hook = str(uuid.uuid4())
        t0 = time.perf_counter()
        mapped = map_resources(bundle_of(data, advisor.ruleset), "prefetch", advisor.ruleset)
        t1 = time.perf_counter()
        decision = advisor.assess(mapped.intake)
        t2 = time.perf_counter()
        uuid_ = card_uuid(hook, advisor.ruleset)
        new_id, _ = store.save(
            mapped.intake.record,
            mapped.intake.sha256,
            decision,
            "bench",
            uuid_,
            also=lambda conn, n: insert_card(conn, uuid_, n, indicator(decision)),
        )
        t3 = time.perf_counter()
        decision_card(decision, advisor.ruleset, hook, f"http://x/assessments/{new_id}")
        t4 = time.perf_counter()
        for name, took in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[name].append(took)
    store.close()
    print(
        "  in process, median per call: "
        + ", ".join(f"{name} {statistics.median(v) * 1000:.2f} ms" for name, v in stages.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    print(
        f"CDS Hooks benchmark: Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(f"sqlite:///{Path(tmp) / 'cds.db'}", "--threads", "8")
        try:
            print("over HTTP, a real `ipt-advisor serve` on SQLite (warm-up: 20 calls):")
            over_http(server, 1, 20 if args.calls >= 40 else 2)
            for clients in args.clients:
                over_http(server, clients, args.calls)
        finally:
            server.stop()
        in_process(min(args.calls, 300), f"sqlite:///{Path(tmp) / 'direct.db'}")


if __name__ == "__main__":
    main()

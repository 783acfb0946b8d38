"""Resuming from a checkpoint taken after each chunk gives the bytes of an uninterrupted run,
on a corpus that exercises what the dashboard added to the checkpointed counters (issue 16):
site, clinician and month breakdowns, flags by level, safety-critical overrides.

The chaos harness (test_audit_chaos.py) kills workers at random moments; this is its
deterministic counterpart: the run is made to lose its worker right after chunk ``k``, for
every ``k``, with a checkpoint after every chunk, then resumed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import ROOT
from test_audit_faults import OUTPUTS, write_corpus

from ipt_advisor.audit import run as audit
from ipt_advisor.core.errors import Problem
from ipt_advisor.core.interrupt import WorkerLost

DASHBOARD = ROOT / "tests" / "files" / "corpus" / "dashboard.jsonl"  # has a safety-critical override
RECORDS = 6 * audit.CHUNK - 20  # six chunks, the last one short


def coded_corpus(path: Path) -> Path:
    """The fault tests' corpus, every sixth record one of the dashboard's cases, the valid ones
    spread over seven sites (a few without), eleven clinicians and ten months."""
    write_corpus(path, RECORDS)
    cases = DASHBOARD.read_text().splitlines()
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        if i % 6 == 5:
            line = cases[(i // 6) % len(cases)]
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)  # an invalid record stays one
            continue
        record["id"] = f"R-{i:05d}"
        record.pop("site", None)
        if i % 13:
            record["site"] = f"SITE-{i % 7}"
        record["clinician"] = f"CL-{i % 11:03d}"
        record["assessed_on"] = f"2026-{1 + i % 10:02d}-15"
        out.append(json.dumps(record))
    path.write_text("\n".join(out) + "\n")
    return path


def lost_after(real: Any, k: int) -> Any:
    """``ordered_map`` whose run loses a worker once ``k`` chunks were handed over."""

    def ordered_map(*args: Any, **kwargs: Any) -> Iterator[list[Any]]:
        chunks = real(*args, **kwargs)
        try:
            for n, results in enumerate(chunks):
                if n == k:
                    raise WorkerLost([Problem("test", None, "", "worker process 1 died (killed by SIGKILL)")])
                yield results
        finally:
            chunks.close()

    return ordered_map


def test_resumed_after_any_chunk_the_outputs_are_those_of_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = str(coded_corpus(tmp_path / "intakes.jsonl"))
    audit.run_audit(corpus, str(tmp_path / "reference"), jobs=1, tool_version="t")
    reference = {name: (tmp_path / "reference" / name).read_bytes() for name in OUTPUTS}
    summary = json.loads(reference["summary.json"])
    # the corpus reaches what is checkpointed: several sites (and none), clinicians, months,
    # a critical flag level and safety-critical overrides
    assert len(summary["breakdown"]["site"]) == 8 and "(none)" in summary["breakdown"]["site"]
    assert len(summary["breakdown"]["clinician"]) == 11 and len(summary["breakdown"]["month"]) == 10
    assert "critical" in summary["flags_by_level"]
    assert summary["concordance"]["departures"]["safety_critical"] > 0

    monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", 0.0)  # a checkpoint after every chunk
    real = audit.ordered_map
    for k in range(RECORDS // audit.CHUNK + 1):
        out = tmp_path / f"lost-after-{k}"
        monkeypatch.setattr(audit, "ordered_map", lost_after(real, k))
        with pytest.raises(WorkerLost):
            audit.run_audit(corpus, str(out), jobs=1, tool_version="t")
        assert json.loads((out / ".audit-state.json").read_bytes())["progress"]["records"] == k * audit.CHUNK
        monkeypatch.setattr(audit, "ordered_map", real)
        audit.run_audit(corpus, str(out), jobs=1, tool_version="t", resume=True)
        for name in OUTPUTS:
            assert (out / name).read_bytes() == reference[name], (k, name)

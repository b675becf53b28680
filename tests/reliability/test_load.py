"""Load: concurrent ``nmcluster submit`` processes plus one sweep submitted as a Slurm job array, on the
private multi-node cluster, while ``nmcluster list`` polls the same store.  Every job must have exactly
one record, every record must become final, nothing may be lost or duplicated, every job must run
exactly once, and no user may see a traceback or "database is locked".

Sizes: ``$NMCLUSTER_RELIABILITY_JOBS`` (default 200) jobs from 8 submitters and a sweep of
``$NMCLUSTER_RELIABILITY_ARRAY`` (default 200) tasks keep the suite within minutes on 2 cores (each job
costs ~0.2 CPU-s of Python: the submit and the job runner); ``benchmarks/reliability.py`` runs the full
1000 + 1000 of the issue and reports the rates.
"""

from __future__ import annotations

import json
import os

import pytest

import reliability_harness as harness

pytestmark = [pytest.mark.reliability, pytest.mark.slurm]

JOBS = int(os.environ.get("NMCLUSTER_RELIABILITY_JOBS", "200"))
ARRAY = int(os.environ.get("NMCLUSTER_RELIABILITY_ARRAY", "200"))


def test_concurrent_submitters_and_a_sweep_lose_nothing(rel_site, rel_experiment):
    out = harness.run_load(rel_site, rel_experiment, jobs=JOBS, submitters=8, array=ARRAY, drain_timeout=400)
    print(f"\nload: {out.row()} {out.figures}")
    assert not out.problems, "\n".join(out.problems)
    assert (out.lost, out.duplicated, out.survived) == (0, 0, JOBS + ARRAY)


def test_sweep_on_the_local_executor(local_rel_site, rel_experiment):
    """``submit --array`` without Slurm: the same records, one per task, all finished."""
    proc = local_rel_site.cli("submit", str(rel_experiment), "-p", "spikey", "--station", "500",
                              "-c", "main.py {task}", "--array", "3", "--json", check=True)
    records = json.loads(proc.stdout)
    assert [r["command"] for r in records] == ["main.py 0", "main.py 1", "main.py 2"]
    final = local_rel_site.wait_all([r["id"] for r in records], timeout=60)
    assert all(r["status"] == "finished" for r in final.values()), final
    spans = sorted(tuple(json.loads((__import__("pathlib").Path(r["job_dir"]) / "work" / "times.json")
                                    .read_text())[k] for k in ("start", "end")) for r in final.values())
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:])), "tasks on one station overlapped"


@pytest.mark.parametrize("args, message", [
    (["--array", "0"], "from 1 to 1000"),
    (["--array", "1001"], "from 1 to 1000"),
    (["--slurm-opt=--array=0-9"], "--array is not accepted"),
    (["--slurm-opt=-a0-9"], "--array is not accepted"),
])
def test_bad_sweeps_queue_nothing(local_rel_site, rel_experiment, args, message):
    proc = local_rel_site.cli("submit", str(rel_experiment), "-p", "spikey", "-c", "main.py", *args)
    assert harness.clean_error(proc, 2, message) is None, proc.stderr
    assert local_rel_site.visible_rows() == [] and local_rel_site.leftovers() == []

#!/usr/bin/env python3
"""Reliability figures on a private four-node test cluster (started and removed by this script): submission
throughput of ``nmcluster submit`` from 8 concurrent streams against bare ``sbatch`` from 8 streams,
measured in the same run, then the load of the issue (1000 jobs + a 1000-task sweep) checked for lost and
duplicated jobs, then every fault scenario of ``tests/reliability/`` once, and the table of figures
(jobs, lost, duplicated, faults injected, survived).

The scenarios are the test suite's own (``tests/reliability/reliability_harness.py``); the tests run them
with assertions and a smaller load, this script with the full load and prints figures.  Needs root,
``slurm-wlm`` and ``munge`` (like the tests); takes several minutes on 2 cores.

    python benchmarks/reliability.py [--jobs 1000] [--array 1000] [--submitters 8] [--no-faults]
                                     [--json figures.json]

Throughput is measured with held jobs (``--hold`` for both peers, released once all are in) so that it is
the cost of submitting, not of running; the drain time after the release is reported separately.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "reliability"))
sys.path.insert(0, str(REPO))

import reliability_harness as h  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--array", type=int, default=1000)
    ap.add_argument("--submitters", type=int, default=8)
    ap.add_argument("--store-trials", type=int, default=100)
    ap.add_argument("--no-faults", action="store_true", help="only the load and the throughput")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    why = h.prerequisites()
    if why:
        print(f"reliability benchmark: {why}", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="nmcluster-relbench-"))
    t_start = time.monotonic()
    cluster = h.Cluster.start(nodes=4, cpus=16)
    outcomes: list[h.Outcome] = []
    try:
        exp = h.make_experiment(work / "exp")
        print(f"cluster: {len(cluster.nodes)} nodes ({', '.join(cluster.nodes)}), {cluster.cpus} CPUs each; "
              f"{args.jobs} jobs from {args.submitters} submitters + a {args.array}-task sweep", flush=True)
        bare = h.sbatch_rate(cluster, work, jobs=args.jobs, submitters=args.submitters, hold=True)
        print(f"bare sbatch: {bare.figures}", flush=True)
        load = h.run_load(h.Site(work / "load", cluster), exp, jobs=args.jobs, submitters=args.submitters,
                          array=args.array, hold=True, poll=True, drain_timeout=1800)
        print(f"nmcluster submit: {load.figures}", flush=True)
        if load.problems:
            print("  problems: " + "\n  ".join(load.problems), flush=True)
        outcomes.append(load)
        if not args.no_faults:
            scenarios = [
                lambda: h.node_killed(h.Site(work / "node", cluster), exp, requeue=True),
                lambda: h.node_killed(h.Site(work / "node-nr", cluster), exp, requeue=False),
                lambda: h.slurmctld_restarted(h.Site(work / "restart", cluster), exp),
                lambda: h.slurmctld_down(h.Site(work / "down", cluster), exp),
                lambda: h.runner_killed(h.Site(work / "runner", cluster), exp),
                lambda: h.runner_killed(h.Site(work / "runner-local", None, executor="local"), exp),
                lambda: h.disk_full(work / "disk", exp, cluster),
                lambda: h.store_writer_killed(work / "store", trials=args.store_trials),
                lambda: h.calib_writer_killed(work / "calib", trials=args.store_trials),
                lambda: h.submit_killed(h.Site(work / "submit-kill", cluster), exp, trials=20),
            ]
            for scenario in scenarios:
                try:
                    out = scenario()
                except Exception as exc:  # noqa: BLE001 - report and go on with the next fault
                    out = h.Outcome(f"{scenario!r}", problems=[f"scenario crashed: {exc!r}"])
                outcomes.append(out)
                print(f"{out.name}: {out.row()} {round(out.seconds, 1)} s"
                      + (f"\n  problems: {out.problems}" if out.problems else ""), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)

    ours, peer = load.figures["submissions_per_s"], bare.figures["submissions_per_s"]
    print(f"\nsubmissions per second ({args.submitters} concurrent submitters, {args.jobs} jobs, held):")
    print(f"  bare sbatch        {peer:8.1f} /s   ({bare.figures['submit_seconds']} s)")
    print(f"  nmcluster submit   {ours:8.1f} /s   ({load.figures['submit_seconds']} s)  = {ours / peer:.3f} x sbatch")
    print(f"  {args.array}-task sweep (one nmcluster submit --array) submitted alongside; all "
          f"{args.jobs + args.array} jobs drained {load.figures['drained_seconds']} s after the start")
    print(f"\n{h.table(outcomes)}")
    print(f"\ntotal {time.monotonic() - t_start:.0f} s; problems: {sum(len(o.problems) for o in outcomes)}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "sbatch": bare.figures, "nmcluster": load.figures,
            "scenarios": [dict(zip(("scenario", "jobs", "lost", "duplicated", "faults", "survived"), o.row()),
                               problems=o.problems, seconds=round(o.seconds, 2),
                               figures={k: v for k, v in o.figures.items() if k != "errors"}) for o in outcomes],
        }, indent=1))
    return 0 if not any(o.problems for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

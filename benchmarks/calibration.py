#!/usr/bin/env python3
"""Full Spikey-chip calibration (384 neurons, 512 drivers) on the emulator: wall time through the local
path on 2 cores (target <= 30 s), the same run split across a Slurm array + afterok fit job on the test
cluster, and the across-neuron / across-driver spread of the calibrated quantities before vs after
(target: >= 5x smaller).

    python benchmarks/calibration.py [--station 500] [--cores 2] [--chunks 4] [--no-slurm] [--json out.json]

The local run pins this process (and so its worker processes) to ``--cores`` CPUs.  Each run uses a
fresh store in a temporary directory; numba's compiled kernels come from its on-disk cache (the first
run after a kernel change compiles them, several seconds more: run it twice to see the warm figure).
The Slurm part needs the test cluster (``scripts/test-cluster start``; ``eval "$(scripts/test-cluster env)"``)
and is skipped without ``SLURM_CONF``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PARAMS = {"reps": 4, "driver_reps": 3, "neuron_duration": 500.0, "seed": 1, "neuron_target": "rate"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--station", type=int, default=500)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=4, help="chunks per step (neurons, drivers)")
    ap.add_argument("--no-slurm", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    from nmcluster.calib import runs
    from nmcluster.calib import spikey as S
    from nmcluster.calib.store import CalibStore

    cpus = sorted(os.sched_getaffinity(0))[: args.cores]
    os.sched_setaffinity(0, cpus)
    target = f"station{args.station}"
    chunk_args = {"neuron_chunks": args.chunks, "driver_chunks": args.chunks}
    fig: dict[str, object] = {"station": args.station, "cores": len(cpus), "chunks": 2 * args.chunks}
    with tempfile.TemporaryDirectory(prefix="calib-bench-") as tmp:
        store = CalibStore(Path(tmp) / "local")
        run, _ = runs.plan(store, target, PARAMS, chunk_args)
        t0 = time.perf_counter()
        version = runs.run_local(run, workers=len(cpus))
        fig["local_s"] = round(time.perf_counter() - t0, 2)
        per_task = [runs._read_json(run.task_file(i)).get("seconds", 0.0) for i in range(len(run.spec["chunks"]))]
        fig["local_task_s_sum"] = round(sum(per_task), 2)
        cal = S.to_station_calibration(store.read(target, version))
        before, after = S.evaluate(args.station, None), S.evaluate(args.station, cal)
        for k in ("rate_spread", "psp_exc_spread", "psp_inh_spread"):
            fig[f"{k}_before"] = round(before[k], 4)
            fig[f"{k}_after"] = round(after[k], 4)
            fig[f"{k}_ratio"] = round(before[k] / after[k], 1)
        print(f"local ({len(cpus)} cores, {2 * args.chunks} chunks): {fig['local_s']} s wall "
              f"(target <= 30 s; measurement tasks {fig['local_task_s_sum']} s summed)")
        for k, label in (("rate_spread", "firing rate at fixed input"), ("psp_exc_spread", "PSP height exc/driver"),
                         ("psp_inh_spread", "PSP height inh/driver")):
            print(f"  {label:<28} spread {fig[k + '_before']:.4f} -> {fig[k + '_after']:.4f}  "
                  f"({fig[k + '_ratio']}x smaller; target >= 5x)")
        if not args.no_slurm and os.environ.get("SLURM_CONF"):
            from nmcluster.jobs.service import JobService

            sstore = CalibStore(Path(tmp) / "slurm")
            os.environ["NMCLUSTER_CALIB_ROOT"] = str(sstore.root)
            srun, _ = runs.plan(sstore, target, PARAMS, chunk_args)
            t0 = time.perf_counter()
            with JobService() as service:  # the chunks are nmcluster jobs on the station (the site's executor)
                ids = runs.submit_jobs(srun, service, {"STATION": args.station})
                st = runs.wait(srun, runs.job_records(service), timeout=600, interval=0.25)
            fig["slurm_s"] = round(time.perf_counter() - t0, 2)
            fig["slurm_state"] = st["state"]
            fig["slurm_jobs"] = sorted(ids["jobs"].values())
            tasks = [runs._read_json(srun.task_file(i)) or {} for i in range(len(srun.spec["chunks"]))]
            fig["slurm_task_s_max"] = round(max(t.get("seconds") or 0.0 for t in tasks), 2)
            print(f"{len(ids['jobs'])} measurement jobs (one sbatch --array, the last task fits): "
                  f"{st['state']} in {fig['slurm_s']} s wall (slowest task {fig['slurm_task_s_max']} s)")
        else:
            print("slurm: skipped (no SLURM_CONF; start the test cluster and eval its env)")
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

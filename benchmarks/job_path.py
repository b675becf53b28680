#!/usr/bin/env python3
"""Job-path overhead: ``nmcluster run -p spikey -- true`` against bare ``srun -p spikey --gres=station:1 true``, measured
in one run on the same cluster, plus ``nmcluster --help`` cold start against bare ``python -c pass``.

Needs a running Slurm (e.g. ``scripts/test-cluster start`` and the ``export`` lines of
``scripts/test-cluster env``).  Targets (issue 2): overhead <= +100 ms, ``--help`` <= 150 ms.

    python benchmarks/job_path.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(argv: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed with exit code {proc.returncode}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    nmcluster = shutil.which("nmcluster") or sys.exit("nmcluster is not on PATH")
    # Byte-compile the package the way `pip install` does for a regular install: an editable install (or
    # PYTHONDONTWRITEBYTECODE=1) would otherwise compile the CLI's modules from source on every start.
    import compileall

    import nmcluster as package

    compileall.compile_dir(str(Path(package.__file__).parent), quiet=1)

    srun = shutil.which("srun") or sys.exit("srun is not on PATH (start the test cluster)")
    # interleave warm-up of both paths
    # the peer asks for a station as nmcluster does: the site's job_submit.lua (issue 19) refuses a
    # spikey job without one, so a bare `srun -p spikey true` is no longer a job at all
    bare_srun = [srun, "-p", "spikey", "--gres=station:1", "true"]
    timed(bare_srun, 2)
    timed([nmcluster, "run", "-p", "spikey", "--", "true"], 2)
    rows = []
    # round-robin: a load change on a shared machine hits every command alike
    cmds = {"srun": bare_srun,
            "run": [nmcluster, "run", "-p", "spikey", "--", "true"],
            "run_station": [nmcluster, "run", "-p", "spikey", "--station", "500", "--", "true"],
            "python": [sys.executable, "-c", "pass"],
            "help": [nmcluster, "--help"]}
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.repeat):
        for k, argv in cmds.items():
            samples[k] += timed(argv, 1)
    bare, ours, station, py, helpt = (samples[k] for k in cmds)
    med = {k: statistics.median(v) * 1000 for k, v in
           {"srun": bare, "run": ours, "run_station": station, "python": py, "help": helpt}.items()}
    rows.append(("bare srun -p spikey --gres=station:1 true", med["srun"], ""))
    rows.append(("nmcluster run -p spikey -- true", med["run"],
                 f"+{med['run'] - med['srun']:.0f} ms ({med['run'] / med['srun']:.2f}x)"))
    rows.append(("nmcluster run -p spikey --station 500 -- true", med["run_station"],
                 f"+{med['run_station'] - med['srun']:.0f} ms ({med['run_station'] / med['srun']:.2f}x)"))
    rows.append(("python -c pass", med["python"], ""))
    rows.append(("nmcluster --help", med["help"], f"{med['help'] / med['python']:.2f}x bare python"))
    print(f"{'command':<48} {'median ms':>10}  vs peer")
    for name, ms, note in rows:
        print(f"{name:<48} {ms:>10.1f}  {note}")
    overhead = med["run"] - med["srun"]
    print(f"\noverhead {overhead:.0f} ms (target <= 100 ms): {'OK' if overhead <= 100 else 'MISSED'}; "
          f"--help {med['help']:.0f} ms (target <= 150 ms): {'OK' if med['help'] <= 150 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Whole jobs as a user waits for them: one fresh process per job (import, kernel load, build, run,
end), each emulator against NEST on the same script, interleaved in one run (issue 27).

Jobs (scripts written to a temporary directory, run there):

* ``fixed``: ``import pyNN.<backend>``, setup, 1 IF_cond_exp neuron, ``run(1)``, end (fixed cost);
* ``poisson100``: 100 IF_cond_exp driven one-to-one by Poisson sources 0-1000 Hz, 0.1 ms, 10 s
  (``benchmarks/emulator_vs_nest.py`` case 1) on the Spikey emulator;
* ``synfire``: the guidebook's synfire chain (``examples/synfire_chain.py``) on the Spikey emulator;
* ``balanced``: 4000-neuron balanced network, 2 % connectivity, 1 s (``emulator_vs_nest.py``
  case 5): IF_curr_exp at 1 ms on the SpiNNaker emulator, IF_cond_exp at 0.1 ms on the
  BrainScaleS emulator (synapse loss accepted), each against NEST on the same script.

For every job the OS's accounting of the child (``os.wait4``: user + system CPU time and peak
RSS, ``ru_maxrss``) and its wall time; medians over ``--repeats`` interleaved rounds (job by job,
backend by backend, NEST among them), the spread (min-max) and the ratios NEST / emulator.
Kernels come from the install-time build (``nmcluster admin build-kernels``, run first: the
AOT-compiled kernels and numba's cache), as in a job on an installed package; one untimed round
first fills Python's bytecode caches (``PYTHONDONTWRITEBYTECODE`` is dropped for the children,
as an installed package has its ``.pyc`` files).  ``--jit`` also runs every emulator job with the
AOT kernels switched off (``NMCLUSTER_KERNEL_AOT=0``: numba's cache, as before the AOT build),
labelled @jit.

``--new-user`` gives every emulator process an empty numba cache of its own, as a new user's
first job on an install whose kernels were built at install time, and fails if one compiled.

``--cells N`` scales the balanced network (same proportions; 16000 for the memory comparison).

Usage: ``python benchmarks/whole_job.py [--repeats 5] [--only fixed,poisson100,synfire,balanced]
[--no-nest] [--new-user] [--jit] [--baseline DIR] [--cells 4000]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

HEADER = """\
import sys, warnings, logging
warnings.filterwarnings("ignore")
logging.getLogger("nmcluster").setLevel(logging.ERROR)
from importlib import import_module
job_backend = sys.argv[1]  # nest-curr: NEST on the current-based variant of a script
backend = "nest" if job_backend.startswith("nest") else job_backend
sim = import_module("pyNN." + backend)
"""

SCRIPTS = {
    "fixed": HEADER + """\
sim.setup(timestep=0.1)
cells = sim.Population(1, sim.IF_cond_exp())
sim.run(1.0)
sim.end()
""",
    # the network definitions of benchmarks/emulator_vs_nest.py (same cells, weights, seeds)
    "poisson100": HEADER + """\
sys.path.insert(0, {bench!r})
import emulator_vs_nest as b
pops, t = b.case1(sim, backend)
sim.run(t)
n = sum(len(s) for p in pops for s in p.get_data().segments[0].spiketrains)
print("spikes", n)
sim.end()
""",
    "balanced": HEADER + """\
sys.path.insert(0, {bench!r})
import emulator_vs_nest as b
cells = {cells}
if cells != 4000:  # the same network scaled: 80 % excitatory, 2 % connectivity
    text = open(b.__file__).read()
    scaled = text.replace("n_exc, n_inh, p = 3200, 800, 0.02",
                          f"n_exc, n_inh, p = {{cells * 4 // 5}}, {{cells // 5}}, 0.02")
    assert scaled != text, "emulator_vs_nest.balanced changed: update whole_job.py"
    exec(compile(scaled, b.__file__, "exec"), b.__dict__)
current = job_backend in ("nmcluster.spinnaker", "nest-curr")
pops, t = b.balanced(sim, backend, current=current)
sim.run(t)
n = sum(len(s) for p in pops for s in p.get_data().segments[0].spiketrains)
print("spikes", n)
sim.end()
""",
}

#: job -> backends (NEST first: interleaved with the emulators in every round)
PLAN = {
    "fixed": ["nest", "nmcluster.spikey", "nmcluster.spinnaker", "nmcluster.brainscales"],
    "poisson100": ["nest", "nmcluster.spikey"],
    "synfire": ["nest", "nmcluster.spikey"],
    "balanced": ["nest-curr", "nmcluster.spinnaker", "nest", "nmcluster.brainscales"],
}
PEER = {("balanced", "nmcluster.spinnaker"): "nest-curr"}


def run_child(script: Path, backend: str, cwd: Path, env: dict[str, str],
              new_user: bool = False) -> tuple[float, float, int]:
    """``(wall s, CPU s, peak RSS MiB)`` of one child process, from the kernel's accounting;
    ``new_user``: an emulator child gets an empty numba cache (checked empty afterwards)."""
    if new_user and not backend.startswith("nest"):
        user = Path(tempfile.mkdtemp(prefix="user-cache-", dir=cwd))
        env = dict(env, NUMBA_CACHE_DIR=str(user))
        try:
            got = run_child(script, backend, cwd, env)
            if any(user.rglob("*.nbc")):
                raise SystemExit(f"{script.name} {backend}: compiled kernels as a new user: the "
                                 "install-time build does not cover this job")
            return got
        finally:
            import shutil

            shutil.rmtree(user, ignore_errors=True)
    if backend.endswith("@jit"):
        env = dict(env, NMCLUSTER_KERNEL_AOT="0")
    backend = backend.split("@")[0]
    argv = [sys.executable, str(script), "nest" if script.name == "synfire.py" and
            backend.startswith("nest") else backend]
    # each process in a directory of its own, as a user's job: the synfire example appends its
    # recording to synfire_chain.nix, and a file grown by earlier rounds made every later round
    # read (and write) more blocks (NEST and the emulator alike: 2 s became 8-10 s)
    import shutil

    cwd = Path(tempfile.mkdtemp(prefix="job-", dir=cwd))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    shutil.rmtree(cwd, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"{script.name} {backend} failed ({proc.returncode}):\n"
                         f"{err.decode()[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss // 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default=",".join(PLAN))
    ap.add_argument("--no-nest", action="store_true")
    ap.add_argument("--cells", type=int, default=4000,
                    help="neurons of the balanced network (default 4000; 16000 for the memory "
                         "comparison of issue 27)")
    ap.add_argument("--baseline", metavar="DIR", default=None,
                    help="also run each emulator job with the nmcluster package found in DIR "
                         "(e.g. `git archive <commit> nmcluster | tar -x -C DIR`), labelled @base, "
                         "for before/after figures in the same run")
    ap.add_argument("--new-user", action="store_true",
                    help="every emulator process gets an empty numba cache of its own (a new "
                         "user's first job): kernels must come from the install-time build, "
                         "which runs first (`nmcluster admin build-kernels`, a no-op when built)")
    ap.add_argument("--jit", action="store_true",
                    help="also run each emulator job without the AOT kernels "
                         "(NMCLUSTER_KERNEL_AOT=0: numba's cache), labelled @jit")
    a = ap.parse_args(argv)
    jobs = [j.strip() for j in a.only.split(",") if j.strip()]
    unknown = [j for j in jobs if j not in PLAN]
    if unknown:
        ap.error(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(PLAN)}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # the install-time build, in a child: this process must stay small, as Linux counts the RSS
    # a child had before its exec (the parent's, after vfork) in the child's ru_maxrss
    build = subprocess.run([sys.executable, "-m", "nmcluster.emulators.engine.build"],
                           env=env, capture_output=True, text=True)
    if build.returncode != 0:
        raise SystemExit(f"install-time build failed:\n{build.stderr[-2000:]}")
    print("install-time build: " + build.stdout.strip(), file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="whole-job-") as tmp:
        work = Path(tmp)
        scripts = {}
        for job in jobs:
            path = work / f"{job}.py"
            if job == "synfire":
                path.write_text((REPO / "examples" / "synfire_chain.py").read_text())
            else:
                path.write_text(SCRIPTS[job].format(bench=str(REPO / "benchmarks"),
                                                    cells=int(a.cells)))
            scripts[job] = path
        plan = [(j, b) for j in jobs for b in PLAN[j] if not (a.no_nest and b.startswith("nest"))]
        variants = [""] + (["@jit"] if a.jit else []) + (["@base"] if a.baseline else [])
        plan = [(j, b + v) for j, b in plan
                for v in ([""] if b.startswith("nest") else variants)]
        base_env = dict(env, PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(a.baseline or ".").resolve()), os.environ.get("PYTHONPATH")])))
        results: dict[tuple[str, str], list[tuple[float, float, int]]] = {k: [] for k in plan}
        print(f"warm-up round ({len(plan)} processes) ...", file=sys.stderr)
        for job, backend in plan:
            run_child(scripts[job], backend, work,
                      base_env if backend.endswith("@base") else env, a.new_user)
        for r in range(a.repeats):
            for job, backend in plan:
                results[(job, backend)].append(
                    run_child(scripts[job], backend, work,
                              base_env if backend.endswith("@base") else env, a.new_user))
            print(f"round {r + 1}/{a.repeats} done", file=sys.stderr)
    print(f"{'job':11s} {'backend':22s} {'wall s (min-max)':>24s} {'CPU s':>7s} {'peak RSS':>9s}"
          f" {'NEST/emu wall':>13s} {'CPU':>7s} {'RSS/NEST':>8s}")
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
               statistics.median(x[2] for x in v)) for k, v in results.items()}
    for (job, backend), v in results.items():
        w, c, m = med[(job, backend)]
        lo, hi = min(x[0] for x in v), max(x[0] for x in v)
        peer = PEER.get((job, backend.split("@")[0]), "nest")
        ratio = cpu = rss = ""
        if not backend.startswith("nest") and (job, peer) in med:
            pw, pc, pm = med[(job, peer)]
            ratio, cpu, rss = f"{pw / w:.2f}x", f"{pc / c:.2f}x", f"{m / pm:.2f}"
        print(f"{job:11s} {backend:22s} {w:8.3f} ({lo:6.3f}-{hi:6.3f}) {c:7.3f} {m:6d} MB"
              f" {ratio:>13s} {cpu:>7s} {rss:>8s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

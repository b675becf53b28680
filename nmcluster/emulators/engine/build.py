"""Install-time build of the emulators' compiled kernels (``nmcluster admin build-kernels``).

Why: numba compiles a kernel the first time a process calls it with new argument types, 20-30 s
per backend on a 2-core node; with ``cache=True`` the result is kept, but on a read-only install
each user (and each node CPU type) would pay that once more (issue 27).  This step runs small
networks on every emulator backend in a child process, so that numba compiles every entry point
with the argument types jobs use, and writes the results into a cache that every user reads
(:mod:`._kernel_cache`): the install's own ``__pycache__`` by default, or a site directory
(``--cache-dir``, then listed in ``$NMCLUSTER_KERNEL_CACHE`` for the jobs).

Run it once on each CPU type of the site's nodes (entries are keyed by CPU; one directory holds
them all), and once with ``cpu="generic"``: the baseline x86-64 build that a node of a type
nobody built for reads instead of compiling.  Generic code has no FMA or wide vectors, so it is
slower and its results can differ from a host build in the last bits (each build is
deterministic on its own).

Hooks: the Spack recipe and wheel smoke tests call ``nmcluster admin build-kernels`` (or
``python -m nmcluster.emulators.engine.build``) after installing the package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ._kernel_cache import ENV_BUILD, ENV_SHARED

#: the modules whose ``cache=True`` kernels the build fills (module, attribute names read
#: from the module: every dispatcher in it)
KERNEL_MODULES = ("nmcluster.emulators.engine.kernels", "nmcluster.emulators.brainscales.ess")


@dataclass(frozen=True)
class BuildResult:
    """What a build compiled: ``compiled`` entries written, ``loaded`` found already built,
    ``cache_dirs`` where they are, ``cpu`` the CPU name of the entries."""

    compiled: int
    loaded: int
    cache_dirs: tuple[str, ...]
    cpu: str


def _network(sim, model: str, plastic: bool) -> None:
    """Four neurons of ``model`` driven by Poisson and array sources, static or plastic (STP,
    STDP) synapses, spikes and one membrane recorded, two ``run`` calls, data read back."""
    cells = sim.Population(4, getattr(sim, model)())
    pois = sim.Population(4, sim.SpikeSourcePoisson(rate=2000.0))
    arr = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0, 3.0]))
    # strong enough that every model fires: spikes take paths (delivery, STDP, the ESS up-link
    # token bucket) that a silent network never calls
    sim.Projection(pois, cells, sim.OneToOneConnector(),
                   sim.StaticSynapse(weight=0.05, delay=1.0), receptor_type="excitatory")
    if plastic:
        if hasattr(sim, "TsodyksMarkramSynapse"):
            syn = sim.TsodyksMarkramSynapse(U=0.5, tau_rec=100.0, tau_facil=0.0, weight=0.004,
                                            delay=1.0)
            sim.Projection(arr, cells, sim.AllToAllConnector(), syn, receptor_type="excitatory")
        stdp = sim.STDPMechanism(
            timing_dependence=sim.SpikePairRule(),
            weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.01),
            weight=0.004, delay=1.0)
        sim.Projection(cells, cells, sim.AllToAllConnector(allow_self_connections=False), stdp,
                       receptor_type="excitatory")
    else:
        sim.Projection(arr, cells, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=0.004, delay=1.0), receptor_type="inhibitory")
    cells.record("spikes")
    cells[0:1].record(["v"])
    sim.run(25.0)
    sim.run(25.0)
    cells.get_data()


def _workload() -> list[str]:
    """Small networks covering what jobs run: every backend, conductance and current LIF,
    AdEx, Izhikevich, Poisson and array sources, STP, STDP (pair rules and the Spikey LUT),
    recording of spikes, v and gsyn, batched trials split over two threads (merge_spikes)
    and the ESS link model.  Types, not sizes, select numba's specialisations, so each is tiny."""
    import importlib
    import logging
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore")
    logging.getLogger("nmcluster").setLevel(logging.ERROR)
    refused: list[str] = []
    for backend in ("spikey", "spinnaker", "brainscales"):
        sim = importlib.import_module("nmcluster.emulators." + backend)
        models = ["IF_cond_exp"]
        models += {"spikey": ["IF_facets_hardware1", "IF_cond_alpha"],
                   "spinnaker": ["IF_curr_exp", "IF_curr_dual_exp", "Izhikevich",
                                 "Izhikevich_cond"],
                   "brainscales": ["EIF_cond_exp_isfa_ista"]}[backend]
        for model in models:
            for plastic in (False, True):
                kw = {"continue_despite_synapse_loss": True} if backend == "brainscales" else {}
                sim.setup(timestep=1.0 if backend == "spinnaker" else 0.1, **kw)
                try:
                    _network(sim, model, plastic)
                except Exception as exc:  # a combination this backend refuses compiles nothing
                    refused.append(f"{backend}/{model}/{'plastic' if plastic else 'static'}: "
                                   f"{type(exc).__name__}")
                sim.end()
        if hasattr(sim, "run_trials"):
            sim.setup(timestep=0.1)
            cells = sim.Population(4, sim.IF_cond_exp())
            pois = sim.Population(4, sim.SpikeSourcePoisson(rate=np.full(4, 500.0)))
            sim.Projection(pois, cells, sim.OneToOneConnector(),
                           sim.StaticSynapse(weight=0.004, delay=1.0), receptor_type="excitatory")
            cells.record("spikes")
            try:
                sim.run_trials(12600.0, trials=4)  # long enough to split
            except Exception as exc:
                refused.append(f"{backend}/run_trials: {type(exc).__name__}")
            sim.end()
    # engine entry points that jobs call directly or through other paths
    from nmcluster.emulators.engine import kernels

    kernels.exponential_draws(np.uint64(1), 4)
    # batched runs split over threads merge their parts' spikes (network._MergedSpikeBuffer):
    # the same argument types as there, whether or not this node has two cores
    ptr = np.array([0, 1, 2], dtype=np.int64)
    src = [np.array([0, 0], dtype=np.int64) for _ in range(3)]
    dst = [np.zeros(3, dtype=np.int64)[1:] for _ in range(3)]
    kernels.merge_spikes(ptr, *src, *dst)
    return refused


def _worker() -> int:
    """Child process: run the workload, print what each module's cached kernels did (JSON)."""
    import importlib

    if not os.environ.get(ENV_BUILD):
        # numba writes next to the source only if it may, else into the admin's ~/.cache:
        # that must fail loudly, not leave the users' shared cache empty
        for name in KERNEL_MODULES:
            mod = importlib.import_module(name)
            for d in vars(mod).values():
                if hasattr(d, "_cache") and hasattr(d._cache, "cache_path"):
                    want = os.path.join(os.path.dirname(mod.__file__), "__pycache__")
                    if os.path.realpath(d._cache.cache_path) != os.path.realpath(want):
                        print(f"cannot write the install's kernel cache {want}: run as the "
                              "installing user or pass --cache-dir", file=sys.stderr)
                        return 3
    refused = _workload()
    from ._kernel_cache import cache_stats

    compiled = loaded = 0
    dirs: set[str] = set()
    for name in KERNEL_MODULES:
        mod = importlib.import_module(name)
        disp = [v for v in vars(mod).values() if hasattr(v, "stats") and hasattr(v, "_cache")
                and hasattr(v._cache, "cache_path")]
        h, m = cache_stats(disp)
        compiled += m
        loaded += h
        dirs.update(d._cache.cache_path for d in disp if d.stats.cache_misses)
    import numba

    cpu = numba.config.CPU_NAME or "host"
    print(json.dumps({"compiled": compiled, "loaded": loaded, "cache_dirs": sorted(dirs),
                      "cpu": cpu, "refused": refused}))
    return 0


def build_kernels(cache_dir: str | os.PathLike[str] | None = None, cpu: str = "host",
                  python: str | None = None, timeout: float = 3600.0,
                  env: Mapping[str, str] | None = None) -> BuildResult:
    """Compile every kernel specialisation into ``cache_dir`` (a shared cache root), or into
    the install's own ``__pycache__`` when None.  ``cpu`` is ``host`` (this node's CPU type)
    or ``generic`` (the fallback for CPU types without a build).  Raises ``RuntimeError`` with
    the child's last output lines when the build fails or cannot write where asked, and
    ``ValueError`` when ``cpu`` is unknown or ``cache_dir`` cannot be created."""
    if cpu not in ("host", "generic"):
        raise ValueError(f"cpu must be 'host' or 'generic', got {cpu!r}")
    env = dict(os.environ if env is None else env)
    env.pop(ENV_SHARED, None)  # build everything here, do not count what another cache has
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    env["NMCLUSTER_THREADS"] = "2"  # batched runs split over threads: merge_spikes is built too
    if cache_dir is not None:
        root = Path(cache_dir).resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the kernel cache directory {root}: "
                             f"{exc.strerror or exc}") from None
        env[ENV_BUILD] = str(root)
    else:
        env.pop(ENV_BUILD, None)  # the worker checks that numba may write the install
    if cpu == "generic":
        env["NUMBA_CPU_NAME"] = "generic"
        env["NUMBA_CPU_FEATURES"] = ""
    else:
        env.pop("NUMBA_CPU_NAME", None)
        env.pop("NUMBA_CPU_FEATURES", None)
    proc = subprocess.run([python or sys.executable, "-m", "nmcluster.emulators.engine.build",
                           "--worker"], env=env, capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"kernel build failed (exit {proc.returncode}):\n{tail}")
    out = json.loads(lines[-1])
    return BuildResult(compiled=out["compiled"], loaded=out["loaded"],
                       cache_dirs=tuple(out["cache_dirs"]), cpu=out["cpu"])


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(_worker())
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--cpu", choices=("host", "generic"), default="host")
    a = ap.parse_args()
    r = build_kernels(a.cache_dir, a.cpu)
    print(f"{r.compiled} kernels compiled, {r.loaded} already built ({r.cpu}): "
          f"{', '.join(r.cache_dirs) or 'nothing new'}")

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

Then, in the same process, the signatures the workload called (the dispatchers' own
``nopython_signatures``, never a hand-written list) are compiled ahead of time into one CPython
extension module per CPU type (:func:`_build_aot`, :mod:`._aot`), which jobs run without
importing numba or llvmlite.

Hooks: the wheel smoke test (``scripts/ci-wheel-smoke``) calls ``nmcluster admin build-kernels``
(or ``python -m nmcluster.emulators.engine.build``) after installing the package; a Spack or
site install runs the same command.
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

#: set to "1" in the build worker's environment: also build the AOT module
ENV_BUILD_AOT = "NMCLUSTER_KERNEL_BUILD_AOT"

#: the modules whose ``cache=True`` kernels the build fills (module, attribute names read
#: from the module: every dispatcher in it)
KERNEL_MODULES = ("nmcluster.emulators.engine.kernels", "nmcluster.emulators.brainscales.ess")


@dataclass(frozen=True)
class BuildResult:
    """What a build compiled: ``compiled`` entries written, ``loaded`` found already built,
    ``cache_dirs`` where they are, ``cpu`` the CPU name of the entries, ``aot_dir`` the AOT
    build (:mod:`._aot`) written with its ``aot_exports`` signatures (None: not built;
    ``aot_error`` says why when it failed: jobs then use numba's cache)."""

    compiled: int
    loaded: int
    cache_dirs: tuple[str, ...]
    cpu: str
    aot_dir: str | None = None
    aot_exports: int = 0
    aot_error: str | None = None


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
    pois[0:1].record("spikes")  # a recorded Poisson source is drawn again (kernels._pois_window)
    sim.run(25.0)
    sim.run(25.0)
    cells.get_data()
    pois.get_data()


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


def _numba_type_key(t) -> str | None:
    """The AOT lookup key of a numba argument type (``str(t)``, what :func:`._aot.type_key`
    computes from a value), or None for a type a Python caller cannot pass (a literal, a
    tuple, an unaligned array...): such signatures (a kernel's calls from other kernels) are
    not exported."""
    from numba.core import types

    if isinstance(t, types.Array):
        ok = (t.aligned and t.layout in "CFA" and isinstance(t.dtype, (types.Integer,
              types.Float, types.Boolean)) and not isinstance(t.dtype, types.Literal))
    else:
        ok = (type(t) in (types.Integer, types.Float, types.Boolean)
              and str(t) in ("bool", "float64", "float32", "int64", "uint64", "int32",
                             "uint32", "int16", "uint16", "int8", "uint8"))
    return str(t) if ok else None


def aot_exports() -> list[tuple[str, str, object, object]]:
    """``(kernel, key, dispatcher, signature)`` of every compiled signature of every kernel of
    :data:`KERNEL_MODULES` that a Python caller can use (after :func:`_workload`: exactly the
    argument types jobs call the kernels with, read from the dispatchers, not listed by hand)."""
    import importlib

    out = []
    for name in KERNEL_MODULES:
        mod = importlib.import_module(name)
        for attr, d in sorted(vars(mod).items()):
            if not (hasattr(d, "nopython_signatures") and hasattr(d, "py_func")):
                continue
            if d.py_func.__module__ != name or d.targetoptions.get("inline", "never") != "never":
                continue
            for sig in d.nopython_signatures:
                keys = [_numba_type_key(t) for t in sig.args]
                if all(k is not None for k in keys):
                    out.append((f"{name}.{attr}", "|".join(keys), d, sig))
    return out


def _build_aot(directory: Path, build: str) -> dict:
    """Compile :func:`aot_exports` into the extension module of :mod:`._aot` in
    ``directory`` (replaced atomically), with numba's ``pycc``: each export is a one-line
    function calling the kernel's dispatcher, so the kernel keeps its own options (fastmath,
    error model, inlining) and is compiled exactly as the JIT compiles it, for the JIT's CPU
    name and target features (numba's AOT codegen would otherwise pick the CPU's default
    features, not the host's); the exports release the GIL (batched runs split over threads).
    Returns the manifest written."""
    import importlib.machinery
    import shutil
    import tempfile
    import types as pytypes

    import numpy as np
    from numba.core import codegen as nb_codegen
    from numba.core.registry import cpu_target
    from numba.pycc import CC
    from numba.pycc import compiler as pycc_compiler

    from . import _aot

    exports = aot_exports()
    jit = cpu_target.target_context.codegen()
    cpu_name, features = jit._get_host_cpu_name(), jit._tm_features
    wrappers = pytypes.ModuleType("nmcluster_aot_wrappers")
    sys.modules[wrappers.__name__] = wrappers
    cc = CC(_aot.MODULE_NAME, source_module=wrappers)
    cc.target_cpu = cpu_name
    table: dict[str, dict[str, str]] = {}
    for i, (kernel, key, disp, sig) in enumerate(exports):
        sym = f"k{i}_{kernel.rpartition('.')[2].lstrip('_')}"
        args = ", ".join(f"a{j}" for j in range(len(sig.args)))
        ns = {"__name__": wrappers.__name__, "_kernel": disp}
        exec(f"def {sym}({args}):\n    return _kernel({args})\n", ns)  # noqa: S102 - own code
        setattr(wrappers, sym, ns[sym])
        cc.export(sym, sig)(ns[sym])
        table.setdefault(kernel, {})[key] = sym
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=parent))
    filename = _aot.MODULE_NAME + importlib.machinery.EXTENSION_SUFFIXES[0]
    cc.output_dir = str(tmp)
    cc.output_file = filename
    make_flags = pycc_compiler.Flags
    tm_features = nb_codegen.AOTCPUCodegen._customize_tm_features

    def flags():
        f = make_flags()
        f.release_gil = True
        return f

    pycc_compiler.Flags = flags
    nb_codegen.AOTCPUCodegen._customize_tm_features = lambda self: features
    try:
        cc.compile()
    finally:
        pycc_compiler.Flags = make_flags
        nb_codegen.AOTCPUCodegen._customize_tm_features = tm_features
        sys.modules.pop(wrappers.__name__, None)
    sources = {}
    for name in KERNEL_MODULES:
        rel = Path(sys.modules[name].__file__).resolve().relative_to(_aot.PACKAGE_DIR)
        sources[name] = [rel.as_posix(), _aot.source_hash(rel.as_posix())]
    import numba

    manifest = {"format": _aot.FORMAT, "python": sys.implementation.cache_tag,
                "numpy": np.__version__, "numba": numba.__version__, "file": filename,
                "cpu": {"build": build, "llvm_cpu": cpu_name, "features": features,
                        "key": _aot.cpu_key() if build != "generic" else "generic"},
                "sources": sources, "exports": table}
    (tmp / _aot.MANIFEST).write_text(json.dumps(manifest, indent=1))
    tmp.chmod(0o755)
    old = None
    if directory.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=parent))
        directory.rename(old / "x")
    tmp.rename(directory)  # a job sees the old build or the new one, never half of one
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return manifest


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
    out = {"compiled": compiled, "loaded": loaded, "cache_dirs": sorted(dirs), "cpu": cpu,
           "refused": refused, "aot_dir": None, "aot_exports": 0, "aot_error": None}
    want_aot = os.environ.get(ENV_BUILD_AOT, "0")
    if want_aot != "0":
        from . import _aot

        build = "generic" if cpu == "generic" else _aot.cpu_key()
        if build is None:
            print("no CPU identity (/proc/cpuinfo) for an AOT build of this CPU type: "
                  "build --cpu generic", file=sys.stderr)
        else:
            if want_aot != "1":  # a directory of its own (tests)
                root = Path(want_aot) / _aot.ROOT_NAME
            elif os.environ.get(ENV_BUILD):
                root = Path(os.environ[ENV_BUILD]) / _aot.ROOT_NAME
            else:
                root = _aot.roots()[-1]
            try:
                manifest = _build_aot(root / build, "generic" if cpu == "generic" else "host")
            except Exception as exc:  # noqa: BLE001 - no C compiler, no setuptools...: jobs
                # still get numba's cache, which the build has filled
                out["aot_error"] = f"{type(exc).__name__}: {exc}".strip()[:500]
            else:
                out["aot_dir"] = str(root / build)
                out["aot_exports"] = sum(len(v) for v in manifest["exports"].values())
    print(json.dumps(out))
    return 0


def build_kernels(cache_dir: str | os.PathLike[str] | None = None, cpu: str = "host",
                  python: str | None = None, timeout: float = 3600.0,
                  env: Mapping[str, str] | None = None,
                  aot: bool | str | os.PathLike[str] = True) -> BuildResult:
    """Compile every kernel specialisation into ``cache_dir`` (a shared cache root), or into
    the install's own ``__pycache__`` when None.  ``cpu`` is ``host`` (this node's CPU type)
    or ``generic`` (the fallback for CPU types without a build).  Raises ``RuntimeError`` with
    the child's last output lines when the build fails or cannot write where asked, and
    ``ValueError`` when ``cpu`` is unknown or ``cache_dir`` cannot be created.

    With ``aot`` (the default) the same process then compiles the signatures the workload
    used into an extension module (:mod:`._aot`) that jobs run without importing numba, in
    ``<cache_dir>/nmcluster.emulators.engine._aot/<cpu key>`` (or the install's
    ``__pycache__/aot``): a few seconds more.  A path for ``aot`` puts the AOT build under
    that cache root instead (tests: numba's cache where it always is, the AOT module apart)."""
    if cpu not in ("host", "generic"):
        raise ValueError(f"cpu must be 'host' or 'generic', got {cpu!r}")
    env = dict(os.environ if env is None else env)
    env.pop(ENV_SHARED, None)  # build everything here, do not count what another cache has
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    env["NMCLUSTER_THREADS"] = "2"  # batched runs split over threads: merge_spikes is built too
    env["NMCLUSTER_KERNEL_AOT"] = "0"  # the workload runs (and compiles) the JIT kernels
    if isinstance(aot, bool):
        env[ENV_BUILD_AOT] = "1" if aot else "0"
    else:
        env[ENV_BUILD_AOT] = str(Path(aot).resolve())
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
        env["NMCLUSTER_KERNEL_CPU"] = "host"  # not the generic build another run left here
    proc = subprocess.run([python or sys.executable, "-m", "nmcluster.emulators.engine.build",
                           "--worker"], env=env, capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"kernel build failed (exit {proc.returncode}):\n{tail}")
    out = json.loads(lines[-1])
    return BuildResult(compiled=out["compiled"], loaded=out["loaded"],
                       cache_dirs=tuple(out["cache_dirs"]), cpu=out["cpu"],
                       aot_dir=out["aot_dir"], aot_exports=out["aot_exports"],
                       aot_error=out["aot_error"])


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(_worker())
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--cpu", choices=("host", "generic"), default="host")
    ap.add_argument("--no-aot", action="store_true", help="numba's cache only, no AOT module")
    a = ap.parse_args()
    r = build_kernels(a.cache_dir, a.cpu, aot=not a.no_aot)
    print(f"{r.compiled} kernels compiled, {r.loaded} already built ({r.cpu}): "
          f"{', '.join(r.cache_dirs) or 'nothing new'}")
    if r.aot_dir:
        print(f"AOT module ({r.aot_exports} signatures): {r.aot_dir}")
    if r.aot_error:
        print(f"no AOT module (jobs import numba): {r.aot_error}", file=sys.stderr)

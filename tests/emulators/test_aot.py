"""Ahead-of-time compiled kernels (issue 27, a job's fixed cost): a job with an AOT build
present imports neither numba nor llvmlite, gives results bit-identical to the JIT path, and a
missing, stale or foreign build (or a signature it lacks) falls back to the JIT path.

The AOT module is built once per test session (``build_kernels(aot=<tmp dir>)``: numba's cache
where it always is, the extension module in a temporary cache root that only these tests'
processes read through ``$NMCLUSTER_KERNEL_CACHE``).  The jobs run a copy of the package (with
numba's cache, without any AOT build of the checkout's own ``__pycache__``), so what they find is
only what each test gives them."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT_NAME = "nmcluster.emulators.engine._aot"


@dataclass(frozen=True)
class Built:
    """The session's AOT build: ``cache`` the cache root holding it, ``prefix`` the package copy
    the jobs run."""

    cache: Path
    prefix: Path


def _env(tmp: Path, built: Built | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NMCLUSTER_KERNEL", "NUMBA_CPU", "NUMBA_DISABLE"))}
    env.update(PYTHONPATH=str(built.prefix if built else REPO), HOME=str(tmp / "home"),
               XDG_CACHE_HOME=str(tmp / "home" / ".cache"))
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def aot_root(tmp_path_factory) -> Built:
    """A cache root holding this checkout's AOT build for this CPU (built once per session;
    the time is printed with ``-s``)."""
    from nmcluster.emulators.engine.build import build_kernels

    tmp = tmp_path_factory.mktemp("aot")
    t0 = time.monotonic()
    result = build_kernels(env=_env(tmp), aot=tmp / "cache")
    print(f"\nAOT build: {time.monotonic() - t0:.1f} s, {result.aot_exports} signatures")
    assert result.aot_dir is not None and result.aot_dir.startswith(str(tmp / "cache"))
    # the package as installed: numba's cache kept (copy2 keeps the sources' stamps), no AOT
    # build of the checkout's own __pycache__ (a developer's build-kernels leaves one there)
    shutil.copytree(REPO / "nmcluster", tmp / "prefix" / "nmcluster",
                    ignore=lambda d, names: ["aot"] if d.endswith("__pycache__") else [])
    manifest = json.loads((Path(result.aot_dir) / "manifest.json").read_text())
    # every kernel the Python side calls, each with the signature jobs use
    for k in ("engine.kernels.run_lif", "engine.kernels.merge_spikes",
              "engine.kernels._pois_window", "engine.kernels.exponential_draws",
              "brainscales.ess.token_bucket", "brainscales.ess._two_buckets"):
        assert len(manifest["exports"][f"nmcluster.emulators.{k}"]) >= 1, k
    return Built(cache=tmp / "cache", prefix=tmp / "prefix")


# networks of every backend: conductance and current LIF, AdEx, Izhikevich, static and plastic
# (STP, STDP) synapses, Poisson and array sources, spikes / v / gsyn and a Poisson source
# recorded, two run() calls; batched trials split over two threads; the ESS link model
NETS = textwrap.dedent('''
    import importlib, logging, pickle, sys, warnings
    import numpy as np
    warnings.filterwarnings("ignore")
    logging.getLogger("nmcluster").setLevel(logging.ERROR)
    out = {}

    def net(sim, model, plastic):
        cells = sim.Population(6, getattr(sim, model)())
        pois = sim.Population(6, sim.SpikeSourcePoisson(rate=np.linspace(500.0, 3000.0, 6)))
        arr = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0, 3.0, 17.0]))
        sim.Projection(pois, cells, sim.OneToOneConnector(),
                       sim.StaticSynapse(weight=0.05, delay=1.0), receptor_type="excitatory")
        if plastic:
            if hasattr(sim, "TsodyksMarkramSynapse"):
                syn = sim.TsodyksMarkramSynapse(U=0.5, tau_rec=100.0, tau_facil=0.0,
                                                weight=0.004, delay=1.0)
                sim.Projection(arr, cells, sim.AllToAllConnector(), syn,
                               receptor_type="excitatory")
            stdp = sim.STDPMechanism(
                timing_dependence=sim.SpikePairRule(),
                weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.01),
                weight=0.004, delay=1.0)
            prj = sim.Projection(cells, cells,
                                 sim.AllToAllConnector(allow_self_connections=False), stdp,
                                 receptor_type="excitatory")
        else:
            prj = sim.Projection(arr, cells, sim.AllToAllConnector(),
                                 sim.StaticSynapse(weight=0.004, delay=1.0),
                                 receptor_type="inhibitory")
        cells.record("spikes")
        cells[0:1].record(["v", "gsyn_exc"] if "cond" in model else ["v"])
        pois[0:2].record("spikes")
        sim.run(40.0)
        sim.run(40.0)
        seg = cells.get_data().segments[0]
        res = [np.asarray(s.magnitude) for s in seg.spiketrains]
        # by name: neo's order of the signals follows a set's (string hashes differ per process)
        res += [np.asarray(a.magnitude)
                for a in sorted(seg.analogsignals, key=lambda a: a.name)]
        res += [np.asarray(s.magnitude) for s in pois.get_data().segments[0].spiketrains]
        res.append(np.asarray(prj.get("weight", format="array"), dtype=float))
        return res

    MODELS = {"spikey": ["IF_cond_exp", "IF_facets_hardware1"],
              "spinnaker": ["IF_curr_exp", "IF_cond_exp", "Izhikevich"],
              "brainscales": ["IF_cond_exp", "EIF_cond_exp_isfa_ista"]}
    for backend, models in MODELS.items():
        sim = importlib.import_module("nmcluster.emulators." + backend)
        for model in models:
            for plastic in (False, True):
                kw = {"continue_despite_synapse_loss": True} if backend == "brainscales" else {}
                sim.setup(timestep=1.0 if backend == "spinnaker" else 0.1, **kw)
                try:
                    out[(backend, model, plastic)] = net(sim, model, plastic)
                except Exception as exc:  # the same refusal on both paths
                    out[(backend, model, plastic)] = repr(exc)
                sim.end()
    # batched trials over two threads (merge_spikes)
    sim = importlib.import_module("nmcluster.emulators.spikey")
    sim.setup(timestep=0.1)
    cells = sim.Population(4, sim.IF_cond_exp())
    pois = sim.Population(4, sim.SpikeSourcePoisson(rate=np.full(4, 500.0)))
    sim.Projection(pois, cells, sim.OneToOneConnector(),
                   sim.StaticSynapse(weight=0.004, delay=1.0), receptor_type="excitatory")
    cells.record("spikes")
    res = sim.run_trials(12600.0, trials=4)
    out["trials"] = [np.asarray(x) for x in res.spikes()]
    sim.end()
    # the ESS link model with tight links (token buckets lose spikes)
    bs = importlib.import_module("nmcluster.emulators.brainscales")
    bw = bs.Bandwidth(l2_down_rate=2.0e6, playback_rate=2.0e6, l2_up_rate=1.0e6, l1_rate=5.0e5)
    bs.setup(timestep=0.1, bandwidth=bw)
    cells = bs.Population(8, bs.IF_cond_exp())
    pois = bs.Population(8, bs.SpikeSourcePoisson(rate=3000.0))
    bs.Projection(pois, cells, bs.OneToOneConnector(),
                  bs.StaticSynapse(weight=0.05, delay=1.0), receptor_type="excitatory")
    cells.record("spikes")
    bs.run(50.0)
    out["ess"] = [np.asarray(s.magnitude) for s in cells.get_data().segments[0].spiketrains]
    out["ess_stats"] = sorted(bs.pulse_statistics().items())
    bs.end()
    from nmcluster.emulators.engine import kernels
    out["draws"] = [kernels.exponential_draws(np.uint64(7), 64)]
    out["modules"] = sorted(m for m in ("numba", "llvmlite") if m in sys.modules)
    out["cpu"] = sys.modules["numba"].config.CPU_NAME if "numba" in sys.modules else None
    with open(sys.argv[1], "wb") as f:
        pickle.dump(out, f)
''')


def _run_nets(tmp: Path, env: dict[str, str], name: str) -> dict:
    path = tmp / f"{name}.pkl"
    proc = subprocess.run([sys.executable, "-c", NETS, str(path)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(path, "rb") as f:
        return pickle.load(f)


def _assert_identical(a: dict, b: dict) -> int:
    """Equal to the bit (same keys, dtypes, shapes, bytes; NaN equal to NaN); returns the
    number of spikes compared."""
    assert a.keys() == b.keys()
    spikes = 0
    for key in a:
        if key in ("modules", "cpu"):
            continue
        va, vb = a[key], b[key]
        if isinstance(va, str) or key == "ess_stats":
            assert va == vb, key
            continue
        assert len(va) == len(vb), key
        for x, y in zip(va, vb):
            assert x.dtype == y.dtype and x.shape == y.shape, key
            assert x.tobytes() == y.tobytes(), key
        spikes += sum(x.size for x in va[:6] if x.ndim == 1)
    return spikes


def test_aot_results_are_bit_identical_to_the_jit_path(aot_root: Built, tmp_path: Path) -> None:
    aot = _run_nets(tmp_path, _env(tmp_path, aot_root,
                                   NMCLUSTER_KERNEL_CACHE=str(aot_root.cache)), "aot")
    jit = _run_nets(tmp_path, _env(tmp_path, aot_root, NMCLUSTER_KERNEL_AOT="0"), "jit")
    assert aot["modules"] == [] and jit["modules"] == ["llvmlite", "numba"]
    refused = [k for k, v in aot.items() if isinstance(v, str)]
    assert len(refused) <= 2, refused  # almost every network ran on both paths
    assert _assert_identical(aot, jit) > 500
    # every backend fired, and the ESS links lost spikes
    for backend in ("spikey", "spinnaker", "brainscales"):
        assert any(isinstance(v, list) and sum(x.size for x in v[:6]) > 0
                   for k, v in aot.items() if isinstance(k, tuple) and k[0] == backend)
    stats = dict(aot["ess_stats"])
    assert stats["l1_neuron_lost"] + stats["l2_down_lost"] + stats["l2_up_lost"] > 0, stats


JOB = textwrap.dedent('''
    import json, sys, time
    t0 = time.perf_counter()
    import pyNN.nmcluster.{hw} as sim
    sim.setup(timestep=0.1)
    cells = sim.Population(1, sim.IF_cond_exp())
    src = sim.Population(1, sim.SpikeSourcePoisson(rate=2000.0))
    sim.Projection(src, cells, sim.OneToOneConnector(),
                   sim.StaticSynapse(weight=0.05, delay=1.0), receptor_type="excitatory")
    cells.record("spikes")
    sim.run(20.0)
    n = len(cells.get_data().segments[0].spiketrains[0])
    sim.end()
    from nmcluster.emulators.engine import _aot
    print(json.dumps({{"spikes": n, "numba": "numba" in sys.modules,
                      "llvmlite": "llvmlite" in sys.modules, "aot": _aot.chosen_cpu(),
                      "s": time.perf_counter() - t0}}))
''')


def _job(tmp: Path, env: dict[str, str], hw: str = "spinnaker") -> dict:
    proc = subprocess.run([sys.executable, "-c", JOB.format(hw=hw)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("hw", ["spikey", "spinnaker", "brainscales"])
def test_a_job_with_an_aot_build_imports_neither_numba_nor_llvmlite(aot_root: Built,
                                                                    tmp_path: Path,
                                                                    hw: str) -> None:
    got = _job(tmp_path, _env(tmp_path, aot_root, NMCLUSTER_KERNEL_CACHE=str(aot_root.cache)),
               hw)
    assert (got["numba"], got["llvmlite"], got["aot"]) == (False, False, "host"), got
    assert got["spikes"] >= 2
    # the same job on the JIT path: the same spikes, numba imported
    jit = _job(tmp_path, _env(tmp_path, aot_root, NMCLUSTER_KERNEL_AOT="0"), hw)
    assert (jit["numba"], jit["aot"], jit["spikes"]) == (True, None, got["spikes"])


def _copy_build(cache: Path, dst: Path) -> Path:
    shutil.copytree(cache, dst)
    (build,) = [p for p in (dst / ROOT_NAME).iterdir() if p.name.startswith("cpu-")]
    return build


def test_a_stale_foreign_or_broken_build_falls_back_to_the_jit_path(aot_root: Built,
                                                                   tmp_path: Path) -> None:
    ref = _job(tmp_path, _env(tmp_path, aot_root, NMCLUSTER_KERNEL_CACHE=str(aot_root.cache)))
    assert ref["aot"] == "host"
    cases = {}
    # 1. the kernels' source changed since the build: its exports are not used
    stale = _copy_build(aot_root.cache, tmp_path / "stale")
    m = json.loads((stale / "manifest.json").read_text())
    m["sources"]["nmcluster.emulators.engine.kernels"][1] = "0" * 64
    (stale / "manifest.json").write_text(json.dumps(m))
    cases["stale"] = tmp_path / "stale"
    # 2. a build for another CPU type only (and no generic build)
    foreign = _copy_build(aot_root.cache, tmp_path / "foreign")
    foreign.rename(foreign.with_name("cpu-0000000000000000"))
    cases["foreign"] = tmp_path / "foreign"
    # 3. a broken extension module
    broken = _copy_build(aot_root.cache, tmp_path / "broken")
    (ext,) = [p for p in broken.iterdir() if p.name.endswith(".so")]
    ext.write_bytes(b"not an ELF file")
    cases["broken"] = tmp_path / "broken"
    # 4. numpy of another version than the build's
    other = _copy_build(aot_root.cache, tmp_path / "numpy")
    m = json.loads((other / "manifest.json").read_text())
    m["numpy"] = "1.0.0"
    (other / "manifest.json").write_text(json.dumps(m))
    cases["numpy"] = tmp_path / "numpy"
    # 5. numba of another version than the build's
    other = _copy_build(aot_root.cache, tmp_path / "numba")
    m = json.loads((other / "manifest.json").read_text())
    m["numba"] = "0.1.0"
    (other / "manifest.json").write_text(json.dumps(m))
    cases["numba"] = tmp_path / "numba"
    for name, root in cases.items():
        got = _job(tmp_path, _env(tmp_path, aot_root, NMCLUSTER_KERNEL_CACHE=str(root)))
        assert got["numba"] and got["spikes"] == ref["spikes"], (name, got)
        assert got["aot"] is None or name == "stale", (name, got)
    # NMCLUSTER_KERNEL_AOT=0 and an explicit numba CPU switch AOT code off too
    for extra in ({"NMCLUSTER_KERNEL_AOT": "0"}, {"NUMBA_CPU_NAME": "host"}):
        got = _job(tmp_path, _env(tmp_path, aot_root, NMCLUSTER_KERNEL_CACHE=str(aot_root.cache),
                                  **extra))
        assert got["numba"] and got["aot"] is None and got["spikes"] == ref["spikes"], extra


def test_a_cpu_type_without_a_build_uses_the_generic_build(aot_root: Built,
                                                          tmp_path: Path) -> None:
    """Selection only (a generic build takes a full generic compile): the build found under
    ``generic`` is used when this CPU type has none, never with NMCLUSTER_KERNEL_CPU=host."""
    build = _copy_build(aot_root.cache, tmp_path / "gen")
    build.rename(build.with_name("generic"))
    env = _env(tmp_path, aot_root, NMCLUSTER_KERNEL_CACHE=str(tmp_path / "gen"))
    got = _job(tmp_path, env)
    assert (got["numba"], got["aot"]) == (False, "generic"), got
    got = _job(tmp_path, {**env, "NMCLUSTER_KERNEL_CPU": "host"})
    assert (got["numba"], got["aot"]) == (True, None), got


def test_the_generic_build_is_bit_identical_to_the_generic_jit(aot_root: Built,
                                                            tmp_path: Path) -> None:
    """The fallback for node types without a build of their own, built for real (numba's cache
    and the AOT module for baseline x86-64, ~25 s from cold): a job on it imports no numba and
    gives what numba's generic code gives, bit for bit, on every network of NETS."""
    from nmcluster.emulators.engine.build import build_kernels

    root = tmp_path / "kernels"
    t0 = time.monotonic()
    result = build_kernels(root, cpu="generic", env=_env(tmp_path, aot_root))
    print(f"\ngeneric build: {time.monotonic() - t0:.1f} s, {result.aot_exports} signatures")
    assert result.aot_dir == str(root / ROOT_NAME / "generic")
    env = _env(tmp_path, aot_root, NMCLUSTER_KERNEL_CACHE=str(root))
    # this host has no build in that root: the generic one is chosen, without numba
    job = _job(tmp_path, env)
    assert (job["numba"], job["llvmlite"], job["aot"]) == (False, False, "generic"), job
    aot = _run_nets(tmp_path, env, "generic-aot")

    def compiled() -> set[Path]:  # numba cache files anywhere a job could write them
        return {p for d in (aot_root.prefix, tmp_path / "home") for p in d.rglob("*.nbc")}

    before = compiled()
    jit = _run_nets(tmp_path, {**env, "NMCLUSTER_KERNEL_AOT": "0",
                               "NMCLUSTER_KERNEL_CPU": "generic"}, "generic-jit")
    assert aot["modules"] == [] and jit["modules"] == ["llvmlite", "numba"]
    assert jit["cpu"] == "generic"
    assert _assert_identical(aot, jit) > 500
    # numba's generic code came from the build's cache: the JIT job compiled nothing
    assert compiled() == before


SIGNATURE = textwrap.dedent('''
    import json, sys
    import numpy as np
    from nmcluster.emulators.engine import kernels
    a = kernels.exponential_draws(np.uint64(5), 16)          # built: int64 count
    before = "numba" in sys.modules
    b = kernels.exponential_draws(np.uint64(5), np.int32(16))  # not built: JIT
    print(json.dumps({"before": before, "after": "numba" in sys.modules,
                      "same": a.tobytes() == b.tobytes(),
                      "sigs": [str(s) for s in kernels.exponential_draws.signatures]}))
''')


def test_a_signature_the_build_lacks_is_compiled_by_numba(aot_root: Built, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SIGNATURE],
                          env=_env(tmp_path, aot_root, NMCLUSTER_KERNEL_CACHE=str(aot_root.cache)),
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got == {"before": False, "after": True, "same": True, "sigs": ["(uint64, int32)"]}


def test_type_keys_agree_with_numba_typeof() -> None:
    """The AOT lookup computes numba's type names without numba: they must be numba's."""
    import numba

    from nmcluster.emulators.engine import _aot

    ro = np.zeros(3)
    ro.flags.writeable = False
    values = [np.zeros(4), np.zeros((3, 4)), np.zeros((3, 4), order="F"), np.zeros((3, 4))[:, 1:],
              np.zeros(6)[::2], np.zeros((2, 3, 4), dtype=np.int64), np.zeros(2, dtype=bool),
              np.zeros(2, dtype=np.uint8), np.zeros(2, dtype=np.uint64), ro, np.zeros(0),
              np.zeros((1, 5))[:, ::2], 3, -(2**40), True, 1.5, np.float64(2.0), np.int64(3),
              np.uint64(4), np.bool_(True), np.int32(1), np.float32(1.0)]
    for v in values:
        assert _aot.type_key(v) == str(numba.typeof(v)), v
    assert _aot.type_key(2**63) == str(numba.typeof(2**63)) == "uint64"
    assert _aot.type_key("x") is None and _aot.type_key((1, 2)) is None
    assert _aot.type_key(np.zeros(2, dtype=">f8")) is None


def test_installed_numba_is_read_without_importing_it(tmp_path: Path) -> None:
    code = ("import sys; from nmcluster.emulators.engine import _aot; v = _aot.installed_numba(); "
            "print(v, 'numba' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    import numba

    assert proc.stdout.split() == [numba.__version__, "False"], proc.stderr


def test_cpu_key_reads_the_identity_lines_only() -> None:
    from nmcluster.emulators.engine import _aot

    info = ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 167\n"
            "cpu MHz\t\t: 2900.1\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\ncpu MHz\t: 1.0\n")
    key = _aot.cpu_key(info)
    assert key is not None and key.startswith("cpu-") and len(key) == 20
    # the clock and the other processors do not matter; the order of flags neither
    assert _aot.cpu_key(info.replace("2900.1", "800.0").replace("fpu avx2 fma", "fma fpu avx2")) \
        == key
    assert _aot.cpu_key(info.replace("fma", "avx512f")) != key
    assert _aot.cpu_key(info.replace("model\t\t: 167", "model\t\t: 85")) != key
    assert _aot.cpu_key("") is None


def test_a_kernel_calling_a_lazy_kernel_of_another_module_compiles(tmp_path: Path) -> None:
    """A kernel module that imports another module's kernel by name holds that module's lazy
    kernel, not its dispatcher: numba types it as the dispatcher (``_numba_type_``, which the
    lazy kernel forwards like any attribute), on the JIT path."""
    (tmp_path / "toyb.py").write_text(
        "from nmcluster.emulators.engine._kernel_cache import njit\n"
        "@njit\ndef twice(x):\n    return 2.0 * x\n")
    (tmp_path / "toya.py").write_text(
        "from nmcluster.emulators.engine._kernel_cache import njit\nfrom toyb import twice\n"
        "@njit\ndef f(x):\n    return twice(x) + 1.0\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import toya, toyb; "
            "print(toya.f(3.0), type(toyb.twice).__name__, type(toya.twice).__name__)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # toyb became dispatchers when numba typed the call; toya still holds the lazy kernel
    assert proc.stdout.split() == ["7.0", "CPUDispatcher", "LazyKernel"]

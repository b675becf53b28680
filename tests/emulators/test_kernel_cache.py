"""Shared install-time kernel cache (issue 27): a read-only install with kernels built at install
time, and a user with an empty cache, run their first job without compiling anything.

"No compilation" is asserted with numba's own counters (``Dispatcher.stats.cache_misses``: one
miss per compiled signature), not with wall time.  The tests run as root here, for whom file
modes do not stop writes, so they also assert that nothing was written: not into the read-only
copy, not into the user's cache.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE_MOD = REPO / "nmcluster" / "emulators" / "engine" / "_kernel_cache.py"

# a toy kernel module using the engine's njit; _kernel_cache is loaded from its file so the toy
# process does not import the engine (whose kernels would create numba's CPU target first)
TOY = textwrap.dedent('''
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("kc", {cache_mod!r})
    kc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kc)
    CHOSEN = kc.select_cpu(__name__, __file__, "scaled_sum")

    @kc.njit(cache=True, fastmath={{"contract"}})
    def scaled_sum(x, a):
        s = 0.0
        for v in x:
            s += a * v
        return s
''')

RUN_TOY = textwrap.dedent('''
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import toykern
    r = toykern.scaled_sum(np.arange(5.0), 1.5)
    st = toykern.scaled_sum.stats
    import numba
    print(json.dumps({"r": r, "hits": sum(st.cache_hits.values()),
                      "misses": sum(st.cache_misses.values()), "chosen": toykern.CHOSEN,
                      "cpu": numba.config.CPU_NAME}))
''')


def _files(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


def _read_only(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _toy_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NMCLUSTER_KERNEL", "NUMBA_CPU"))}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "home" / ".cache"))
    env.update(extra)
    return env


def _run_toy(src: Path, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", RUN_TOY, str(src)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "toykern.py").write_text(TOY.format(cache_mod=str(CACHE_MOD)))
    return src


def test_shared_read_only_cache_serves_a_new_user_without_compiling(tmp_path: Path,
                                                                     toy: Path) -> None:
    built = tmp_path / "built"
    first = _run_toy(toy, _toy_env(tmp_path, NMCLUSTER_KERNEL_BUILD_DIR=str(built)))
    assert first == {"r": 15.0, "hits": 0, "misses": 1, "chosen": "host", "cpu": None}
    assert list((built / "toykern").glob("toykern.scaled_sum-*.nbc"))
    # a copy of the cache elsewhere (relocated), read-only; the source's __pycache__ read-only
    # too (a read-only install); the user's cache empty
    shared = tmp_path / "site" / "kernels"
    shutil.copytree(built, shared)
    (toy / "__pycache__").mkdir(exist_ok=True)
    _read_only(shared)
    _read_only(toy)
    user = tmp_path / "user-cache"
    user.mkdir()
    before = _files(shared)
    env = _toy_env(tmp_path, NMCLUSTER_KERNEL_CACHE=f"/nonexistent{os.pathsep}{shared}",
                   NUMBA_CACHE_DIR=str(user))
    for _ in range(2):
        got = _run_toy(toy, env)
        assert got == {"r": 15.0, "hits": 1, "misses": 0, "chosen": "host", "cpu": None}
    assert _files(shared) == before
    assert _files(user) == {}
    # without the shared cache the same user compiles (into their own cache): the counter works
    env.pop("NMCLUSTER_KERNEL_CACHE")
    assert _run_toy(toy, env)["misses"] == 1
    assert list(user.rglob("*.nbc"))


def test_a_cpu_type_without_a_build_reads_the_generic_build(tmp_path: Path, toy: Path) -> None:
    shared = tmp_path / "shared"
    gen = _run_toy(toy, _toy_env(tmp_path, NMCLUSTER_KERNEL_BUILD_DIR=str(shared),
                                 NUMBA_CPU_NAME="generic", NUMBA_CPU_FEATURES=""))
    assert (gen["misses"], gen["chosen"], gen["cpu"]) == (1, "configured", "generic")
    _read_only(shared)
    user = tmp_path / "user-cache"
    user.mkdir()
    env = _toy_env(tmp_path, NMCLUSTER_KERNEL_CACHE=str(shared), NUMBA_CACHE_DIR=str(user))
    got = _run_toy(toy, env)
    # no build for this host's CPU: the generic one is read, nothing compiled
    assert got == {"r": 15.0, "hits": 1, "misses": 0, "chosen": "generic", "cpu": "generic"}
    assert _files(user) == {}
    # NMCLUSTER_KERNEL_CPU=host insists on this CPU: compiled once into the user's cache
    env["NMCLUSTER_KERNEL_CPU"] = "host"
    got = _run_toy(toy, env)
    assert (got["misses"], got["chosen"], got["cpu"]) == (1, "host", None)


JOB = textwrap.dedent('''
    import importlib, json, logging, sys, warnings
    warnings.filterwarnings("ignore")
    logging.getLogger("nmcluster").setLevel(logging.ERROR)
    out = {}
    for backend in ("spikey", "spinnaker", "brainscales"):
        sim = importlib.import_module("nmcluster.emulators." + backend)
        sim.setup(timestep=0.1)
        src = sim.Population(2, sim.SpikeSourcePoisson(rate=2000.0))
        cells = sim.Population(2, sim.IF_cond_exp())
        sim.Projection(src, cells, sim.OneToOneConnector(),
                       sim.StaticSynapse(weight=0.05, delay=1.0), receptor_type="excitatory")
        cells.record("spikes")
        sim.run(50.0)
        out[backend] = sum(len(s) for s in cells.get_data().segments[0].spiketrains)
        sim.end()
    out["numba"] = "numba" in sys.modules  # before the counters below import it
    from nmcluster.emulators.engine import kernels
    from nmcluster.emulators.brainscales import ess
    from nmcluster.emulators.engine._kernel_cache import cache_stats
    disp = [v for m in (kernels, ess) for v in vars(m).values() if hasattr(v, "stats")]
    out["hits"], out["misses"] = cache_stats(disp)
    out["file"] = kernels.__file__
    print(json.dumps(out))
''')


def test_read_only_install_first_job_of_a_new_user_compiles_nothing(tmp_path: Path) -> None:
    """The real kernels: install a copy of the package, build its kernels at install time,
    make the install read-only, then a new user's first job on all three emulators: with the
    AOT build (no numba imported at all) and without it (numba's cache, nothing compiled)."""
    from nmcluster.emulators.engine.build import build_kernels

    prefix = tmp_path / "prefix"
    shutil.copytree(REPO / "nmcluster", prefix / "nmcluster",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {**_toy_env(tmp_path), "PYTHONPATH": str(prefix)}
    result = build_kernels(env=env)
    assert result.compiled >= 2 and result.cpu == "host"
    assert all(d.startswith(str(prefix)) for d in result.cache_dirs), result.cache_dirs
    assert result.aot_dir.startswith(str(prefix)) and result.aot_exports >= 6, result
    _read_only(prefix)
    before = _files(prefix)
    user = tmp_path / "user-cache"
    user.mkdir()
    runs = {}
    for aot in ("1", "0"):
        job = subprocess.run([sys.executable, "-c", JOB],
                             env={**env, "NUMBA_CACHE_DIR": str(user), "NMCLUSTER_KERNEL_AOT": aot},
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert job.returncode == 0, job.stderr[-3000:]
        got = runs[aot] = json.loads(job.stdout.strip().splitlines()[-1])
        assert got["file"].startswith(str(prefix))
        assert got["misses"] == 0, got
        assert all(got[b] > 0 for b in ("spikey", "spinnaker", "brainscales")), got
    assert not runs["1"]["numba"] and runs["1"]["hits"] == 0, runs  # AOT: numba never called
    assert runs["0"]["numba"] and runs["0"]["hits"] >= 1, runs
    assert all(runs["0"][b] == runs["1"][b] for b in ("spikey", "spinnaker", "brainscales"))
    assert _files(user) == {}
    assert _files(prefix) == before


def test_no_writable_cache_anywhere_still_runs_and_reads_the_shared_cache(tmp_path: Path,
                                                                           toy: Path) -> None:
    shared = tmp_path / "shared"
    assert _run_toy(toy, _toy_env(tmp_path, NMCLUSTER_KERNEL_BUILD_DIR=str(shared)))["misses"] == 1
    # nowhere to write: __pycache__ is a file, the user cache and home lie under /dev/null (numba
    # alone refuses to define such a kernel: "no locator available")
    shutil.rmtree(toy / "__pycache__", ignore_errors=True)
    (toy / "__pycache__").write_text("not a directory")
    env = _toy_env(tmp_path, NMCLUSTER_KERNEL_CACHE=str(shared), NUMBA_CACHE_DIR="/dev/null/numba")
    env.update(HOME="/dev/null", XDG_CACHE_HOME="/dev/null/cache")
    assert _run_toy(toy, env) == {"r": 15.0, "hits": 1, "misses": 0, "chosen": "host",
                                  "cpu": None}
    env.pop("NMCLUSTER_KERNEL_CACHE")
    for _ in range(2):  # compiled, not kept: the next process compiles again, and works
        got = _run_toy(toy, env)
        assert (got["r"], got["hits"], got["misses"]) == (15.0, 0, 1)


def test_build_kernels_command_help_and_bad_input(tmp_path: Path, capsys) -> None:
    from nmcluster.cli.main import main

    assert main(["admin", "build-kernels", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and "nmcluster admin build-kernels --cpu generic" in out
    assert main(["admin", "--help"]) == 0
    assert "build-kernels" in capsys.readouterr().out
    assert main(["admin", "build-kernels", "--cpu", "arm"]) == 2
    assert "'arm' is not one of 'host', 'generic'" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["admin", "build-kernels", "--cache-dir", str(blocker / "kernels")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create the kernel cache directory" in err[0], err
    assert blocker.read_text() == "" and not list(tmp_path.glob("**/*.nbi"))

"""The hardware software's import names resolve to the emulators only where opted in, only for the
job's platform, never in place of a real installation, and each one used is told (job log);
the PyNN 0.7 shapes work there or are refused naming the PyNN 0.13 form; missing cell types are
errors naming the platform and its cell types."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def py(code: str, tmp_path: Path, names: str | None = None, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NMCLUSTER_COMPAT_NAMES", "SYMAP2IC_PATH", "PYNN_HW_PATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [extra.pop("path", "")])])
    if names is not None:
        env["NMCLUSTER_COMPAT_NAMES"] = names
    env.update(extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)


def test_names_not_served_without_opt_in(tmp_path):
    out = py("""
        for name in ("pyhmf", "pymarocco", "pylogging", "pyNN.hardware.spikey", "pyNN.spiNNaker"):
            try:
                __import__(name)
            except ImportError as exc:
                print(name, "->", exc.name)
    """, tmp_path)
    lines = out.stdout.splitlines()
    assert lines[:3] == ["pyhmf -> pyhmf", "pymarocco -> pymarocco", "pylogging -> pylogging"]
    assert lines[3] == "pyNN.hardware.spikey -> auxiliary"  # PyNN's own file, as without nmcluster
    assert lines[4] == "pyNN.spiNNaker -> spynnaker"
    assert "nmcluster: import" not in out.stderr


def test_only_the_opted_in_platform_is_served(tmp_path):
    out = py("""
        import pyNN.hardware.spikey as pynn
        print(pynn.__name__, hasattr(pynn, "IF_facets_hardware1"))
        try:
            import pyhmf
        except ImportError:
            print("no pyhmf")
        try:
            import pyNN.spiNNaker
        except ImportError as exc:
            print("no", exc.name)
    """, tmp_path, names="spikey")
    assert out.stdout.splitlines() == ["nmcluster.emulators.spikey.legacy True", "no pyhmf",
                                       "no spynnaker"], out.stderr
    told = [line for line in out.stderr.splitlines() if line.startswith("nmcluster: import")]
    assert told == ["nmcluster: import pyNN.hardware.spikey -> nmcluster.emulators.spikey.legacy "
                    "(emulated Spikey, PyNN 0.7 API of the Spikey software; "
                    "NMCLUSTER_COMPAT_NAMES=spikey)"]


def test_module_style_list_is_read(tmp_path):
    out = py("import nmpi, pymarocco.results as r; print(nmpi.Client.__module__, r.Marocco.__name__)",
             tmp_path, names="nmpi:brainscales")  # what append-path builds from two modules
    assert out.stdout.split() == ["nmcluster.client", "Marocco"], out.stderr


def test_real_installations_are_never_shadowed(tmp_path):
    site = tmp_path / "site"
    for pkg in ("pyhmf", "pymarocco", "pylogging", "nmpi"):
        (site / pkg).mkdir(parents=True)
        (site / pkg / "__init__.py").write_text("REAL = True\n")
    (site / "spynnaker" / "pyNN").mkdir(parents=True)
    (site / "spynnaker" / "__init__.py").write_text("")
    (site / "spynnaker" / "pyNN" / "__init__.py").write_text("REAL_SPYNNAKER = 7\n")
    out = py("""
        import pyhmf, pymarocco, pylogging, nmpi
        print(pyhmf.REAL, pymarocco.REAL, pylogging.REAL, nmpi.REAL)
        import pyNN.spiNNaker as sim   # PyNN's own file: from spynnaker.pyNN import *
        print(sim.REAL_SPYNNAKER, sim.__file__.endswith("pyNN/spiNNaker.py"))
    """, tmp_path, names="all", path=str(site))
    assert out.stdout.split() == ["True"] * 4 + ["7", "True"], out.stderr
    assert "nmcluster: import" not in out.stderr
    # the Spikey/BrainScaleS PyNN backends are found through SYMAP2IC_PATH/PYNN_HW_PATH
    # (pyNN/hardware/auxiliary.py): with them set, PyNN's own pyNN.hardware is imported
    hw = tmp_path / "hw"
    hw.mkdir()
    out = py("import pyNN.hardware.spikey", tmp_path, names="all", SYMAP2IC_PATH=str(hw),
             PYNN_HW_PATH=str(hw))
    assert out.returncode != 0 and "nmcluster: import" not in out.stderr
    assert "auxiliary" in out.stderr  # PyNN's file ran (a Python 2 relative import)


def test_job_environment_names_follow_the_emulated_partition():
    from nmcluster._compat_names import enabled, job_names

    assert job_names("nmcluster.spikey", True) == "spikey,nmpi"
    assert job_names("nmcluster.brainscales", True) == "brainscales,nmpi"
    assert job_names("nmcluster.spinnaker", True) == "spinnaker,nmpi"
    assert job_names("hardware.spikey", False) == "nmpi"  # real hardware: its own software
    assert job_names("nest", True) == "nmpi"
    assert enabled({"NMCLUSTER_COMPAT_NAMES": "all"}) == {"spikey", "brainscales", "spinnaker",
                                                          "nmpi"}
    assert enabled({"NMCLUSTER_COMPAT_NAMES": "nmpi:spikey,bogus"}) == {"nmpi", "spikey"}


def test_submitted_job_log_tells_the_name_used(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n')
    script = tmp_path / "run.py"
    script.write_text("import pyhmf as pynn\nimport nmpi\nprint('backend', pynn.__name__)\n")
    env = {k: v for k, v in os.environ.items() if k != "NMCLUSTER_COMPAT_NAMES"}
    env.update(NMCLUSTER_CONFIG=str(cfg), PYTHONPATH=str(REPO))
    cli = [sys.executable, "-m", "nmcluster.cli.main"]
    sub = subprocess.run([*cli, "submit", str(script), "-p", "ess", "--wafer", "33", "--local",
                          "--command", "run.py", "--wait"], capture_output=True, text=True,
                         timeout=300, env=env)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    job_id = [w for w in sub.stdout.split() if w.isdigit()][0]
    log = subprocess.run([*cli, "log", job_id], capture_output=True, text=True, env=env,
                         timeout=60).stdout
    assert "nmcluster: import pyhmf -> nmcluster.emulators.brainscales.legacy" in log
    assert "nmcluster: import nmpi -> nmcluster.compat.nmpi" in log
    assert "backend nmcluster.emulators.brainscales.legacy" in log


def test_modules_and_shell_env_opt_in():
    from nmcluster.modules import default_settings, render_modulefiles

    files = render_modulefiles(default_settings())
    assert 'append-path NMCLUSTER_COMPAT_NAMES "nmpi"' in files["nmcluster/0.1.0"]
    assert 'append-path NMCLUSTER_COMPAT_NAMES "spikey"' in files["spikey/station500"]
    assert 'append-path NMCLUSTER_COMPAT_NAMES "brainscales"' in files["wafer/w33"]
    assert 'append-path NMCLUSTER_COMPAT_NAMES "spinnaker"' in files["spinnaker/0.1.0"]
    for f in ("nmcluster/0.1.0", "spikey/station500", "wafer/w33", "spinnaker/0.1.0"):
        assert (REPO / "modulefiles" / f).read_text() == files[f]  # the repository's rendering
    out = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "shell-env"],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO))).stdout
    assert "export NMCLUSTER_COMPAT_NAMES=all" in out.splitlines()


# -- API shapes and cell types (in-process: the legacy modules are ordinary modules) -------------
def test_pynn07_shapes_and_refusals():
    import nmcluster.emulators.spikey.legacy as pynn

    pynn.setup()
    src = pynn.Population(4, pynn.SpikeSourceArray, {"spike_times": [10.0, 20.0]})
    nrn = pynn.Population(4, pynn.IF_facets_hardware1)
    prj = pynn.Projection(src, nrn, pynn.OneToOneConnector(weights=15 * pynn.minExcWeight()),
                          target="inhibitory")
    assert prj.receptor_type == "inhibitory"
    assert len(prj.getWeights()) == 4
    with pytest.raises(AttributeError, match=r"PyNN 0.13 form: projection.synapse_type"):
        prj.synapse_dynamics
    with pytest.raises(AttributeError, match=r"PyNN 0.13 form: population.all_cells"):
        nrn.cell
    with pytest.raises(AttributeError, match=r"PyNN 0.13 form: pyNN.random.NumpyRNG"):
        pynn.NativeRNG
    with pytest.raises(ValueError, match="disagree"):
        pynn.Projection(src, nrn, pynn.AllToAllConnector(weights=0.001), receptor_type="excitatory",
                        target="inhibitory")
    nrn[:2].record()
    pynn.run(50.0)
    assert pynn.Population is not pynn._sim.Population
    assert nrn.getSpikes().shape[1] == 2
    pynn.end()


@pytest.mark.parametrize("module,platform,missing,listed", [
    ("nmcluster.emulators.spikey", "Spikey", "IF_curr_exp", "IF_facets_hardware1"),
    ("nmcluster.emulators.spikey.legacy", "Spikey", "IF_curr_exp", "IF_facets_hardware1"),
    ("nmcluster.emulators.brainscales", "BrainScaleS", "HH_cond_exp", "EIF_cond_exp_isfa_ista"),
    ("nmcluster.emulators.brainscales.legacy", "BrainScaleS", "HH_cond_exp", "IF_cond_exp"),
])
def test_missing_cell_type_names_platform_and_its_types(module, platform, missing, listed):
    import importlib

    sim = importlib.import_module(module)
    with pytest.raises(AttributeError) as err:
        getattr(sim, missing)
    msg = str(err.value)
    assert f"{missing} is not available on {platform}" in msg and listed in msg
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        sim.no_such_thing

"""The guidebook's example scripts run on the emulators, as printed, with only the backend import
chosen by the job (``nmcluster run -p <partition>``: the job environment opts in to the platform's
import names, ``pyNN.hardware.spikey``, ``pyhmf``/``pymarocco``/``pylogging``, ``pyNN.spiNNaker``).

Scripts: ``examples/guidebook/`` (``printed/`` holds the guidebook's Python 2 originals; the files
next to it differ only in Python 2 syntax: ``print`` statements, ``PyMarocco.None`` ->
``PyMarocco.Without``).  The Spikey lessons are described, not printed, in the guidebook; their
scripts are written in the Spikey software's PyNN 0.7 API.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "examples" / "guidebook"
GUIDEBOOK = Path("/work/shared/reference/platform-guidebook.txt")


def _env(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "site.toml"  # isolated job root and calibration store
    cfg.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("MY_STAGE1_STATION", "NMCLUSTER_CALIB_ROOT", "NMCLUSTER_COMPAT_NAMES",
                        "NMCLUSTER_PARTITION", "SLURM_HICANNS", "SYMAP2IC_PATH", "PYNN_HW_PATH")}
    env.update(NMCLUSTER_CONFIG=str(cfg), MPLBACKEND="Agg")
    return env


def run_job(tmp_path: Path, partition: str, script: Path, *flags: str,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``nmcluster run -p <partition> --local -- python <script>`` in ``tmp_path``."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "run", "-p", partition,
                           "--local", *flags, "--", "python", str(script)],
                          capture_output=True, text=True, timeout=timeout, cwd=work,
                          env=_env(tmp_path))


def test_spinnaker_first_example_runs_as_printed(tmp_path):
    script = GUIDE / "spinnaker_first_example.py"
    assert script.read_text() == (GUIDE / "printed" / "spinnaker_first_example.py").read_text()
    out = run_job(tmp_path, "spinnaker", script, "--emulate")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "import pyNN.spiNNaker -> nmcluster.emulators.spinnaker" in out.stderr
    counts = eval(out.stdout.strip().splitlines()[-1])  # the script prints the spike-count dict
    assert len(counts) == 100 and counts[0] == 0  # input rate 0 Hz
    c = np.array([counts[i] for i in range(100)])
    assert c[99] > c[10] > 0  # output rate grows with the input rate
    assert (tmp_path / "work" / "simple_example.png").stat().st_size > 1000


def test_spikey_lesson1_rate_falls_with_g_leak(tmp_path):
    out = run_job(tmp_path, "spikey", GUIDE / "spikey_lesson1_gleak.py", "--station", "500")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "import pyNN.hardware.spikey -> nmcluster.emulators.spikey.legacy" in out.stderr
    table = np.loadtxt(tmp_path / "work" / "lesson1_rates.txt")
    g, rate = table[:, 0], table[:, 1]
    assert list(g) == [10.0, 20.0, 40.0, 80.0]
    assert np.all(np.diff(rate) < 0), rate
    assert rate[0] > 20.0 and rate[-1] < rate[0] / 5, rate


def test_spikey_lesson5_stp_depresses_and_recovers(tmp_path):
    out = run_job(tmp_path, "spikey", GUIDE / "spikey_lesson5_stp.py", "--station", "500")
    assert out.returncode == 0, out.stderr[-3000:]
    h = np.loadtxt(tmp_path / "work" / "lesson5_epsp_heights.txt")[:, 1]
    assert h[0] > 5.0, h  # a visible first EPSP
    assert np.all(h[1:8] < 0.6 * h[0]), h  # depressed during the 40 Hz train
    assert np.all(np.diff(h[1:8]) <= 0.05 * h[0]), h  # ... monotonically (within noise)
    assert h[8] > 0.8 * h[0], h  # recovered after 800 ms


def test_ess_adex_example_runs_and_tells_no_effect_settings_once(tmp_path):
    out = run_job(tmp_path, "ess", GUIDE / "nmpm1_adex_neuron_ess.py", "--wafer", "33")
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("pyhmf", "pymarocco", "pylogging", "Coordinate"):
        assert f"import {name} -> nmcluster.emulators.brainscales" in out.stderr
    spikes = re.findall(r"^Neuron\s+0\s+spiked at\s+([\d.]+)", out.stdout, re.M)
    assert 1 <= len(spikes) <= 9, out.stdout  # driven by the 9 input spikes, not firing alone
    assert float(spikes[0]) > 10.0  # after the first input spike
    log = (tmp_path / "work" / "logfile.txt").read_text()  # pylogging.default_config(fname=)
    told = [line for line in log.splitlines() if "without effect on the emulated wafer" in line]
    assert len(told) == 1, log
    for setting in ("experiment_time_offset=5e-07", "param_trafo.use_big_capacitors=False",
                    "skip_hicanns_without_neuron_blacklisting=False"):
        assert setting in told[0]
    assert "BrainScaleS mapping: 1 neurons" in log  # INFO level reaches the file
    persisted = json.loads((tmp_path / "work" / "nmpml_adex_neuron_ess.bin").read_text())
    assert persisted["stats"]["synapses_set"] == 1


def test_placement_example_prints_the_guidebooks_denmems(tmp_path):
    out = run_job(tmp_path, "wafer", GUIDE / "marocco_placement.py", "--wafer", "33", "--emulate")
    assert out.returncode == 0, out.stderr[-3000:]
    expected = ["NeuronOnWafer(NeuronOnHICANN(X(0), top), HICANNOnWafer(X(5), Y(5)))",
                "NeuronOnWafer(NeuronOnHICANN(X(1), top), HICANNOnWafer(X(5), Y(5)))",
                "NeuronOnWafer(NeuronOnHICANN(X(0), bottom), HICANNOnWafer(X(5), Y(5)))",
                "NeuronOnWafer(NeuronOnHICANN(X(1), bottom), HICANNOnWafer(X(5), Y(5)))"]
    assert out.stdout.strip().splitlines()[-4:] == expected
    if GUIDEBOOK.is_file():  # the guidebook's lines (which misprint HICANNOnWafer there too)
        text = GUIDEBOOK.read_text().replace("HICANNOOnWafer", "HICANNOnWafer")
        assert all(line in text for line in expected)
    assert "HICANNOOnWafer is a misprint" in out.stderr


def test_none_backend_maps_without_simulating(tmp_path):
    out = run_job(tmp_path, "ess", GUIDE / "marocco_none_backend.py", "--wafer", "33")
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^Populations:\n\s+0th element:\s+0x[0-9a-f]+\s+Population\(IF_cond_exp, 1\)",
                     out.stdout, re.M), out.stdout
    assert "nothing was simulated" in out.stderr


def test_printed_python2_scripts_are_python2_and_differ_only_in_syntax():
    """The measurement in README: the printed BrainScaleS scripts cannot compile under Python 3;
    their runnable forms differ from them only in the Python 2 lines."""
    for name in ("nmpm1_adex_neuron_ess.py", "marocco_placement.py", "marocco_none_backend.py"):
        printed = (GUIDE / "printed" / name).read_text()
        with pytest.raises(SyntaxError):
            compile(printed, name, "exec")
        ours = (GUIDE / name).read_text().splitlines()
        changed = [line for line in ours if line not in printed.splitlines()]
        assert all("print(" in line or "Without" in line or line.startswith("#")
                   for line in changed), changed


def test_printed_python2_script_fails_with_the_fix_named(tmp_path):
    out = run_job(tmp_path, "ess", GUIDE / "printed" / "nmpm1_adex_neuron_ess.py", "--wafer", "33")
    assert out.returncode == 1
    assert "SyntaxError" in out.stderr
    assert ("nmcluster: this looks like a Python 2 script (as the guidebook prints it): "
            "PyMarocco.None / Defects.Backend.None are PyMarocco.Without") in out.stderr


def test_python2_hints():
    from nmcluster._compat_names import python2_hint

    def err(src: str) -> SyntaxError:
        try:
            compile(src, "x.py", "exec")
        except SyntaxError as exc:
            return exc
        raise AssertionError(src)

    assert python2_hint(err('print "spiked at", 3\n')) == "print is a function in Python 3: print(...)"
    assert "PyMarocco.Without" in python2_hint(err("m.backend = PyMarocco.None\n"))
    assert python2_hint(err("x = (\n")) is None
    assert python2_hint(ValueError("x")) is None

"""SpiNNaker jobs sized from the script before queueing (``submit --size-from-script`` / ``{"BOARDS":
"auto"}``): the script's network is built on the emulator in partition-only mode, its partitioning report
decides the boards; too large for the site -> exit code 2, nothing queued."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyNN.nmcluster.spinnaker")

SCRIPT = """\
import importlib, json, os, sys
sim = importlib.import_module("pyNN." + sys.argv[1])
n = int(sys.argv[2])
sim.setup(timestep=1.0)
sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 1)  # one neuron per core: many cores, few neurons
pop = sim.Population(n, sim.IF_curr_exp())
sim.run(5.0)
json.dump({"boards": os.environ.get("NMCLUSTER_SPINNAKER_BOARDS"), "backend": sys.argv[1]},
          open("ran.json", "w"))
sim.end()
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    exp = tmp_path / "spinn"
    exp.mkdir()
    (exp / "net.py").write_text(SCRIPT)
    return exp


def test_partition_only_mode_writes_the_report_and_does_not_simulate(script, tmp_path):
    import os

    env = dict(os.environ, NMCLUSTER_SPINNAKER_PARTITION_ONLY=str(tmp_path / "rep.json"))
    p = subprocess.run([sys.executable, "net.py", "nmcluster.spinnaker", "40"], cwd=script, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert (rep["cores"], rep["chips"], rep["boards"]) == (40, 3, 1)
    assert not (script / "ran.json").exists()


def test_submit_size_from_script_requests_the_boards_the_network_needs(local_site, script):
    # 1000 cores -> 63 chips -> two 48-chip boards (the default site has two)
    job = local_site.submit(str(script), "-p", "spinnaker", "--size-from-script",
                            "--command", "net.py {system} 1000")
    rec = local_site.wait(job, timeout=120)
    assert rec["status"] == "finished", local_site.cli("log", str(job)).stdout
    assert rec["hardware_config"]["BOARDS"] == 2
    out = json.loads((local_site.job_root / str(job) / "work" / "ran.json").read_text())
    assert out == {"boards": "2", "backend": "nmcluster.spinnaker"}
    # a small network: one board; the hardware-config form works the same way
    job = local_site.submit(str(script), "-p", "spinnaker", "--config", '{"BOARDS": "auto"}',
                            "--command", "net.py {system} 20")
    assert local_site.wait(job, timeout=120)["hardware_config"]["BOARDS"] == 1


def test_size_from_script_too_large_for_the_site_is_refused_before_queueing(local_site, script):
    # 2000 cores -> 125 chips -> 3 boards; the site has 2
    p = local_site.cli("submit", str(script), "-p", "spinnaker", "--size-from-script",
                       "--command", "net.py {system} 2000")
    assert p.returncode == 2, p.stderr
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1 and "2000 cores on 125 chips" in err and "has 2" in err, err
    assert local_site.records() == [] and local_site.leftovers() == []


def test_size_from_script_errors_are_one_line(local_site, script):
    (script / "norun.py").write_text("import sys\n")
    p = local_site.cli("submit", str(script), "-p", "spinnaker", "--size-from-script",
                       "--command", "norun.py {system}")
    assert p.returncode == 2 and "without calling run()" in p.stderr
    p = local_site.cli("submit", str(script), "-p", "spikey", "--size-from-script")
    assert p.returncode == 2 and "--size-from-script" in p.stderr
    assert local_site.records() == [] and local_site.leftovers() == []

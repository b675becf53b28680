"""Job level: ``nmcluster run --local -p BrainScaleS-ESS|spinnaker -- python example {system}``
runs the examples on our wafer / SpiNNaker emulators."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def site(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLURM_CONF", "SLURM_HICANNS", "NMCLUSTER_WAFER", "NMCLUSTER_PARTITION",
                        "SLURM_DEFECTS_PATH")}
    env.update(NMCLUSTER_CONFIG=str(cfg), NMCLUSTER_QUIET="1")
    return env


def _run(env, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "run", "--local", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=240)


def test_ess_job_uses_wafer_emulator(site, tmp_path):
    shutil.copy(EXAMPLES / "brainscales_synapse_loss.py", tmp_path)
    proc = _run(site, tmp_path, "-p", "BrainScaleS-ESS", "--wafer", "33", "--hicann", "297",
                "--", "python", "brainscales_synapse_loss.py", "{system}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads((tmp_path / "mapping_stats.json").read_text())
    assert out["backend"] == "nmcluster.brainscales"
    assert out["synapses_lost"] > 0
    assert out["synapses_lost"] + out["synapses_set"] == out["synapses"]
    assert out["hicanns"] == [297]  # placed on the job's SLURM_HICANNS
    assert "synapse_loss" in proc.stdout


def test_spinnaker_job_uses_spinnaker_emulator(site, tmp_path):
    shutil.copy(EXAMPLES / "spinnaker_balanced.py", tmp_path)
    proc = _run(site, tmp_path, "-p", "spinnaker", "--", "python", "spinnaker_balanced.py",
                "{system}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads((tmp_path / "spinnaker_result.json").read_text())
    assert out["backend"] == "nmcluster.spinnaker"
    assert out["partitioning"]["cores"] == 6  # exc 2 + inh 1 + their sources 2 + 1 and out["partitioning"]["boards"] == 1
    assert out["rate_hz"] > 1.0

"""``import nmpi`` scripts from the guidebook (section 3.3) run unmodified once the user opts in with
``eval "$(nmcluster shell-env)"``; without opting in, a real ``nmpi`` package is never shadowed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Guidebook 3.3: create a client, submit (git repository, input data, command "run.py {system}"),
# poll job_status, get_job with the log, pprint it, download_data.  Only paths differ.
GUIDEBOOK_SCRIPT = '''\
import json
import time
from pprint import pprint

import nmpi

c = nmpi.Client("myusername")
token = c.token
new_client = nmpi.Client("myusername", token=token)

job_id = c.submit_job(source=REPO,
                      platform=nmpi.SPINNAKER,
                      collab_id=141,
                      inputs=[STIM],
                      command="run.py {system}")

while c.job_status(job_id) not in ("finished", "error"):
    time.sleep(0.2)

job = c.get_job(job_id, with_log=True)
pprint(job)
filenames = c.download_data(job, local_dir=".")

job2 = new_client.submit_job(source=SCRIPT, platform=nmpi.BRAINSCALES, collab_id=563,
                             config={"WAFER": 33, "HICANNS": [297]}, wait=True)
print("RESULT " + json.dumps({"job": job, "filenames": filenames, "status2": job2["status"],
                              "queued": c.queued_jobs(), "completed": c.completed_jobs(collab_id=141),
                              "module": nmpi.__file__}))
'''


def shell_env_lines(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "shell-env", *args],
                         capture_output=True, text=True, check=True)
    return out.stdout


def run_opted_in(script: Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """What a user types: eval the shell-env lines, then run the script with the Python they use."""
    bash = (f'eval "$({sys.executable} -m nmcluster.cli.main shell-env)" && '
            f'exec {sys.executable} {script}')
    return subprocess.run(["bash", "-c", bash], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def script_env(client_site) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_guidebook_script_runs_unmodified(client_site, executor, bare_repo, experiment_dir, stim, tmp_path,
                                          script_env):
    script = tmp_path / "guidebook.py"
    script.write_text(GUIDEBOOK_SCRIPT.replace("REPO", repr(bare_repo.as_uri()))
                      .replace("STIM", repr(str(stim))).replace("SCRIPT", repr(str(experiment_dir / "run.py"))))
    work = tmp_path / "cwd"
    work.mkdir()
    proc = run_opted_in(script, work, script_env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    job = result["job"]
    assert job["status"] == "finished", job["log"]
    assert job["hardware_platform"] == "SpiNNaker" and job["collab_id"] == 141
    assert job["code"] == bare_repo.as_uri()
    assert "'hardware_platform': 'SpiNNaker'" in proc.stdout  # pprint(job) worked
    assert sorted(result["filenames"]) == sorted([f"./job_{job['id']}/figures/plot.txt",
                                                  f"./job_{job['id']}/result.json"])
    ran = json.loads((work / f"job_{job['id']}" / "result.json").read_text())
    assert ran["stim"] == "stimulus 42"
    assert ran["argv"] == [job["provenance"]["backend"]]
    assert result["status2"] == "finished"
    assert result["queued"] == [] and result["completed"] == [f"/api/v2/results/{job['id']}"]
    assert Path(result["module"]).parent.parent.parent.name == "nmcluster"  # nmcluster/compat/nmpi


def test_real_nmpi_is_not_shadowed_without_opt_in(tmp_path, script_env):
    real = tmp_path / "site" / "nmpi"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("REAL = True\n")
    probe = tmp_path / "probe.py"
    probe.write_text("import nmpi\nprint(getattr(nmpi, 'REAL', False), hasattr(nmpi, 'Client'))\n")
    env = dict(script_env, PYTHONPATH=str(tmp_path / "site"))
    plain = subprocess.run([sys.executable, str(probe)], env=env, capture_output=True, text=True, check=True)
    assert plain.stdout.split() == ["True", "False"]
    opted = run_opted_in(probe, tmp_path, env)
    assert opted.returncode == 0, opted.stderr
    assert opted.stdout.split() == ["False", "True"]  # opting in puts nmcluster's nmpi first
    without = subprocess.run([sys.executable, "-c", "import nmpi"], env=script_env, capture_output=True, text=True)
    assert without.returncode != 0 and "No module named 'nmpi'" in without.stderr


def test_shell_env_formats(tmp_path):
    from nmcluster.compat import COMPAT_PATH

    sh = shell_env_lines("--remote", "alice@frontend")
    assert str(COMPAT_PATH) in sh and "export NMCLUSTER_HOST=alice@frontend" in sh
    out = subprocess.run(["bash", "-c", f'PYTHONPATH=/x; eval "{sh}"; echo "$PYTHONPATH|$NMCLUSTER_HOST"'],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"{COMPAT_PATH}:/x|alice@frontend"
    out = subprocess.run(["bash", "-c", f'unset PYTHONPATH; eval "{shell_env_lines()}"; echo "$PYTHONPATH"'],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(COMPAT_PATH)
    assert "setenv PYTHONPATH" in shell_env_lines("--shell", "csh")
    assert "set -gx PYTHONPATH" in shell_env_lines("--shell", "fish")


def test_compat_module_layout():
    sys.path.insert(0, str(Path(__import__("nmcluster.compat", fromlist=["x"]).COMPAT_PATH)))
    try:
        import nmpi
        from nmpi.nmpi_user import Client

        assert Client is nmpi.Client
        assert (nmpi.SPIKEY, nmpi.BRAINSCALES, nmpi.ESS, nmpi.SPINNAKER) == \
            ("Spikey", "BrainScaleS", "BrainScaleS-ESS", "SpiNNaker")
    finally:
        sys.path.pop(0)
        for name in [m for m in sys.modules if m == "nmpi" or m.startswith("nmpi.")]:
            del sys.modules[name]

"""The nmpi-compatible Client over SSH: ``Client(host=...)`` and ``$NMCLUSTER_HOST``, every method."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import nmcluster.client as nmpi
from nmcluster.errors import JobNotFoundError, JobStateError


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "run.py").write_text(
        "import json, os, sys, time\n"
        "if '--sleep' in sys.argv: time.sleep(float(sys.argv[sys.argv.index('--sleep') + 1]))\n"
        "os.makedirs('figs', exist_ok=True)\n"
        "open('figs/a.txt', 'w').write('a')\n"
        "json.dump({'argv': sys.argv[1:], 'stim': open('stim.txt').read()}, open('out.json', 'w'))\n")
    return folder


def wait_status(client, job_id, wanted, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.job_status(job_id)
        if status in wanted:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {status}")


def test_every_client_method_over_ssh(ssh_home, exp, tmp_path):
    stim = tmp_path / "stim.txt"
    stim.write_text("remote stim")
    before = ssh_home.accepted_logins()
    c = nmpi.Client("myusername", host="testfrontend")
    try:
        job_id = c.submit_job(source=str(exp), platform=nmpi.SPIKEY, collab_id=141, inputs=[str(stim)],
                              config={"STATION": "station501"}, command="run.py {system}", tags=["r"])
        assert wait_status(c, job_id, ("finished", "error")) == "finished"
        job = c.get_job(job_id, with_log=True)
        assert job["status"] == "finished" and job["hardware_platform"] == "Spikey" and job["collab_id"] == 141
        assert job["code"] == str(exp) and job["provenance"]["host"] == ssh_home.target
        urls = [o["url"] for o in job["output_data"]]
        assert all(u.startswith(f"sftp://{ssh_home.user}@127.0.0.1:{ssh_home.port}/") for u in urls)
        files = c.download_data(job, local_dir=str(tmp_path / "dl"), include_input_data=True)
        base = tmp_path / "dl" / f"job_{job_id}"
        assert sorted(files) == sorted(str(base / n) for n in ("figs/a.txt", "out.json", "stim.txt"))
        assert json.loads((base / "out.json").read_text())["stim"] == "remote stim"

        blocker = c.submit_job(str(exp), nmpi.SPIKEY, collab_id=141, config={"STATION": 500},
                               command="run.py {system} --sleep 60", inputs=[str(stim)])
        wait_status(c, blocker, ("running",))
        queued = c.submit_job(str(exp), nmpi.SPIKEY, config={"STATION": 500}, inputs=[str(stim)])
        time.sleep(0.5)
        assert c.queued_jobs() == [f"/api/v2/queue/{queued}"]
        assert c.queued_jobs(verbose=True)[0]["id"] == queued
        c.remove_queued_job(queued)
        with pytest.raises(JobNotFoundError):
            c.job_status(queued)
        with pytest.raises(JobStateError):
            c.remove_completed_job(blocker)
        c.service.cancel(blocker)
        wait_status(c, blocker, ("error",))
        assert c.completed_jobs(collab_id=141) == [f"/api/v2/results/{blocker}", f"/api/v2/results/{job_id}"]
        assert [j["status"] for j in c.completed_jobs(141, verbose=True)] == ["error", "finished"]
        c.remove_completed_job(blocker)
        c.remove_completed_job(job_id)
        assert c.completed_jobs(141) == []

        waited = c.submit_job("print('waited')\n", nmpi.SPINNAKER, command="{system}", wait=True)
        assert waited["status"] == "finished" and "waited" in waited["log"]
    finally:
        c.close()
    assert ssh_home.wait_logins(before + 1) == before + 1  # the client kept one connection


def test_nmcluster_host_environment_makes_nmpi_scripts_remote(ssh_home, monkeypatch, exp, tmp_path):
    monkeypatch.setenv("NMCLUSTER_HOST", "testfrontend")
    stim = tmp_path / "stim.txt"
    stim.write_text("x")
    with nmpi.Client("myusername") as c:
        assert c.host == "testfrontend"
        job = c.submit_job(str(exp), nmpi.SPINNAKER, inputs=[str(stim)], wait=True)
        assert job["status"] == "finished"
        assert Path(job["provenance"]["job_dir"]).parent == ssh_home.remote_job_root
    with nmpi.Client("me", host="") as local:  # "" forces this machine
        assert local.host is None

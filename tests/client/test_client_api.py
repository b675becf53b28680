"""Every method of the nmpi-compatible Client, on the local executor and on the real Slurm test cluster."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

import nmcluster.client as nmpi
from nmcluster.errors import JobNotFoundError, JobStateError, UserInputError

SPEC_FIELDS = {"id", "status", "code", "command", "hardware_platform", "hardware_config", "input_data",
               "output_data", "log", "timestamp_submission", "timestamp_completion", "user", "tags"}


def wait_status(client, job_id, wanted, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.job_status(job_id)
        if status in wanted:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {status}, wanted {wanted}")


def test_platform_constants_match_nmpi():
    assert (nmpi.SPIKEY, nmpi.BRAINSCALES, nmpi.ESS, nmpi.SPINNAKER) == \
        ("Spikey", "BrainScaleS", "BrainScaleS-ESS", "SpiNNaker")


def test_submit_status_get_job_download(client, executor, experiment_dir, stim, tmp_path):
    job_id = client.submit_job(source=str(experiment_dir), platform=nmpi.SPIKEY, collab_id=563,
                               config={"STATION": "station500"}, inputs=[str(stim)],
                               command="run.py {system} --opt=1", tags=["test", "client"])
    assert isinstance(job_id, int)
    assert client.job_status(job_id) in ("submitted", "running", "finished")
    assert wait_status(client, job_id, ("finished", "error")) == "finished", client.get_job(job_id)["log"]

    job = client.get_job(job_id, with_log=True)
    assert SPEC_FIELDS <= set(job)
    assert job["id"] == job_id and job["status"] == "finished"
    assert job["hardware_platform"] == "Spikey"
    assert job["hardware_config"] == {"STATION": "station500"}
    assert job["code"] == str(experiment_dir)
    assert job["command"] == "run.py {system} --opt=1"
    assert job["tags"] == ["test", "client"]
    assert job["collab_id"] == 563
    assert job["user"]
    assert job["resource_uri"] == f"/api/v2/results/{job_id}"
    for key in ("timestamp_submission", "timestamp_completion"):
        dt.datetime.fromisoformat(job[key])  # ISO 8601
    assert job["timestamp_completion"] >= job["timestamp_submission"]
    assert "experiment ran with" in job["log"]
    assert [i["source"] for i in job["input_data"]] == [str(stim)]
    assert all(i["url"].startswith("file://") for i in job["input_data"] + job["output_data"])
    assert sorted(o["name"] for o in job["output_data"]) == ["figures/plot.txt", "result.json"]
    assert job["provenance"]["executor"] == executor
    assert job["provenance"]["exit_code"] == 0
    assert "log" not in client.get_job(job_id, with_log=False)

    files = client.download_data(job, local_dir=str(tmp_path / "dl"))
    base = tmp_path / "dl" / f"job_{job_id}"
    assert sorted(files) == sorted(str(base / n) for n in ("figures/plot.txt", "result.json"))
    result = json.loads((base / "result.json").read_text())
    assert result["argv"][1:] == ["--opt=1"]
    assert result["stim"] == "stimulus 42"
    assert result["station"] == "station500"
    if executor == "slurm":
        assert result["account"] == "563"  # collab_id -> Slurm account

    with_inputs = client.download_data(job, local_dir=str(tmp_path / "dl2"), include_input_data=True)
    assert str(tmp_path / "dl2" / f"job_{job_id}" / "stim.txt") in with_inputs
    assert len(job["output_data"]) == 2  # the dict given is not modified

    only_plot = dict(job, output_data=[o for o in job["output_data"] if o["name"] == "figures/plot.txt"])
    assert client.download_data(only_plot, local_dir=str(tmp_path / "dl3")) == \
        [str(tmp_path / "dl3" / f"job_{job_id}" / "figures" / "plot.txt")]
    assert client.get_job(f"/api/v2/results/{job_id}", with_log=False)["id"] == job_id


def test_wait_returns_the_finished_job(client, experiment_dir):
    job = client.submit_job(str(experiment_dir), "spinnaker", wait=True)
    assert isinstance(job, dict)
    assert job["status"] == "finished" and job["hardware_platform"] == "SpiNNaker"
    assert "experiment ran with" in job["log"]


def test_single_script_and_pasted_text(client, experiment_dir, tmp_path):
    script = experiment_dir / "run.py"
    job = client.submit_job(source=str(script), platform="SpiNNaker", command="run.py {system}", wait=True)
    assert job["status"] == "finished", job["log"]
    text = "import sys\nopen('text.txt', 'w').write(sys.argv[1])\n"
    job = client.submit_job(source=text, platform=nmpi.SPINNAKER, wait=True)
    assert job["status"] == "finished", job["log"]
    assert job["code"] == text
    files = client.download_data(job, local_dir=str(tmp_path / "t"))
    assert Path(files[0]).read_text() == job["provenance"]["backend"]


def test_failing_job_is_error(client, experiment_dir):
    job = client.submit_job(str(experiment_dir), nmpi.SPIKEY, command="fail.py", wait=True)
    assert job["status"] == "error"
    assert job["provenance"]["exit_code"] == 3
    assert "about to fail" in job["log"]


def test_queued_completed_and_removal(client, executor, experiment_dir):
    blocker = client.submit_job(str(experiment_dir), nmpi.SPIKEY, collab_id="a", config={"STATION": 500},
                                command="run.py {system} --sleep 60")
    wait_status(client, blocker, ("running",))
    queued = client.submit_job(str(experiment_dir), nmpi.SPIKEY, collab_id="b", config={"STATION": 500})
    time.sleep(0.5)
    assert client.job_status(queued) == "submitted"  # waits for the station
    assert client.queued_jobs() == [f"/api/v2/queue/{queued}"]
    verbose = client.queued_jobs(verbose=True)
    assert [j["id"] for j in verbose] == [queued] and verbose[0]["status"] == "submitted"

    with pytest.raises(JobStateError):
        client.remove_queued_job(blocker)  # running, not queued
    with pytest.raises(JobStateError):
        client.remove_completed_job(queued)  # not completed
    client.remove_queued_job(queued)
    with pytest.raises(JobNotFoundError):
        client.get_job(queued)
    assert client.queued_jobs() == []

    client.service.cancel(blocker)
    assert wait_status(client, blocker, ("finished", "error")) == "error"
    done = client.submit_job(str(experiment_dir), nmpi.SPINNAKER, collab_id="b", wait=True)
    assert client.completed_jobs() == [f"/api/v2/results/{done['id']}", f"/api/v2/results/{blocker}"]
    assert client.completed_jobs(collab_id="b") == [f"/api/v2/results/{done['id']}"]
    assert [j["status"] for j in client.completed_jobs("a", verbose=True)] == ["error"]

    client.remove_completed_job(done["id"])
    client.remove_completed_job(blocker)
    assert client.completed_jobs() == []
    with pytest.raises(JobNotFoundError):
        client.job_status(blocker)


def test_bad_input_queues_nothing(client, experiment_dir):
    with pytest.raises(UserInputError, match="unknown platform"):
        client.submit_job(str(experiment_dir), "NoSuchChip")
    with pytest.raises(UserInputError, match="station 999"):
        client.submit_job(str(experiment_dir), nmpi.SPIKEY, config={"STATION": 999})
    with pytest.raises(UserInputError):
        client.submit_job(str(experiment_dir), nmpi.SPIKEY, config="[1, 2]")
    with pytest.raises(UserInputError, match="does not exist"):
        client.submit_job(str(experiment_dir / "missing.py"), nmpi.SPIKEY)
    assert client.queued_jobs() == [] and client.completed_jobs() == []


def test_resubmitting_an_edited_folder_never_runs_a_stale_copy(client, tmp_path):
    folder = tmp_path / "edited"
    folder.mkdir()
    (folder / "run.py").write_text("open('v.txt', 'w').write('1')\n")
    first = client.submit_job(str(folder), nmpi.SPINNAKER)
    (folder / "run.py").write_text("open('v.txt', 'w').write('2')\n")
    second = client.submit_job(str(folder), nmpi.SPINNAKER, wait=True)
    wait_status(client, first, ("finished", "error"))
    got = {}
    for job_id in (first, second["id"]):
        (path,) = client.download_data(client.get_job(job_id), local_dir=str(tmp_path / "v"))
        got[job_id] = Path(path).read_text()
    assert got == {first: "1", second["id"]: "2"}


def test_guidebook_username_token_and_password_are_harmless(client_site):
    c = nmpi.Client("someone", password="secret", token="tok", job_service="https://example.org/api/v2/")
    assert c.token == "tok" and c.username == "someone"
    assert "secret" not in repr(vars(c))
    c.close()


def test_site_config_and_executor_arguments(tmp_path, monkeypatch, experiment_dir):
    monkeypatch.delenv("NMCLUSTER_CONFIG", raising=False)
    monkeypatch.delenv("NMCLUSTER_HOST", raising=False)
    config = tmp_path / "own-site.toml"
    config.write_text(f'job_root = "{tmp_path / "own-jobs"}"\nexecutor = "slurm"\n')
    with nmpi.Client(site_config=str(config), executor="local") as c:
        job = c.submit_job(str(experiment_dir), nmpi.SPINNAKER, wait=True)
        assert job["status"] == "finished" and job["provenance"]["executor"] == "local"
        assert Path(job["provenance"]["job_dir"]).parent == tmp_path / "own-jobs"

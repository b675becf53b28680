"""The typed job file (job.json): written by the service, validated when the runner reads it; the
untyped version-1 files of jobs queued before it still read."""

from __future__ import annotations

import json

import pytest

from nmcluster.executors.jobfile import JOB_FILE, RESULT_FILE, ArrayTask, JobFile, JobFileError
from nmcluster.partitions.base import ResourceRequest

REQUEST = ResourceRequest(kind="spikey", slurm_partition="spikey", slurm_args=("--gres=station:s500:1",),
                          environment={"MY_STAGE1_STATION": "station500"}, hardware_config={"STATION": "station500"},
                          description="spikey station500", lock_keys=("station500",),
                          backends=("hardware.spikey", "nest"), hardware_backend="hardware.spikey",
                          emulator_backends=("nest",))


def test_round_trip(tmp_path):
    job = JobFile(id=7, command="run.py {system} 3", request=REQUEST, mode="emulate", submitted=1.5,
                  inputs=("data.txt",), code_kind="folder", spec={"code": "x"}, array=ArrayTask(3, 4, 4))
    job.write(tmp_path)
    data = json.loads((tmp_path / JOB_FILE).read_text())
    assert data["version"] == 2 and data["array"] == {"task": 3, "count": 4, "first_id": 4}
    assert "lock_keys" not in data  # the local executor hands the lock directory to the runner
    back = JobFile.read(tmp_path)
    assert back == job and back.request.lock_keys == ("station500",)


def test_version_1_still_reads(tmp_path):
    """What the service wrote before the job file had a type (local executor: with lock keys)."""
    old = {"id": 12, "spec": {"code": "run.py"}, "command": "run.py {system}", "inputs": [], "code_kind": "script",
           "request": REQUEST.to_dict(), "mode": "auto", "executor": "local", "submitted": 1700000000.0,
           "lock_keys": ["station500"], "lock_dir": "/tmp/locks"}
    (tmp_path / JOB_FILE).write_text(json.dumps(old))
    job = JobFile.read(tmp_path)
    assert (job.version, job.id, job.lock_keys, job.lock_dir, job.array) == (1, 12, ("station500",), "/tmp/locks", None)
    assert job.request == REQUEST


@pytest.mark.parametrize("change, message", [
    ({"command": None}, "command is missing"),
    ({"id": "12"}, "id has the wrong type"),
    ({"id": True}, "id must be int"),
    ({"mode": "fast"}, "mode 'fast' is not one of"),
    ({"version": 9}, "version 9 is not known"),
    ({"request": {"kind": "spikey"}}, "request is incomplete"),
    ({"array": {"task": 1}}, "array is incomplete"),
    ({"inputs": [1]}, "lists of strings"),
])
def test_damaged_files_are_one_error(tmp_path, change, message):
    data = JobFile(id=12, command="run.py", request=REQUEST).to_dict()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    (tmp_path / JOB_FILE).write_text(json.dumps(data))
    with pytest.raises(JobFileError, match=message) as info:
        JobFile.read(tmp_path)
    assert str(tmp_path / JOB_FILE) in str(info.value)


def test_runner_ends_a_damaged_job_with_a_result(tmp_path):
    from nmcluster.executors.runner import run_batch

    (tmp_path / JOB_FILE).write_text("{not json")
    assert run_batch(tmp_path) == 2
    result = json.loads((tmp_path / RESULT_FILE).read_text())
    assert result["state"] == "error" and "is not valid JSON" in result["reason"] and result["exit_code"] == 2

"""The provider bridge (``nmcluster provider run``) against ``nmcluster serve`` holding SpiNNaker jobs for a
provider: queued jobs are taken once, run on the bridge's own site and end ``finished`` with their output
files (or ``error`` with the reason); SIGKILL of the bridge mid-run, then a restart, loses nothing and runs
nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.server.conftest import REPO, nmc, start_server, stop_server

SLOW = '''\
import sys, time
time.sleep(2.0)
open("out-{n}.txt", "w").write("result {n}")
print("job {n} done on", sys.argv[1:])
'''


@pytest.fixture
def queue(tmp_path):
    pytest.importorskip("fastapi")
    srv = start_server(tmp_path / "queue", extra='provider_platforms = ["SpiNNaker"]\nmax_upload_bytes = 65536\n')
    srv.tokens = {"alice": srv.token("alice")}
    yield srv
    stop_server(srv)


def bridge_env(tmp: Path, key: str) -> dict[str, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "site.toml").write_text(f'job_root = "{tmp / "jobs"}"\nexecutor = "local"\n')
    env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "cfg"),
           "NMCLUSTER_CONFIG": str(tmp / "site.toml"), "PYTHONPATH": str(REPO), "NMCLUSTER_PROVIDER_KEY": key}
    env.pop("SLURM_CONF", None)
    return env


def bridge_cmd(queue, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nmcluster.cli.main", "provider", "run", "--queue", queue.url,
            "--platform", "SpiNNaker", "--interval", "0.2", *extra]


def local_jobs(bridge_tmp: Path) -> list:
    from nmcluster.jobs.store import JobStore

    with JobStore(bridge_tmp / "jobs" / "jobs.sqlite") as store:
        return store.list(include_final=True)


def test_bridge_takes_runs_reports_and_survives_sigkill(queue, tmp_path):
    key = nmc(["admin", "token", "create", "manchester", "--provider", "SpiNNaker"], queue.env).stdout.strip()
    alice = queue.tokens["alice"]
    ids = []
    for n in range(3):
        status, job = queue.json("POST", "/jobs/", alice, {"code": SLOW.format(n=n), "collab": "563",
                                                           "hardware_platform": "SpiNNaker", "tags": [f"n{n}"]})
        assert status == 201 and job["status"] == "submitted", job
        ids.append(job["id"])
    status, bad = queue.json("POST", "/jobs/", alice, {"code": "print(1)\n", "command": "other.py {system}",
                                                       "collab": "563", "hardware_platform": "SpiNNaker"})
    assert status == 201
    # a user token is no provider key, and a key of another platform is refused
    assert queue.request("GET", "/jobs/next/SpiNNaker", alice)[0] == 401
    wafer_key = nmc(["admin", "token", "create", "heidelberg", "--provider", "BrainScaleS"], queue.env).stdout.strip()
    assert queue.request("GET", "/jobs/next/SpiNNaker", headers={"x-api-key": wafer_key})[0] == 403
    assert queue.request("PUT", f"/jobs/{ids[0]}", body=b'{"status": "finished"}',
                         headers={"x-api-key": wafer_key, "Content-Type": "application/json"})[0] == 403

    btmp = tmp_path / "bridge"
    env = bridge_env(btmp, key)
    proc = subprocess.Popen(bridge_cmd(queue), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # wait until the bridge runs jobs locally, then SIGKILL it mid-run
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = [r for r in local_jobs(btmp) if r.status == "running"] if (btmp / "jobs" / "jobs.sqlite").exists() else []
        if running:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"the bridge ran nothing: {proc.stdout.read().decode()[-2000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    states = {i: queue.json("GET", f"/jobs/{i}", alice)[1]["status"] for i in ids}
    assert "running" in states.values() and not set(states.values()) <= {"finished"}, states

    # restart with --once: finishes what it took, takes the rest, exits when nothing is left
    again = subprocess.run(bridge_cmd(queue, "--once"), env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    for n, job_id in enumerate(ids):
        status, job = queue.json("GET", f"/jobs/{job_id}?with_log=true", alice)
        assert job["status"] == "finished", job
        assert f"job {n} done on" in job["log"]
        assert [f["path"] for f in job["output_data"]["files"]] == [f"job_{job_id}/out-{n}.txt"]
        url = urllib.parse.urlsplit(job["output_data"]["files"][0]["url"])
        assert queue.request("GET", f"{url.path}?{url.query}") == (200, f"result {n}".encode())
        assert job["resource_usage"]["value"] > 0
    status, job = queue.json("GET", f"/jobs/{bad['id']}?with_log=true", alice)
    assert job["status"] == "error" and "other.py" in job["log"]
    # exactly one local job per queue job: nothing lost, nothing twice
    tags = sorted(t for r in local_jobs(btmp) for t in r.tags if t.startswith("nmpi-"))
    assert len(tags) == 3 and len(set(tags)) == 3, tags
    assert all(r.status == "finished" for r in local_jobs(btmp))
    # nothing left for a provider; a further run changes nothing
    assert queue.request("GET", "/jobs/next/SpiNNaker", headers={"x-api-key": key})[0] == 404
    assert subprocess.run(bridge_cmd(queue, "--once"), env=env, capture_output=True, timeout=60).returncode == 0
    assert len(local_jobs(btmp)) == 3
    # uploads have their own size limit (max_upload_bytes), checked before the body is read
    status, body = queue.request("PUT", f"/jobs/{ids[0]}/output_files/big.bin", body=b"x" * 70000,
                                 headers={"x-api-key": key, "Content-Type": "application/octet-stream"})
    assert status == 413 and b"65536" in body
    # the provider cannot write outside the job's output folder
    status, _ = queue.request("PUT", f"/jobs/{ids[0]}/output_files/..%2F..%2Fserver.sqlite", body=b"x",
                              headers={"x-api-key": key, "Content-Type": "application/octet-stream"})
    assert status in (404, 422)
    status, _ = queue.request("PUT", f"/jobs/{ids[0]}", body=json.dumps(
        {"output_data": {"repository": "x", "files": [{"url": "http://x/y", "path": "../../etc/passwd"}]}}).encode(),
        headers={"x-api-key": key, "Content-Type": "application/json"})
    assert status == 422


def test_bridge_without_key_is_one_line(queue, tmp_path):
    env = bridge_env(tmp_path / "b", "")
    proc = subprocess.run(bridge_cmd(queue, "--once"), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "NMCLUSTER_PROVIDER_KEY" in proc.stderr and "Traceback" not in proc.stderr


def test_crash_between_submit_and_journal_adopts_the_local_job(queue, tmp_path):
    """The narrowest window: the local job was submitted but the journal still says 'taken' (killed just
    after ``submit``).  The restarted bridge finds the job by its tag instead of submitting it again."""
    from nmcluster.config import load_config
    from nmcluster.jobs.service import JobService
    from nmcluster.server.bridge import Bridge, Queue

    key = nmc(["admin", "token", "create", "m", "--provider", "SpiNNaker"], queue.env).stdout.strip()
    status, job = queue.json("POST", "/jobs/", queue.tokens["alice"], {"code": SLOW.format(n=7).replace("2.0", "0.1"),
                                                                       "collab": "563", "hardware_platform": "SpiNNaker"})
    env = bridge_env(tmp_path / "b", key)
    with JobService(site=load_config(env["NMCLUSTER_CONFIG"], env=env), env=env) as svc:
        bridge = Bridge(Queue(queue.url, key), "SpiNNaker", svc, tmp_path / "b" / "state")
        taken = bridge.queue.next_job("SpiNNaker")
        entry = {"job": taken, "state": "taken", "taken": time.time(), "local_id": None}
        bridge._write(entry)
        first = svc.submit(bridge.spec(taken))  # ... and the process dies here
        restarted = Bridge(Queue(queue.url, key), "SpiNNaker", svc, tmp_path / "b" / "state")
        assert restarted.run(once=True, log=lambda m: None) == 0
        assert [r.id for r in svc.list(include_final=True)] == [first.id]
        assert restarted.entries()[0]["local_id"] == first.id and restarted.entries()[0]["state"] == "done"
    status, final = queue.json("GET", f"/jobs/{job['id']}", queue.tokens["alice"])
    assert final["status"] == "finished" and final["output_data"]["files"][0]["path"].endswith("out-7.txt")


def test_chunked_upload_over_the_limit_leaves_nothing(queue):
    """Without Content-Length the limit is counted as the body streams in: 413, and no partial file."""
    import http.client

    key = nmc(["admin", "token", "create", "m2", "--provider", "SpiNNaker"], queue.env).stdout.strip()
    status, job = queue.json("POST", "/jobs/", queue.tokens["alice"], {"code": "x = 1\n", "collab": "563",
                                                                       "hardware_platform": "SpiNNaker"})
    host, port = urllib.parse.urlsplit(queue.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("PUT", f"/jobs/{job['id']}/output_files/big.bin", body=iter([b"y" * 16384] * 8),
                  headers={"x-api-key": key, "Content-Type": "application/octet-stream"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 413, resp.read()
    out = queue.tmp / "jobs" / ".server" / "outputs" / str(job["id"])
    assert not out.exists() or list(out.iterdir()) == []

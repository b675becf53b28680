"""The guidebook's client workflow with the REAL ``nmpi`` client against ``nmcluster serve``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server.conftest import run_client

SCRIPT = '''\
import json, sys
json.dump({"argv": sys.argv[1:], "n": 42}, open("result.json", "w"))
open("spikes.txt", "w").write("0 1.5\\n1 2.5\\n")
print("experiment ran with", sys.argv[1:])
'''


def test_real_client_submit_status_get_download(server, client_python, tmp_path: Path):
    work = tmp_path / "alice"
    work.mkdir()
    (work / "experiment.py").write_text(SCRIPT)
    out = run_client(client_python, server, "alice", '''
job_id = c.submit_job(source="experiment.py", platform=nmpi.SPINNAKER, collab_id="563", tags=["first"])
states = []
for _ in range(600):
    s = c.job_status(job_id)
    states.append(s)
    if s in ("finished", "error"):
        break
    time.sleep(0.1)
job = c.get_job(job_id, with_log=True)
files = c.download_data(job, local_dir="downloads")
c.add_tags(job_id, ["second"])
tags = c.get_job(job_id, with_log=False)["tags"]
done = c.completed_jobs("563")
queued = c.queued_jobs()
print(json.dumps({"job_id": job_id, "final": states[-1], "job": job, "files": files, "tags": tags,
                  "done": done, "queued": queued, "collabs": c.my_collabs(),
                  "contents": {f: open(f).read() for f in files}}))
''', work)
    job = out["job"]
    assert out["job_id"] == f"/jobs/{job['id']}"
    assert out["final"] == "finished", job.get("log")
    assert job["collab"] == "563" and job["user_id"] == "alice" and job["hardware_platform"] == "SpiNNaker"
    assert "experiment ran with" in job["log"]
    assert sorted(f["path"] for f in job["output_data"]["files"]) == [f"job_{job['id']}/result.json",
                                                                      f"job_{job['id']}/spikes.txt"]
    # the downloaded files are the job's files, byte for byte
    assert sorted(out["files"]) == [f"downloads/job_{job['id']}/result.json", f"downloads/job_{job['id']}/spikes.txt"]
    result = json.loads(out["contents"][f"downloads/job_{job['id']}/result.json"])
    assert result == {"argv": ["nmcluster.spinnaker"], "n": 42}  # {system}: the emulated SpiNNaker backend
    assert out["contents"][f"downloads/job_{job['id']}/spikes.txt"] == "0 1.5\n1 2.5\n"
    assert out["tags"] == ["first", "second"]
    assert out["done"] == [f"/jobs/{job['id']}"] and out["queued"] == []
    assert out["collabs"] == ["563", "shared"]


def test_quotas_off_says_so(server, client_python, tmp_path: Path):
    out = run_client(client_python, server, "alice", '''
res = {}
for name, call in (("quotas", lambda: c.list_quotas("563")),
                   ("create", lambda: c.create_resource_request("t", "563", "a")),
                   ("list", lambda: c.list_resource_requests("563"))):
    try:
        call(); res[name] = "no error"
    except Exception as e:
        res[name] = str(e)
print(json.dumps(res))
''', tmp_path / "c")
    for msg in out.values():
        assert msg.startswith("Error 400: quotas are off at this site"), msg

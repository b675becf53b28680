"""``nmcluster serve`` on the real Slurm accounting test cluster (``scripts/test-cluster start --accounting``):
the real client's job runs through Slurm charged to its collab's SpiNNaker account, a resource request is
submitted and accepted over REST (which sets the Slurm limits), and ``list_quotas`` shows the collab's
quotas in the job-queue API's ``Quota`` shape with Slurm's figures."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.server.conftest import nmc, run_client, start_server, stop_server

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def acct_cluster(accounting_cluster):
    return accounting_cluster  # tests/conftest.py: the accounting cluster the quota tests use too


def test_real_client_on_slurm_with_quotas(acct_cluster, client_python, tmp_path):
    pytest.importorskip("fastapi")
    collab = f"sv{os.getpid() % 100000}"
    # the server's config: the cluster's (Slurm, accounting) with a job root of its own, alice in the collab
    site = "\n".join(ln for ln in open(acct_cluster["NMCLUSTER_CONFIG"]).read().splitlines()
                     if not ln.startswith("job_root"))
    # REST jobs carry no time limit of their own: with GrpTRESMins quotas a site gives them one (README)
    site = site.replace("[slurm]\n", '[slurm]\nextra_sbatch_args = ["--time=5"]\n')
    assert "--time=5" in site
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "slurm"\n{site}\n[server]\n'
                   f'collabs = {{ "{collab}" = ["alice"] }}\nadmin_users = ["admin"]\n')
    slurm = {"SLURM_CONF": acct_cluster["SLURM_CONF"]}
    srv = start_server(tmp_path / "srv", config=cfg, env_extra=slurm)
    try:
        assert nmc(["admin", "requests", "init"], srv.env, check=False).returncode in (0, 2)
        # the service account (root here) is a member: its jobs are charged to the collab
        nmc(["admin", "collab", "create", collab, "--tier", "test", "--member", "root"], srv.env)
        srv.tokens = {u: srv.token(u) for u in ("alice", "admin")}
        out = run_client(client_python, srv, "alice", f'''
job_id = c.submit_job(source="import sys\\nopen('out.txt','w').write('on slurm')\\n", platform="SpiNNaker",
                      collab_id="{collab}")
for _ in range(1200):
    if c.job_status(job_id) in ("finished", "error"):
        break
    time.sleep(0.25)
job = c.get_job(job_id)
files = c.download_data(job, local_dir="d")
uri = c.create_resource_request("More SpiNNaker", "{collab}", "a bigger model", submit=True)
print(json.dumps({{"job": job, "files": [open(f).read() for f in files], "uri": uri, "collabs": c.my_collabs()}}))
''', tmp_path / "client", timeout=400)
        job = out["job"]
        assert job["status"] == "finished", job.get("log")
        assert out["files"] == ["on slurm"] and collab in out["collabs"]
        prov = job["provenance"]
        assert prov["executor"] == "slurm" and prov["slurm_job_id"]
        acct = subprocess.run(["sacct", "-n", "-P", "-X", "-j", prov["slurm_job_id"], "-o", "Account"],
                              capture_output=True, text=True, env={**os.environ, **slurm}).stdout.split()
        assert acct == [f"{collab}_spinnaker"]
        rid = out["uri"].rsplit("/", 1)[-1]
        status, body = srv.json("PUT", f"/projects/{rid}", srv.tokens["admin"], {"status": "accepted"})
        assert status == 200 and body["status"] == "accepted", body
        quotas = run_client(client_python, srv, "alice", f'print(json.dumps(c.list_quotas("{collab}")))',
                            tmp_path / "client")
        by_platform = {q["platform"]: q for q in quotas}
        assert {"spinnaker", "storage"} <= set(by_platform), quotas
        sp = by_platform["spinnaker"]
        assert set(sp) >= {"limit", "usage", "units", "platform", "project", "resource_uri"}
        assert sp["limit"] == pytest.approx(5000.0) and sp["usage"] >= 0 and sp["project"] == f"/projects/{rid}"
    finally:
        stop_server(srv)

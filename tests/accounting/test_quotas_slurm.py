"""Collabs and quotas on the real Slurm accounting database (slurmdbd + MariaDB started by
``scripts/test-cluster start --accounting``), with real Unix users made by the test: a collab with a tiny
quota runs jobs until it is used up, the next job is held by Slurm and its owner is told why; an admin
approves a request, the limit rises and the held job runs; a non-member cannot charge the collab and a
non-admin cannot approve; ``nmcluster quota`` reports what ``sacct`` reports (issue 21)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from test_isolation import User, _remove_user, add_users, public_python  # noqa: E402,F401  (fixture re-used)

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def acct_cluster(accounting_cluster):
    """``SLURM_CONF`` and ``NMCLUSTER_CONFIG`` of the accounting cluster (tests/conftest.py)."""
    return {"SLURM_CONF": accounting_cluster["SLURM_CONF"], "NMCLUSTER_CONFIG": accounting_cluster["NMCLUSTER_CONFIG"]}


@pytest.fixture(scope="module")
def people(public_python, acct_cluster, tmp_path_factory):
    """alice (member), bob (not a member), both without admin rights; root is the admin."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="nmcluster-acct-", dir="/tmp"))
    os.chmod(base, 0o755)
    made: list[User] = []
    try:
        add_users(made, "nmacct", base, public_python)
        script = base / "sleep.py"
        script.write_text("import time\ntime.sleep(float(__import__('sys').argv[1]))\n")
        os.chmod(script, 0o644)
        yield made[0], made[1], script, base
    finally:
        for u in made:
            _remove_user(u.name, u.home)
        shutil.rmtree(base, ignore_errors=True)


def _root(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "NMCLUSTER_QUIET": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "nmcluster.cli.main", *args], capture_output=True, text=True,
                          env=full, timeout=120)


def _one_line(proc: subprocess.CompletedProcess, code: int, needle: str) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def _limit_minutes(env: dict[str, str], account: str) -> str:
    out = subprocess.run(["sacctmgr", "-n", "-P", "show", "assoc", "where", f"accounts={account}", "users=",
                          "format=Account,User,GrpTRESMins"], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True).stdout
    return next((ln.split("|")[2] for ln in out.splitlines() if ln.split("|")[1] == ""), "")


def _status(user: User, env: dict[str, str], job: int) -> dict:
    proc = user.nmcluster("status", str(job), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_quota_is_enforced_by_slurm_and_raised_by_an_approved_request(acct_cluster, people):
    alice, bob, script, base = people
    collab = f"qc{os.getpid() % 100000}"
    # root is the admin: a project collab with 2 station-minutes on Spikey; alice is its only member
    proc = _root(acct_cluster, "admin", "requests", "init")
    assert proc.returncode == 0, proc.stderr
    proc = _root(acct_cluster, "admin", "collab", "create", collab, "--tier", "project",
                 "--amount", f"spikey={2 / 60}", "--amount", "storage=1", "--member", alice.name)
    assert proc.returncode == 0, proc.stderr
    assert _limit_minutes(acct_cluster, f"{collab}_spikey") == "billing=2"

    env_a = alice.env(**acct_cluster)
    env_b = bob.env(**acct_cluster)

    def submit(user: User, env: dict[str, str], station: int, *extra: str) -> subprocess.CompletedProcess:
        return user.nmcluster("submit", str(script), "-p", "spikey", "--station", str(station),
                              "--command", "sleep.py 20", "--collab", collab, "--slurm-opt=--time=1", *extra,
                              env=env)

    # a non-member cannot charge the collab: one line, exit 2, nothing queued
    _one_line(submit(bob, env_b, 500), 2, "not a member of collab")
    assert json.loads(bob.nmcluster("list", "--all", "--json", env=env_b).stdout) == []

    # two one-minute jobs fit into 2 station-minutes ("safe": Slurm counts their time limits) ...
    jobs = []
    for station in (500, 501, 502):
        proc = submit(alice, env_a, station)
        assert proc.returncode == 0, proc.stderr
        jobs.append(int(proc.stdout))
    running = _wait(lambda: [j for j in jobs if _status(alice, env_a, j)["status"] == "running"] if len(
        [j for j in jobs if _status(alice, env_a, j)["status"] == "running"]) == 2 else None, 60, "two running")
    held = next(j for j in jobs if j not in running)
    # ... the third is held by slurmctld itself, and alice reads why in one line
    rec = _wait(lambda: (lambda r: r if "quota" in r["reason"] else None)(_status(alice, env_a, held)), 30,
                "the held job's reason")
    assert rec["status"] == "submitted"
    assert f"spikey quota of collab {collab} is used up" in rec["reason"], rec["reason"]
    assert "AssocGrpBilling" in rec["reason"]

    # alice asks for more; neither she nor bob may approve; root (admin) does
    proc = alice.nmcluster("request", "create", "--collab", collab, "--title", "more", "--abstract", "need 1 h",
                           "--tier", "project", "--amount", "spikey=1", "--submit", "--json", env=env_a)
    assert proc.returncode == 0, proc.stderr
    req = json.loads(proc.stdout)
    assert req["status"] == "under review" and req["owner"] == alice.name
    for user, env in ((alice, env_a), (bob, env_b)):
        _one_line(user.nmcluster("admin", "requests", "approve", req["id"], env=env), 2, "only admins")
    assert _limit_minutes(acct_cluster, f"{collab}_spikey") == "billing=2"  # nothing changed
    # editing a submitted request is refused
    _one_line(alice.nmcluster("request", "edit", req["id"], "--title", "x", env=env_a), 2, "is under review")
    proc = _root(acct_cluster, "admin", "requests", "approve", req["id"])
    assert proc.returncode == 0 and "accepted" in proc.stdout, proc.stderr
    assert _limit_minutes(acct_cluster, f"{collab}_spikey") == "billing=60"
    # the held job now runs
    _wait(lambda: _status(alice, env_a, held)["status"] in ("running", "finished"), 60, "the held job to start")
    listed = json.loads(alice.nmcluster("request", "list", "--json", env=env_a).stdout)
    assert [r["status"] for r in listed if r["id"] == req["id"]] == ["accepted"]

    # usage shown by `nmcluster quota` equals what sacct reports for the same jobs
    for j in jobs:
        _wait(lambda j=j: _status(alice, env_a, j)["status"] == "finished", 90, f"job {j} to finish")
    acct_rows = json.loads(subprocess.run(
        ["sacct", "--json", "-X", "-a", "-A", f"{collab}_spikey", "-S", "1970-01-02"], capture_output=True,
        text=True, env={**os.environ, **acct_cluster}, check=True).stdout)["jobs"]
    sacct_minutes = sum(j["time"]["elapsed"] * next(t["count"] for t in j["tres"]["allocated"]
                                                    if t["type"] == "billing") for j in acct_rows) / 60
    assert len(acct_rows) == 3 and sacct_minutes > 0.5
    quotas = {q["platform"]: q for q in json.loads(alice.nmcluster("quota", "--json", env=env_a).stdout)}
    assert quotas["spikey"]["limit"] == pytest.approx(1.0)
    assert quotas["spikey"]["usage"] == pytest.approx(sacct_minutes / 60, rel=1e-4)  # to_dict rounds to 1e-6
    assert quotas["spikey"]["units"] == "station-hours"
    # status of a finished job says what it was charged
    status = alice.nmcluster("status", str(jobs[0]), env=env_a).stdout
    assert "charged:" in status and "station-hours to collab " + collab in status
    # bob sees nothing of the collab
    _one_line(bob.nmcluster("quota", "--collab", collab, env=env_b), 2, "not a member")
    # storage: alice's job directories of the collab count; over the limit, submit is refused at once
    assert quotas["storage"]["usage"] > 0
    assert _root(acct_cluster, "admin", "collab", "set-quota", collab, "--amount", "storage=1e-9").returncode == 0
    before = len(json.loads(alice.nmcluster("list", "--all", "--json", env=env_a).stdout))
    _one_line(submit(alice, env_a, 500), 2, "storage quota")
    assert len(json.loads(alice.nmcluster("list", "--all", "--json", env=env_a).stdout)) == before


def test_bad_quota_input_changes_nothing(acct_cluster, people):
    alice, bob, script, base = people
    collab = f"qb{os.getpid() % 100000}"
    assert _root(acct_cluster, "admin", "requests", "init").returncode == 0
    assert _root(acct_cluster, "admin", "collab", "create", collab, "--tier", "test", "--member",
                 alice.name).returncode == 0
    before = _limit_minutes(acct_cluster, f"{collab}_spinnaker")
    assert before == f"billing={5000 * 60}"  # the guidebook's test tier: 5000 core-hours
    env_a = alice.env(**acct_cluster)
    _one_line(alice.nmcluster("quota", "--collab", "no-such-collab", env=env_a), 2, "not a member")
    _one_line(_root(acct_cluster, "quota", "--collab", "no-such-collab"), 2, "no collab no-such-collab")
    _one_line(_root(acct_cluster, "admin", "collab", "set-quota", collab, "--amount", "spinnaker=-5"), 2,
              "non-negative")
    _one_line(_root(acct_cluster, "admin", "collab", "set-quota", collab, "--amount", "gpus=5"), 2,
              "unknown resource")
    _one_line(alice.nmcluster("request", "create", "--collab", collab, "--title", "t", "--abstract", "a",
                              "--tier", "project", env=env_a), 2, "says how much")
    _one_line(alice.nmcluster("admin", "collab", "set-quota", collab, "--amount", "spinnaker=1e9", env=env_a), 2,
              "only admins")
    _one_line(alice.nmcluster("request", "edit", "0123456789ab", "--title", "x", env=env_a), 2,
              "no resource request")
    assert _limit_minutes(acct_cluster, f"{collab}_spinnaker") == before

"""The guidebook's continuous integration (7.1.4) end to end on the real Slurm test cluster: a local git
repository with benchmarks.json is registered; `watch` runs a new commit, skips one whose message says
[skip ci], harvests the results with their provenance (repository, commit, platform, backend, job), and a
new calibration version (a change of the system configuration) reruns every registered repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "benchmarks"

pytestmark = pytest.mark.slurm


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def bench_site(tmp_path, slurm_cluster):
    root = tmp_path
    calib = root / "calib"
    calib.mkdir(mode=0o755)
    config = root / "site.toml"
    # the test cluster's own site config (job root, jobcomp) plus a private database and calibration store
    base = Path(slurm_cluster.site_config_path).read_text()
    config.write_text(base.replace("[slurm]", f'[hardware]\ncalib_dir = "{calib}"\n\n[slurm]', 1)
                      + f'\n[benchmarks]\ndatabase = "{root / "bench.sqlite"}"\ncache_dir = "{root / "cache"}"\n')
    env = {**os.environ, **slurm_cluster.env, "NMCLUSTER_CONFIG": str(config), "NMCLUSTER_QUIET": "1",
           "XDG_DATA_HOME": str(root / "data"), "XDG_CONFIG_HOME": str(root / "cfg")}
    return root, env, calib


def _cli(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nmcluster.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def _settle(env, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = json.loads(_cli(env, "list", "--all", "--json").stdout)
        if all(j["status"] in ("finished", "error") for j in jobs):
            return
        time.sleep(1)
    raise AssertionError("benchmark jobs did not finish")


def test_watch_runs_new_commits_skips_skip_ci_and_reruns_on_new_calibration(bench_site):
    root, env, calib = bench_site
    repo = root / "bench-repo"
    shutil.copytree(EXAMPLE, repo)
    # one model on the Spikey partition keeps the test short
    spec = json.loads((repo / "benchmarks.json").read_text())
    spec = [m for m in spec if m["model"]["name"] == "IF_cond_exp"]
    spec[0]["tasks"][0]["target"] = ["Spikey"]
    (repo / "benchmarks.json").write_text(json.dumps(spec, indent=1))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first benchmarks")
    first = _git(repo, "rev-parse", "HEAD")

    assert _cli(env, "benchmarks", "register", str(repo)).returncode == 0
    actions = json.loads(_cli(env, "benchmarks", "watch", "--json").stdout)
    submitted = [a for a in actions if a["action"] == "submitted"]
    assert len(submitted) == 1 and submitted[0]["commit"] == first and submitted[0]["trigger"] == "commit"

    (repo / "README").write_text("docs only\n")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "Document the task [skip ci]")
    second = _git(repo, "rev-parse", "HEAD")
    _settle(env)
    actions = json.loads(_cli(env, "benchmarks", "watch", "--json").stdout)
    assert [a["action"] for a in actions if a.get("repo") == str(repo)] == ["skipped"]
    assert [a["status"] for a in actions if a["action"] == "harvested"] == ["harvested"]
    rows = json.loads(_cli(env, "benchmarks", "results", "--json").stdout)
    assert rows and {r["commit_id"] for r in rows} == {first}
    assert {r["platform"] for r in rows} == {"spikey"} and {r["backend"] for r in rows} == {"nmcluster.spikey"}
    assert {r["repo"] for r in rows} == {str(repo)}

    # nothing new: nothing runs
    actions = json.loads(_cli(env, "benchmarks", "watch", "--json").stdout)
    assert [a["action"] for a in actions if a.get("repo") == str(repo)] == ["up to date"]

    # a new calibration version of a station changes the system configuration: every repository reruns
    sys.path.insert(0, str(REPO))
    from nmcluster.calib.store import Calibration, CalibStore

    store = CalibStore(calib)
    store.commit(Calibration("station500", "spikey", data={"neurons/g_leak_factor": np.full(384, 1.0),
                                                           "neurons/v_thresh_offset": np.zeros(384),
                                                           "drivers/driver_factor": np.ones(512)}))
    actions = json.loads(_cli(env, "benchmarks", "watch", "--json").stdout)
    rerun = [a for a in actions if a["action"] == "submitted"]
    assert len(rerun) == 1 and rerun[0]["trigger"] == "system change" and rerun[0]["commit"] == second
    _settle(env)
    assert _cli(env, "benchmarks", "harvest").returncode == 0
    rows = json.loads(_cli(env, "benchmarks", "results", "--name", "rate_response#slope", "--json").stdout)
    assert [r["commit_id"] for r in rows] == [first, second]
    assert all(r["job_id"] and r["wall_time"] > 0 for r in rows)

"""``nmcluster calib ...`` through the real CLI (local run, list/show/diff/export/import/blacklist,
bad input -> one line, exit 2) and through the Slurm test cluster (array + afterok)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NM = [sys.executable, "-m", "nmcluster.cli.main"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NMCLUSTER_CALIB_VERSION", "NMCLUSTER_CALIB_FAIL_CHUNK")}
    env.update(NMCLUSTER_CALIB_ROOT=str(tmp_path / "store"), **extra)
    return env


def nm(env, *args, timeout=180):
    return subprocess.run([*NM, *args], capture_output=True, text=True, env=env, timeout=timeout)


FAST = ("--reps", "2", "--chunks", "2")


def test_cli_local_run_and_store_commands(tmp_path):
    env = _env(tmp_path)
    p = nm(env, "calib", "run", "spikey", "--station", "501", "--local", "--workers", "2", *FAST, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["version"] == 1 and out["target"] == "station501"
    p = nm(env, "calib", "list", "--json")
    assert json.loads(p.stdout)["targets"] == [{"target": "station501", "current": 1, "versions": 1}]
    p = nm(env, "calib", "show", "station501", "--json")
    info = json.loads(p.stdout)
    assert info["version"] == 1 and info["datasets"]["neurons/g_leak_factor"]["shape"] == [384]
    assert "driver_factor" in nm(env, "calib", "show", "501").stdout
    p = nm(env, "calib", "blacklist", "station501", "add", "neuron", "3,10-12")
    assert p.returncode == 0, p.stderr
    p = nm(env, "calib", "diff", "station501", "1", "2", "--json")
    assert json.loads(p.stdout)["blacklist"] == {"neuron": {"added": [3, 10, 11, 12], "removed": []}}
    exp = tmp_path / "exp"
    p = nm(env, "calib", "export", "station501", str(exp))
    assert p.returncode == 0 and (exp / "calibTauMem_501.dat").exists()
    p = nm(env, "calib", "import", "station501", str(exp), "--notes", "round trip")
    assert p.returncode == 0, p.stderr
    d = json.loads(nm(env, "calib", "diff", "station501", "1", "3", "--json").stdout)
    assert all(s["max_abs_change"] < 1e-6 for s in d["datasets"].values())
    p = nm(env, "calib", "list", "station501")
    assert p.stdout.count("\n") == 3 and "* v3" in p.stdout
    p = nm(env, "calib", "status", "--all", "--no-slurm", "--json")
    assert json.loads(p.stdout)["runs"][0]["state"] == "committed"
    assert "calib run spikey --station 500" in nm(env, "calib", "--help").stdout
    assert "Examples" in nm(env, "calib", "run", "--help").stdout


@pytest.mark.parametrize("args", [
    ("calib", "run", "chip"),
    ("calib", "run", "spikey"),
    ("calib", "run", "spikey", "--station", "x7", "--local"),
    ("calib", "run", "wafer", "--wafer", "33", "--hicann", "999", "--local"),
    ("calib", "run", "spikey", "--station", "999", "--local"),  # a station the site does not have
    ("calib", "run", "spikey", "--station", "999"),
    ("calib", "run", "wafer", "--wafer", "12", "--local"),
    ("calib", "run", "spikey", "--station", "500", "--slurm-opt=--gres=station:s501:1"),
    ("calib", "show", "station777"),
    ("calib", "show", "nonsense"),
    ("calib", "blacklist", "station500", "add", "denmem", "1"),
    ("calib", "blacklist", "wafer33", "add", "denmem", "1"),
    ("calib", "blacklist", "station500", "add", "neuron", "400"),
    ("calib", "diff", "station500", "x"),
    ("calib", "cancel", "station777"),  # no unfinished run of it
    ("calib", "cancel", "nonsense"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, args):
    p = nm(_env(tmp_path), *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert not (tmp_path / "store" / "runs").exists() or not any((tmp_path / "store" / "runs").iterdir())
    # ours: one line; click usage errors: usage + hint + one error line
    assert len(p.stderr.strip().splitlines()) <= 4 and "Traceback" not in p.stderr


def test_cli_failed_local_run_reports_and_commits_nothing(tmp_path):
    env = _env(tmp_path, NMCLUSTER_CALIB_FAIL_CHUNK="2")
    p = nm(env, "calib", "run", "spikey", "--station", "502", "--local", "--workers", "1", *FAST)
    assert p.returncode == 1
    assert "nothing committed" in p.stderr and "chunk 2 (drivers 0..255)" in p.stderr
    assert "Traceback" not in p.stderr
    assert "no calibrations" in nm(env, "calib", "list").stdout
    p = nm(env, "calib", "status", "--no-slurm")
    assert "failed" in p.stdout and "injected failure" in p.stdout


def _local_site(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """The local executor, whatever the session's Slurm fixture put in the environment."""
    conf = tmp_path / "local.toml"
    conf.write_text(f'executor = "local"\njob_root = "{tmp_path / "jobs"}"\n')
    env = {k: v for k, v in env.items() if k != "SLURM_CONF"}
    env["NMCLUSTER_CONFIG"] = str(conf)
    return env


def test_run_is_ordinary_jobs_with_the_local_executor(tmp_path):
    """Without Slurm the chunks are ordinary nmcluster jobs of the local executor: records tagged with the
    run, the station in their hardware config, the last one fits; a failed chunk is a failed job with its
    log, and running the command again resumes with one job."""
    env = _local_site(tmp_path, _env(tmp_path, NMCLUSTER_CALIB_FAIL_CHUNK="1"))
    p = nm(env, "calib", "run", "spikey", "--station", "502", *FAST, "--wait", "--json")
    assert p.returncode == 1 and "nothing committed" in p.stderr and "chunk 1 (neurons 192..383)" in p.stderr
    st = json.loads(nm(env, "calib", "status", "--json").stdout)["runs"][0]
    assert st["state"] == "failed" and [t["state"] for t in st["tasks"]] == ["done", "failed", "done", "done"]
    failed_job = st["tasks"][1]["job"]
    rec = json.loads(nm(env, "status", str(failed_job), "--json").stdout)
    assert rec["status"] == "error" and rec["exit_code"] == 1 and rec["platform"] == "spikey"
    assert rec["hardware_config"]["STATION"] == "station502" and rec["tags"] == ["calibration", st["run"]]
    assert "injected failure of chunk 1" in nm(env, "log", str(failed_job)).stdout
    listed = json.loads(nm(env, "list", "--all", "--json").stdout)
    assert sorted(j["id"] for j in listed if "calibration" in j["tags"]) == sorted(st["jobs"])
    # resume: one job for the one missing chunk, which then fits and commits
    env.pop("NMCLUSTER_CALIB_FAIL_CHUNK")
    p = nm(env, "calib", "run", "spikey", "--station", "502", *FAST, "--wait", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["resumed"] and list(out["jobs"]) == ["1"] and out["version"] == 1 and out["executor"] == "local"
    ver = json.loads(nm(env, "calib", "show", "station502", "--json").stdout)
    assert ver["meta"]["job_id"] == out["jobs"]["1"]  # the last chunk's job committed the version
    st = json.loads(nm(env, "calib", "status", "--all", "--json").stdout)["runs"][0]
    assert st["state"] == "committed" and st["fit"]["job"] == out["jobs"]["1"]
    assert [t["state"] for t in st["tasks"]] == ["done"] * 4
    # nothing left to do: the same command submits nothing and says so
    p = nm(env, "calib", "run", "spikey", "--station", "502", *FAST, "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["resumed"] is False  # committed: a new run


@pytest.mark.slurm
def test_slurm_run_is_nmcluster_jobs_on_the_station(slurm_cluster, tmp_path):
    """Real Slurm: the chunks are one array of nmcluster jobs on the spikey partition holding the station's
    GRES; a failing task leaves nothing committed; resume; `calib cancel` cancels held jobs."""
    store = tmp_path / "store"
    env = {**os.environ, **slurm_cluster.env, "NMCLUSTER_CALIB_ROOT": str(store)}
    env.pop("NMCLUSTER_CALIB_FAIL_CHUNK", None)
    # 1. a failing task: nothing committed, clear report
    bad = {**env, "NMCLUSTER_CALIB_FAIL_CHUNK": "0"}
    p = nm(bad, "calib", "run", "spikey", "--station", "500", *FAST, "--wait", "--json", timeout=300)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "nothing committed" in p.stderr and "chunk 0" in p.stderr
    st = json.loads(nm(env, "calib", "status", "--json").stdout)["runs"][0]
    assert st["state"] == "failed" and st["fit"]["state"] == "pending"
    assert "_" in st["tasks"][0]["external_id"]  # an array task of one sbatch --array
    rec = json.loads(nm(env, "status", str(st["tasks"][0]["job"]), "--json").stdout)
    assert rec["status"] == "error" and rec["executor"] == "slurm" and rec["slurm_state"] == "FAILED"
    # 2. the same command again resumes: only chunk 0 is submitted; its task fits and commits version 1
    p = nm(env, "calib", "run", "spikey", "--station", "500", *FAST, "--wait", "--json", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["resumed"] and list(out["jobs"]) == ["0"] and out["version"] == 1
    ver = json.loads(nm(env, "calib", "show", "station500", "--json").stdout)
    assert ver["meta"]["job_id"] == out["jobs"]["0"] and ver["slurm_job_id"] == out["external"]["0"].split("_")[0]
    # the measurement tasks held the station on the spikey partition (they ran on batch without it before)
    task = json.loads((Path(st["dir"]) / "task-0.json").read_text())
    assert (task["slurm_partition"], task["station"], task["job_id"]) == ("spikey", "station500",
                                                                         out["jobs"]["0"]), task
    # 3. held jobs of a fresh run: `calib cancel station500` cancels them; nothing is committed
    p = nm(env, "calib", "run", "spikey", "--station", "500", *FAST, "--fresh", "--slurm-opt=--hold", "--json")
    assert p.returncode == 0, p.stderr
    jobs = sorted(json.loads(p.stdout)["jobs"].values())
    assert len(jobs) == 4
    p = nm(env, "calib", "cancel", "station500", "--json")
    assert p.returncode == 0, p.stderr
    assert sorted(json.loads(p.stdout)["cancelled"]) == jobs
    p = nm(env, "calib", "cancel", "station500")  # nothing left to cancel
    assert p.returncode == 0 and "no queued or running jobs" in p.stdout
    st = json.loads(nm(env, "calib", "status", "station500", "--json").stdout)["runs"][0]
    assert st["state"] == "failed" and st["done"] == 0
    assert all("cancel" in t["error"].lower() for t in st["tasks"]), st["tasks"]
    assert json.loads(nm(env, "calib", "list", "--json").stdout)["targets"][0]["versions"] == 1

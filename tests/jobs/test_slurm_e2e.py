"""End to end on the real Slurm test cluster: the slurm executor, GRES/licence exclusivity, states."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm


def _squeue_count(env) -> int:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=env, check=True)
    return len(out.stdout.split())


def _spans(site, jobs, tmp_path):
    spans = []
    for job in jobs:
        rec = site.wait(job, timeout=90)
        assert rec["status"] == "finished", (rec, site.cli("log", str(job)).stdout)
        dest = tmp_path / f"r{job}"
        site.cli("results", str(job), "-o", str(dest), check=True)
        r = json.loads((dest / "result.json").read_text())
        spans.append((r["start"], r["end"]))
    return sorted(spans)


def _no_overlap(spans):
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 1e-3, f"jobs overlapped: {spans}"


def test_submit_on_each_partition(slurm_site, experiment, tmp_path):
    stim = tmp_path / "stim.npy"
    stim.write_bytes(b"x")
    jobs = {
        "spikey": slurm_site.submit(str(experiment), "-p", "spikey", "-c", "main.py --opt=1 {system}",
                                    "--input", str(stim), "--config", '{"STATION": "station500"}', "--tag", "t"),
        "wafer": slurm_site.submit(str(experiment), "-p", "wafer", "--wafer", "33", "--hicann", "297,298",
                                   "-c", "main.py {system}"),
        "spinnaker": slurm_site.submit(str(experiment), "-p", "spinnaker", "--boards", "1", "-c", "main.py {system}"),
        "ess": slurm_site.submit(str(experiment), "-p", "BrainScaleS-ESS", "--wafer", "37", "-c", "main.py {system}"),
    }
    for kind, job in jobs.items():
        rec = slurm_site.wait(job, timeout=90)
        assert rec["status"] == "finished", (kind, rec, slurm_site.cli("log", str(job)).stdout)
        assert rec["executor"] == "slurm" and rec["external_id"].isdigit() and rec["slurm_state"] == "COMPLETED"
        assert "result.json" in rec["output_data"]
        dest = tmp_path / kind
        slurm_site.cli("results", str(job), "-o", str(dest), check=True)
        result = json.loads((dest / "result.json").read_text())
        if kind == "spikey":
            assert result["station"] == "station500" and result["argv"][0] == "--opt=1"
            assert "stim.npy" in result["cwd_files"]
        if kind == "wafer":
            assert result["hicanns"] == "W33H297,W33H298" and result["licenses"] == "W33F29"


def test_same_station_and_same_licence_never_overlap(slurm_site, experiment, tmp_path):
    env = dict(slurm_site.env, SLEEP="1")
    station = [int(slurm_site.cli("submit", str(experiment), "-p", "spikey", "--station", "501", "-c", "main.py",
                                  env=env, check=True).stdout) for _ in range(3)]
    fpga = [int(slurm_site.cli("submit", str(experiment), "-p", "wafer", "--wafer", "37", "--hicann", "367",
                               "-c", "main.py", env=env, check=True).stdout) for _ in range(3)]
    _no_overlap(_spans(slurm_site, station, tmp_path))
    _no_overlap(_spans(slurm_site, fpga, tmp_path))


def test_failing_script_reports_exit_code(slurm_site, experiment):
    env = dict(slurm_site.env, EXIT="3")
    job = int(slurm_site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py", env=env,
                             check=True).stdout)
    rec = slurm_site.wait(job, timeout=60)
    # the record keeps Slurm's final state, not the RUNNING it saw last
    assert slurm_site.cli("status", str(job), "--format", "status,slurm_state", "--noheader",
                          check=True).stdout == "error\tFAILED\n"
    assert rec["status"] == "error" and rec["exit_code"] == 3 and "exit code 3" in rec["reason"]


def test_cancel_running_job(slurm_site, experiment):
    env = dict(slurm_site.env, SLEEP="60")
    job = int(slurm_site.cli("submit", str(experiment), "-p", "spikey", "--station", "502", "-c", "main.py",
                             env=env, check=True).stdout)
    deadline = time.monotonic() + 30
    while slurm_site.record(job)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    slurm_site.cli("cancel", str(job), check=True)
    rec = slurm_site.wait(job, timeout=30)
    assert rec["status"] == "error" and "cancel" in rec["reason"].lower()


def test_final_state_survives_slurm_forgetting(slurm_site, experiment, slurm_cluster):
    """A job cancelled while pending leaves no runner result; after MinJobAge only jobcomp knows it."""
    env = dict(slurm_site.env, SLEEP="30")
    blocker = int(slurm_site.cli("submit", str(experiment), "-p", "spikey", "--station", "600", "-c", "main.py",
                                 env=env, check=True).stdout)
    pending = int(slurm_site.cli("submit", str(experiment), "-p", "spikey", "--station", "600", "-c", "main.py",
                                 check=True).stdout)
    rec = slurm_site.record(pending)
    assert rec["status"] == "submitted"
    subprocess.run(["scancel", rec["external_id"]], check=True, env=slurm_site.env)  # behind nmcluster's back
    slurm_site.cli("cancel", str(blocker), check=True)
    ext = rec["external_id"]
    deadline = time.monotonic() + 40  # wait until slurmctld has purged the job (MinJobAge + purge tick)
    while time.monotonic() < deadline:
        out = subprocess.run(["scontrol", "show", "job", ext], capture_output=True, text=True, env=slurm_site.env)
        if out.returncode != 0:
            break
        time.sleep(1)
    else:
        pytest.fail("slurmctld never forgot the job")
    final = slurm_site.record(pending)
    assert final["status"] == "error" and "cancel" in final["reason"].lower()
    assert slurm_site.record(pending)["status"] == "error"  # recorded, stable


def test_bad_input_queues_nothing(slurm_site, experiment):
    before = _squeue_count(slurm_site.env)
    for args in (["-p", "spikey", "--station", "999"], ["-p", "wafer", "--wafer", "33", "--hicann", "384"],
                 ["-p", "spikey", "-c", "nothere.py"], ["-p", "spikey", "--slurm-opt=--time=abc"],
                 ["-p", "spikey", "--array", "2", "-c", "main.py"]):
        proc = slurm_site.cli("submit", str(experiment), *args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    assert _squeue_count(slurm_site.env) == before
    assert slurm_site.leftovers() == [] and slurm_site.records() == []


def test_slurm_down_is_a_clear_error(slurm_site, experiment, slurm_cluster, tmp_path):
    """A configured Slurm whose controller does not answer: exit 1, one line, nothing recorded."""
    dead = tmp_path / "dead-slurm.conf"  # same cluster, but a controller port nothing listens on
    dead.write_text(re.sub(r"^SlurmctldPort=\d+", "SlurmctldPort=1", slurm_cluster.slurm_conf.read_text(),
                           flags=re.M))
    env = dict(slurm_site.env, SLURM_CONF=str(dead))
    t0 = time.monotonic()
    proc = slurm_site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py", env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Slurm is not answering" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert slurm_site.leftovers() == [] and slurm_site.records() == []
    run = slurm_site.cli("run", "-p", "spikey", "--", "true", env=env, timeout=120)
    assert run.returncode == 1 and "Slurm is not answering" in run.stderr
    assert time.monotonic() - t0 < 60


def test_run_through_srun(slurm_site):
    out = slurm_site.cli("run", "-p", "wafer", "--wafer", "33", "--hicann", "297,298", "--", "python", "-c",
                         "import os,sys; print(os.environ['SLURM_JOB_ID'], os.environ['SLURM_HICANNS'], sys.argv[1])",
                         "{system}")
    assert out.returncode == 0, out.stderr
    job_id, hicanns, backend = out.stdout.split()
    assert job_id.isdigit() and hicanns == "W33H297,W33H298" and backend
    fail = slurm_site.cli("run", "-p", "spikey", "--", "python", "-c", "import sys; sys.exit(5)")
    assert fail.returncode == 5


def test_any_free_station_is_named_to_the_job(slurm_site, experiment, tmp_path):
    """Without STATION Slurm picks a station; the job still learns which (MY_STAGE1_STATION)."""
    out = slurm_site.cli("run", "-p", "spikey", "--", "python", "-c",
                         "import os; print(os.environ.get('MY_STAGE1_STATION'))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in {"station500", "station501", "station502", "station600"}
    job = slurm_site.submit(str(experiment), "-p", "spikey", "-c", "main.py")
    assert slurm_site.wait(job, timeout=60)["status"] == "finished"
    slurm_site.cli("results", str(job), "-o", str(tmp_path / "r"), check=True)
    station = json.loads((tmp_path / "r" / "result.json").read_text())["station"]
    assert station in {"station500", "station501", "station502", "station600"}
    # status and the log name the station it got (the record keeps what the request left open)
    assert slurm_site.record(job)["hardware_config"]["STATION"] == station
    assert f"STATION={station}" in slurm_site.cli("status", str(job), check=True).stdout
    assert f"job {job} on" in slurm_site.cli("log", str(job), check=True).stdout
    assert f"got STATION {station}" in slurm_site.cli("log", str(job), check=True).stdout


_SHOW_OWN_JOB = ("import os, subprocess; print(os.environ.get('MY_STAGE1_STATION')); "
                 "print(subprocess.run(['scontrol', '-d', '-o', 'show', 'job', os.environ['SLURM_JOB_ID']], "
                 "capture_output=True, text=True).stdout)")


def _hold_stations(types, seconds):
    """Occupy stations with plain srun jobs; returns once Slurm shows them running."""
    procs = [subprocess.Popen(["srun", "-p", "spikey", f"--gres=station:{t}:1", "sleep", str(seconds)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for t in types]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%b"], capture_output=True, text=True).stdout
        if all(f"station:{t}" in out for t in types):
            return procs
        time.sleep(0.1)
    for p in procs:
        p.kill()
    raise AssertionError(f"stations {types} not held after 30 s")


def _station_and_gres(stdout):
    from nmcluster.hwdrivers.spikey.allocated import stations_in

    named, detail = stdout.split("\n", 1)
    allocated = set()
    for tok in detail.split():
        if tok.startswith("JOB_GRES="):
            allocated |= stations_in(tok[len("JOB_GRES="):])
    requested = re.search(r"TresPerNode=(\S+)", detail).group(1)
    return named, allocated, requested


def test_any_station_run_is_pinned_to_a_free_station(slurm_site):
    """``run`` without a station while station 500 is busy: pinned to 501 before srun (the request names
    s501, so no in-allocation helper is needed) and the job is told the station it really holds."""
    procs = _hold_stations(["s500"], 30)
    try:
        out = slurm_site.cli("run", "-p", "spikey", "--", "python", "-c", _SHOW_OWN_JOB)
    finally:
        for p in procs:
            p.kill()
    assert out.returncode == 0, out.stderr
    named, allocated, requested = _station_and_gres(out.stdout)
    assert named == "station501" and allocated == {501} and "station:s501" in requested


def test_any_station_run_when_every_station_is_busy(slurm_site):
    """Nothing free: the request stays "any station", the job waits, and the in-allocation helper names
    the station Slurm picked once one frees up."""
    procs = _hold_stations(["s500", "s501", "s502", "s600"], 3)
    try:
        out = slurm_site.cli("run", "-p", "spikey", "--", "python", "-c", _SHOW_OWN_JOB, timeout=120)
    finally:
        for p in procs:
            p.kill()
    assert out.returncode == 0, out.stderr
    named, allocated, requested = _station_and_gres(out.stdout)
    assert len(allocated) == 1 and named == f"station{allocated.pop()}"
    assert requested.endswith("station:1")

"""End to end through the real CLI with the local executor (the embedded default without Slurm)."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest


def test_submit_on_each_partition(local_site, experiment, tmp_path):
    stim = tmp_path / "stim.npy"
    stim.write_bytes(b"data")
    jobs = {
        "spikey": local_site.submit(str(experiment), "-p", "spikey", "--command", "main.py --opt=1 {system}",
                                    "--input", str(stim), "--config", '{"STATION": "station500"}', "--tag", "test"),
        "wafer": local_site.submit(str(experiment), "-p", "BrainScaleS", "--wafer", "33", "--hicann", "297,298",
                                   "--command", "main.py {system}"),
        "spinnaker": local_site.submit(str(experiment), "-p", "spinnaker", "--boards", "1", "-c", "main.py"),
        "ess": local_site.submit(str(experiment), "-p", "BrainScaleS-ESS", "-c", "main.py {system}",
                                 "--wafer", "33"),
    }
    for kind, job in jobs.items():
        rec = local_site.wait(job)
        assert rec["status"] == "finished", (kind, rec, local_site.cli("log", str(job)).stdout)
        assert rec["exit_code"] == 0
        assert "result.json" in rec["output_data"]
        out = tmp_path / f"res-{kind}"
        local_site.cli("results", str(job), "-o", str(out), check=True)
        result = json.loads((out / "result.json").read_text())
        if kind == "spikey":
            assert result["argv"][0] == "--opt=1" and result["station"] == "station500"
            assert "stim.npy" in result["cwd_files"] and "stim.npy" not in rec["output_data"]
            assert rec["tags"] == ["test"] and rec["hardware_platform"] == "Spikey"
            assert rec["emulated"] is True and rec["backend"] == result["argv"][1]
        if kind == "wafer":
            assert result["hicanns"] == "W33H297,W33H298" and result["licenses"] == "W33F29"
    log = local_site.cli("log", str(jobs["spikey"]), check=True).stdout
    assert "hello from" in log and "hardware not present" in log


def test_failing_script_reports_exit_code(local_site, experiment):
    env = dict(local_site.env, EXIT="3")
    out = local_site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py", env=env, check=True)
    rec = local_site.wait(int(out.stdout))
    assert rec["status"] == "error" and rec["exit_code"] == 3 and "exit code 3" in rec["reason"]


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_cancel_reaches_what_the_command_started(local_site, tmp_path):
    """A script whose child runs on: cancel stops the child too, and a finished job leaves no background
    process behind (the command runs in its own process group)."""
    exp = tmp_path / "spawn"
    exp.mkdir()
    (exp / "main.py").write_text("import os, subprocess, time\n"
                                 "child = subprocess.Popen(['sleep', '300'])\n"
                                 "open('child.pid', 'w').write(str(child.pid))\n"
                                 "time.sleep(float(os.environ.get('STAY', '0')))\n")
    job = int(local_site.cli("submit", str(exp), "-p", "spikey", "-c", "main.py",
                             env=dict(local_site.env, STAY="300"), check=True).stdout)
    pid_file = Path(local_site.record(job)["job_dir"]) / "work" / "child.pid"
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert _pid_alive(child)
    local_site.cli("cancel", str(job), check=True)
    rec = local_site.wait(job, timeout=20)
    assert rec["status"] == "error" and "cancelled" in rec["reason"]
    deadline = time.monotonic() + 10
    while _pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(child), "the script's background child survived the cancel"

    # STAY=0: the script ends at once, leaving its child behind
    job = int(local_site.cli("submit", str(exp), "-p", "spikey", "-c", "main.py", check=True).stdout)
    rec = local_site.wait(job, timeout=20)
    assert rec["status"] == "finished"
    child = int((Path(rec["job_dir"]) / "work" / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while _pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(child)
    assert "left running" in local_site.cli("log", str(job), check=True).stdout


def test_cancel_running_job(local_site, experiment):
    env = dict(local_site.env, SLEEP="30")
    job = int(local_site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py", env=env,
                             check=True).stdout)
    deadline = time.monotonic() + 20
    while local_site.record(job)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    local_site.cli("cancel", str(job), check=True)
    rec = local_site.wait(job, timeout=20)
    assert rec["status"] == "error" and "cancelled" in rec["reason"]
    assert local_site.cli("cancel", str(job)).returncode == 2  # already ended: a user mistake
    local_site.cli("remove", str(job), check=True)
    assert local_site.cli("status", str(job)).returncode == 2
    assert local_site.leftovers() == []


def test_same_station_never_overlaps(local_site, experiment, tmp_path):
    env = dict(local_site.env, SLEEP="1")
    jobs = [int(local_site.cli("submit", str(experiment), "-p", "spikey", "--station", "500", "-c", "main.py",
                               env=env, check=True).stdout) for _ in range(3)]
    other = int(local_site.cli("submit", str(experiment), "-p", "spikey", "--station", "501", "-c", "main.py",
                               env=env, check=True).stdout)
    spans = []
    for job in [*jobs, other]:
        rec = local_site.wait(job)
        assert rec["status"] == "finished"
        local_site.cli("results", str(job), "-o", str(tmp_path / str(job)), check=True)
        r = json.loads((tmp_path / str(job) / "result.json").read_text())
        spans.append((r["start"], r["end"]))
    same = sorted(spans[:3])
    for (_, end), (start, _) in zip(same, same[1:]):
        assert start >= end, f"two jobs on station 500 overlapped: {same}"
    # the job on another station ran alongside (the lock is per station, not global)
    assert any(spans[3][0] < end and start < spans[3][1] for start, end in spans[:3])


def test_queued_job_snapshot_ignores_later_edits(local_site, experiment, tmp_path):
    job = local_site.submit(str(experiment), "-p", "spikey", "-c", "run.py first")
    (experiment / "run.py").write_text("open('ran.txt', 'w').write('STALE')\n")
    assert local_site.wait(job)["status"] == "finished"
    local_site.cli("results", str(job), "-o", str(tmp_path / "r"), check=True)
    assert (tmp_path / "r" / "ran.txt").read_text() == "first"


def test_run_streams_and_exits_with_code(local_site, tmp_path):
    ok = local_site.cli("run", "-p", "spikey", "--station", "500", "--", "python", "-c",
                        "import os,sys; print('station', os.environ['MY_STAGE1_STATION'], sys.argv[1:])", "{system}")
    assert ok.returncode == 0 and "station station500" in ok.stdout
    assert "nest" in ok.stdout or "nmcluster.spikey" in ok.stdout
    fail = local_site.cli("run", "-p", "spikey", "--", "python", "-c", "import sys; sys.exit(7)")
    assert fail.returncode == 7
    missing = local_site.cli("run", "-p", "spikey", "--", "no-such-program-xyz")
    assert missing.returncode == 127 and "no-such-program-xyz" in missing.stderr


def test_environment_defaults_from_modules(local_site):
    env = dict(local_site.env, NMCLUSTER_PARTITION="spikey", MY_STAGE1_STATION="station501")
    out = local_site.cli("run", "--", "python", "-c", "import os; print(os.environ['MY_STAGE1_STATION'])", env=env)
    assert out.returncode == 0 and out.stdout.strip() == "station501"
    explicit = local_site.cli("run", "--station", "502", "--", "python", "-c",
                              "import os; print(os.environ['MY_STAGE1_STATION'])", env=env)
    assert explicit.stdout.strip() == "station502"


def _bad_archive(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("run.py")
        tf.addfile(info)
        if name == "link":
            link = tarfile.TarInfo("data")
            link.type = tarfile.SYMTYPE
            link.linkname = "../../../etc"
            tf.addfile(link)
        else:
            tf.addfile(tarfile.TarInfo(name))
    return path


BAD_SUBMITS = {
    "unknown platform": (["-p", "Loihi"], "unknown platform"),
    "station not configured": (["-p", "spikey", "--station", "999"], "station 999 is not configured"),
    "HICANN 384": (["-p", "wafer", "--wafer", "33", "--hicann", "384"], "HICANN 384 is out of range"),
    "HICANN -1": (["-p", "wafer", "--wafer", "33", "--config", '{"HICANNS": [-1]}'], "HICANN -1 is out of range"),
    "wafer not configured": (["-p", "wafer", "--wafer", "12"], "wafer 12 is not configured"),
    "config not an object": (["-p", "spikey", "--config", "[1, 2]"], "must be a JSON object"),
    "config not JSON": (["-p", "spikey", "--config", "{STATION: 500"], "not valid JSON"),
    "config unknown key": (["-p", "spikey", "--config", '{"STATON": 500}'], "unknown hardware config key"),
    "missing script": (["-p", "spikey", "-c", "nothere.py {system}"], "not in the job's code"),
    "system restriction": (["-p", "spikey", "-c", "main.py {system=spiNNaker}"], "lists no backend"),
    "unknown placeholder": (["-p", "spikey", "-c", "main.py {sytem}"], "unknown placeholder {sytem}"),
    "array without task": (["-p", "spikey", "--array", "3", "-c", "main.py {system}"], "--array needs {task}"),
    "hand-written licence": (["-p", "wafer", "--wafer", "33", "--slurm-opt=-LW33F1"], "not accepted"),
}


@pytest.mark.parametrize("case", sorted(BAD_SUBMITS))
def test_bad_input_is_rejected_cleanly(local_site, experiment, case):
    args, message = BAD_SUBMITS[case]
    proc = local_site.cli("submit", str(experiment), *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert local_site.leftovers() == [] and local_site.records() == []


@pytest.mark.parametrize("case", ["../x", "/etc/x", "link"])
def test_bad_archive_is_rejected_cleanly(local_site, tmp_path, case):
    proc = local_site.cli("submit", str(_bad_archive(tmp_path, case)), "-p", "spikey")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "refused" in proc.stderr
    assert local_site.leftovers() == [] and local_site.records() == []


def test_missing_code_and_unreachable_git(local_site, tmp_path):
    for code in (str(tmp_path / "nothere"), f"file://{tmp_path}/nothere.git"):
        proc = local_site.cli("submit", code, "-p", "spikey")
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert local_site.leftovers() == [] and local_site.records() == []


def test_help_has_examples(local_site):
    for cmd in ("run", "submit", "status", "list", "log", "results", "cancel", "remove"):
        out = local_site.cli(cmd, "--help", check=True).stdout
        assert "Example" in out and "nmcluster " + ("list" if cmd == "list" else cmd) in out


def test_system_nest_runs_on_nest(local_site, tmp_path):
    """``{system=nest}`` and the guidebook's ``{system=spiNNaker,nest}`` on Spikey run on NEST (they were
    refused in the allocation before: "allows only {system=nest}, but this job runs on ...")."""
    (tmp_path / "which.py").write_text("import sys\nprint('backend', sys.argv[1])\n")
    for placeholder in ("{system=nest}", "{system=spiNNaker,nest}"):
        out = local_site.cli("run", "-p", "spikey", "--", "python", str(tmp_path / "which.py"), placeholder,
                             cwd=tmp_path)
        assert out.returncode == 0 and out.stdout.strip() == "backend nest", out.stderr
    job = local_site.submit(str(tmp_path / "which.py"), "-p", "spikey", "-c", "which.py {system=spiNNaker,nest}")
    rec = local_site.wait(job)
    assert rec["status"] == "finished" and rec["backend"] == "nest" and rec["emulated"] is True
    assert "backend nest" in local_site.cli("log", str(job), check=True).stdout


def test_spikey_job_uses_the_emulator_without_a_station(local_site, tmp_path):
    """No chip attached: {system} becomes the Spikey emulator and the example runs unmodified."""
    import os

    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "spikey_poisson.py")
    out = local_site.cli("run", "-p", "spikey", "--station", "500", "--", "python", os.path.abspath(example),
                         "{system}", cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    job = local_site.submit(os.path.abspath(example), "-p", "spikey", "--station", "500")
    rec = local_site.wait(job, timeout=300)
    assert rec["status"] == "finished", local_site.cli("log", str(job)).stdout
    assert rec["backend"] == "nmcluster.spikey" and rec["emulated"] is True
    assert "hardware not present" in rec["backend_reason"] and "no Spikey" in rec["backend_reason"]

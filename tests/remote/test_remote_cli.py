"""``nmcluster --host ...`` (a separate process, like on a laptop) against the real test sshd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def exp(tmp_path: Path) -> Path:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "run.py").write_text(
        "import sys, time\n"
        "if '--sleep' in sys.argv: time.sleep(float(sys.argv[sys.argv.index('--sleep') + 1]))\n"
        "open('out.txt', 'w').write(open('stim.txt').read() + ' ' + sys.argv[1])\n"
        "print('cli experiment done')\n")
    (tmp_path / "stim.txt").write_text("stim")
    return folder


def test_submit_status_log_results_list_remove(remote_cli, ssh_home, exp, tmp_path):
    before = ssh_home.accepted_logins()
    proc = remote_cli("submit", "exp", "-p", "spikey", "--station", "500", "--input", "stim.txt", "--tag", "cli",
                      "--wait", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)
    assert rec["status"] == "finished" and rec["code"] == "exp" and rec["input_data"] == ["stim.txt"]
    assert rec["hardware_config"] == {"STATION": "station500"} and rec["tags"] == ["cli"]
    assert ssh_home.wait_logins(before + 1) == before + 1  # submit + wait on one connection
    job = str(rec["id"])

    status = remote_cli("status", job)
    assert status.returncode == 0 and f"job {job}: finished" in status.stdout
    assert json.loads(remote_cli("status", job, "--json").stdout)["output_data"] == ["out.txt"]
    assert "cli experiment done" in remote_cli("log", job).stdout
    listed = json.loads(remote_cli("list", "--all", "--json").stdout)
    assert int(job) in [r["id"] for r in listed]
    assert json.loads(remote_cli("list", "--json").stdout) == []

    res = remote_cli("results", job, "-o", str(tmp_path / "res"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(tmp_path / "res" / "out.txt")]
    assert (tmp_path / "res" / "out.txt").read_text().startswith("stim ")

    info = json.loads(remote_cli("info", "--json").stdout)
    assert info["job_root"] == str(ssh_home.remote_job_root) and info["host"] == ssh_home.target

    assert remote_cli("remove", job).returncode == 0
    gone = remote_cli("status", job)
    assert gone.returncode == 2 and f"no job {job}" in gone.stderr


def test_cancel(remote_cli, exp, tmp_path):
    proc = remote_cli("submit", "exp", "-p", "spinnaker", "--input", "stim.txt", "--command",
                      "run.py {system} --sleep 60", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip()
    cancelled = remote_cli("cancel", job)
    assert cancelled.returncode == 0 and f"cancelled job {job}" in cancelled.stdout
    for _ in range(100):
        rec = json.loads(remote_cli("status", job, "--json").stdout)
        if rec["status"] == "error":
            break
    assert rec["status"] == "error" and "cancel" in rec["reason"]


def test_errors_are_one_line_with_exit_codes(remote_cli, ssh_home, exp, tmp_path):
    dirs = ssh_home.job_dirs()
    bad = remote_cli("submit", "exp", "-p", "spikey", "--station", "999", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "station 999" in bad.stderr
    missing = remote_cli("submit", "nope", "-p", "spikey", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    run = remote_cli("run", "-p", "spikey", "--", "true")
    assert run.returncode == 2 and "submit" in run.stderr
    assert ssh_home.job_dirs() == dirs and ssh_home.uploads_left() == []

    (ssh_home.client_home / ".ssh" / "known_hosts").write_text("")
    unknown = remote_cli("status")
    assert unknown.returncode == 1 and "--accept-new-host-key" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    first = remote_cli("--host", "testfrontend", "--accept-new-host-key", "list", host=None)
    assert first.returncode == 0, first.stderr
    assert "added the host key" in first.stderr
    assert remote_cli("list").returncode == 0

    down = remote_cli("list", host=f"{ssh_home.user}@127.0.0.1:1")
    assert down.returncode == 1 and "cannot connect" in down.stderr and "Traceback" not in down.stderr
    syntax = remote_cli("list", host="user@:22")
    assert syntax.returncode == 2 and "[USER@]HOST[:PORT]" in syntax.stderr


def test_host_only_for_remote_capable_commands(remote_cli, ssh_home):
    explicit = remote_cli("shell-env")
    assert explicit.returncode == 2 and "runs here only" in explicit.stderr
    env = dict(ssh_home.client_env(), NMCLUSTER_HOST="testfrontend")
    import subprocess
    import sys

    from_env = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "shell-env"], env=env,
                              capture_output=True, text=True)
    assert from_env.returncode == 0 and "PYTHONPATH" in from_env.stdout  # the env default is ignored there
    remote = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "info", "--json"], env=env,
                            capture_output=True, text=True)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout)["host"] == ssh_home.target  # ... and used by the remote-capable ones


def test_array_over_ssh(remote_cli, ssh_home, exp, tmp_path):
    """``submit --array`` with ``--host``: one upload, one remote array, a record per task (it was
    refused before: the remote service had no array submission)."""
    dirs = len(ssh_home.job_dirs())
    proc = remote_cli("submit", "exp", "-p", "spikey", "--input", "stim.txt", "--array", "3", "--command",
                      "run.py task{task}", "--wait", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recs = json.loads(proc.stdout)
    assert [r["command"] for r in recs] == ["run.py task0", "run.py task1", "run.py task2"]
    assert all(r["status"] == "finished" for r in recs)
    assert len(ssh_home.job_dirs()) == dirs + 3 and ssh_home.uploads_left() == []
    no_task = remote_cli("submit", "exp", "-p", "spikey", "--array", "3", cwd=tmp_path)
    assert no_task.returncode == 2 and "--array needs {task}" in no_task.stderr

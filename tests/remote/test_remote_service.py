"""RemoteService against a real OpenSSH server: submit -> finished -> results, host keys, faults."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from nmcluster.errors import (HardwareConfigError, HostKeyError, JobNotFoundError, RemoteAuthError,
                              RemoteCommandError, RemoteConnectionError, StagingError)
from nmcluster.jobs.spec import JobSpec
from nmcluster.remote.remote import RemoteService

RUN_PY = '''\
import json, os, sys
stim = open("stim.txt").read() if os.path.exists("stim.txt") else None
json.dump({"argv": sys.argv[1:], "stim": stim, "files": sorted(os.listdir("."))}, open("out.json", "w"))
print("remote experiment", sys.argv[1:])
'''


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "run.py").write_text(RUN_PY)
    (exp / "lib").mkdir()
    (exp / "lib" / "helper.py").write_text("X = 1\n")
    (exp / "link.py").symlink_to("lib/helper.py")  # a link inside the code stays a link
    outside = tmp_path / "outside.txt"
    outside.write_text("from outside")
    (exp / "outside-link.txt").symlink_to(outside)  # a link out of the code is sent as a file
    return exp


@pytest.fixture
def service(ssh_home):
    with RemoteService(ssh_home.target) as s:
        yield s


def test_submit_finish_results_over_ssh(service, ssh_home, experiment, tmp_path):
    stim = tmp_path / "stim.txt"
    stim.write_text("stimulus over ssh")
    hostile = "$(touch /tmp/nmcluster-pwned-$$)`id` ; 'q' \"dq\" \\ |&"
    before = ssh_home.accepted_logins()
    command = "run.py {system} " + shlex.quote(f"--x={hostile}")  # the job command is split like a shell line
    spec = JobSpec.create(str(experiment), "spikey", command=command,
                          inputs=[str(stim)], hardware_config={"STATION": "station500"},
                          tags=[hostile, "two words"], collab_id="c1")
    rec = service.submit(spec)
    assert rec.status in ("submitted", "running", "finished")
    assert rec.code == str(experiment)  # the name the user gave, not the upload path
    assert rec.command == command
    assert list(rec.input_data) == [str(stim)]
    assert list(rec.tags) == [hostile, "two words"]
    assert rec.hardware_config == {"STATION": "station500"}
    assert Path(rec.job_dir).parent == ssh_home.remote_job_root
    assert ssh_home.uploads_left() == []  # the upload directory is gone once the job has its snapshot

    rec = service.wait(rec.id, timeout=60, interval=0.1)
    assert rec.status == "finished", service.log(rec.id)
    assert "remote experiment" in service.log(rec.id)
    files = service.results(rec.id, tmp_path / "res", include_inputs=True)
    assert sorted(f.name for f in files) == ["out.json", "stim.txt"]
    out = json.loads((tmp_path / "res" / "out.json").read_text())
    assert out["argv"][1:] == [f"--x={hostile}"]
    assert out["stim"] == "stimulus over ssh"
    assert {"run.py", "lib", "link.py", "outside-link.txt", "stim.txt"} <= set(out["files"])
    work = Path(rec.job_dir) / "work"
    assert (work / "link.py").is_symlink() and not (work / "outside-link.txt").is_symlink()
    assert (work / "outside-link.txt").read_text() == "from outside"
    assert not list(Path("/tmp").glob("nmcluster-pwned-*"))
    assert [r.id for r in service.list(include_final=True, collab_id="c1")] == [rec.id]
    assert service.list(include_final=False) == []
    ssh_home.wait_logins(before + 1)
    assert ssh_home.accepted_logins() == before + 1  # one connection for every step


def test_code_kinds_and_stale_copies(service, ssh_home, experiment, tmp_path):
    archive = tmp_path / "exp.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(experiment / "run.py", arcname="exp-main/run.py")
    script = tmp_path / "single.py"
    script.write_text("import sys\nopen('single.txt', 'w').write(sys.argv[1])\n")
    jobs = {
        "archive": service.submit(JobSpec.create(str(archive), "spinnaker")),
        "script": service.submit(JobSpec.create(str(script), "spinnaker")),
        "text": service.submit(JobSpec.create("open('t.txt', 'w').write('t')\n", "spinnaker")),
    }
    (experiment / "run.py").write_text("open('v.txt', 'w').write('1')\n")
    jobs["v1"] = service.submit(JobSpec.create(str(experiment), "spinnaker"))
    (experiment / "run.py").write_text("open('v.txt', 'w').write('2')\n")
    jobs["v2"] = service.submit(JobSpec.create(str(experiment), "spinnaker"))
    for name, rec in jobs.items():
        done = service.wait(rec.id, timeout=60, interval=0.1)
        assert done.status == "finished", (name, service.log(rec.id))
    assert jobs["archive"].code == str(archive)
    assert jobs["text"].code.startswith("open('t.txt'")
    got = {}
    for name in ("v1", "v2"):
        (path,) = service.results(jobs[name].id, tmp_path / name)
        got[name] = path.read_text()
    assert got == {"v1": "1", "v2": "2"}  # re-submitting an edited folder never runs a stale copy
    assert ssh_home.uploads_left() == []


def test_bad_input_is_refused_before_or_by_the_frontend(service, ssh_home, experiment, tmp_path):
    before = ssh_home.job_dirs()
    with pytest.raises(StagingError, match="does not exist"):
        service.submit(JobSpec.create(str(tmp_path / "nope"), "spikey"))
    with pytest.raises(StagingError, match="not in the job's code"):
        service.submit(JobSpec.create(str(experiment), "spikey", command="missing.py"))
    with pytest.raises(StagingError, match="input file"):
        service.submit(JobSpec.create(str(experiment), "spikey", inputs=[str(tmp_path / "none.dat")]))
    with pytest.raises(HardwareConfigError, match="station 999"):  # the frontend's site config decides
        service.submit(JobSpec.create(str(experiment), "spikey", hardware_config={"STATION": 999}))
    with pytest.raises(JobNotFoundError, match=f"{ssh_home.target}: no job 4242"):  # same type as locally
        service.get(4242)
    assert ssh_home.job_dirs() == before
    assert ssh_home.uploads_left() == []


@pytest.mark.parametrize("how", ["close-transport", "kill-sshd"])
@pytest.mark.parametrize("during", ["code", "input"])
def test_connection_lost_mid_upload_leaves_no_job(ssh_home, experiment, tmp_path, how, during):
    big = tmp_path / "big.dat"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    if during == "code":
        (experiment / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    with RemoteService(ssh_home.target) as probe:
        jobs_before = [r.id for r in probe.list(include_final=True)]
    dirs_before = ssh_home.job_dirs()
    service = RemoteService(ssh_home.target)
    calls, pulled = [], []

    def pull_the_cable(name: str, done: int, total: int) -> None:
        calls.append((name, done))
        if (during == "code") == (name == str(experiment)) and done > 0 and not pulled:
            pulled.append(True)
            if how == "close-transport":
                service.connection.transport.close()
            else:
                assert ssh_home.kill_sessions() > 0

    service.upload_progress = pull_the_cable
    with pytest.raises(RemoteConnectionError, match="lost"):
        service.submit(JobSpec.create(str(experiment), "spikey", inputs=[str(big)]))
    assert pulled
    with RemoteService(ssh_home.target) as probe:
        assert [r.id for r in probe.list(include_final=True)] == jobs_before  # nothing registered
    assert ssh_home.job_dirs() == dirs_before
    # the same service reconnects and works again
    service.upload_progress = None
    rec = service.submit(JobSpec.create(str(experiment), "spikey", inputs=[str(big)]))
    assert service.wait(rec.id, timeout=60, interval=0.1).status == "finished"
    service.close()


def test_unknown_and_changed_host_keys_are_refused(ssh_home, tmp_path):
    known = ssh_home.client_home / ".ssh" / "known_hosts"
    known.write_text("")
    with pytest.raises(HostKeyError, match="unknown"):
        RemoteService(ssh_home.target).info()
    assert known.read_text() == ""

    with RemoteService(ssh_home.target, accept_new_host_key=True) as s:  # first contact, explicitly
        assert s.info()["job_root"] == str(ssh_home.remote_job_root)
    assert known.read_text() == ssh_home.known_hosts_line()
    with RemoteService(ssh_home.target) as s:  # now known
        s.info()

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, b64 = other.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"# a comment\n{ssh_home.host_key_name} {kind} {b64}\n")
    for accept in (False, True):  # a changed key is refused even with accept-new
        with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
            RemoteService(ssh_home.target, accept_new_host_key=accept).info()
    assert known.read_text() == f"# a comment\n{ssh_home.host_key_name} {kind} {b64}\n"


def test_auth_failure_and_missing_remote_nmcluster(ssh_home):
    with pytest.raises(RemoteAuthError, match="never with a password"):
        RemoteService(f"nosuchuser@127.0.0.1:{ssh_home.port}").info()
    with pytest.raises(RemoteCommandError, match="not found by a login shell"):
        RemoteService(ssh_home.target, remote_command="/nonexistent/nmcluster").info()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(RemoteConnectionError, match="cannot connect"):
        RemoteService(f"{ssh_home.user}@127.0.0.1:{closed_port}").info()


def test_ssh_config_alias_and_proxyjump(ssh_home):
    config = ssh_home.client_home / ".ssh" / "config"
    config.write_text(config.read_text() + (
        f"Host viajump\n  HostName 127.0.0.1\n  Port {ssh_home.port}\n  User {ssh_home.user}\n"
        f"  IdentityFile {ssh_home.client_key}\n  ProxyJump {ssh_home.user}@127.0.0.1:{ssh_home.port}\n"))
    with RemoteService("testfrontend") as s:
        assert s.label == ssh_home.target
        assert s.info()["job_root"] == str(ssh_home.remote_job_root)
    before = ssh_home.accepted_logins()
    with RemoteService("viajump") as s:
        assert s.info()["executor"] == "local"
    assert ssh_home.wait_logins(before + 2) == before + 2  # the jump host, then the target through it

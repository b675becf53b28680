"""Pieces of the remote layer that need no server: target syntax, config resolution, quoting, records."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import time

import pytest

from nmcluster.errors import UserInputError
from nmcluster.jobs.store import JobRecord
from nmcluster.remote.remote import RemoteService, parse_job_id
from nmcluster.remote.ssh import HostSpec, SshOptions, resolve


@pytest.mark.parametrize("text,expected", [
    ("frontend", ("frontend", None, None)),
    ("alice@frontend", ("frontend", "alice", None)),
    ("alice@frontend:2222", ("frontend", "alice", 2222)),
    ("ssh://bob@10.0.0.1:22/", ("10.0.0.1", "bob", 22)),
    ("[::1]:2200", ("::1", None, 2200)),
    ("carol@[fe80::1]", ("fe80::1", "carol", None)),
    ("fe80::1", ("fe80::1", None, None)),
])
def test_host_spec_parse(text, expected):
    spec = HostSpec.parse(text)
    assert (spec.host, spec.user, spec.port) == expected


@pytest.mark.parametrize("text", ["", "-oProxyCommand=x", "a b", "@host", "host:0", "host:99999", "host:x",
                                  "[::1", "user@:22"])
def test_host_spec_rejects(text):
    with pytest.raises(UserInputError):
        HostSpec.parse(text)


def test_resolve_uses_ssh_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = tmp_path / "config"
    cfg.write_text("Host fe\n  HostName 10.1.2.3\n  Port 2222\n  User bob\n  IdentityFile ~/k1\n"
                   "  ProxyJump jump@gw\n  UserKnownHostsFile ~/kh1 ~/kh2\n  IdentitiesOnly yes\n"
                   "  StrictHostKeyChecking accept-new\n")
    t = resolve("fe", SshOptions(ssh_config=str(cfg), username="ignored"))
    assert (t.hostname, t.port, t.user) == ("10.1.2.3", 2222, "bob")
    assert t.identity_files == (str(tmp_path / "k1"),) and t.identities_only
    assert t.proxy_jump == "jump@gw" and t.accept_new
    assert t.known_hosts == (str(tmp_path / "kh1"), str(tmp_path / "kh2"))
    assert t.host_key_name == "[10.1.2.3]:2222" and t.label == "bob@10.1.2.3:2222"
    t = resolve("alice@fe:22", SshOptions(ssh_config=str(cfg)))  # explicit beats config
    assert (t.user, t.port, t.host_key_name) == ("alice", 22, "10.1.2.3")
    t = resolve("other", SshOptions(ssh_config=str(cfg), username="carol"))
    assert (t.hostname, t.port, t.user, t.proxy_jump) == ("other", 22, "carol", None)
    assert t.known_hosts == (str(tmp_path / ".ssh" / "known_hosts"),) and not t.accept_new


def test_remote_command_line_quotes_every_argument(tmp_path):
    """The line sshd hands to the user's shell runs nmcluster with exactly the given arguments."""
    fake = tmp_path / "fake-nmcluster"
    fake.write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    service = RemoteService("alice@frontend", remote_command=str(fake))
    args = ["submit", "--command=run.py {system} $(touch x) `id` ; 'a' \"b\" \\ \n|&", "--tag=$HOME", "--",
            "-weird name"]
    line, marker = service.shell_command(args)
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(marker + "\n", 1)[1].strip() == json.dumps(args)
    assert not (tmp_path / "x").exists()
    line, _ = service.shell_command(["status"], after=f"rm -rf -- {shlex.quote(str(tmp_path / 'gone'))}")
    (tmp_path / "gone").mkdir()
    subprocess.run(["sh", "-c", line], capture_output=True, cwd=tmp_path,
                   env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert not (tmp_path / "gone").exists()


def test_record_round_trip_through_json():
    now = time.time()
    rec = JobRecord(id=3, status="finished", code="exp", command="run.py {system}", platform="spikey",
                    user="u", timestamp_submission=now, hardware_config={"STATION": "station500"},
                    input_data=("a.txt",), output_data=("o.txt",), tags=("t",), timestamp_completion=now + 1,
                    exit_code=0, emulated=True, backend="nmcluster.spikey")
    back = JobRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert back.timestamp_submission == pytest.approx(now, abs=1e-5)
    assert back.timestamp_completion == pytest.approx(now + 1, abs=1e-5)
    assert dataclasses.replace(back, timestamp_submission=now, timestamp_completion=now + 1) == rec


def test_job_ids_from_numbers_and_uris():
    assert parse_job_id(5) == parse_job_id("5") == parse_job_id("/api/v2/queue/5") == \
        parse_job_id("/api/v2/results/5/") == 5
    with pytest.raises(UserInputError):
        parse_job_id("abc")

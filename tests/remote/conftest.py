"""A real OpenSSH server on 127.0.0.1 (session-scoped) and helpers for working against it.

Without ``sshd`` (Debian ``openssh-server``) the remote tests are skipped, or fail when
``NMCLUSTER_REQUIRE_SSHD=1`` (CI).  See ``sshd_server.py`` for the recipe and what is isolated how.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "nmcluster.cli.main"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"nmcluster_tests_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sshd_server = _load("sshd_server")


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("NMCLUSTER_REQUIRE_SSHD") == "1":
        pytest.fail(f"NMCLUSTER_REQUIRE_SSHD=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """The running test server (``sshd.target``: ``user@127.0.0.1:port``; alias ``testfrontend``)."""
    if sshd_server.find_sshd() is None:
        _skip_or_fail("sshd is not installed (apt-get install openssh-server)")
    if shutil.which("ssh-keygen") is None:
        _skip_or_fail("ssh-keygen is not installed (apt-get install openssh-client)")
    server = sshd_server.TestSshd(tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        _skip_or_fail(f"cannot start the test sshd: {exc}")
    yield server
    server.stop()


@pytest.fixture
def ssh_home(sshd, monkeypatch):
    """This process as an SSH client of ``sshd``: HOME is the test client home with a fresh known_hosts
    and ~/.ssh/config; no agent; no NMCLUSTER_HOST."""
    for key in ("SSH_AUTH_SOCK", "NMCLUSTER_HOST", "NMCLUSTER_REMOTE_COMMAND"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(sshd.client_home))
    ssh = sshd.client_home / ".ssh"
    (ssh / "known_hosts").write_text(sshd.known_hosts_line())
    (ssh / "config").write_text(
        f"Host testfrontend\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.client_key}\n")
    return sshd


@pytest.fixture
def remote_cli(ssh_home):
    """Run ``nmcluster --host testfrontend ARGS`` as a separate process (the user's laptop)."""

    def run(*args: str, host: str | None = "testfrontend", cwd: Path | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
        argv = [*CLI, *(["--host", host] if host else []), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              env=ssh_home.client_env())

    return run

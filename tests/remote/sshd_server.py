"""A real OpenSSH server on 127.0.0.1 for the remote tests and ``benchmarks/remote_submit.py``.

Verified recipe (Debian ``openssh-server``): absolute ``-f`` config path; ``/run/sshd`` (0755) must exist;
``UsePAM no``; ``StrictModes no`` (keys live in a temp dir); ``PermitRootLogin prohibit-password``;
``Subsystem sftp internal-sftp``; its own host key and one authorized test key; a free port.

Nothing of the invoking user's is touched: ``SetEnv HOME=...`` gives SSH sessions a private home (its
``.bash_profile`` puts this checkout's ``nmcluster`` on the login shell's PATH and prints a greeting, like
real login scripts do) and ``NMCLUSTER_CONFIG`` a private site config (local executor, job root in the
temp dir).  The client side gets its own ``HOME`` too (``client_home``: ``.ssh/id_ed25519``,
``.ssh/known_hosts`` holding the server's key, ``.ssh/config``).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


def find_sshd() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nmcluster-test", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)


class TestSshd:
    """Start with :meth:`start`, stop with :meth:`stop`; ``target`` is ``user@127.0.0.1:port``."""

    __test__ = False  # not a pytest test class

    def __init__(self, base: Path, bin_dir: Path | None = None, executor: str = "local") -> None:
        self.base = Path(base).resolve()
        self.bin_dir = Path(bin_dir or Path(sys.executable).parent)
        self.executor = executor
        self.user = getpass.getuser()
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.remote_home = self.base / "remote-home"
        self.remote_job_root = self.remote_home / "jobs"
        self.site_config = self.base / "remote-site.toml"
        self.client_home = self.base / "client-home"
        self.log = self.base / "sshd.log"
        self.host_key = self.base / "ssh_host_ed25519_key"
        self.client_key = self.client_home / ".ssh" / "id_ed25519"

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    @property
    def host_key_name(self) -> str:
        return f"[127.0.0.1]:{self.port}"

    def known_hosts_line(self) -> str:
        kind, b64 = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{self.host_key_name} {kind} {b64}\n"

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for a client process: its own HOME, no agent, no NMCLUSTER_HOST."""
        env = dict(os.environ if base is None else base)
        env["HOME"] = str(self.client_home)
        for key in ("SSH_AUTH_SOCK", "NMCLUSTER_HOST", "NMCLUSTER_REMOTE_COMMAND"):
            env.pop(key, None)
        return env

    def start(self, timeout_s: float = 15.0) -> "TestSshd":
        sshd = find_sshd()
        if sshd is None:
            raise FileNotFoundError("sshd not found (Debian package openssh-server)")
        self.base.mkdir(parents=True, exist_ok=True)
        (self.client_home / ".ssh").mkdir(parents=True, exist_ok=True, mode=0o700)
        self.remote_home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        if not self.host_key.exists():
            _keygen(self.host_key)
        if not self.client_key.exists():
            _keygen(self.client_key)
        authorized = self.base / "authorized_keys"
        authorized.write_text(self.client_key.with_suffix(".pub").read_text())
        self.site_config.write_text(f'job_root = "{self.remote_job_root}"\nexecutor = "{self.executor}"\n')
        (self.remote_home / ".bash_profile").write_text(
            f'export PATH="{self.bin_dir}:$PATH"\n'
            'echo "Welcome to the test frontend (a login script that prints)."\n')
        self.port = free_port()
        config = self.base / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.base / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "AllowTcpForwarding yes",
            "Subsystem sftp internal-sftp",
            "MaxStartups 100",
            "MaxSessions 50",
            "LogLevel VERBOSE",
            f"SetEnv HOME={self.remote_home} NMCLUSTER_CONFIG={self.site_config}",
            "",
        ]))
        (self.client_home / ".ssh" / "known_hosts").write_text(self.known_hosts_line())
        (self.client_home / ".ssh" / "config").write_text(
            f"Host testfrontend\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
            f"  IdentityFile {self.client_key}\n")
        self.proc = subprocess.Popen([sshd, "-D", "-f", str(config), "-E", str(self.log)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not answer on port {self.port}: {self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text().strip().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def session_pids(self) -> list[int]:
        """Processes below the listening sshd (one set per open connection)."""
        if self.proc is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        out, todo = [], list(children.get(self.proc.pid, []))
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def kill_sessions(self) -> int:
        """SIGKILL every connection's sshd processes (the network cable is pulled); returns how many."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def accepted_logins(self) -> int:
        """How many SSH logins the server has accepted so far (each is one connection)."""
        try:
            return self.log.read_text().count("Accepted publickey")
        except OSError:
            return 0

    def wait_logins(self, count: int, timeout_s: float = 5.0) -> int:
        """sshd writes its log asynchronously: wait until ``count`` logins are logged (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while self.accepted_logins() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.accepted_logins()

    def job_dirs(self) -> list[str]:
        """Job and staging directories in the remote job root."""
        root = self.remote_job_root
        if not root.exists():
            return []
        return sorted(p.name for p in root.iterdir() if p.name.isdigit() or p.name.startswith(".staging"))

    def uploads_left(self) -> list[str]:
        uploads = self.remote_job_root / ".uploads"
        return sorted(os.listdir(uploads)) if uploads.exists() else []

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill_sessions()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

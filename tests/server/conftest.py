"""Fixtures for the platform server: a real ``nmcluster serve`` process on 127.0.0.1 (random free port)
with the local executor and its own job root, tokens made with the real ``nmcluster admin token`` CLI,
and the REAL platform client (PyPI ``hbp-neuromorphic-platform``) in a virtual environment of its own
(``.client-venv``; scripts/test creates it), driven as a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT_PY = REPO / ".client-venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nmc(args: list[str], env: dict[str, str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"nmcluster {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class Server:
    url: str
    env: dict[str, str]
    tmp: Path
    proc: subprocess.Popen
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str, *extra: str) -> str:
        return nmc(["admin", "token", "create", user, *extra], self.env).stdout.strip()

    def request(self, method: str, path: str, token: str | None = None, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if body is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method: str, path: str, token: str | None = None, data=None) -> tuple[int, object]:
        status, body = self.request(method, path, token, None if data is None else json.dumps(data).encode())
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")


def site_toml(tmp: Path, extra: str = "") -> Path:
    path = tmp / "site.toml"
    path.write_text(f'job_root = "{tmp / "jobs"}"\nexecutor = "local"\n\n[server]\n'
                    f'collabs = {{ "563" = ["alice"], "777" = ["bob"], "shared" = ["alice", "bob"] }}\n'
                    f'admin_users = ["admin"]\ninternal_hosts = ["127.0.0.1"]  # the tests serve code here\n{extra}')
    return path


def start_server(tmp: Path, extra: str = "", config: Path | None = None,
                 env_extra: dict[str, str] | None = None) -> Server:
    """``nmcluster serve`` with the local executor and ``site_toml`` (or ``config`` and ``env_extra``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"),
           "XDG_CONFIG_HOME": str(tmp / "config"), "NMCLUSTER_CONFIG": str(config or site_toml(tmp, extra)),
           "PYTHONPATH": str(REPO)}
    for k in ("SLURM_CONF", "NMCLUSTER_HOST", "MY_STAGE1_STATION", "NMCLUSTER_PARTITION"):
        env.pop(k, None)
    env.update(env_extra or {})
    port = free_port()
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "nmcluster.cli.main", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/about", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"nmcluster serve did not start: {(tmp / 'server.log').read_text()}")
            time.sleep(0.1)
    return Server(url=url, env=env, tmp=tmp, proc=proc)


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture
def server(tmp_path: Path):
    pytest.importorskip("fastapi")
    srv = start_server(tmp_path / "srv")
    srv.tokens = {u: srv.token(u) for u in ("alice", "bob", "admin")}
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The real client's interpreter (skipped with the reason outside CI when it cannot be made)."""
    if not CLIENT_PY.exists():
        proc = subprocess.run(f"{sys.executable} -m venv {REPO / '.client-venv'} && {CLIENT_PY} -m pip install -q "
                              f"hbp-neuromorphic-platform", shell=True, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 and os.environ.get("CI") != "true":
            pytest.skip(f"cannot install the real nmpi client (hbp-neuromorphic-platform): {proc.stderr[-300:]}")
    return CLIENT_PY


def run_client(python: Path, server: Server, user: str, body: str, cwd: Path, timeout: float = 120) -> dict:
    """Run ``body`` with ``c = nmpi.Client(...)`` of the real client; it prints one JSON line at the end."""
    script = (f"import json, os, sys, time, warnings\nwarnings.simplefilter('ignore')\nimport nmpi\n"
              f"c = nmpi.Client(job_service={server.url!r}, user_info_endpoint={server.url + '/userinfo'!r}, "
              f"token={server.tokens[user]!r})\n{body}")
    cwd.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(cwd), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*"}
    proc = subprocess.run([str(python), "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"client failed: {proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])

"""Fixtures for job-spine tests: an isolated site config and a CLI runner that uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NMCLUSTER = [sys.executable, "-m", "nmcluster.cli.main"]


class LocalSite:
    """A site config in a temp dir, and helpers to run the real CLI against it."""

    def __init__(self, root: Path, extra_env: dict[str, str] | None = None, executor: str = "local",
                 extra_toml: str = "") -> None:
        self.root = root
        self.job_root = root / "jobs"
        self.config = root / "site.toml"
        self.config.write_text(f'job_root = "{self.job_root}"\nexecutor = "{executor}"\n{extra_toml}')
        drop = ("MY_STAGE1_STATION", "NMCLUSTER_PARTITION", "NMCLUSTER_WAFER")
        if executor == "local":
            drop += ("SLURM_CONF",)
        self.env = {k: v for k, v in os.environ.items() if k not in drop}
        self.env.update(NMCLUSTER_CONFIG=str(self.config), NMCLUSTER_QUIET="1")
        self.env.update(extra_env or {})

    def cli(self, *args: str, check: bool = False, timeout: float = 120, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([*NMCLUSTER, *args], capture_output=True, text=True, timeout=timeout,
                              env=env or self.env, cwd=cwd or self.root)
        if check and proc.returncode != 0:
            raise AssertionError(f"nmcluster {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def submit(self, *args: str) -> int:
        return int(self.cli("submit", *args, check=True).stdout.strip())

    def record(self, job: int) -> dict:
        return json.loads(self.cli("status", str(job), "--json", check=True).stdout)

    def wait(self, job: int, timeout: float = 60) -> dict:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rec = self.record(job)
            if rec["status"] in ("finished", "error"):
                return rec
            time.sleep(0.2)
        raise AssertionError(f"job {job} did not finish in {timeout} s: {rec}")

    def records(self) -> list[dict]:
        return json.loads(self.cli("list", "--all", "--json", check=True).stdout)

    def leftovers(self) -> list[str]:
        """Anything in the job root besides the (possibly empty) store and the lock dir."""
        if not self.job_root.exists():
            return []
        return sorted(p.name for p in self.job_root.iterdir()
                      if not p.name.startswith("jobs.sqlite") and p.name != "locks")


@pytest.fixture
def local_site(tmp_path: Path) -> LocalSite:
    return LocalSite(tmp_path)


@pytest.fixture
def slurm_site(tmp_path: Path, slurm_cluster) -> LocalSite:
    """Like ``local_site`` but submitting to the real Slurm test cluster (isolated job root)."""
    return LocalSite(tmp_path, executor="slurm",
                     extra_toml=f'[slurm]\njobcomp_file = "{slurm_cluster.jobcomp_file}"\n')


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    """A small experiment folder whose script records its arguments, environment and timing."""
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "main.py").write_text(
        "import json, os, sys, time\n"
        "t0 = time.time()\n"
        "time.sleep(float(os.environ.get('SLEEP', '0')))\n"
        "json.dump({'argv': sys.argv[1:], 'station': os.environ.get('MY_STAGE1_STATION'),\n"
        "           'hicanns': os.environ.get('SLURM_HICANNS'), 'licenses': os.environ.get('SLURM_HARDWARE_LICENSES'),\n"
        "           'backend': os.environ.get('NMCLUSTER_BACKEND'), 'cwd_files': sorted(os.listdir('.')),\n"
        "           'start': t0, 'end': time.time()}, open('result.json', 'w'))\n"
        "print('hello from', sys.argv[1:])\n"
        "sys.exit(int(os.environ.get('EXIT', '0')))\n")
    (exp / "run.py").write_text("import sys\nopen('ran.txt', 'w').write(' '.join(sys.argv[1:]))\n")
    return exp

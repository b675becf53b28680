"""Shared fixtures.

* ``slurm_cluster`` (session): the real single-node Slurm test cluster from ``scripts/test-cluster``, started
  once per session (or reused when it already runs), with ``SLURM_CONF`` and ``NMCLUSTER_CONFIG`` set in
  ``os.environ`` for the session.  Without Slurm installed the test is skipped, or fails when
  ``NMCLUSTER_REQUIRE_SLURM=1`` (CI).  Sessions running side by side share the cluster through leases;
  it is stopped at the end only if a session started it and no other session still uses it.
* ``site_config`` (function): an isolated :class:`~nmcluster.config.SiteConfig` (built-in defaults) whose
  job root is ``tmp_path / "jobs"``, for tests that need no Slurm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_CLUSTER = REPO / "scripts" / "test-cluster"
SLURM_BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged")


@dataclass(frozen=True)
class SlurmCluster:
    dir: Path
    site_config_path: Path
    slurm_conf: Path
    jobcomp_file: Path
    nodes: tuple[str, ...]
    started: bool  # this session started it
    env: dict[str, str] = field(default_factory=dict)  # SLURM_CONF, NMCLUSTER_CONFIG


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("NMCLUSTER_REQUIRE_SLURM") == "1":
        pytest.fail(f"NMCLUSTER_REQUIRE_SLURM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _private_user_dirs(tmp_path_factory):
    """No test reads or writes the real user's data or config: the per-user defaults (job root, calibration
    store, benchmark database, site config under ~/.config) point into a temporary directory for the whole
    session, whatever the machine's $HOME holds (a developer's own calibrations must not change results)."""
    root = tmp_path_factory.mktemp("user-dirs")
    saved = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    for key, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache")):
        (root / sub).mkdir(mode=0o700)
        os.environ[key] = str(root / sub)
    try:
        yield root
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def slurm_cluster():
    missing = [b for b in SLURM_BINARIES if shutil.which(b) is None]
    if missing:
        _skip_or_fail(f"Slurm is not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        _skip_or_fail("the Slurm test cluster must be started as root")
    lease = os.getpid()
    proc = subprocess.run([sys.executable, str(TEST_CLUSTER), "start", "--json", "--lease", str(lease)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        _skip_or_fail(f"scripts/test-cluster start failed: {proc.stderr.strip() or proc.stdout.strip()}")
    info = json.loads(proc.stdout)
    env = {"SLURM_CONF": info["SLURM_CONF"], "NMCLUSTER_CONFIG": info["NMCLUSTER_CONFIG"]}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield SlurmCluster(dir=Path(info["dir"]), site_config_path=Path(info["NMCLUSTER_CONFIG"]),
                           slurm_conf=Path(info["SLURM_CONF"]), jobcomp_file=Path(info["jobcomp_file"]),
                           nodes=tuple(info["nodes"]), started=bool(info["started"]), env=env)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        # stops the cluster only if a session started it and no other live session holds a lease
        subprocess.run([sys.executable, str(TEST_CLUSTER), "--dir", info["dir"], "release", "--lease",
                        str(lease)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="session")
def accounting_cluster():
    """The Slurm test cluster with accounting (``scripts/test-cluster start --accounting``: MariaDB with its own
    data directory and socket, slurmdbd, quotas enforced), in its own directory beside the plain one; the
    description ``start --json`` prints (``SLURM_CONF``, ``NMCLUSTER_CONFIG``, ...).  Shared by the quota and
    the server tests; released (stopped when this session started it) at the end."""
    missing = [b for b in ("slurmctld", "slurmdbd", "mariadbd", "sacctmgr", "sacct") if shutil.which(b) is None]
    if missing:
        _skip_or_fail(f"missing {', '.join(missing)} (apt-get install slurm-wlm slurmdbd mariadb-server)")
    if os.geteuid() != 0:
        _skip_or_fail("the accounting test cluster runs as root")
    cluster_dir = os.environ.get("NMCLUSTER_ACCT_CLUSTER", "/tmp/nmcluster-acct-cluster")
    lease = os.getpid()
    proc = subprocess.run([sys.executable, str(TEST_CLUSTER), "--dir", cluster_dir, "start", "--accounting",
                           "--json", "--lease", str(lease)], capture_output=True, text=True, timeout=240)
    if proc.returncode != 0:
        _skip_or_fail(f"scripts/test-cluster start --accounting failed: {proc.stderr.strip() or proc.stdout.strip()}")
    try:
        yield json.loads(proc.stdout)
    finally:
        subprocess.run([sys.executable, str(TEST_CLUSTER), "--dir", cluster_dir, "release", "--lease", str(lease)],
                       capture_output=True, text=True, timeout=120)


@pytest.fixture
def site_config(tmp_path):
    """Built-in site defaults with an isolated job root (``tmp_path/"jobs"``); no Slurm needed."""
    from nmcluster.config import parse_config

    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    return parse_config({"job_root": str(tmp_path / "jobs")}, env=env, source="test")

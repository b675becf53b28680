"""Fixtures for the Python client: an ``nmpi``-style Client on the local executor or on the real Slurm
test cluster (``slurm_cluster`` from tests/conftest.py), each with its own job root."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ENV_DEFAULTS = ("MY_STAGE1_STATION", "NMCLUSTER_PARTITION", "NMCLUSTER_WAFER", "NMCLUSTER_HOST")

EXPERIMENT = '''\
import json, os, sys, time
args = sys.argv[1:]
if "--sleep" in args:
    time.sleep(float(args[args.index("--sleep") + 1]))
stim = open("stim.txt").read() if os.path.exists("stim.txt") else None
os.makedirs("figures", exist_ok=True)
open("figures/plot.txt", "w").write("plot")
json.dump({"argv": args, "stim": stim, "account": os.environ.get("SLURM_JOB_ACCOUNT"),
           "station": os.environ.get("MY_STAGE1_STATION"), "backend": os.environ.get("NMCLUSTER_BACKEND"),
           "version": VERSION}, open("result.json", "w"))
print("experiment ran with", args)
'''


def write_experiment(folder: Path, version: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.py").write_text(EXPERIMENT.replace("VERSION", str(version)))
    (folder / "fail.py").write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    return folder


@pytest.fixture
def experiment_dir(tmp_path: Path) -> Path:
    return write_experiment(tmp_path / "exp")


@pytest.fixture
def stim(tmp_path: Path) -> Path:
    path = tmp_path / "stim.txt"
    path.write_text("stimulus 42")
    return path


def make_site(tmp_path: Path, executor: str, extra: str = "") -> Path:
    config = tmp_path / "site.toml"
    config.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "{executor}"\n{extra}')
    return config


@pytest.fixture(params=["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def executor(request) -> str:
    return request.param


@pytest.fixture
def client_site(request, executor: str, tmp_path: Path, monkeypatch) -> Path:
    """``NMCLUSTER_CONFIG`` -> a site file for ``executor`` with a job root in ``tmp_path``."""
    for key in ENV_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    extra = ""
    if executor == "slurm":
        cluster = request.getfixturevalue("slurm_cluster")
        extra = f'[slurm]\njobcomp_file = "{cluster.jobcomp_file}"\n'
    config = make_site(tmp_path, executor, extra)
    monkeypatch.setenv("NMCLUSTER_CONFIG", str(config))
    monkeypatch.setenv("NMCLUSTER_QUIET", "1")
    return config


@pytest.fixture
def client(client_site):
    from nmcluster.client import Client

    c = Client("myusername", token="ignored")
    yield c
    c.close()


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """A local bare git repository holding the experiment (the guidebook's git example, offline)."""
    work = write_experiment(tmp_path / "repo-work")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "."], ["git", "commit", "-q", "-m", "exp"]):
        subprocess.run(argv, cwd=work, check=True, env=env, capture_output=True)
    bare = tmp_path / "nmpi_test.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, capture_output=True)
    return bare

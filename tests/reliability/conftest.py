"""Fixtures of the reliability suite.

``rel_cluster`` (session): a *private* four-node Slurm test cluster (``scripts/test-cluster start --nodes 4
--dir <tmp>``, own ports and state) that the fault tests may break: killing a slurmd, restarting
slurmctld.  The shared single-node cluster of ``tests/conftest.py`` is never touched.  Stopped and removed
at the end of the session.

Sizes: the load test submits ``$NMCLUSTER_RELIABILITY_JOBS`` jobs (default 200) plus a sweep of
``$NMCLUSTER_RELIABILITY_ARRAY`` tasks (default 200) so that the whole suite stays within a few minutes on
a 2-core machine; ``benchmarks/reliability.py`` runs the full 1000 + 1000.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_harness as harness  # noqa: E402


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("NMCLUSTER_REQUIRE_SLURM") == "1":
        pytest.fail(f"NMCLUSTER_REQUIRE_SLURM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rel_cluster():
    why = harness.prerequisites()
    if why:
        _skip_or_fail(why)
    try:
        cluster = harness.Cluster.start(nodes=4, cpus=16)
    except RuntimeError as exc:
        _skip_or_fail(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def rel_experiment(tmp_path: Path) -> Path:
    return harness.make_experiment(tmp_path / "exp")


@pytest.fixture
def rel_site(tmp_path: Path, rel_cluster) -> harness.Site:
    """An isolated site (own job root) submitting to the private multi-node cluster, which is first
    brought back to empty and idle (whatever the previous test left)."""
    rel_cluster.settle()
    return harness.Site(tmp_path / "site", rel_cluster)


@pytest.fixture
def local_rel_site(tmp_path: Path) -> harness.Site:
    """An isolated site using the local executor (no Slurm)."""
    return harness.Site(tmp_path / "local-site", None, executor="local")

"""Faults injected into the private multi-node cluster (real processes, real signals): a node dying under a
running job, slurmctld restarted mid-run and killed outright, the job runner SIGKILLed, and a full disk
under the job root.  Each scenario lives in :mod:`reliability_harness` (shared with
``benchmarks/reliability.py``) and returns the problems it found."""

from __future__ import annotations

import pytest

import reliability_harness as harness

pytestmark = [pytest.mark.reliability, pytest.mark.slurm]


def _ok(out: harness.Outcome) -> None:
    print(f"\n{out.name}: {out.row()} {out.figures}")
    assert not out.problems, "\n".join(out.problems)


def test_node_killed_job_is_requeued_and_finishes(rel_site, rel_experiment):
    _ok(harness.node_killed(rel_site, rel_experiment, requeue=True))


def test_node_killed_without_requeue_is_an_error_with_reason(rel_site, rel_experiment):
    _ok(harness.node_killed(rel_site, rel_experiment, requeue=False))


def test_slurmctld_restart_mid_run(rel_site, rel_experiment):
    _ok(harness.slurmctld_restarted(rel_site, rel_experiment))


def test_slurmctld_down_is_a_clean_error(rel_site, rel_experiment):
    _ok(harness.slurmctld_down(rel_site, rel_experiment))


def test_runner_sigkill_slurm(rel_site, rel_experiment):
    _ok(harness.runner_killed(rel_site, rel_experiment))


def test_runner_sigkill_local(local_rel_site, rel_experiment):
    _ok(harness.runner_killed(local_rel_site, rel_experiment))


def test_disk_full_on_the_job_root(tmp_path, rel_cluster, rel_experiment):
    try:
        with harness.small_filesystem(tmp_path / "probe", 64):
            pass
    except OSError as exc:
        pytest.skip(str(exc))
    _ok(harness.disk_full(tmp_path / "disk", rel_experiment, rel_cluster))

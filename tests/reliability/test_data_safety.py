"""Data safety: writers SIGKILLed at random points.  The job store and the calibration store must stay
readable with their previous state intact; a half-done submission must stay invisible and be cleaned up by
the next one."""

from __future__ import annotations

import importlib.util

import pytest

import reliability_harness as harness

pytestmark = pytest.mark.reliability


def test_job_store_writer_killed_100_times(tmp_path):
    out = harness.store_writer_killed(tmp_path / "store", trials=100)
    print(f"\n{out.name}: {out.row()} {out.figures}")
    assert not out.problems, "\n".join(out.problems[:10])
    assert out.survived == 100


def test_submit_killed_at_random_points_local(local_rel_site, rel_experiment):
    out = harness.submit_killed(local_rel_site, rel_experiment, trials=20)
    print(f"\n{out.name}: {out.row()} {out.figures}")
    assert not out.problems, "\n".join(out.problems[:10])


@pytest.mark.slurm
def test_submit_killed_at_random_points_slurm(rel_site, rel_experiment):
    out = harness.submit_killed(rel_site, rel_experiment, trials=20)
    print(f"\n{out.name}: {out.row()} {out.figures}")
    assert not out.problems, "\n".join(out.problems[:10])


@pytest.mark.skipif(importlib.util.find_spec("nmcluster.calib") is None,
                    reason="the calibration store (nmcluster.calib) is not installed")
def test_calibration_writer_killed_100_times(tmp_path):
    """New versions and roll-backs of a station's calibration, the writer SIGKILLed at random points."""
    out = harness.calib_writer_killed(tmp_path, trials=100)
    print(f"\n{out.name}: {out.row()} {out.figures}")
    assert not out.problems, "\n".join(out.problems[:10])
    assert out.survived == 100 and out.figures["versions"] > 0

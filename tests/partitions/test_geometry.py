"""Wafer geometry: the facts of SPEC.md, checked over the whole wafer."""

import subprocess
import sys
from collections import Counter

import pytest

from nmcluster.hwdrivers.wafer import geometry as g


def test_384_hicanns_on_48_fpgas_of_8():
    counts = Counter(g.fpga_of_hicann(h) for h in range(384))
    assert sorted(counts) == list(range(48))
    assert set(counts.values()) == {8}


def test_known_examples():
    assert g.fpga_of_hicann(367) == 34
    assert g.hicanns_of_fpga(12) == (0, 1, 2, 3, 12, 13, 14, 15)
    assert g.license_by_hicann(33, 367) == "W33F34"
    assert g.hicann_coord(0) == (12, 0)
    assert g.hicann_coord(383) == (23, 15)


def test_row_widths_and_reticles():
    rows = Counter(y for _, y in g.HICANN_COORDS)
    assert tuple(rows[y] for y in range(16)) == g.ROW_WIDTHS
    per_reticle = Counter(g.HICANN_RETICLE)
    assert len(per_reticle) == 48 and set(per_reticle.values()) == {8}
    for r in range(48):  # a reticle's HICANNs are exactly its FPGA's HICANNs
        assert set(g.hicanns_of_reticle(r)) == set(g.hicanns_of_fpga(g.fpga_of_reticle(r)))


def test_neighbours_are_symmetric():
    for h in range(384):
        for n in g.neighbours(h):
            assert h in g.neighbours(n)


@pytest.mark.parametrize("bad", [-1, 384, 1000])
def test_out_of_range(bad):
    with pytest.raises(ValueError, match="out of range 0..383"):
        g.fpga_of_hicann(bad)


def test_fpga_ip_scheme():
    assert g.fpga_ip(33, 0) == "192.168.33.1"
    assert g.fpga_ip(33, 13) == "192.168.33.34"


def test_license_by_hicann_command():
    cmd = [sys.executable, "-m", "nmcluster.cli.license_by_hicann"]
    out = subprocess.run([*cmd, "33", "367"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "W33F34"
    many = subprocess.run([*cmd, "33", "0,1,367"], capture_output=True, text=True)
    assert many.stdout.strip() == "W33F12,W33F34"
    bad = subprocess.run([*cmd, "33", "384"], capture_output=True, text=True)
    assert bad.returncode == 2 and "out of range" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

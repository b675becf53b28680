"""Properties of the wafer geometry (HICANN <-> coordinates <-> reticle <-> FPGA) and the FPGA IP scheme."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nmcluster.hwdrivers.wafer import geometry as g
from nmcluster.hwdrivers.wafer.licenses import parse_license

hicanns = st.integers(0, g.N_HICANNS - 1)
fpgas = st.integers(0, g.N_FPGAS - 1)
reticles = st.integers(0, g.N_RETICLES - 1)


def test_every_hicann_maps_to_48_fpgas_of_8():
    counts = Counter(g.fpga_of_hicann(h) for h in range(g.N_HICANNS))
    assert sorted(counts) == list(range(48)) and set(counts.values()) == {8}
    assert sorted(h for f in range(48) for h in g.hicanns_of_fpga(f)) == list(range(384))


def test_known_facts():
    assert g.fpga_of_hicann(367) == 34
    assert g.license_by_hicann(33, 367) == "W33F34"
    assert g.hicanns_of_fpga(12) == (0, 1, 2, 3, 12, 13, 14, 15)
    assert g.hicann_coord(0) == (12, 0) and g.hicann_coord(383) == (23, 15)
    assert [sum(1 for h in range(384) if g.hicann_coord(h)[1] == y) for y in range(16)] == list(g.ROW_WIDTHS)
    assert g.fpga_ip(33, 0) == "192.168.33.1" and g.fpga_ip(33, 12) == "192.168.33.33"
    assert g.fpga_ip(33, 47) == "192.168.33.108"


@given(hicanns)
def test_neighbours_are_symmetric_and_adjacent(h):
    x, y = g.hicann_coord(h)
    for n in g.neighbours(h):
        assert h in g.neighbours(n)
        nx, ny = g.hicann_coord(n)
        assert abs(nx - x) + abs(ny - y) == 1
    assert len(g.neighbours(h)) == sum(g.hicann_at(x + dx, y + dy) is not None
                                       for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)))


@given(hicanns)
def test_coordinates_round_trip(h):
    assert g.hicann_at(*g.hicann_coord(h)) == h


@given(hicanns)
def test_reticle_and_fpga_consistent(h):
    x, y = g.hicann_coord(h)
    r = g.reticle_of_hicann(h)
    assert g.reticle_coord(r) == (x // 4, y // 2)
    assert g.fpga_of_reticle(r) == g.fpga_of_hicann(h)
    assert g.reticle_of_fpga(g.fpga_of_hicann(h)) == r
    assert h in g.hicanns_of_reticle(r) and h in g.hicanns_of_fpga(g.fpga_of_hicann(h))


@given(reticles)
def test_reticle_holds_the_fpga_hicanns(r):
    assert g.hicanns_of_reticle(r) == g.hicanns_of_fpga(g.fpga_of_reticle(r))
    assert len(g.hicanns_of_reticle(r)) == 8  # 4 wide x 2 high
    for n in g.reticle_neighbours(r):
        assert r in g.reticle_neighbours(n)


def test_reticle_table_is_a_permutation():
    assert sorted(g.RETICLE_TO_FPGA) == list(range(48))
    assert [sum(1 for r in range(48) if g.reticle_coord(r)[1] == ry) for ry in range(8)] == list(g.RETICLE_ROW_WIDTHS)


@given(st.integers(0, 255), fpgas)
def test_ip_and_licence_round_trip(wafer, f):
    assert g.fpga_of_ip(g.fpga_ip(wafer, f)) == (wafer, f)
    assert parse_license(g.license_name(wafer, f)) == (wafer, f)


@pytest.mark.parametrize("bad", [-1, 384, True, "3"])
def test_out_of_range(bad):
    with pytest.raises(ValueError):
        g.fpga_of_hicann(bad)


@pytest.mark.parametrize("bad", ["10.0.0.1", "192.168.33.13", "192.168.33.0", "W33F48"])
def test_bad_ip_and_licence(bad):
    with pytest.raises(ValueError):
        g.fpga_of_ip(bad) if bad[0].isdigit() else parse_license(bad)

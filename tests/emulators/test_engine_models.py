"""Engine neuron models added for the wafer and SpiNNaker emulators: AdEx, Izhikevich, and the
s16.15 fixed-point mode."""

from __future__ import annotations

import numpy as np
import pytest

from nmcluster.emulators import engine


def _run(model: str, fixed: bool = False, i_offset=(0.0, 0.5, 1.0), t=1000.0):
    net = engine.Network(len(i_offset), dt=0.1, model=model, fixed_point=fixed)
    net.set_params(i_offset=list(i_offset))
    net.add_channel("exp", 0, 5.0, 0.0)
    net.record(spikes=True, analog=[("v", 1), ("w", 1)])
    return net.run(t)


def test_adex_adapts():
    sim = _run("adex", i_offset=(0.0, 1.0))
    tr, t, n = sim.spikes()
    isi = np.diff(t[n == 1])
    assert sim.spike_counts()[0, 0] == 0 and isi.size > 5
    assert isi[-1] > 1.5 * isi[0]
    assert sim.analog()[0, -1, 1] > 0  # adaptation current built up


def test_izhikevich_regular_spiking():
    sim = _run("izh_curr", i_offset=(0.0, 10.0))
    counts = sim.spike_counts()[0]
    assert counts[0] == 0 and 5 < counts[1] < 200
    assert sim.analog()[0, :, 0].max() < 31.0


def test_fixed_point_state_on_grid():
    sim = _run("lif_curr", fixed=True)
    v = sim.analog()[0, 1:, 0]
    assert np.allclose(v * 32768, np.rint(v * 32768))
    ref = _run("lif_curr", fixed=False).analog()[0, 1:, 0]
    assert 0 < np.abs(v - ref).max() < 1e-3


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown neuron model"):
        engine.Network(1, model="hh")

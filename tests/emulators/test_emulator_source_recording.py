"""Shared layer of the three emulators: a recorded SpikeSourceArray or SpikeSourcePoisson returns
its spikes (the engine records neuron spikes only; sources are rebuilt from their schedules and
random streams), and get_min_delay()/get_max_delay() are numbers as in every PyNN backend."""

from __future__ import annotations

from importlib import import_module

import numpy as np
import pytest

BACKENDS = ["spikey", "brainscales", "spinnaker"]


@pytest.mark.parametrize("name", BACKENDS)
def test_recorded_sources_return_their_spikes(name):
    sim = import_module("pyNN.nmcluster." + name)
    sim.setup(timestep=0.1)
    times = [[2.0, 7.0, 30.0], [11.0]]
    arr = sim.Population(2, sim.SpikeSourceArray(spike_times=times))
    poi = sim.Population(3, sim.SpikeSourcePoisson(rate=50.0))
    cell = sim.Population(2, sim.IF_cond_exp())
    sim.Projection(poi, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.001))
    sim.Projection(arr, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.001))
    arr.record("spikes")
    poi.record("spikes")
    sim.run(100.0)
    sim.run(100.0)  # two runs: the second run's spikes are added
    got = [list(np.asarray(t)) for t in arr.get_data().segments[0].spiketrains]
    counts = [len(t) for t in poi.get_data().segments[0].spiketrains]
    assert got == times
    assert sum(counts) > 10 and all(3 <= c <= 25 for c in counts)  # 50 Hz x 0.2 s = 10 each
    poi_t = np.concatenate([np.asarray(t) for t in poi.get_data().segments[0].spiketrains])
    assert poi_t.max() > 100.0  # from both runs
    assert isinstance(sim.get_min_delay(), float) and isinstance(sim.get_max_delay(), float)
    sim.end()

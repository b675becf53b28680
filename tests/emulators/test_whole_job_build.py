"""Build and read-out of large networks (issue 27, the balanced network as a whole process):
the vectorised paths give what PyNN's generic per-cell paths give, bit for bit, and the
memory a network holds stays bounded per synapse."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pyNN import recording

spinnaker = pytest.importorskip("pyNN.nmcluster.spinnaker")
brainscales = pytest.importorskip("pyNN.nmcluster.brainscales")


def _small_balanced(sim, n: int = 200, seed: int = 11):
    exc = sim.Population(n * 4 // 5, sim.IF_curr_exp(tau_refrac=2.0), label="exc")
    inh = sim.Population(n // 5, sim.IF_curr_exp(tau_refrac=2.0), label="inh")
    src = sim.Population(n * 4 // 5, sim.SpikeSourcePoisson(rate=900.0))
    sim.Projection(src, exc, sim.OneToOneConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
    conn = sim.FixedProbabilityConnector(0.1, rng=sim.NumpyRNG(seed=seed))
    for pre, w, rt in ((exc, 0.3, "excitatory"), (inh, -0.5, "inhibitory")):
        for post in (exc, inh):
            sim.Projection(pre, post, conn, sim.StaticSynapse(weight=w, delay=1.0),
                           receptor_type=rt)
    exc.record("spikes")
    inh.record(["spikes", "v"])
    return exc, inh


def _train_fields(train):
    return (np.asarray(train.magnitude).tolist(), train.dtype, str(train.units),
            float(train.t_start), str(train.t_start.units), float(train.t_stop),
            dict(train.annotations), type(train.annotations["source_index"]),
            type(train.annotations["channel_id"]))


def test_spike_segment_is_pynns_segment():
    """The one-pass segment equals PyNN's own (per-train append) segment train by train."""
    sim = spinnaker
    sim.setup(timestep=1.0)
    try:
        exc, inh = _small_balanced(sim)
        sim.run(200.0)
        for pop in (exc, inh):
            rec = pop.recorder
            ours = rec._get_current_segment()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = recording.Recorder._get_current_segment(rec)
            assert len(ours.spiketrains) == len(theirs.spiketrains) == pop.size
            n_spikes = sum(t.size for t in ours.spiketrains)
            assert n_spikes > 10 * pop.size  # the comparison covers real spike trains
            for a, b in zip(ours.spiketrains, theirs.spiketrains):
                assert _train_fields(a) == _train_fields(b)
                assert a.segment is ours and b.segment is theirs
            assert ours.spiketrains.segment is ours
            assert len(ours.analogsignals) == len(theirs.analogsignals)
            for a, b in zip(ours.analogsignals, theirs.analogsignals):
                assert np.array_equal(a.magnitude, b.magnitude) and a.name == b.name
            # a subset of the variables and of the cells, as get_data(variables, filter_ids)
            ids = list(pop.all_cells[3:9])
            spikes = [recording.Variable("spikes", None, None)]
            ours = rec._get_current_segment(filter_ids=ids, variables=spikes)
            theirs = recording.Recorder._get_current_segment(rec, filter_ids=ids,
                                                             variables=spikes)
            assert [_train_fields(t) for t in ours.spiketrains] == \
                [_train_fields(t) for t in theirs.spiketrains]
            assert not ours.analogsignals
    finally:
        sim.end()

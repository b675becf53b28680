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


def _fixed_probability_cases(sim):
    """(pre, post, connector, synapse, receptor) of seeded fixed-probability projections."""
    a = sim.Population(57, sim.IF_curr_exp(), label="a")
    b = sim.Population(31, sim.IF_curr_exp(), label="b")
    one = sim.Population(1, sim.IF_curr_exp(), label="one")
    syn = sim.StaticSynapse(weight=0.25, delay=2.0)
    inh = sim.StaticSynapse(weight=-0.5, delay=1.0)
    out = []
    for p, allow, pre, post, s, rt in (
            (0.1, True, a, b, syn, "excitatory"),
            (0.3, False, a, a, syn, "excitatory"),       # self-connections left out
            (0.5, False, a[5:40], a[20:50], inh, "inhibitory"),  # views sharing cells
            (0.2, True, one, a, syn, "excitatory"),     # one presynaptic cell
            (0.9, False, b, one, syn, "excitatory"),
            (0.0, True, a, b, syn, "excitatory"),       # nothing connected, numbers drawn
            (1.0, False, b, b, inh, "inhibitory")):
        rng = sim.NumpyRNG(seed=int(1000 * p) + 7 * allow)
        out.append((pre, post, sim.FixedProbabilityConnector(p, allow_self_connections=allow,
                                                             rng=rng), s, rt))
    return out


@pytest.mark.parametrize("block", [1 << 20, 40, 1])
def test_fixed_probability_equals_pynns_loop(monkeypatch, block):
    """The block-drawn connections are PyNN's column loop's, in the same order, and the RNG
    is left in the same state (the next projection with it draws the same numbers); blocks
    of one column, of a few columns and of the whole projection."""
    from nmcluster.emulators.common.projections import BaseProjection

    sim = spinnaker
    results = {}
    for mode in ("generic", "fast"):
        sim.setup(timestep=1.0)
        try:
            if mode == "generic":
                monkeypatch.setattr(BaseProjection, "_fast_fixed_probability",
                                    lambda self, connector: False)
            else:
                monkeypatch.undo()
                monkeypatch.setattr(BaseProjection, "_DRAW_BLOCK", block)
            got = []
            for pre, post, conn, s, rt in _fixed_probability_cases(sim):
                prj = sim.Projection(pre, post, conn, s, receptor_type=rt)
                # a second projection with the same connector: PyNN draws the same numbers again
                again = sim.Projection(pre, post, conn, s, receptor_type=rt)
                got.append([(x._pre.copy(), x._post.copy(), x._attribute("weight").copy(),
                             x._attribute("delay").copy()) for x in (prj, again)])
                got[-1].append(conn.rng.rng.get_state()[1].copy())
            results[mode] = got
        finally:
            sim.end()
    monkeypatch.undo()
    total = 0
    for g, f in zip(results["generic"], results["fast"]):
        for k, ((gp, gq, gw, gd), (fp, fq, fw, fd)) in enumerate(zip(g[:2], f[:2])):
            assert np.array_equal(gp, fp) and np.array_equal(gq, fq)
            assert np.array_equal(gw, fw) and np.array_equal(gd, fd)
            assert fp.dtype == fq.dtype == np.int64
            total += gp.size
        assert np.array_equal(g[2], f[2])
    assert total > 1500  # the cases connect something


def test_fixed_probability_checks_weights():
    """PyNN's weight check (negative excitatory weight) holds on the fast path."""
    sim = spinnaker
    sim.setup(timestep=1.0)
    try:
        a = sim.Population(20, sim.IF_curr_exp())
        with pytest.raises(Exception, match="Weights must be positive"):
            sim.Projection(a, a, sim.FixedProbabilityConnector(0.5, rng=sim.NumpyRNG(seed=1)),
                           sim.StaticSynapse(weight=-0.1), receptor_type="excitatory")
    finally:
        sim.end()

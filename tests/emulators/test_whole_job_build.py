"""Build and read-out of large networks (issue 27, the balanced network as a whole process):
the vectorised paths give what PyNN's generic per-cell paths give, bit for bit, and the
memory a network holds stays bounded per synapse."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import quantities as pq
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
    """Everything a SpikeTrain holds, comparable across two trains (attribute names in order,
    values, types)."""
    out = [np.asarray(train.magnitude).tolist(), train.dtype, str(train.units),
           type(train).__name__, list(vars(train))]
    for k, v in vars(train).items():
        if k == "segment":
            continue
        if hasattr(v, "magnitude"):
            out.append((k, type(v).__name__, np.asarray(v.magnitude).tolist(), v.dtype,
                        str(v.units), v.shape))
        elif k == "annotations":
            out.append((k, dict(v), [type(x).__name__ for x in v.values()]))
        elif k == "array_annotations":
            out.append((k, type(v).__name__, dict(v), v.length))
        elif k == "_dimensionality":
            out.append((k, type(v).__name__, str(v)))
        else:
            out.append((k, v))
    return out


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
            # each train owns its attributes (none shared between two trains but neo's
            # default sampling rate, which neo shares too)
            x, y = ours.spiketrains[1], ours.spiketrains[2]
            for k in ("t_start", "t_stop", "annotations", "array_annotations",
                      "_dimensionality"):
                assert vars(x)[k] is not vars(y)[k], k
            assert x.sampling_rate is theirs.spiketrains[1].sampling_rate
            x.annotate(extra=1)
            assert "extra" not in y.annotations
            # the trains behave as neo's: slicing, time_slice, arithmetic, rescale
            a, b = ours.spiketrains[5], theirs.spiketrains[5]
            assert _train_fields(a[1:3]) == _train_fields(b[1:3])
            assert np.array_equal(a.time_slice(20.0 * pq.ms, 90.0 * pq.ms).magnitude,
                                  b.time_slice(20.0 * pq.ms, 90.0 * pq.ms).magnitude)
            assert np.array_equal(a.rescale("s").magnitude, b.rescale("s").magnitude)
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
        for (gp, gq, gw, gd), (fp, fq, fw, fd) in zip(g[:2], f[:2]):
            assert np.array_equal(gp, fp) and np.array_equal(gq, fq)
            assert np.array_equal(gw, fw) and np.array_equal(gd, fd)
            assert fp.dtype == fq.dtype == np.int64
            total += gp.size
        assert np.array_equal(g[0][0], g[1][0])  # PyNN: the same connections twice
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


def _reference_spiketimes(sim_state, ids, since_step=0):
    """Per cell ID, its spike times from ``Simulation.spikes()`` (trial 0), sorted."""
    tr, t, n = sim_state.sim.spikes()
    keep = (tr == 0) & (t > since_step * sim_state.dt + 1e-9)
    out = {}
    for i in ids:
        u = sim_state.unit_lookup[int(i)]
        out[int(i)] = np.sort(t[keep & (n == u)])
    return out


@pytest.mark.parametrize("backend", [spinnaker, brainscales])
def test_spike_times_equal_the_engines(backend):
    """The recorder's spike times (read in place, one sort) are the engine's spikes of each
    cell, also after ``get_data(clear=True)`` and a second run; BrainScaleS through its
    recording filter (here: wide links, nothing lost)."""
    sim = backend
    if sim is brainscales:
        wide = sim.Bandwidth(playback_rate=1e13, l2_down_rate=1e13, l2_up_rate=1e13,
                             l1_rate=1e13)
        sim.setup(timestep=0.1, continue_despite_synapse_loss=True, bandwidth=wide)
    else:
        sim.setup(timestep=1.0)
    try:
        exc, inh = _small_balanced(sim) if sim is spinnaker else _small_cond(sim)
        sim.run(150.0)
        state = sim.simulator.state
        total = 0
        for pop in (exc, inh):
            ids = list(pop.all_cells)
            got = pop.recorder._get_spiketimes(ids)
            ref = _reference_spiketimes(state, ids)
            assert got.keys() == ref.keys()
            for i in ids:
                assert np.array_equal(got[int(i)], ref[int(i)])
            total += sum(v.size for v in got.values())
        assert total > 500
        exc.get_data(clear=True)
        step = state.sim.step
        sim.run(100.0)
        ids = list(exc.all_cells)
        got = exc.recorder._get_spiketimes(ids)
        ref = _reference_spiketimes(state, ids, since_step=step)
        assert all(np.array_equal(got[int(i)], ref[int(i)]) for i in ids)
        assert sum(v.size for v in got.values()) > 100
        assert min(v.min() for v in got.values() if v.size) > 150.0
    finally:
        sim.end()


def _small_cond(sim, n: int = 200):
    exc = sim.Population(n * 4 // 5, sim.IF_cond_exp(), label="exc")
    inh = sim.Population(n // 5, sim.IF_cond_exp(), label="inh")
    for pop in (exc, inh):
        src = sim.Population(pop.size, sim.SpikeSourcePoisson(rate=1000.0))
        sim.Projection(src, pop, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.02, delay=1.0))
    conn = sim.FixedProbabilityConnector(0.05, rng=sim.NumpyRNG(seed=3))
    for pre, rt in ((exc, "excitatory"), (inh, "inhibitory")):
        for post in (exc, inh):
            sim.Projection(pre, post, conn, sim.StaticSynapse(weight=0.004, delay=1.0),
                           receptor_type=rt)
    exc.record("spikes")
    inh.record("spikes")
    return exc, inh


def test_stable_argsort_with_ties():
    """The playback model's time order: numpy's stable order, ties included."""
    from nmcluster.emulators.brainscales.ess import stable_argsort

    rng = np.random.default_rng(5)
    for n in (0, 1, 2, 7, 1000, 100_000):
        for grid in (None, 1.0, 1e-3):
            x = rng.uniform(0.0, 50.0, n)
            if grid:
                x = np.round(x / grid) * grid  # many equal times
            order, xs = stable_argsort(x)
            ref = np.argsort(x, kind="stable")
            assert np.array_equal(order, ref) and np.array_equal(xs, x[ref])


# -- the engine holds a network's synapses once ------------------------------------------------
def _engine_net():
    from nmcluster.emulators import engine

    rng = np.random.default_rng(2)
    net = engine.Network(60, dt=0.1)
    exc = net.add_channel("exp", 0, 5.0, 0.0)
    inh = net.add_channel("exp", 1, 10.0, -80.0)
    src = net.add_poisson(np.full(60, 800.0))
    net.connect(src, np.arange(60), exc, weight=0.01, delay=1.0)
    for k in range(3):
        pre = rng.integers(0, 60, 500)
        post = rng.integers(0, 60, 500)
        net.connect(pre, post, exc if k < 2 else inh, weight=rng.uniform(0, 0.004, 500),
                    delay=rng.choice([0.5, 1.0, 2.0], 500))
    net.record(spikes=True)
    return net


def test_compiled_network_holds_the_synapses_once():
    """After compile the insertion-order chunks are gone (the compiled CSR arrays are the only
    copy); reading, changing or adding synapses brings them back unchanged, and a network
    changed that way simulates exactly as one built with the change in the first place."""
    net = _engine_net()
    before = net.synapses()
    c = net.compile()
    assert net._syn is None
    assert c.stp_U.flags.writeable and not c.stp_U.any() and c.syn_rule.dtype == np.int64
    after = net.synapses()
    assert before.keys() == after.keys()
    for k in before:
        assert np.array_equal(before[k], after[k]) and before[k].dtype == after[k].dtype, k
    sim = net.prepare(seeds=[4])
    assert sim.stp_u.shape == (1, 0) and sim.acc_c.shape == (1, 0)  # no STP, no rules
    assert np.shares_memory(sim.w, c.weight)  # one trial, static: the compiled weights
    sim.advance(200.0)
    spikes_a = sim.spikes()
    # change a weight after compiling: the compiled network is dropped, the chunk made again
    net.set_synapses(np.array([70, 71]), weight=0.02)
    assert net._syn is not None and net._compiled is None
    sim_b = net.prepare(seeds=[4])
    sim_b.advance(200.0)
    fresh = _engine_net()
    fresh.set_synapses(np.array([70, 71]), weight=0.02)
    sim_c = fresh.prepare(seeds=[4])
    sim_c.advance(200.0)
    for x, y in zip(sim_b.spikes(), sim_c.spikes()):
        assert np.array_equal(x, y)
    assert spikes_a[0].size > 100
    # set_weights replaces the array: the compiled weights stay the nominal ones
    w0 = net.compile().weight.copy()
    sim_d = net.prepare(seeds=[4])
    sim_d.set_weights(np.zeros(net.n_synapses))
    assert np.array_equal(net.compile().weight, w0) and not sim_d.w.any()


def test_spike_array_queue_is_not_quadratic():
    """Spike-array sources get one room in the spike queue for the most events of any step over
    all of them (not one such room per source), and still deliver every event on time."""
    from nmcluster.emulators import engine

    net = engine.Network(10, dt=0.1)
    ch = net.add_channel("exp", 0, 5.0, 0.0)
    n_src = 2000
    trains = [np.arange(1.0, 20.0, 1.0) for _ in range(n_src)]  # all on the same steps
    src = net.add_spike_array(trains)
    net.connect(src, np.arange(n_src) % 10, ch, weight=1e-4, delay=1.0)
    net.record(spikes=True, analog=[("gsyn_exc", 0)])
    sim = net.prepare()
    assert sim._q_per_trial <= 10 + n_src + 1  # was 10 + n_src * n_src
    sim.advance(25.0)
    g = sim.analog()[0, :, 0]
    # the conductance rises only in the steps of the events, by all n_src / 10 events of
    # neuron 0 at once (an excess spilling into the next step would rise there too)
    steps = np.nonzero(np.diff(g) > 1e-9)[0]
    assert np.array_equal(steps, np.arange(20, 201, 10))
    assert np.diff(g)[20] == pytest.approx(n_src / 10 * 1e-4 * np.exp(-0.1 / 5.0), rel=1e-6)


_MEMORY_PROBE = r"""
import sys, tracemalloc, warnings, logging, json
warnings.filterwarnings("ignore")
logging.getLogger("nmcluster").setLevel(logging.ERROR)
import pyNN.nmcluster.spinnaker as sim
sys.path.insert(0, sys.argv[1])
import emulator_vs_nest as b
src = open(b.__file__).read().replace("n_exc, n_inh, p = 3200, 800, 0.02",
                                      "n_exc, n_inh, p = 2400, 600, 0.02")
exec(compile(src, b.__file__, "exec"), b.__dict__)
tracemalloc.start()
pops, t = b.balanced(sim, "nmcluster.spinnaker", current=True)
state = sim.simulator.state
built, build_peak = tracemalloc.get_traced_memory()
tracemalloc.reset_peak()
state._ensure_simulation()
cur, peak = tracemalloc.get_traced_memory()
n = sum(len(p) for p in state.projections)
print(json.dumps({"synapses": n, "built": built / n, "build_peak": build_peak / n,
                  "current": cur / n, "peak": peak / n}))
"""


def test_memory_per_synapse_of_the_balanced_network(tmp_path):
    """Bytes the Python heap holds per synapse of the benchmark's balanced network (3000 cells,
    SpiNNaker emulator, fresh process; tracemalloc, so the figures do not depend on the C
    heap).  Before: 84 B held after building, 321 B after preparing the run, 345 B at the
    peak (the synapses in the projections, in the network's chunks and in the compiled
    arrays, int64 copies, STP state for static synapses); now 44 / 151 / 165 B, 32 of the 151
    all-zero arrays that the OS never maps."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    probe = tmp_path / "probe.py"
    probe.write_text(_MEMORY_PROBE)
    out = subprocess.run([sys.executable, str(probe), str(repo / "benchmarks")],
                         capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["synapses"] > 150_000
    assert got["built"] < 50  # pre, post (int64) and a few bytes; weights/delays shared
    assert got["current"] < 165
    assert got["peak"] < 185


def _route_reference(pre_bus, pre_addr, receptor, post, placement, cfg, defects):
    """The mapping's synapse router as it was before the one-sort grouping by bus (a scan of
    the HICANN's synapses per bus): the reference the grouped router must equal."""
    import math

    from nmcluster.emulators.brainscales.wafer import N_SYNAPSE_DRIVERS, ROWS_PER_DRIVER

    m = post.size
    ok = np.zeros(m, dtype=bool)
    if m == 0:
        return ok
    tgt = placement.hicann[post]
    for h in np.unique(tgt):
        on = np.nonzero(tgt == h)[0]
        bl = defects.hicanns.get(int(h))
        drivers_left = N_SYNAPSE_DRIVERS - (len(bl.synapse_drivers) if bl else 0)
        buses, counts = np.unique(pre_bus[on], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        for rank, bi in enumerate(order):
            if rank >= cfg.max_input_buses or drivers_left <= 0:
                break  # buses that reach no synapse driver: their synapses are lost
            b = buses[bi]
            sel = on[pre_bus[on] == b]
            # rows each receptor needs: the most synapses any neuron gets from this bus, divided
            # by its columns
            need = np.zeros(2, dtype=np.int64)
            for r in (0, 1):
                s = sel[receptor[sel] == r]
                if s.size:
                    uniq, cnt = np.unique(post[s], return_counts=True)
                    need[r] = int(np.max(np.ceil(cnt / (placement.size[uniq] // 2))))
            drivers = min(cfg.driver_chain_length, drivers_left,
                          max(1, math.ceil(need.sum() / ROWS_PER_DRIVER)))
            drivers_left -= drivers
            rows = drivers * ROWS_PER_DRIVER
            if need[0] and need[1]:
                r0 = min(max(1, int(round(rows * need[0] / need.sum()))), rows - 1)
                have = np.array([r0, rows - r0])
            else:
                have = np.array([rows if need[0] else 0, rows if need[1] else 0])
            have = np.minimum(have, need)
            for r in (0, 1):
                s = sel[receptor[sel] == r]
                if not s.size or have[r] == 0:
                    continue
                # per post neuron, realise the lowest source addresses up to its capacity
                s = s[np.lexsort((pre_addr[s], post[s]))]
                p = post[s]
                start = np.r_[0, np.nonzero(np.diff(p))[0] + 1]
                rank_in = np.arange(s.size) - np.repeat(start, np.diff(np.r_[start, s.size]))
                cap = have[r] * (placement.size[p] // 2)
                ok[s[rank_in < cap]] = True
    return ok


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_route_equals_the_scan_per_bus(seed):
    """Synapses realised by the wafer mapping's router (grouped by bus with one sort) are the
    ones the scan per bus realised: random networks with many buses, both receptors, more
    buses than ``max_input_buses``, blacklisted synapse drivers, losses."""
    from nmcluster.emulators.brainscales import wafer
    from nmcluster.hwdrivers.wafer.defects import HicannBlacklist, WaferDefects

    rng = np.random.default_rng(seed)
    n = 600
    hic = rng.choice([10, 11, 12], n)
    placement = wafer.Placement(hicann=hic, column=rng.integers(0, 200, n),
                                size=rng.choice([2, 4, 8], n), bus=rng.integers(0, 50, n))
    m = 40_000
    args = (rng.integers(0, 60, m), rng.integers(0, 64, m), rng.integers(0, 2, m),
            rng.integers(0, n, m), placement)
    defects = WaferDefects(wafer=33, hicanns={11: HicannBlacklist(
        synapse_drivers=frozenset(range(40)))})
    for cfg in (wafer.MappingConfig(), wafer.MappingConfig(max_input_buses=8,
                                                           driver_chain_length=3)):
        got = wafer.route(*args, cfg, defects)
        ref = _route_reference(*args, cfg, defects)
        assert np.array_equal(got, ref)
        assert 0 < got.sum() < m  # some realised, some lost

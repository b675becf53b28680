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


def _adex_no_exp(delta_t_last: float, trials: int = 1, adaptation: bool = True):
    """40 recurrently connected AdEx neurons with delta_T = 0 (how the wafer emulator realises
    IF_cond_exp), refractory periods of many steps, driven by spike arrays and Poisson sources,
    and one isolated neuron 40 with ``delta_T = delta_t_last``: with 0 every neuron lacks the
    exponential term and the kernel takes its fused AdEx loop; with > 0 it takes the general
    per-model loops.  Neuron 40 has no synapse, so neurons 0-39 must not notice it.

    ``adaptation``: a, b, tau_w, refractory time, offset and synaptic time constants differ
    from neuron to neuron; without it a = b = 0 and only leak, resting potential and threshold
    vary (the wafer's IF_cond_exp), which the fused loop runs with w left alone and the shared
    parameters as scalars."""
    n = 41
    rng = np.random.default_rng(5)
    net = engine.Network(n, dt=0.1, model="adex")
    dT = np.zeros(n)
    dT[-1] = delta_t_last
    net.set_params(delta_T=dT, g_leak=rng.uniform(0.02, 0.05, n),
                   v_spike=rng.uniform(-52.0, -48.0, n), v_rest=rng.uniform(-66.0, -64.0, n),
                   v_reset=-70.0)
    if adaptation:
        net.set_params(a=rng.uniform(0.0, 0.01, n), b=rng.uniform(0.0, 0.1, n),
                       tau_w=rng.uniform(50.0, 200.0, n), tau_refrac=rng.uniform(0.5, 3.0, n),
                       i_offset=rng.uniform(0.0, 0.3, n))
        net.add_channel("exp", 0, rng.uniform(3.0, 7.0, n), 0.0)
        net.add_channel("exp", 1, rng.uniform(8.0, 12.0, n), -80.0)
    else:
        net.set_params(a=0.0, b=0.0, tau_refrac=2.0, i_offset=0.1)
        net.add_channel("exp", 0, 5.0, 0.0)
        net.add_channel("exp", 1, 10.0, -80.0)
    arr = net.add_spike_array([np.sort(rng.uniform(0.0, 400.0, 60)) for _ in range(20)])
    pois = net.add_poisson(rng.uniform(100.0, 800.0, 20))
    src = np.concatenate([arr, pois])
    net.connect(np.tile(src, 2), np.concatenate([np.arange(40), rng.permutation(40)]), 0, 0.02,
                delay=1.0)
    pre, post = np.nonzero(rng.random((40, 40)) < 0.2)
    net.connect(pre, post, (pre >= 30).astype(int), np.where(pre >= 30, 0.05, 0.01),
                delay=rng.uniform(0.1, 3.0, pre.size))
    net.record(spikes=True, analog=[(var, k) for k in (0, 7, 31) for var in
                                    ("v", "w", "gsyn_exc", "gsyn_inh")])
    return net.run(400.0, trials=trials, seeds=[3, 4][:trials])


@pytest.mark.parametrize("adaptation", [True, False])
def test_adex_without_exponential_term_fused_loop_is_the_general_loop_bit_for_bit(adaptation):
    fused = _adex_no_exp(0.0, trials=2, adaptation=adaptation)
    general = _adex_no_exp(2.0, trials=2, adaptation=adaptation)
    tr_f, t_f, n_f = fused.spikes()
    tr_g, t_g, n_g = general.spikes()
    keep = n_g < 40
    assert np.array_equal(tr_f, tr_g[keep]) and np.array_equal(n_f, n_g[keep])
    assert np.array_equal(t_f, t_g[keep])
    # the network does what the comparison needs: spikes, adaptation, refractory clamps
    counts = fused.spike_counts()[:, :40]
    assert counts.sum() > 500 and (counts > 0).sum() >= 60
    a_f, a_g = fused.analog(), general.analog()
    assert a_f.shape == a_g.shape == (2, 4001, 12)
    assert np.array_equal(a_f.view(np.uint64), a_g.view(np.uint64))
    if adaptation:
        assert a_f[:, -1, 1].max() > 0.0  # w built up
    else:  # w stays +0.0 on both paths
        w = a_f[:, :, 1::4]
        assert np.all(w == 0.0) and not np.signbit(w).any()
    assert (a_f[:, :, 0] == -70.0).sum() > 10  # held at v_reset while refractory


def test_spike_arrays_arrive_at_their_step_across_windows_and_calls():
    """Spike-array events are gathered a window of steps at a time: every event still arrives
    at its own step (duplicates twice), whether the run is one call or many calls whose
    boundaries fall inside windows."""
    times = [np.array([0.5, 0.5, 25.6, 25.7, 25.7 + 0.1 * 256, 77.0, 199.9]),
             np.array([3.0]), np.array([]), np.arange(0.0, 200.0, 0.1)]

    def build():
        net = engine.Network(len(times), dt=0.1)
        net.add_channel("exp", 0, 5.0, 0.0)
        units = net.add_spike_array(times)
        net.connect(units, np.arange(len(times)), 0, 0.001, delay=0.1)
        net.record(spikes=False, analog=[("gsyn_exc", k) for k in range(len(times))])
        return net

    whole = build().run(200.0).analog()[0]
    sim = build().prepare()
    for chunk in (0.3, 12.7, 25.6, 0.1, 60.0, 101.3):
        sim.advance(chunk)
    assert np.array_equal(sim.analog()[0].view(np.uint64), whole.view(np.uint64))
    # the jumps of the conductance trace: each at its event's step + 1 step of delay, of the
    # summed weight of the events of that step (sample k is the value at t = k dt)
    g = whole[:, 0]
    decay = np.exp(-0.1 / 5.0)
    jump = np.round((g[1:] - g[:-1] * decay) / (0.001 * decay), 6)  # (g + input) decays
    steps = np.nonzero(jump)[0]
    # (199.9 ms would arrive at step 2000, after the run)
    assert steps.tolist() == [6, 257, 258, 514, 771]
    assert jump[steps].tolist() == [2.0, 1.0, 1.0, 1.0, 1.0]
    g3 = whole[:, 3]  # a source firing at every step: one weight arrives at every step 1-1999
    jump3 = np.round((g3[1:] - g3[:-1] * decay) / (0.001 * decay), 6)
    assert jump3[0] == 0.0 and np.all(jump3[1:] == 1.0)


def _static_net(with_stp_pair: bool):
    """40 recurrent LIF neurons (random delays, both channels), spike arrays and Poisson input,
    all synapses static; ``with_stp_pair`` adds one depressing synapse between the otherwise
    isolated neurons 40 and 41, which makes the kernel deliver every spike through its general
    path (STP and plasticity checks) instead of the all-static one."""
    rng = np.random.default_rng(9)
    net = engine.Network(42, dt=0.1, model="lif_cond")
    net.set_params(i_offset=np.r_[rng.uniform(0.0, 0.2, 40), 2.0, 0.0])
    net.add_channel("exp", 0, 5.0, 0.0)
    net.add_channel("exp", 1, 10.0, -80.0)
    arr = net.add_spike_array([np.sort(rng.uniform(0.0, 300.0, 40)) for _ in range(10)])
    pois = net.add_poisson(rng.uniform(200.0, 900.0, 10))
    src = np.concatenate([arr, pois])
    net.connect(np.repeat(src, 4), rng.integers(0, 40, 80), 0, 0.02, delay=1.0)
    pre, post = np.nonzero(rng.random((40, 40)) < 0.25)
    net.connect(pre, post, (pre >= 32).astype(int), np.where(pre >= 32, 0.06, 0.012),
                delay=rng.uniform(0.1, 4.0, pre.size))
    if with_stp_pair:
        net.connect([40], [41], 0, 0.05, delay=1.0, stp=(0.5, 100.0, 0.0))
    net.record(spikes=True, analog=[("v", 3), ("gsyn_exc", 3), ("gsyn_inh", 17)])
    return net.run(300.0)


def test_all_static_delivery_is_the_general_delivery_bit_for_bit():
    fast, general = _static_net(False), _static_net(True)
    tr_f, t_f, n_f = fast.spikes()
    tr_g, t_g, n_g = general.spikes()
    keep = n_g < 40
    assert np.array_equal(n_f[n_f < 40], n_g[keep]) and np.array_equal(t_f[n_f < 40], t_g[keep])
    assert np.array_equal(fast.analog().view(np.uint64), general.analog().view(np.uint64))
    counts = fast.spike_counts()[0, :40]
    assert counts.sum() > 300 and (counts > 0).sum() >= 30
    assert general.spike_counts()[0, 40] > 5  # the STP pair did fire through its synapse


def test_spike_array_room_is_the_most_events_of_any_window():
    """The Simulation's room for a window of spike-array events (the kernel gathers up to
    MAX_WINDOW steps at once) is the most events of all array sources in any MAX_WINDOW
    consecutive steps: a burst counts once, wherever a window starts."""
    from nmcluster.emulators.engine import kernels

    rng = np.random.default_rng(3)
    trains = [np.sort(rng.uniform(0.0, 500.0, 30)) for _ in range(6)]
    trains.append(np.arange(100.0, 112.0, 0.1))  # a burst of 120 events within 12 ms
    net = engine.Network(2, dt=0.1)
    net.add_channel("exp", 0, 5.0, 0.0)
    net.connect(net.add_spike_array(trains), np.zeros(len(trains), dtype=int), 0, 0.001)
    sim = net.prepare()
    steps = sim.csr.arr_steps
    W = kernels.MAX_WINDOW
    brute = max(int(np.count_nonzero((steps >= s) & (steps < s + W)))
                for s in range(0, int(steps.max()) + 1))
    assert sim.arr_room == brute and brute >= 120
    # the kernel refuses a room too small for a window (never overruns it) ...
    short = net.prepare()
    short.arr_room = 10  # (the burst alone puts 96 events into the window from step 1024)
    with pytest.raises(ValueError, match="exceed the room"):
        short.advance(500.0)
    # ... and delivers every event with the Simulation's room
    sim.advance(500.0)
    assert sim.step == 5000

"""Behaviour of the shared emulator engine (no PyNN involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nmcluster.emulators import engine


def _single(model: str = "lif_cond", **params) -> engine.Network:
    net = engine.Network(1, dt=0.1, model=model)
    base = dict(v_rest=-70.0, g_leak=0.01, cm=0.2, v_thresh=0.0, v_reset=-70.0, tau_refrac=1.0)
    base.update(params)
    net.set_params(**base)
    return net


def test_membrane_relaxation_is_exact():
    # constant current: V(t) = V_inf + (V0 - V_inf) exp(-t / tau_m), sampled every step
    net = _single(i_offset=0.1, v_init=-70.0)  # V_inf = -70 + 0.1 nA / 0.01 uS = -60 mV
    net.record(spikes=False, analog=[("v", 0)])
    v = net.run(50.0).analog()[0, :, 0]
    t = np.arange(v.size) * 0.1
    expected = -60.0 - 10.0 * np.exp(-t / 20.0)
    np.testing.assert_allclose(v, expected, atol=1e-9)


def test_current_psc_matches_closed_form():
    # one input spike into a current-based exponential synapse: exact PSP
    net = _single("lif_curr", v_init=-70.0)
    ch = net.add_channel("exp", 0, tau=5.0)
    src = net.add_spike_array([[1.0]])
    net.connect(src, 0, ch, weight=0.5, delay=1.0)  # nA
    net.record(spikes=False, analog=[("v", 0)])
    v = net.run(40.0).analog()[0, :, 0]
    # arrives at the start of step 20 (t = 2.0 ms)
    t = np.arange(v.size) * 0.1 - 2.0
    tm, ts, c = 20.0, 5.0, 0.2
    psp = np.where(t >= 0, 0.5 / c * tm * ts / (ts - tm) * (np.exp(-t / ts) - np.exp(-t / tm)), 0)
    np.testing.assert_allclose(v, -70.0 + psp, atol=1e-9)


def test_alpha_conductance_peaks_at_weight_after_tau():
    net = _single(v_init=-70.0)
    ch = net.add_channel("alpha", 0, tau=2.0, e_rev=0.0)
    src = net.add_spike_array([[0.0]])
    net.connect(src, 0, ch, weight=0.01, delay=0.1)
    net.record(spikes=False, analog=[("gsyn_exc", 0)])
    g = net.run(20.0).analog()[0, :, 0]
    assert abs(g.max() - 0.01) < 1e-4
    assert abs(np.argmax(g) * 0.1 - (0.1 + 2.0)) <= 0.11


def test_delay_ring_buffer():
    net = _single(v_init=-70.0)
    ch = net.add_channel("exp", 0, tau=5.0)
    src = net.add_spike_array([[1.0]])
    net.connect(src, 0, ch, weight=0.01, delay=3.7)
    net.record(spikes=False, analog=[("gsyn_exc", 0)])
    g = net.run(10.0).analog()[0, :, 0]
    first = np.nonzero(g)[0][0]  # sample k is the state at the end of step k-1
    assert first - 1 == 10 + 37


def _rate_net(n: int = 20) -> engine.Network:
    net = engine.Network(n, dt=0.1)
    net.set_params(v_rest=-75.0, g_leak=0.02, cm=0.2, v_thresh=-55.0, v_reset=-80.0,
                   tau_refrac=1.0)
    ch = net.add_channel("exp", 0, tau=5.0, e_rev=0.0)
    src = net.add_poisson(np.full(n, 100.0))
    net.connect(src, np.arange(n), ch, weight=0.015, delay=1.0)
    return net


def test_batched_trials_equal_single_trials():
    net = _rate_net()
    batch = net.run(500.0, trials=4, seeds=[11, 12, 13, 14])
    alone = net.run(500.0, trials=1, seeds=[13])
    np.testing.assert_array_equal(batch.spike_counts()[2], alone.spike_counts()[0])
    assert not np.array_equal(batch.spike_counts()[0], batch.spike_counts()[1])


def test_per_trial_overrides_sweep_leak():
    net = _rate_net()
    g = np.array([0.01, 0.02, 0.04, 0.08])
    rates = net.run(1000.0, trials=4, seeds=7, overrides={"g_leak": g}).spike_counts().mean(1)
    assert np.all(np.diff(rates) < 0), rates
    rates_in = net.run(1000.0, trials=3, seeds=7,
                       overrides={"rate": np.array([50.0, 100.0, 200.0])}).spike_counts().mean(1)
    assert np.all(np.diff(rates_in) > 0), rates_in


def test_poisson_source_rate():
    # each input spike makes the neuron fire exactly once (strong, brief conductance; 0.5 ms
    # refractoriness loses the ~2.5 % of inputs that follow another within 0.5 ms)
    net = engine.Network(1, dt=0.1)
    net.set_params(v_rest=-70.0, g_leak=0.02, cm=0.2, v_thresh=-65.0, v_reset=-70.0,
                   tau_refrac=0.5)
    ch = net.add_channel("exp", 0, tau=0.1, e_rev=0.0)
    src = net.add_poisson([50.0], start=0.0)
    net.connect(src, 0, ch, weight=0.5, delay=0.1)
    counts = net.run(10000.0, trials=8).spike_counts()[:, 0]
    assert abs(counts.mean() - 500 * (1 - 0.025)) < 4 * math.sqrt(500 / 8), counts


def test_seeded_reproducible():
    net = _rate_net()
    a = net.run(300.0, trials=2, seeds=[1, 2]).spikes()
    b = net.run(300.0, trials=2, seeds=[1, 2]).spikes()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_advance_in_pieces_equals_one_run():
    net = _rate_net()
    net.record(spikes=True, analog=[("v", 3)])
    one = net.run(400.0, seeds=[5])
    two = net.prepare(seeds=[5])
    two.advance(150.0)
    two.advance(250.0)
    np.testing.assert_array_equal(one.spike_counts(), two.spike_counts())
    np.testing.assert_array_equal(one.analog(), two.analog())


def test_stp_depressing_vs_facilitating():
    def amplitudes(U, trec, tfac):
        net = _single(v_init=-70.0)
        ch = net.add_channel("exp", 0, tau=5.0, e_rev=0.0)
        times = 10.0 + 20.0 * np.arange(6)
        src = net.add_spike_array([times])
        net.connect(src, 0, ch, weight=0.01, delay=0.1, stp=(U, trec, tfac))
        net.record(spikes=False, analog=[("gsyn_exc", 0)])
        g = net.run(130.0).analog()[0, :, 0]
        jumps = []
        for t in times:
            k = int(round((t + 0.1) / 0.1))  # sample after arrival step
            jumps.append(g[k + 1] - g[k] * math.exp(-0.1 / 5.0))
        return np.array(jumps) / 0.01 / math.exp(-0.1 / 5.0)

    dep = amplitudes(0.5, 100.0, 0.0)
    fac = amplitudes(0.1, 0.0, 100.0)
    assert np.all(np.diff(dep) < 0) and np.all(np.diff(fac) > 0)
    # closed form (tsodyks2): depressing u = U, x_{n+1} = 1 - (1 - x_n (1 - U)) e^{-T/tau_rec}
    x, u, exp_dep = 1.0, 0.5, []
    for _ in range(6):
        exp_dep.append(x * u)
        x = 1 - (1 - x * (1 - u)) * math.exp(-20.0 / 100.0)
    np.testing.assert_allclose(dep, exp_dep, rtol=1e-3)
    u, exp_fac = 0.1, []
    for _ in range(6):
        exp_fac.append(u)
        u = 0.1 + u * 0.9 * math.exp(-20.0 / 100.0)
    np.testing.assert_allclose(fac, exp_fac, rtol=1e-3)


def _stdp_net(pre_minus_post: float, kind: str = "lut"):
    """One plastic synapse; the neuron is forced to fire by a strong static input."""
    net = _single(v_init=-70.0, v_thresh=-60.0, tau_refrac=2.0)
    ch = net.add_channel("exp", 0, tau=0.1, e_rev=0.0)
    n = 30
    t_post = 20.0 + 100.0 * np.arange(n)
    drive = net.add_spike_array([t_post - 0.1 - 0.1])  # arrives one step before firing
    plastic = net.add_spike_array([t_post + pre_minus_post])
    net.connect(drive, 0, ch, weight=1.0, delay=0.1)
    lsb = 0.001
    lut = np.vstack([np.minimum(np.arange(16) + 1, 15), np.maximum(np.arange(16) - 1, 0)])
    rule = net.add_rule(kind, tau_plus=20.0, tau_minus=20.0, A_plus=0.25, A_minus=0.25,
                        w_min=0.0, w_max=15 * lsb, lsb=lsb, lut=lut) if kind == "lut" else \
        net.add_rule(kind, 20.0, 20.0, 0.01, 0.01, 0.0, 15 * lsb)
    ids = net.connect(plastic, 0, ch, weight=7 * lsb, delay=0.1, rule=rule)
    return net, ids, n


def test_stdp_lut_weight_steps():
    net, ids, n = _stdp_net(-5.0)  # pre 5 ms before post: causal
    sim = net.prepare()
    history = []
    for _ in range(n):
        sim.advance(100.0)
        history.append(sim.weights()[0, ids[0]])
    levels = np.round(np.array(history) / 0.001, 6)
    assert np.all(levels == np.round(levels))  # 4-bit steps only
    assert np.all(np.diff(levels) >= 0) and levels[-1] > 7
    # accumulator: 0.25 * exp(-5/20) ~ 0.195 per pair -> one step per ~6 pairs
    assert np.all(np.isin(np.diff(levels), [0, 1]))
    steps = np.count_nonzero(np.diff(np.concatenate([[7], levels])))
    assert 3 <= steps <= 6, levels
    net, ids, n = _stdp_net(+5.0)  # pre after post: acausal -> depression
    w = net.run(100.0 * n).weights()[0, ids[0]]
    assert w < 7 * 0.001 - 1e-12


def test_stdp_continuous_additive():
    net, ids, n = _stdp_net(-5.0, kind="additive")
    sim = net.run(100.0 * n)
    w = sim.weights()[0, ids[0]]
    _, t_post, _ = sim.spikes()
    assert t_post.size == n
    # spike at step s is reported at (s+1)*dt; pairing uses steps
    dt_pairs = (t_post - 0.1) - (20.0 + 100.0 * np.arange(n) - 5.0)
    assert np.all((dt_pairs > 4.8) & (dt_pairs < 5.5))
    # nearest-neighbour: each pre spike also pairs (acausally) with the previous post spike
    t_pre = 20.0 + 100.0 * np.arange(n) - 5.0
    acausal = t_pre[1:] - (t_post[:-1] - 0.1)
    expected = 7 * 0.001 + np.sum(0.01 * 15 * 0.001 * np.exp(-dt_pairs / 20.0)) \
        - np.sum(0.01 * 15 * 0.001 * np.exp(-acausal / 20.0))
    assert w == pytest.approx(min(expected, 0.015), rel=1e-6)


def test_spike_buffer_grows():
    net = engine.Network(50, dt=0.1)
    net.set_params(v_rest=-50.0, v_thresh=-55.0, v_reset=-60.0, tau_refrac=0.1)  # tonic firing
    sim = net.run(2000.0, trials=3)
    assert sim.spike_counts().sum() > 4096 and sim.spike_counts().min() > 0


def test_thread_split_is_bit_identical():
    # trials split over threads (each part its own queue and spike buffer, merged in emission
    # order) give exactly the spikes, traces and counts of one thread
    net = _rate_net()
    net.record(spikes=True, analog=[("v", 3), ("gsyn_exc", 5)])
    out = {}
    for threads in (1, 2, 3):
        sim = net.prepare(trials=5, seeds=[3, 1, 4, 1, 5])
        sim.advance(200.0, threads=threads)
        counts = sim.spike_counts()  # from the parts' buffers, before any merge
        sim.advance(150.0, threads=threads)
        out[threads] = (counts, sim.spike_counts(), sim.analog(), *sim.spikes())
    for threads in (2, 3):
        for a, b in zip(out[1], out[threads]):
            np.testing.assert_array_equal(a, b)
    assert out[1][3].size > 100


def test_fast_paths_match_the_general_path():
    # sources whose synapses are all static skip the kernel's spike queue, and so do neurons with
    # nothing to deliver; a do-nothing plasticity rule (A = 0) on the inputs and zero-weight
    # synapses out of every neuron force the general path, which must give the same spikes
    def build(general: bool) -> engine.Network:
        n = 30
        net = engine.Network(n, dt=0.1)
        net.set_params(v_rest=-75.0, g_leak=0.02, cm=0.2, v_thresh=-55.0, v_reset=-80.0,
                       tau_refrac=1.0)
        ch = net.add_channel("exp", 0, tau=5.0, e_rev=0.0)
        src = net.add_poisson(np.linspace(50.0, 400.0, n))
        rule = net.add_rule("additive", A_plus=0.0, A_minus=0.0) if general else None
        net.connect(src, np.arange(n), ch, weight=0.015, delay=1.0, rule=rule)
        if general:
            net.connect(np.arange(n), (np.arange(n) + 1) % n, ch, weight=0.0, delay=1.0)
        return net

    fast, general = build(False), build(True)
    assert fast.compile().pois_plain.all() and not general.compile().pois_plain.any()
    a = fast.run(1000.0, trials=3, seeds=[4, 5, 6]).spikes()
    b = general.run(1000.0, trials=3, seeds=[4, 5, 6]).spikes()
    assert a[0].size > 300
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_unfed_channel_is_left_out_bit_identically():
    # with two channels of which only the excitatory one is fed, the kernel runs its
    # one-channel loop; a zero-weight inhibitory synapse keeps the second channel live (the
    # two-channel loop), which must give the same spikes and membrane traces bit for bit, and
    # recording the unfed channel reads zeros
    def build(live: bool) -> engine.Network:
        n = 40
        net = engine.Network(n, dt=0.1)
        net.set_params(v_rest=-70.0, g_leak=0.01, cm=0.2, v_thresh=-55.0, v_reset=-70.0,
                       tau_refrac=1.0)
        exc = net.add_channel("exp", 0, tau=5.0, e_rev=0.0)
        inh = net.add_channel("exp", 1, tau=10.0, e_rev=-80.0)
        src = net.add_poisson(np.linspace(100.0, 900.0, n))
        net.connect(src, np.arange(n), exc, weight=0.006, delay=1.0)
        if live:
            net.connect(np.arange(n), (np.arange(n) + 1) % n, inh, weight=0.0, delay=1.0)
        net.record(spikes=True, analog=[("v", 7), ("gsyn_exc", 7), ("gsyn_inh", 7)])
        return net

    one, two = (build(live).run(800.0, trials=2, seeds=[8, 9]) for live in (False, True))
    assert one.spikes()[0].size > 200
    for x, y in zip(one.spikes(), two.spikes()):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(one.analog(), two.analog())
    assert np.all(one.analog()[..., 2] == 0.0) and np.any(one.analog()[..., 1] > 0.0)


@pytest.mark.parametrize("two_channels", [False, True])
def test_shared_parameters_read_as_scalars_bit_identically(two_channels):
    # when capacitance, reset, refractory time and the synaptic constants are the same for all
    # neurons, the fused loops read them as scalars (leak and threshold still per neuron, as
    # on an emulated chip); a silent neuron with another reset and refractory time (never
    # used: it never fires) forces the per-neuron loop, which must agree bit for bit
    def build(uniform: bool) -> engine.Network:
        n = 40
        net = engine.Network(n, dt=0.1)
        v_reset = np.full(n, -70.0)
        tau_refrac = np.full(n, 1.0)
        if not uniform:
            v_reset[-1], tau_refrac[-1] = -72.0, 2.0
        net.set_params(v_rest=-70.0, g_leak=np.linspace(0.008, 0.012, n), cm=0.2,
                       v_thresh=np.linspace(-56.0, -54.0, n), v_reset=v_reset,
                       tau_refrac=tau_refrac)
        exc = net.add_channel("exp", 0, tau=5.0, e_rev=0.0)
        inh = net.add_channel("exp", 1, tau=10.0, e_rev=-80.0)
        src = net.add_poisson(np.linspace(100.0, 900.0, n - 1))
        net.connect(src, np.arange(n - 1), exc, weight=0.006, delay=1.0)
        if two_channels:
            net.connect(np.arange(n - 1), (np.arange(n - 1) + 1) % (n - 1), inh, weight=0.002,
                        delay=1.0)
        net.record(spikes=True, analog=[("v", 7), ("gsyn_exc", 7), ("gsyn_inh", 7)])
        return net

    uni, per = (build(u).run(800.0, trials=2, seeds=[8, 9]) for u in (True, False))
    assert uni.spikes()[0].size > 200 and not np.any(uni.spikes()[2] == 39)
    for x, y in zip(uni.spikes(), per.spikes()):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(uni.analog(), per.analog())
    assert np.any(uni.analog()[..., 2] > 0.0) == two_channels


def test_ziggurat_exponential_distribution():
    """The Poisson intervals' exponential variates (ziggurat) have the exponential law:
    mean and variance 1, the tail beyond the base layer (P(x > 8) = e^-8) and a small
    Kolmogorov-Smirnov distance; and they continue one stream deterministically."""
    from nmcluster.emulators.engine import kernels

    n = 1_000_000
    x = kernels.exponential_draws(np.uint64(12345), n)
    assert np.all(x >= 0.0) and np.all(np.isfinite(x))
    assert abs(x.mean() - 1.0) < 5 * 1.0 / math.sqrt(n)
    assert abs(x.var() - 1.0) < 5 * math.sqrt(8.0 / n)
    for cut in (0.1, 1.0, 3.0, 8.0):  # 8 > the base layer's edge (7.7): the tail branch
        p = math.exp(-cut)
        assert abs((x > cut).mean() - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-6
    xs = np.sort(x)
    ks = np.abs(np.arange(1, n + 1) / n - (1.0 - np.exp(-xs))).max()
    assert ks < 1.63 / math.sqrt(n)  # 1 % level
    np.testing.assert_array_equal(x, kernels.exponential_draws(np.uint64(12345), n))
    assert not np.array_equal(x[:100], kernels.exponential_draws(np.uint64(12346), 100))


def test_vector_width_choice(monkeypatch):
    """512-bit vectors are asked for only on AVX-512 hosts, never over an explicit
    NUMBA_CPU_FEATURES or NMCLUSTER_VECTOR_WIDTH=256."""
    import numba

    from nmcluster.emulators.engine import kernels

    monkeypatch.setattr(numba.config, "CPU_FEATURES", None)
    monkeypatch.setattr(kernels, "get_host_cpu_features", lambda: "+avx2,+fma,+avx512f")
    monkeypatch.delenv("NMCLUSTER_VECTOR_WIDTH", raising=False)
    assert kernels._vector_features() == "+avx2,+fma,+avx512f,-prefer-256-bit"
    monkeypatch.setenv("NMCLUSTER_VECTOR_WIDTH", "256")
    assert kernels._vector_features() is None
    monkeypatch.delenv("NMCLUSTER_VECTOR_WIDTH")
    monkeypatch.setattr(kernels, "get_host_cpu_features", lambda: "+avx2,+fma,-avx512f")
    assert kernels._vector_features() is None
    monkeypatch.setattr(kernels, "get_host_cpu_features", lambda: "+avx2,+fma,+avx512f")
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx2")
    assert kernels._vector_features() is None

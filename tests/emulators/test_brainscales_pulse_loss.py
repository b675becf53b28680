"""Pulse loss during the run is real: spikes beyond the Layer-1 bandwidth reach no target (engine
spike gate + BrainScaleS emulator), spikes beyond the Layer-2 uplink are missing from the
recording, and the ESS statistics count exactly what was withheld."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nmcluster.emulators import engine

sim = pytest.importorskip("pyNN.nmcluster.brainscales")
from nmcluster.emulators.brainscales import ess  # noqa: E402
from nmcluster.emulators.brainscales import simulator as bss  # noqa: E402

DECAY_TAU = 5.0


# -- engine: the spike gate ----------------------------------------------------------------------


def _gated_net(gate: str, n_drivers: int = 10) -> engine.Network:
    """``n_drivers`` regular firing neurons -> one silent target (weight 1, one channel);
    ``gate``: "none" | "tight" | "wide" | "ungrouped"."""
    net = engine.Network(n_drivers + 1, dt=0.1)
    exc = net.add_channel("exp", 0, DECAY_TAU, 0.0)
    net.set_params(i_offset=np.r_[np.linspace(0.3, 0.6, n_drivers), 0.0],
                   v_thresh=np.r_[np.full(n_drivers, -55.0), 1e9])
    net.connect(np.arange(n_drivers), n_drivers, exc, weight=1.0, delay=1.0)
    net.record(spikes=True, analog=[("gsyn_exc", n_drivers)])
    groups = np.r_[np.arange(n_drivers) % 2, -1]
    if gate == "tight":
        net.set_spike_gate(groups, rate=0.05, burst=2.0)  # 50 spikes/s per group
    elif gate == "wide":
        net.set_spike_gate(groups, rate=1e9, burst=1e9)
    elif gate == "ungrouped":
        net.set_spike_gate(np.full(n_drivers + 1, -1), rate=0.05, burst=2.0)
    return net


def _delivered(sim_: engine.Simulation, trial: int = 0) -> float:
    """Spikes that reached the target, counted from its conductance: every delivered spike adds
    exactly its weight (1) to g in the step it arrives, which then decays over that step."""
    g = sim_.analog()[trial, :, 0]
    decay = math.exp(-sim_.dt / DECAY_TAU)
    return float(np.sum(g[1:] - g[:-1] * decay) / decay)


def test_gate_withholds_exactly_the_lost_spikes():
    dur = 300.0
    free = _gated_net("none").run(dur)
    tight = _gated_net("tight").run(dur)
    n_sent = int(free.spike_counts()[0, :10].sum())
    assert n_sent == int(tight.spike_counts()[0, :10].sum())  # lost spikes are still recorded
    lost = int(tight.lost_spikes().sum())
    assert lost > n_sent // 2
    # spikes emitted in the last ms (delay 1 ms) have not arrived yet
    tr, t, n = tight.spikes()
    late_free = int(np.sum(free.spikes()[1][free.spikes()[2] < 10] > dur - 1.0 + 1e-9))
    assert _delivered(free) == pytest.approx(n_sent - late_free, abs=1e-6)
    # independent offline count: the same token bucket over the recorded spikes
    drivers = n < 10
    ok = ess.token_bucket(t[drivers], (n[drivers] % 2).astype(np.int64), 0.05, 2.0)
    assert lost == int((~ok).sum())
    late = int(np.sum(ok & (t[drivers] > dur - 1.0 + 1e-9)))
    assert _delivered(tight) == pytest.approx(n_sent - lost - late, abs=1e-6)
    assert tight.lost_spikes().shape == (1, 2)


def test_gate_off_or_wide_is_bit_identical():
    ref = _gated_net("none").run(200.0, trials=2, seeds=[1, 2])
    for gate in ("wide", "ungrouped"):
        other = _gated_net(gate).run(200.0, trials=2, seeds=[1, 2])
        for a, b in zip(ref.spikes(), other.spikes()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ref.analog(), other.analog())
        assert other.lost_spikes().sum() == 0
    assert ref.lost_spikes().shape == (2, 0)


def _poisson_gated(trials: int, seeds) -> engine.Simulation:
    net = engine.Network(20, dt=0.1)
    exc = net.add_channel("exp", 0, 5.0, 0.0)
    src = net.add_poisson(np.full(20, 400.0))
    net.connect(src, np.arange(20), exc, weight=0.05, delay=1.0)
    rng = np.random.default_rng(0)
    pre, post = rng.integers(0, 20, 100), rng.integers(0, 20, 100)
    net.connect(pre, post, exc, weight=0.02, delay=1.5)
    net.set_spike_gate(np.arange(20) // 5, rate=0.02, burst=3.0)
    net.record(spikes=True)
    return net.run(500.0, trials=trials, seeds=seeds)


def test_gate_batched_equals_single_and_continues_over_advances():
    batch = _poisson_gated(3, [5, 6, 7])
    assert batch.lost_spikes().sum() > 0
    for k, s in enumerate([5, 6, 7]):
        one = _poisson_gated(1, [s])
        np.testing.assert_array_equal(one.spike_counts()[0], batch.spike_counts()[k])
        np.testing.assert_array_equal(one.lost_spikes()[0], batch.lost_spikes()[k])
    # two advances == one advance (the buckets carry over)
    net = _poisson_gated(1, [5]).net
    split = net.prepare(1, [5])
    split.advance(200.0)
    split.advance(300.0)
    np.testing.assert_array_equal(split.lost_spikes(), batch.lost_spikes()[:1])
    np.testing.assert_array_equal(split.spike_counts()[0], batch.spike_counts()[0])


def test_gate_rejects_bad_arguments():
    net = engine.Network(3)
    with pytest.raises(ValueError):
        net.set_spike_gate([0, 1], rate=1.0)
    with pytest.raises(ValueError):
        net.set_spike_gate([0, 1, 2], rate=0.0)


# -- BrainScaleS: Layer-1 and Layer-2 uplink losses ----------------------------------------------


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for k in ("SLURM_HICANNS", "SLURM_DEFECTS_PATH", "NMCLUSTER_WAFER"):
        monkeypatch.delenv(k, raising=False)
    yield
    sim.end()


WIDE_UP = dict(l2_up_rate=1e12, l2_up_burst=1e6)  # no recording loss


def _chain(l1_rate: float, rate: float = 80.0, l1_burst: float = 2.0, up: dict | None = None):
    """Poisson input -> 40 driver neurons -> 10 targets, all on HICANN 297."""
    bw = sim.Bandwidth(playback_rate=1e12, playback_burst=1e6, l2_down_rate=1e12,
                       l2_down_burst=1e6, l1_rate=l1_rate, l1_burst=l1_burst,
                       **(up if up is not None else WIDE_UP))
    sim.setup(hicanns=[297], seed=3, bandwidth=bw)
    src = sim.Population(40, sim.SpikeSourcePoisson(rate=rate))
    drivers = sim.Population(40, sim.IF_cond_exp())
    targets = sim.Population(10, sim.IF_cond_exp())
    sim.Projection(src, drivers, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.015),
                   receptor_type="excitatory")
    sim.Projection(drivers, targets, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.004),
                   receptor_type="excitatory")
    drivers.record("spikes")
    targets.record("spikes")
    sim.run(1000.0)
    out = (sum(drivers.get_spike_counts().values()), sum(targets.get_spike_counts().values()),
           sim.pulse_statistics())
    st = bss.state
    tr, t, n = st.sim.spikes()
    hic = st.placement.hicann[n[tr == 0]]
    return out + ((t[tr == 0], hic),)


def test_l1_loss_starves_targets_and_is_counted_exactly():
    d_free, t_free, s_free = _chain(math.inf)[:3]
    d_tight, t_tight, s_tight, (t, hic) = _chain(2e6)  # 200 bio spikes/s per HICANN
    assert s_free["l1_neuron_lost"] == 0
    assert d_free > 300 and t_free > 10
    # drivers fire as before (their input is not affected); their targets receive fewer spikes
    assert d_tight == d_free
    assert t_tight < t_free / 2
    assert s_tight["l1_neuron_sent"] == d_tight + t_tight
    # what the statistics call lost is what the token bucket withholds, counted offline
    ok = ess.pass_links(t, hic, 2e6, 2.0, sim.speedup())
    assert s_tight["l1_neuron_lost"] == int((~ok).sum()) > 0
    # defaults: l1_rate = 5e7 (5000 bio spikes/s per HICANN) leaves this network lossless
    d_def, t_def, s_def = _chain(ess.Bandwidth().l1_rate, l1_burst=ess.Bandwidth().l1_burst)[:3]
    assert (d_def, t_def, s_def["l1_neuron_lost"]) == (d_free, t_free, 0)


def test_l1_loss_rises_with_input_rate():
    lost = [_chain(3e6, rate=r)[2]["l1_neuron_lost"] for r in (5.0, 40.0, 120.0)]
    assert lost[0] < lost[1] < lost[2]


def test_l2_up_loss_shrinks_the_recording():
    up = dict(l2_up_rate=1e6, l2_up_burst=4.0)  # 100 bio events/s per FPGA
    d, t, s = _chain(math.inf, up=up)[:3]
    d0, t0, s0 = _chain(math.inf)[:3]
    assert s0["l2_up_lost"] == 0 and d0 + t0 == s0["l2_up_sent"]
    assert s["l2_up_sent"] == s0["l2_up_sent"]  # the network ran the same
    assert s["l2_up_lost"] > 0
    assert d + t == s["l2_up_sent"] - s["l2_up_lost"]

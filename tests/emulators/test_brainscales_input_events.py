"""The BrainScaleS emulator's input path without the global sort (issue 27): Poisson events as
(times, counts) per source and the ESS playback/downlink buckets over per-FPGA sorted values
give exactly what the previous per-event paths gave (kept here as references, verbatim)."""

from __future__ import annotations

import numpy as np
import pytest

brainscales = pytest.importorskip("pyNN.nmcluster.brainscales")

from nmcluster.emulators.brainscales import ess, ess_input  # noqa: E402
from nmcluster.emulators.brainscales import simulator as bss  # noqa: E402
from pyNN.standardmodels import cells as std_cells  # noqa: E402


def _reference_trains(state, p, k: int, horizon: float) -> list[np.ndarray]:
    """The emulator's ``_trains`` before issue 27's rework (main at 7857fc3), verbatim."""
    BLOCK_MS = bss.BLOCK_MS
    if not isinstance(p.celltype, std_cells.SpikeSourcePoisson):
        return p.source_trains()
    rate, start, stop = p.poisson_params()
    same = p.size and bool((start == start[0]).all() and (stop == stop[0]).all())
    chunks = []
    for b in range(int(horizon // BLOCK_MS)):
        rng = np.random.default_rng([state.config.seed, 0x501, state.trial, k, b])
        lo = b * BLOCK_MS
        cnt = rng.poisson(rate * BLOCK_MS / 1000.0)
        unit = np.repeat(np.arange(p.size), cnt)
        key = rng.uniform(0.0, BLOCK_MS, unit.size)
        key += unit * BLOCK_MS
        key.sort()
        unit = (key // BLOCK_MS).astype(np.int64)
        t = key
        t -= unit * BLOCK_MS
        t += lo
        if same:
            keep = (t >= start[0]) & (t < stop[0])
        else:
            keep = (t >= start[unit]) & (t < stop[unit])
        if not keep.all():
            unit, t = unit[keep], t[keep]
        chunks.append((unit, t))
    if len(chunks) == 1:
        units, times = chunks[0]
    else:
        units = np.concatenate([c[0] for c in chunks])
        times = np.concatenate([c[1] for c in chunks])
        order = np.argsort(units.astype(np.uint16) if p.size <= 1 << 16 else units,
                           kind="stable")
        units, times = units[order], times[order]
    bounds = np.searchsorted(units, np.arange(p.size + 1))
    return [times[bounds[i]:bounds[i + 1]] for i in range(p.size)]


def _assert_same_events(state, p, k, horizon):
    times, counts = state._source_events(p, k, horizon)
    ref = _reference_trains(state, p, k, horizon)
    assert times.dtype == np.float64 and counts.dtype == np.int64
    assert counts.tolist() == [r.size for r in ref]
    bounds = np.concatenate(([0], np.cumsum(counts)))
    assert bounds[-1] == times.size
    for i, r in enumerate(ref):
        # bit for bit (as integers: -0.0 and 0.0 differ)
        assert np.array_equal(times[bounds[i]:bounds[i + 1]].view(np.int64), r.view(np.int64))
    return int(times.size)


@pytest.fixture
def bs():
    brainscales.setup(timestep=0.1, continue_despite_synapse_loss=True)
    yield brainscales
    brainscales.end()


def test_source_events_equal_the_per_event_path(bs):
    """Poisson sources with one window, per-source windows (events cut at start/stop, some
    sources silent), 1-3 blocks, and a spike-array source: the same events, bit for bit."""
    rates = np.linspace(0.0, 3000.0, 57)
    pops = [bs.Population(300, bs.SpikeSourcePoisson(rate=800.0)),
            bs.Population(57, bs.SpikeSourcePoisson(rate=rates, start=np.linspace(0, 900, 57),
                                                   duration=np.linspace(2500, 30, 57))),
            bs.Population(40, bs.SpikeSourcePoisson(rate=500.0, start=120.0, duration=1400.0)),
            bs.Population(3, bs.SpikeSourceArray(spike_times=[1.0, 2.5, 2.5, 7.0]))]
    state = bs.simulator.state
    n = 0
    for horizon in (bss.BLOCK_MS, 2 * bss.BLOCK_MS, 3 * bss.BLOCK_MS):
        for k, p in enumerate(pops):
            n += _assert_same_events(state, p, k, horizon)
    assert n > 1_000_000


class _RoundingRng:
    """numpy's generator whose uniform offsets include the largest double below BLOCK_MS at
    chosen events: added to ``source * BLOCK_MS`` it rounds onto the next source's range start
    (probability ~1e-13 per event with real draws, so forced here)."""

    def __init__(self, real, at):
        self.real, self.at = real, at

    def poisson(self, lam):
        self.cnt = self.real.poisson(lam)
        return self.cnt

    def uniform(self, lo, hi, n):
        x = self.real.uniform(lo, hi, n)
        ends = np.cumsum(self.cnt)
        for src in self.at:
            if self.cnt[src]:
                x[ends[src] - 1] = np.nextafter(hi, 0.0)
        return x


@pytest.mark.parametrize("at", [(150,), (10, 150, 299)])
def test_source_events_with_keys_rounded_onto_the_next_source(bs, monkeypatch, at):
    """The rare key ``source * BLOCK_MS + offset`` that rounds up to the next source's start:
    the floor division decides as before (the event becomes the next source's, at t = 0; the
    last source's is dropped)."""
    real = np.random.default_rng
    monkeypatch.setattr(bss.np.random, "default_rng",
                        lambda seed: _RoundingRng(real(seed), at))
    p = bs.Population(300, bs.SpikeSourcePoisson(rate=50.0))
    state = bs.simulator.state
    assert (np.float64(np.nextafter(bss.BLOCK_MS, 0.0)) + 150 * bss.BLOCK_MS
            == 151 * bss.BLOCK_MS)  # the case this test is about
    for horizon in (bss.BLOCK_MS, 2 * bss.BLOCK_MS):
        _assert_same_events(state, p, 0, horizon)
    times, counts = state._source_events(p, 0, bss.BLOCK_MS)
    first_151 = int(np.sum(counts[:151]))
    assert times[first_151] == 0.0  # source 150's last event moved to source 151, at 0 ms


def _events(rng, n_src, fpgas, grid, rate_hz, t_max=200.0):
    """Per-source sorted times on a grid (many equal times), some sources empty."""
    counts = rng.poisson(rate_hz * t_max / 1000.0, n_src) * (rng.random(n_src) > 0.1)
    trains = [np.sort(np.round(rng.uniform(0, t_max, c) / grid) * grid) for c in counts]
    times = np.concatenate(trains) if trains else np.zeros(0)
    bounds = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    fpga = rng.choice(np.asarray(fpgas, dtype=np.int64), n_src)
    return times, bounds, fpga


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_playback_per_source_equals_the_stable_sort_path(seed, monkeypatch):
    """(played, delivered) per event equal :func:`ess.playback_and_downlink` over the events
    in (source, time) order, with ties, for narrow links (losses: the fallback), wide links
    (nothing lost: the fast path, checked to be taken) and links just wide enough."""
    rng = np.random.default_rng(seed)
    calls = []
    monkeypatch.setattr(ess_input, "playback_and_downlink",
                        lambda *a: calls.append(1) or ess.playback_and_downlink(*a))
    cases = [(ess.Bandwidth(), 1e4, None),  # default links: 2.5 events/ms per FPGA: losses
             (ess.Bandwidth(playback_rate=1e13, l2_down_rate=1e13), 1e4, False),
             (ess.Bandwidth(playback_rate=2e8, l2_down_rate=1.5e8), 1e4, None)]
    seen = {True: 0, False: 0}
    for n_src, fpgas, grid in ((1, [3], 1e-3), (50, [7], 0.1), (200, [4, 5, 41], 0.01),
                               (120, [0, 1, 2, 3, 4, 5, 6], 1.0), (0, [2], 1.0)):
        times, bounds, f_src = _events(rng, n_src, fpgas, grid, 400.0)
        for bw, speedup, lossy in cases:
            calls.clear()
            played, delivered = ess_input.playback_and_downlink_sources(
                times, bounds, f_src, bw, speedup)
            ref_p, ref_d = ess.playback_and_downlink(
                times, np.repeat(f_src, np.diff(bounds)), bw, speedup)
            assert np.array_equal(played, ref_p) and np.array_equal(delivered, ref_d)
            assert played.dtype == bool and played.shape == times.shape
            if times.size:
                lost = not bool(ref_d.all())
                assert bool(calls) == lost  # the fallback only when something is lost
                if lossy is not None:
                    assert lost == lossy
                seen[lost] += 1
    assert seen[True] >= 4 and seen[False] >= 4


def test_balanced_network_input_all_delivered_through_the_fast_path(bs, monkeypatch):
    """The whole-job benchmark's situation (wide links): the emulator's build takes every
    input event without the stable-sort path, and the sources get all of them."""
    monkeypatch.setattr(ess_input, "playback_and_downlink",
                        lambda *a: pytest.fail("stable-sort path taken"))
    bs.end()
    wide = bs.Bandwidth(playback_rate=1e13, l2_down_rate=1e13, l2_up_rate=1e13, l1_rate=1e13)
    bs.setup(timestep=0.1, continue_despite_synapse_loss=True, bandwidth=wide)
    src = bs.Population(100, bs.SpikeSourcePoisson(rate=1000.0))
    cells = bs.Population(100, bs.IF_cond_exp())
    bs.Projection(src, cells, bs.OneToOneConnector(), bs.StaticSynapse(weight=0.004, delay=1.0))
    bs.run(100.0)
    stats = bs.simulator.state.pulse_statistics()
    times, counts = bs.simulator.state._source_events(src, 0, bss.BLOCK_MS)
    assert stats["l2_down_before_sim"] == int(np.sum(times < 100.0)) > 9000
    assert stats["l2_down_dropped_before_sim"] == stats["l2_down_lost"] == 0
    assert stats["l2_down_sent"] == stats["l2_down_before_sim"]
    bs.run(100.0)  # the counts grow with the time run
    assert (bs.simulator.state.pulse_statistics()["l2_down_sent"]
            == int(np.sum(times < 200.0)) > stats["l2_down_sent"] + 9000)


@pytest.mark.parametrize("seed", [0, 1])
def test_group_order_equals_lexsort(seed):
    """The router's one-key sort is ``np.lexsort`` of (bus, receptor, post, address), ties
    (duplicate synapses) in index order; also where the key would overflow (lexsort itself)."""
    from nmcluster.emulators.brainscales.wafer import _group_order

    rng = np.random.default_rng(seed)
    for m, n_bus, n_post, n_addr in ((0, 1, 1, 1), (1, 1, 1, 1), (5000, 3, 20, 8),
                                     (20000, 40, 600, 64), (3000, 7, 2**20, 2**20), (3000, 7, 2**30, 2**30)):
        bus = rng.integers(0, n_bus, m)
        rec = rng.integers(0, 2, m)
        post = rng.integers(0, n_post, m)
        addr = rng.integers(0, n_addr, m)
        got = _group_order(bus, rec, post, addr, n_bus, n_post, n_addr)
        ref = np.lexsort((addr, post, rec, bus))
        assert np.array_equal(got, ref)
        if m > 1000 and n_post < 1000:
            key = ((bus * 2 + rec) * n_post + post) * n_addr + addr
            assert np.unique(key).size < m  # duplicates: the ties were there to order

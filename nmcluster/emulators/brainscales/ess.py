"""ESS options: weight distortion and pulse (spike) loss statistics of the emulated wafer.

Why: the ESS (the wafer's executable system specification) exposes two hardware effects a user
must plan for (guidebook 4.3): analog weights deviate from the programmed ones, and spikes are
lost where bandwidth is limited.  The emulator reproduces both:

* **Weight distortion** (``enable_weight_distortion``, ``weight_distortion`` = sigma as a
  fraction of the weight): every realised weight is drawn from N(w, (sigma w)^2), clipped >= 0,
  seeded by ``setup(seed=)``.
* **Pulse loss**, modelled as token buckets (a link sustains ``rate`` events per second of
  *hardware* time and buffers ``burst`` events; at the default speed-up 10^4 one hardware second
  is 10^4 biological seconds, so 2.5e7 events/s are 2500 biological events/s):

  1. FPGA playback: input spikes of each FPGA beyond ``playback_rate`` are **dropped before the
     run** (``l2_down_dropped_before_sim`` of ``l2_down_before_sim``);
  2. Layer-2 downlink: spikes sent beyond ``l2_down_rate`` per FPGA are **lost during the run**
     (``l2_down_lost`` of ``l2_down_sent``) and reach none of their targets;
  3. Layer-2 uplink: recorded neuron spikes beyond ``l2_up_rate`` per FPGA are **not recorded**
     (``l2_up_lost`` of ``l2_up_sent``) but did reach their targets;
  4. Layer-1: neuron spikes beyond ``l1_rate`` per HICANN output (the neurons of one HICANN
     share its merger tree and output bus) are **lost during the run**: they reach none of their
     targets (no PSP, no STP and no presynaptic STDP at the targets' synapses) and are counted
     as ``l1_neuron_lost`` of ``l1_neuron_sent``.  The bucket sits in the engine's spike
     delivery (:meth:`nmcluster.emulators.engine.Network.set_spike_gate`), one per HICANN and
     trial, so batched and single trials lose the same spikes and a run split into several
     ``run()`` calls loses what one call would.  A lost spike still counts as a spike of its
     neuron (membrane reset, the neuron's own postsynaptic STDP) and is recorded unless the
     uplink drops it (``l1_neuron_sent`` = ``l2_up_sent`` when every neuron is recorded).
     ``l1_rate=math.inf`` switches the Layer-1 model off (no gate, nothing lost).

Every bucket starts full (``burst`` events) at t = 0 of a trial and refills continuously; an
event passes if at least one token is left, taking it.  Events of one link are served in time
order (equal times: input source / neuron index order).  Only the spikes of the current trial
up to the current time are counted (``pulse_statistics()`` after each ``run()``).  Losses 1-2
apply to external input only, 3-4 to neuron spikes only.

The statistics are the dict with SPEC.md's eight keys; with ``pulse_statistics_file`` set they are
written after every run as a Python file defining ``pulse_statistics = {...}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nmcluster.emulators.engine._kernel_cache import njit  # shared install-time cache

PULSE_KEYS = ("l2_down_before_sim", "l2_down_dropped_before_sim", "l2_down_sent", "l2_down_lost",
              "l2_up_sent", "l2_up_lost", "l1_neuron_sent", "l1_neuron_lost")


@dataclass(frozen=True)
class Bandwidth:
    """Link capacities in events per second of hardware time, and buffer depths in events
    (*inferred* defaults; configure with ``setup(bandwidth=Bandwidth(...))``).

    A link with rate ``r`` (hardware events/s) at speed-up ``s`` carries ``r / s`` biological
    events per second (:func:`per_ms`: ``r / s / 1000`` per biological ms); ``*_burst`` is the
    depth of its token bucket (events it passes back to back after an idle period).

    ``playback_rate`` / ``playback_burst``
        FPGA spike playback, per FPGA: input spikes above it are dropped before the run.
    ``l2_down_rate`` / ``l2_down_burst``
        Layer-2 downlink FPGA -> wafer, per FPGA: input spikes above it are lost in the run.
    ``l2_up_rate`` / ``l2_up_burst``
        Layer-2 uplink wafer -> FPGA, per FPGA: recorded neuron spikes above it are missing
        from the recording (applied when the spikes are read out; the network is unaffected).
    ``l1_rate`` / ``l1_burst``
        Layer-1 output of one HICANN (all its neurons): neuron spikes above it reach none of
        their targets (they are still recorded).  ``math.inf`` disables the Layer-1 model.

    All values must be > 0 (``inf`` allowed).  Defaults at speed-up 10^4: playback 2500,
    downlink/uplink 2000, Layer-1 5000 biological events/s.
    """

    playback_rate: float = 2.5e7  # FPGA playback of input spikes, per FPGA
    playback_burst: float = 64.0
    l2_down_rate: float = 2.0e7  # FPGA -> wafer, per FPGA
    l2_down_burst: float = 32.0
    l2_up_rate: float = 2.0e7  # wafer -> FPGA (recording), per FPGA
    l2_up_burst: float = 256.0
    l1_rate: float = 5.0e7  # neuron spikes out of one HICANN (Layer-1 merger); inf: off
    # *inferred*: the merger tree's buffers hold one event per address of a 64-source output bus, so
    # a population firing synchronously (a synfire link) passes; 8 starved the guidebook's chain
    l1_burst: float = 64.0

    def __post_init__(self) -> None:
        for k, v in self.__dict__.items():
            if not v > 0:
                raise ValueError(f"Bandwidth.{k} must be > 0")


@dataclass
class ESSConfig:
    """The guidebook's ``pysthal.ESSConfig``."""

    enable_weight_distortion: bool = False
    weight_distortion: float = 0.0
    pulse_statistics_file: str = ""
    bandwidth: Bandwidth = field(default_factory=Bandwidth)


@njit(cache=True)
def token_bucket(t, group, rate, burst):
    """Which events pass (bool per event) a token bucket per group: ``t`` sorted times (ms),
    ``group`` the link of each event, ``rate`` tokens per ms, ``burst`` bucket depth."""
    n = t.shape[0]
    ok = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return ok
    g_max = 0
    for i in range(n):
        if group[i] > g_max:
            g_max = group[i]
    tokens = np.full(g_max + 1, burst)
    last = np.full(g_max + 1, -np.inf)
    for i in range(n):
        g = group[i]
        if last[g] > -np.inf:
            tokens[g] = min(burst, tokens[g] + (t[i] - last[g]) * rate)
        last[g] = t[i]
        if tokens[g] >= 1.0:
            tokens[g] -= 1.0
            ok[i] = True
    return ok


def per_ms(rate_hw_per_s: float, speedup: float) -> float:
    """Events per biological millisecond of a link with ``rate_hw_per_s`` hardware events/s."""
    return rate_hw_per_s / speedup / 1000.0


def pass_links(times: np.ndarray, links: np.ndarray, rate: float, burst: float,
               speedup: float) -> np.ndarray:
    """Bool per event (any order): passes its link's token bucket."""
    if times.size == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((links, times))
    ok_sorted = token_bucket(np.ascontiguousarray(times[order], dtype=np.float64),
                             np.ascontiguousarray(links[order], dtype=np.int64),
                             per_ms(rate, speedup), float(burst))
    ok = np.zeros(times.size, dtype=bool)
    ok[order] = ok_sorted
    return ok


@njit(cache=True)
def _two_buckets(t, group, r1, b1, r2, b2):
    n = t.shape[0]
    ok1 = np.zeros(n, dtype=np.bool_)
    ok2 = np.zeros(n, dtype=np.bool_)
    g_max = 0
    for i in range(n):
        if group[i] > g_max:
            g_max = group[i]
    k1 = np.full(g_max + 1, b1)
    k2 = np.full(g_max + 1, b2)
    l1 = np.full(g_max + 1, -np.inf)
    l2 = np.full(g_max + 1, -np.inf)
    for i in range(n):
        g = group[i]
        if l1[g] > -np.inf:
            k1[g] = min(b1, k1[g] + (t[i] - l1[g]) * r1)
        l1[g] = t[i]
        if k1[g] < 1.0:
            continue
        k1[g] -= 1.0
        ok1[i] = True
        if l2[g] > -np.inf:
            k2[g] = min(b2, k2[g] + (t[i] - l2[g]) * r2)
        l2[g] = t[i]
        if k2[g] >= 1.0:
            k2[g] -= 1.0
            ok2[i] = True
    return ok1, ok2


def stable_argsort(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, x[order])`` with ``order = np.argsort(x, kind="stable")``, for floats about
    twice as fast: numpy's default
    (unstable, vectorised) sort, then the runs of equal values put back in index order, which
    is all that makes a sort stable (the permutation of a stable sort is unique).  Equal input
    times are rare but do occur (millions of events on a grid of ~1e-9 ms)."""
    order = np.argsort(x)
    xs = x[order]
    if order.size < 2:
        return order, xs
    eq = xs[1:] == xs[:-1]
    if not eq.any():
        return order, xs
    # positions in a run of equal values (few), numbered run by run
    first = np.nonzero(eq)[0]  # xs[first] == xs[first + 1]
    pos = np.union1d(first, first + 1)
    starts = np.ones(pos.size, dtype=bool)
    starts[1:] = xs[pos[1:]] != xs[pos[:-1]]
    run = np.cumsum(starts)
    sub = order[pos]
    order[pos] = sub[np.lexsort((sub, run))]
    return order, xs  # (equal values: xs unchanged)


def playback_and_downlink(times: np.ndarray, fpga: np.ndarray, bw: Bandwidth,
                          speedup: float) -> tuple[np.ndarray, np.ndarray]:
    """(played, delivered) per input event: FPGA playback, then the Layer-2 downlink."""
    if times.size == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    order, t_sorted = stable_argsort(times)
    f_sorted = np.ascontiguousarray(fpga[order], dtype=np.int64)
    p_s, d_s = _two_buckets(np.ascontiguousarray(t_sorted), f_sorted,
                            per_ms(bw.playback_rate, speedup), float(bw.playback_burst),
                            per_ms(bw.l2_down_rate, speedup), float(bw.l2_down_burst))
    del t_sorted, f_sorted  # (millions of events: free before the next arrays)
    played = np.zeros(times.size, dtype=bool)
    delivered = np.zeros(times.size, dtype=bool)
    played[order] = p_s
    delivered[order] = d_s
    return played, delivered


def distort(weights: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """N(w, (sigma w)^2), clipped at 0."""
    if sigma <= 0:
        return weights.copy()
    return np.maximum(0.0, rng.normal(weights, sigma * np.abs(weights)))


def write_statistics(path: str, stats: dict[str, int]) -> None:
    body = ",\n".join(f"    {k!r}: {int(stats[k])}" for k in PULSE_KEYS)
    with open(path, "w") as f:
        f.write(f"pulse_statistics = {{\n{body},\n}}\n")

"""Numba kernels of the emulator engine: the clock-driven hot loop and its shared helpers.

Why numba and not vectorised numpy: a clock-driven network step is a few dozen flops per neuron
followed by a data-dependent scatter (spike delivery through sparse rows into a delay ring).
Vectorised numpy pays one Python-level call and one temporary array per operation per time step;
with 10^5 steps of 10^2 neurons that overhead (~10 µs x ~30 ops per step) dominates everything.
Measured on benchmark case 1 (100 conductance LIF neurons, 100 Poisson sources 0-1000 Hz, 10 s
at 0.1 ms, 2 shared cores): a vectorised-numpy step loop takes ~2.5 s (NEST: ~2.1 s), this kernel
~0.1 s.
``cache=True`` stores the machine code next to this file, so the JIT cost (a few seconds) is paid
once per installation, not once per job.

Layout: every state array carries the trial as its leading axis, so one call integrates
``T`` independent trials in one pass (batched trials, see :mod:`.network`).  Each trial owns its
own counter-based random stream (splitmix64) so a trial's result does not depend on which batch it
ran in.

Units (PyNN's): mV, ms, nF, µS (conductances and conductance weights), nA (currents).

Models are pluggable: a model supplies a ``run_*`` kernel with the same signature as
:func:`run_lif` built from the shared helpers below (sources, delivery with STP, STDP pairing and
the look-up-table sweep), and registers itself in :mod:`.models`.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
from . import _kernel_cache
from ._kernel_cache import njit  # lazy numba.njit: AOT code first, cache=True from the shared cache

from ._kernel_cache import host_cpu_features as get_host_cpu_features  # guarded numba-internal probe


def _vector_features() -> str | None:
    """LLVM target features for numba that let the kernels use 512-bit vectors, or None.

    Why: on AVX-512 hosts LLVM still prefers 256-bit vectors (``prefer-256-bit``, a guard
    against the clock throttling of early Xeons).  The fused membrane loop is bound by the
    latency of its ``exp`` chain with only a couple of iterations in flight, so doubling the
    lanes per iteration nearly doubles its throughput: benchmark case 4 on a 2-core Sapphire
    Rapids ran 2.0-2.4 s with 256-bit and 1.7-1.9 s with 512-bit vectors.  ``$NMCLUSTER_VECTOR_WIDTH``
    = ``256`` keeps LLVM's choice; an explicit ``$NUMBA_CPU_FEATURES`` always wins.  The setting
    is part of numba's cache key, so cached code never mixes the two.
    """
    import numba

    if os.environ.get("NMCLUSTER_VECTOR_WIDTH", "auto").strip() == "256":
        return None
    if numba.config.CPU_FEATURES is not None:
        return None
    features = get_host_cpu_features()
    if "+avx512f" not in features.split(","):
        return None
    return features + ",-prefer-256-bit"


@lru_cache(maxsize=None)
def _jit_setup() -> None:
    """numba's CPU target and LLVM options for these kernels, set once per process when the
    first kernel becomes a numba dispatcher (:func:`._kernel_cache._materialize`): numba reads
    them when its JIT target is created, at the first compile or cache load.  A process whose
    kernels all come from the AOT build (:mod:`._aot`) never runs this, nor imports numba."""
    import llvmlite.binding as llvm
    import numba

    from . import _aot

    aot_cpu = _aot.chosen_cpu()  # a JIT fallback targets the CPU of the AOT code already run
    wide = _vector_features() if aot_cpu != "generic" else None
    if wide is not None:
        numba.config.CPU_FEATURES = wide
    # a node of a CPU type the install-time build did not cover reads the generic build
    # instead of compiling (see _kernel_cache.select_cpu)
    _kernel_cache.select_cpu(__name__, __file__, "run_lif", forced=aot_cpu)
    # LLVM vectorises a loop only if it can rule out aliasing between the arrays it reads and
    # writes, with at most this many run-time pointer checks (default 8).  The fused membrane
    # loop touches ~20 arrays, so without a higher limit it silently stays scalar (~2x slower).
    # The option only widens what LLVM may vectorise; it is read when a function is compiled
    # (cached code keeps it).
    llvm.set_option("", "-runtime-memory-check-threshold=256")


# --- counter-based RNG (splitmix64), one uint64 state per trial --------------------------------
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_INV53 = 1.0 / 9007199254740992.0

# synaptic plasticity rule kinds (rule_par[:, 0])
RULE_ADDITIVE = 1  # continuous additive pair rule (applied at pairing time)
RULE_MULTIPLICATIVE = 2  # continuous multiplicative pair rule
RULE_LUT = 3  # correlation accumulators + sequential look-up-table sweep (Spikey)
# sPyNNaker's pair rules (timing_pair_impl.h / timing_nearest_pair_impl.h): a pre trace and a post
# trace per synapse (acc_c, acc_a), +1 per spike (all-to-all) or set to 1 (nearest); additive
# (weight_additive_one_term_impl.h: dw = A x trace) or multiplicative ((w_max - w) / (w - w_min))
RULE_TRACE_ADD, RULE_TRACE_MULT, RULE_NEAREST_ADD, RULE_NEAREST_MULT = 4, 5, 6, 7

# columns of rule_par
RP_KIND, RP_TAU_PLUS, RP_TAU_MINUS, RP_A_PLUS, RP_A_MINUS, RP_W_MIN, RP_W_MAX, RP_LSB = range(8)
# triplet terms of the trace rules (sPyNNaker timing_pfister_triplet_impl.h with
# weight_additive_two_term_impl.h): second pre / post traces with tau_x / tau_y, amplitudes A3
RP_TAU_X, RP_TAU_Y, RP_A3_PLUS, RP_A3_MINUS = range(8, 12)
RULE_PAR_COLS = 12

NEVER = -(2**62)  # "no spike yet" step stamp

# neuron model families of the kernel (NeuronModel.kind)
MODEL_LIF = 0  # leaky integrate-and-fire (conductance or current channels)
MODEL_ADEX = 1  # adaptive exponential IF (EIF_cond_exp_isfa_ista)
MODEL_IZH = 2  # Izhikevich (current or conductance channels)
#: SpiNNaker (sPyNNaker 7.x C code): per-neuron family (xpar[XP_V_T]: FAM_*), s16.15 state,
#: synaptic input held for the step and decayed by truncation (see :func:`_spinn_membrane`)
MODEL_SPINN = 3
FAM_LIF_CURR, FAM_LIF_COND, FAM_IZH_CURR, FAM_IZH_COND = 0.0, 1.0, 2.0, 3.0
#: conductance inputs carry sPyNNaker's global weight scale 1024 (input_type_conductance.py
#: get_global_weight_scale): their state has 10 more fractional bits than s16.15
COND_SCALE = 32768.0 * 1024.0
# rows of xpar: a (AdEx: µS, Izhikevich: 1/ms), spike increment of the second state variable
# (AdEx b in nA, Izhikevich d), Izhikevich b / AdEx delta_T (mV), AdEx tau_w (ms), AdEx V_T (mV)
XP_A, XP_INCR, XP_B, XP_TAU_W, XP_V_T = range(5)
XP_DELTA_T = XP_B
XP_ROWS = 5
#: ``fused`` of run_lif for AdEx neurons without the exponential term (1, 2: LIF channels)
FUSED_ADEX = 3
FIX_SCALE = 32768.0  # s16.15: 15 fractional bits
FIX_MAX = 65536.0 - 1.0 / 32768.0


@njit(cache=True, inline="always")
def rand_u64(rng: np.ndarray, tr: int) -> np.uint64:
    s = rng[tr] + _GOLD
    rng[tr] = s
    z = (s ^ (s >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def rand_uniform(rng: np.ndarray, tr: int) -> float:
    """Uniform in (0, 1]: never 0, so ``-log(u)`` is finite."""
    return float((rand_u64(rng, tr) >> _S11) + _ONE) * _INV53


@njit(cache=True, inline="always")
def rand_normal(rng: np.ndarray, tr: int) -> float:
    u1 = rand_uniform(rng, tr)
    u2 = rand_uniform(rng, tr)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


# --- shared helpers ------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def pair_weight_update(kind: int, w: float, par: np.ndarray, dt_ms: float, causal: bool) -> float:
    """Immediate weight change of the continuous pair rules (additive / multiplicative)."""
    if causal:
        f = math.exp(-dt_ms / par[RP_TAU_PLUS])
        if kind == RULE_ADDITIVE:
            w += par[RP_A_PLUS] * par[RP_W_MAX] * f
        else:
            w += par[RP_A_PLUS] * (par[RP_W_MAX] - w) * f
    else:
        f = math.exp(-dt_ms / par[RP_TAU_MINUS])
        if kind == RULE_ADDITIVE:
            w -= par[RP_A_MINUS] * par[RP_W_MAX] * f
        else:
            w -= par[RP_A_MINUS] * (w - par[RP_W_MIN]) * f
    if w > par[RP_W_MAX]:
        w = par[RP_W_MAX]
    if w < par[RP_W_MIN]:
        w = par[RP_W_MIN]
    return w


@njit(cache=True, inline="always")
def _trace_update(kind, w, par, amount, causal):
    """Weight change of the trace rules by ``amount`` (amplitude x the other side's trace),
    clipped to [w_min, w_max]."""
    mult = kind == RULE_TRACE_MULT or kind == RULE_NEAREST_MULT
    if causal:
        w += amount * ((par[RP_W_MAX] - w) if mult else 1.0)
    else:
        w -= amount * ((w - par[RP_W_MIN]) if mult else 1.0)
    return min(max(w, par[RP_W_MIN]), par[RP_W_MAX])


@njit(cache=True)
def _stdp_pre(tr, k, step, dt, tpost_step, syn_rule, rule_par, w, pre_avail, post_avail,
              acc_c, acc_a, tself_step, x2, y2):
    """A pre spike on plastic synapse ``k``; ``tself_step``: the previous pre spike, ``x2`` /
    ``y2``: the triplet rules' second pre / post traces (the STP state arrays, which trace rules
    do not use otherwise)."""
    r = syn_rule[k]
    par = rule_par[r - 1]
    kind = int(par[RP_KIND])
    if kind >= RULE_TRACE_ADD:
        # depression by the post trace decayed to now (triplet: x (A2- + A3- r2), r2 the second
        # pre trace before this spike); then the pre traces decay and take this spike
        r2 = 0.0
        if tself_step != NEVER and par[RP_TAU_X] > 0.0:
            r2 = x2[tr, k] * math.exp(-(step - tself_step) * dt / par[RP_TAU_X])
        if tpost_step != NEVER:
            o = acc_a[tr, k] * math.exp(-(step - tpost_step) * dt / par[RP_TAU_MINUS])
            amp = o * (par[RP_A_MINUS] + par[RP_A3_MINUS] * r2)
            w[tr, k] = _trace_update(kind, w[tr, k], par, amp, False)
        prev = 0.0
        if tself_step != NEVER and kind <= RULE_TRACE_MULT:
            prev = acc_c[tr, k] * math.exp(-(step - tself_step) * dt / par[RP_TAU_PLUS])
        acc_c[tr, k] = prev + 1.0
        if par[RP_TAU_X] > 0.0:
            x2[tr, k] = r2 + 1.0
        return
    if post_avail[tr, k] != 0 and tpost_step != NEVER:
        d = (step - tpost_step) * dt
        if kind == RULE_LUT:
            acc_a[tr, k] += par[RP_A_MINUS] * math.exp(-d / par[RP_TAU_MINUS])
        else:
            w[tr, k] = pair_weight_update(kind, w[tr, k], par, d, False)
    post_avail[tr, k] = 0
    pre_avail[tr, k] = 1


@njit(cache=True)
def _stdp_post(tr, k, step, dt, tpre_step, syn_rule, rule_par, w, pre_avail, post_avail,
               acc_c, acc_a, tself_step, x2, y2):
    """A post spike on plastic synapse ``k`` (see :func:`_stdp_pre`)."""
    r = syn_rule[k]
    par = rule_par[r - 1]
    kind = int(par[RP_KIND])
    if kind >= RULE_TRACE_ADD:
        # potentiation by the pre trace decayed to now (triplet: x (A2+ + A3+ o2), o2 the second
        # post trace before this spike); then the post traces take this spike
        o2 = 0.0
        if tself_step != NEVER and par[RP_TAU_Y] > 0.0:
            o2 = y2[tr, k] * math.exp(-(step - tself_step) * dt / par[RP_TAU_Y])
        if tpre_step != NEVER:
            a = acc_c[tr, k] * math.exp(-(step - tpre_step) * dt / par[RP_TAU_PLUS])
            amp = a * (par[RP_A_PLUS] + par[RP_A3_PLUS] * o2)
            w[tr, k] = _trace_update(kind, w[tr, k], par, amp, True)
        prev = 0.0
        if tself_step != NEVER and kind <= RULE_TRACE_MULT:
            prev = acc_a[tr, k] * math.exp(-(step - tself_step) * dt / par[RP_TAU_MINUS])
        acc_a[tr, k] = prev + 1.0
        if par[RP_TAU_Y] > 0.0:
            y2[tr, k] = o2 + 1.0
        return
    if pre_avail[tr, k] != 0 and tpre_step != NEVER:
        d = (step - tpre_step) * dt
        if kind == RULE_LUT:
            acc_c[tr, k] += par[RP_A_PLUS] * math.exp(-d / par[RP_TAU_PLUS])
        else:
            w[tr, k] = pair_weight_update(kind, w[tr, k], par, d, True)
    pre_avail[tr, k] = 0
    post_avail[tr, k] = 1


@njit(cache=True, inline="always", fastmath={"contract"})
def exp_neg(x):
    """``exp(-x)`` for ``x >= 0`` without a libm call, so that LLVM vectorises the membrane loop.

    ``exp(-x) = (exp(-x/16))**16``, the inner factor by its degree-11 Taylor polynomial in
    Estrin's form.  The membrane loop is bound by the latency of this chain (the FP scheduler
    holds about two iterations), so the shape is chosen for depth: Estrin plus four squarings is
    ~25 cycles deep where Horner plus six squarings was ~45, which made the loop ~20 % faster.
    Relative error < 5e-15 for x < 1 (every realistic ``dt * g / C``), < 1e-10 for x < 8; the
    argument is clipped at 40, where the result (4e-18) is already negligible (absolute error
    < 1e-11 beyond 8).
    """
    y = -min(x, 40.0) * 0.0625
    y2 = y * y
    y4 = y2 * y2
    y8 = y4 * y4
    p = ((1.0 + y) + y2 * (0.5 + y * (1.0 / 6.0))) + y4 * (
        (1.0 / 24.0 + y * (1.0 / 120.0)) + y2 * (1.0 / 720.0 + y * (1.0 / 5040.0))) + y8 * (
        (1.0 / 40320.0 + y * (1.0 / 362880.0)) + y2 * (1.0 / 3628800.0 + y * (1.0 / 39916800.0)))
    p = p * p
    p = p * p
    p = p * p
    return p * p


@njit(cache=True, inline="always")
def _fire(vm, rf, v_thresh, v_reset, ref_steps):
    """Threshold and refractory clamp of the fused membrane loops: ``(v, refr, spiked)``.

    Branch-free on purpose: every operand arrives loaded and is combined with ``&`` (not
    ``and``/``or``), because a conditional load or store in the vectorised loop becomes a masked
    move, microcoded on AMD Zen and ~2x slower for the whole loop."""
    free = rf <= 0
    spk = free & (vm >= v_thresh)
    return (vm if (free & ~spk) else v_reset), (ref_steps if spk else (rf if free else rf - 1)), spk


@njit(cache=True)
def lut_sweep(tr, step, sweep_rows, sweep_phase, sweep_period, indptr, syn_rule, rule_par, lut,
              w, acc_c, acc_a):
    """The chip's sequential STDP update: rows are visited one after another (phase-shifted), and
    each synapse whose causal xor acausal accumulator crossed threshold (1.0) gets its 4-bit weight
    replaced through the rule's look-up table; crossed accumulators are reset."""
    for i in range(sweep_rows.shape[0]):
        if (step - sweep_phase[i]) % sweep_period != 0:
            continue
        row = sweep_rows[i]
        for k in range(indptr[row], indptr[row + 1]):
            r = syn_rule[k]
            if r == 0:
                continue
            par = rule_par[r - 1]
            if int(par[RP_KIND]) != RULE_LUT:
                continue
            c = acc_c[tr, k] >= 1.0
            a = acc_a[tr, k] >= 1.0
            if c or a:
                if c != a:
                    lsb = par[RP_LSB]
                    level = int(w[tr, k] / lsb + 0.5)
                    if level > 15:
                        level = 15
                    if level < 0:
                        level = 0
                    new = lut[r - 1, 0 if c else 1, level]
                    w[tr, k] = new * lsb
                acc_c[tr, k] = 0.0
                acc_a[tr, k] = 0.0


#: spike-buffer slots added beyond what a run's rate so far extrapolates to when it grows
SPIKE_MARGIN = 262144
#: Poisson events one window of steps may hold (its length adapts to the sources' total rate)
EVENT_BUDGET = 65536
#: longest window of steps whose Poisson events are drawn in one go
MAX_WINDOW = 256


@njit(cache=True, inline="always")
def _cal_step(nt, dt, inv_dt, first):
    """The step whose end ``(s + 1) * dt`` first exceeds ``nt`` (at least ``first``); ``inv_dt``
    only gives the first guess, which the two comparisons correct to the exact step."""
    x = nt * inv_dt
    if x > 4e18:  # far future: any bucket will do, it is re-filed every lap
        return first
    s = int(x)
    if nt >= (s + 1) * dt:
        s += 1
    elif s > 0 and nt < s * dt:
        s -= 1
    return s if s > first else first


# --- exponential variates: ziggurat (Marsaglia & Tsang 2000) ------------------------------------
# Poisson intervals are the engine's commonest random number (benchmark case 4 draws 3.2e7), and
# ``-log(u)`` costs a libm call each (~17 ns here); the ziggurat returns 98.9 % of its variates
# with one table look-up, a compare and a multiply from one 64-bit draw (as NumPy's
# ``Generator.standard_exponential``: bits 3..10 pick the layer, bits 11..63 the position).
_ZIG_R = 7.697117470131487  # right edge of the base layer
_ZIG_V = 3.949659822581572e-3  # area of every layer


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer thresholds ``ke`` (53-bit integers), widths ``we`` (per integer unit) and densities
    ``fe`` of the 256-layer exponential ziggurat (Marsaglia & Tsang's ``zigset``, 53-bit)."""
    m2 = 2.0**53
    de = _ZIG_R
    te = de
    ke = np.zeros(256, dtype=np.uint64)
    we = np.zeros(256)
    fe = np.zeros(256)
    q = _ZIG_V / math.exp(-de)
    ke[0] = np.uint64((de / q) * m2)
    we[0] = q / m2
    we[255] = de / m2
    fe[0] = 1.0
    fe[255] = math.exp(-de)
    for i in range(254, 0, -1):
        de = -math.log(_ZIG_V / de + math.exp(-de))
        ke[i + 1] = np.uint64((de / te) * m2)
        te = de
        fe[i] = math.exp(-de)
        we[i] = de / m2
    return ke, we, fe


_ZKE, _ZWE, _ZFE = _ziggurat_tables()
_S3 = np.uint64(3)
_S8 = np.uint64(8)
_FF = np.uint64(255)


@njit(cache=True, inline="always")
def _mix(st):
    """splitmix64's output function of a state (the draw after ``st += _GOLD``)."""
    z = (st ^ (st >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _exp_slow(st, idx, x):
    """The ziggurat's rare branches (1.1 % of draws): the tail beyond ``_ZIG_R`` for the base
    layer, the wedge test otherwise, a fresh draw when the wedge rejects.  Kept out of line so
    the fast path stays a few instructions; returns ``(variate, stream state)``."""
    while True:
        st += _GOLD
        u = float(_mix(st) >> _S11) * _INV53  # [0, 1)
        if idx == 0:
            return _ZIG_R - math.log1p(-u), st
        if (_ZFE[idx - 1] - _ZFE[idx]) * u + _ZFE[idx] < math.exp(-x):
            return x, st
        st += _GOLD
        ri = _mix(st) >> _S3
        idx = int(ri & _FF)
        ri >>= _S8
        x = float(ri) * _ZWE[idx]
        if ri < _ZKE[idx]:
            return x, st


@njit(cache=True, inline="always")
def rand_exponential(st):
    """A standard exponential variate from the splitmix64 stream state ``st`` (a scalar, so the
    caller keeps it in a register): ``(variate, new state)``."""
    st += _GOLD
    ri = _mix(st) >> _S3
    idx = int(ri & _FF)
    ri >>= _S8
    x = float(ri) * _ZWE[idx]
    if ri >= _ZKE[idx]:
        x, st = _exp_slow(st, idx, x)
    return x, st


@njit(cache=True)
def exponential_draws(st, n):
    """``n`` consecutive variates of :func:`rand_exponential` from state ``st`` (for tests and
    for checking the distribution)."""
    out = np.empty(n)
    for i in range(n):
        out[i], st = rand_exponential(st)
    return out


@njit(cache=True, nogil=True)
def _pois_window(ws, we, T, tr0, tr1, dt, inv_dt, pois_next, pois_rng, inv_rate, pois_stop,
                 ev_key, ev_j):
    """Draw the Poisson events of steps ``[ws, we)`` of trials ``[tr0, tr1)``: event ``e`` is
    source ``ev_j[e]`` at key ``(step - ws) * T + trial - tr0``, sources in ascending order per
    trial; advances ``pois_next`` and the sources' streams.  Returns the event count and the
    (possibly grown) buffers.

    The buffers are only replaced between a source's runs of draws, never inside one: an array
    variable reassigned inside the draw loop made numba reload it at every event (2x slower)."""
    t_we = we * dt  # the end of step we - 1, as the step loop computes it
    ne = 0
    n_pois = pois_next.shape[1]
    for tr in range(tr0, tr1):
        prow = pois_rng[tr]
        nrow = pois_next[tr]
        for j in range(n_pois):
            nt = nrow[j]
            if nt < t_we:
                ir = inv_rate[tr - tr0, j]
                stop = pois_stop[j]
                kt = tr - tr0 - ws * T
                st = prow[j]  # the source's splitmix64 state, in a register
                while True:
                    cap = ev_key.shape[0]
                    while nt < t_we and ne < cap:
                        ev_key[ne] = _cal_step(nt, dt, inv_dt, ws) * T + kt
                        ev_j[ne] = j
                        ne += 1
                        x, st = rand_exponential(st)
                        nt += x * ir
                        if nt >= stop:
                            nt = np.inf
                    if nt < t_we:  # out of room: grow, then go on with this source
                        k2 = np.empty(2 * ne + 64, dtype=np.int64)
                        j2 = np.empty(2 * ne + 64, dtype=np.int64)
                        k2[:ne] = ev_key[:ne]
                        j2[:ne] = ev_j[:ne]
                        ev_key = k2
                        ev_j = j2
                    else:
                        break
                prow[j] = st
                nrow[j] = nt
    return ne, ev_key, ev_j


_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_BYTE = np.zeros(64, dtype=np.int64)  # de Bruijn slot -> byte index of the set bit
for _b in range(64):
    _DEBRUIJN_BYTE[(((1 << _b) * 0x03F79D71B4CB0A89) & 0xFFFFFFFFFFFFFFFF) >> 58] = _b >> 3
_S58 = np.uint64(58)


@njit(cache=True, nogil=True)
def _array_window(ws, we, T, tr0, tr1, arr_unit, arr_ptr, arr_steps, arr_cur, ar_ptr, ar_pos,
                  ar_src):
    """The spike-array events of steps ``[ws, we)``, trials ``[tr0, tr1)``, as a CSR over the
    key ``(step - ws) * T + (trial - tr0)`` (``ar_ptr``) of the emitting units (``ar_src``, with
    room for ``arr_room`` per trial: see run_lif), each key's events in source order, a source's events
    at one step together: the order in which the per-step scan of every source emitted them.
    Advances each source's cursor ``arr_cur`` past its events before ``we`` (events before
    ``ws`` are skipped, as the per-step scan skipped events of past steps)."""
    nkey = (we - ws) * T
    for k in range(nkey + 1):
        ar_ptr[k] = 0
    for tr in range(tr0, tr1):
        for j in range(arr_unit.shape[0]):
            c = arr_cur[tr, j]
            end = arr_ptr[j + 1]
            while c < end and arr_steps[c] < we:
                st = arr_steps[c]
                if st >= ws:
                    ar_ptr[(st - ws) * T + (tr - tr0) + 1] += 1
                c += 1
    for k in range(nkey):
        ar_pos[k] = ar_ptr[k]
        ar_ptr[k + 1] += ar_ptr[k]
    if ar_ptr[nkey] > ar_src.shape[0]:  # (the Simulation's bound; never with a correct one)
        raise ValueError("spike-array events of a window exceed the room reserved for them")
    for tr in range(tr0, tr1):
        for j in range(arr_unit.shape[0]):
            c = arr_cur[tr, j]
            end = arr_ptr[j + 1]
            u = arr_unit[j]
            while c < end and arr_steps[c] < we:
                st = arr_steps[c]
                if st >= ws:
                    k = (st - ws) * T + (tr - tr0)
                    ar_src[ar_pos[k]] = u
                    ar_pos[k] += 1
                c += 1
            arr_cur[tr, j] = c


@njit(cache=True, inline="always")
def _two_channels(ring, slot, g, ch_erev, ch_decay, i0, i1):
    """The two-channel fused loops' views of neurons ``[i0, i1)``: arriving input of this
    ``slot``, conductances, reversal potentials and decay factors of channels 0 and 1."""
    return (ring[slot, 0, i0:i1], ring[slot, 1, i0:i1], g[0, i0:i1], g[1, i0:i1],
            ch_erev[0, i0:i1], ch_erev[1, i0:i1], ch_decay[0, i0:i1], ch_decay[1, i0:i1])


@njit(cache=True, nogil=True)
def _queue_events(src, e0, e1, tr, q_tr, q_unit, qn, qcap):
    """Queue the events ``src[e0:e1]`` of trial ``tr`` behind the ``qn`` queued ones; returns the
    new count.  The queue has room for the most array events of any step, so the ``qcap``
    check never drops one; it is kept as the bound it always was."""
    for e in range(e0, e1):
        if qn < qcap:
            q_tr[qn] = tr
            q_unit[qn] = src[e]
            qn += 1
    return qn


@njit(cache=True, inline="always", fastmath={"contract"})
def _cond_v(a_tot, a_e, v_old, g_leak, gl_el, dt_cm):
    """Membrane after one step of the fused conductance loops, given the summed channel
    conductance ``a_tot`` and ``a_e`` = sum of conductance x reversal potential.  One function
    for the per-neuron and the uniform-parameter loops, so both do the same arithmetic."""
    gtot = g_leak + a_tot
    vinf = (gl_el + a_e) / gtot
    return vinf + (v_old - vinf) * exp_neg(gtot * dt_cm)


@njit(cache=True)
def _same(a):
    """Whether every element of ``a`` has the bits of the first (signed zeros differ): the
    fused loops may then read the value as a scalar instead of streaming the array."""
    if a.shape[0] == 0:
        return False
    a0 = a[0]
    for i in range(1, a.shape[0]):
        x = a[i]
        if x != a0 or (x == 0 and math.copysign(1.0, x) != math.copysign(1.0, a0)):
            return False
    return True


@njit(cache=True, inline="always")
def _ctz8(word):
    """Index of the lowest non-zero byte of a non-zero ``word`` (de Bruijn, branch-free)."""
    low = word & (~word + _ONE)
    return _DEBRUIJN_BYTE[(low * _DEBRUIJN) >> _S58]


@njit(cache=True)
def _channel_live(c, chan, g, i0, i1):
    """Whether channel ``c`` can be non-zero in neurons ``[i0, i1)``: a synapse feeds it, or
    its conductance is not zero now."""
    for k in range(chan.shape[0]):
        if chan[k] == c:
            return True
    for i in range(i0, i1):
        if g[c, i] != 0.0:
            return True
    return False



@njit(cache=True, inline="always")
def _rnd(x, scale):
    """A multiply result rounded to nearest on the grid ``1/scale`` (s16.15: sPyNNaker's
    MULT_ROUND_NEAREST_ACCUM; ``scale`` 2^40 when fixed point is off)."""
    return math.floor(x * scale + 0.5) / scale


@njit(cache=True, inline="always")
def _trunc(x, scale):
    """Truncating fixed-point product (sPyNNaker's ``decay_s1615``: ``(s * u) >> 32``, an
    arithmetic shift, i.e. towards minus infinity) at the grid ``1/scale``."""
    return math.floor(x * scale) / scale


@njit(cache=True)
def _spinn_membrane(TN, K, dt, v, xstate, refr, g, ch_erev, i_offset, v_rest,
                    fx_r, fx_e, fam, xa, xb, num, rs):
    """One step of the neuron update of sPyNNaker 7.x for every neuron of the part, in its
    order (sPyNNaker neural_modelling/src/neuron/implementations/neuron_impl_standard.h:
    read the synaptic input of this step, convert it to a current with the membrane voltage at
    the start of the step, integrate, then (caller) threshold, then (caller) decay the inputs).

    LIF (models/neuron_model_lif_impl.h ``lif_neuron_closed_form``): the input current is held
    for the whole step, ``alpha = I R + V_rest``, ``V = alpha - exp_TC (alpha - V)``, both
    products rounded to nearest s16.15; no update while refractory.
    Conductance input (input_types/input_type_conductance.h): ``I = g (E_rev - V)``; current
    input: ``ch_erev`` holds +1 / -1 (excitatory / inhibitory, both traces positive).
    Izhikevich (models/neuron_model_izh_impl.h ``rk2_kernel_midpoint``).
    """
    for i in range(TN):
        num[i] = i_offset[i]
    for k in range(K):
        gk = g[k]
        ek = ch_erev[k]
        for i in range(TN):
            c = fam[i] == FAM_LIF_COND or fam[i] == FAM_IZH_COND
            num[i] += _rnd(gk[i] * ((ek[i] - v[i]) if c else ek[i]), rs)
    for i in range(TN):
        f = fam[i]
        if f < 1.5:
            if refr[i] <= 0:
                alpha = _rnd(num[i] * fx_r[i], rs) + v_rest[i]
                v[i] = alpha - _rnd(fx_e[i] * (alpha - v[i]), rs)
        else:
            # rk2 midpoint of sPyNNaker's Izhikevich model (h = dt, 0.04 = MAGIC_MULTIPLIER)
            lv = v[i]
            lu = xstate[i]
            pre = 140.0 + num[i] - lu
            al = pre + (5.0 + 0.04 * lv) * lv
            eta = lv + 0.5 * dt * al
            beta = 0.5 * dt * (xb[i] * lv - lu) * xa[i]
            v[i] = _rnd(lv + dt * (pre - beta + (5.0 + 0.04 * eta) * eta), rs)
            xstate[i] = _rnd(lu + xa[i] * dt * (-lu - beta + xb[i] * eta), rs)


# --- LIF kernel ----------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", nogil=True, fastmath={"contract"})
def run_lif(step0, nsteps, dt, conductance, n_neurons, tr0, tr1,
            # neuron parameters, flat (T*N,): trial-major; gl_el = g_leak * v_rest + i_offset
            v_rest, g_leak, dt_cm, v_thresh, v_reset, ref_steps, i_offset, gl_el, v_noise,
            any_noise,
            # model family (MODEL_LIF / MODEL_ADEX / MODEL_IZH), extra parameters (XP_ROWS, T*N),
            # second state variable (adaptation w / recovery u, (T*N,)), s16.15 state rounding
            model_kind, xpar, xstate, fixed_point,
            # synaptic channels: kind (K,) alpha?, group (K,); (K, T*N) arrays
            ch_alpha, ch_decay, ch_erev, ch_p21, ch_ascale, ch_group,
            # neuron state: v, refr (T*N,), g, h (K, T*N); scratch (2, T*N)
            v, g, h, refr, scratch,
            # connectivity: ring (D, K, T*N); CSR over units (neurons, then sources)
            ring, indptr, post, chan, delay, w, gain,
            stp_U, stp_trec, stp_tfac, stp_u, stp_x, last_spike,
            # plasticity
            syn_rule, rule_par, lut, pre_avail, post_avail, acc_c, acc_a,
            in_ptr, in_syn, in_pre, sweep_rows, sweep_phase, sweep_period,
            # Poisson sources: unit, rate (T, S) in 1/ms, stop, next event time (T, S), random
            # stream of every source (T, S), plain (S,): every synapse static (no STP, no rule)
            pois_unit, pois_rate, pois_stop, pois_next, pois_rng, pois_plain,
            # array sources: unit, CSR of spike steps, cursor (T, S), the most events of all
            # array sources in any MAX_WINDOW consecutive steps (room per window and trial)
            arr_unit, arr_ptr, arr_steps, arr_cur, arr_room,
            rng, q_tr, q_unit,
            # recording
            rec_spikes, spk_tr, spk_step, spk_id, spk_n,
            rec_idx, rec_var, rec_every, rec_buf, rec_n,
            # spike gate (link bandwidth): on?, group per neuron (N,) (-1: ungated), tokens per
            # ms, bucket depth; per (trial, group): tokens, time of the last spike, spikes lost
            gate_on, gate_group, gate_rate, gate_burst, gate_tok, gate_last, gate_lost):
    """Advance all trials by up to ``nsteps`` steps starting at absolute step ``step0``.

    Trials are flattened into the neuron axis (index ``tr * N + n``), so each per-step update is
    one SIMD loop over all neurons of all trials: a batch of T trials of N neurons costs about
    what one trial of T*N neurons costs.  Returns ``(nsteps, spk_tr, spk_step, spk_id)``: the
    spike buffers are grown here when a step could overflow them, so the caller keeps the
    returned arrays.

    Integration is exact for the linear parts: synaptic traces decay with precomputed
    ``exp(-dt/tau)``; the membrane uses the closed-form solution over one step with the
    conductances of that step (exact for piecewise-constant conductance), or for current-based
    synapses the exact propagator of Rotter & Diesmann (1999).

    Spikes of a step are queued ``(q_tr, q_unit)`` and delivered by one inline loop per phase
    (sources, then neurons): calling a helper with this many arrays costs ~1 µs in numba's
    reference counting, far more than a delivery.  If the queue (sized by the caller for the
    worst plausible step) is full, remaining source events wait one step.  Two kinds of spikes
    bypass the queue, in the order it would deliver them: events of Poisson sources whose
    synapses are all static (written straight into the ring), and spikes of neurons with no
    outgoing synapse and no plastic synapse onto them (only their last-spike stamp is set).

    Tsodyks-Markram short-term plasticity follows NEST's ``tsodyks2_synapse`` update order, so
    depressing (``tau_facil == 0``) and facilitating (``tau_rec == 0``) synapses match the
    reference model at spike times.  STDP pairs use the emission time of the pre spike.

    Spike gate (off unless ``gate_on``; then one branch per neuron spike): each neuron spike
    passes a token bucket of its group (a link shared by the group's neurons, per trial) that
    refills ``gate_rate`` tokens per ms up to ``gate_burst``, in emission order (step, then
    neuron index), with the spike time ``(step + 1) * dt``.  A spike that finds less than one
    token is recorded and drives the neuron's own STDP (post side) but reaches none of its
    targets (no delivery, no STP/STDP pre side), and is counted in ``gate_lost``.
    """
    N = n_neurons
    # this call's trials [tr0, tr1) are neurons [i0, i1) of the flat arrays; calls on disjoint
    # trial ranges touch disjoint state and may run concurrently (nogil), each with its own
    # spike queue, spike buffer and recording counter
    i0 = tr0 * N
    i1 = tr1 * N
    TN = i1 - i0
    T = tr1 - tr0
    inv_dt = 1.0 / dt
    K = g.shape[0]
    D = ring.shape[0]
    n_pois = pois_unit.shape[0]
    n_arr = arr_unit.shape[0]
    cap = spk_tr.shape[0]
    n_first = spk_n[0]
    qcap = q_tr.shape[0]
    R = rec_idx.shape[0]
    # per-neuron arrays as views of this part (1-D slices stay C-contiguous, so the loops
    # below vectorise; from here on a neuron index i is relative to the part)
    v_rest = v_rest[i0:i1]
    g_leak = g_leak[i0:i1]
    dt_cm = dt_cm[i0:i1]
    v_thresh = v_thresh[i0:i1]
    v_reset = v_reset[i0:i1]
    ref_steps = ref_steps[i0:i1]
    i_offset = i_offset[i0:i1]
    gl_el = gl_el[i0:i1]
    v_noise = v_noise[i0:i1]
    xstate = xstate[i0:i1]
    v = v[i0:i1]
    refr = refr[i0:i1]
    gt = scratch[0, i0:i1]
    num = scratch[1, i0:i1]
    fused = 0
    f_ch = 0  # the channel of the one-channel fused loop
    if (model_kind == MODEL_LIF and conductance and not fixed_point and not any_noise
            and K <= 2 and K > 0):
        fused = K
        for k in range(K):
            if ch_alpha[k]:
                fused = 0
        if fused == 2:
            # a channel that no synapse feeds and whose conductance is zero stays zero, so the
            # two-channel loop would add exact zeros: run the one-channel loop on the other
            # (same results bit for bit, ~27 % less memory traffic; benchmark case 1 only
            # drives the excitatory channel)
            live1 = _channel_live(1, chan, g, i0, i1)
            if not (_channel_live(0, chan, g, i0, i1) and live1):
                fused = 1
                f_ch = 1 if live1 else 0
    if (model_kind == MODEL_ADEX and conductance and not fixed_point and not any_noise
            and K == 2 and not ch_alpha[0] and not ch_alpha[1]):
        # AdEx without its exponential term (delta_T = 0 in every neuron of the part: how the
        # BrainScaleS emulator realises IF_cond_exp, as the wafer's AdEx circuit does): the
        # same forward-Euler arithmetic as the general loop below, operation for operation,
        # in one vectorised pass with the input, threshold and decay (4000-cell balanced
        # network: the kernel's run 0.86 s -> 0.25 s with the windowed spike arrays, the
        # no-adaptation loop below and the all-static delivery; benchmarks/whole_job.py)
        fused = FUSED_ADEX
        dT0 = xpar[XP_DELTA_T, i0:i1]
        for i in range(TN):
            if dT0[i] != 0.0:
                fused = 0
                break
    # AdEx without adaptation (a = b = 0, w = +0: the wafer's IF_cond_exp): w stays +0.0 bit
    # for bit (dw = (0 (v - E_L) - 0) / tau_w = +-0, w + dt dw = +0), so the fused loop may
    # leave w alone and subtract a constant +0.0; with the parameters that are the same for
    # every neuron read as scalars it streams 10 arrays instead of 21 and divides nothing
    adex_plain = False
    if fused == FUSED_ADEX:
        adex_plain = (_same(dt_cm) and _same(v_reset) and _same(ref_steps) and _same(i_offset)
                      and _same(ch_erev[0, i0:i1]) and _same(ch_erev[1, i0:i1])
                      and _same(ch_decay[0, i0:i1]) and _same(ch_decay[1, i0:i1]))
        xa0 = xpar[XP_A, i0:i1]
        xb0 = xpar[XP_INCR, i0:i1]
        tw0 = xpar[XP_TAU_W, i0:i1]
        for i in range(TN):
            if not adex_plain:
                break
            adex_plain = (xa0[i] == 0.0 and xb0[i] == 0.0 and xstate[i] == 0.0
                          and not np.signbit(xstate[i]) and tw0[i] > 0.0 and tw0[i] < np.inf)
    # parameters that are the same for every neuron of this part (capacitance, reset, refractory
    # time, reversal potentials and synaptic time constants: on an emulated chip only leak and
    # threshold vary, from neuron to neuron and trial to trial): the fused loops then read them
    # as scalars, streaming 7 arrays instead of 12 (benchmark case 4)
    uni = False
    if fused == 1 or fused == 2:
        uni = _same(dt_cm) and _same(v_reset) and _same(ref_steps)
        for k in range(K):
            if uni and (fused == 2 or k == f_ch):
                uni = _same(ch_erev[k, i0:i1]) and _same(ch_decay[k, i0:i1])
    # neurons whose spikes need no queue: no outgoing synapse, and no plastic synapse onto them
    # (whose pre side would read their last-spike stamp during this step's delivery)
    spinn = model_kind == MODEL_SPINN
    # SpiNNaker: R = tau_m / c_m and exp_TC = exp(-ts / tau_m) as s16.15 (neuron_model_lif_impl.h
    # neuron_model_initialise), the grid of each neuron's synaptic state (conductances finer)
    fx_r = np.empty(TN if spinn else 0)
    fx_e = np.empty(TN if spinn else 0)
    qs = np.empty(TN if spinn else 0)
    fam = xpar[XP_V_T, i0:i1]
    # (fixed point off, setup(fixed_point=False): grids of 2^-40, float arithmetic in effect;
    # math.floor gives an int64 in numba, so the scaled value must stay below 2^63)
    fxs = FIX_SCALE if fixed_point else 2.0 ** 40
    if spinn:
        for i in range(TN):
            fx_r[i] = _rnd(1.0 / g_leak[i], fxs)
            fx_e[i] = _rnd(math.exp(-g_leak[i] * dt_cm[i]), fxs)
            qs[i] = fxs
            if fixed_point and (fam[i] == FAM_LIF_COND or fam[i] == FAM_IZH_COND):
                qs[i] = COND_SCALE
    # a network without STP and plasticity delivers without looking at either: the Simulation
    # keeps per-synapse STP/STDP state only when some synapse has STP or a rule
    all_static = stp_u.shape[1] == 0
    quiet = np.empty(N, dtype=np.bool_)
    for n in range(N):
        quiet[n] = indptr[n + 1] == indptr[n] and in_ptr[n + 1] == in_ptr[n]
    # spike flags of the fused loops, scanned 8 neurons at a time
    flags = np.zeros(((TN + 7) // 8) * 8, dtype=np.uint8)
    fwords = flags.view(np.uint64)
    # Poisson sources: every source of every trial has its own random stream (pois_rng), so
    # the events of a window of W steps are drawn source by source ahead of time (no per-step
    # search for due sources) and sorted by (step, trial) keeping source order, the order in
    # which a per-step scan of all sources emits them.  pois_next is read at every window, so
    # callers may edit it between calls; results do not depend on W or on call boundaries.
    inv_rate = np.empty((T, n_pois))  # mean interval (ms): a multiplication per event
    ev_rate = 0.0
    for tr in range(tr0, tr1):
        for j in range(n_pois):
            r = pois_rate[tr, j]
            inv_rate[tr - tr0, j] = 1.0 / r if r > 0.0 else np.inf
            if r > 0.0 and r < np.inf:
                ev_rate += r
    # window (steps): as long as its events fit ~EVENT_BUDGET slots; every source pays a fixed
    # cost per window (a loop entry and exit the branch predictor cannot guess), so a longer
    # window is cheaper per event: W 32 -> 256 halves the cost of drawing (benchmark case 4)
    W = 1
    while W < MAX_WINDOW and ev_rate * W * dt <= EVENT_BUDGET:
        W *= 2
    ev_cap = int(ev_rate * W * dt * 1.25 + 4.0 * math.sqrt(ev_rate * W * dt) + 256)
    ev_key = np.empty(ev_cap, dtype=np.int64)
    ev_j = np.empty(ev_cap, dtype=np.int64)
    ev_src = np.empty(ev_cap, dtype=np.int64)
    ev_ptr = np.zeros(W * T + 1, dtype=np.int64)
    ev_pos = np.zeros(W * T, dtype=np.int64)
    # spike-array events of the window likewise, by (step, trial) in source order (a per-step
    # scan of every array source cost n_arr loads a step: 40 M for the wafer's 4000 playback
    # sources over 10000 steps, ~0.1 s of the 4000-cell balanced network)
    ar_ptr = np.zeros(W * T + 1 if n_arr > 0 else 1, dtype=np.int64)
    ar_pos = np.zeros(W * T if n_arr > 0 else 0, dtype=np.int64)
    # (room sized once per call, from the Simulation's bound: growing it inside this function,
    # numba's handling of the reassigned array slowed the per-step loop of networks without
    # spike arrays by ~3 %)
    ar_src = np.empty(arr_room * T if n_arr > 0 else 0, dtype=np.int64)
    # delivery table of the plain sources' synapses, once per call (w and gain only change
    # between calls): effective weight w * gain per trial, flat ring offset chan * TNf + post
    # and delay, side by side; this delivery is the commonest write of a Poisson-driven run
    TNf = ring.shape[2]
    ring_flat = ring.reshape(-1)
    KTNf = K * TNf
    pp_ptr = np.zeros(n_pois + 1, dtype=np.int64)
    for j in range(n_pois):
        u = pois_unit[j]
        pp_ptr[j + 1] = pp_ptr[j] + (indptr[u + 1] - indptr[u] if pois_plain[j] else 0)
    pp_eff = np.empty((T, pp_ptr[n_pois]))
    pp_off = np.empty(pp_ptr[n_pois], dtype=np.int64)
    pp_del = np.empty(pp_ptr[n_pois], dtype=np.int64)
    for j in range(n_pois):
        if not pois_plain[j]:
            continue
        u = pois_unit[j]
        q = pp_ptr[j]
        for k in range(indptr[u], indptr[u + 1]):
            pp_off[q] = chan[k] * TNf + post[k]
            pp_del[q] = delay[k]
            for tr in range(tr0, tr1):
                pp_eff[tr - tr0, q] = w[tr, k] * gain[tr, k]
            q += 1
    q_base = qcap
    ws = step0
    we = step0
    slot = step0 % D
    nspk = 0
    for it in range(nsteps):
        step = step0 + it
        if step == we:
            # next window: draw the window's source events and sort them by (step, trial)
            nw = min(W, nsteps - it)
            ws = step
            we = step + nw
            ne, ev_key, ev_j = _pois_window(ws, we, T, tr0, tr1, dt, inv_dt, pois_next,
                                            pois_rng, inv_rate, pois_stop, ev_key, ev_j)
            if ev_src.shape[0] < ev_key.shape[0]:
                ev_src = np.empty(ev_key.shape[0], dtype=np.int64)
            nkey = nw * T
            for k in range(nkey + 1):
                ev_ptr[k] = 0
            for e in range(ne):
                ev_ptr[ev_key[e] + 1] += 1
            big = 0
            for k in range(nkey):
                ev_pos[k] = ev_ptr[k]
                ev_ptr[k + 1] += ev_ptr[k]
            for k in range(nw):
                big = max(big, ev_ptr[(k + 1) * T] - ev_ptr[k * T])
            for e in range(ne):
                k = ev_key[e]
                ev_src[ev_pos[k]] = ev_j[e]
                ev_pos[k] += 1
            if n_arr > 0:
                _array_window(ws, we, T, tr0, tr1, arr_unit, arr_ptr, arr_steps,
                                       arr_cur, ar_ptr, ar_pos, ar_src)
            if big + q_base > q_tr.shape[0]:  # a step's events all fit the queue
                q_tr = np.empty(big + q_base, dtype=np.int64)
                q_unit = np.empty(big + q_base, dtype=np.int64)
                qcap = q_tr.shape[0]
        if it > 0:
            slot += 1
            if slot == D:
                slot = 0
        if rec_spikes and spk_n[0] + TN > cap:
            # room for every neuron spiking in this step: grow to what the rate so far
            # extrapolates to (one copy, not a doubling chain: benchmark case 4 records 15 M)
            n_now = spk_n[0]
            need = n_now + TN
            if it > 0:
                need = max(need, n_first + int(1.1 * (n_now - n_first) * nsteps / it))
            margin = max(SPIKE_MARGIN, TN) + 2 * TN
            cap = max(2 * cap, cap + margin, need + margin)
            t2 = np.empty(cap, dtype=np.int64)
            s2 = np.empty(cap, dtype=np.int64)
            i2 = np.empty(cap, dtype=np.int64)
            t2[:n_now] = spk_tr[:n_now]
            s2[:n_now] = spk_step[:n_now]
            i2[:n_now] = spk_id[:n_now]
            spk_tr = t2
            spk_step = s2
            spk_id = i2
        for phase in range(2):
            qn = 0
            if phase == 0:
                # 1. external sources emit (delivered >= 1 step later through the ring)
                kb = (step - ws) * T - tr0
                for tr in range(tr0, tr1):
                    base = tr * N
                    for e in range(ev_ptr[kb + tr], ev_ptr[kb + tr + 1]):
                        j = ev_src[e]
                        unit = pois_unit[j]
                        if pois_plain[j]:
                            # only static synapses (no STP, no plasticity): straight into the
                            # ring, in the order the queue would deliver them, no queue and no
                            # last-spike stamp (nothing reads it for such a source)
                            effr = pp_eff[tr - tr0]
                            for q in range(pp_ptr[j], pp_ptr[j + 1]):
                                eff = effr[q]
                                if eff != 0.0:
                                    rs = slot + pp_del[q]
                                    if rs >= D:
                                        rs -= D
                                    ring_flat[rs * KTNf + base + pp_off[q]] += eff
                        else:
                            q_tr[qn] = tr
                            q_unit[qn] = unit
                            qn += 1
                    if n_arr > 0:
                        qn = _queue_events(ar_src, ar_ptr[kb + tr], ar_ptr[kb + tr + 1], tr,
                                           q_tr, q_unit, qn, qcap)
            else:
                # 2.+3.+5. fused, vectorised over trials x neurons for the common case of one or
                # two exponential conductance channels: add arriving input, integrate the
                # membrane (refractory clamp as a select), decay the traces (flushing values
                # below 1e-30 to zero: denormals would make the loop ~50x slower)
                if fused == 2:
                    r0, r1, g0, g1, e0, e1, d0, d1 = _two_channels(ring, slot, g, ch_erev,
                                                                   ch_decay, i0, i1)
                    nspk = 0
                    if uni:
                        u_dtcm = dt_cm[0]
                        u_vr = v_reset[0]
                        u_ref = ref_steps[0]
                        u_e0 = e0[0]
                        u_e1 = e1[0]
                        u_d0 = d0[0]
                        u_d1 = d1[0]
                        for i in range(TN):
                            a0 = g0[i] + r0[i]
                            a1 = g1[i] + r1[i]
                            r0[i] = 0.0
                            r1[i] = 0.0
                            vm = _cond_v(a0 + a1, a0 * u_e0 + a1 * u_e1, v[i], g_leak[i],
                                         gl_el[i], u_dtcm)
                            v[i], refr[i], spk = _fire(vm, refr[i], v_thresh[i], u_vr, u_ref)
                            flags[i] = spk
                            nspk += spk
                            x0 = a0 * u_d0
                            x1 = a1 * u_d1
                            g0[i] = x0 if abs(x0) > 1e-30 else 0.0
                            g1[i] = x1 if abs(x1) > 1e-30 else 0.0
                    else:
                        for i in range(TN):
                            a0 = g0[i] + r0[i]
                            a1 = g1[i] + r1[i]
                            r0[i] = 0.0
                            r1[i] = 0.0
                            vm = _cond_v(a0 + a1, a0 * e0[i] + a1 * e1[i], v[i], g_leak[i],
                                         gl_el[i], dt_cm[i])
                            v[i], refr[i], spk = _fire(vm, refr[i], v_thresh[i], v_reset[i],
                                                       ref_steps[i])
                            flags[i] = spk
                            nspk += spk
                            x0 = a0 * d0[i]
                            x1 = a1 * d1[i]
                            g0[i] = x0 if abs(x0) > 1e-30 else 0.0
                            g1[i] = x1 if abs(x1) > 1e-30 else 0.0
                elif fused == FUSED_ADEX:
                    r0, r1, g0, g1, e0, e1, d0, d1 = _two_channels(ring, slot, g, ch_erev,
                                                                   ch_decay, i0, i1)
                    xa = xpar[XP_A, i0:i1]
                    tw = xpar[XP_TAU_W, i0:i1]
                    nspk = 0
                    if adex_plain:
                        u_dtcm = dt_cm[0]
                        u_vr = v_reset[0]
                        u_ref = ref_steps[0]
                        u_ioff = i_offset[0]
                        u_e0 = e0[0]
                        u_e1 = e1[0]
                        u_d0 = d0[0]
                        u_d1 = d1[0]
                        for i in range(TN):
                            # the loop below with w = +0.0 and the shared parameters as scalars
                            a0 = g0[i] + r0[i]
                            a1 = g1[i] + r1[i]
                            r0[i] = 0.0
                            r1[i] = 0.0
                            vv = v[i]
                            nm = u_ioff
                            nm += a0 * (u_e0 - vv)
                            nm += a1 * (u_e1 - vv)
                            dv = (g_leak[i] * (v_rest[i] - vv) + 0.0 - 0.0 + nm)
                            v[i], refr[i], spk = _fire(vv + dv * u_dtcm, refr[i], v_thresh[i],
                                                       u_vr, u_ref)
                            flags[i] = spk
                            nspk += spk
                            x0 = a0 * u_d0
                            x1 = a1 * u_d1
                            g0[i] = x0 if abs(x0) > 1e-30 else 0.0
                            g1[i] = x1 if abs(x1) > 1e-30 else 0.0
                    else:
                        for i in range(TN):
                            # 2. input, exactly as the general path: g += arriving, then
                            # num = i_offset + sum_k g_k (E_k - v)
                            a0 = g0[i] + r0[i]
                            a1 = g1[i] + r1[i]
                            r0[i] = 0.0
                            r1[i] = 0.0
                            vv = v[i]
                            ww = xstate[i]
                            nm = i_offset[i]
                            nm += a0 * (e0[i] - vv)
                            nm += a1 * (e1[i] - vv)
                            # 3. the general AdEx loop with its exponential term 0.0 (delta_T = 0)
                            dv = (g_leak[i] * (v_rest[i] - vv) + 0.0 - ww + nm)
                            dw = (xa[i] * (vv - v_rest[i]) - ww) / tw[i]
                            xstate[i] = ww + dt * dw
                            # 4. the general path's clamp (v_reset while refractory) and scan
                            v[i], refr[i], spk = _fire(vv + dv * dt_cm[i], refr[i], v_thresh[i],
                                                       v_reset[i], ref_steps[i])
                            flags[i] = spk
                            nspk += spk
                            # 5. decay, flushing below 1e-30 as the general path does
                            x0 = a0 * d0[i]
                            x1 = a1 * d1[i]
                            g0[i] = x0 if abs(x0) > 1e-30 else 0.0
                            g1[i] = x1 if abs(x1) > 1e-30 else 0.0
                elif fused == 1:
                    r0 = ring[slot, f_ch, i0:i1]
                    g0 = g[f_ch, i0:i1]
                    e0 = ch_erev[f_ch, i0:i1]
                    d0 = ch_decay[f_ch, i0:i1]
                    nspk = 0
                    if uni:
                        u_dtcm = dt_cm[0]
                        u_vr = v_reset[0]
                        u_ref = ref_steps[0]
                        u_e0 = e0[0]
                        u_d0 = d0[0]
                        for i in range(TN):
                            a0 = g0[i] + r0[i]
                            r0[i] = 0.0
                            vm = _cond_v(a0, a0 * u_e0, v[i], g_leak[i], gl_el[i], u_dtcm)
                            v[i], refr[i], spk = _fire(vm, refr[i], v_thresh[i], u_vr, u_ref)
                            flags[i] = spk
                            nspk += spk
                            x0 = a0 * u_d0
                            g0[i] = x0 if abs(x0) > 1e-30 else 0.0
                    else:
                        for i in range(TN):
                            a0 = g0[i] + r0[i]
                            r0[i] = 0.0
                            vm = _cond_v(a0, a0 * e0[i], v[i], g_leak[i], gl_el[i], dt_cm[i])
                            v[i], refr[i], spk = _fire(vm, refr[i], v_thresh[i], v_reset[i],
                                                       ref_steps[i])
                            flags[i] = spk
                            nspk += spk
                            x0 = a0 * d0[i]
                            g0[i] = x0 if abs(x0) > 1e-30 else 0.0
                else:
                    # 2. arriving synaptic input (vectorised over trials x neurons)
                    for k in range(K):
                        rk = ring[slot, k, i0:i1]
                        if ch_alpha[k]:
                            hk = h[k, i0:i1]
                            sk = ch_ascale[k, i0:i1]
                            for i in range(TN):
                                hk[i] += rk[i] * sk[i]
                                rk[i] = 0.0
                        elif spinn:
                            # sPyNNaker add_input_exp: input scaled by init, truncated
                            # (synapse_types/exp_synapse_utils.h); delta: init = 1/ts
                            gk = g[k, i0:i1]
                            ik = ch_p21[k, i0:i1]
                            for i in range(TN):
                                if rk[i] != 0.0:
                                    gk[i] += _trunc(rk[i] * ik[i], qs[i])
                                    rk[i] = 0.0
                        else:
                            gk = g[k, i0:i1]
                            for i in range(TN):
                                gk[i] += rk[i]
                                rk[i] = 0.0
                    # 3. membrane (vectorised), refractory clamp as a select
                    if spinn:
                        _spinn_membrane(TN, K, dt, v, xstate, refr, g[:, i0:i1],
                                        ch_erev[:, i0:i1], i_offset, v_rest, fx_r,
                                        fx_e, fam, xpar[XP_A, i0:i1], xpar[XP_B, i0:i1], num, fxs)
                    elif model_kind != MODEL_LIF:
                        # synaptic input current (nA): conductances drive towards their
                        # reversal potential, current channels add (inhibitory weights < 0)
                        for i in range(TN):
                            num[i] = i_offset[i]
                        for k in range(K):
                            gk = g[k, i0:i1]
                            if conductance:
                                ek = ch_erev[k, i0:i1]
                                for i in range(TN):
                                    num[i] += gk[i] * (ek[i] - v[i])
                            else:
                                for i in range(TN):
                                    num[i] += gk[i]
                        if model_kind == MODEL_ADEX:
                            # AdEx (Brette & Gerstner 2005), forward Euler; exp argument clipped
                            xa = xpar[XP_A, i0:i1]
                            dT = xpar[XP_DELTA_T, i0:i1]
                            tw = xpar[XP_TAU_W, i0:i1]
                            vt = xpar[XP_V_T, i0:i1]
                            for i in range(TN):
                                vv = v[i]
                                ww = xstate[i]
                                spk = 0.0
                                if dT[i] > 0.0:
                                    spk = g_leak[i] * dT[i] * math.exp(
                                        min((vv - vt[i]) / dT[i], 20.0))
                                dv = (g_leak[i] * (v_rest[i] - vv) + spk - ww + num[i])
                                dw = (xa[i] * (vv - v_rest[i]) - ww) / tw[i]
                                xstate[i] = ww + dt * dw
                                vr = v_reset[i]
                                v[i] = vr if refr[i] > 0 else vv + dv * dt_cm[i]
                        else:
                            # Izhikevich (2003), forward Euler like NEST / sPyNNaker; 1 nA of
                            # input counts as 1 mV/ms as in both
                            xa = xpar[XP_A, i0:i1]
                            xb = xpar[XP_B, i0:i1]
                            for i in range(TN):
                                vv = v[i]
                                uu = xstate[i]
                                v[i] = vv + dt * (0.04 * vv * vv + 5.0 * vv + 140.0 - uu + num[i])
                                xstate[i] = uu + dt * xa[i] * (xb[i] * vv - uu)
                    elif conductance:
                        for i in range(TN):
                            gt[i] = g_leak[i]
                            num[i] = g_leak[i] * v_rest[i] + i_offset[i]
                        for k in range(K):
                            gk = g[k, i0:i1]
                            ek = ch_erev[k, i0:i1]
                            for i in range(TN):
                                gt[i] += gk[i]
                                num[i] += gk[i] * ek[i]
                        for i in range(TN):
                            vinf = num[i] / gt[i]
                            vm = vinf + (v[i] - vinf) * exp_neg(gt[i] * dt_cm[i])
                            vr = v_reset[i]  # unconditional load: see _fire
                            v[i] = vr if refr[i] > 0 else vm
                    else:
                        for i in range(TN):
                            vinf = v_rest[i] + i_offset[i] / g_leak[i]
                            gt[i] = vinf + (v[i] - vinf) * exp_neg(g_leak[i] * dt_cm[i])
                        for k in range(K):
                            gk = g[k, i0:i1]
                            pk = ch_p21[k, i0:i1]
                            for i in range(TN):
                                gt[i] += gk[i] * pk[i]
                        for i in range(TN):
                            vr = v_reset[i]
                            v[i] = vr if refr[i] > 0 else gt[i]
                if any_noise:
                    for i in range(TN):
                        if v_noise[i] > 0.0 and refr[i] == 0:
                            v[i] += v_noise[i] * rand_normal(rng, tr0 + i // N)
                if fixed_point and not spinn:
                    # state held in s16.15 fixed point (SpiNNaker): round to 2^-15 and
                    # saturate at +-2^16, as the ARM cores' accum arithmetic does
                    for i in range(TN):
                        v[i] = min(max(math.floor(v[i] * FIX_SCALE + 0.5) / FIX_SCALE, -FIX_MAX),
                                   FIX_MAX)
                        xstate[i] = min(max(math.floor(xstate[i] * FIX_SCALE + 0.5) / FIX_SCALE,
                                            -FIX_MAX), FIX_MAX)
                # 4. threshold and refractory bookkeeping: the fused loops did it branch-free and
                # flagged the spikes (found 8 at a time); otherwise a scalar pass
                if fused != 0:
                    nscan = (TN + 7) // 8 if nspk > 0 else 0
                else:
                    nscan = TN
                tr = tr0  # trial of neuron i, tracked (no integer division per spike)
                tr_end = N
                for wi in range(nscan):
                    if fused != 0:
                        word = fwords[wi]
                        if word == 0:
                            continue
                        i = 8 * wi - 1
                    else:
                        word = _ONE
                        i = wi - 1
                    while word != 0:
                        # next flagged byte (flags are 0/1, little-endian within the word)
                        nz = _ctz8(word)
                        i += nz + 1
                        word = (word >> np.uint64(8 * nz)) >> np.uint64(8)
                        if fused == 0:  # (the fused loops flagged spikes only)
                            if refr[i] > 0:
                                refr[i] -= 1
                                continue
                            if v[i] < v_thresh[i]:
                                continue
                            v[i] = v_reset[i]
                            refr[i] = ref_steps[i]
                        while i >= tr_end:
                            tr += 1
                            tr_end += N
                        n = i - (tr_end - N)
                        if model_kind != MODEL_LIF:
                            xstate[i] += xpar[XP_INCR, i0 + i]
                        if rec_spikes:
                            q = spk_n[0]
                            spk_tr[q] = tr
                            spk_step[q] = step
                            spk_id[q] = n
                            spk_n[0] = q + 1
                        for q in range(in_ptr[n], in_ptr[n + 1]):
                            _stdp_post(tr, in_syn[q], step, dt, last_spike[tr, in_pre[q]],
                                       syn_rule, rule_par, w, pre_avail, post_avail, acc_c,
                                       acc_a, last_spike[tr, n], stp_u, stp_x)
                        if gate_on:
                            gg = gate_group[n]
                            if gg >= 0:
                                tnow = (step + 1) * dt
                                if gate_last[tr, gg] > -np.inf:
                                    gate_tok[tr, gg] = min(gate_burst, gate_tok[tr, gg] + (
                                        tnow - gate_last[tr, gg]) * gate_rate)
                                gate_last[tr, gg] = tnow
                                if gate_tok[tr, gg] >= 1.0:
                                    gate_tok[tr, gg] -= 1.0
                                else:
                                    gate_lost[tr, gg] += 1
                                    continue
                        if quiet[n]:
                            last_spike[tr, n] = step  # nothing to deliver, nobody reads it now
                            continue
                        q_tr[qn] = tr  # qcap >= TN: neurons never overflow the queue
                        q_unit[qn] = n
                        qn += 1
            # deliver this phase's spikes: STP, STDP pre side, delay-ring write
            for qi in range(qn):
                tr = q_tr[qi]
                unit = q_unit[qi]
                base = tr * N
                if all_static:
                    # no STP and no plasticity anywhere: the same writes without their checks
                    for k in range(indptr[unit], indptr[unit + 1]):
                        eff = w[tr, k] * gain[tr, k]
                        if eff != 0.0:
                            rs = slot + delay[k]  # delay < D
                            if rs >= D:
                                rs -= D
                            ring[rs, chan[k], base + post[k]] += eff
                    last_spike[tr, unit] = step
                    continue
                prev = last_spike[tr, unit]
                for k in range(indptr[unit], indptr[unit + 1]):
                    eff = w[tr, k] * gain[tr, k]
                    if stp_U[k] > 0.0:
                        if prev == NEVER:
                            xd = 0.0
                            ud = 0.0
                        else:
                            hh = (step - prev) * dt
                            xd = math.exp(-hh / stp_trec[k]) if stp_trec[k] > 0.0 else 0.0
                            ud = math.exp(-hh / stp_tfac[k]) if stp_tfac[k] > 0.0 else 0.0
                        u_old = stp_u[tr, k]
                        x = 1.0 + (stp_x[tr, k] - stp_x[tr, k] * u_old - 1.0) * xd
                        u = stp_U[k] + u_old * (1.0 - stp_U[k]) * ud
                        stp_x[tr, k] = x
                        stp_u[tr, k] = u
                        eff *= x * u
                    if syn_rule[k] > 0:
                        _stdp_pre(tr, k, step, dt, last_spike[tr, post[k]], syn_rule, rule_par,
                                  w, pre_avail, post_avail, acc_c, acc_a, prev, stp_u, stp_x)
                    if eff != 0.0:
                        rs = slot + delay[k]  # delay < D
                        if rs >= D:
                            rs -= D
                        ring[rs, chan[k], base + post[k]] += eff
                last_spike[tr, unit] = step
        # 5. synaptic traces decay (alpha: g <- P (g + dt h), h <- P h); fused paths did it
        for k in range(K if fused == 0 else 0):
            gk = g[k, i0:i1]
            pk = ch_decay[k, i0:i1]
            if ch_alpha[k]:
                hk = h[k, i0:i1]
                for i in range(TN):
                    gk[i] = pk[i] * (gk[i] + dt * hk[i])
                    hk[i] = pk[i] * hk[i]
            elif spinn:
                # sPyNNaker exp_shaping: decay_s1615 truncates, so a trace decays to zero
                for i in range(TN):
                    gk[i] = _trunc(gk[i] * pk[i], qs[i])
            else:
                for i in range(TN):
                    x = gk[i] * pk[i]
                    gk[i] = x if abs(x) > 1e-30 else 0.0
            if fixed_point and not spinn:
                for i in range(TN):
                    gk[i] = math.floor(gk[i] * FIX_SCALE + 0.5) / FIX_SCALE
        # 6. chip-style STDP sweep
        if sweep_rows.shape[0] > 0:
            for tr in range(tr0, tr1):
                lut_sweep(tr, step, sweep_rows, sweep_phase, sweep_period, indptr, syn_rule,
                          rule_par, lut, w, acc_c, acc_a)
        # 7. analog recording (values at the end of the step, i.e. at t = (step+1)*dt)
        if R > 0 and (step + 1) % rec_every == 0:
            ri = rec_n[0]
            for tr in range(tr0, tr1):
                for r in range(R):
                    i = (tr - tr0) * N + rec_idx[r]  # relative to the part (v, xstate)
                    var = rec_var[r]
                    if var == -2:
                        rec_buf[tr, ri, r] = xstate[i]
                    elif var < 0:
                        rec_buf[tr, ri, r] = v[i]
                    else:
                        s = 0.0
                        for k in range(K):
                            if ch_group[k] == var:
                                s += g[k, i0 + i]
                        rec_buf[tr, ri, r] = s
            rec_n[0] = ri + 1
    return nsteps, spk_tr, spk_step, spk_id


@njit(cache=True, nogil=True)
def merge_spikes(ptr, s_tr, s_step, s_id, o_tr, o_step, o_id):
    """Merge the spike buffers of trial parts (part ``p`` is ``[ptr[p], ptr[p+1])`` of ``s_*``,
    each in emission order, parts in trial order) into one in emission order: by step, and
    within a step by part, i.e. by trial, as one kernel call over all trials records them."""
    P = ptr.shape[0] - 1
    cur = ptr[:-1].copy()
    o = 0
    big = np.iinfo(np.int64).max
    while True:
        smin = big
        for p in range(P):
            if cur[p] < ptr[p + 1] and s_step[cur[p]] < smin:
                smin = s_step[cur[p]]
        if smin == big:
            break
        for p in range(P):
            c = cur[p]
            e = ptr[p + 1]
            while c < e and s_step[c] == smin:
                o_tr[o] = s_tr[c]
                o_step[o] = s_step[c]
                o_id[o] = s_id[c]
                o += 1
                c += 1
            cur[p] = c
    return o

"""Network description and batched simulation: the engine's public Python API.

Why this shape: calibration sweeps and noise studies run the *same* network many times with small
differences (another seed, another leak conductance, another input rate).  Building the network
once (:class:`Network`) and running ``T`` trials in one vectorised pass (:meth:`Network.run`,
:func:`run_batch`) turns ``T`` Python-level simulations into one kernel call whose state arrays
carry a leading trial axis.  Each trial has its own random stream derived from its seed only, so a
trial gives the same result alone or inside any batch.

Example (64 trials, leak conductance swept across trials)::

    from nmcluster.emulators import engine
    net = engine.Network(100, dt=0.1)
    exc = net.add_channel("exp", group=0, tau=5.0, e_rev=0.0)
    src = net.add_poisson(rates=np.linspace(0, 1000, 100))            # Hz
    net.connect(src, np.arange(100), exc, weight=0.01, delay=1.0)      # µS, ms
    net.record(spikes=True)
    res = net.run(1000.0, trials=64, seeds=range(64),
                  overrides={"g_leak": np.linspace(0.005, 0.05, 64)})  # (T,) broadcasts to (T, N)
    rates = res.spike_counts() / 1.0                                   # (64, 100) spikes per s

Units are PyNN's: ms, mV, nF, µS (conductances, conductance weights), nA (currents), Hz (rates).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from . import kernels
from .models import DETECT, XPAR, NeuronModel, get_model

ArrayLike = "np.ndarray | Sequence[float] | float"


@dataclass
class _Channel:
    kind: str  # "exp" | "alpha"
    group: int  # recording group (0 -> gsyn_exc, 1 -> gsyn_inh, ...)
    tau: np.ndarray  # (N,) ms
    e_rev: np.ndarray  # (N,) mV (ignored for current-based models)


@dataclass
class _Rule:
    kind: int
    tau_plus: float
    tau_minus: float
    a_plus: float
    a_minus: float
    w_min: float
    w_max: float
    lsb: float
    lut: np.ndarray  # (2, 16) int levels: [causal, acausal]
    #: triplet terms of the trace rules (0: none): tau_x, tau_y (ms), A3_plus, A3_minus
    triplet: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass
class CompiledNetwork:
    """Immutable arrays the kernels read (built once by :meth:`Network.compile`)."""

    n_neurons: int
    n_units: int
    ch_alpha: np.ndarray
    ch_group: np.ndarray
    indptr: np.ndarray
    post: np.ndarray
    chan: np.ndarray
    delay: np.ndarray
    weight: np.ndarray  # nominal weights, CSR order
    gain: np.ndarray
    stp_U: np.ndarray
    stp_trec: np.ndarray
    stp_tfac: np.ndarray
    syn_rule: np.ndarray
    rule_par: np.ndarray
    lut: np.ndarray
    in_ptr: np.ndarray
    in_syn: np.ndarray
    in_pre: np.ndarray
    sweep_rows: np.ndarray
    sweep_phase: np.ndarray
    sweep_period: int
    pois_unit: np.ndarray
    pois_rate: np.ndarray  # Hz
    pois_start: np.ndarray
    pois_stop: np.ndarray
    pois_plain: np.ndarray  # (S,) bool: every synapse of the source static (no STP, no rule)
    arr_unit: np.ndarray
    arr_ptr: np.ndarray
    arr_steps: np.ndarray
    rec_idx: np.ndarray
    rec_var: np.ndarray
    max_delay_steps: int
    order: np.ndarray  # insertion synapse id -> CSR position
    gate_group: np.ndarray  # (N,) link group of each neuron, -1 ungated; empty: no gate
    gate_rate: float  # tokens per ms
    gate_burst: float  # bucket depth
    n_gates: int


def _bcast(value, m: int, dtype) -> np.ndarray:
    """``value`` as a fresh length-``m`` array (scalars repeated)."""
    a = np.asarray(value, dtype=dtype)
    if a.ndim == 0:
        return np.full(m, a, dtype=dtype)
    return np.array(np.broadcast_to(a, (m,)), dtype=dtype)


def _vec(value, n: int, name: str) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return np.full(n, float(a))
    a = a.reshape(-1)
    if a.size != n:
        raise ValueError(f"{name}: expected {n} values, got {a.size}")
    return a.copy()


class Network:
    """A network for the clock-driven engine: neurons of one model, synaptic channels, sources,
    sparse connections (with optional STP / STDP) and what to record.

    Neurons are units ``0..N-1``; sources added later get unit numbers ``N, N+1, ...`` in the
    order they were added.  Nothing is simulated until :meth:`prepare` / :meth:`run`.
    """

    def __init__(self, n_neurons: int, dt: float = 0.1, model: str = "lif_cond",
                 sweep_period: float = 10.0, fixed_point: bool = False) -> None:
        if n_neurons < 0:
            raise ValueError("n_neurons must be >= 0")
        if dt <= 0:
            raise ValueError("dt must be > 0")
        self.n = int(n_neurons)
        self.dt = float(dt)
        self.model: NeuronModel = get_model(model)
        #: hold membrane, second state variable and synaptic traces in s16.15 fixed point
        #: (rounded to 2^-15 after every step), as SpiNNaker does
        self.fixed_point = bool(fixed_point)
        self.params: dict[str, np.ndarray] = {
            k: np.full(self.n, v) for k, v in self.model.params.items()}
        self.channels: list[_Channel] = []
        self._sources: list[tuple[str, object]] = []  # ("poisson", (rate, start, stop)) | ("array", steps)
        #: synapse chunks in insertion order; None while the synapses live only in the
        #: compiled (CSR-ordered) arrays, which :attr:`_compiled` turns back into a chunk when
        #: it is dropped (one copy of each synapse array instead of two)
        self._syn: list[dict[str, np.ndarray]] | None = []
        self._n_syn = 0
        self._rules: list[_Rule] = []
        self.sweep_period = float(sweep_period)  # ms between two LUT evaluations of one row
        self.record_spikes = True
        self.rec: list[tuple[int, int]] = []  # (var, neuron): var -1 = v, g >= 0 channel group
        self.rec_every = 1
        self._gate: tuple[np.ndarray, float, float] | None = None
        self._compiled_net: CompiledNetwork | None = None

    @property
    def _compiled(self) -> CompiledNetwork | None:
        return self._compiled_net

    @_compiled.setter
    def _compiled(self, value: CompiledNetwork | None) -> None:
        if value is None and self._syn is None:
            # the synapses are held by the compiled arrays only: back to insertion order first
            self._syn = [_insertion_order(self._compiled_net)]
        self._compiled_net = value

    # -- building ------------------------------------------------------------------------------
    def set_params(self, **params: ArrayLike) -> None:
        """Set per-neuron parameters (scalar or one value per neuron)."""
        for k, v in params.items():
            if k not in self.params:
                raise KeyError(f"model {self.model.name} has no parameter {k!r}")
            self.params[k] = _vec(v, self.n, k)
        self._compiled = None

    def add_channel(self, kind: str = "exp", group: int = 0, tau: ArrayLike = 5.0,
                    e_rev: ArrayLike = 0.0) -> int:
        """Add a synaptic input channel (its own trace per neuron); returns its index.

        Channels exist so that several PSC shapes (e.g. Spikey drivers with different fall-time
        factors) can coexist: each channel has its time constant per neuron and a reversal
        potential; ``group`` says which recorded conductance (gsyn_exc=0, gsyn_inh=1) it adds to.
        """
        if kind not in ("exp", "alpha"):
            raise ValueError("channel kind must be 'exp' or 'alpha'")
        if kind == "alpha" and not self.model.supports_alpha:
            raise ValueError(f"model {self.model.name} supports exponential channels only")
        self.channels.append(_Channel(kind, int(group), _vec(tau, self.n, "tau"),
                                      _vec(e_rev, self.n, "e_rev")))
        self._compiled = None
        return len(self.channels) - 1

    def add_poisson(self, rates: ArrayLike, start: ArrayLike = 0.0,
                    stop: ArrayLike = np.inf) -> np.ndarray:
        """Add Poisson sources (rate in Hz, active in ``[start, stop)`` ms); returns unit ids."""
        r = np.atleast_1d(np.asarray(rates, dtype=float))
        s0 = _vec(start, r.size, "start")
        s1 = _vec(stop, r.size, "stop")
        first = self.n + len(self._sources)
        for i in range(r.size):
            self._sources.append(("poisson", (r[i], s0[i], s1[i])))
        self._compiled = None
        return np.arange(first, first + r.size)

    def add_spike_array(self, trains: Sequence[Iterable[float]]) -> np.ndarray:
        """Add sources that fire at given times (ms, one sequence per source); returns unit ids."""
        first = self.n + len(self._sources)
        for tr in trains:
            if _sorted_read_only(tr):
                t = tr  # nobody can change it: kept as it is, no copy per source
            else:
                t = np.sort(np.asarray(list(tr) if not isinstance(tr, np.ndarray) else tr,
                                       float))
            self._sources.append(("array", t))
        self._compiled = None
        return np.arange(first, first + len(trains))

    def set_spike_array(self, unit: int, times: Iterable[float]) -> None:
        kind, _ = self._sources[unit - self.n]
        if kind != "array":
            raise ValueError(f"unit {unit} is not a spike-array source")
        self._sources[unit - self.n] = ("array", np.sort(np.asarray(list(times), float)))
        self._compiled = None

    def set_poisson(self, unit: int, rate: float, start: float, stop: float) -> None:
        kind, _ = self._sources[unit - self.n]
        if kind != "poisson":
            raise ValueError(f"unit {unit} is not a Poisson source")
        self._sources[unit - self.n] = ("poisson", (float(rate), float(start), float(stop)))
        self._compiled = None

    @property
    def n_units(self) -> int:
        return self.n + len(self._sources)

    @property
    def n_synapses(self) -> int:
        return self._n_syn

    def add_rule(self, kind: str, tau_plus: float = 20.0, tau_minus: float = 20.0,
                 A_plus: float = 0.01, A_minus: float = 0.01, w_min: float = 0.0,
                 w_max: float = 1.0, lsb: float = 0.0,
                 lut: np.ndarray | None = None,
                 triplet: tuple[float, float, float, float] | None = None) -> int:
        """Add a plasticity rule; returns its id for :meth:`connect`.

        ``kind``: ``"additive"`` / ``"multiplicative"`` (continuous pair rules, weight changed at
        pairing time) or ``"lut"`` (correlation accumulators per synapse, each pair adds
        ``A * exp(-|dt|/tau)``; every ``sweep_period`` ms a row is evaluated and a synapse whose
        causal xor acausal accumulator reached 1 gets weight level ``lut[0|1][level]`` times
        ``lsb``); these pair spikes with the reduced symmetric nearest-neighbour scheme.
        ``"pair_additive"`` / ``"pair_multiplicative"`` / ``"nearest_additive"`` /
        ``"nearest_multiplicative"``: sPyNNaker's trace rules (a pre and a post trace per synapse,
        +1 per spike for all-to-all pairing or reset to 1 for nearest pairs; additive changes
        ``A x trace`` in weight units, multiplicative ``A x trace x (w_max - w)`` /
        ``(w - w_min)``); ``triplet = (tau_x, tau_y, A3_plus, A3_minus)`` adds the triplet
        terms of Pfister & Gerstner (2006) as sPyNNaker does (potentiation ``r1 (A_plus + A3_plus
        o2)``, depression ``o1 (A_minus + A3_minus r2)``).
        """
        kinds = {"additive": kernels.RULE_ADDITIVE, "multiplicative": kernels.RULE_MULTIPLICATIVE,
                 "lut": kernels.RULE_LUT,
                 # sPyNNaker's trace rules (SpiNNaker emulator): all-to-all / nearest pairs,
                 # A_plus / A_minus in weight units
                 "pair_additive": kernels.RULE_TRACE_ADD,
                 "pair_multiplicative": kernels.RULE_TRACE_MULT,
                 "nearest_additive": kernels.RULE_NEAREST_ADD,
                 "nearest_multiplicative": kernels.RULE_NEAREST_MULT}
        if kind not in kinds:
            raise ValueError(f"rule kind must be one of {sorted(kinds)}")
        if kind == "lut":
            if lsb <= 0 or lut is None:
                raise ValueError("a 'lut' rule needs lsb > 0 and a (2, 16) look-up table")
            lut = np.asarray(lut, dtype=np.int64).reshape(2, 16)
        else:
            lut = np.tile(np.arange(16, dtype=np.int64), (2, 1))
        if triplet is not None and kinds[kind] < kernels.RULE_TRACE_ADD:
            raise ValueError("triplet terms need a trace rule (pair_* / nearest_*)")
        self._rules.append(_Rule(kinds[kind], tau_plus, tau_minus, A_plus, A_minus, w_min, w_max,
                                 lsb, lut, tuple(float(x) for x in (triplet or (0, 0, 0, 0)))))
        self._compiled = None
        return len(self._rules) - 1

    def connect(self, pre: ArrayLike, post: ArrayLike, channel: int | ArrayLike,
                weight: ArrayLike, delay: ArrayLike = 1.0, *, gain: ArrayLike = 1.0,
                stp: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
                rule: int | None = None) -> np.ndarray:
        """Add synapses ``pre[i] -> post[i]``; returns their synapse ids (insertion order).

        ``weight`` is the nominal (plastic) weight, ``gain`` a fixed multiplier applied at delivery
        (hardware strength factors: fixed-pattern noise, driver amplitude, calibration), ``delay``
        in ms (rounded to steps, at least one step), ``stp = (U, tau_rec, tau_facil)``
        Tsodyks-Markram parameters, ``rule`` a plasticity rule id from :meth:`add_rule`.
        """
        pre_a = np.atleast_1d(np.asarray(pre, dtype=np.int64)).reshape(-1)
        m = pre_a.size
        post_a = _bcast(post, m, np.int64)
        if m and (pre_a.min() < 0 or pre_a.max() >= self.n_units):
            raise ValueError("presynaptic unit out of range")
        if m and (post_a.min() < 0 or post_a.max() >= self.n):
            raise ValueError("postsynaptic neuron out of range")
        ch = _const(channel, m, np.int64)
        if m and (ch.min() < 0 or ch.max() >= len(self.channels)):
            raise ValueError("channel out of range")
        d = _const(delay, m, float)
        dsteps = np.maximum(1, np.rint(d / self.dt)).astype(np.int64)
        if d.strides == (0,):
            dsteps = np.broadcast_to(dsteps[:1], (m,))
        rec = {
            "pre": pre_a, "post": post_a, "chan": ch, "delay": dsteps,
            "weight": _bcast(weight, m, float),
            "gain": _const(gain, m, float),
        }
        if stp is not None:
            U, trec, tfac = (_bcast(x, m, float) for x in stp)
            if np.any(U <= 0) or np.any(U > 1):
                raise ValueError("STP parameter U must be in (0, 1]")
            rec.update(stp_U=U, stp_trec=trec, stp_tfac=tfac)
        else:
            rec.update(stp_U=np.zeros(m), stp_trec=np.zeros(m), stp_tfac=np.zeros(m))
        if rule is not None and not 0 <= rule < len(self._rules):
            raise ValueError("unknown rule id")
        rec["rule"] = (np.zeros(m, dtype=np.int64) if rule is None  # see _zeros_like
                       else np.full(m, rule + 1, dtype=np.int64))
        self._compiled = None  # (first: brings the synapses back from the compiled arrays)
        self._syn.append(rec)
        ids = np.arange(self._n_syn, self._n_syn + m)
        self._n_syn += m
        return ids

    def set_synapses(self, ids: np.ndarray, **values: ArrayLike) -> None:
        """Change ``weight`` / ``gain`` / ``delay`` (ms) / STP values of existing synapses."""
        ids = np.asarray(ids, dtype=np.int64)
        self._compiled = None  # (first: the synapses back in insertion order, in _syn)
        cat = self._concat()
        for k, v in values.items():
            key = k
            val = np.broadcast_to(np.asarray(v, float), ids.shape)
            if k == "delay":
                val = np.maximum(1, np.rint(val / self.dt)).astype(np.int64)
            elif k == "U":
                key = "stp_U"
            elif k in ("tau_rec", "tau_facil"):
                key = "stp_trec" if k == "tau_rec" else "stp_tfac"
            if key not in cat:
                raise KeyError(k)
            if not cat[key].flags.writeable:  # a constant (see _const): its own array now
                cat[key] = cat[key].copy()
            cat[key][ids] = val

    def synapses(self) -> dict[str, np.ndarray]:
        """All synapse attributes in insertion order (delays in steps)."""
        return {k: v.copy() for k, v in self._concat().items()}

    def _concat(self) -> dict[str, np.ndarray]:
        """All synapses as one chunk in insertion order (the chunks' arrays are released key by
        key while they are joined: at most one array of each size twice in memory)."""
        if self._syn is None:
            return _insertion_order(self._compiled_net)
        if not self._syn:
            return {k: np.zeros(0, dtype=np.int64 if k in ("pre", "post", "chan", "delay", "rule")
                                else float) for k in _SYN_KEYS}
        if len(self._syn) > 1:
            chunks = self._syn
            cat = {}
            for k in _SYN_KEYS:
                if k in _OFTEN_ZERO and not any(c[k].any() for c in chunks):
                    cat[k] = _zeros_like(chunks[0][k], self._n_syn)
                else:
                    cat[k] = np.concatenate([c[k] for c in chunks])
                for c in chunks:
                    del c[k]
            self._syn = [cat]
        return self._syn[0]

    def record(self, spikes: bool = True, analog: Sequence[tuple[str | int, int]] = (),
               every: int = 1) -> None:
        """Choose what to record: spikes of all neurons and/or analog traces.

        ``analog`` is a list of ``(variable, neuron)`` with variable ``"v"`` or a channel group
        (``0``/``"gsyn_exc"``, ``1``/``"gsyn_inh"``); sampled every ``every`` steps.
        """
        names = {"v": -1, "gsyn_exc": 0, "gsyn_inh": 1, "w": -2, "u": -2}
        self.record_spikes = bool(spikes)
        self.rec = [(names[v] if isinstance(v, str) else int(v), int(n)) for v, n in analog]
        for _, n in self.rec:
            if not 0 <= n < self.n:
                raise ValueError(f"cannot record neuron {n}")
        self.rec_every = max(1, int(every))
        self._compiled = None

    def set_spike_gate(self, group: ArrayLike | None, rate: float = np.inf,
                       burst: float = 1.0) -> None:
        """Limit the spikes neurons send to their targets by a shared link's bandwidth.

        ``group`` gives each neuron's link (an int >= 0; -1: not limited); the neurons of one
        group share a token bucket per trial that refills ``rate`` tokens per ms (biological
        time) up to ``burst`` tokens and starts full.  A neuron spike takes a token; one that
        finds less than a token is *lost*: it is still recorded (and drives the neuron's own
        STDP), but reaches none of the neuron's targets.  :meth:`Simulation.lost_spikes` counts
        the losses.  ``group=None`` removes the gate (the default: no branch in the kernel, results
        bit-identical to a network without this call).  External sources are never gated.
        """
        if group is None:
            self._gate = None
        else:
            g = np.asarray(group, dtype=np.int64).reshape(-1)
            if g.size != self.n:
                raise ValueError(f"spike gate: expected {self.n} groups, got {g.size}")
            if not rate > 0 or not burst > 0:
                raise ValueError("spike gate: rate and burst must be > 0")
            self._gate = (g.copy(), float(rate), float(burst))
        self._compiled = None

    # -- compile -------------------------------------------------------------------------------
    def compile(self) -> CompiledNetwork:
        """Sort synapses into CSR by presynaptic unit and freeze all kernel-side arrays."""
        if self._compiled is not None:
            return self._compiled
        chunks = self._syn if self._syn else [self._concat()]
        nu = self.n_units
        pre = _join(chunks, "pre")
        order_csr = stable_order(pre, nu)  # CSR position -> insertion id
        pos = np.empty_like(order_csr)
        pos[order_csr] = np.arange(order_csr.size)
        counts = np.bincount(pre, minlength=nu)
        indptr = np.zeros(nu + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        # into CSR order one array at a time, each joined from the chunks and released at
        # once; the compiled arrays then hold the only copy (``_syn`` None: the insertion-order
        # chunk is made again when the compiled network is dropped)
        self._syn = None
        trim = self._n_syn >= _TRIM_MIN_SYNAPSES
        take = {"pre": pre[order_csr]}
        del pre
        for k in _SYN_KEYS[1:]:
            v = _join(chunks, k)
            take[k] = (_zeros_like(v, v.size) if k in _OFTEN_ZERO and not v.any()
                       else np.ascontiguousarray(v[order_csr]))
            del v
            if trim:  # the chunks' arrays just freed: their pages back before the next
                _release_free_heap()
        del order_csr, chunks
        # plastic synapses indexed by postsynaptic neuron (for the post-spike side of STDP)
        plastic = np.nonzero(take["rule"] > 0)[0]
        in_order = plastic[np.argsort(take["post"][plastic], kind="stable")]
        in_counts = np.bincount(take["post"][in_order], minlength=self.n)
        in_ptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(in_counts, out=in_ptr[1:])
        in_pre = take["pre"][in_order]
        # LUT sweep: rows (pre units) with LUT-rule synapses, visited one after the other
        lut_rules = {i + 1 for i, r in enumerate(self._rules) if r.kind == kernels.RULE_LUT}
        rows = np.unique(take["pre"][np.isin(take["rule"], list(lut_rules))]) if lut_rules \
            else np.zeros(0, dtype=np.int64)
        period = max(1, int(round(self.sweep_period / self.dt)))
        phase = (np.arange(rows.size) * period) // max(1, rows.size)
        rule_par = np.zeros((max(1, len(self._rules)), kernels.RULE_PAR_COLS))
        lut = np.zeros((max(1, len(self._rules)), 2, 16), dtype=np.int64)
        for i, r in enumerate(self._rules):
            rule_par[i] = [r.kind, r.tau_plus, r.tau_minus, r.a_plus, r.a_minus, r.w_min,
                           r.w_max, r.lsb, *r.triplet]
            lut[i] = r.lut
        pois = [(self.n + i, p) for i, (k, p) in enumerate(self._sources) if k == "poisson"]
        arrs = [(self.n + i, a) for i, (k, a) in enumerate(self._sources) if k == "array"]
        # several spikes in one step are all delivered (multiplicity), as in NEST
        # (each source's times are sorted (add_spike_array / set_spike_array sort them) and
        # t -> rint(t / dt) keeps the order: the steps of all sources in one pass, in place)
        arr_ptr = np.zeros(len(arrs) + 1, dtype=np.int64)
        if arrs:
            np.cumsum([np.asarray(a).size for _, a in arrs], out=arr_ptr[1:])
            x = np.concatenate([np.asarray(a, dtype=float) for _, a in arrs])
            np.divide(x, self.dt, out=x)
            np.rint(x, out=x)
            all_steps = x.astype(np.int64)
            del x
        else:
            all_steps = np.zeros(0, np.int64)
        # NB: a spike at t lands in step round(t/dt), like NEST's spike_generator on the grid
        max_d = int(take["delay"].max()) if take["delay"].size else 1
        i64 = np.int64
        # sources whose every synapse is static skip the kernel's spike queue
        pois_u = np.array([u for u, _ in pois], dtype=i64)
        dynamic = (take["stp_U"] > 0) | (take["rule"] > 0)
        n_dynamic = np.concatenate(([0], np.cumsum(dynamic, dtype=i64)))  # prefix counts
        pois_plain = (n_dynamic[indptr[pois_u + 1]] - n_dynamic[indptr[pois_u]]) == 0
        self._compiled_net = CompiledNetwork(
            n_neurons=self.n, n_units=nu,
            ch_alpha=np.array([c.kind == "alpha" for c in self.channels], dtype=np.bool_),
            ch_group=np.array([c.group for c in self.channels], dtype=i64),
            indptr=indptr, post=take["post"], chan=take["chan"],  # int64 already: no copies
            delay=take["delay"], weight=take["weight"], gain=take["gain"],
            stp_U=take["stp_U"], stp_trec=take["stp_trec"], stp_tfac=take["stp_tfac"],
            syn_rule=take["rule"], rule_par=rule_par, lut=lut,
            in_ptr=in_ptr, in_syn=in_order.astype(i64), in_pre=in_pre.astype(i64),
            sweep_rows=rows.astype(i64), sweep_phase=phase.astype(i64), sweep_period=period,
            pois_unit=pois_u, pois_plain=pois_plain,
            pois_rate=np.array([p[0] for _, p in pois], dtype=float),
            pois_start=np.array([p[1] for _, p in pois], dtype=float),
            pois_stop=np.array([p[2] for _, p in pois], dtype=float),
            arr_unit=np.array([u for u, _ in arrs], dtype=i64),
            arr_ptr=arr_ptr,
            arr_steps=all_steps,
            rec_idx=np.array([n for _, n in self.rec], dtype=i64),
            rec_var=np.array([v for v, _ in self.rec], dtype=i64),
            max_delay_steps=max_d, order=pos,
            gate_group=self._gate[0] if self._gate is not None else np.zeros(0, i64),
            gate_rate=self._gate[1] if self._gate is not None else 0.0,
            gate_burst=self._gate[2] if self._gate is not None else 0.0,
            n_gates=(int(self._gate[0].max()) + 1 if self._gate is not None and self._gate[0].size
                     else 0),
        )
        if trim:
            _release_free_heap()
        return self._compiled

    # -- running -------------------------------------------------------------------------------
    def prepare(self, trials: int = 1, seeds: Iterable[int] | int | None = None,
                overrides: Mapping[str, ArrayLike] | None = None) -> "Simulation":
        """Instantiate ``trials`` independent trials at t = 0 (see :class:`Simulation`)."""
        return Simulation(self, trials, seeds, overrides)

    def run(self, duration: float, trials: int = 1, seeds: Iterable[int] | int | None = None,
            overrides: Mapping[str, ArrayLike] | None = None) -> "Simulation":
        """Run ``trials`` independent trials for ``duration`` ms in one vectorised pass."""
        sim = self.prepare(trials, seeds, overrides)
        sim.advance(duration)
        return sim


_SYN_KEYS = ("pre", "post", "chan", "delay", "weight", "gain", "stp_U", "stp_trec", "stp_tfac",
             "rule")


#: synapse arrays that are all zero in a network without STP and plasticity
_OFTEN_ZERO = frozenset(("stp_U", "stp_trec", "stp_tfac", "rule"))


def _sorted_read_only(a) -> bool:
    """A float64 array that is sorted and cannot be written through (its base neither)."""
    if not isinstance(a, np.ndarray) or a.dtype != np.float64 or a.ndim != 1:
        return False
    base = a
    while base is not None:
        if not isinstance(base, np.ndarray) or base.flags.writeable:
            return False
        base = base.base
    return bool(a.size < 2 or np.all(a[1:] >= a[:-1]))


def _const(value, m: int, dtype) -> np.ndarray:
    """``value`` as a length-``m`` array; one number as a read-only broadcast view (no memory
    per synapse until the network is compiled)."""
    a = np.asarray(value, dtype=dtype)
    if a.ndim == 0:
        return np.broadcast_to(a.reshape(1), (m,))
    return _bcast(a, m, dtype)


def _join(chunks: list[dict[str, np.ndarray]], k: str) -> np.ndarray:
    """Array ``k`` of all chunks in order, taken out of the chunks (released as it is joined)."""
    if len(chunks) == 1:
        return chunks[0].pop(k)
    if k in _OFTEN_ZERO and not any(c[k].any() for c in chunks):
        v = _zeros_like(chunks[0][k], sum(c[k].size for c in chunks))
    else:
        v = np.concatenate([c[k] for c in chunks])
    for c in chunks:
        del c[k]
    return v


#: networks with at least this many synapses hand the C heap's free pages back after compiling
_TRIM_MIN_SYNAPSES = 200_000


def _release_free_heap() -> None:
    """Give the free pages of the C heap back to the OS (glibc ``malloc_trim``).

    Building a network frees many arrays a few MiB to 32 MiB large: glibc serves those from
    its heap once larger blocks were freed (its mmap threshold rises with them) and keeps the
    freed pages, which the compiled network's own (mmap'ed) arrays never reuse; at 16000 cells
    that is ~200 MB of resident memory holding nothing.  Elsewhere (another C library) a no-op."""
    import ctypes

    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


def _zeros_like(a: np.ndarray, n: int) -> np.ndarray:
    """``n`` zeros of ``a``'s type, freshly allocated: a large ``np.zeros`` is memory the OS
    maps on first write only, and reading it (the kernels read ``stp_U`` and ``syn_rule`` of
    every synapse they deliver) maps the one shared zero page, so an all-zero array costs no
    resident memory, where a gathered or concatenated copy of zeros costs 8 bytes a synapse."""
    return np.zeros(n, dtype=a.dtype)


def stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` of integer ``keys`` in ``[0, n_keys)`` (a stable sort's
    permutation is unique), sorting keys below 2**16 as uint16, which numpy sorts by radix
    (linear time) instead of timsort.  Used for the CSR order of synapses, and by the wafer
    emulator for its input events by source and its synapses by HICANN."""
    if n_keys <= 1 << 16 and keys.size:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    return np.argsort(keys, kind="stable")


def _insertion_order(c: CompiledNetwork) -> dict[str, np.ndarray]:
    """The synapse arrays of a compiled network back in insertion order (``c.order``: insertion
    id -> CSR position); the presynaptic unit from the row pointers."""
    pos = c.order
    pre = np.repeat(np.arange(c.indptr.size - 1, dtype=np.int64), np.diff(c.indptr))
    src = {"pre": pre, "post": c.post, "chan": c.chan, "delay": c.delay, "weight": c.weight,
           "gain": c.gain, "stp_U": c.stp_U, "stp_trec": c.stp_trec, "stp_tfac": c.stp_tfac,
           "rule": c.syn_rule}
    return {k: src[k][pos] for k in _SYN_KEYS}


def run_batch(network: Network, duration: float, trials: int,
              seeds: Iterable[int] | int | None = None,
              overrides: Mapping[str, ArrayLike] | None = None) -> "Simulation":
    """Functional form of :meth:`Network.run` (the entry point calibration sweeps build on)."""
    return network.run(duration, trials=trials, seeds=seeds, overrides=overrides)


def _seed_state(seed: int) -> np.uint64:
    return np.random.SeedSequence(int(seed)).generate_state(1, dtype=np.uint64)[0]


class _MergedSpikeBuffer:
    """A spike buffer attribute (``spk_tr`` ...) of :class:`Simulation`: reading or replacing it
    first merges the spike buffers that the trial parts of a parallel advance left pending, so
    callers always see one buffer in emission order."""

    def __set_name__(self, owner, name: str) -> None:
        self.private = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        obj._flush_spikes()
        return getattr(obj, self.private)

    def __set__(self, obj, value: np.ndarray) -> None:
        obj._flush_spikes()
        setattr(obj, self.private, value)


class Simulation:
    """The state of ``T`` trials of one :class:`Network`; :meth:`advance` may be called repeatedly.

    ``overrides`` maps parameter names to per-trial values (shape ``(T,)`` or ``(T, N)`` or
    anything broadcastable to ``(T, N)``): neuron parameters by name, channel parameters as
    ``"tau:<k>"`` / ``"e_rev:<k>"``, Poisson rates as ``"rate"`` (``(T, n_poisson)`` in Hz),
    synapse arrays as ``"weight"`` / ``"gain"`` (``(T, n_synapses)``, insertion order).
    """

    def __init__(self, net: Network, trials: int = 1,
                 seeds: Iterable[int] | int | None = None,
                 overrides: Mapping[str, ArrayLike] | None = None) -> None:
        if trials < 1:
            raise ValueError("trials must be >= 1")
        self.net = net
        self.model = net.model
        c = self.csr = net.compile()
        T, N, K = int(trials), net.n, len(net.channels)
        self.trials = T
        self.dt = net.dt
        if seeds is None:
            seeds = list(range(T))
        elif isinstance(seeds, (int, np.integer)):
            seeds = [int(seeds) + i for i in range(T)]
        seeds = [int(s) for s in seeds]
        if len(seeds) != T:
            raise ValueError(f"need {T} seeds, got {len(seeds)}")
        self.seeds = seeds
        ov = dict(overrides or {})

        def per_trial(name: str, base: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
            val = ov.pop(name, None)
            if val is None:
                out = np.broadcast_to(base, shape)
            else:
                a = np.asarray(val, float)
                if a.ndim == 1 and a.shape[0] == T and len(shape) == 2:
                    a = a[:, None]
                out = np.broadcast_to(a, shape)
            return np.ascontiguousarray(out, dtype=float).copy()

        self.par = {k: per_trial(k, v, (T, N)) for k, v in net.params.items()}
        # channel arrays are (K, T, N): the kernel flattens trials into the neuron axis
        self.ch_tau = np.zeros((K, T, N))
        self.ch_erev = np.zeros((K, T, N))
        for k, ch in enumerate(net.channels):
            self.ch_tau[k] = per_trial(f"tau:{k}", ch.tau, (T, N))
            self.ch_erev[k] = per_trial(f"e_rev:{k}", ch.e_rev, (T, N))
        nnz = c.post.size
        inv = None
        static = not np.any(c.syn_rule > 0)  # no rule changes a weight during a run
        for name in ("weight", "gain"):
            # the compiled (CSR-order) values; an override is in insertion order
            given = name in ov
            if T == 1 and not given and (static or name == "gain"):
                # one trial and nothing writes these during a run (no rule changes a weight):
                # the compiled array itself, as a (1, nnz) view; set_weights / set_gain
                # replace, never write into, them
                setattr(self, "w" if name == "weight" else name,
                        getattr(c, name).reshape(1, nnz))
                continue
            arr = per_trial(name, getattr(c, name), (T, nnz))
            if given:
                if inv is None:  # CSR position -> insertion id (the inverse permutation)
                    inv = np.empty_like(c.order)
                    inv[c.order] = np.arange(nnz)
                arr = np.ascontiguousarray(arr[:, inv])
            setattr(self, "w" if name == "weight" else name, arr)
        self.pois_rate = per_trial("rate", c.pois_rate, (T, c.pois_unit.size)) / 1000.0  # 1/ms
        if ov:
            raise KeyError(f"unknown override(s): {sorted(ov)}")
        self._derive()
        # state
        v0 = self.par["v_init"]
        self.v = np.where(np.isnan(v0), self.par["v_rest"], v0)
        self.x = (self.model.init_x(self.par, self.v) if self.model.init_x is not None
                  else np.zeros((T, N))).astype(float)
        self.g = np.zeros((K, T, N))
        self.h = np.zeros((K, T, N))
        self.refr = np.zeros((T, N), dtype=np.int64)
        self.scratch = np.zeros((2, T * N))
        self.ring = np.zeros((c.max_delay_steps + 1, K, T, N))
        # per-synapse dynamic state (STP, STDP traces): the kernels touch it only for synapses
        # with STP (stp_U > 0) or a rule (syn_rule > 0); without any, empty (T, 0) arrays of
        # the same types (34 bytes per synapse and trial less)
        dyn = nnz if (not static or np.any(c.stp_U > 0.0)) else 0
        self.stp_u = np.zeros((T, dyn))
        self.stp_x = np.ones((T, dyn))
        self.last_spike = np.full((T, c.n_units), kernels.NEVER, dtype=np.int64)
        self.pre_avail = np.zeros((T, dyn), dtype=np.uint8)
        self.post_avail = np.zeros((T, dyn), dtype=np.uint8)
        self.acc_c = np.zeros((T, dyn))
        self.acc_a = np.zeros((T, dyn))
        self.rng = np.array([_seed_state(s) for s in seeds], dtype=np.uint64)
        # every Poisson source of every trial draws from its own stream (derived from the
        # trial's seed and the source's index), so a kernel may draw the sources' events in any
        # order; the first event after each source's start is drawn here
        S = c.pois_unit.size
        self.pois_rng = _mix64(self.rng[:, None] ^ _mix64(
            np.arange(1, S + 1, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03))[None, :])
        u = ((_splitmix_next(self.pois_rng) >> np.uint64(11)).astype(float) + 1.0) / 2.0**53
        with np.errstate(divide="ignore"):
            t = c.pois_start[None, :] - np.log(u) / self.pois_rate
        self.pois_next = np.where((self.pois_rate > 0) & (t < c.pois_stop[None, :]), t, np.inf)
        self.arr_cur = np.tile(c.arr_ptr[:-1], (T, 1)).astype(np.int64)
        # spike gate state per (trial, link group): tokens, last spike time (ms), spikes lost
        G = max(c.n_gates, 1)
        self.gate_tok = np.full((T, G), c.gate_burst)
        self.gate_last = np.full((T, G), -np.inf)
        self.gate_lost = np.zeros((T, G), dtype=np.int64)
        # spike queue of one step: every neuron, plus generous room for source events (a source
        # with rate r emits Poisson(r dt) per step; more than the room waits one step)
        lam = float(self.pois_rate.max()) * self.dt if self.pois_rate.size else 0.0
        per_src = int(lam + 8.0 * math.sqrt(lam) + 8)
        # spike-array events of one step: arr_mult is the most events in any step over all
        # array sources together (a bound on what one trial queues in a step; the kernel grows
        # the queue for Poisson events beyond their room, so the arrays always fit and none
        # waits a step).  Not one room per source (n_arr x arr_mult: quadratic in the network,
        # 0.4 GB for 16000 sources)
        per_step = np.bincount(c.arr_steps) if c.arr_steps.size else np.zeros(1, np.int64)
        arr_mult = int(per_step.max())
        # the most array events in any MAX_WINDOW consecutive steps: room for a window's events
        # (per trial) that the kernel gathers at once, whatever the window and where it starts
        upto = np.concatenate(([0], np.cumsum(per_step)))
        W = kernels.MAX_WINDOW
        self.arr_room = int((upto[W:] - upto[:-W]).max()) if upto.size > W else int(upto[-1])
        self._q_per_trial = N + c.pois_unit.size * per_src + max(arr_mult, 1)
        qcap = T * self._q_per_trial + 64
        self.q_tr = np.zeros(qcap, dtype=np.int64)
        self.q_unit = np.zeros(qcap, dtype=np.int64)
        self.step = 0
        self.record_spikes = net.record_spikes
        self.rec_every = net.rec_every
        cap = 4096
        # recorded spikes in emission order (step, trial, neuron); a parallel advance leaves one
        # buffer per part in _pending, merged into these on first access (see _flush_spikes)
        self._spk_tr = np.zeros(cap, dtype=np.int64)
        self._spk_step = np.zeros(cap, dtype=np.int64)
        self._spk_id = np.zeros(cap, dtype=np.int64)
        self._spk_n = np.zeros(1, dtype=np.int64)
        self._pending: list[Part] = []
        #: threads for :meth:`advance` (None: :func:`default_threads`, used for long runs only)
        self.threads: int | None = None
        self.rec_chunks: list[np.ndarray] = []
        self.rec_buf = np.zeros((T, 0, c.rec_idx.size))
        self.rec_n = np.zeros(1, dtype=np.int64)
        if c.rec_idx.size:
            self.rec_chunks.append(self._sample_now()[:, None, :])

    def _derive(self) -> None:
        """Recompute propagators from the parameter arrays (call after editing ``par``)."""
        dt = self.dt
        for k, a in self.par.items():
            if k not in ("v_init", "u_init") and not np.all(np.isfinite(a)):
                raise ValueError(f"parameter {k} must be finite")
        if np.any(self.par["cm"] <= 0) or np.any(self.par["g_leak"] <= 0):
            raise ValueError("cm and g_leak must be > 0")
        self.flat = {k: a.reshape(-1) for k, a in self.par.items()}
        if self.model.kind == kernels.MODEL_SPINN:
            # sPyNNaker: T_refract = ceil(tau_refrac / ts) (neuron_model_lif_impl.h lif_ceil_accum)
            self.ref_steps = np.ceil(self.par["tau_refrac"] / dt - 1e-9).astype(
                np.int64).reshape(-1)
        else:
            self.ref_steps = np.rint(self.par["tau_refrac"] / dt).astype(np.int64).reshape(-1)
        self.dt_cm = (dt / self.par["cm"]).reshape(-1)
        self.gl_el = (self.par["g_leak"] * self.par["v_rest"] + self.par["i_offset"]).reshape(-1)
        self.any_noise = bool(np.any(self.par["v_noise"] > 0))
        self.detect = self.flat[DETECT[self.model.kind]]
        builder = XPAR.get(self.model.kind)
        self.xpar = np.ascontiguousarray(builder(self.flat) if builder is not None
                                         else np.zeros((kernels.XP_ROWS, self.v_size())))
        tau = np.maximum(self.ch_tau, 1e-12)
        self.ch_decay = np.exp(-dt / tau)
        self.ch_ascale = math.e / tau
        if self.model.kind == kernels.MODEL_SPINN:
            self._spinn_channels(tau)
        elif self.model.conductance:
            self.ch_p21 = np.zeros_like(tau)
        else:
            tau_m = (self.par["cm"] / self.par["g_leak"])[None]
            cm = self.par["cm"][None]
            same = np.isclose(tau, tau_m)
            with np.errstate(divide="ignore", invalid="ignore"):
                p21 = tau_m * tau / (cm * (tau - tau_m)) * (np.exp(-dt / tau) - np.exp(-dt / tau_m))
            self.ch_p21 = np.where(same, dt / cm * np.exp(-dt / tau_m), p21)

    def _spinn_channels(self, tau: np.ndarray) -> None:
        """sPyNNaker's synaptic constants as the machine holds them (exp_synapse_utils.h
        ``decay_and_init``): ``decay = exp(-ts/tau)`` as an unsigned 0.32 fraction (truncated),
        ``init = (tau/ts) (1 - decay)`` the same way; in ``ch_decay`` and ``ch_p21``.  A
        channel with ``tau == 0`` is a delta synapse (synapse_types_delta_impl.h: no decay;
        input_type_delta.h: current = input x 1/ts)."""
        dt = self.dt
        u32 = 2.0 ** 32
        delta = self.ch_tau <= 0.0
        decay = np.floor(np.exp(-dt / tau) * u32) / u32
        tau_over_ts = np.floor(tau / dt * 32768.0) / 32768.0
        init = np.floor(tau_over_ts * (1.0 - decay) * u32) / u32
        self.ch_decay = np.where(delta, 0.0, decay)
        self.ch_p21 = np.where(delta, 1.0 / dt, init)

    def v_size(self) -> int:
        return self.trials * self.net.n

    def _sample_now(self) -> np.ndarray:
        c = self.csr
        out = np.zeros((self.trials, c.rec_idx.size))
        for r, (var, n) in enumerate(zip(c.rec_var, c.rec_idx)):
            if var == -2:
                out[:, r] = self.x[:, n]
            elif var < 0:
                out[:, r] = self.v[:, n]
            else:
                sel = c.ch_group == var
                out[:, r] = self.g[sel, :, n].sum(axis=0)
        return out

    @property
    def t(self) -> float:
        """Current time in ms."""
        return self.step * self.dt

    def advance(self, duration: float, threads: int | None = None) -> None:
        """Integrate all trials for ``duration`` ms (rounded to whole steps).

        The trials are split into ``threads`` contiguous parts run concurrently (the kernel
        releases the GIL); default :attr:`threads`, else :func:`default_threads` when the run is
        long enough to pay for the threads.  Trials are independent and each owns its random
        stream, so the results do not depend on the split.
        """
        nsteps = int(round(duration / self.dt))
        if nsteps < 0:
            raise ValueError("duration must be >= 0")
        c = self.csr
        n_samples = (self.step + nsteps) // self.rec_every - self.step // self.rec_every
        self.rec_buf = np.zeros((self.trials, n_samples if c.rec_idx.size else 0,
                                 c.rec_idx.size))
        self.rec_n[0] = 0
        T = self.trials
        n_parts = threads if threads is not None else self.threads
        if n_parts is None:
            n_parts = default_threads() if nsteps * T * max(self.net.n, 1) >= _PARALLEL_MIN else 1
        n_parts = max(1, min(int(n_parts), T))
        if n_parts == 1:
            part = Part(0, T, self.q_tr, self.q_unit, self._spk_tr, self._spk_step,
                        self._spk_id, self._spk_n, self.rec_n)
            self._advance_part(part, nsteps)
            self._spk_tr, self._spk_step, self._spk_id = part.spk_tr, part.spk_step, part.spk_id
        else:
            self._flush_spikes()
            parts = []
            for k in range(n_parts):
                a, b = k * T // n_parts, (k + 1) * T // n_parts
                q = (b - a) * self._q_per_trial + 64
                cap = 4096
                parts.append(Part(a, b, np.zeros(q, np.int64), np.zeros(q, np.int64),
                                  np.zeros(cap, np.int64), np.zeros(cap, np.int64),
                                  np.zeros(cap, np.int64), np.zeros(1, np.int64),
                                  np.zeros(1, np.int64)))
            pool = _pool(n_parts)
            futures = [pool.submit(self._advance_part, p, nsteps) for p in parts[1:]]
            self._advance_part(parts[0], nsteps)  # this thread runs the first part
            for f in futures:
                f.result()
            self.rec_n[0] = parts[0].rec_n[0]
            self._pending = [p for p in parts if p.spk_n[0] > 0]
        self.step += nsteps
        if c.rec_idx.size and n_samples:
            self.rec_chunks.append(self.rec_buf[:, : self.rec_n[0], :].copy())

    def _advance_part(self, part: "Part", nsteps: int) -> None:
        """Run the trials of one part for ``nsteps`` steps (the kernel grows its spike buffer)."""
        self.model.invoke(self, self.step, nsteps, part)

    # recorded spikes (the kernel's buffers; pending parts of a parallel advance merged first)
    spk_tr = _MergedSpikeBuffer()
    spk_step = _MergedSpikeBuffer()
    spk_id = _MergedSpikeBuffer()
    spk_n = _MergedSpikeBuffer()

    def _flush_spikes(self) -> None:
        """Merge the parts' spike buffers into one, in emission order (step, trial, neuron)."""
        if not self._pending:
            return
        parts, self._pending = self._pending, []
        n0 = int(self._spk_n[0])
        total = n0 + sum(int(p.spk_n[0]) for p in parts)
        out = [np.zeros(max(total, 1), np.int64) for _ in range(3)]
        for o, head in zip(out, (self._spk_tr, self._spk_step, self._spk_id)):
            o[:n0] = head[:n0]
        ptr = np.zeros(len(parts) + 1, np.int64)
        np.cumsum([int(p.spk_n[0]) for p in parts], out=ptr[1:])
        cat = [np.concatenate([getattr(p, k)[: int(p.spk_n[0])] for p in parts])
               for k in ("spk_tr", "spk_step", "spk_id")]
        kernels.merge_spikes(ptr, cat[0], cat[1], cat[2], out[0][n0:], out[1][n0:],
                             out[2][n0:])
        self._spk_tr, self._spk_step, self._spk_id = out
        self._spk_n = np.array([total], dtype=np.int64)

    # -- results -------------------------------------------------------------------------------
    def spikes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All recorded spikes as ``(trial, time_ms, neuron)`` arrays in emission order."""
        n = int(self.spk_n[0])
        # a threshold crossing during step s is reported at the step's end, (s + 1) * dt, as NEST does
        return (self.spk_tr[:n].copy(), (self.spk_step[:n] + 1) * self.dt,
                self.spk_id[:n].copy())

    def spike_counts(self) -> np.ndarray:
        """Spike counts, shape ``(T, N)``."""
        TN = self.trials * self.net.n
        out = np.zeros(TN, dtype=np.int64)
        bufs = [(self._spk_tr, self._spk_id, int(self._spk_n[0]))]
        bufs += [(p.spk_tr, p.spk_id, int(p.spk_n[0])) for p in self._pending]
        for tr, nid, n in bufs:  # no merge needed for counts
            if n:
                out += np.bincount(tr[:n] * self.net.n + nid[:n], minlength=TN)
        return out.reshape(self.trials, self.net.n)

    def lost_spikes(self) -> np.ndarray:
        """Neuron spikes withheld by the spike gate so far, per (trial, link group)."""
        return self.gate_lost[:, : self.csr.n_gates].copy()

    def analog(self) -> np.ndarray:
        """Analog recordings, shape ``(T, n_samples, R)``; sample 0 is the initial state."""
        c = self.csr
        if not self.rec_chunks:
            return np.zeros((self.trials, 0, c.rec_idx.size))
        return np.concatenate(self.rec_chunks, axis=1)

    def weights(self) -> np.ndarray:
        """Current nominal weights, shape ``(T, n_synapses)`` in insertion (synapse-id) order."""
        return self.w[:, self.csr.order]

    def set_weights(self, w: np.ndarray) -> None:
        """Replace nominal weights (``(T, n_synapses)`` or ``(n_synapses,)``, insertion order)."""
        inv = np.argsort(self.csr.order)
        # a new array: self.w may be the compiled network's (see __init__)
        self.w = np.ascontiguousarray(
            np.broadcast_to(np.asarray(w, float), (self.trials, inv.size))[:, inv])

    def set_gain(self, gain: np.ndarray) -> None:
        inv = np.argsort(self.csr.order)
        self.gain = np.ascontiguousarray(
            np.broadcast_to(np.asarray(gain, float), (self.trials, inv.size))[:, inv])


class Part:
    """A contiguous range of trials ``[tr0, tr1)`` run by one kernel call, with its own spike
    queue (``q_tr``, ``q_unit``), spike buffer (``spk_*``, count ``spk_n``) and recording
    counter (``rec_n``); the rest of the state is shared (disjoint per trial)."""

    __slots__ = ("tr0", "tr1", "q_tr", "q_unit", "spk_tr", "spk_step", "spk_id", "spk_n",
                 "rec_n")

    def __init__(self, tr0: int, tr1: int, q_tr: np.ndarray, q_unit: np.ndarray,
                 spk_tr: np.ndarray, spk_step: np.ndarray, spk_id: np.ndarray,
                 spk_n: np.ndarray, rec_n: np.ndarray) -> None:
        self.tr0, self.tr1 = tr0, tr1
        self.q_tr, self.q_unit = q_tr, q_unit
        self.spk_tr, self.spk_step, self.spk_id, self.spk_n = spk_tr, spk_step, spk_id, spk_n
        self.rec_n = rec_n


#: a run shorter than this many neuron-steps (trials x neurons x steps) stays on one thread
_PARALLEL_MIN = 2_000_000
_POOL: list = [None, 0]


def default_threads() -> int:
    """Threads a batched run uses: ``$NMCLUSTER_THREADS`` if set, else the cores this process
    may run on (``os.sched_getaffinity``), at most numba's ``NUMBA_NUM_THREADS``."""
    env = os.environ.get("NMCLUSTER_THREADS", "").strip()
    if env:
        return max(1, int(env))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _numba_threads()))


def _numba_threads() -> int:
    """numba's ``NUMBA_NUM_THREADS`` without importing numba when it is not loaded (a job
    whose kernels are AOT-built never imports it): numba's default is the CPU count."""
    import sys

    numba = sys.modules.get("numba")
    if numba is not None:
        return int(numba.config.NUMBA_NUM_THREADS)
    try:
        return max(1, int(os.environ.get("NUMBA_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1


def _pool(n: int) -> ThreadPoolExecutor:
    """A process-wide thread pool with at least ``n - 1`` workers (the caller runs one part)."""
    if _POOL[0] is None or _POOL[1] < n - 1:
        if _POOL[0] is not None:
            _POOL[0].shutdown(wait=False)
        _POOL[0] = ThreadPoolExecutor(max_workers=max(1, n - 1),
                                      thread_name_prefix="nmcluster-engine")
        _POOL[1] = max(1, n - 1)
    return _POOL[0]


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's output function on an array (uint64, wrapping)."""
    z = (z ^ (z >> kernels._S30)) * kernels._M1
    z = (z ^ (z >> kernels._S27)) * kernels._M2
    return z ^ (z >> kernels._S31)


def _splitmix_next(state: np.ndarray) -> np.ndarray:
    """Advance every stream of ``state`` in place; the draws (Python twin of ``rand_u64``)."""
    state += kernels._GOLD
    return _mix64(state)

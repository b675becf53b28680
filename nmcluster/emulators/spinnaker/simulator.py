"""Simulator state of the SpiNNaker emulator (``pyNN.nmcluster.spinnaker``).

At the first ``run()`` the network is partitioned (:mod:`.machine`: slices of <= 255 neurons per
core, report of cores/chips/boards), weights become 16-bit integers with one scale per target,
delays whole steps in 1..144, and the result an engine network integrated in s16.15 fixed point
(``setup(fixed_point=False)`` switches that off for comparison).  With
``$NMCLUSTER_SPINNAKER_PARTITION_ONLY=<path>`` the first ``run()`` only writes the partitioning
report to ``<path>`` and exits the script (status 0) without simulating.  The engine model
``"spinnaker"`` follows sPyNNaker's C neuron code (update order, s16.15 arithmetic, truncating
decays) and integrates every family (LIF and Izhikevich, current or conductance input, exponential,
alpha or delta synapses) in one network.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyNN.standardmodels import cells as std_cells

from ..common.simulator import ID, EngineState  # noqa: F401
from ..engine import Network, Simulation
from . import machine

logger = logging.getLogger("nmcluster.emulators.spinnaker")

name = "nmcluster.spinnaker"
#: "partition only" mode: at the first run() write the partitioning report (JSON) to this path and exit
#: without simulating (``nmcluster submit -p spinnaker --size-from-script`` uses it to size the job)
PARTITION_ONLY_ENV = "NMCLUSTER_SPINNAKER_PARTITION_ONLY"


@dataclass(frozen=True)
class SpinnakerConfig:
    """Options of ``setup()`` that concern the emulated machine."""

    strict: bool = True
    seed: int = 0
    fixed_point: bool = True
    real_time: bool = False
    time_scale_factor: float = 1.0
    report_file: str = ""


class State(EngineState):
    """The emulated SpiNNaker machine and the PyNN bookkeeping of one session."""

    config_error = machine.SpinnakerConfigError
    logger = logger
    platform = "SpiNNaker"
    speedup = 1.0  # real time

    def default_config(self) -> SpinnakerConfig:
        return SpinnakerConfig()

    def _clear_hardware(self) -> None:
        #: current sources created in this session (DCSource ...; see .electrodes)
        self.current_sources: list = []
        self.per_type: dict[str, int] = {}
        self.synapse_cores: dict[str, int | None] = {}
        self.delay_extensions: dict[str, bool] = {}
        self.report: dict | None = None
        self.weight_scales: dict[tuple[str, str], float] = {}

    def run_until(self, tstop: float) -> None:
        path = os.environ.get(PARTITION_ONLY_ENV, "")
        if path:  # sizing before queueing: the report is all that is wanted
            rep = self.write_partitioning_report(path)
            logger.info("SpiNNaker partition-only mode: %d cores on %d chip(s), %d board(s); report in "
                        "%s; not simulating", rep["cores"], rep["chips"], rep["boards"], path)
            raise SystemExit(0)
        super().run_until(tstop)

    def auto_max_delay(self) -> float:
        # sPyNNaker's get_max_delay docstring: "Most likely value is timestep * 144"
        return float(self.dt) * machine.MAX_DELAY_STEPS

    def _advance(self, duration: float) -> None:
        """Integrate, in pieces between the steps at which an input changes: the current
        sources' amplitudes are added to ``i_offset`` of their cells, a
        SpikeSourcePoissonVariable switches its rates (sPyNNaker's current_source_*.h and
        spike_source_poisson.c act per time step)."""
        sim = self.sim
        assert sim is not None
        sources = [c for c in self.current_sources if c._targets]
        variable = self._variable_sources()
        if not sources and not variable:
            self._sim_advance(duration)
            return
        dt = self.dt
        s0 = sim.step
        s1 = s0 + int(round(duration / dt))
        base = sim.par["i_offset"][0].copy()
        targets = [(c, self.unit_lookup[c.target_ids()]) for c in sources]
        cuts = {s0, s1} | {x for c in sources for x in c.changes(s0, s1, dt)}
        for _, _, edges in variable:
            cuts |= {int(e) for e in edges if s0 < e < s1}
        cuts = sorted(cuts)
        try:
            for a, b in zip(cuts[:-1], cuts[1:]):
                if sources:
                    cur = base.copy()
                    for c, units in targets:
                        np.add.at(cur, units[units < cur.size], c.amplitude_at(a, dt))
                    # the kernel reads i_offset at every step (model "spinnaker")
                    sim.par["i_offset"][:] = cur
                for js, rate_at, _ in variable:
                    _set_poisson_rates(sim, js, rate_at(a * dt), a * dt)
                self._sim_advance((b - a) * dt)
        finally:
            sim.par["i_offset"][:] = base

    def _variable_sources(self) -> list:
        """(engine source indices, rate function of time, change steps) of every
        SpikeSourcePoissonVariable population."""
        from .extra_models import SpikeSourcePoissonVariable

        out = []
        c = self.sim.csr
        index = {int(u): j for j, u in enumerate(c.pois_unit)}
        for p in self.populations:
            if not isinstance(p.celltype, SpikeSourcePoissonVariable) or p._engine is None:
                continue
            js = np.array([index[int(u)] for u in p._engine])
            sched = [p.celltype.schedule(i) for i in range(p.size)]

            def rate_at(t: float, sched=sched) -> np.ndarray:
                out_ = np.zeros(len(sched))
                for i, (r, a, b) in enumerate(sched):
                    on = (a <= t + 1e-9) & (t + 1e-9 < b)
                    out_[i] = r[on][-1] if on.any() else 0.0
                return out_

            edges = np.unique(np.rint(np.concatenate(
                [np.concatenate([a, b]) for _, a, b in sched]) / self.dt))
            out.append((js, rate_at, edges))
        return out

    def _after_run(self, duration: float) -> None:
        if self.config.real_time:
            # pace like the machine: biological time x time_scale_factor of wall time
            wall = self.last_run["emulator_s"]
            rest = duration / 1000.0 * self.config.time_scale_factor - wall
            if rest > 0:
                time.sleep(rest)

    def check_set(self) -> None:
        """sPyNNaker 7 accepts ``set()`` between runs (it reloads the changed parameters
        before the next run), so the emulator does too (the network is rebuilt with the
        dynamic state carried over)."""

    # -- partitioning --------------------------------------------------------------------------
    def partitioning_report(self) -> dict:
        """Cores, chips and boards the current network needs (see :func:`.machine.partition`)."""
        ext = set()
        for prj in self.projections:
            if prj._steps.size and prj._steps.max() > machine.DELAYS_PER_CORE:
                ext |= {id(p) for p in _pops(prj.pre)}
        self.report = machine.partition(self.populations, ext, self.per_type)
        return self.report

    def write_partitioning_report(self, path: str) -> dict:
        rep = self.partitioning_report()
        with open(path, "w") as f:
            json.dump(rep, f, indent=1)
        return rep

    # -- building ------------------------------------------------------------------------------
    def build(self) -> tuple[Network, dict]:
        cfg = self.config
        report = self.partitioning_report()
        if cfg.report_file:
            self.write_partitioning_report(cfg.report_file)
        neurons = [p for p in self.populations if not p._is_source]
        sources = [p for p in self.populations if p._is_source]
        n = sum(p.size for p in neurons)
        off = 0
        for p in neurons:
            p._engine = np.arange(off, off + p.size)
            off += p.size
        par, shapes = _params(neurons, cfg.fixed_point)
        # one engine model for every family (sPyNNaker's update order, s16.15 arithmetic):
        # LIF and Izhikevich, current or conductance input, side by side in one network
        net = Network(n, dt=self.dt, model="spinnaker", fixed_point=cfg.fixed_point)
        net.set_params(**{k: v for k, v in par.items() if k in net.params})
        chans = {}
        for (rt, kind), (tau, erev) in shapes.items():
            chans[(rt, kind)] = net.add_channel(kind, 1 if rt == "inhibitory" else 0, tau, erev)
        for p in sources:
            p._engine = p._add_to_network(net)
        self.register_units()
        # 16-bit weights: one scale per target (post population x receptor type)
        top: dict[tuple[int, str], float] = {}
        for prj in self.projections:
            for p in _pops(prj.post):
                key = (id(p), prj.receptor_type)
                top[key] = max(top.get(key, 0.0), float(np.abs(prj._w_req).max(initial=0.0)))
        self.weight_scales = {}
        label = {id(p): p.label for p in self.populations}
        for (pid, rt), w in top.items():
            self.weight_scales[(label[pid], rt)] = machine.weight_scale(w)
        for prj in self.projections:
            post_pop = _pops(prj.post)[0]
            scale = self.weight_scales[(post_pop.label, prj.receptor_type)]
            prj._realise(scale)
            if prj.receptor_type not in post_pop.celltype.receptor_types:
                raise machine.SpinnakerConfigError(
                    f"{prj.label}: receptor type {prj.receptor_type!r} not available for "
                    f"{type(post_pop.celltype).__name__}; it has "
                    f"{list(post_pop.celltype.receptor_types)}")
            kind = "alpha" if type(post_pop.celltype).__name__ in _ALPHA else "exp"
            ch = chans[(prj.receptor_type, kind)]
            # inhibitory input is a positive trace subtracted by the neuron (ch_erev = -1 for
            # current input), as sPyNNaker keeps it
            prj._map_to_engine(net, ch, 1.0)
        analog: list[tuple[str, int]] = []
        for r in sorted(self.recorders, key=lambda r: int(r.population.first_id)):
            analog.extend(r._analog_requests(len(analog)))
        net.record(spikes=True, analog=analog, every=1)
        self._built_version = self._structure_version
        logger.info("SpiNNaker partitioning: %d cores (%d neuron, %d delay extension) on %d "
                    "chip(s), %d board(s)", report["cores"], report["neuron_cores"],
                    report["delay_extension_cores"], report["chips"], report["boards"])
        return net, {"report": report}

    def _prepare(self, net: Network, meta: dict, trials: int, seeds: list[int]) -> Simulation:
        sim = net.prepare(trials=trials, seeds=seeds)
        for p in self.populations:
            if not p._is_source:
                u0 = p._initial("u")
                if np.any(np.isfinite(u0)):
                    sim.x[:, p._engine] = np.where(np.isfinite(u0), u0, sim.x[:, p._engine])
        return sim


def _set_poisson_rates(sim: Simulation, js: np.ndarray, rates_hz: np.ndarray,
                       t_now: float) -> None:
    """Switch Poisson sources ``js`` to new rates at ``t_now`` (ms): a source whose rate changes
    draws its next event afresh from ``t_now`` from its own stream (memoryless)."""
    from ..engine.network import _splitmix_next

    new = np.asarray(rates_hz, float) / 1000.0
    changed = sim.pois_rate[0, js] != new
    if not changed.any():
        return
    js = js[changed]
    new = new[changed]
    st = sim.pois_rng[:, js].copy()
    u = ((_splitmix_next(st) >> np.uint64(11)).astype(float) + 1.0) / 2.0 ** 53
    sim.pois_rng[:, js] = st
    with np.errstate(divide="ignore"):
        t = t_now - np.log(u) / new[None, :]
    stop = sim.csr.pois_stop[js][None, :]
    sim.pois_rate[:, js] = new[None, :]
    sim.pois_next[:, js] = np.where((new[None, :] > 0) & (t < stop), t, np.inf)


def _pops(obj) -> list:
    if hasattr(obj, "populations"):
        return list(obj.populations)
    return [obj.grandparent if hasattr(obj, "grandparent") else obj]


#: cell type -> engine family (kernels.FAM_*: 0 LIF current, 1 LIF conductance, 2 Izhikevich
#: current, 3 Izhikevich conductance)
_FAMILY = {"IF_curr_exp": 0, "IF_curr_dual_exp": 0, "IF_curr_alpha": 0, "IF_curr_delta": 0,
           "IF_cond_exp": 1, "Izhikevich": 2, "Izhikevich_cond": 3}
_ALPHA = {"IF_curr_alpha"}
_DELTA = {"IF_curr_delta"}
#: sPyNNaker's Izhikevich threshold (threshold_type_static, 30 mV)
IZH_THRESHOLD = 30.0


def _s1615(a: np.ndarray, on: bool) -> np.ndarray:
    """A parameter as the machine holds it (DataType.S1615: nearest multiple of 2^-15)."""
    return np.rint(np.asarray(a, float) * 32768.0) / 32768.0 if on else np.asarray(a, float)


def _params(neurons: list, fixed: bool) -> tuple[dict[str, np.ndarray], dict]:
    """Engine parameters of all neurons, and the synaptic channels: ``{(receptor, kind): (tau
    per neuron, e_rev per neuron)}`` (kind "exp" or "alpha"; tau 0 = delta synapse; e_rev of
    a current-input neuron is +1 / -1, the sign the neuron applies)."""
    out: dict[str, list] = {}
    n = sum(p.size for p in neurons)

    def put(k: str, v) -> None:
        out.setdefault(k, []).append(np.broadcast_to(np.asarray(v, float), (p.size,)))

    rts = ["excitatory", "inhibitory"]
    if any(type(p.celltype).__name__ == "IF_curr_dual_exp" for p in neurons):
        rts.append("excitatory2")
    kinds = ["exp"] + (["alpha"] if any(type(p.celltype).__name__ in _ALPHA
                                        for p in neurons) else [])
    shapes = {(rt, k): (np.zeros(n), np.zeros(n)) for k in kinds for rt in rts
              if not (k == "alpha" and rt == "excitatory2")}
    off = 0
    for p in neurons:
        g = p.per_cell
        name = type(p.celltype).__name__
        fam = _FAMILY[name]
        names = p.celltype.default_parameters
        put("family", float(fam))
        if fam < 2:
            put("cm", g("cm"))
            put("g_leak", g("cm") / g("tau_m"))
            put("v_rest", _s1615(g("v_rest"), fixed))
            put("v_reset", _s1615(g("v_reset"), fixed))
            put("v_thresh", _s1615(g("v_thresh"), fixed))
            put("tau_refrac", g("tau_refrac"))
            for k in ("a", "b", "d"):
                put(k, 0.0)
        else:
            put("cm", 1.0)
            put("g_leak", 0.05)
            put("v_rest", -70.0)
            put("v_reset", _s1615(g("c"), fixed))
            put("v_thresh", IZH_THRESHOLD)
            put("tau_refrac", 0.0)
            for k in ("a", "b", "d"):
                put(k, _s1615(g(k), fixed))
        put("i_offset", _s1615(g("i_offset"), fixed))
        put("u_init", p._initial("u"))
        put("v_init", p._initial_v())
        sl = slice(off, off + p.size)
        kind = "alpha" if name in _ALPHA else "exp"
        cond = fam in (1, 3)
        for rt in rts:
            if (rt, kind) not in shapes:
                continue
            tau_name = {"excitatory": "tau_syn_E", "inhibitory": "tau_syn_I",
                        "excitatory2": "tau_syn_E2"}[rt]
            tau, erev = shapes[(rt, kind)]
            if name in _DELTA:
                tau[sl] = 0.0
            else:
                tau[sl] = g(tau_name) if tau_name in names else 5.0
            if cond:
                erev[sl] = _s1615(g("e_rev_I" if rt == "inhibitory" else "e_rev_E"), fixed)
            else:
                erev[sl] = -1.0 if rt == "inhibitory" else 1.0
        for (rt, k), (tau, erev) in shapes.items():  # unused channels of this population
            if k != kind:
                tau[sl] = 5.0
        off += p.size
    par = {k: np.concatenate(v) for k, v in out.items()} if out else {}
    return par, shapes


state = State()

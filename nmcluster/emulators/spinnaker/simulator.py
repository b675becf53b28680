"""Simulator state of the SpiNNaker emulator (``pyNN.nmcluster.spinnaker``).

At the first ``run()`` the network is partitioned (:mod:`.machine`: slices of <= 255 neurons per
core, report of cores/chips/boards), weights become 16-bit integers with one scale per target,
delays whole steps in 1..144, and the result an engine network integrated in s16.15 fixed point
(``setup(fixed_point=False)`` switches that off for comparison).  With
``$NMCLUSTER_SPINNAKER_PARTITION_ONLY=<path>`` the first ``run()`` only writes the partitioning
report to ``<path>`` and exits the script (status 0) without simulating.  One network uses one neuron
model family (LIF current, LIF conductance, Izhikevich current or conductance): the engine
integrates one family per network.
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
        self.per_type: dict[str, int] = {}
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

    def _after_run(self, duration: float) -> None:
        if self.config.real_time:
            # pace like the machine: biological time x time_scale_factor of wall time
            wall = self.last_run["emulator_s"]
            rest = duration / 1000.0 * self.config.time_scale_factor - wall
            if rest > 0:
                time.sleep(rest)

    def check_set(self) -> None:
        if self.config.strict and self.running:
            raise machine.SpinnakerConfigError(
                "SpiNNaker cannot change parameters between run() and reset() (the machine is "
                "loaded at the first run); call reset() first, or setup(strict=False) to allow "
                "it in the emulator")

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
        family = _family(neurons)
        n = sum(p.size for p in neurons)
        off = 0
        for p in neurons:
            p._engine = np.arange(off, off + p.size)
            off += p.size
        par = _params(neurons, family)
        net = Network(n, dt=self.dt, model=family, fixed_point=cfg.fixed_point)
        net.set_params(**{k: v for k, v in par.items() if k in net.params})
        cond = family.endswith("cond")
        chans = {"excitatory": net.add_channel("exp", 0, par["tau_syn_E"],
                                               par["e_rev_E"] if cond else 0.0),
                 "inhibitory": net.add_channel("exp", 1, par["tau_syn_I"],
                                               par["e_rev_I"] if cond else 0.0)}
        if any(type(p.celltype).__name__ == "IF_curr_dual_exp" for p in neurons):
            chans["excitatory2"] = net.add_channel("exp", 0, par["tau_syn_E2"], 0.0)
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
            if prj.receptor_type not in chans:
                raise machine.SpinnakerConfigError(
                    f"{prj.label}: receptor type {prj.receptor_type!r} not available here")
            sign = -1.0 if (prj.receptor_type == "inhibitory" and not cond) else 1.0
            prj._map_to_engine(net, chans[prj.receptor_type], sign)
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


def _pops(obj) -> list:
    if hasattr(obj, "populations"):
        return list(obj.populations)
    return [obj.grandparent if hasattr(obj, "grandparent") else obj]


_FAMILY = {"IF_curr_exp": "lif_curr", "IF_curr_dual_exp": "lif_curr", "IF_cond_exp": "lif_cond",
           "Izhikevich": "izh_curr", "Izhikevich_cond": "izh_cond"}


def _family(neurons: list) -> str:
    fams = {_FAMILY[type(p.celltype).__name__] for p in neurons}
    if len(fams) > 1:
        raise machine.SpinnakerConfigError(
            f"the emulator integrates one neuron model family per network; this one mixes "
            f"{sorted(fams)} ({sorted({type(p.celltype).__name__ for p in neurons})})")
    return fams.pop() if fams else "lif_curr"


def _params(neurons: list, family: str) -> dict[str, np.ndarray]:
    out: dict[str, list] = {}

    def put(k: str, v: np.ndarray) -> None:
        out.setdefault(k, []).append(np.asarray(v, float))

    for p in neurons:
        g = p.per_cell
        names = p.celltype.default_parameters
        if family.startswith("lif"):
            put("cm", g("cm"))
            put("g_leak", g("cm") / g("tau_m"))
            for k in ("v_rest", "v_reset", "v_thresh", "tau_refrac", "i_offset"):
                put(k, g(k))
        else:
            put("a", g("a"))
            put("b", g("b"))
            put("v_reset", g("c"))
            put("d", g("d"))
            put("i_offset", g("i_offset"))
            put("u_init", np.full(p.size, np.nan))
        put("v_init", p._initial_v())
        for k, default in (("tau_syn_E", 5.0), ("tau_syn_I", 5.0), ("tau_syn_E2", 5.0),
                           ("e_rev_E", 0.0), ("e_rev_I", -70.0)):
            put(k, g(k) if k in names else np.full(p.size, default))
    return {k: np.concatenate(v) for k, v in out.items()} if out else {
        k: np.zeros(0) for k in ("tau_syn_E", "tau_syn_I", "tau_syn_E2", "e_rev_E", "e_rev_I")}


state = State()

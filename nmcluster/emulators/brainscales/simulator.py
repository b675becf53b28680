"""Simulator state of the BrainScaleS wafer emulator (``pyNN.nmcluster.brainscales``).

At the first ``run()`` the network is mapped onto the allocated HICANNs (:mod:`.wafer`:
placement with ``neuron_size`` denmems per neuron, skipping denmems blacklisted by the defects or the
calibration; synapse drivers, synapse loss), parameters go through the calibration seam
(:mod:`.calibration`: the store's calibtic-like transformations, else nominal DAC values) onto the
emulated circuits' fixed pattern (:mod:`.chip`), input spikes through the ESS bandwidth model
(:mod:`.ess`), and the result becomes an AdEx :class:`nmcluster.emulators.engine.Network`
(IF_cond_exp neurons are AdEx neurons with ``a = b = delta_T = 0``, as on the wafer).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyNN.standardmodels import cells as std_cells

from nmcluster.hwdrivers.wafer import geometry
from nmcluster.hwdrivers.wafer.defects import WaferDefects

from ..common.simulator import ID, EngineState, per_cell  # noqa: F401
from ..engine import Network, Simulation
from ..engine.network import stable_order
from . import calibration
from . import ess as ess_mod
from . import ess_input
from . import wafer as wafer_mod

logger = logging.getLogger("nmcluster.emulators.brainscales")

name = "nmcluster.brainscales"
DEFAULT_SPEEDUP = 1.0e4
BLOCK_MS = 1000.0  # Poisson input is generated in seeded blocks (prefix-stable over run() calls)
EXT_BUS = 10**7  # bus ids of external spike sources start here


@dataclass(frozen=True)
class WaferEmulatorConfig:
    """Options of ``setup()`` that concern the emulated wafer."""

    seed: int = 0
    speedup: float = DEFAULT_SPEEDUP
    wafer: int = wafer_mod.DEFAULT_WAFER
    hicanns: tuple[int, ...] = ()
    mapping: wafer_mod.MappingConfig = field(default_factory=wafer_mod.MappingConfig)
    ess: ess_mod.ESSConfig = field(default_factory=ess_mod.ESSConfig)
    defects: WaferDefects | None = None
    marocco: Any = None
    provider: Any = None


class State(EngineState):
    """The emulated wafer and the PyNN bookkeeping of one ``setup()`` ... ``end()`` session."""

    config_error = wafer_mod.WaferConfigError
    logger = logger
    platform = "BrainScaleS"

    def default_config(self) -> WaferEmulatorConfig:
        return WaferEmulatorConfig()

    @property
    def speedup(self) -> float:  # type: ignore[override]
        return self.config.speedup

    def _clear_hardware(self) -> None:
        self.stats: wafer_mod.MappingStats | None = None
        self.placement: wafer_mod.Placement | None = None
        self.calibration_version: str | None = None
        self._horizon = 0.0
        self._rec_cache: tuple[int, np.ndarray] | None = None
        self.calibration_versions: dict[int, str | None] = {}
        self.told: set[str] = set()

    def tell_once(self, cause: str, msg: str, *args: Any) -> None:
        """A deviation from the request, told once per ``setup()`` session and cause (stderr
        through logging: in a job, the job log)."""
        if cause not in self.told:
            self.told.add(cause)
            logger.warning("BrainScaleS: " + msg, *args)

    def tell_marocco(self) -> None:
        """PyMarocco settings without meaning on the emulator, each told once (at ``setup()`` and,
        for settings changed later, e.g. ``hicann_configurator`` between runs, at ``run()``)."""
        m = self.config.marocco
        if m is None:
            return
        new = {k: v for k, v in m.no_effect().items() if f"marocco:{k}={v!r}" not in self.told}
        if new:
            self.told.update(f"marocco:{k}={v!r}" for k, v in new.items())
            logger.warning("PyMarocco settings without effect on the emulated wafer: %s (%s)",
                           ", ".join(f"{k}={v!r}" for k, v in new.items()), wafer_mod.NO_EFFECT)

    def mapping_only(self) -> bool:
        """``marocco.backend = PyMarocco.None``: map and route, simulate nothing (as marocco)."""
        m = self.config.marocco
        return m is not None and m.backend == wafer_mod.PyMarocco.Without

    def run_until(self, tstop: float) -> None:
        self.tell_marocco()
        if self.mapping_only():
            if self.stats is None or getattr(self, "_built_version", None) != self._structure_version:
                self.build()
                # marocco lists the populations it mapped (the guidebook's "Populations:" output)
                print("Populations:")
                for k, p in enumerate(q for q in self.populations if not q._is_source):
                    print(f"    {k}th element:      {id(p):#x}          "
                          f"Population({type(p.celltype).__name__}, {p.size})")
                logger.warning("PyMarocco backend None: the network was mapped (%d neurons), "
                               "nothing was simulated; set marocco.backend = PyMarocco.ESS or "
                               "PyMarocco.Hardware to run it", self.stats.neurons if self.stats else 0)
            self.t = tstop
            return
        if self.sim is not None and tstop > self._horizon + 1e-9 and any(
                isinstance(p.celltype, std_cells.SpikeSourcePoisson) for p in self.populations):
            self.params_dirty = True  # generate more Poisson input (same prefix)
        self._want = tstop
        super().run_until(tstop)

    def _after_run(self, duration: float) -> None:
        path = self.config.ess.pulse_statistics_file
        stats = self.pulse_statistics() if (path or "l2_up" not in self.told) else None
        if path and stats is not None:
            ess_mod.write_statistics(path, stats)
        if stats is not None and stats["l2_up_lost"]:
            self.tell_once("l2_up", "%d of %d recorded spikes were lost on the layer-2 uplink "
                           "(FPGA bandwidth) and are missing from the recordings; record fewer "
                           "neurons or lower their rates (pulse_statistics() has the counts)",
                           stats["l2_up_lost"], stats["l2_up_sent"])

    # -- mapping -------------------------------------------------------------------------------
    def defects(self) -> WaferDefects:
        if self.config.defects is not None:
            return self.config.defects
        return wafer_mod.job_defects(self.config.wafer)

    def build(self) -> tuple[Network, dict]:
        cfg = self.config
        mcfg = cfg.mapping
        neurons = [p for p in self.populations if not p._is_source]
        sources = [p for p in self.populations if p._is_source]
        provider = calibration.resolve_provider(cfg.provider)
        defects = _with_blacklists(self.defects(), calibration.blacklists(provider, cfg.wafer, cfg.hicanns))
        manual = dict(mcfg.manual)
        if cfg.marocco is not None:
            manual.update(cfg.marocco.manual_placement.placements)
        placement = wafer_mod.place(neurons, mcfg, list(cfg.hicanns), defects, manual)
        self.placement = placement
        n = placement.hicann.size
        off = 0
        for p in neurons:
            p._engine = np.arange(off, off + p.size)
            off += p.size
        params = _adex_params(neurons)
        offset = int(np.count_nonzero(params["i_offset"]))
        if offset:
            # guidebook 4.2.2: "current parameters, i.e. i_offset are not supported"
            self.tell_once("i_offset", "the wafer's neurons have no offset-current input: "
                           "i_offset != 0 of %d neuron(s) is not applied; drive them with spike "
                           "sources, or raise v_rest", offset)
            params["i_offset"] = np.zeros_like(params["i_offset"])
        params, self.calibration_version = calibration.apply(provider, cfg.wafer, placement, params)
        self.calibration_versions = calibration.versions(provider, cfg.wafer, placement)
        missing = sorted(h for h, v in self.calibration_versions.items() if v is None)
        if missing:
            self.uncalibrated(cfg.wafer, missing)
        net = Network(n, dt=self.dt, model="adex")
        net.set_params(**{k: v for k, v in params.items() if k in net.params})
        exc = net.add_channel("exp", 0, params["tau_syn_E"], params["e_rev_E"])
        inh = net.add_channel("exp", 1, params["tau_syn_I"], params["e_rev_I"])
        # external sources: buses, FPGAs, input spikes through the ESS bandwidth model
        used = sorted(set(int(h) for h in placement.hicann)) or list(cfg.hicanns[:1])
        fpgas = sorted({geometry.fpga_of_hicann(h) for h in used})
        horizon = max(BLOCK_MS, math.ceil(max(getattr(self, "_want", 0.0), self.t, 1.0)
                                          / BLOCK_MS) * BLOCK_MS)
        self._horizon = horizon
        n_src = sum(p.size for p in sources)
        src_idx = np.arange(n_src)
        src_bus = EXT_BUS + src_idx // mcfg.sources_per_bus  # per source, creation order
        src_fpga_of = (np.array(fpgas, dtype=np.int64)[(src_bus - EXT_BUS) % len(fpgas)]
                       if fpgas else np.zeros(n_src, np.int64))
        # all input events in (source, time) order: time per event, count per source
        parts = [self._source_events(p, k, horizon) for k, p in enumerate(sources)]
        if len(parts) == 1:
            t_all = parts[0][0]  # (no copy of millions of events)
        else:
            t_all = np.concatenate([x[0] for x in parts]) if parts else np.zeros(0)
        src_bounds = np.zeros(n_src + 1, dtype=np.int64)
        if parts:
            np.cumsum(np.concatenate([x[1] for x in parts]), out=src_bounds[1:])
        del parts
        bw = cfg.ess.bandwidth
        played, delivered = ess_input.playback_and_downlink_sources(t_all, src_bounds, src_fpga_of,
                                                                  bw, cfg.speedup)
        # the sources keep read-only views of one array (Network.add_spike_array takes sorted
        # read-only arrays as they are, without a copy per source)
        all_delivered = bool(delivered.all())
        if all_delivered:
            t_d, bounds = t_all, src_bounds
        else:
            t_d = t_all[delivered]
            kept = np.zeros(t_all.size + 1, dtype=np.int64)
            np.cumsum(delivered, out=kept[1:])
            bounds = kept[src_bounds]  # delivered events before each source's first
        t_d.setflags(write=False)
        gidx = 0
        for p in sources:
            p._engine = net.add_spike_array(
                [t_d[bounds[gidx + i]:bounds[gidx + i + 1]] for i in range(p.size)])
            gidx += p.size
        self.register_units()
        # synapses: collect all projections, route, account for loss
        pre_bus, pre_addr, rec, post, owner = [], [], [], [], []
        for prj in self.projections:
            m = len(prj)
            pu = self.unit_lookup[prj._pre_ids]
            is_nrn = pu < n
            b = np.zeros(m, np.int64)
            a = np.zeros(m, np.int64)
            b[is_nrn] = placement.bus[pu[is_nrn]]
            a[is_nrn] = placement.column[pu[is_nrn]]
            if (~is_nrn).any():
                su = pu[~is_nrn] - n  # sources are units n.. in creation order
                b[~is_nrn] = src_bus[su]
                a[~is_nrn] = src_idx[su]
            pre_bus.append(b)
            pre_addr.append(a)
            rec.append(np.full(m, 0 if prj.receptor_type == "excitatory" else 1))
            post.append(self.unit_lookup[prj._post_ids])
            owner.append(np.full(m, prj._index))
        cat = (lambda xs: np.concatenate(xs).astype(np.int64, copy=False) if xs
               else np.zeros(0, np.int64))
        pre_bus, pre_addr, rec, post, owner = map(cat, (pre_bus, pre_addr, rec, post, owner))
        ok = wafer_mod.route(pre_bus, pre_addr, rec, post, placement, mcfg, defects)
        stats = wafer_mod.MappingStats(synapses=int(ok.size), synapses_set=int(ok.sum()),
                                   neurons=n, populations=len(self.populations),
                                   projections=len(self.projections),
                                   hicanns_used=tuple(used), wafer=cfg.wafer)
        rng = np.random.default_rng([cfg.seed, 0xE55, self.trial])
        pos = 0
        for prj in self.projections:
            m = len(prj)
            keep = ok[pos:pos + m]
            pos += m
            w = prj._w_real.copy()
            if cfg.ess.enable_weight_distortion:
                w = ess_mod.distort(w, cfg.ess.weight_distortion, rng)
            stats.weights.put(prj._index, (prj.pre.size, prj.post.size), prj._pre, prj._post,
                              np.where(keep, w, np.nan))
            stats.lost_by_projection[prj._index] = int((~keep).sum())
            prj._map_to_engine(net, exc if prj.receptor_type == "excitatory" else inh, keep, w)
        self.stats = stats
        if cfg.marocco is not None:
            cfg.marocco.stats = stats
            if cfg.marocco.persist:
                self.persist_results(cfg.marocco.persist, neurons, placement)
        if stats.synapses_lost and not mcfg.continue_despite_synapse_loss:
            raise wafer_mod.SynapseLossError(
                f"the mapping lost {stats.synapses_lost} of {stats.synapses} synapses "
                f"({stats.synapse_loss:.1f}%): too few synapse drivers/rows for the inputs of "
                f"the neurons on HICANN(s) {list(used)[:5]} (driver_chain_length="
                f"{mcfg.driver_chain_length}, neuron_size={mcfg.neuron_size}). Use larger "
                f"neurons, more HICANNs, or setup(continue_despite_synapse_loss=True) to run "
                f"without them (see simulator.state.stats)")
        # Layer-1: neuron spikes beyond the HICANN output's bandwidth reach none of their targets
        # (a token bucket per HICANN and trial inside the engine's delivery; l1_rate = inf: off)
        if math.isfinite(bw.l1_rate) and n:
            _, link = np.unique(placement.hicann, return_inverse=True)
            net.set_spike_gate(link.reshape(-1), ess_mod.per_ms(bw.l1_rate, cfg.speedup),
                               float(bw.l1_burst))
        analog: list[tuple[str, int]] = []
        for r in sorted(self.recorders, key=lambda r: int(r.population.first_id)):
            analog.extend(r._analog_requests(len(analog)))
        net.record(spikes=True, analog=analog, every=1)
        self._built_version = self._structure_version
        self._rec_cache = None
        logger.info("BrainScaleS mapping: %d neurons on %d HICANN(s) of wafer %d; %d of %d "
                    "synapses set (%.1f%% lost)", n, len(used), cfg.wafer, stats.synapses_set,
                    stats.synapses, stats.synapse_loss)
        meta = {"src_t": t_all, "src_played": played, "src_delivered": delivered,
                "src_all_delivered": all_delivered}
        return net, meta

    def uncalibrated(self, wafer: int, hicanns: list[int]) -> None:
        """HICANNs without calibration run on nominal DAC values (neurons may fire without input,
        chains break): ``$NMCLUSTER_UNCALIBRATED`` (the site's choice, default ``warn``) says
        whether to refuse, warn or allow."""
        from ..spikey.simulator import uncalibrated_policy

        names = ", ".join(f"W{wafer}H{h}" for h in hicanns[:12]) + (" ..." if len(hicanns) > 12 else "")
        policy = uncalibrated_policy()
        if policy == "refuse":
            raise wafer_mod.WaferConfigError(
                f"{len(hicanns)} HICANN(s) without calibration ({names}) and this site refuses "
                f"uncalibrated hardware (NMCLUSTER_UNCALIBRATED=refuse); calibrate them with "
                f"`nmcluster calib run wafer --wafer {wafer} --hicann {hicanns[0]}` or place the "
                f"network on calibrated HICANNs")
        if policy == "warn":
            self.tell_once("uncalibrated", "%d HICANN(s) ran uncalibrated, on nominal DAC values "
                           "(thresholds, leak and rest potentials deviate by the circuits' fixed "
                           "pattern): %s; calibrate them (`nmcluster calib run wafer --wafer %d "
                           "--hicann H`) or use calibrated HICANNs", len(hicanns), names, wafer)

    def persist_results(self, path: str, neurons: list, placement) -> None:
        """Write the mapping results (``marocco.persist``) for ``pymarocco.results.Marocco``:
        per PyNN neuron (cell id) its HICANN, first denmem column and size; plus the statistics.
        JSON (the real marocco writes its own binary format under the same name)."""
        import json

        cells = {}
        for p in neurons:
            for k, cid in enumerate(p.all_cells):
                e = int(p._engine[k])
                cells[str(int(cid))] = [int(placement.hicann[e]), int(placement.column[e]),
                                        int(placement.size[e]), p.label, k]
        st = self.stats
        doc = {"format": "nmcluster-marocco-results-1", "wafer": int(self.config.wafer),
               "neurons": cells,
               "stats": {"synapses": st.synapses, "synapses_set": st.synapses_set,
                         "synapses_lost": st.synapses_lost, "neurons": st.neurons,
                         "populations": st.populations, "projections": st.projections,
                         "hicanns_used": list(st.hicanns_used)} if st else {}}
        with open(path, "w") as f:
            json.dump(doc, f)

    def _prepare(self, net: Network, meta: dict, trials: int, seeds: list[int]) -> Simulation:
        sim = net.prepare(trials=trials, seeds=seeds)
        for p in self.populations:
            if not p._is_source:
                w0 = p._initial("w")
                if np.any(np.isfinite(w0)):
                    sim.x[:, p._engine] = np.where(np.isfinite(w0), w0, sim.x[:, p._engine])
        return sim

    def _source_events(self, p, k: int, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        """The input events of source population ``p`` (the ``k``-th source population):
        ``(times, counts)``, ``times`` in (source, time) order (float64), ``counts`` per source.

        Poisson input is drawn in seeded blocks of ``BLOCK_MS`` (prefix-stable over ``run()``
        calls): per block one count per source, then the uniform offsets of all its events as
        one sorted array of keys ``source * BLOCK_MS + offset``.  Sorted keys fall into the
        sources' ranges in source order, so the events of source ``i`` are the ``counts[i]``
        keys after those of sources ``< i`` (no per-event ``key // BLOCK_MS``), unless a key was
        rounded up onto the next source's range start (then the same floor division as before
        decides, as it always did)."""
        if not isinstance(p.celltype, std_cells.SpikeSourcePoisson):
            trains = p.source_trains()
            counts = np.array([tr.size for tr in trains], dtype=np.int64)
            times = (np.concatenate(trains).astype(np.float64, copy=False) if trains
                     else np.zeros(0))
            return times, counts
        rate, start, stop = p.poisson_params()
        # one window for all sources (the usual case): compared as numbers, not per event
        same = p.size and bool((start == start[0]).all() and (stop == stop[0]).all())
        chunks: list[tuple[np.ndarray, np.ndarray]] = []
        for b in range(int(horizon // BLOCK_MS)):
            rng = np.random.default_rng([self.config.seed, 0x501, self.trial, k, b])
            lo = b * BLOCK_MS
            cnt = rng.poisson(rate * BLOCK_MS / 1000.0)
            # one sort of (source, time) keys instead of one sort per source; in place (the
            # same values as unit * BLOCK_MS + uniform, sorted: millions of events a block)
            key = rng.uniform(0.0, BLOCK_MS, int(cnt.sum()))
            base = np.arange(p.size) * BLOCK_MS  # (float64: int * float, exact)
            off = np.repeat(base, cnt)
            key += off
            key.sort()
            ends = np.cumsum(cnt)
            full = cnt > 0
            if bool((key[ends[full] - 1] < base[full] + BLOCK_MS).all()):
                unit = None  # source of each event: by the counts
                t = key
                t -= off
            else:  # a key rounded onto the next range's start: the floor division decides
                unit = (key // BLOCK_MS).astype(np.int64)
                t = key
                t -= unit * BLOCK_MS
                cnt = np.diff(np.searchsorted(unit, np.arange(p.size + 1)))
                # (a last key on p.size * BLOCK_MS belongs to no source: dropped, as before)
                unit, t = unit[:int(cnt.sum())], t[:int(cnt.sum())]
            del off
            if lo:  # (lo + x: the same sum; x + 0.0 is x, as x >= 0 is never -0.0)
                t += lo
            # each source's times are sorted: its first and last decide whether all are kept
            bounds = np.concatenate(([0], np.cumsum(cnt)))
            full = cnt > 0
            first, last = t[bounds[:-1][full]], t[bounds[1:][full] - 1]
            lo_ok = start[0] if same else start[full]
            hi_ok = stop[0] if same else stop[full]
            if not bool(((first >= lo_ok) & (last < hi_ok)).all()):
                if unit is None:
                    unit = np.repeat(np.arange(p.size), cnt)
                if same:
                    keep = (t >= start[0]) & (t < stop[0])
                else:
                    keep = (t >= start[unit]) & (t < stop[unit])
                unit, t = unit[keep], t[keep]
                cnt = np.bincount(unit, minlength=p.size)[:p.size]
            chunks.append((cnt, t))
        if len(chunks) == 1:  # one block: sorted by (source, time) already
            counts, times = chunks[0]
            return times, counts.astype(np.int64, copy=False)
        units = np.concatenate([np.repeat(np.arange(p.size, dtype=np.int64), c[0]) for c in chunks])
        times = np.concatenate([c[1] for c in chunks])
        # blocks are in time order: stays sorted (a stable sort's permutation is unique)
        order = stable_order(units, p.size)
        counts = np.sum([c[0] for c in chunks], axis=0).astype(np.int64)
        return times[order], counts

    # -- ESS pulse statistics ------------------------------------------------------------------
    def _recorded_units(self) -> np.ndarray:
        ids: set[int] = set()
        for r in self.recorders:
            for var, cells in r.recorded.items():
                if var.name == "spikes":
                    ids |= {int(c) for c in cells}
        return self.unit_lookup[np.array(sorted(ids), dtype=np.int64)] if ids else \
            np.zeros(0, np.int64)

    def recording_mask(self, t: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Which neuron spikes (trial 0, all of them in emission order) reach the recording."""
        assert self.sim is not None and self.placement is not None
        key = int(self.sim.spk_n[0])
        if self._rec_cache is not None and self._rec_cache[0] == key:
            return self._rec_cache[1]
        rec = np.isin(n, self._recorded_units())
        ok = np.ones(t.size, dtype=bool)
        fpga = np.array([geometry.fpga_of_hicann(int(h)) for h in self.placement.hicann],
                        dtype=np.int64)
        bw = self.config.ess.bandwidth
        if rec.any():
            ok[rec] = ess_mod.pass_links(t[rec], fpga[n[rec]], bw.l2_up_rate, bw.l2_up_burst,
                                     self.speedup)
        self._rec_cache = (key, ok)
        return ok

    def pulse_statistics(self) -> dict[str, int]:
        """The ESS pulse statistics of this trial so far (SPEC.md keys)."""
        out = dict.fromkeys(ess_mod.PULSE_KEYS, 0)
        if self.sim is None or not self._meta:
            return out
        m = self._meta
        sel = m["src_t"] < self.t
        out["l2_down_before_sim"] = int(np.count_nonzero(sel))
        if m.get("src_all_delivered"):  # (nothing dropped or lost: no masks of every event)
            out["l2_down_sent"] = out["l2_down_before_sim"]
        else:
            out["l2_down_dropped_before_sim"] = int((sel & ~m["src_played"]).sum())
            out["l2_down_sent"] = int((sel & m["src_played"]).sum())
            out["l2_down_lost"] = int((sel & m["src_played"] & ~m["src_delivered"]).sum())
        tr, t, n = self.sim.spikes()
        t, n = t[tr == 0], n[tr == 0]
        rec = np.isin(n, self._recorded_units())
        ok = self.recording_mask(t, n)
        out["l2_up_sent"] = int(rec.sum())
        out["l2_up_lost"] = int((rec & ~ok).sum())
        # every neuron spike is recorded (the gate acts after the spike), the lost ones are the
        # spikes the engine's Layer-1 gate actually withheld from their targets
        out["l1_neuron_sent"] = int(t.size)
        out["l1_neuron_lost"] = int(self.sim.lost_spikes()[0].sum())
        return out


def _with_blacklists(defects: WaferDefects, extra: dict[int, frozenset[int]]) -> WaferDefects:
    """``defects`` plus the calibration's denmem blacklists (the mapping skips both)."""
    if not extra:
        return defects
    from dataclasses import replace

    from nmcluster.hwdrivers.wafer.defects import HicannBlacklist

    lists = dict(defects.hicanns)
    for h, ids in extra.items():
        old = lists.get(h, HicannBlacklist())
        lists[h] = replace(old, denmems=old.denmems | ids)
    return replace(defects, hicanns=lists)


def _adex_params(neurons: list) -> dict[str, np.ndarray]:
    """Per-neuron AdEx parameters (engine units) for all neuron populations."""
    keys = ("cm", "g_leak", "v_rest", "v_reset", "v_thresh", "v_spike", "tau_refrac",
            "i_offset", "a", "b", "delta_T", "tau_w", "e_rev_E", "e_rev_I", "tau_syn_E",
            "tau_syn_I", "v_init")
    out: dict[str, list] = {k: [] for k in keys}
    for p in neurons:
        g = p.per_cell
        cm = g("cm")
        out["cm"].append(cm)
        out["g_leak"].append(cm / g("tau_m"))
        for k in ("v_rest", "v_reset", "v_thresh", "tau_refrac", "i_offset", "e_rev_E",
                  "e_rev_I", "tau_syn_E", "tau_syn_I"):
            out[k].append(g(k))
        if isinstance(p.celltype, std_cells.EIF_cond_exp_isfa_ista):
            out["a"].append(g("a") / 1000.0)  # nS -> µS
            out["b"].append(g("b"))
            out["delta_T"].append(g("delta_T"))
            out["tau_w"].append(g("tau_w"))
            out["v_spike"].append(g("v_spike"))
        else:
            out["a"].append(np.zeros(p.size))
            out["b"].append(np.zeros(p.size))
            out["delta_T"].append(np.zeros(p.size))
            out["tau_w"].append(np.ones(p.size))
            out["v_spike"].append(g("v_thresh"))
        out["v_init"].append(p._initial_v())
    return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in out.items()}


def config_from_env(env: dict[str, str] | None = None) -> tuple[int, tuple[int, ...]]:
    w, hs = wafer_mod.allocated_hicanns(os.environ if env is None else env)
    return w, tuple(hs)


state = State()

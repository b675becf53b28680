"""Simulator state of the Spikey emulator backend (PyNN's ``simulator.state`` pattern).

Why the mapping happens here, at ``run()``: on the real system the PyNN layer collects the whole
network and writes one chip configuration when the emulation starts.  The emulator does the same:
:meth:`State.build` turns populations and projections into a chip configuration (placement,
block-shared parameters, 4-bit weights, line drivers, noise, calibration) and that into an
:class:`nmcluster.emulators.engine.Network`; each trial (the time between ``reset()`` calls) gets
its own temporal noise.  Limits are checked as early as possible (placement at Population
creation, line drivers at Projection creation, shared parameters at run).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..common.simulator import ID, EngineState, per_cell  # noqa: F401
from ..engine import Network, Simulation
from . import calibration, chip

logger = logging.getLogger("nmcluster.emulators.spikey")

name = "nmcluster.spikey"
STATION_ENV = "MY_STAGE1_STATION"


@dataclass(frozen=True)
class SpikeyConfig:
    """Options of ``setup()`` that concern the chip."""

    station: str = "station0"
    station_no: int = 0
    strict: bool = True
    seed: int = 0
    mapping_offset: int = 0
    permutation: tuple[int, ...] | None = None
    fixed_pattern_noise: bool = True
    temporal_noise: bool = True
    noise: chip.NoiseModel = field(default_factory=chip.NoiseModel)
    switches: dict[str, bool] = field(default_factory=dict)
    provider: Any = None


class State(EngineState):
    """The emulated chip and the PyNN bookkeeping of one ``setup()`` ... ``end()`` session."""

    config_error = chip.ChipConfigError
    logger = logger
    platform = "Spikey"
    speedup = chip.SPEEDUP

    def default_config(self) -> SpikeyConfig:
        return SpikeyConfig()

    def _clear_hardware(self) -> None:
        self.layout = chip.ChipLayout(order=chip.parse_permutation(self.config.permutation),
                                      offset=self.config.mapping_offset)
        self.fixed_pattern = chip.FixedPattern.for_station(
            self.config.station_no, self.config.noise, self.config.fixed_pattern_noise)
        self.provider = calibration.resolve_provider(self.config.provider)
        self.calibration_version: str | None = None
        self.told: set[str] = set()
        self._hw_cache: tuple[tuple[int, int], np.ndarray] | None = None

    def tell_once(self, cause: str, msg: str, *args: Any) -> None:
        """A deviation from the request, told once per ``setup()`` session and cause (stderr
        through logging: in a job, the job log)."""
        if cause not in self.told:
            self.told.add(cause)
            logger.warning("Spikey: " + msg, *args)

    def uncalibrated(self, station: str) -> None:
        """The station has no calibration: ``$NMCLUSTER_UNCALIBRATED`` (the site's choice, set by
        the job runner; default ``warn``) says whether to refuse, warn or allow."""
        policy = uncalibrated_policy()
        if policy == "refuse":
            raise chip.ChipConfigError(
                f"Spikey {station} has no calibration and this site refuses uncalibrated "
                f"hardware (NMCLUSTER_UNCALIBRATED=refuse); run `nmcluster calib run spikey "
                f"--station {station.removeprefix('station')}` first")
        if policy == "warn":
            self.tell_once("uncalibrated", "%s runs uncalibrated (no calibration of it in the "
                           "store): membrane time constants, thresholds and synapse strengths "
                           "deviate by the chip's fixed-pattern noise; run `nmcluster calib run "
                           "spikey --station %s`", station, station.removeprefix("station"))

    def hw_lookup(self) -> np.ndarray:
        """Hardware neuron of every cell ID (-1 for spike sources); read-only, cached until
        the next population (placement happens once, at Population creation)."""
        key = (self.id_counter, len(self.populations))
        cached = self._hw_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        out = np.full(self.id_counter, -1, dtype=np.int64)
        for p in self.populations:
            if not p._is_source:
                out[int(p.first_id):int(p.last_id) + 1] = p._hw
        out.flags.writeable = False
        self._hw_cache = (key, out)
        return out

    # -- mapping -------------------------------------------------------------------------------
    def build(self) -> tuple[Network, dict]:
        """Map the PyNN network onto the chip and the chip onto an engine network."""
        cfg = self.config
        neurons = [p for p in self.populations if not p._is_source]
        sources = [p for p in self.populations if p._is_source]
        n = sum(p.size for p in neurons)
        hw = np.concatenate([p._hw for p in neurons]) if neurons else np.zeros(0, np.int64)
        off = 0
        for p in neurons:
            p._engine = np.arange(off, off + p.size)
            off += p.size
        cp = _chip_params(neurons, cfg.strict)
        corr = calibration.apply(self.provider.get(cfg.station_no) if cfg.station_no else
                                 self.provider.get(0), cfg.switches, hw)
        self.calibration_version = corr.version
        if corr.version is None and n:
            self.uncalibrated(cfg.station)
        fp = self.fixed_pattern
        blk = hw // chip.BLOCK_SIZE
        shared: dict[str, np.ndarray] = {}
        conflicts: dict[str, int] = {}
        for pname in chip.SHARED_PARAMS:
            chip.check_voltages(pname, cp[pname])
            vals = np.zeros(n)
            for b in range(chip.N_BLOCKS):
                sel = blk == b
                if np.any(sel):
                    vals[sel] = chip.shared_value(pname, b, cp[pname][sel], cfg.strict)
                    k = chip.shared_conflicts(cp[pname][sel])
                    if k:
                        conflicts[f"{pname} (block {b})"] = k
            shared[pname] = vals
        if conflicts:
            self.tell_once("shared", "setup(strict=False): block-shared parameters conflict; the "
                           "chip realises one value per block (the last neuron's), so %s "
                           "neuron(s) do not get theirs: %s. Use one value per block",
                           sum(conflicts.values()),
                           ", ".join(f"{k}: {v}" for k, v in conflicts.items()))
        changed = sum(getattr(prj, "_delays_changed", 0) for prj in self.projections)
        if changed:
            self.tell_once("delay", "%d synapse(s) asked for delays other than Spikey's fixed "
                           "synaptic delay; the chip realises %g ms for all of them (delays are "
                           "not configurable on Spikey)", changed, chip.INTRINSIC_DELAY)
        net = Network(n, dt=self.dt, model="lif_cond")
        v_thresh = shared["v_thresh"] + corr.v_thresh_block[blk] + fp.v_thresh[hw]
        net.set_params(
            v_rest=shared["v_rest"], v_reset=shared["v_reset"], v_thresh=v_thresh,
            g_leak=cp["g_leak"] / 1000.0 * corr.g_leak[hw] * fp.g_leak[hw], cm=chip.CM,
            tau_refrac=cp["tau_refrac"], i_offset=0.0,
            v_noise=cfg.noise.tmp_v_noise if cfg.temporal_noise else 0.0,
            v_init=cp["v_init"])
        # sources
        for p in sources:
            p._engine = p._add_to_network(net)
        self.register_units()
        # channels: one per (receptor, driver fall factor, PSC shape)
        channels: dict[tuple[str, float, str], int] = {}
        e_rev_i = shared["e_rev_I"]

        def channel(receptor: str, fall: float, kind: str) -> int:
            key = (receptor, fall, kind)
            if key not in channels:
                tau = (cp["tau_syn_E"] if receptor == "excitatory" else cp["tau_syn_I"]) / fall
                channels[key] = net.add_channel(
                    kind, 0 if receptor == "excitatory" else 1, tau,
                    chip.E_REV_E if receptor == "excitatory" else e_rev_i)
            return channels[key]

        kinds = np.array(cp["kind"])
        n_drv = chip.N_BLOCKS * chip.DRIVERS_PER_BLOCK
        self.driver_fall, self.driver_out = np.ones(n_drv), np.ones(n_drv)
        drivers = list(self.layout.drivers.values())
        if drivers:
            gid = [d.gid for d in drivers]
            self.driver_fall[gid] = [d.fall_factor for d in drivers]
            self.driver_out[gid] = [d.out_factor for d in drivers]
        from .projections import map_to_engine  # (projections imports this module)

        map_to_engine(net, self.projections, channel, kinds, corr, fp)
        # recording: every step; recorders subsample
        analog: list[tuple[str, int]] = []
        for rec in sorted(self.recorders, key=lambda r: int(r.population.first_id)):
            analog.extend(rec._analog_requests(len(analog)))
        net.record(spikes=True, analog=[(v, i) for v, i in analog], every=1)
        self._built_version = self._structure_version
        meta = {"hw": hw, "corr": corr, "analog": analog, "blk": blk}
        return net, meta

    def _prepare(self, net: Network, meta: dict, trials: int, seeds: list[int]) -> Simulation:
        """A simulation of ``trials`` trials with independent temporal noise (seeded)."""
        cfg = self.config
        overrides: dict[str, np.ndarray] = {}
        if cfg.temporal_noise and net.n:
            g = np.zeros((trials, net.n))
            th = np.zeros((trials, net.n))
            gain = np.ones((trials, net.n_synapses))
            drv = net.synapses()
            for t, s in enumerate(seeds):
                rng = np.random.default_rng([s, 0x7E3])
                g[t] = np.exp(rng.normal(0.0, cfg.noise.tmp_g_leak, net.n))
                th[t] = rng.normal(0.0, cfg.noise.tmp_v_thresh, net.n)
                dnoise = np.exp(rng.normal(0.0, cfg.noise.tmp_driver,
                                           chip.N_BLOCKS * chip.DRIVERS_PER_BLOCK))
                gain[t] = drv["gain"] * dnoise[self._syn_driver(net)]
            overrides = {"g_leak": net.params["g_leak"] * g,
                         "v_thresh": net.params["v_thresh"] + th, "gain": gain}
        return net.prepare(trials=trials, seeds=seeds, overrides=overrides)

    def _syn_driver(self, net: Network) -> np.ndarray:
        out = np.zeros(net.n_synapses, dtype=np.int64)
        for prj in self.projections:
            if prj._syn_ids.size:
                out[prj._syn_ids] = prj._syn_driver
        return out

    def run_trials(self, duration: float, trials: int, seeds: list[int] | None = None
                   ) -> Simulation:
        """Run the configured network for ``trials`` independent trials in one vectorised pass.

        Each trial has its own temporal noise and Poisson realisations (seeded by ``seeds``,
        default: the next ``trials`` trial numbers); fixed-pattern noise and calibration are the
        station's.  Returns the engine :class:`~nmcluster.emulators.engine.Simulation` (spike
        counts per trial and neuron: ``.spike_counts()``).  Does not touch PyNN recorders.
        """
        net, meta = self.build()
        if seeds is None:
            base = self.trial
            seeds = [int(np.random.SeedSequence([self.config.seed, 0x7E57, base + k])
                         .generate_state(1)[0]) for k in range(trials)]
        sim = self._prepare(net, meta, trials, list(seeds))
        t0 = time.perf_counter()
        sim.advance(duration)
        wall = time.perf_counter() - t0
        hw = trials * duration / 1000.0 / chip.SPEEDUP
        self.hardware_time += hw
        self.emulation_time += wall
        self.last_run = {"bio_ms": duration, "hardware_s": hw, "emulator_s": wall,
                         "trials": trials}
        logger.info("Spikey emulator (%s): %d trials x %.1f ms = %.3g s on the chip; emulated "
                    "in %.3g s", self.config.station, trials, duration, hw, wall)
        return sim


_CHIP_KEYS = ("g_leak", "tau_refrac", "v_rest", "v_reset", "v_thresh", "e_rev_I", "tau_syn_E",
              "tau_syn_I", "v_init")


def _chip_params(neurons: list, strict: bool) -> dict[str, Any]:
    """Per-neuron IF_facets_hardware1 parameters for all neuron populations (mapping other cell
    types onto the chip's neuron and raising where the chip cannot realise them)."""
    fast = _chip_params_uniform(neurons)
    return fast if fast is not None else _chip_params_each(neurons, strict)


def _chip_params_uniform(neurons: list) -> dict[str, Any] | None:
    """:func:`_chip_params` in one pass over all populations for the common case: no
    IF_facets_hardware1 population, every parameter stored as one float array per population
    and nothing the chip needs to warn about or refuse (else None: the per-population walk
    then gives the warnings and errors, naming the population)."""
    if not neurons:
        return None
    names = ("cm", "tau_m", "e_rev_E", "i_offset") + _CHIP_KEYS[1:8]
    cols: dict[str, list] = {k: [] for k in names}
    for p in neurons:
        if type(p.celltype).__name__ == "IF_facets_hardware1":
            return None
        par = p._parameters
        for k in names:
            v = par.get(k)
            if not (isinstance(v, np.ndarray) and v.shape == (p.size,)):
                return None
            cols[k].append(v)
    cat = {k: np.concatenate(v).astype(float, copy=False) for k, v in cols.items()}
    if np.any(np.abs(cat["cm"] - chip.CM) > 1e-9) or np.any(cat["e_rev_E"] != chip.E_REV_E) \
            or np.any(cat["i_offset"] != 0.0):
        return None
    res: dict[str, Any] = {"g_leak": 1000.0 * chip.CM / cat["tau_m"]}
    for k in _CHIP_KEYS[1:8]:
        res[k] = cat[k]
    res["v_init"] = np.concatenate([p._initial_v() for p in neurons])
    if np.any(res["g_leak"] <= 0):
        raise chip.ChipLimitError("g_leak", "g_leak must be > 0")
    kinds: list[str] = []
    for p in neurons:
        kinds += ["alpha" if type(p.celltype).__name__ == "IF_cond_alpha" else "exp"] * p.size
    res["kind"] = kinds
    return res


def _chip_params_each(neurons: list, strict: bool) -> dict[str, Any]:
    keys = ("g_leak", "tau_refrac", "v_rest", "v_reset", "v_thresh", "e_rev_I", "tau_syn_E",
            "tau_syn_I", "v_init")
    out: dict[str, list] = {k: [] for k in keys}
    kinds: list[str] = []
    for p in neurons:
        par = {k: per_cell(v, p.size) for k, v in p._parameters.items()}
        cname = type(p.celltype).__name__
        if cname == "IF_facets_hardware1":
            g_leak = par["g_leak"]
        else:
            cm, tau_m = par["cm"], par["tau_m"]
            if np.any(np.abs(cm - chip.CM) > 1e-9):
                logger.warning("%s: Spikey's membrane capacitance is fixed at %g nF (cm=%s "
                               "requested); g_leak set from tau_m, synaptic effects scale",
                               p.label, chip.CM, np.unique(cm)[:3])
            g_leak = 1000.0 * chip.CM / tau_m
            if np.any(par["e_rev_E"] != chip.E_REV_E):
                if strict:
                    raise chip.ChipLimitError(
                        "shared parameter", f"{p.label}: e_rev_E is fixed at 0 mV on Spikey "
                        f"(got {np.unique(par['e_rev_E'])[:3]})")
                logger.warning("%s: e_rev_E fixed at 0 mV on Spikey", p.label)
            if np.any(par["i_offset"] != 0.0):
                raise chip.ChipLimitError(
                    "current input", f"{p.label}: Spikey neurons have no current input "
                    "(i_offset must be 0); drive them with spike sources or v_rest above "
                    "v_thresh")
        out["g_leak"].append(g_leak)
        for k in keys[1:8]:
            out[k].append(par[k])
        out["v_init"].append(p._initial_v())
        kinds += ["alpha" if cname == "IF_cond_alpha" else "exp"] * p.size
    res: dict[str, Any] = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in out.items()}
    if np.any(res["g_leak"] <= 0):
        raise chip.ChipLimitError("g_leak", "g_leak must be > 0")
    res["kind"] = kinds
    return res


def uncalibrated_policy(env: dict[str, str] | None = None) -> str:
    """``refuse``, ``warn`` (default) or ``allow``: what to do with uncalibrated hardware."""
    v = (os.environ if env is None else env).get("NMCLUSTER_UNCALIBRATED", "warn").strip().lower()
    return v if v in ("refuse", "warn", "allow") else "warn"


def station_from_env() -> str:
    return os.environ.get(STATION_ENV, "station0")


state = State()

"""Simulator state shared by the emulator backends (PyNN's ``simulator.state`` pattern).

Why the network is built at ``run()``: on every neuromorphic system the PyNN layer collects the
whole network and configures the hardware when the experiment starts (Spikey writes a chip
configuration, the wafer's mapping tool places and routes, SpiNNaker's tool chain partitions and
loads).  :class:`EngineState` does the same: :meth:`EngineState.build` (one per backend) turns
populations and projections into an :class:`nmcluster.emulators.engine.Network`; each trial (the
time between ``reset()`` calls) is one engine :class:`~nmcluster.emulators.engine.Simulation`.
Parameter changes during a trial rebuild the network and carry the dynamic state over.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pyNN import common

from ..engine import Network, Simulation


class ID(int, common.IDMixin):
    """Cell ID (PyNN)."""

    def __init__(self, n: int) -> None:
        int.__init__(n)
        common.IDMixin.__init__(self)


class EngineState(common.control.BaseState):
    """PyNN bookkeeping of one ``setup()`` ... ``end()`` session on the shared engine.

    Subclasses set ``config`` (their setup options), ``speedup`` (hardware acceleration; 1 =
    real time), ``config_error`` (the exception class for configuration errors), ``logger``,
    ``platform`` (for log lines) and implement :meth:`build`; they may override
    :meth:`_clear_hardware`, :meth:`_prepare`, :meth:`_after_run`.
    """

    speedup: float = 1.0
    config_error: type[Exception] = RuntimeError
    logger = logging.getLogger("nmcluster.emulators")
    platform = "emulator"
    #: dynamic state carried into a simulation rebuilt during a trial
    transplant_names = ("v", "x", "g", "h", "refr", "ring", "stp_u", "stp_x", "last_spike",
                        "pre_avail", "post_avail", "acc_c", "acc_a", "rng", "pois_rng", "spk_tr",
                        "spk_step", "spk_id", "spk_n", "rec_n", "gate_tok", "gate_last",
                        "gate_lost")

    def __init__(self) -> None:
        super().__init__()
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self.min_delay: float | str = "auto"
        self.max_delay: float | str = "auto"
        self.config: Any = self.default_config()
        self.clear()

    @property
    def min_delay(self) -> float:
        """The minimum delay in ms (``"auto"``: one time step), a number as in every PyNN
        backend."""
        d = self._min_delay
        return float(self.dt) if d in ("auto", None) else float(d)

    @min_delay.setter
    def min_delay(self, value: float | str) -> None:
        self._min_delay = value

    @property
    def max_delay(self) -> float:
        """The maximum delay in ms (``"auto"``: :meth:`auto_max_delay`)."""
        d = self._max_delay
        return self.auto_max_delay() if d in ("auto", None) else float(d)

    @max_delay.setter
    def max_delay(self, value: float | str) -> None:
        self._max_delay = value

    def auto_max_delay(self) -> float:
        """Backend hook: the longest delay the hardware realises, in ms."""
        return float(self.dt) * 1000.0

    def default_config(self) -> Any:  # pragma: no cover - overridden
        return None

    # -- PyNN state protocol -------------------------------------------------------------------
    def clear(self) -> None:
        """Forget the network (new ``setup()``)."""
        self.recorders = set()
        self.populations: list = []
        self.projections: list = []
        self.id_counter = 0
        self.segment_counter = -1
        self.trial = -1
        self.hardware_time = 0.0  # s of hardware time, all runs of this session
        self.emulation_time = 0.0  # s of wall time spent in the emulator kernel
        self.last_run: dict[str, float] = {}
        self.sim: Simulation | None = None
        self.net: Network | None = None
        self._meta: dict = {}
        self._structure_version = 0
        self._built_version = -1
        self.params_dirty = True
        self.write_on_end: list = []
        self.unit_lookup = np.zeros(0, dtype=np.int64)
        self._clear_hardware()
        self.reset()

    def _clear_hardware(self) -> None:
        """Backend hook: reset hardware bookkeeping (placement, calibration ...)."""

    def reset(self) -> None:
        """Back to t = 0; the next run is a new trial."""
        self.running = False
        self.t = 0.0
        self.t_start = 0.0
        self.segment_counter += 1
        self.sim = None
        self.trial += 1
        #: spikes of recorded spike sources of this trial: list of (steps, units)
        self.source_spikes: list[tuple[np.ndarray, np.ndarray]] = []

    def structure_changed(self) -> None:
        self._structure_version += 1

    def run(self, simtime: float) -> None:
        self.run_until(self.t + simtime)

    def run_until(self, tstop: float) -> None:
        self._ensure_simulation()
        assert self.sim is not None
        duration = tstop - self.t
        t0 = time.perf_counter()
        self._rec_sources = self._recorded_source_units()
        self._advance(duration)
        wall = time.perf_counter() - t0
        self.t = self.sim.t
        self.running = True
        hw = duration / 1000.0 / self.speedup
        self.hardware_time += hw
        self.emulation_time += wall
        self.last_run = {"bio_ms": duration, "hardware_s": hw, "emulator_s": wall}
        self.logger.info("%s emulator: %.1f ms biological = %.3g s on the hardware (speed-up "
                         "%g); emulated in %.3g s", self.platform, duration, hw, self.speedup,
                         wall)
        self._after_run(duration)

    def _after_run(self, duration: float) -> None:
        """Backend hook called after every run (statistics, pacing ...)."""

    def _advance(self, duration: float) -> None:
        """Backend hook: integrate the current trial for ``duration`` ms (e.g. in pieces, with
        inputs changed between them)."""
        self._sim_advance(duration)

    def _sim_advance(self, duration: float) -> None:
        """``sim.advance(duration)``, recording the spikes of recorded spike sources."""
        sim = self.sim
        assert sim is not None
        rec = getattr(self, "_rec_sources", None)
        if rec is None or not rec.size:
            sim.advance(duration)
            return
        snap = (sim.step, sim.pois_next.copy(), sim.pois_rng.copy())
        sim.advance(duration)
        self._collect_source_spikes(rec, *snap)

    # -- recording spike sources ---------------------------------------------------------------
    def _recorded_source_units(self) -> np.ndarray:
        """Engine units of the recorded cells of spike-source populations (sorted)."""
        out = []
        for rec in self.recorders:
            pop = rec.population
            if not getattr(pop, "_is_source", False) or pop._engine is None:
                continue
            for var, ids in rec.recorded.items():
                if var.name == "spikes" and ids:
                    out.append(self.unit_lookup[np.asarray(sorted(int(i) for i in ids))])
        return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)

    def _collect_source_spikes(self, units: np.ndarray, step0: int, pois_next: np.ndarray,
                               pois_rng: np.ndarray) -> None:
        """Record the spikes the recorded sources emitted in the run that just ended, steps
        ``[step0, sim.step)`` of trial 0 (the engine records neuron spikes only).

        Spike arrays: the compiled spike steps.  Poisson sources: the run's events drawn again
        from the streams as they were before the run (each source owns its stream, so the
        draws are the very events the kernel delivered).  Times are the emission steps x dt."""
        from ..engine import kernels

        sim = self.sim
        c = sim.csr
        step1 = sim.step
        steps, ids = [], []
        for j, u in enumerate(c.arr_unit):
            if u in units:
                st = c.arr_steps[c.arr_ptr[j]:c.arr_ptr[j + 1]]
                st = st[(st >= step0) & (st < step1)]
                steps.append(st)
                ids.append(np.full(st.size, u, np.int64))
        sel = np.isin(c.pois_unit, units)
        if sel.any() and step1 > step0:
            T = sim.trials
            rate = sim.pois_rate
            with np.errstate(divide="ignore"):
                inv = np.where(rate > 0, 1.0 / np.where(rate > 0, rate, 1.0), np.inf)
            pn = pois_next.copy()
            pn[:, ~sel] = np.inf  # draw only the recorded sources
            ne, key, jj = kernels._pois_window(step0, step1, T, 0, T, sim.dt, 1.0 / sim.dt, pn,
                                               pois_rng.copy(), inv, c.pois_stop,
                                               np.empty(1024, np.int64),
                                               np.empty(1024, np.int64))
            key, jj = key[:ne], jj[:ne]
            tr = key % T
            keep = tr == 0
            steps.append(key[keep] // T + step0)
            ids.append(c.pois_unit[jj[keep]])
        if steps:
            self.source_spikes.append((np.concatenate(steps), np.concatenate(ids)))

    # -- building ------------------------------------------------------------------------------
    def build(self) -> tuple[Network, dict]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _prepare(self, net: Network, meta: dict, trials: int, seeds: list[int]) -> Simulation:
        return net.prepare(trials=trials, seeds=seeds)

    def _trial_seed(self) -> int:
        seed = int(getattr(self.config, "seed", 0))
        return int(np.random.SeedSequence([seed, 0x7E57, self.trial]).generate_state(1)[0])

    def _ensure_simulation(self) -> None:
        if self.sim is None:
            self.net, meta = self.build()
            self.sim = self._prepare(self.net, meta, trials=1, seeds=[self._trial_seed()])
            self._meta = meta
            self.params_dirty = False
            return
        if self._built_version != self._structure_version:
            raise self.config_error(
                "the network structure (populations, projections or recorded variables) changed "
                "after run(); the hardware is configured at the start of a trial, so call "
                "reset() before changing it")
        if self.params_dirty:
            old = self.sim
            self.net, meta = self.build()
            new = self._prepare(self.net, meta, trials=1, seeds=[self._trial_seed()])
            # weights set by the user win over weights learnt so far (STDP) in this trial
            new._weights_set = any(getattr(p, "_weights_changed", False)
                                   for p in self.projections)
            for p in self.projections:
                p._weights_changed = False
            self.transplant(old, new)
            self.sim, self._meta = new, meta
            self.params_dirty = False

    def register_units(self) -> None:
        """Fill :attr:`unit_lookup` (cell ID -> engine unit) from the populations' ``_engine``."""
        self.unit_lookup = np.full(self.id_counter, -1, dtype=np.int64)
        for p in self.populations:
            if p._engine is not None:
                self.unit_lookup[int(p.first_id):int(p.last_id) + 1] = p._engine

    def transplant(self, old: Simulation, new: Simulation) -> None:
        """Carry the dynamic state of a running trial into a simulation rebuilt after ``set()``."""
        for name in self.transplant_names:
            a, b = getattr(old, name), getattr(new, name)
            if a.shape != b.shape and name not in ("spk_tr", "spk_step", "spk_id"):
                if name in _SYNAPSE_STATE and 0 in (a.shape[1], b.shape[1]):
                    # per-synapse STP/STDP state is kept only when some synapse has STP or a
                    # rule (engine.network.Simulation): one side without any keeps its own
                    # (fresh state where the old run had none, or none needed any more)
                    continue
                raise self.config_error("network changed shape during a trial; call reset()")
            setattr(new, name, a)
        if old.pois_next.shape == new.pois_next.shape:
            # a source keeps its pending event unless its rate or window changed (set() between
            # runs): then its next event is drawn afresh from now (the process is memoryless),
            # from its own stream, so no event falls into the past
            c_old, c_new = old.csr, new.csr
            changed = (old.pois_rate != new.pois_rate) | (
                c_old.pois_start != c_new.pois_start)[None, :] | (
                c_old.pois_stop != c_new.pois_stop)[None, :]
            keep = np.where(np.isfinite(old.pois_next), old.pois_next, new.pois_next)
            if changed.any():
                from ..engine.network import _splitmix_next

                st = new.pois_rng.copy()
                u = ((_splitmix_next(st) >> np.uint64(11)).astype(float) + 1.0) / 2.0**53
                new.pois_rng = np.where(changed, st, new.pois_rng)
                t0 = np.maximum(old.step * old.dt, c_new.pois_start[None, :])
                with np.errstate(divide="ignore"):
                    t = t0 - np.log(u) / new.pois_rate
                fresh = np.where((new.pois_rate > 0) & (t < c_new.pois_stop[None, :]), t, np.inf)
                keep = np.where(changed, fresh, keep)
            new.pois_next = keep
        c = new.csr
        cur = np.empty_like(new.arr_cur)
        for j in range(c.arr_unit.size):
            seg = c.arr_steps[c.arr_ptr[j]:c.arr_ptr[j + 1]]
            cur[:, j] = c.arr_ptr[j] + np.searchsorted(seg, old.step, side="left")
        new.arr_cur = cur
        new.step = old.step
        new.rec_chunks = old.rec_chunks
        plastic = c.syn_rule > 0
        if plastic.any() and old.w.shape == new.w.shape and not getattr(new, "_weights_set",
                                                                          False):
            new.w[:, plastic] = old.w[:, plastic]


#: per-synapse state arrays of a Simulation, (T, 0) when no synapse has STP or a rule
_SYNAPSE_STATE = frozenset(("stp_u", "stp_x", "pre_avail", "post_avail", "acc_c", "acc_a"))


def per_cell(value: Any, n: int) -> np.ndarray:
    """A parameter value (scalar or array) as one float per cell."""
    a = np.asarray(value, dtype=float)
    if a.shape == (n,):
        return a
    return np.full(n, float(a)) if a.ndim == 0 else np.broadcast_to(a, (n,))

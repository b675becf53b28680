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

    def structure_changed(self) -> None:
        self._structure_version += 1

    def run(self, simtime: float) -> None:
        self.run_until(self.t + simtime)

    def run_until(self, tstop: float) -> None:
        self._ensure_simulation()
        assert self.sim is not None
        duration = tstop - self.t
        t0 = time.perf_counter()
        self.sim.advance(duration)
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
                raise self.config_error("network changed shape during a trial; call reset()")
            setattr(new, name, a)
        new.pois_next = np.where(np.isfinite(old.pois_next), old.pois_next, new.pois_next) \
            if old.pois_next.shape == new.pois_next.shape else new.pois_next
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


def per_cell(value: Any, n: int) -> np.ndarray:
    """A parameter value (scalar or array) as one float per cell."""
    a = np.asarray(value, dtype=float)
    if a.shape == (n,):
        return a
    return np.full(n, float(a)) if a.ndim == 0 else np.broadcast_to(a, (n,))

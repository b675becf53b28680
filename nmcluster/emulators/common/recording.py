"""Recorder base of the emulator backends (on ``pyNN.recording.Recorder``).

Spikes of all neurons are recorded by the engine; analog variables (``v``, ``gsyn_exc``,
``gsyn_inh`` and the second state variable ``w`` / ``u``) only for the requested cells, sampled
every step and subsampled to the recorder's interval.  Backends hook in with
:meth:`BaseRecorder._check_record` (hardware observation limits),
:meth:`BaseRecorder._adjust_signal` (readout offsets) and :meth:`BaseRecorder._spike_filter`
(recording losses).
"""

from __future__ import annotations

import numpy as np
from pyNN import recording


class BaseRecorder(recording.Recorder):

    def __init__(self, population, file=None) -> None:
        super().__init__(population, file)
        self._cols: dict[tuple[str, int], int] = {}
        self._clear_step = 0

    def _record(self, variable, new_ids, sampling_interval=None) -> None:
        state = self._simulator.state
        if sampling_interval is not None:
            self.sampling_interval = sampling_interval
        if variable.name == "spikes":
            return
        try:
            self._check_record(variable, new_ids)
        except Exception:
            # PyNN added the IDs before calling us: undo, so the failed request leaves no trace
            self.recorded[variable] = self.recorded[variable].difference(new_ids)
            raise
        state.structure_changed()

    def _check_record(self, variable, new_ids) -> None:
        """Backend hook: raise if the hardware cannot observe this."""

    def analog_ids(self) -> set[int]:
        """All cell IDs with an analog variable recorded (all recorders of the session)."""
        out: set[int] = set()
        for rec in self._simulator.state.recorders:
            for var, ids in rec.recorded.items():
                if var.name != "spikes":
                    out |= {int(i) for i in ids}
        return out

    def _analog_requests(self, offset: int) -> list[tuple[str, int]]:
        """(variable, engine neuron) pairs this recorder needs; remembers their columns."""
        out = []
        self._cols = {}
        lookup = self._simulator.state.unit_lookup
        for var, ids in sorted(self.recorded.items(), key=lambda kv: kv[0].name):
            if var.name == "spikes":
                continue
            for i in sorted(int(x) for x in ids):
                self._cols[(var.name, i)] = offset + len(out)
                out.append((var.name, int(lookup[i])))
        return out

    def _stride(self) -> int:
        return max(1, int(round(self.sampling_interval / self._simulator.state.dt)))

    def _spike_filter(self, t: np.ndarray, n: np.ndarray) -> np.ndarray | None:
        """Backend hook: boolean mask of the spikes that reach the recording (None: all)."""
        return None

    def _get_spiketimes(self, ids, clear=False):
        state = self._simulator.state
        sim = state.sim
        out: dict[int, np.ndarray] = {}
        if sim is None:
            return {int(i): np.zeros(0) for i in ids}
        tr, t, n = sim.spikes()
        sel = (tr == 0) & (t > self._clear_step * state.dt + 1e-9)
        keep = self._spike_filter(t, n)
        if keep is not None:
            sel &= keep
        t, n = t[sel], n[sel]
        order = np.argsort(n, kind="stable")
        t, n = t[order], n[order]
        ids = list(ids)
        units = state.unit_lookup[np.asarray(ids, dtype=np.int64)] if ids else np.zeros(0, int)
        lo = np.searchsorted(n, units, side="left")
        hi = np.searchsorted(n, units, side="right")
        for i, a, b in zip(ids, lo, hi):
            out[int(i)] = np.sort(t[a:b])
        if state.source_spikes and ids:
            # recorded spike sources (the engine records neuron spikes only; see
            # EngineState._collect_source_spikes): emission step x dt
            s_step = np.concatenate([s for s, _ in state.source_spikes])
            s_unit = np.concatenate([u for _, u in state.source_spikes])
            s_step, s_unit = s_step[s_step >= self._clear_step], s_unit[s_step >= self._clear_step]
            for i, u in zip(ids, units):
                if u >= sim.net.n:
                    out[int(i)] = np.sort(s_step[s_unit == u] * state.dt)
        return out

    def _adjust_signal(self, variable, ids, arr: np.ndarray) -> np.ndarray:
        """Backend hook: readout effects on a recorded analog signal."""
        return arr

    def _get_all_signals(self, variable, ids, clear=False):
        state = self._simulator.state
        sim = state.sim
        ids = list(ids)
        if sim is None or not ids:
            return np.zeros((0, len(ids))), None
        data = sim.analog()[0]
        cols = [self._cols[(variable.name, int(i))] for i in ids]
        arr = data[self._clear_step::self._stride(), cols].copy()
        return self._adjust_signal(variable, ids, arr), None

    def _local_count(self, variable, filter_ids=None):
        spikes = self._get_spiketimes(sorted(self.filter_recorded(variable, filter_ids)))
        return {i: int(t.size) for i, t in spikes.items()}

    def _clear_simulator(self) -> None:
        sim = self._simulator.state.sim
        self._clear_step = sim.step if sim is not None else 0

    def _reset(self) -> None:
        self._clear_step = 0

    def store_to_cache(self, annotations=None) -> None:
        super().store_to_cache(annotations)
        self._clear_step = 0

"""Recorder base of the emulator backends (on ``pyNN.recording.Recorder``).

Spikes of all neurons are recorded by the engine; analog variables (``v``, ``gsyn_exc``,
``gsyn_inh`` and the second state variable ``w`` / ``u``) only for the requested cells, sampled
every step and subsampled to the recorder's interval.  Backends hook in with
:meth:`BaseRecorder._check_record` (hardware observation limits),
:meth:`BaseRecorder._adjust_signal` (readout offsets) and :meth:`BaseRecorder._spike_filter`
(recording losses).
"""

from __future__ import annotations

from warnings import warn

import numpy as np
from pyNN import recording


def _like(first, times: np.ndarray, annotations: dict):  # -> neo.SpikeTrain | None
    """A SpikeTrain equal to ``neo.SpikeTrain(times * ms, t_start, t_stop, units, **annotations)``
    (``times``: float64 ms)
    with ``first``'s ``t_start``, ``t_stop``, units and sampling rate (made by that very
    constructor, in the same units and dtype; the times within [t_start, t_stop] checked by
    the caller), without the constructor's unit checks: quantities parses a unit's name
    with ``ast`` at every comparison of two dimensionalities, and neo's constructor makes
    several, ~70 µs a train (0.3 s of a 4000-neuron network's read-out).  The attributes are
    the constructor's (neo/core/spiketrain.py ``SpikeTrain.__new__`` and ``__init__``,
    neo/core/baseneo.py ``BaseNeo.__init__``), each train with its own ``t_start``, ``t_stop``,
    dimensionality, annotations and array annotations; tests compare them with neo's own."""
    import neo
    from neo.core.dataobject import ArrayDict

    train = times.view(neo.SpikeTrain)
    own = {
        "_dimensionality": first._dimensionality.copy(),
        "t_start": first.t_start.copy(),
        "t_stop": first.t_stop.copy(),
        "waveforms": None,
        "left_sweep": None,
        "sampling_rate": first.sampling_rate,  # neo's default object, shared as in neo
        "segment": None,
        "unit": None,
        "annotations": annotations,
        "array_annotations": ArrayDict(train.shape[0]),
        "name": None,
        "file_origin": None,
        "description": None,
    }
    if own.keys() != first.__dict__.keys():
        return None  # another neo: its constructor
    train.__dict__.clear()
    train.__dict__.update({k: own[k] for k in first.__dict__})
    return train


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
        ids = list(ids)
        units = state.unit_lookup[np.asarray(ids, dtype=np.int64)] if ids else np.zeros(0, int)
        since = self._clear_step * state.dt + 1e-9
        if type(self)._spike_filter is BaseRecorder._spike_filter:
            # no recording losses: only this recorder's spikes, read in place from the engine's
            # buffers (sim.spikes() copies all three arrays of every spike of the network)
            count = int(sim.spk_n[0])
            nid = sim.spk_id[:count]
            sel = sim.spk_tr[:count] == 0
            if units.size:
                sel &= (nid >= units.min()) & (nid <= units.max())
            idx = np.nonzero(sel)[0]
            del sel
            t = (sim.spk_step[idx] + 1) * sim.dt  # as Simulation.spikes()
            n = nid[idx]
            del idx
            late = t > since
            t, n = t[late], n[late]
        else:
            tr, t, n = sim.spikes()
            sel = (tr == 0) & (t > since)
            keep = self._spike_filter(t, n)
            if keep is not None:
                sel &= keep
            t, n = t[sel], n[sel]
        # one sort by (unit, time) instead of a sort per neuron: each slice is then sorted
        order = np.lexsort((t, n))
        t, n = t[order], n[order]
        del order
        lo = np.searchsorted(n, units, side="left")
        hi = np.searchsorted(n, units, side="right")
        for i, a, b in zip(ids, lo.tolist(), hi.tolist()):
            out[int(i)] = t[a:b]
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

    def _get_current_segment(self, filter_ids=None, variables="all", clear=False):
        """PyNN's segment, with the spike trains made in one pass: PyNN appends each train to
        the segment's list, which scans the whole list for a duplicate and re-links every train
        after each append (quadratic in the number of neurons: ~0.7 s of a 4000-neuron network's
        ``get_data``), and gives each train its units as a string that quantities parses again.
        The trains are the ones PyNN makes (same times, t_start/t_stop, units, annotations and
        ``segment`` link; pyNN/recording/__init__.py, ``Recorder._get_current_segment``, the
        branch for spike data returned as a dict); other variables go through PyNN unchanged."""
        import neo
        import quantities as pq
        from neo.core.spiketrainlist import SpikeTrainList

        spikes_var = recording.Variable(name="spikes", location=None, label=None)
        wanted = set(self.recorded.keys())
        if variables != "all":
            wanted &= set(variables)
        if spikes_var not in wanted:
            return super()._get_current_segment(filter_ids, variables, clear)
        others = [v for v in wanted if v != spikes_var]
        segment = super()._get_current_segment(filter_ids, others, clear)
        t_stop = self._simulator.state.t * pq.ms
        sids = sorted(self.filter_recorded(spikes_var, filter_ids))
        data = self._get_spiketimes(sids, clear=clear)
        t_start = self._recording_start_time
        label = self.population.label
        trains = []
        # the first train through neo's constructor (its checks, its attributes); the others
        # as copies of its attribute set around their own times (see _like)
        first = None
        stop_ms = float(t_stop.magnitude)  # (times and t_stop in ms: compared as numbers)
        for id in sids:
            times = np.asarray(data.get(int(id), []), dtype=float)
            if times.size > 0 and times.max() > stop_ms:
                warn("Recorded at least one spike after t_stop")
                times = times[times <= stop_ms]
            notes = {"source_population": label, "channel_id": int(id),
                     "source_index": self.population.id_to_index(int(id))}
            if first is not None and (not times.size or
                                      times.min() >= float(first.t_start.magnitude)):
                train = _like(first, times, notes)
                if train is not None:
                    trains.append(train)
                    continue
            train = neo.SpikeTrain(pq.Quantity(times, pq.ms), t_start=t_start, t_stop=t_stop,
                                   units=pq.ms, **notes)
            first = first if first is not None else train
            trains.append(train)
        segment.spiketrains = SpikeTrainList(items=trains, parent=segment)
        for train in trains:
            train.segment = segment
        return segment

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

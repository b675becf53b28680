"""Recorder of the Spikey emulator backend (on ``pyNN.recording.Recorder``).

The chip records spikes of all neurons but routes the membrane of only one neuron to its analog
readout; the recorder enforces that in strict mode (``setup(strict=False)`` relaxes it, the only
limits it relaxes).  Conductances are not observable on the chip; the emulator offers them under
the same one-neuron rule.  Recorded membranes carry the readout (output-pin) offset of the
station unless the calibration removes it.
"""

from __future__ import annotations

import numpy as np
from pyNN import recording

from . import chip, simulator


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None) -> None:
        super().__init__(population, file)
        self._cols: dict[tuple[str, int], int] = {}
        self._clear_step = 0

    def _record(self, variable, new_ids, sampling_interval=None) -> None:
        state = simulator.state
        if sampling_interval is not None:
            self.sampling_interval = sampling_interval
        if variable.name == "spikes":
            return
        analog_ids = set()
        for rec in state.recorders:
            for var, ids in rec.recorded.items():
                if var.name != "spikes":
                    analog_ids |= {int(i) for i in ids}
        if state.config.strict:
            try:
                self._check_readout(analog_ids)
            except chip.ChipLimitError:
                # PyNN added the IDs before calling us: undo, so the failed request leaves no trace
                self.recorded[variable] = self.recorded[variable].difference(new_ids)
                raise
        state.structure_changed()

    @staticmethod
    def _check_readout(analog_ids: set[int]) -> None:
        state = simulator.state
        if len(analog_ids) > 1:
            raise chip.ChipLimitError(
                "membrane recording",
                f"the chip can record the membrane (analog) of one neuron at a time; "
                f"{len(analog_ids)} requested (IDs {sorted(analog_ids)[:5]}...). Record "
                f"spikes of all neurons, or use setup(strict=False) to record more")
        hw = state.hw_lookup()
        for i in analog_ids:
            if hw[i] not in chip.MEMBRANE_READOUT:
                raise chip.ChipLimitError(
                    "membrane recording",
                    f"ID {i} sits on hardware neuron {hw[i]}; only neurons "
                    f"{chip.MEMBRANE_READOUT.start}..{chip.MEMBRANE_READOUT.stop - 1} reach "
                    f"the analog readout (use neuronPermutation / mappingOffset)")

    def _analog_requests(self, offset: int) -> list[tuple[str, int]]:
        """(variable, engine neuron) pairs this recorder needs; remembers their columns."""
        out = []
        self._cols = {}
        for var, ids in sorted(self.recorded.items(), key=lambda kv: kv[0].name):
            if var.name == "spikes":
                continue
            for i in sorted(int(x) for x in ids):
                self._cols[(var.name, i)] = offset + len(out)
                out.append((var.name, int(simulator.state.unit_lookup[i])))
        return out

    def _stride(self) -> int:
        return max(1, int(round(self.sampling_interval / simulator.state.dt)))

    def _get_spiketimes(self, ids, clear=False):
        state = simulator.state
        sim = state.sim
        out: dict[int, np.ndarray] = {}
        if sim is None:
            return {int(i): np.zeros(0) for i in ids}
        tr, t, n = sim.spikes()
        sel = (tr == 0) & (t > self._clear_step * state.dt + 1e-9)
        t, n = t[sel], n[sel]
        for i in ids:
            u = state.unit_lookup[int(i)]
            out[int(i)] = np.sort(t[n == u])
        return out

    def _get_all_signals(self, variable, ids, clear=False):
        state = simulator.state
        sim = state.sim
        ids = list(ids)
        if sim is None or not ids:
            return np.zeros((0, len(ids))), None
        data = sim.analog()[0]
        cols = [self._cols[(variable.name, int(i))] for i in ids]
        arr = data[self._clear_step::self._stride(), cols].copy()
        if variable.name == "v":
            hw = state.hw_lookup()[np.asarray(ids, dtype=np.int64)]
            meta = state._meta
            arr += state.fixed_pattern.readout[hw] - meta["corr"].readout[hw]
        return arr, None

    def _local_count(self, variable, filter_ids=None):
        spikes = self._get_spiketimes(sorted(self.filter_recorded(variable, filter_ids)))
        return {i: int(t.size) for i, t in spikes.items()}

    def _clear_simulator(self) -> None:
        sim = simulator.state.sim
        self._clear_step = sim.step if sim is not None else 0

    def _reset(self) -> None:
        self._clear_step = 0

    def store_to_cache(self, annotations=None) -> None:
        super().store_to_cache(annotations)
        self._clear_step = 0

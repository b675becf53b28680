"""Recorder of the Spikey emulator backend (on the shared
:mod:`nmcluster.emulators.common.recording`).

The chip records spikes of all neurons but routes the membrane of only one neuron to its analog
readout; the recorder enforces that in strict mode (``setup(strict=False)`` relaxes it, the only
limits it relaxes).  Conductances are not observable on the chip; the emulator offers them under
the same one-neuron rule.  Recorded membranes carry the readout (output-pin) offset of the
station unless the calibration removes it.
"""

from __future__ import annotations

import numpy as np

from ..common.recording import BaseRecorder
from . import chip, simulator


class Recorder(BaseRecorder):
    _simulator = simulator

    def _check_record(self, variable, new_ids) -> None:
        if simulator.state.config.strict:
            self._check_readout(self.analog_ids())

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

    def _adjust_signal(self, variable, ids, arr: np.ndarray) -> np.ndarray:
        if variable.name == "v":
            state = simulator.state
            hw = state.hw_lookup()[np.asarray(ids, dtype=np.int64)]
            arr = arr + state.fixed_pattern.readout[hw] - state._meta["corr"].readout[hw]
        return arr

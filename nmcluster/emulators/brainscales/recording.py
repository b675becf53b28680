"""Recorder of the BrainScaleS wafer emulator: spikes lost on the Layer-2 uplink (ESS bandwidth
model, :mod:`.ess`) are missing from the recorded data, as on the ESS."""

from __future__ import annotations

from ..common.recording import BaseRecorder
from . import simulator


class Recorder(BaseRecorder):
    _simulator = simulator

    def _spike_filter(self, t, n):
        return simulator.state.recording_mask(t, n)

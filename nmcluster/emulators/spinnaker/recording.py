"""Recorder of the SpiNNaker emulator (spikes of all neurons, analog variables of the
requested ones; ``u`` is the Izhikevich recovery variable)."""

from __future__ import annotations

from ..common.recording import BaseRecorder
from . import simulator


class Recorder(BaseRecorder):
    _simulator = simulator

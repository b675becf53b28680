"""Recorder of the SpiNNaker emulator (spikes of all neurons, analog variables of the
requested ones; ``u`` is the Izhikevich recovery variable)."""

from __future__ import annotations

import logging

from ..common.recording import BaseRecorder
from . import simulator

logger = logging.getLogger("nmcluster.emulators.spinnaker")


class Recorder(BaseRecorder):
    _simulator = simulator

    def _check_record(self, variable, new_ids) -> None:
        # sPyNNaker (spynnaker/pyNN/models/recorder.py): gsyn of a current-input model is
        # recorded as its synaptic current, with a warning
        if variable.name in ("gsyn_exc", "gsyn_inh") and not getattr(
                self.population.celltype, "conductance_based", False):
            kind = "excitatory" if variable.name == "gsyn_exc" else "inhibitory"
            logger.warning("You are trying to record the %s conductance from a model which "
                           "does not use conductance input. You will receive current "
                           "measurements instead.", kind)

"""Population, PopulationView and Assembly of the Spikey emulator backend (on the shared
:mod:`nmcluster.emulators.common.populations`).

Neurons are placed on hardware neurons when the Population is created (so exceeding the chip's
384 neurons fails at once, naming the limit); parameters are kept as requested and realised on
the chip at ``run()``.
"""

from __future__ import annotations

import numpy as np
from pyNN import common

from ..common.populations import BasePopulation, BasePopulationView
from . import simulator
from .recording import Recorder


class Assembly(common.Assembly):
    _simulator = simulator


class PopulationView(BasePopulationView):
    _assembly_class = Assembly
    _simulator = simulator


class Population(BasePopulation):
    __doc__ = BasePopulation.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly
    _view_class = PopulationView

    def _place(self):
        return simulator.state.layout.place(self.size)

    @property
    def hardware_neurons(self) -> np.ndarray | None:
        """Hardware neuron (0..383) of each cell; ``None`` for spike sources."""
        return None if self._hw is None else self._hw.copy()

"""Population, PopulationView and Assembly of the BrainScaleS wafer emulator."""

from __future__ import annotations

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

    @property
    def hicanns(self):
        """HICANN (0..383) of each cell after mapping (``None`` before ``run()`` / for
        sources)."""
        pl = simulator.state.placement
        if self._is_source or pl is None or self._engine is None:
            return None
        return pl.hicann[self._engine].copy()

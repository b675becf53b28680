"""Population, PopulationView and Assembly of the SpiNNaker emulator (with the tool chain's
partitioner constraints)."""

from __future__ import annotations

from pyNN import common

from ..common.populations import BasePopulation, BasePopulationView
from . import machine, simulator
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
    _max_atoms = machine.MAX_NEURONS_PER_CORE

    def _check_set(self) -> None:
        simulator.state.check_set()

    def add_constraint(self, constraint) -> None:
        """``PartitionerMaximumSizeConstraint(n)``: at most ``n`` neurons of this population
        per core."""
        if not isinstance(constraint, machine.PartitionerMaximumSizeConstraint):
            raise machine.SpinnakerConfigError(
                f"unsupported constraint {type(constraint).__name__}")
        self.set_max_atoms_per_core(constraint.size)

    def set_max_atoms_per_core(self, n: int) -> None:
        if int(n) != n or n < 1:
            raise machine.SpinnakerConfigError("neurons per core must be >= 1")
        self._max_atoms = min(int(n), machine.MAX_NEURONS_PER_CORE)
        simulator.state.structure_changed()

"""Population, PopulationView and Assembly of the SpiNNaker emulator (with the tool chain's
partitioner constraints)."""

from __future__ import annotations

import logging

import numpy as np
from pyNN import common

from ..common.populations import BasePopulation, BasePopulationView
from . import machine, simulator
from .recording import Recorder

logger = logging.getLogger("nmcluster.emulators.spinnaker")


class Assembly(common.Assembly):
    _simulator = simulator


class PopulationView(BasePopulationView):
    _assembly_class = Assembly
    _simulator = simulator


class Population(BasePopulation):
    __doc__ = BasePopulation.__doc__ + """
    SpiNNaker: as sPyNNaker's Population (spynnaker/pyNN/models/populations/population.py) it
    also takes ``additional_parameters`` (a dict) and extra keyword arguments for the machine
    vertex: ``seed`` (of a Poisson source), ``max_rate``, ``splitter``, ``n_colour_bits``,
    ``neurons_per_core`` ...; ``neurons_per_core`` limits its neurons per core, the rest
    are accepted and concern placement only (the emulator's random streams derive from
    ``setup(seed=...)``).
    """
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly
    _view_class = PopulationView
    _max_atoms = machine.MAX_NEURONS_PER_CORE

    def __init__(self, size, cellclass, cellparams=None, structure=None, initial_values={},
                 label=None, additional_parameters=None, **additional_kwargs) -> None:
        extra = dict(additional_parameters or {})
        extra.update(additional_kwargs)
        self._additional = extra
        super().__init__(size, cellclass, cellparams, structure, initial_values, label)
        self._type_limit = simulator.state.per_type.get(type(self.celltype).__name__,
                                                        machine.MAX_NEURONS_PER_CORE)
        for key in ("neurons_per_core", "max_atoms_per_core"):
            if extra.get(key) is not None:
                self.set_max_atoms_per_core(extra[key])

    def _add_to_network(self, net):
        from .extra_models import SpikeSourcePoissonVariable

        if isinstance(self.celltype, SpikeSourcePoissonVariable):
            # rates switched by the run loop (State._advance) at the schedule's steps
            return net.add_poisson(np.zeros(self.size))
        return super()._add_to_network(net)

    def _check_set(self) -> None:
        simulator.state.check_set()

    def add_constraint(self, constraint) -> None:
        """``PartitionerMaximumSizeConstraint(n)``: at most ``n`` neurons of this population
        per core."""
        if not isinstance(constraint, machine.PartitionerMaximumSizeConstraint):
            raise machine.SpinnakerConfigError(
                f"unsupported constraint {type(constraint).__name__}")
        self.set_max_atoms_per_core(constraint.size)

    def set_max_atoms_per_core(self, n) -> None:
        """At most ``n`` neurons of this population per core (a tuple: their product)."""
        if not np.isscalar(n):
            n = int(np.prod(n))
        self._max_atoms = machine.check_max_atoms(type(self.celltype).__name__, n)
        simulator.state.structure_changed()

    # -- sPyNNaker's non-PyNN Population methods (spynnaker/pyNN/models/populations/
    # population.py), with its warnings
    def spinnaker_get_data(self, variable: str, as_matrix: bool = False,
                           view_indexes=None) -> np.ndarray:
        """The recorded ``variable`` as sPyNNaker's numpy rows: ``[id, time]`` for spikes,
        ``[id, time, value]`` for a signal (``as_matrix``: time x neuron)."""
        from . import neo_convertor

        logger.warning("spinnaker_get_data is non-standard PyNN and therefore will not be "
                       "portable to other simulators.")
        data = self.get_data(variable)
        if variable == "spikes":
            rows = neo_convertor.convert_spikes(data)
        else:
            sig = data.segments[0].filter(name=variable)[0]
            if as_matrix:
                m = np.asarray(sig.magnitude)
                return m if view_indexes is None else m[:, list(view_indexes)]
            rows = neo_convertor.convert_analog_signal(sig)
        if view_indexes is not None and rows.size:
            rows = rows[np.isin(rows[:, 0], list(view_indexes))]
        return rows

    def set_state(self, **kwargs) -> None:
        """Current values of state variables (``v``, ``u``), now (sPyNNaker's set_state)."""
        logger.warning("set_state is non-standard PyNN and therefore will not be portable to "
                       "other simulators.")
        self.initialize(**kwargs)

    def add_placement_constraint(self, x: int, y: int, p: int | None = None) -> None:
        """Placement on chip (x, y), core p: recorded; the emulator has no placement."""
        self._placement = (int(x), int(y), None if p is None else int(p))

    def get_max_atoms_per_core(self) -> int:
        return int(min(self._max_atoms, self._type_limit or machine.MAX_NEURONS_PER_CORE))

"""Population, PopulationView and Assembly of the Spikey emulator backend (on ``pyNN.common``).

Neurons are placed on hardware neurons when the Population is created (so exceeding the chip's
384 neurons fails at once, naming the limit); parameters are kept as requested and realised on
the chip at ``run()``.
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, Sequence, simplify
from pyNN.standardmodels import StandardCellType

from . import simulator
from .recording import Recorder
from .standardmodels import SpikeSourceArray, SpikeSourcePoisson

_SOURCES = (SpikeSourcePoisson, SpikeSourceArray)


class Assembly(common.Assembly):
    _simulator = simulator


def _native_names(celltype, names):
    if isinstance(celltype, StandardCellType):
        if any(n in celltype.computed_parameters() for n in names):
            return celltype.get_native_names()
        return celltype.get_native_names(*names)
    return names


class PopulationView(common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    def _get_parameters(self, *names):
        native = self._get_native_parameters(*_native_names(self.celltype, names))
        return self.celltype.reverse_translate(native)

    def _get_native_parameters(self, *names):
        out = {}
        for name in names:
            value = self.parent._parameters[name]
            if isinstance(value, np.ndarray):
                value = value[self.mask]
            out[name] = simplify(value)
        return ParameterSpace(out, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            arr = self.parent._parameters[name]
            try:
                arr[self.mask] = value
            except ValueError:
                raise errors.InvalidParameterValueError(
                    f"{name} should not be of type {type(value)}")
        simulator.state.params_dirty = True

    def _set_initial_value_array(self, variable, initial_values):
        self.parent._store_initial(variable, initial_values, self.mask)

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


class Population(common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def _create_cells(self):
        state = simulator.state
        ids = np.arange(state.id_counter, state.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in ids], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, dtype=bool)
        self._is_source = isinstance(self.celltype, _SOURCES)
        self._hw = None if self._is_source else state.layout.place(self.size)
        ps = (self.celltype.native_parameters if isinstance(self.celltype, StandardCellType)
              else self.celltype.parameter_space)
        ps.shape = (self.size,)
        ps.evaluate(simplify=False)
        self._parameters = ps.as_dict()
        self._init: dict[str, np.ndarray] = {}
        self._engine = None
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        state.populations.append(self)
        state.structure_changed()

    # -- parameters ----------------------------------------------------------------------------
    def _get_parameters(self, *names):
        native = self._get_native_parameters(*_native_names(self.celltype, names))
        return self.celltype.reverse_translate(native)

    def _get_native_parameters(self, *names):
        return ParameterSpace({n: simplify(self._parameters[n]) for n in names},
                              shape=(self.size,))

    def _set_parameters(self, parameter_space):
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            self._parameters[name] = value
        simulator.state.params_dirty = True

    # -- initial values ------------------------------------------------------------------------
    def _set_initial_value_array(self, variable, initial_values):
        self._store_initial(variable, initial_values, slice(None))

    def _store_initial(self, variable, value, mask):
        arr = self._init.setdefault(variable, np.full(self.size, np.nan))
        vals = value.evaluate(simplify=False) if hasattr(value, "evaluate") else value
        full = np.broadcast_to(np.asarray(vals, dtype=float), (self.size,))
        arr[mask] = full[mask] if not isinstance(mask, slice) else full
        sim = simulator.state.sim
        if variable == "v" and sim is not None and self._engine is not None:
            # PyNN semantics: initialize() during a trial sets the state now
            sel = np.arange(self.size)[mask]
            sim.v[:, self._engine[sel]] = arr[sel]
        simulator.state.params_dirty = True

    def _initial_v(self) -> np.ndarray:
        return self._init.get("v", np.full(self.size, np.nan)).copy()

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    # -- sources -------------------------------------------------------------------------------
    def _add_to_network(self, net) -> np.ndarray:
        p = self._parameters
        if isinstance(self.celltype, SpikeSourcePoisson):
            rate = np.broadcast_to(np.asarray(p["rate"], float), (self.size,))
            start = np.broadcast_to(np.asarray(p["start"], float), (self.size,))
            dur = np.broadcast_to(np.asarray(p["duration"], float), (self.size,))
            return net.add_poisson(rate, start, start + dur)
        times = p["spike_times"]
        trains = []
        for i in range(self.size):
            t = times[i] if isinstance(times, np.ndarray) else times
            t = t.value if isinstance(t, Sequence) else t
            trains.append(np.asarray(t, dtype=float))
        return net.add_spike_array(trains)

    @property
    def hardware_neurons(self) -> np.ndarray | None:
        """Hardware neuron (0..383) of each cell; ``None`` for spike sources."""
        return None if self._hw is None else self._hw.copy()

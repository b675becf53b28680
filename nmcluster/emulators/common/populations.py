"""Population, PopulationView and Assembly bases of the emulator backends (on ``pyNN.common``).

Parameters are kept as requested (native names = standard names) and realised on the emulated
hardware when the network is built at ``run()``.  A backend subclasses these with its
``_simulator`` and may override :meth:`BasePopulation._place` (hardware placement at creation,
so exceeding a hardware limit fails at once) and :meth:`BasePopulation._check_set` (parameter
changes the hardware cannot take).
"""

from __future__ import annotations

import numpy as np
from lazyarray import larray
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, Sequence, simplify
from pyNN.standardmodels import StandardCellType, cells

from .standardmodels import IdentityTranslation, is_identity


def native_names(celltype, names):
    if isinstance(celltype, StandardCellType):
        if any(n in celltype.computed_parameters() for n in names):
            return celltype.get_native_names()
        return celltype.get_native_names(*names)
    return names


_SCALARS = (int, float, np.integer, np.floating)


def _plain_scalar(value) -> bool:
    """A lazy array holding one number, no queued operations (evaluates to that number)."""
    return (isinstance(value, larray) and not value.operations
            and isinstance(value.base_value, _SCALARS) and not isinstance(value.base_value, bool))


def evaluate_space(ps: ParameterSpace) -> dict:
    """``ps.evaluate(simplify=False); ps.as_dict()`` with a shortcut for the common case of one
    float per parameter (what lazyarray computes as ``value * ones``, made by ``np.full``)."""
    out = {}
    shape = ps.shape
    for name, value in ps.items():
        if not isinstance(value, larray):  # nested parameter space: PyNN's path
            ps.evaluate(simplify=False)
            return ps.as_dict()
        if value.dtype is float and _plain_scalar(value):
            out[name] = np.full(shape, value.base_value, dtype=float)
        else:
            out[name] = value.evaluate(simplify=False)
    return out


def uniform_native_values(celltype, n: int) -> dict | None:
    """The native parameters of ``n`` cells of ``celltype`` when its translations are identities
    and every parameter is one plain number: one row of a fresh ``(n_params, n)`` float array
    each, without copying and translating the parameter space first.  None otherwise (then
    ``native_parameters`` + :func:`evaluate_space` apply)."""
    if not isinstance(celltype, IdentityTranslation) or not is_identity(type(celltype)):
        return None
    ps = celltype.parameter_space
    translations = celltype.translations
    names, values = [], []
    for name, value in ps.items():
        if not (isinstance(value, larray) and value.dtype is float and _plain_scalar(value)
                and name in translations):
            return None
        names.append(name)
        values.append(value.base_value)
    if ps.schema != celltype.get_schema() or not names:
        return None
    table = np.repeat(np.array(values, dtype=float)[:, None], n, axis=1)
    return dict(zip(names, table))


def is_source(celltype) -> bool:
    """Spike sources: PyNN's two, and a backend's own (a cell type that is not injectable and
    has no receptors, e.g. sPyNNaker's SpikeSourcePoissonVariable)."""
    return isinstance(celltype, (cells.SpikeSourcePoisson, cells.SpikeSourceArray)) or (
        getattr(celltype, "injectable", True) is False
        and not getattr(celltype, "receptor_types", ("excitatory",)))


class BasePopulationView(common.PopulationView):

    def _get_parameters(self, *names):
        native = self._get_native_parameters(*native_names(self.celltype, names))
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
        self.grandparent._check_set()
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            arr = self.parent._parameters[name]
            try:
                arr[self.mask] = value
            except ValueError:
                raise errors.InvalidParameterValueError(
                    f"{name} should not be of type {type(value)}")
        self._simulator.state.params_dirty = True

    def _set_initial_value_array(self, variable, initial_values):
        self.parent._store_initial(variable, initial_values, self.mask)

    def _get_view(self, selector, label=None):
        return type(self)(self, selector, label)


class BasePopulation(common.Population):
    __doc__ = common.Population.__doc__

    def _create_cells(self):
        sim = self._simulator
        state = sim.state
        ids = np.arange(state.id_counter, state.id_counter + self.size, dtype=np.int64)
        ids.flags.writeable = False
        self.all_cells = np.array([sim.ID(i) for i in ids], dtype=sim.ID)
        self._mask_local = np.ones(self.size, dtype=bool)
        self._is_source = is_source(self.celltype)
        self._parameters = uniform_native_values(self.celltype, self.size)
        if self._parameters is None:
            ps = (self.celltype.native_parameters if isinstance(self.celltype, StandardCellType)
                  else self.celltype.parameter_space)
            ps.shape = (self.size,)
            self._parameters = evaluate_space(ps)
        self._ids = ids  # int64 cell IDs (projections index these instead of ID objects)
        self._init: dict[str, np.ndarray] = {}
        self._engine = None
        for cell in self.all_cells:
            cell.parent = self
        self._hw = None if self._is_source else self._place()
        state.id_counter += self.size
        state.populations.append(self)
        state.structure_changed()

    def _place(self):
        """Backend hook: hardware placement of a neuron population (None: none)."""
        return None

    def _check_set(self) -> None:
        """Backend hook: raise if parameters may not change now."""

    # -- parameters ----------------------------------------------------------------------------
    def _get_parameters(self, *names):
        native = self._get_native_parameters(*native_names(self.celltype, names))
        return self.celltype.reverse_translate(native)

    def _get_native_parameters(self, *names):
        return ParameterSpace({n: simplify(self._parameters[n]) for n in names},
                              shape=(self.size,))

    def _set_parameters(self, parameter_space):
        self._check_set()
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            self._parameters[name] = value
        self._simulator.state.params_dirty = True

    def per_cell(self, name: str) -> np.ndarray:
        """Parameter ``name`` as one float per cell."""
        a = np.asarray(self._parameters[name], dtype=float)
        return np.full(self.size, float(a)) if a.ndim == 0 else np.broadcast_to(
            a, (self.size,)).astype(float)

    # -- initial values ------------------------------------------------------------------------
    def _set_initial_value_array(self, variable, initial_values):
        self._store_initial(variable, initial_values, slice(None))

    def _store_initial(self, variable, value, mask):
        arr = self._init.setdefault(variable, np.full(self.size, np.nan))
        if _plain_scalar(value):  # one value for all cells (PyNN's initialize() default)
            arr[mask] = float(value.base_value)
        else:
            vals = value.evaluate(simplify=False) if hasattr(value, "evaluate") else value
            full = np.broadcast_to(np.asarray(vals, dtype=float), (self.size,))
            arr[mask] = full[mask] if not isinstance(mask, slice) else full
        sim = self._simulator.state.sim
        if sim is not None and self._engine is not None and variable in ("v", "u", "w"):
            # PyNN semantics: initialize() during a trial sets the state now
            sel = np.arange(self.size)[mask]
            target = sim.v if variable == "v" else sim.x
            target[:, self._engine[sel]] = arr[sel]
        self._simulator.state.params_dirty = True

    def _initial(self, variable: str) -> np.ndarray:
        return self._init.get(variable, np.full(self.size, np.nan)).copy()

    def _initial_v(self) -> np.ndarray:
        return self._initial("v")

    def _get_view(self, selector, label=None):
        return self._view_class(self, selector, label)

    # -- sources -------------------------------------------------------------------------------
    def source_trains(self) -> list[np.ndarray]:
        """Spike times of a SpikeSourceArray population, one array per cell."""
        times = self._parameters["spike_times"]
        trains = []
        for i in range(self.size):
            t = times[i] if isinstance(times, np.ndarray) else times
            t = t.value if isinstance(t, Sequence) else t
            trains.append(np.asarray(t, dtype=float))
        return trains

    def poisson_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rate Hz, start ms, stop ms) of a SpikeSourcePoisson population."""
        p = self._parameters
        rate = np.broadcast_to(np.asarray(p["rate"], float), (self.size,))
        start = np.broadcast_to(np.asarray(p["start"], float), (self.size,))
        dur = np.broadcast_to(np.asarray(p["duration"], float), (self.size,))
        return rate, start, start + dur

    def _add_to_network(self, net) -> np.ndarray:
        if isinstance(self.celltype, cells.SpikeSourcePoisson):
            return net.add_poisson(*self.poisson_params())
        return net.add_spike_array(self.source_trains())

"""The PyNN 0.7 API shapes of the hardware's own PyNN backends, on top of an emulator backend.

The Spikey software (``pyNN.hardware.spikey``) and the BrainScaleS software (``pyhmf``) implemented
PyNN 0.7, and the guidebook's scripts use its forms: ``Population(n, CellClass, {params})``,
``pop.record()`` (spikes), ``pop.record_v()``, ``pop.getSpikes()`` / ``pop.get_v()`` (arrays of
``[index, t]`` / ``[index, t, v]``), ``neurons[:10].record()``, ``weights=``/``delays=`` in the
connectors, ``Projection(..., target='excitatory', synapse_dynamics=SynapseDynamics(fast=
TsodyksMarkramMechanism(...), slow=STDPMechanism(...)))``, ``proj.getWeights()``.  The names that
serve these scripts (:mod:`nmcluster._compat_names`) are modules built by :func:`build` from an
emulator backend, so the 0.13 backends (``pyNN.nmcluster.*``) keep PyNN 0.13's API unchanged.

Followed: PyNN 0.7's ``pyNN/common.py`` (``Population.record(to_file=True)``, ``record_v``,
``getSpikes(gather=True, compatible_output=True)`` -> ``[id, t]`` rows, ``get_v`` -> ``[id, t, v]``
rows, ``Projection(presynaptic_population, postsynaptic_population, method, source=None,
target=None, synapse_dynamics=None, label=None, rng=None)``) and ``pyNN/connectors.py``
(``weights=0.0, delays=None`` on every connector), github NeuralEnsemble/PyNN tag 0.7.5.
Forms without a faithful meaning here are refused naming the PyNN 0.13 form (:data:`REFUSED`).
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

import numpy as np
from pyNN import connectors as _conn

#: PyNN 0.7 attributes of projections and populations without a 0.13 counterpart of the same
#: name, with the PyNN 0.13 form (the deprecated 0.7 methods PyNN 0.13 still has, e.g.
#: ``randomizeWeights``, ``saveConnections``, ``tset``, keep working)
REFUSED = {
    "synapse_dynamics": "projection.synapse_type",
    "connection_manager": "projection.connections",
    "cell": "population.all_cells",
    "getObservedValues": "population.get_data(...)",
}
#: module-level PyNN 0.7 names without a 0.13 counterpart
REFUSED_MODULE = {
    "ConnectionDynamics": "a synapse type: StaticSynapse, TsodyksMarkramSynapse or "
                          "STDPMechanism(timing_dependence=..., weight_dependence=...)",
    "NativeRNG": "pyNN.random.NumpyRNG(seed=...)",
}

_CONNECTOR_NAMES = ("AllToAllConnector", "OneToOneConnector", "FixedProbabilityConnector",
                    "FixedNumberPreConnector", "FixedNumberPostConnector",
                    "DistanceDependentProbabilityConnector", "FromListConnector",
                    "FromFileConnector")


def _legacy_connector(cls: type) -> type:
    """``cls`` accepting PyNN 0.7's ``weights=`` and ``delays=`` (kept for the Projection)."""

    def __init__(self, *args: Any, weights: Any = None, delays: Any = None, **kw: Any) -> None:
        cls.__init__(self, *args, **kw)
        self.legacy_weights = weights
        self.legacy_delays = delays

    ns: dict[str, Any] = {"__init__": __init__, "__doc__": cls.__doc__, "__module__": __name__}
    if cls is _conn.OneToOneConnector:
        def connect(self, projection) -> None:
            # PyNN 0.13 + numpy 2: a 1 x 1 projection's connection map evaluates to a 0-d array
            # that pyNN.connectors._standard_connect cannot index; 1 x 1 one-to-one = all-to-all
            if projection.pre.size == 1 and projection.post.size == 1:
                return _conn.AllToAllConnector.connect(self, projection)
            return cls.connect(self, projection)

        ns["connect"] = connect
        ns["allow_self_connections"] = True
    return type(cls.__name__, (cls,), ns)


class SynapseDynamics:
    """PyNN 0.7's ``SynapseDynamics(fast=TsodyksMarkramMechanism(...), slow=STDPMechanism(...))``."""

    def __init__(self, fast: Any = None, slow: Any = None) -> None:
        self.fast, self.slow = fast, slow


class TsodyksMarkramMechanism:
    """PyNN 0.7's short-term plasticity description (becomes the backend's
    ``TsodyksMarkramSynapse``)."""

    def __init__(self, U: float = 0.5, tau_rec: float = 100.0, tau_facil: float = 0.0,
                 u0: float = 0.0, x0: float = 1.0, y0: float = 0.0) -> None:
        self.parameters = {"U": U, "tau_rec": tau_rec, "tau_facil": tau_facil}


def _spikes_array(pop) -> np.ndarray:
    """``[[index, t], ...]`` sorted by time (PyNN 0.7 ``getSpikes``)."""
    seg = pop.get_data("spikes", clear=False).segments[-1]
    rows = []
    for st in seg.spiketrains:
        cid = st.annotations.get("channel_id", st.annotations.get("source_id"))
        idx = pop.id_to_index(int(cid))
        t = np.asarray(st.magnitude, dtype=float)
        rows.append(np.column_stack([np.full(t.size, idx, dtype=float), t]))
    if not rows:
        return np.zeros((0, 2))
    out = np.concatenate(rows)
    return out[np.lexsort((out[:, 0], out[:, 1]))]


def _signal_array(pop, name: str) -> np.ndarray:
    """``[[index, t, value], ...]`` per cell then time (PyNN 0.7 ``get_v``/``get_gsyn``)."""
    seg = pop.get_data(name, clear=False).segments[-1]
    rows = []
    for sig in seg.analogsignals:
        if sig.name != name:
            continue
        times = np.asarray(sig.times.rescale("ms").magnitude, dtype=float)
        cids = sig.annotations.get("channel_ids")
        ids = (pop.id_to_index(np.asarray(cids, dtype=int)) if cids is not None
               else np.arange(sig.shape[1]))
        ids = np.atleast_1d(ids)
        for k in range(sig.shape[1]):
            rows.append(np.column_stack([np.full(times.size, float(ids[k])), times,
                                         np.asarray(sig.magnitude[:, k], dtype=float)]))
    return np.concatenate(rows) if rows else np.zeros((0, 3))


class _Legacy07:
    """The PyNN 0.7 recording and reading methods of populations and views."""

    def record(self, variables: Any = None, to_file: Any = None, sampling_interval: Any = None,
               **kw: Any):
        # 0.7: record(to_file=True) records spikes; 0.13: record(variables, ...)
        if variables is None or isinstance(variables, bool) or (
                isinstance(variables, str) and variables not in self.celltype.recordable
                and variables != "all"):
            if isinstance(variables, str):
                to_file = variables
            variables = "spikes"
        return super().record(variables, to_file=to_file if isinstance(to_file, str) else None,
                              sampling_interval=sampling_interval, **kw)

    def record_v(self, to_file: Any = True) -> None:
        self.record("v", to_file=to_file if isinstance(to_file, str) else None)

    def record_gsyn(self, to_file: Any = True) -> None:
        self.record(["gsyn_exc", "gsyn_inh"], to_file=to_file if isinstance(to_file, str) else None)

    def getSpikes(self, gather: bool = True, compatible_output: bool = True) -> np.ndarray:
        return _spikes_array(self)

    def get_v(self, gather: bool = True, compatible_output: bool = True) -> np.ndarray:
        return _signal_array(self, "v")

    def get_gsyn(self, gather: bool = True, compatible_output: bool = True) -> np.ndarray:
        exc, inh = _signal_array(self, "gsyn_exc"), _signal_array(self, "gsyn_inh")
        return np.column_stack([exc, inh[:, 2]]) if exc.size else np.zeros((0, 4))

    def meanSpikeCount(self, gather: bool = True) -> float:
        return float(self.mean_spike_count())

    def printSpikes(self, file: str, gather: bool = True, compatible_output: bool = True) -> None:
        np.savetxt(file, _spikes_array(self), fmt="%g")

    def print_v(self, file: str, gather: bool = True, compatible_output: bool = True) -> None:
        np.savetxt(file, _signal_array(self, "v"), fmt="%g")

    def getSpikeCounts(self) -> dict:
        return self.get_spike_counts()

    def randomInit(self, rand_distr: Any) -> None:
        """PyNN 0.7: random initial membrane potentials."""
        self.initialize(v=rand_distr)

    def __getattr__(self, name: str) -> Any:
        if name in REFUSED:
            raise AttributeError(f"{type(self).__name__}.{name} (PyNN 0.7) is not provided; "
                                 f"PyNN 0.13 form: {REFUSED[name]}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _legacy_projection(base: type, sim: types.ModuleType) -> type:
    static, tm, stdp = sim.StaticSynapse, getattr(sim, "TsodyksMarkramSynapse", None), \
        getattr(sim, "STDPMechanism", None)

    class Projection(base):
        __doc__ = base.__doc__

        def __init__(self, presynaptic_population, postsynaptic_population, connector,
                     synapse_type=None, source=None, receptor_type=None, space=None, label=None,
                     target=None, synapse_dynamics=None, rng=None, **kw):
            if isinstance(synapse_type, str):  # 0.7 positional: (pre, post, method, source, target)
                synapse_type, source, receptor_type = None, synapse_type, source
            if isinstance(source, str) and source in ("excitatory", "inhibitory") and \
                    receptor_type is None:
                source, receptor_type = None, source
            if target is not None:
                if receptor_type is not None and receptor_type != target:
                    raise ValueError(f"target={target!r} and receptor_type={receptor_type!r} "
                                     f"disagree (PyNN 0.13: receptor_type=...)")
                receptor_type = target
            if synapse_type is None:
                w = getattr(connector, "legacy_weights", None)
                d = getattr(connector, "legacy_delays", None)
                args = {"weight": 0.0 if w is None else w}
                if d is not None:
                    args["delay"] = d
                synapse_type = self._legacy_synapse(synapse_dynamics, args)
            elif synapse_dynamics is not None:
                raise ValueError("give either synapse_type (PyNN 0.13) or synapse_dynamics "
                                 "(PyNN 0.7), not both")
            extra = {} if space is None else {"space": space}
            super().__init__(presynaptic_population, postsynaptic_population, connector,
                             synapse_type=synapse_type, source=source,
                             receptor_type=receptor_type or "excitatory", label=label,
                             **extra, **kw)

        @staticmethod
        def _legacy_synapse(dyn, args):
            if dyn is None or (dyn.fast is None and dyn.slow is None):
                return static(**args)
            if dyn.fast is not None and dyn.slow is not None:
                raise ValueError("SynapseDynamics with both fast and slow parts: PyNN 0.13 and "
                                 f"{sim.__name__} take one synapse type per projection")
            if dyn.fast is not None:
                if tm is None:
                    raise ValueError(f"short-term plasticity is not available on {sim.__name__}")
                return tm(**args, **dyn.fast.parameters)
            if stdp is None:
                raise ValueError(f"STDP is not available on {sim.__name__}")
            slow = dyn.slow
            return stdp(timing_dependence=slow.timing_dependence,
                        weight_dependence=slow.weight_dependence, **args)

        def getWeights(self, format: str = "list", gather: bool = True) -> Any:
            w = self.get("weight", format="array")
            if format == "array":
                return w
            return [x for x in w.flat if not np.isnan(x)]

        def setWeights(self, w: Any) -> None:
            self.set(weight=w)

        def getDelays(self, format: str = "list", gather: bool = True) -> Any:
            d = self.get("delay", format="array")
            return d if format == "array" else [x for x in d.flat if not np.isnan(x)]

        def setDelays(self, d: Any) -> None:
            self.set(delay=d)

        def __getattr__(self, name: str) -> Any:
            if name in REFUSED:
                raise AttributeError(f"Projection.{name} (PyNN 0.7) is not provided; "
                                     f"PyNN 0.13 form: {REFUSED[name]}")
            raise AttributeError(name)

    return Projection


def build(name: str, sim: types.ModuleType, platform: str) -> types.ModuleType:
    """A module ``name`` with everything of backend ``sim`` plus the PyNN 0.7 shapes."""
    mod = sys.modules.get(name) or types.ModuleType(name)
    ns = mod.__dict__
    for k, v in vars(sim).items():
        if not k.startswith("__"):
            ns[k] = v
    view = type("PopulationView", (_Legacy07, sim.PopulationView), {"__module__": name})
    pop = type("Population", (_Legacy07, sim.Population), {"__module__": name,
                                                            "_view_class": view})

    def _pop_init(self, size, cellclass, cellparams=None, structure=None, initial_values={},
                  label=None):
        if isinstance(cellclass, type) and cellparams is None:
            cellparams = {}
        with warnings.catch_warnings():  # class + parameters is *the* PyNN 0.7 form here
            warnings.filterwarnings("ignore", "Passing celltype class", DeprecationWarning)
            sim.Population.__init__(self, size, cellclass, cellparams, structure, initial_values,
                                    label)

    pop.__init__ = _pop_init
    ns["Population"], ns["PopulationView"] = pop, view
    ns["Projection"] = _legacy_projection(sim.Projection, sim)
    for cname in _CONNECTOR_NAMES:
        if hasattr(_conn, cname):
            ns[cname] = _legacy_connector(getattr(_conn, cname))
    ns["SynapseDynamics"] = SynapseDynamics
    ns["TsodyksMarkramMechanism"] = TsodyksMarkramMechanism
    missing = getattr(sim, "__getattr__", None)

    def __getattr__(attr: str) -> Any:
        if attr in REFUSED_MODULE:
            raise AttributeError(f"{attr} (PyNN 0.7) is not provided by {name}; PyNN 0.13 form: "
                                 f"{REFUSED_MODULE[attr]}")
        if missing is not None:
            return missing(attr)
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    ns["__getattr__"] = __getattr__
    ns["__doc__"] = f"{platform} emulator with the PyNN 0.7 API of the hardware's software " \
                    f"(built on {sim.__name__}; see nmcluster.emulators.pynn07)."
    return mod


def missing_attribute(module: str, platform: str, attr: str, cell_types: list[str]) -> AttributeError:
    """The error for ``sim.<attr>`` on a backend: a PyNN cell type the platform lacks is named as
    such, with the platform's cell types; anything else is the ordinary AttributeError."""
    from pyNN.standardmodels import cells

    if isinstance(getattr(cells, attr, None), type):
        return AttributeError(f"{attr} is not available on {platform} ({module}): the hardware has "
                              f"no such neuron circuit. Cell types on {platform}: "
                              f"{', '.join(sorted(cell_types))}")
    return AttributeError(f"module {module!r} has no attribute {attr!r}")

"""Projection base of the emulator backends (on ``pyNN.common.Projection``).

Connections are collected from PyNN's connectors through ``_convergent_connect`` (or, for
all-to-all / one-to-one with homogeneous parameters, without PyNN's per-cell loop); when the
connector is done the backend's :meth:`BaseProjection._finalise` applies its hardware rules
(drivers, weight resolution, delays, mapping).  Attribute access (``get``, ``Projection[i]``)
reads :meth:`BaseProjection._attribute`, which returns realised values.
"""

from __future__ import annotations

import numpy as np
from pyNN import common
from pyNN.connectors import AllToAllConnector, OneToOneConnector
from pyNN.space import Space


class Connection(common.Connection):
    """A read-only view of one connection (PyNN's ``Projection[i]``)."""

    def __init__(self, projection: "BaseProjection", i: int) -> None:
        self.projection = projection
        self.i = i

    @property
    def presynaptic_index(self) -> int:
        return int(self.projection._pre[self.i])

    @property
    def postsynaptic_index(self) -> int:
        return int(self.projection._post[self.i])

    def _get(self, name: str) -> float:
        return float(self.projection._attribute(name)[self.i])

    weight = property(lambda self: self._get("weight"))
    delay = property(lambda self: self._get("delay"))

    def as_tuple(self, *names: str) -> tuple:
        return tuple(self.projection._attribute(n)[self.i] for n in names)


def cell_ids(obj) -> np.ndarray:
    """The cell IDs of a Population, PopulationView or Assembly as int64 (a Population keeps
    them; converting ``all_cells``, an array of ID objects, costs a Python call per cell)."""
    ids = getattr(obj, "_ids", None)
    return ids if ids is not None else np.asarray(obj.all_cells, dtype=np.int64)


def populations_of(obj) -> list:
    """The Populations behind a Population, PopulationView or Assembly."""
    if hasattr(obj, "populations"):
        return list(obj.populations)
    return [obj.grandparent if hasattr(obj, "grandparent") else obj]


class BaseProjection(common.Projection):
    __doc__ = common.Projection.__doc__
    _static_synapse_class = None  # set by the backend's __init__ (avoids an import cycle)

    def __init__(self, presynaptic_population, postsynaptic_population, connector,
                 synapse_type=None, source=None, receptor_type=None, space=Space(), label=None):
        state = self._simulator.state
        self._check_create(presynaptic_population, postsynaptic_population)
        if state.running and state.sim is not None:
            raise state.config_error(
                "projections must be created before run() or after reset(): the hardware is "
                "configured at the start of a trial")
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population,
                                   connector, synapse_type, source, receptor_type, space, label)
        if any(getattr(p, "_is_source", False) for p in populations_of(postsynaptic_population)):
            raise state.config_error("spike sources cannot be postsynaptic")
        self._index = len(state.projections)
        self._chunks: list[dict[str, np.ndarray]] = []
        self._set_count = 0
        self._weights_changed = False
        fresh = self._fast_connect(connector)
        if not fresh:
            connector.connect(self)
        self._collect(fresh)
        self._finalise()
        state.projections.append(self)
        state.structure_changed()

    def _check_create(self, pre, post) -> None:
        """Backend hook: raise if the hardware cannot take this projection."""

    # -- connection collection -----------------------------------------------------------------
    def _fast_connect(self, connector) -> bool:
        """All-to-all / one-to-one with homogeneous synapse parameters, without PyNN's generic
        per-cell connector loop (what ``pyNN.nest`` does with ``nest.Connect``).  Returns False
        when the case is not covered; the generic path then runs."""
        if type(connector) not in (AllToAllConnector, OneToOneConnector):
            return False
        ps = self.synapse_type.native_parameters
        values = {}
        for name in ps.keys():
            lazy = ps[name]
            base = lazy.base_value
            if not (lazy.is_homogeneous and isinstance(base, (int, float, np.number))):
                return False
            values[name] = float(base)
        n_pre, n_post = self.pre.size, self.post.size
        if type(connector) is OneToOneConnector:
            if n_pre != n_post:
                return False
            pre, post = np.arange(n_pre, dtype=np.int64), np.arange(n_post, dtype=np.int64)
        else:
            allow = connector.allow_self_connections
            pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
            post = np.empty((n_pre, n_post), dtype=np.int64)
            post[:] = np.arange(n_post, dtype=np.int64)
            post = post.reshape(-1)
            if allow is not True:
                if allow is not False:
                    return False  # 'NoMutual' and friends: generic path
                same = cell_ids(self.pre)[pre] == cell_ids(self.post)[post]
                pre, post = pre[~same], post[~same]
        rec = {"pre": pre, "post": post}
        rec.update({k: np.full(pre.size, v) for k, v in values.items()})
        self._chunks.append(rec)
        return True

    def _convergent_connect(self, presynaptic_indices, postsynaptic_index,
                            location_selector=None, **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError("the emulated neurons are single-compartment")
        pre = np.asarray(presynaptic_indices, dtype=np.int64).reshape(-1)
        m = pre.size
        rec = {"pre": pre, "post": np.full(m, int(postsynaptic_index), dtype=np.int64)}
        for name, value in connection_parameters.items():
            rec[name] = np.broadcast_to(np.asarray(value, dtype=float), (m,)).copy()
        self._chunks.append(rec)

    def _collect(self, fresh: bool = False) -> None:
        """Concatenate the collected connections into ``_pre``, ``_post``, ``_params``
        (``fresh``: the one chunk of :meth:`_fast_connect`, arrays nobody else holds)."""
        if fresh and len(self._chunks) == 1:
            cat = dict(self._chunks[0])
        else:
            keys = set().union(*[c.keys() for c in self._chunks]) if self._chunks else set()
            cat = {k: np.concatenate([c[k] for c in self._chunks]) for k in keys}
        self._chunks = []
        self._pre = cat.pop("pre", np.zeros(0, np.int64))
        self._post = cat.pop("post", np.zeros(0, np.int64))
        self._params = cat
        self._w_req = cat.get("weight", np.zeros(self._pre.size)).copy()
        self._pre_ids = cell_ids(self.pre)[self._pre]
        self._post_ids = cell_ids(self.post)[self._post]

    @property
    def _post_cells(self) -> np.ndarray:
        """Postsynaptic cell (ID object) of each connection."""
        return np.asarray(self.post.all_cells)[self._post]

    def _finalise(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- PyNN interface ------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._pre.size)

    def __getitem__(self, i: int) -> Connection:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return Connection(self, i % len(self))

    def _current_weights(self) -> np.ndarray:  # pragma: no cover - overridden
        return self._w_req

    def _delays(self) -> np.ndarray:
        return self._params.get("delay", np.zeros(self._pre.size))

    def _attribute(self, name: str) -> np.ndarray:
        if name == "presynaptic_index":
            return self._pre
        if name == "postsynaptic_index":
            return self._post
        if name == "weight":
            return self._current_weights()
        if name == "delay":
            return self._delays()
        if name in self._params:
            return self._params[name]
        raise AttributeError(f"projection has no attribute {name!r}")

    def _get_attributes_as_list(self, names):
        cols = [self._attribute(n).tolist() for n in names]  # Python scalars, as other backends
        return [tuple(row) for row in zip(*cols)] if cols else []

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        op = common.Projection.MULTI_SYNAPSE_OPERATIONS[multiple_synapses]
        out = []
        for name in names:
            vals = np.full((self.pre.size, self.post.size), np.nan)
            for i, j, v in zip(self._pre, self._post, self._attribute(name)):
                vals[i, j] = v if np.isnan(vals[i, j]) else op(vals[i, j], v)
            out.append(vals)
        return out

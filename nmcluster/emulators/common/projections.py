"""Projection base of the emulator backends (on ``pyNN.common.Projection``).

Connections are collected from PyNN's connectors through ``_convergent_connect`` (or, for
all-to-all / one-to-one with homogeneous parameters, without PyNN's per-cell loop); when the
connector is done the backend's :meth:`BaseProjection._finalise` applies its hardware rules
(drivers, weight resolution, delays, mapping).  Attribute access (``get``, ``Projection[i]``)
reads :meth:`BaseProjection._attribute`, which returns realised values.
"""

from __future__ import annotations

import copy

import numpy as np
from pyNN import common
from pyNN.connectors import AllToAllConnector, FixedProbabilityConnector, OneToOneConnector
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


def _homogeneous(values: dict[str, float], m: int) -> dict[str, np.ndarray]:
    """One value per connection for parameters that have one value: read-only broadcast views
    (no memory per synapse; whoever changes them replaces the array, as ``set()`` does)."""
    return {k: np.broadcast_to(np.float64(v), (m,)) for k, v in values.items()}


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
    def _homogeneous_values(self) -> dict[str, float] | None:
        """The synapse parameters when each is one number (None: some vary per connection)."""
        ps = self.synapse_type.native_parameters
        values = {}
        for name in ps.keys():
            lazy = ps[name]
            base = lazy.base_value
            if not (lazy.is_homogeneous and isinstance(base, (int, float, np.number))):
                return None
            values[name] = float(base)
        return values

    def _fast_connect(self, connector) -> bool:
        """All-to-all / one-to-one / fixed-probability with homogeneous synapse parameters,
        without PyNN's generic per-cell connector loop (what ``pyNN.nest`` does with
        ``nest.Connect``).  Returns False when the case is not covered; the generic path then
        runs."""
        if type(connector) is FixedProbabilityConnector:
            return self._fast_fixed_probability(connector)
        if type(connector) not in (AllToAllConnector, OneToOneConnector):
            return False
        values = self._homogeneous_values()
        if values is None:
            return False
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
        rec.update(_homogeneous(values, pre.size))
        self._chunks.append(rec)
        return True

    #: random numbers drawn at once by the fixed-probability path (8 MiB of float64)
    _DRAW_BLOCK = 1 << 20

    def _fast_fixed_probability(self, connector) -> bool:
        """``FixedProbabilityConnector`` drawing the same numbers as PyNN's generic path, in
        blocks of columns instead of one column per Python iteration.

        PyNN (pyNN/connectors.py, ``FixedProbabilityConnector.connect`` and
        ``MapConnector._standard_connect``; pyNN/parameters.py, ``LazyArray.by_column``) draws,
        for each postsynaptic cell in order, ``n_pre`` uniform numbers in [0, 1) from the
        connector's RNG (``RandomDistribution('uniform', (0, 1)).next(n_pre)``), connects the
        presynaptic cells whose number is below ``p_connect`` (without self-connections when
        ``allow_self_connections=False``: cell IDs compared) and calls ``_convergent_connect``
        with their indices in increasing order.  It draws from a copy of the RNG: the lazy
        array's comparison ``random_map < p_connect`` deep-copies the distribution with its RNG
        (lazyarray.py, ``_build_operation``), so the connector's RNG does not advance and every
        projection made with one connector draws the same numbers.  ``numpy.random.RandomState``
        makes a block of ``k * n_pre`` uniform numbers equal to ``k`` consecutive draws of
        ``n_pre`` (MT19937, two 32-bit words per double, no state carried between calls), so the
        connections and their order are PyNN's.  Covered: a ``NumpyRNG`` (exactly that
        class) in one process, homogeneous synapse parameters, no callback or location
        selector, ``allow_self_connections`` True or False."""
        from pyNN.random import NumpyRNG, RandomDistribution

        rng = connector.rng
        allow = connector.allow_self_connections
        if (type(rng) is not NumpyRNG or rng.num_processes != 1 or connector.callback
                or connector.location_selector is not None or allow not in (True, False)):
            return False
        values = self._homogeneous_values()
        n_pre, n_post = self.pre.size, self.post.size
        if values is None or n_pre == 0 or n_post == 0:
            return False
        uniform = copy.deepcopy(RandomDistribution("uniform", (0, 1), rng=rng))
        p = connector.p_connect
        pre_ids = cell_ids(self.pre) if allow is False else None
        post_ids = cell_ids(self.post) if allow is False else None
        step = max(1, self._DRAW_BLOCK // n_pre)
        pres, posts = [], []
        for j0 in range(0, n_post, step):
            j1 = min(n_post, j0 + step)
            hit = uniform.next((j1 - j0) * n_pre).reshape(j1 - j0, n_pre) < p
            if pre_ids is not None:
                hit &= post_ids[j0:j1, None] != pre_ids[None, :]
            col, row = np.nonzero(hit)  # (post, pre) order: PyNN's column by column
            pres.append(row.astype(np.int64))
            posts.append(col.astype(np.int64) + j0)
        pre = np.concatenate(pres)
        post = np.concatenate(posts)
        if connector.safe and pre.size:
            # PyNN checks each column's values; homogeneous: the one value, once
            syn = self.synapse_type
            for name, check in getattr(syn, "parameter_checks", {}).items():
                native = syn.translations[name]["translated_name"]
                if native in values:
                    check(values[native], self)
        rec = {"pre": pre, "post": post}
        rec.update(_homogeneous(values, pre.size))
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
        # the requested weights: the collected array itself (fresh, nobody else holds it);
        # ``_attribute("weight")`` reads them, not ``_params``
        self._w_req = cat.pop("weight", None)
        if self._w_req is None:
            self._w_req = np.zeros(self._pre.size)
        self._params = cat

    @property
    def _pre_ids(self) -> np.ndarray:
        """Presynaptic cell ID of each connection (made when asked: 8 bytes a synapse less)."""
        return cell_ids(self.pre)[self._pre]

    @property
    def _post_ids(self) -> np.ndarray:
        """Postsynaptic cell ID of each connection (made when asked)."""
        return cell_ids(self.post)[self._post]

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

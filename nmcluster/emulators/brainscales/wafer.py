"""The wafer's mapping, as part of the emulation: placement, synapse routing, mapping statistics.

Why mapping is emulated: on the BrainScaleS wafer a network is only what the mapping tool
(``marocco``) manages to place and route; synapses it cannot realise are *lost*.  Experiments on
the emulator must see the same effects, so :func:`map_network` runs a mapping with the wafer's
resources and reports :class:`MappingStats` (the guidebook's ``marocco.stats``).

The model (hardware numbers from ``SPEC.md``; the routing simplifications are *inferred* and
configurable through :class:`MappingConfig`):

* **Placement.**  A HICANN has 512 denmems in two rows of 256 columns; a logical neuron of
  ``neuron_size`` denmems (even, 2..64) takes ``neuron_size / 2`` adjacent columns (top and
  bottom denmem of each).  Column blocks containing a blacklisted denmem (defects data) are
  skipped.  HICANNs are used in the order of the job's ``SLURM_HICANNS`` (else the whole wafer,
  centre first); unavailable HICANNs are left out.  ``manual_placement.on_hicann(pop, hicann,
  neuron_size)`` places a population on a given HICANN first.
* **Buses.**  Spikes travel on Layer-1 buses carrying ``sources_per_bus`` (64) addresses: the
  neurons of a HICANN fill its output buses in placement order; external spike sources (played
  back by the FPGAs) fill external buses in creation order.
* **Synapse drivers.**  A target HICANN connects each incoming bus to one chain of at most
  ``driver_chain_length`` adjacent synapse drivers (224 per HICANN minus blacklisted ones,
  given out to the buses with most synapses first); each driver feeds 2 synapse rows, each row
  one receptor type.  A synapse slot (row, column) realises one source, so a logical neuron of
  ``c = neuron_size / 2`` columns receives at most ``rows(bus, receptor) * c`` synapses from one
  bus.  At most ``max_input_buses`` buses reach the drivers of one HICANN.
* **Loss.**  Synapses beyond these limits are lost (the lowest source addresses are realised
  first).  A lossy mapping is an error unless ``continue_despite_synapse_loss`` is set.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmcluster.emulators.engine.network import stable_order
from nmcluster.errors import UserInputError

from nmcluster.hwdrivers.wafer import geometry
from nmcluster.hwdrivers.wafer.defects import (N_DENMEMS, N_SYNAPSE_DRIVERS, WaferDefects,
                                               defects_file, load_defects_file)

COLUMNS = N_DENMEMS // 2  # 256 denmem columns (top + bottom denmem each)
ROWS_PER_DRIVER = 2
DEFAULT_WAFER = 33


class WaferConfigError(UserInputError):
    """The network cannot be configured on the (emulated) wafer as requested."""


class SynapseLossError(WaferConfigError):
    """The mapping lost synapses and ``continue_despite_synapse_loss`` is not set."""


@dataclass
class MappingConfig:
    """Mapping options (``setup(...)`` keywords or a :class:`PyMarocco` object)."""

    neuron_size: int = 4
    driver_chain_length: int = 56
    max_input_buses: int = 32
    sources_per_bus: int = 64
    continue_despite_synapse_loss: bool = False
    manual: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # pop id -> (h, size)

    def check(self) -> None:
        check_neuron_size(self.neuron_size)
        if self.driver_chain_length < 1:
            raise WaferConfigError("driver_chain_length must be >= 1")
        if self.max_input_buses < 1 or self.sources_per_bus < 1:
            raise WaferConfigError("max_input_buses and sources_per_bus must be >= 1")


def check_neuron_size(n: int) -> int:
    if int(n) != n or n < 2 or n > 64 or n % 2:
        raise WaferConfigError(f"neuron_size must be an even number of denmems in 2..64, got {n}")
    return int(n)


# -- the guidebook's configuration object (pymarocco), as far as the emulator uses it --------------
class _NeuronPlacement:
    def __init__(self, owner: "PyMarocco") -> None:
        self._owner = owner

    def default_neuron_size(self, n: int | None = None) -> int:
        if n is not None:
            self._owner.neuron_size = check_neuron_size(n)
        return self._owner.neuron_size

    def skip_hicanns_without_neuron_blacklisting(self, flag: bool = True) -> None:
        """Accepted (the emulator always knows its blacklists); told once as without effect."""
        self._owner.no_effect_used["neuron_placement.skip_hicanns_without_neuron_blacklisting"] = flag


class _SynapseRouting:
    def __init__(self, owner: "PyMarocco") -> None:
        self._owner = owner

    def driver_chain_length(self, n: int | None = None) -> int:
        if n is not None:
            if n < 1:
                raise WaferConfigError("driver_chain_length must be >= 1")
            self._owner.chain_length = int(n)
        return self._owner.chain_length


class _ManualPlacement:
    def __init__(self) -> None:
        self.placements: dict[Any, tuple[int, int | None]] = {}

    def on_hicann(self, population, hicann, neuron_size: int | None = None) -> None:
        """Place ``population`` on ``hicann`` (an enum 0..383, ``"W33H297"`` or an object with
        ``toEnum()``/``value()``) with ``neuron_size`` denmems per neuron."""
        self.placements[population] = (hicann_enum(hicann),
                                       None if neuron_size is None
                                       else check_neuron_size(neuron_size))


class _Enum:
    """A named constant of pymarocco (``PyMarocco.ESS``, ``Defects.Backend.XML`` ...)."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name

    def __repr__(self) -> str:
        return f"{self.kind}.{self.name}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name == other
        return isinstance(other, _Enum) and (self.kind, self.name) == (other.kind, other.name)

    def __hash__(self) -> int:
        return hash((self.kind, self.name))


def _enum_class(kind: str, *names: str) -> type:
    ns = {n: _Enum(kind, n) for n in names}
    cls = type(kind.rsplit(".", 1)[-1], (), ns)
    setattr(cls, "None", _Enum(kind, "None"))  # PyMarocco.None (Python 2 spelling)
    setattr(cls, "Without", getattr(cls, "None"))  # the Python 3 spelling of the same
    return cls


class _ParamTrafo:
    """``marocco.param_trafo``: parameter transformation switches."""

    def __init__(self) -> None:
        self.use_big_capacitors = True
        self.alpha_v = 10.0
        self.shift_v = 1.2


class Defects:
    """pymarocco's ``Defects``: where the mapping takes its defect data from.

    ``backend = Defects.Backend.None`` (``Without``): no defects (every denmem, driver and HICANN
    usable); ``XML`` (or ``Default``) with ``path``: the defects files in ``path`` (this site's
    ``wafer<W>`` format, see :mod:`nmcluster.hwdrivers.wafer.defects`); unset: the job's defects
    (``SLURM_DEFECTS_PATH``).
    """

    Backend = _enum_class("Defects.Backend", "XML", "Default")

    def __init__(self) -> None:
        self.backend: _Enum | None = None
        self.path = ""


class PyMarocco:
    """The mapping configuration object of the guidebook (``marocco``), for ``setup(marocco=)``.

    Acting on the emulation: ``backend`` (``ESS``/``Hardware``: emulated run; ``None``/``Without``:
    mapping only, nothing simulated), ``neuron_placement.default_neuron_size(n)``,
    ``synapse_routing.driver_chain_length(n)``, ``manual_placement.on_hicann(pop, hicann, size)``,
    ``continue_despite_synapse_loss``, ``ess_config`` (:class:`~.ess.ESSConfig`),
    ``default_wafer``, ``calib_backend`` (``Default``/``Binary``/``DB``: the calibration store;
    ``XML``: calibtic files ``w<W>-h<H>.xml`` in ``calib_path``; ``Without``: uncalibrated),
    ``defects`` (:class:`Defects`), ``persist`` (the mapping results, read back with
    ``pymarocco.results.Marocco.from_file``).  After ``run()`` ``stats`` holds the
    :class:`MappingStats`.  Accepted and told once in the log as having no meaning on the emulator
    (:data:`NO_EFFECT`): ``hicann_configurator``, ``param_trafo.use_big_capacitors``,
    ``experiment_time_offset``, ``skip_mapping``, ``neuron_placement.
    skip_hicanns_without_neuron_blacklisting`` and the like.
    """

    ESS = _Enum("PyMarocco.Backend", "ESS")
    Hardware = _Enum("PyMarocco.Backend", "Hardware")
    Without = _Enum("PyMarocco.Backend", "None")
    None_ = Without
    CalibBackend = _enum_class("PyMarocco.CalibBackend", "Default", "Binary", "XML", "DB")
    HICANNConfigurator = _Enum("PyMarocco.Configurator", "HICANNConfigurator")
    ParallelHICANNv4Configurator = _Enum("PyMarocco.Configurator", "ParallelHICANNv4Configurator")
    ParallelHICANNNoFGConfigurator = _Enum("PyMarocco.Configurator",
                                           "ParallelHICANNNoFGConfigurator")
    NoResetNoFGConfigurator = _Enum("PyMarocco.Configurator", "NoResetNoFGConfigurator")
    HICANNv4Configurator = _Enum("PyMarocco.Configurator", "HICANNv4Configurator")

    def __init__(self) -> None:
        from .ess import ESSConfig

        self.neuron_size = 4
        self.chain_length = MappingConfig.driver_chain_length
        self.neuron_placement = _NeuronPlacement(self)
        self.synapse_routing = _SynapseRouting(self)
        self.manual_placement = _ManualPlacement()
        self.continue_despite_synapse_loss = False
        self.ess_config = ESSConfig()
        self.backend = self.Hardware  # pymarocco's default; on the emulator: an emulated run
        self.calib_backend = self.CalibBackend.Default
        self.calib_path = ""
        self.defects = Defects()
        self.default_wafer: Any = None
        self.persist = ""
        self.param_trafo = _ParamTrafo()
        self.hicann_configurator = self.HICANNConfigurator
        self.experiment_time_offset = 20e-6
        self.skip_mapping = False
        self.stats: MappingStats | None = None
        self.no_effect_used: dict[str, Any] = {}

    def no_effect(self) -> dict[str, Any]:
        """Settings changed from their defaults that have no meaning on the emulator."""
        out: dict[str, Any] = {}
        defaults = {"hicann_configurator": self.HICANNConfigurator,
                    "experiment_time_offset": 20e-6, "skip_mapping": False}
        for k, d in defaults.items():
            if getattr(self, k) != d:
                out[k] = getattr(self, k)
        if self.param_trafo.use_big_capacitors is not True:
            out["param_trafo.use_big_capacitors"] = self.param_trafo.use_big_capacitors
        out.update(sorted(self.no_effect_used.items()))
        return out


#: what the emulator tells about the settings in :meth:`PyMarocco.no_effect`
NO_EFFECT = ("the emulator programs no floating gates or repeaters and realises the requested "
             "membrane capacitance directly, so these settings do not change the emulation")


def hicann_enum(h: Any) -> int:
    if isinstance(h, str):
        s = h.upper()
        if "H" in s:
            s = s.split("H", 1)[1]
        return geometry.check_hicann(int(s))
    for attr in ("toEnum", "id"):
        if hasattr(h, attr):
            v = getattr(h, attr)
            v = v() if callable(v) else v
            return hicann_enum(int(v.value() if hasattr(v, "value") else v))
    return geometry.check_hicann(int(h))


# -- allocation from the job environment ----------------------------------------------------------
def allocated_hicanns(env: dict[str, str] | None = None) -> tuple[int, list[int]]:
    """(wafer, HICANNs) of the job: ``SLURM_HICANNS`` ("W33H297,W33H298") when set, else the whole
    wafer ``NMCLUSTER_WAFER`` (default 33) ordered centre first."""
    env = os.environ if env is None else env
    names = [n.strip() for n in env.get("SLURM_HICANNS", "").split(",") if n.strip()]
    if names:
        wafer = None
        hs: list[int] = []
        for n in names:
            s = n.upper()
            if not (s.startswith("W") and "H" in s):
                raise WaferConfigError(f"SLURM_HICANNS: cannot read {n!r} (expected W<wafer>H<hicann>)")
            w, h = s[1:].split("H", 1)
            wafer = int(w) if wafer is None else wafer
            hs.append(geometry.check_hicann(int(h)))
        return int(wafer), list(dict.fromkeys(hs))
    wafer = int(env.get("NMCLUSTER_WAFER", DEFAULT_WAFER) or DEFAULT_WAFER)
    cx, cy = 18.0, 7.5
    order = sorted(range(geometry.N_HICANNS), key=lambda h: (
        (geometry.hicann_coord(h)[0] + 0.5 - cx) ** 2 + (geometry.hicann_coord(h)[1] + 0.5 - cy) ** 2,
        h))
    return wafer, order


def job_defects(wafer: int, env: dict[str, str] | None = None) -> WaferDefects:
    """Defects of the job's wafer from ``SLURM_DEFECTS_PATH`` (a directory of ``wafer<W>.toml``)."""
    env = os.environ if env is None else env
    path = env.get("SLURM_DEFECTS_PATH", "")
    if not path:
        return WaferDefects(wafer=wafer)
    f = defects_file(path, wafer)
    return load_defects_file(f, wafer) if f else WaferDefects(wafer=wafer)


# -- statistics -------------------------------------------------------------------------------------
class SparseWeights(dict):
    """Projection index -> its realised (pre, post) weight matrix, NaN where there is no synapse or it was
    lost.  Stored as the synapses' (pre, post, value) and made dense only when read: the dense matrices of a
    4000-cell network took 215 MB of every job's memory although most scripts never ask for them."""

    def put(self, index: int, shape: tuple[int, int], pre: np.ndarray, post: np.ndarray,
            values: np.ndarray) -> None:
        super().__setitem__(index, (shape, pre.copy(), post.copy(), np.asarray(values, dtype=float).copy()))

    def __getitem__(self, index: int) -> np.ndarray:
        shape, pre, post, values = super().__getitem__(index)
        out = np.full(shape, np.nan)
        out[pre, post] = values
        return out

    def values(self):  # type: ignore[override]
        return [self[k] for k in self]

    def items(self):  # type: ignore[override]
        return [(k, self[k]) for k in self]


@dataclass
class MappingStats:
    """Result of the mapping (``marocco.stats``)."""

    synapses: int = 0
    synapses_set: int = 0
    neurons: int = 0
    populations: int = 0
    projections: int = 0
    hicanns_used: tuple[int, ...] = ()
    wafer: int = DEFAULT_WAFER
    weights: SparseWeights = field(default_factory=SparseWeights)  # projection index -> matrix (made on read)
    lost_by_projection: dict[int, int] = field(default_factory=dict)

    @property
    def synapses_lost(self) -> int:
        return self.synapses - self.synapses_set

    @property
    def synapse_loss(self) -> float:
        """Synapse loss in percent."""
        return 100.0 * self.synapses_lost / self.synapses if self.synapses else 0.0

    # the marocco accessor names
    def getSynapses(self) -> int:
        return self.synapses

    def getSynapsesSet(self) -> int:
        return self.synapses_set

    def getSynapseLoss(self) -> int:
        return self.synapses_lost

    def getSynapseLossAfterL1Routing(self) -> int:
        return self.synapses_lost

    def getNumPopulations(self) -> int:
        return self.populations

    def getNumProjections(self) -> int:
        return self.projections

    def getNumNeurons(self) -> int:
        return self.neurons

    def getWeights(self, projection) -> np.ndarray:
        """Realised weights of ``projection`` as a (pre, post) matrix: NaN where there is no
        synapse or where it was lost."""
        return self.weights[projection._index]  # a new array on every read

    def to_dict(self) -> dict[str, Any]:
        return {"synapses": self.synapses, "synapses_set": self.synapses_set,
                "synapses_lost": self.synapses_lost, "synapse_loss_percent": self.synapse_loss,
                "neurons": self.neurons, "populations": self.populations,
                "projections": self.projections, "hicanns": list(self.hicanns_used)}

    def __str__(self) -> str:
        return (f"MappingStats {{\n    synapse_loss: {self.synapses_lost} "
                f"({self.synapse_loss:g}%)\n    synapses: {self.synapses}\n"
                f"    synapses set: {self.synapses_set}\n    synapses lost: {self.synapses_lost}\n"
                f"    populations: {self.populations}\n    projections: {self.projections}\n"
                f"    neurons: {self.neurons}}}")


# -- the mapping --------------------------------------------------------------------------------------
@dataclass
class Placement:
    hicann: np.ndarray  # per neuron (engine order)
    column: np.ndarray  # first denmem column
    size: np.ndarray  # neuron size (denmems)
    bus: np.ndarray  # output bus id per neuron


class _Hicann:
    def __init__(self, h: int, blocked_cols: set[int]) -> None:
        self.h = h
        self.free = np.ones(COLUMNS, dtype=bool)
        for c in blocked_cols:
            self.free[c] = False
        self.n_neurons = 0

    def take(self, ncols: int, count: int) -> list[int]:
        """Up to ``count`` free blocks of ``ncols`` adjacent columns (aligned); returns first
        columns."""
        out = []
        for c0 in range(0, COLUMNS - ncols + 1, ncols):
            if len(out) == count:
                break
            if self.free[c0:c0 + ncols].all():
                self.free[c0:c0 + ncols] = False
                out.append(c0)
        return out


def place(pops: list, cfg: MappingConfig, hicanns: list[int], defects: WaferDefects,
          manual: dict[Any, tuple[int, int | None]]) -> Placement:
    """Place neuron populations (engine order = population order) on ``hicanns``."""
    usable = [h for h in hicanns if not defects.hicann_unavailable(h)]
    chips: dict[int, _Hicann] = {}

    def chip(h: int) -> _Hicann:
        if h not in chips:
            bl = defects.hicanns.get(h)
            cols = {d % COLUMNS for d in bl.denmems} if bl else set()
            chips[h] = _Hicann(h, cols)
        return chips[h]

    n = sum(p.size for p in pops)
    hic = np.full(n, -1, dtype=np.int64)
    col = np.full(n, -1, dtype=np.int64)
    size = np.zeros(n, dtype=np.int64)
    offsets = np.cumsum([0] + [p.size for p in pops])
    # manual placements first
    for k, p in enumerate(pops):
        m = manual.get(p) or manual.get(id(p)) or manual.get(getattr(p, "label", None))
        if m is None:
            continue
        h, ns = m
        ns = ns or cfg.neuron_size
        if defects.hicann_unavailable(h):
            raise WaferConfigError(f"{p.label}: HICANN {h} is marked unavailable (defects)")
        if h not in hicanns:
            raise WaferConfigError(f"{p.label}: HICANN {h} is not allocated to this job "
                                   f"(SLURM_HICANNS)")
        cols = chip(h).take(ns // 2, p.size)
        if len(cols) < p.size:
            raise WaferConfigError(
                f"{p.label}: {p.size} neurons of {ns} denmems do not fit on HICANN {h} "
                f"(room for {len(cols)} more)")
        sl = slice(offsets[k], offsets[k + 1])
        hic[sl], col[sl], size[sl] = h, cols, ns
    # automatic placement in HICANN order
    it = iter(usable)
    current: _Hicann | None = None
    for k, p in enumerate(pops):
        if hic[offsets[k]] >= 0:
            continue
        ns = cfg.neuron_size
        i = int(offsets[k])
        while i < offsets[k + 1]:
            if current is None:
                h = next(it, None)
                if h is None:
                    cap = sum(COLUMNS // (ns // 2) for _ in usable)
                    raise WaferConfigError(
                        f"{p.label}: not enough neurons on the allocated HICANNs ({len(usable)} "
                        f"usable HICANNs, about {cap} neurons of {ns} denmems); allocate more "
                        f"HICANNs or reduce neuron_size")
                current = chip(h)
            cols = current.take(ns // 2, int(offsets[k + 1] - i))
            if not cols:
                current = None
                continue
            hic[i:i + len(cols)] = current.h
            col[i:i + len(cols)] = cols
            size[i:i + len(cols)] = ns
            i += len(cols)
    # output buses: per HICANN in placement order, sources_per_bus neurons each
    bus = np.zeros(n, dtype=np.int64)
    for h in np.unique(hic):
        sel = np.nonzero(hic == h)[0]
        order = sel[np.argsort(col[sel], kind="stable")]
        bus[order] = h * 1000 + np.arange(order.size) // cfg.sources_per_bus
    return Placement(hic, col, size, bus)


def _group_order(bus_of: np.ndarray, rec: np.ndarray, post: np.ndarray, addr: np.ndarray,
                 n_bus: int, n_post: int, n_addr: int) -> np.ndarray:
    """``np.lexsort((addr, post, rec, bus_of))``: the order by (bus, receptor 0/1, post neuron,
    source address), ties in index order.  Where the fields (all >= 0 and below ``n_bus``, 2,
    ``n_post``, ``n_addr``) and the index fit one int64 key, the key
    ``(((bus * 2 + rec) * n_post + post) * n_addr + addr) * m + index`` is unique, so numpy's
    vectorised sort of the keys gives the same order (the permutation sorting distinct keys is
    unique) and the index is the key's remainder: several times faster than ``lexsort`` of four
    keys (issue 27, the balanced network's 324 k synapses)."""
    m = post.size
    if n_bus * 2 * n_post * n_addr * max(m, 1) >= 1 << 63:
        return np.lexsort((addr, post, rec, bus_of))
    key = bus_of * 2 + rec
    key *= n_post
    key += post
    key *= n_addr
    key += addr
    key *= m
    key += np.arange(m)
    key.sort()
    key %= m
    return key


def route(pre_bus: np.ndarray, pre_addr: np.ndarray, receptor: np.ndarray, post: np.ndarray,
          placement: Placement, cfg: MappingConfig, defects: WaferDefects) -> np.ndarray:
    """Which synapses can be realised (bool per synapse).

    ``pre_bus``/``pre_addr``: bus id and address order of each synapse's source; ``receptor``:
    0 excitatory, 1 inhibitory; ``post``: engine neuron index.
    """
    m = post.size
    ok = np.zeros(m, dtype=bool)
    if m == 0:
        return ok
    tgt = placement.hicann[post]
    half = placement.size // 2  # synapse columns of a neuron per receptor
    # the synapses of each target HICANN, in index order (one stable sort by HICANN instead of
    # a scan of all synapses per HICANN)
    hics, hic_of = np.unique(tgt, return_inverse=True)
    hic_of = hic_of.reshape(-1)
    by_hic = stable_order(hic_of, hics.size)
    hic_start = np.concatenate(([0], np.cumsum(np.bincount(hic_of, minlength=hics.size))))
    # the ranges of the sort keys' fields (one int64 key where they fit; see _group_order)
    plain = bool(post.min() >= 0 and pre_addr.min() >= 0 and receptor.min() >= 0
                 and receptor.max() <= 1)
    n_post, n_addr = int(post.max()) + 1, int(pre_addr.max()) + 1
    for hk, h in enumerate(hics):
        on = by_hic[hic_start[hk]:hic_start[hk + 1]]
        bl = defects.hicanns.get(int(h))
        drivers_left = N_SYNAPSE_DRIVERS - (len(bl.synapse_drivers) if bl else 0)
        buses, bus_of = np.unique(pre_bus[on], return_inverse=True)
        bus_of = bus_of.reshape(-1)
        counts = np.bincount(bus_of, minlength=buses.size)
        rec = receptor[on].astype(np.int64)
        p = post[on]
        # the synapses in (bus, receptor, post neuron, source address) order, ties in index
        # order: the groups whose lowest addresses each neuron realises
        srt = (_group_order(bus_of, rec, p, pre_addr[on], buses.size, n_post, n_addr) if plain
               else np.lexsort((pre_addr[on], p, rec, bus_of)))
        gb, gr, gp = bus_of[srt], rec[srt], p[srt]
        new_group = np.ones(srt.size, dtype=bool)
        new_group[1:] = (gb[1:] != gb[:-1]) | (gr[1:] != gr[:-1]) | (gp[1:] != gp[:-1])
        first = np.nonzero(new_group)[0]
        size = np.diff(np.append(first, srt.size))
        # rows each receptor needs on a bus: the most synapses any neuron gets from the bus,
        # divided by its columns
        need = np.zeros((buses.size, 2), dtype=np.int64)
        rows_needed = np.ceil(size / half[gp[first]])
        np.maximum.at(need, (gb[first], gr[first]), rows_needed.astype(np.int64))
        have = np.zeros((buses.size, 2), dtype=np.int64)
        order = np.argsort(-counts, kind="stable")
        for rank, bi in enumerate(order):
            if rank >= cfg.max_input_buses or drivers_left <= 0:
                break  # buses that reach no synapse driver: their synapses are lost
            nb = need[bi]
            drivers = min(cfg.driver_chain_length, drivers_left,
                          max(1, math.ceil(nb.sum() / ROWS_PER_DRIVER)))
            drivers_left -= drivers
            rows = drivers * ROWS_PER_DRIVER
            if nb[0] and nb[1]:
                r0 = min(max(1, int(round(rows * nb[0] / nb.sum()))), rows - 1)
                hv = np.array([r0, rows - r0])
            else:
                hv = np.array([rows if nb[0] else 0, rows if nb[1] else 0])
            have[bi] = np.minimum(hv, nb)
        # per post neuron and bus/receptor, the lowest source addresses up to its capacity
        rank_in = np.arange(srt.size) - np.repeat(first, size)
        cap = have[gb, gr] * half[gp]
        ok[on[srt[rank_in < cap]]] = True
    return ok

"""``from pymarocco.results import Marocco``: the mapping results of a run, read from ``marocco.persist``.

The guidebook's placement example prints, for each PyNN neuron, the hardware neuron circuits
(denmems) of its logical neuron::

    results = Marocco.from_file(marocco.persist)
    for neuron in pop:
        for item in results.placement.find(neuron):
            for denmem in item.logical_neuron():
                print(denmem)

A logical neuron of ``size`` denmems takes ``size / 2`` adjacent columns, top and bottom denmem of
each; they are listed top row first, as marocco's ``LogicalNeuron`` iterates them (the guidebook
shows ``NeuronOnHICANN(X(0), top)``, ``X(1), top``, ``X(0), bottom``, ``X(1), bottom``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..coordinate import HICANNOnWafer, NeuronOnHICANN, NeuronOnWafer, X, Y


@dataclass(frozen=True)
class LogicalNeuron:
    """The denmems of one placed PyNN neuron."""

    hicann: int
    column: int
    size: int

    def __iter__(self):
        h = HICANNOnWafer.from_enum(self.hicann)
        cols = range(self.column, self.column + self.size // 2)
        for row in ("top", "bottom"):
            for c in cols:
                yield NeuronOnWafer(NeuronOnHICANN(X(c), row), h)

    def __len__(self) -> int:
        return self.size

    def front(self) -> NeuronOnWafer:
        return next(iter(self))


@dataclass(frozen=True)
class PlacementItem:
    """One entry of ``results.placement.find(neuron)``."""

    population: str
    neuron_index: int
    _logical: LogicalNeuron

    def logical_neuron(self) -> LogicalNeuron:
        return self._logical

    def neuron_block_on_wafer(self) -> HICANNOnWafer:
        return HICANNOnWafer.from_enum(self._logical.hicann)

    def toHICANNOnWafer(self) -> HICANNOnWafer:
        return HICANNOnWafer.from_enum(self._logical.hicann)


class Placement:
    def __init__(self, cells: dict[str, list]) -> None:
        self._cells = cells

    def find(self, neuron: Any) -> list[PlacementItem]:
        """The placement of a PyNN neuron (a cell id, ``for neuron in pop``), as a list of one item
        (empty for a neuron that was not placed, e.g. a spike source)."""
        row = self._cells.get(str(int(neuron)))
        if row is None:
            return []
        h, col, size, label, k = row
        return [PlacementItem(label, int(k), LogicalNeuron(int(h), int(col), int(size)))]

    def __len__(self) -> int:
        return len(self._cells)


class Marocco:
    """Mapping results: ``placement`` and the mapping ``stats`` (synapses, synapses_set, ...)."""

    def __init__(self, doc: dict) -> None:
        self.wafer = int(doc.get("wafer", 0))
        self.placement = Placement(doc.get("neurons", {}))
        self.stats = dict(doc.get("stats", {}))

    @classmethod
    def from_file(cls, path: str) -> "Marocco":
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot read mapping results {path!r} (written by a run with "
                          f"marocco.persist set): {exc}") from None
        if doc.get("format") != "nmcluster-marocco-results-1":
            raise OSError(f"{path!r} is not a mapping result written by the wafer emulator")
        return cls(doc)

"""``import Coordinate as C``: the wafer coordinates the guidebook's BrainScaleS scripts use.

``C.HICANNOnWafer(C.X(5), C.Y(5))`` or ``C.HICANNOnWafer(C.Enum(297))``, ``C.Wafer(33)``,
``C.X``/``C.Y``/``C.Enum``; printed as the real halco coordinates print (``HICANNOnWafer(X(5),
Y(5))``).  The HICANN grid is the wafer's (:mod:`nmcluster.hwdrivers.wafer.geometry`).  The
guidebook misprints ``HICANNOOnWafer`` and ``HICANONWafer``; both are accepted with a warning
naming the right spelling.
"""

from __future__ import annotations

import warnings
from typing import Any

from nmcluster.hwdrivers.wafer import geometry


class _Int:
    _name = "Int"

    def __init__(self, v: Any) -> None:
        self._v = int(v.value() if hasattr(v, "value") else v)

    def value(self) -> int:
        return self._v

    def __int__(self) -> int:
        return self._v

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._v == self._v  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self._name, self._v))

    def __repr__(self) -> str:
        return f"{self._name}({self._v})"

    __str__ = __repr__


class X(_Int):
    _name = "X"


class Y(_Int):
    _name = "Y"


class Enum(_Int):
    _name = "Enum"


class Wafer(_Int):
    _name = "Wafer"

    def __init__(self, v: Any = 0) -> None:
        super().__init__(v)


class HICANNOnWafer:
    """A HICANN by grid position ``(X, Y)`` or by ``Enum`` (0..383, row by row)."""

    def __init__(self, a: Any, b: Any = None) -> None:
        if b is None:
            self._enum = geometry.check_hicann(int(a))
        else:
            h = geometry.hicann_at(int(a), int(b))
            if h is None:
                raise ValueError(f"HICANNOnWafer({X(a)}, {Y(b)}) is not on the wafer")
            self._enum = h

    @classmethod
    def from_enum(cls, h: int) -> "HICANNOnWafer":
        return cls(Enum(h))

    def toEnum(self) -> Enum:
        return Enum(self._enum)

    def id(self) -> Enum:
        return Enum(self._enum)

    def x(self) -> X:
        return X(geometry.hicann_coord(self._enum)[0])

    def y(self) -> Y:
        return Y(geometry.hicann_coord(self._enum)[1])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HICANNOnWafer) and other._enum == self._enum

    def __hash__(self) -> int:
        return hash(("HICANNOnWafer", self._enum))

    def __repr__(self) -> str:
        return f"HICANNOnWafer({self.x()}, {self.y()})"

    __str__ = __repr__


class NeuronOnHICANN:
    def __init__(self, x: Any, row: str = "top") -> None:
        self._x, self._row = X(x), row

    def x(self) -> X:
        return self._x

    def __repr__(self) -> str:
        return f"NeuronOnHICANN({self._x}, {self._row})"

    __str__ = __repr__


class NeuronOnWafer:
    def __init__(self, neuron: NeuronOnHICANN, hicann: HICANNOnWafer) -> None:
        self._n, self._h = neuron, hicann

    def toNeuronOnHICANN(self) -> NeuronOnHICANN:
        return self._n

    def toHICANNOnWafer(self) -> HICANNOnWafer:
        return self._h

    def __repr__(self) -> str:
        return f"NeuronOnWafer({self._n}, {self._h})"

    __str__ = __repr__


def _misprint(name: str) -> type:
    def factory(*args: Any) -> HICANNOnWafer:
        warnings.warn(f"Coordinate.{name} is a misprint (in the platform guidebook); the name is "
                      f"HICANNOnWafer", stacklevel=2)
        return HICANNOnWafer(*args)

    return factory  # type: ignore[return-value]


HICANNOOnWafer = _misprint("HICANNOOnWafer")
HICANONWafer = _misprint("HICANONWafer")

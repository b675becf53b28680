"""Helpers for the standard models of the emulator backends."""

from __future__ import annotations

from copy import deepcopy

import numpy as np
from lazyarray import larray
from pyNN.parameters import LazyArray, ParameterSpace
from pyNN.standardmodels import build_translations


def identity(*names: str):
    """PyNN translations mapping each name onto itself (native names = standard names)."""
    return build_translations(*[(n, n) for n in names])


def min_delay_getter(simulator):
    """A ``_get_minimum_delay`` for synapse types of the backend ``simulator``."""

    def _min_delay(self) -> float:
        d = simulator.state.min_delay
        return simulator.state.dt if d == "auto" else d

    return _min_delay


_SCALARS = (int, float, bool, np.integer, np.floating, np.bool_)


class IdentityTranslation:
    """Mixin for standard types whose translations are identities (native = standard names).

    PyNN's ``translate`` deep-copies the whole parameter space and ``eval``s each name (every
    Population and Projection pays it); with identity translations the result is a copy of the
    space under the same names.  Scalar values without queued operations (the common case) are
    immutable and are shared; anything else is deep-copied with one memo for the whole call, as
    PyNN's single ``deepcopy`` of the space does (random distributions shared by two parameters
    stay shared).  Non-identity translations, ``copy=False`` and schema mismatches take PyNN's
    path.
    """

    def translate(self, parameters, copy=True):
        cls = type(self)
        if not copy or not is_identity(cls) or parameters.schema != self.get_schema() or \
                any(name not in cls.translations for name in parameters.keys()):
            return super().translate(parameters, copy)
        memo: dict = {}
        native = ParameterSpace({}, schema=None, shape=parameters.shape)
        out = native._parameters
        shape = parameters.shape
        for name, value in parameters.items():
            if isinstance(value, larray) and not value.operations and \
                    isinstance(value.base_value, _SCALARS):
                new = LazyArray.__new__(type(value))
                new.base_value = value.base_value
                new.dtype = value.dtype
                new.operations = []
            else:
                value = deepcopy(value, memo)
                if not isinstance(value, larray):  # sub-space: PyNN's path
                    return super().translate(parameters, copy)
                new = LazyArray.__new__(type(value))
                new.base_value = value.base_value
                new.dtype = value.dtype
                new.operations = value.operations
            if shape is not None and value.shape is not None:
                assert shape == value.shape
            new._shape = shape or value.shape
            out[name] = new
        return native


def is_identity(cls) -> bool:
    """Whether every translation of standard type ``cls`` maps a name onto itself."""
    flag = cls.__dict__.get("_identity_translations")
    if flag is None:
        flag = all(d["translated_name"] == name and d["forward_transform"] == name
                   for name, d in cls.translations.items())
        cls._identity_translations = flag
    return flag

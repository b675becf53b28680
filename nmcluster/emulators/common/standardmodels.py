"""Helpers for the standard models of the emulator backends."""

from __future__ import annotations

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

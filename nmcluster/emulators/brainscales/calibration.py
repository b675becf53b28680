"""The calibration seam of the wafer emulator.

Why a seam: on the wafer each HICANN's neuron circuits are calibrated ("calibtic": per HICANN,
per neuron parameter transformations); the mapping applies them when it writes the
configuration.  The calibration store (:mod:`nmcluster.calib`, another issue) will provide them;
this module fixes how the backend asks for and applies a calibration so the store can plug in
without touching the backend:

* a provider is anything with ``get(wafer: int, hicann: int) -> HicannCalibration | None``;
* :func:`resolve_provider` picks it: ``setup(calibrationProvider=...)``, else one named by
  ``NMCLUSTER_BRAINSCALES_CALIBRATION="module:attribute"``, else none (ideal circuits);
* :func:`apply` returns the parameters the emulated circuits realise (requested parameters
  through each HICANN's transformation) and the calibration version recorded in
  ``simulator.state.calibration_version``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, runtime_checkable

import numpy as np

ENV_VAR = "NMCLUSTER_BRAINSCALES_CALIBRATION"


@dataclass(frozen=True)
class HicannCalibration:
    """One HICANN's calibration: ``transforms`` maps a parameter name to a function
    ``(values, denmem_columns) -> realised values``; ``version`` is recorded with every run."""

    version: str
    transforms: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = field(
        default_factory=dict)


@runtime_checkable
class CalibrationProvider(Protocol):
    def get(self, wafer: int, hicann: int) -> HicannCalibration | None: ...


def resolve_provider(explicit=None) -> CalibrationProvider | None:
    if explicit is not None:
        if not isinstance(explicit, CalibrationProvider):
            raise TypeError("calibrationProvider needs a get(wafer, hicann) method")
        return explicit
    spec = os.environ.get(ENV_VAR, "")
    if not spec:
        return None
    mod, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(mod), attr or "provider")
    return obj() if isinstance(obj, type) else obj


def apply(provider: CalibrationProvider | None, wafer: int, hicann: np.ndarray,
          params: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str | None]:
    """Parameters as realised on the calibrated circuits, and the calibration version(s)."""
    if provider is None or hicann.size == 0:
        return params, None
    out = {k: v.copy() for k, v in params.items()}
    versions = set()
    for h in np.unique(hicann):
        cal = provider.get(wafer, int(h))
        if cal is None:
            continue
        versions.add(cal.version)
        sel = hicann == h
        for name, fn in cal.transforms.items():
            if name in out:
                out[name][sel] = fn(out[name][sel], np.nonzero(sel)[0])
    return out, ",".join(sorted(versions)) or None

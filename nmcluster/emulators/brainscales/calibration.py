"""The calibration seam of the wafer emulator: calibtic-like transformations, applied by the mapping.

On the wafer each HICANN's neuron circuits are calibrated ("calibtic": per HICANN, per denmem
parameter transformations wanted value -> floating-gate DAC value, with a domain); the mapping
applies them when it writes the configuration, and denmems whose calibration failed ("redman"
blacklist) are not used.  The emulator does exactly that on its chip model
(:mod:`.chip`: the same fixed pattern the calibration measures):

* a provider is anything with ``get(wafer: int, hicann: int) -> HicannCalibration | None``;
* :func:`resolve_provider` picks it: ``setup(calibrationProvider=...)``, else one named by
  ``NMCLUSTER_BRAINSCALES_CALIBRATION="module:attribute"``, else the one named by
  :data:`DEFAULT_PROVIDER`: the calibration store's
  (:class:`nmcluster.calib.providers.WaferStoreProvider`: ``wafer<W>`` at the version pinned by
  ``$NMCLUSTER_CALIB_VERSION``, which the job runner sets, else the current one; none = uncalibrated,
  nominal DAC values).  The emulator names its provider, it never imports the store: the store
  sits above the emulators (``calib`` measures on them);
* :func:`apply` returns the parameters the emulated circuits realise and the calibration version
  recorded in ``simulator.state.calibration_version``; :func:`blacklists` the denmems to skip.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import chip

ENV_VAR = "NMCLUSTER_BRAINSCALES_CALIBRATION"
#: the provider used when neither ``setup()`` nor ``$NMCLUSTER_BRAINSCALES_CALIBRATION`` names one
DEFAULT_PROVIDER = "nmcluster.calib.providers:WaferStoreProvider"
#: ``marocco.calib_backend = XML``: calibtic XML files in ``marocco.calib_path``
XML_PROVIDER = "nmcluster.calib.providers:WaferXMLProvider"


@dataclass(frozen=True)
class HicannCalibration:
    """One HICANN's calibration: ``transforms`` maps a parameter (``E_l``, ``V_t``, ``g_leak``) to a
    function ``(values, denmem ids) -> DAC values`` (NaN: no transformation for that denmem);
    ``blacklist`` holds the denmems that must not be used; ``version`` is recorded with every run."""

    version: str
    transforms: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = field(default_factory=dict)
    blacklist: frozenset[int] = frozenset()


@runtime_checkable
class CalibrationProvider(Protocol):
    def get(self, wafer: int, hicann: int) -> HicannCalibration | None: ...


class NoCalibration:
    """The raw wafer: nominal DAC values, fixed pattern fully visible."""

    def get(self, wafer: int, hicann: int) -> HicannCalibration | None:
        return None


def from_calibration(cal: Any, hicann: int) -> HicannCalibration | None:
    """A HICANN's calibration out of a store version (:class:`nmcluster.calib.store.Calibration`)."""
    tf = {}
    for param in chip.PARAMS:
        co = cal.data.get(f"hicann/{hicann}/{param}/coeffs")
        dm = cal.data.get(f"hicann/{hicann}/{param}/domain")
        if co is not None and dm is not None:
            tf[param] = chip.polynomial_dac(co, dm)
    bl = frozenset(int(i) for i in cal.blacklist.get(f"denmem/h{hicann}", ()))
    if not tf and not bl:
        return None
    return HicannCalibration(version=str(cal.version), transforms=tf, blacklist=bl)


def resolve_provider(explicit=None) -> CalibrationProvider:
    if explicit is not None:
        if not isinstance(explicit, CalibrationProvider):
            raise TypeError("calibrationProvider needs a get(wafer, hicann) method")
        return explicit
    return named_provider(os.environ.get(ENV_VAR, "") or DEFAULT_PROVIDER)


def named_provider(spec: str, *args: Any) -> CalibrationProvider:
    """The provider named ``module:attribute`` (a class is called with ``args``)."""
    mod, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(mod), attr or "provider")
    return obj(*args) if isinstance(obj, type) else obj


def blacklists(provider: CalibrationProvider | None, wafer: int, hicanns) -> dict[int, frozenset[int]]:
    """Denmems the calibration blacklists, per HICANN of ``hicanns`` (only those with any)."""
    if provider is None:
        return {}
    out = {}
    for h in hicanns:
        cal = provider.get(wafer, int(h))
        if cal is not None and cal.blacklist:
            out[int(h)] = frozenset(cal.blacklist)
    return out


def versions(provider: CalibrationProvider | None, wafer: int, placement) -> dict[int, str | None]:
    """The calibration version of each HICANN the placement uses (None: uncalibrated)."""
    out: dict[int, str | None] = {}
    for h in np.unique(placement.hicann):
        cal = provider.get(wafer, int(h)) if provider is not None else None
        out[int(h)] = None if cal is None else cal.version
    return out


def apply(provider: CalibrationProvider | None, wafer: int, placement,
          params: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str | None]:
    """Parameters as the placed neurons realise them on the emulated circuits (through each HICANN's
    transformations, or the nominal ones without calibration), and the calibration version(s)."""
    transforms: dict[int, Mapping[str, Callable]] = {}
    versions = set()
    if provider is not None:
        for h in np.unique(placement.hicann):
            cal = provider.get(wafer, int(h))
            if cal is not None:
                versions.add(cal.version)
                transforms[int(h)] = cal.transforms
    out = chip.realise_neurons(wafer, placement.hicann, placement.column, placement.size, params, transforms)
    return out, ",".join(sorted(versions)) or None

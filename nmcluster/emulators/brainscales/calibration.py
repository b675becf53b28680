"""The calibration seam of the wafer emulator: calibtic-like transformations, applied by the mapping.

On the wafer each HICANN's neuron circuits are calibrated ("calibtic": per HICANN, per denmem
parameter transformations wanted value -> floating-gate DAC value, with a domain); the mapping
applies them when it writes the configuration, and denmems whose calibration failed ("redman"
blacklist) are not used.  The emulator does exactly that on its chip model
(:mod:`.chip`: the same fixed pattern the calibration measures):

* a provider is anything with ``get(wafer: int, hicann: int) -> HicannCalibration | None``;
* :func:`resolve_provider` picks it: ``setup(calibrationProvider=...)``, else one named by
  ``NMCLUSTER_BRAINSCALES_CALIBRATION="module:attribute"``, else the calibration store
  (:class:`StoreProvider`: ``wafer<W>`` at the version pinned by ``$NMCLUSTER_CALIB_VERSION``,
  which the job runner sets, else the current one; none = uncalibrated, nominal DAC values);
* :func:`apply` returns the parameters the emulated circuits realise and the calibration version
  recorded in ``simulator.state.calibration_version``; :func:`blacklists` the denmems to skip.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import chip

ENV_VAR = "NMCLUSTER_BRAINSCALES_CALIBRATION"


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


class StoreProvider:
    """The calibration store's ``wafer<W>``: the version pinned by ``$NMCLUSTER_CALIB_VERSION`` (set by
    the job runner, from ``CALIB_VERSION`` or the current version at job start), else the current one;
    None for a wafer or HICANN without calibration (the store's :class:`PinnedReader` decides)."""

    def __init__(self, root: Path | str | None = None, version: int | None = None) -> None:
        from nmcluster.calib.store import PinnedReader

        self._reader = PinnedReader(root, version)

    def _read(self, wafer: int):
        return self._reader.read(f"wafer{int(wafer)}")

    def get(self, wafer: int, hicann: int) -> HicannCalibration | None:
        cal = self._read(wafer)
        return None if cal is None else from_calibration(cal, int(hicann))


class XMLProvider:
    """calibtic XML files ``w<W>-h<H>.xml`` in a directory (``marocco.calib_backend = XML`` with
    ``marocco.calib_path``), read with :func:`nmcluster.calib.formats.import_xml`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._cache: dict[int, Any] = {}

    def get(self, wafer: int, hicann: int) -> HicannCalibration | None:
        from nmcluster.calib.formats import import_xml

        if wafer not in self._cache:
            self._cache[wafer] = (import_xml(self.path, int(wafer))
                                  if any(self.path.glob(f"w{int(wafer)}-h*.xml")) else None)
        cal = self._cache[wafer]
        return None if cal is None else from_calibration(cal, int(hicann))


def resolve_provider(explicit=None) -> CalibrationProvider:
    if explicit is not None:
        if not isinstance(explicit, CalibrationProvider):
            raise TypeError("calibrationProvider needs a get(wafer, hicann) method")
        return explicit
    spec = os.environ.get(ENV_VAR, "")
    if not spec:
        return StoreProvider()
    mod, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(mod), attr or "provider")
    return obj() if isinstance(obj, type) else obj


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

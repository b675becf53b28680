"""What the calibration store provides to the layers below it, which never import it: hardware drivers
and emulators receive these providers (passed in, or named by ``module:attribute``) instead.

* :class:`WaferStoreProvider`: the wafer emulator's calibration (``get(wafer, hicann)``), named by
  :data:`nmcluster.emulators.brainscales.calibration.DEFAULT_PROVIDER`;
* :class:`WaferXMLProvider`: calibtic XML files (PyMarocco's ``calib_backend = XML``);
* :func:`wafer_blacklists`: the store's blacklists of a wafer for the wafer driver's defect handling
  (:class:`nmcluster.hwdrivers.wafer.defects.BlacklistedDefects`);
* :class:`SpikeyStoreProvider`: the Spikey emulator's (``get(station)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: a wafer's blacklists (component -> ids) and where they come from, or None when there are none
Blacklists = Callable[[int], "tuple[Mapping[str, Sequence[int]], str] | None"]


class SpikeyStoreProvider:
    """The calibration store's ``station<N>`` for the Spikey emulator (its default provider, named by
    :data:`nmcluster.emulators.spikey.calibration.DEFAULT_PROVIDER`); stations without a calibration
    file run raw.  See :class:`nmcluster.calib.store.PinnedReader` for which version applies."""

    def __init__(self, root: Path | str | None = None, version: int | None = None) -> None:
        from nmcluster.calib.store import PinnedReader

        self._reader = PinnedReader(root, version)

    def get(self, station: int) -> Any:
        from nmcluster.calib.spikey import to_station_calibration

        return self._reader.read(f"station{int(station)}", to_station_calibration)


class WaferStoreProvider:
    """The calibration store's ``wafer<W>``: the version pinned by ``$NMCLUSTER_CALIB_VERSION`` (set by
    the job runner, from ``CALIB_VERSION`` or the current version at job start), else the current one;
    None for a wafer or HICANN without calibration (the store's :class:`PinnedReader` decides)."""

    def __init__(self, root: Path | str | None = None, version: int | None = None) -> None:
        from nmcluster.calib.store import PinnedReader

        self._reader = PinnedReader(root, version)

    def get(self, wafer: int, hicann: int) -> Any:
        from nmcluster.emulators.brainscales.calibration import from_calibration

        cal = self._reader.read(f"wafer{int(wafer)}")
        return None if cal is None else from_calibration(cal, int(hicann))


class WaferXMLProvider:
    """calibtic XML files ``w<W>-h<H>.xml`` in a directory (``marocco.calib_backend = XML`` with
    ``marocco.calib_path``), read with :func:`nmcluster.calib.formats.import_xml`; named by
    :data:`nmcluster.emulators.brainscales.calibration.XML_PROVIDER`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._cache: dict[int, Any] = {}

    def get(self, wafer: int, hicann: int) -> Any:
        from nmcluster.calib.formats import import_xml
        from nmcluster.emulators.brainscales.calibration import from_calibration

        if wafer not in self._cache:
            self._cache[wafer] = (import_xml(self.path, int(wafer))
                                  if any(self.path.glob(f"w{int(wafer)}-h*.xml")) else None)
        cal = self._cache[wafer]
        return None if cal is None else from_calibration(cal, int(hicann))


def wafer_blacklists(calib_root: Path | str, version: int | None = None) -> Blacklists:
    """The store's blacklists of ``wafer<W>`` at ``version`` (None: current): components ``hicann``,
    ``fpga``, ``denmem/h<H>``, ``driver/h<H>``.  A wafer without a store file has none; an unreadable
    store is an error (it must say so, not un-blacklist silently)."""
    root = Path(calib_root)

    def read(wafer: int) -> tuple[Mapping[str, Sequence[int]], str] | None:
        path = root / f"wafer{wafer}.h5"
        if not path.exists():
            return None
        from nmcluster.calib.store import CalibStore
        from nmcluster.errors import ConfigError

        try:
            return CalibStore(root).read(f"wafer{wafer}", version).blacklist, str(path)
        except Exception as exc:  # noqa: BLE001 - see above
            raise ConfigError(f"cannot read the calibration store's blacklists of wafer {wafer}: {exc}") from None
    return read


def site_blacklists(site: Any, env: Mapping[str, str] | None = None, version: int | None = None) -> Blacklists:
    """:func:`wafer_blacklists` of the site's calibration store."""
    from nmcluster.calib.store import default_root

    return wafer_blacklists(default_root(site, env) if env is not None else site.calib_root, version)

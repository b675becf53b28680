"""The calibration seam of the Spikey emulator.

Why a seam: a real Spikey station is calibrated by ``calibAll.py stationXXX`` (membrane time
constant via per-neuron g_leak, synapse-driver strengths, parameter cells / thresholds, output
pins) and its software applies the stored result on every run.  The calibration *database* is a
later issue (``nmcluster.calib``); this module fixes how the backend asks for and applies a
calibration so that database can plug in without touching the backend:

* a provider is anything with ``get(station: int) -> StationCalibration | None``
  (:class:`CalibrationProvider`);
* :func:`resolve_provider` picks the provider: the one passed to ``setup(calibrationProvider=...)``,
  else one named by ``NMCLUSTER_SPIKEY_CALIBRATION="module:attribute"``, else the calibration store
  (:func:`default_provider`; raw chip for stations the store has no calibration of);
* :func:`apply` turns requested values into programmed values exactly as the chip software does
  (see there), and the backend records ``calibration.version`` in ``simulator.state``.

:func:`ideal_calibration` computes the calibration a perfect calibration run would measure on an
emulated chip (the inverse of its fixed-pattern noise); tests and examples use it as a provider.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from . import chip

ENV_VAR = "NMCLUSTER_SPIKEY_CALIBRATION"
#: the provider used when neither ``setup()`` nor ``$NMCLUSTER_SPIKEY_CALIBRATION`` names one
DEFAULT_PROVIDER = "nmcluster.calib.providers:SpikeyStoreProvider"
SUPPORTED_SWITCHES = ("calibTauMem", "calibSynDrivers", "calibVthresh", "calibOutputPins")
# switches of the chip software the emulator does not model: asking for them is an error
UNSUPPORTED_SWITCHES = ("calibIcb", "calibNeuronMems", "calibBioDyn", "calibTauRef",
                        "calibParameterCells", "calibFast")


@dataclass(frozen=True)
class StationCalibration:
    """One station's calibration result.

    ``g_leak_factor`` (384): programmed g_leak = requested * factor (membrane time constant);
    ``v_thresh_offset`` (384, mV): measured threshold deviation of each neuron;
    ``driver_factor`` (512): programmed driver strength multiplier (block * 256 + driver);
    ``readout_offset`` (384, mV): output-pin offset subtracted from recorded membranes;
    ``version``: identifier recorded with every run that used it.
    """

    version: str
    g_leak_factor: np.ndarray
    v_thresh_offset: np.ndarray
    driver_factor: np.ndarray
    readout_offset: np.ndarray

    def __post_init__(self) -> None:
        for name, n in (("g_leak_factor", chip.N_NEURONS), ("v_thresh_offset", chip.N_NEURONS),
                        ("driver_factor", chip.N_BLOCKS * chip.DRIVERS_PER_BLOCK),
                        ("readout_offset", chip.N_NEURONS)):
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(f"StationCalibration.{name} must have shape ({n},)")


@runtime_checkable
class CalibrationProvider(Protocol):
    """Source of station calibrations (the calibration database implements this)."""

    def get(self, station: int) -> StationCalibration | None: ...


class NoCalibration:
    """Default provider: the raw chip, fixed-pattern noise fully visible."""

    def get(self, station: int) -> StationCalibration | None:
        return None


class StaticProvider:
    """Provider holding calibrations in memory (``{station: StationCalibration}``)."""

    def __init__(self, calibrations: dict[int, StationCalibration]) -> None:
        self._cal = dict(calibrations)

    def get(self, station: int) -> StationCalibration | None:
        return self._cal.get(station)


def resolve_provider(explicit: object | None = None) -> CalibrationProvider:
    """The provider for this run: explicit > ``$NMCLUSTER_SPIKEY_CALIBRATION`` > none."""
    if explicit is not None:
        if not isinstance(explicit, CalibrationProvider):
            raise chip.ChipConfigError(
                "calibrationProvider must have a get(station) -> StationCalibration | None method")
        return explicit
    spec = os.environ.get(ENV_VAR)
    if spec:
        mod, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(mod), attr or "provider")
        except (ImportError, AttributeError) as e:
            raise chip.ChipConfigError(f"{ENV_VAR}={spec!r} cannot be loaded: {e}") from e
        provider = obj() if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "get")) \
            else obj
        return resolve_provider(provider)
    return default_provider()


def default_provider() -> CalibrationProvider:
    """The provider named by :data:`DEFAULT_PROVIDER`: the calibration store's (the station's current
    version, or the one pinned by ``$NMCLUSTER_CALIB_VERSION``); stations without a calibration
    file in the store run raw, as before the store existed.  Named, not imported: the store sits
    above the emulators (``calib`` measures on them), so the emulator only knows the provider's name."""
    mod, _, attr = DEFAULT_PROVIDER.partition(":")
    try:
        obj = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError):  # pragma: no cover - h5py missing
        return NoCalibration()
    return obj()


def check_switches(options: dict[str, object]) -> dict[str, bool]:
    """Validate the ``calib*`` options of ``setup()``; unsupported ones that are switched on raise
    (naming the option) instead of silently doing nothing."""
    switches = {name: True for name in SUPPORTED_SWITCHES}
    for key, value in options.items():
        if not key.startswith("calib") or key == "calibrationProvider":
            continue
        if key in SUPPORTED_SWITCHES:
            switches[key] = bool(value)
        elif value:
            raise chip.ChipConfigError(
                f"setup({key}=...) is not supported by the Spikey emulator; supported "
                f"calibration switches: {', '.join(SUPPORTED_SWITCHES)}")
    return switches


def ideal_calibration(station: int, noise: chip.NoiseModel | None = None,
                      version: str | None = None) -> StationCalibration:
    """The calibration a perfect calibration run would measure on emulated ``station``."""
    fp = chip.FixedPattern.for_station(station, noise or chip.NoiseModel())
    return StationCalibration(
        version=version or f"ideal-station{station}",
        g_leak_factor=1.0 / fp.g_leak,
        v_thresh_offset=fp.v_thresh.copy(),
        driver_factor=1.0 / fp.driver,
        readout_offset=fp.readout.copy(),
    )


@dataclass(frozen=True)
class Corrections:
    """What the chip software programs differently because of the calibration."""

    g_leak: np.ndarray  # (384,) multiplier on requested g_leak
    v_thresh_block: np.ndarray  # (2,) mV added to each block's shared threshold
    driver: np.ndarray  # (512,) multiplier on driver strength
    readout: np.ndarray  # (384,) mV subtracted from recorded membranes
    version: str | None


def apply(cal: StationCalibration | None, switches: dict[str, bool],
          used_neurons: np.ndarray) -> Corrections:
    """Corrections as the chip software applies them.

    * ``calibTauMem``: per-neuron g_leak factor (g_leak is a per-neuron parameter);
    * ``calibVthresh``: the threshold is a block-shared parameter, so the software can only shift
      each block's threshold by the mean measured offset of the neurons used in that block;
    * ``calibSynDrivers``: per-driver strength factor;
    * ``calibOutputPins``: readout offset removed from recorded membrane traces.
    """
    n_drv = chip.N_BLOCKS * chip.DRIVERS_PER_BLOCK
    if cal is None:
        return Corrections(np.ones(chip.N_NEURONS), np.zeros(chip.N_BLOCKS), np.ones(n_drv),
                           np.zeros(chip.N_NEURONS), None)
    vblock = np.zeros(chip.N_BLOCKS)
    if switches.get("calibVthresh", True):
        used = np.asarray(used_neurons, dtype=np.int64)
        for b in range(chip.N_BLOCKS):
            sel = used[used // chip.BLOCK_SIZE == b]
            if sel.size:
                vblock[b] = -float(np.mean(cal.v_thresh_offset[sel]))
    return Corrections(
        g_leak=cal.g_leak_factor if switches.get("calibTauMem", True) else np.ones(chip.N_NEURONS),
        v_thresh_block=vblock,
        driver=cal.driver_factor if switches.get("calibSynDrivers", True) else np.ones(n_drv),
        readout=cal.readout_offset if switches.get("calibOutputPins", True)
        else np.zeros(chip.N_NEURONS),
        version=cal.version,
    )

"""setup/run/reset/end and module-level functions of the BrainScaleS wafer emulator."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from pyNN import common
from pyNN.common.control import DEFAULT_MIN_DELAY

from ..common.control import build_end
from . import ess, simulator, wafer

logger = logging.getLogger("nmcluster.emulators.brainscales")

_KNOWN = {"marocco", "neuron_size", "driver_chain_length", "max_input_buses", "sources_per_bus",
          "continue_despite_synapse_loss", "ess_config", "enable_weight_distortion",
          "weight_distortion", "pulse_statistics_file", "bandwidth", "speedup", "seed",
          "rng_seed", "hicanns", "wafer", "defects", "calibrationProvider", "max_delay", "rank",
          "num_processes"}


def setup(timestep: float = 0.1, min_delay: float | str = DEFAULT_MIN_DELAY,
          **extra_params: Any) -> int:
    """Initialise the emulated wafer; any existing network is discarded.

    Mapping: ``marocco`` (a :class:`~.wafer.PyMarocco`, as in the guidebook) or the keywords
    ``neuron_size`` (denmems per neuron, even, 2..64, default 4), ``driver_chain_length``,
    ``max_input_buses``, ``sources_per_bus``, ``continue_despite_synapse_loss`` (default False:
    a lossy mapping is an error).  Allocation: the job's ``SLURM_HICANNS`` (else the whole wafer
    ``NMCLUSTER_WAFER``); ``hicanns=[...]`` / ``wafer=`` override; defects from
    ``SLURM_DEFECTS_PATH`` or ``defects=`` (a :class:`~nmcluster.hwdrivers.wafer.defects.
    WaferDefects`).  ESS: ``ess_config`` (:class:`~.ess.ESSConfig`) or the keywords
    ``enable_weight_distortion``, ``weight_distortion``, ``pulse_statistics_file``,
    ``bandwidth`` (:class:`~.ess.Bandwidth`).  Emulator: ``speedup`` (1e3..1e5, default 1e4),
    ``seed``, ``calibrationProvider`` (default: the calibration store's ``wafer<W>``, version pinned by
    ``$NMCLUSTER_CALIB_VERSION``; :class:`~.calibration.NoCalibration` for the raw circuits).
    """
    common.setup(timestep, min_delay, **extra_params)
    unknown = sorted(k for k in extra_params if k not in _KNOWN)
    if unknown:
        logger.warning("setup(): options %s have no meaning on the wafer emulator and are "
                       "ignored", unknown)
    marocco = extra_params.get("marocco")
    mapping = wafer.MappingConfig()
    ess_cfg = ess.ESSConfig()
    if marocco is not None:
        mapping = replace(mapping, neuron_size=marocco.neuron_size,
                          driver_chain_length=marocco.chain_length,
                          continue_despite_synapse_loss=bool(
                              marocco.continue_despite_synapse_loss))
        ess_cfg = marocco.ess_config
    mkeys = {k: extra_params[k] for k in ("neuron_size", "driver_chain_length", "max_input_buses",
                                          "sources_per_bus", "continue_despite_synapse_loss")
             if k in extra_params}
    mapping = replace(mapping, **mkeys)
    mapping.check()
    if "ess_config" in extra_params:
        ess_cfg = extra_params["ess_config"]
    ekeys = {k: extra_params[k] for k in ("enable_weight_distortion", "weight_distortion",
                                          "pulse_statistics_file", "bandwidth")
             if k in extra_params}
    ess_cfg = replace(ess_cfg, **ekeys)
    if ess_cfg.weight_distortion < 0:
        raise wafer.WaferConfigError("weight_distortion must be >= 0")
    speedup = float(extra_params.get("speedup", simulator.DEFAULT_SPEEDUP))
    if not 1e3 <= speedup <= 1e5:
        raise wafer.WaferConfigError("speedup must lie in 1e3..1e5 (the wafer's range)")
    w, hs = simulator.config_from_env()
    defects = extra_params.get("defects")
    provider = extra_params.get("calibrationProvider")
    if marocco is not None:
        if marocco.default_wafer is not None and "wafer" not in extra_params:
            w = _wafer_id(marocco.default_wafer)
        defects = _marocco_defects(marocco, w) if defects is None else defects
        provider = _marocco_calibration(marocco) if provider is None else provider
    if "wafer" in extra_params:
        w = int(extra_params["wafer"])
    if extra_params.get("hicanns") is not None:
        hs = tuple(wafer.hicann_enum(h) for h in extra_params["hicanns"])
    state = simulator.state
    state.config = simulator.WaferEmulatorConfig(
        seed=int(extra_params.get("seed", extra_params.get("rng_seed", 0))), speedup=speedup,
        wafer=w, hicanns=hs, mapping=mapping, ess=ess_cfg, defects=defects,
        marocco=marocco, provider=provider)
    state.dt = float(timestep)
    state.min_delay = min_delay
    state.max_delay = extra_params.get("max_delay", "auto")
    state.clear()
    state.tell_marocco()
    return 0


def _wafer_id(w: Any) -> int:
    """``marocco.default_wafer``: an int or ``Coordinate.Wafer(33)``."""
    for attr in ("value", "toEnum"):
        if hasattr(w, attr):
            v = getattr(w, attr)()
            return _wafer_id(v)
    return int(w)


def _marocco_defects(marocco: Any, w: int):
    """The defects ``marocco.defects`` asks for (None: the job's, from ``SLURM_DEFECTS_PATH``)."""
    from nmcluster.hwdrivers.wafer.defects import WaferDefects, defects_file, load_defects_file

    d = marocco.defects
    if d.backend is None:
        return None
    if d.backend == wafer.Defects.Backend.Without:
        return WaferDefects(wafer=w)
    if not d.path:
        return None
    f = defects_file(d.path, w)
    if f is None:
        raise wafer.WaferConfigError(f"marocco.defects.path {d.path!r} holds no defects file of "
                                     f"wafer {w}")
    return load_defects_file(f, w)


def _marocco_calibration(marocco: Any):
    """The calibration provider ``marocco.calib_backend`` asks for (None: the store's)."""
    from . import calibration

    cb = marocco.calib_backend
    if cb == wafer.PyMarocco.CalibBackend.Without:
        return calibration.NoCalibration()
    if cb == wafer.PyMarocco.CalibBackend.XML:
        if not marocco.calib_path:
            raise wafer.WaferConfigError("calib_backend XML needs marocco.calib_path (the "
                                         "directory of w<W>-h<H>.xml files)")
        return calibration.named_provider(calibration.XML_PROVIDER, marocco.calib_path)
    return None


end = build_end(simulator)
run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)


def hardware_time() -> float:
    """Seconds the runs so far take on the wafer (biological time / speed-up)."""
    return simulator.state.hardware_time


def emulation_time() -> float:
    """Wall-clock seconds the emulator spent integrating the runs so far."""
    return simulator.state.emulation_time


def speedup() -> float:
    """The emulated wafer's speed-up factor (default 1e4)."""
    return simulator.state.speedup


def mapping_stats() -> wafer.MappingStats | None:
    """Statistics of the last mapping (after the first ``run()``)."""
    return simulator.state.stats


def pulse_statistics() -> dict[str, int]:
    """The ESS pulse statistics of the current trial (the eight keys of ``pulse_statistics``)."""
    return simulator.state.pulse_statistics()

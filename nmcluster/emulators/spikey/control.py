"""setup/run/reset/end and the chip's module-level functions for the Spikey emulator backend."""

from __future__ import annotations

import logging
from typing import Any

from pyNN import common
from pyNN.common.control import DEFAULT_MIN_DELAY
from ..common.control import build_end
from . import calibration, chip, simulator

logger = logging.getLogger("nmcluster.emulators.spikey")

_KNOWN = {"workStationName", "mappingOffset", "neuronPermutation", "strict", "seed", "rng_seed",
          "fixedPatternNoise", "temporalNoise", "noiseModel", "calibrationProvider", "max_delay",
          "rank", "num_processes"}


def setup(timestep: float = 0.1, min_delay: float | str = DEFAULT_MIN_DELAY,
          **extra_params: Any) -> int:
    """Initialise the emulated chip; any existing network is discarded.

    Chip options: ``workStationName`` (e.g. ``"station500"``; default ``$MY_STAGE1_STATION``,
    which the job runner sets) selects the emulated chip, whose fixed-pattern noise is seeded by
    the station number; ``mappingOffset`` / ``neuronPermutation`` control neuron placement;
    calibration switches ``calibTauMem``, ``calibSynDrivers``, ``calibVthresh``,
    ``calibOutputPins`` (others raise); ``strict`` (default True; False relaxes the
    observation limits and lets conflicting block-shared parameters through: the block gets
    the last neuron's value, told once with counts).  Emulator options: ``seed`` (weight rounding, temporal noise, Poisson
    input), ``fixedPatternNoise`` / ``temporalNoise`` (bools), ``noiseModel``
    (:class:`~.chip.NoiseModel`), ``calibrationProvider``.
    """
    common.setup(timestep, min_delay, **extra_params)
    switches = calibration.check_switches(extra_params)
    unknown = sorted(k for k in extra_params if k not in _KNOWN and not k.startswith("calib"))
    if unknown:
        logger.warning("setup(): options %s have no meaning on the Spikey emulator and are "
                       "ignored", unknown)
    station = extra_params.get("workStationName") or simulator.station_from_env()
    offset = int(extra_params.get("mappingOffset", 0))
    if not 0 <= offset < chip.N_NEURONS:
        raise chip.ChipConfigError("mappingOffset must be in 0..383")
    perm = extra_params.get("neuronPermutation")
    chip.parse_permutation(perm)
    noise = extra_params.get("noiseModel") or chip.NoiseModel()
    if not isinstance(noise, chip.NoiseModel):
        raise chip.ChipConfigError("noiseModel must be a nmcluster.emulators.spikey.chip.NoiseModel")
    state = simulator.state
    state.config = simulator.SpikeyConfig(
        station=str(station), station_no=chip.station_number(station),
        strict=bool(extra_params.get("strict", True)),
        seed=int(extra_params.get("seed", extra_params.get("rng_seed", 0))),
        mapping_offset=offset, permutation=None if perm is None else tuple(int(p) for p in perm),
        fixed_pattern_noise=bool(extra_params.get("fixedPatternNoise", True)),
        temporal_noise=bool(extra_params.get("temporalNoise", True)),
        noise=noise, switches=switches, provider=extra_params.get("calibrationProvider"))
    state.dt = float(timestep)
    state.min_delay = min_delay
    state.max_delay = extra_params.get("max_delay", "auto")
    state.clear()
    return 0


end = build_end(simulator)
end.__doc__ = "Write data requested with ``record(..., to_file=...)`` and release the chip."


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)


def minExcWeight() -> float:
    """Excitatory weight of one 4-bit level (µS)."""
    return chip.MIN_EXC_WEIGHT


def minInhWeight() -> float:
    """Inhibitory weight of one 4-bit level (µS)."""
    return chip.MIN_INH_WEIGHT


def maxExcWeight() -> float:
    """Largest excitatory weight (15 levels, µS)."""
    return chip.WEIGHT_LEVELS * chip.MIN_EXC_WEIGHT


def maxInhWeight() -> float:
    """Largest inhibitory weight (15 levels, µS)."""
    return chip.WEIGHT_LEVELS * chip.MIN_INH_WEIGHT


def hardware_time() -> float:
    """Seconds the runs so far would have taken on the chip (biological time / 10^4)."""
    return simulator.state.hardware_time


def emulation_time() -> float:
    """Wall-clock seconds the emulator spent integrating the runs so far."""
    return simulator.state.emulation_time


def run_trials(duration: float, trials: int, seeds: list[int] | None = None):
    """Run the configured network ``trials`` times (independent temporal noise and input) in
    one vectorised pass; returns the engine Simulation (``.spike_counts()``: (trials, neurons),
    neurons in population creation order).  PyNN recorders are not involved."""
    return simulator.state.run_trials(duration, trials, seeds)

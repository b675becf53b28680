"""setup/run/reset/end and module-level functions of the SpiNNaker emulator."""

from __future__ import annotations

import logging
from typing import Any

from pyNN import common

from ..common.control import build_end
from . import machine, simulator

logger = logging.getLogger("nmcluster.emulators.spinnaker")

_KNOWN = {"strict", "seed", "rng_seed", "fixed_point", "real_time", "time_scale_factor",
          "report_file", "max_delay", "rank", "num_processes", "n_boards_required",
          "n_chips_required"}


def setup(timestep: float = 1.0, min_delay: float | str = "auto", **extra_params: Any) -> int:
    """Initialise the emulated machine; any existing network is discarded.

    ``timestep`` defaults to 1 ms as on SpiNNaker.  Options: ``strict`` (default True: refuse
    what the machine does not support), ``fixed_point`` (default True: s16.15 state),
    ``real_time`` (pace runs to ``time_scale_factor`` x biological time; default False),
    ``report_file`` (write the partitioning report as JSON at each build), ``seed``.
    """
    common.setup(timestep, min_delay, **extra_params)
    unknown = sorted(k for k in extra_params if k not in _KNOWN)
    if unknown:
        logger.warning("setup(): options %s have no meaning on the SpiNNaker emulator and are "
                       "ignored", unknown)
    tsf = float(extra_params.get("time_scale_factor", 1.0))
    if tsf <= 0:
        raise machine.SpinnakerConfigError("time_scale_factor must be > 0")
    state = simulator.state
    state.config = simulator.SpinnakerConfig(
        strict=bool(extra_params.get("strict", True)),
        seed=int(extra_params.get("seed", extra_params.get("rng_seed", 0))),
        fixed_point=bool(extra_params.get("fixed_point", True)),
        real_time=bool(extra_params.get("real_time", False)), time_scale_factor=tsf,
        report_file=str(extra_params.get("report_file", "")))
    state.dt = float(timestep)
    state.min_delay = min_delay
    state.max_delay = extra_params.get("max_delay", "auto")
    state.clear()
    return 0


end = build_end(simulator)
run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)


def set_number_of_neurons_per_core(neuron_type, n: int) -> None:
    """At most ``n`` neurons per core for every population of ``neuron_type`` (a cell type
    class or its name)."""
    if int(n) != n or n < 1:
        raise machine.SpinnakerConfigError("neurons per core must be >= 1")
    name = neuron_type if isinstance(neuron_type, str) else neuron_type.__name__
    simulator.state.per_type[name] = min(int(n), machine.MAX_NEURONS_PER_CORE)
    simulator.state.structure_changed()


def partitioning_report(path: str | None = None) -> dict:
    """Cores, chips and boards the network needs; written as JSON to ``path`` if given (the
    input of ``nmcluster.hwdrivers.spinnaker.boards.boards_for_report``)."""
    st = simulator.state
    return st.write_partitioning_report(path) if path else st.partitioning_report()


def emulation_time() -> float:
    """Wall-clock seconds the emulator spent integrating the runs so far."""
    return simulator.state.emulation_time


def weight_scales() -> dict:
    """The 16-bit weight scale chosen per target ``(population label, receptor type)``."""
    return dict(simulator.state.weight_scales)

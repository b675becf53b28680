"""setup/run/reset/end and module-level functions of the SpiNNaker emulator."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from pyNN import common

from ..common.control import build_end
from . import machine, simulator

logger = logging.getLogger("nmcluster.emulators.spinnaker")

_KNOWN = {"strict", "seed", "rng_seed", "fixed_point", "real_time", "time_scale_factor",
          "report_file", "max_delay", "rank", "num_processes", "n_boards_required",
          "n_chips_required", "database_socket_addresses"}
#: sPyNNaker's timestep for ``setup(timestep="auto")`` (spynnaker/pyNN/__init__.py
#: SPYNNAKER_AUTO_TIMESTEP)
AUTO_TIMESTEP = 1.0


def setup(timestep: float | str | None = None, min_delay: float | str = "auto",
          max_delay: float | str | None = None, **extra_params: Any) -> int:
    """Initialise the emulated machine; any existing network is discarded.

    As sPyNNaker 7.4.1's ``setup`` (spynnaker/pyNN/__init__.py): ``timestep=None`` takes PyNN's
    default 0.1 ms with a warning, ``"auto"`` 1 ms; ``min_delay="auto"`` is one timestep; a
    ``max_delay`` is ignored with a warning; ``time_scale_factor`` defaults to
    ``max(1, ceil(timestep / 10 ms))`` (spynnaker_data_writer.set_up_timings_and_delay).
    Emulator options: ``strict`` (default True: refuse what the machine does not support),
    ``fixed_point`` (default True: s16.15 arithmetic as on the ARM cores), ``real_time`` (pace
    runs to ``time_scale_factor`` x biological time; default False), ``report_file`` (write
    the partitioning report as JSON at each build), ``seed``.
    """
    if timestep is None:
        logger.warning("The default PyNN timestep of %s is less than 1(ms) that SpyNNaker is "
                       "designed for. Consider including a timestep in your setup call.",
                       common.control.DEFAULT_TIMESTEP)
        timestep = float(common.control.DEFAULT_TIMESTEP)
    elif timestep == "auto":
        timestep = AUTO_TIMESTEP
    timestep = float(timestep)
    if timestep <= 0:
        raise machine.SpinnakerConfigError(f"timestep must be > 0, got {timestep}")
    if min_delay == "auto":
        min_delay = timestep
    if max_delay:
        logger.warning("max_delay is not supported by sPyNNaker so will be ignored")
    common.setup(timestep, min_delay, **extra_params)
    unknown = sorted(k for k in extra_params if k not in _KNOWN)
    if unknown:
        logger.warning("setup(): options %s have no meaning on the SpiNNaker emulator and are "
                       "ignored", unknown)
    tsf = extra_params.get("time_scale_factor")
    tsf = float(max(1.0, math.ceil(timestep / 10.0)) if tsf is None else tsf)
    if tsf <= 0:
        raise machine.SpinnakerConfigError("time_scale_factor must be > 0")
    state = simulator.state
    state.config = simulator.SpinnakerConfig(
        strict=bool(extra_params.get("strict", True)),
        seed=int(extra_params.get("seed", extra_params.get("rng_seed", 0)) or 0),
        fixed_point=bool(extra_params.get("fixed_point", True)),
        real_time=bool(extra_params.get("real_time", False)), time_scale_factor=tsf,
        report_file=str(extra_params.get("report_file", "")))
    state.dt = timestep
    state.min_delay = min_delay
    state.max_delay = "auto"
    state.clear()
    return 0


def name() -> str:
    """The simulator's name, as sPyNNaker's ``name()`` gives it (``sPyNNaker_under_version(...)``,
    spynnaker/_version.py NAME) with the emulator marked, so scripts that test for
    ``"sPyNNaker"`` take their SpiNNaker branch."""
    return f"sPyNNaker_under_version({SPYNNAKER_VERSION}-nmcluster emulator)"


#: the sPyNNaker release whose behaviour the emulator follows
SPYNNAKER_VERSION = "7.4.1"


end = build_end(simulator)
run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)


def _model_name(neuron_type) -> str:
    if isinstance(neuron_type, str):
        # sPyNNaker 7: "set_number_of_neurons_per_core call now expects neuron_type as a class
        # instead of as a str" (spynnaker/pyNN/__init__.py)
        raise machine.SpinnakerConfigError(
            "set_number_of_neurons_per_core call now expects neuron_type as a class instead of "
            f"as a str (got {neuron_type!r})")
    return neuron_type.__name__


def _verify_may_set(param: str) -> None:
    """sPyNNaker 7.4.1 refuses a global per-model setting once any Population exists
    (spynnaker/pyNN/models/abstract_pynn_model.py ``verify_may_set``)."""
    if simulator.state.populations:
        raise machine.SpinnakerConfigError(
            "Global set is not supported after a Population has been created. Either move it "
            f"above the creation of all Populations or provide {param} during the creation of "
            "each Population it applies to.")


def set_number_of_neurons_per_core(neuron_type, max_permitted) -> None:
    """At most ``max_permitted`` neurons per core for populations of ``neuron_type`` (a cell
    type class); refused once any Population exists, as in sPyNNaker 7.4.1 (give
    ``neurons_per_core=`` to the Population instead); ``None`` restores the maximum.  Above the model's maximum
    (:data:`.machine.ABSOLUTE_MAX_ATOMS`: 500 for Poisson sources, none for neuron models) it is
    refused, as sPyNNaker's ``set_model_max_atoms_per_dimension_per_core`` does."""
    name_ = _model_name(neuron_type)
    if max_permitted is None:
        n = machine.MAX_NEURONS_PER_CORE
    else:
        n = int(np.prod(max_permitted)) if not np.isscalar(max_permitted) else max_permitted
        n = machine.check_max_atoms(name_, n)
    _verify_may_set("neurons_per_core")
    simulator.state.per_type[name_] = int(n)


def set_number_of_synapse_cores(neuron_type, n_synapse_cores) -> None:
    """sPyNNaker 7's split of synapse processing onto separate cores (0: combined, None: the
    tool chain chooses).  Recorded for the partitioning report; the numbers are unchanged (the
    emulator integrates the same model either way)."""
    name_ = _model_name(neuron_type)
    if n_synapse_cores is not None and (int(n_synapse_cores) != n_synapse_cores
                                        or n_synapse_cores < 0):
        raise machine.SpinnakerConfigError(
            f"number of synapse cores must be None or >= 0, got {n_synapse_cores}")
    _verify_may_set("n_synapse_cores")
    simulator.state.synapse_cores[name_] = n_synapse_cores


def set_allow_delay_extensions(neuron_type, allow_delay_extensions: bool) -> None:
    """Whether populations of ``neuron_type`` may use delay-extension cores (sPyNNaker 7)."""
    name_ = _model_name(neuron_type)
    _verify_may_set("allow_delay_extensions")
    simulator.state.delay_extensions[name_] = bool(allow_delay_extensions)


def get_machine() -> "machine.EmulatedMachine":
    """The emulated SpiNNaker machine (sPyNNaker's ``get_machine()`` returns the
    spinn_machine ``Machine``): its chips and cores, sized by the network's partitioning."""
    return machine.EmulatedMachine.for_report(simulator.state.partitioning_report())


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

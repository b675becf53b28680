"""SpiNNaker's rules as the emulator applies them: partitioning, fixed-point weights, delays.

* **Partitioning** (like the sPyNNaker tool chain): every population (neurons and spike sources)
  is split into slices of at most ``MAX_NEURONS_PER_CORE`` (255) atoms, one slice per application
  core; the limit is lowered per population by ``add_constraint(
  PartitionerMaximumSizeConstraint(n))`` / ``set_max_atoms_per_core(n)`` or per cell type by
  ``set_number_of_neurons_per_core(celltype, n)``.  A population sending over delays longer
  than ``DELAYS_PER_CORE`` (16) time steps needs one delay-extension core per slice.  Cores pack
  16 per chip, chips 48 per board.  :func:`partition` returns the report the spinnaker partition
  (:func:`nmcluster.hwdrivers.spinnaker.boards.boards_for_report`) turns into boards.
* **Weights** are 16-bit unsigned integers with one scale (a power of two) per target (post
  population x receptor type), chosen so that the largest weight still fits.
* **Delays** are whole time steps in ``1..MAX_DELAY_STEPS`` (144); shorter ones are raised to one
  step with a warning, as sPyNNaker does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nmcluster.errors import UserInputError

from nmcluster.hwdrivers.spinnaker.boards import APP_CORES_PER_CHIP, LARGE_BOARD_CHIPS

MAX_NEURONS_PER_CORE = 255
DELAYS_PER_CORE = 16  # delays a neuron core handles itself (steps)
MAX_DELAY_STEPS = 144  # 16 on the core x 8 delay stages of an extension core + 16
WEIGHT_BITS = 16


#: sPyNNaker 7.4.1's absolute maximum atoms per core of a model (AbstractPyNNModel
#: .absolute_max_atoms_per_core: unbounded for neuron models and spike arrays, 500 for the
#: Poisson sources, spike_source_poisson.py DEFAULT_MAX_ATOMS_PER_CORE)
ABSOLUTE_MAX_ATOMS = {"SpikeSourcePoisson": 500, "SpikeSourcePoissonVariable": 500}


def check_max_atoms(model: str, n) -> int:
    """``n`` atoms per core for ``model`` as an int, refused if not >= 1 or above the model's
    absolute maximum (sPyNNaker: "The absolute maximum neurons per core for this model is
    ...")."""
    if int(n) != n or n < 1:
        raise SpinnakerConfigError(f"neurons per core must be an integer >= 1, got {n}")
    top = ABSOLUTE_MAX_ATOMS.get(model)
    if top is not None and n > top:
        raise SpinnakerConfigError(
            f"The absolute maximum neurons per core for this model ({model}) is {top}; got {n}")
    return int(n)


class SpinnakerConfigError(UserInputError):
    """The network cannot be configured on SpiNNaker as requested."""


class PartitionerMaximumSizeConstraint:
    """Limit the atoms (neurons) per core of one population (sPyNNaker's constraint)."""

    def __init__(self, size: int) -> None:
        if int(size) != size or size < 1:
            raise SpinnakerConfigError(f"PartitionerMaximumSizeConstraint needs a size >= 1, "
                                       f"got {size}")
        self.size = int(size)


def cores_for(n: int, per_core: int) -> int:
    return math.ceil(n / per_core) if n > 0 else 0


@dataclass(frozen=True)
class PopulationSlice:
    label: str
    size: int
    neurons_per_core: int
    cores: int
    delay_extension_cores: int


def partition(populations: list, delay_ext: set[int] | None = None,
              per_type: dict[str, int] | None = None) -> dict:
    """The partitioning report of a set of populations.

    ``delay_ext``: ids (``id(pop)``) of populations that send over delays > 16 steps;
    ``per_type``: cell-type name -> neurons per core.  Returns a JSON-able dict with ``cores``,
    ``chips``, ``boards``, ``neuron_cores``, ``delay_extension_cores`` and per-population rows.
    """
    delay_ext = delay_ext or set()
    per_type = per_type or {}
    rows = []
    for p in populations:
        # a per-type limit applies to populations made after it was set (sPyNNaker)
        by_type = getattr(p, "_type_limit", None)
        if by_type is None:
            by_type = per_type.get(type(p.celltype).__name__, MAX_NEURONS_PER_CORE)
        # (a limit the user sets may exceed the default, as in sPyNNaker)
        limit = min(by_type, getattr(p, "_max_atoms", MAX_NEURONS_PER_CORE))
        c = cores_for(p.size, limit)
        rows.append(PopulationSlice(str(p.label), int(p.size), limit, c,
                                    c if id(p) in delay_ext else 0))
    neuron_cores = sum(r.cores for r in rows)
    ext = sum(r.delay_extension_cores for r in rows)
    cores = neuron_cores + ext
    chips = math.ceil(cores / APP_CORES_PER_CHIP) if cores else 0
    return {
        "cores": max(cores, 1) if populations else 0,
        "chips": max(chips, 1) if populations else 0,
        "boards": math.ceil(max(chips, 1) / LARGE_BOARD_CHIPS) if populations else 0,
        "neuron_cores": neuron_cores,
        "delay_extension_cores": ext,
        "app_cores_per_chip": APP_CORES_PER_CHIP,
        "chips_per_board": LARGE_BOARD_CHIPS,
        "populations": [r.__dict__ for r in rows],
    }


def weight_scale(max_weight: float) -> float:
    """Power-of-two scale (integer units per weight unit) so that ``max_weight`` fits 16 bits."""
    if max_weight <= 0:
        return 1.0
    k = math.floor(math.log2((2 ** WEIGHT_BITS - 1) / max_weight))
    return 2.0 ** k


def quantise_weights(w: np.ndarray, scale: float) -> np.ndarray:
    """|w| as 16-bit integers at ``scale`` and back (realised weights)."""
    ints = np.clip(np.rint(np.abs(w) * scale), 0, 2 ** WEIGHT_BITS - 1)
    return ints / scale


def delay_steps(delay: np.ndarray, dt: float, label: str) -> np.ndarray:
    """Delays as whole time steps, as sPyNNaker rounds them (abstract_synapse_dynamics.py
    ``_round_delay``: ``rint(delay / ts)``, with a warning when that changes a delay); delays
    shorter than one step are raised to one step with a warning (the machine's minimum), longer
    than ``MAX_DELAY_STEPS`` refused."""
    import logging

    d = np.asarray(delay, float)
    steps = np.rint(d / dt).astype(np.int64)
    log = logging.getLogger("nmcluster.emulators.spinnaker")
    if steps.size and not np.allclose(d, steps * dt):
        log.warning("%s: rounding delays to whole time steps of %g ms (e.g. %s -> %s)", label,
                    dt, d.reshape(-1)[0], steps.reshape(-1)[0] * dt)
    if steps.size and steps.min() < 1:
        log.warning("%s: delays shorter than one time step (%g ms) raised to one step", label, dt)
        steps = np.maximum(steps, 1)
    if steps.size and steps.max() > MAX_DELAY_STEPS:
        bad = d[steps > MAX_DELAY_STEPS]
        raise SpinnakerConfigError(
            f"{label}: SpiNNaker supports delays of 1..{MAX_DELAY_STEPS} time steps "
            f"({dt:g}..{MAX_DELAY_STEPS * dt:g} ms at timestep {dt:g} ms); got "
            f"{np.unique(bad)[:3]} ms")
    return steps


class EmulatedMachine:
    """The machine ``get_machine()`` returns: boards of 48 chips with 16 application cores each
    (the subset of spinn_machine's ``Machine`` that scripts read: ``n_chips``, ``chips``,
    ``width``, ``height``, ``total_cores``, ``total_available_user_cores``, ``max_chip_x`` /
    ``max_chip_y``)."""

    def __init__(self, boards: int) -> None:
        self.boards = max(1, int(boards))
        self.n_chips = self.boards * LARGE_BOARD_CHIPS
        side = 8 if self.boards == 1 else 12 * math.ceil(math.sqrt(self.boards / 3))
        self.width = self.height = side
        self.max_chip_x = self.max_chip_y = side - 1
        self.total_available_user_cores = self.n_chips * APP_CORES_PER_CHIP
        self.total_cores = self.n_chips * (APP_CORES_PER_CHIP + 2)  # + monitor + system core

    @classmethod
    def for_report(cls, report: dict) -> "EmulatedMachine":
        return cls(report.get("boards", 1) or 1)

    @property
    def chips(self) -> list[tuple[int, int]]:
        """(x, y) of every chip (board after board, row by row)."""
        return [(i % self.width, i // self.width) for i in range(self.n_chips)]

    def __str__(self) -> str:
        return (f"{self.width}x{self.height} emulated SpiNNaker machine: {self.n_chips} chips, "
                f"{self.total_available_user_cores} application cores")

    __repr__ = __str__

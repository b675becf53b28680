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
* **Delays** are whole time steps in ``1..MAX_DELAY_STEPS`` (144).
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
        limit = min(MAX_NEURONS_PER_CORE, per_type.get(type(p.celltype).__name__,
                                                       MAX_NEURONS_PER_CORE),
                    getattr(p, "_max_atoms", MAX_NEURONS_PER_CORE))
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
    steps = np.rint(np.asarray(delay, float) / dt).astype(np.int64)
    if steps.size and (steps.min() < 1 or steps.max() > MAX_DELAY_STEPS):
        bad = delay[(steps < 1) | (steps > MAX_DELAY_STEPS)]
        raise SpinnakerConfigError(
            f"{label}: SpiNNaker supports delays of 1..{MAX_DELAY_STEPS} time steps "
            f"({dt:g}..{MAX_DELAY_STEPS * dt:g} ms at timestep {dt:g} ms); got "
            f"{np.unique(bad)[:3]} ms")
    return steps

"""SpiNNaker board inventory and sizing: how many (and which) boards a job needs.

Boards come from the site config (``[[boards]]``: name, host, 4 or 48 chips, position).  A job asks by
board count, by chips, or by the cores its network needs (the SpiNNaker emulator's partitioning report
gives these).  A SpiNNaker chip has 18 ARM cores of which 16 run application code (one is the monitor,
one a spare), so ``cores -> chips = ceil(cores / 16)``.  Several boards only form one machine when they
are 48-chip boards (4-chip boards have no board-to-board links), so anything above 4 chips is a number
of 48-chip boards.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmcluster.config import Board
from nmcluster.errors import HardwareConfigError

CORES_PER_CHIP = 18
APP_CORES_PER_CHIP = 16
SMALL_BOARD_CHIPS = 4
LARGE_BOARD_CHIPS = 48


@dataclass(frozen=True)
class BoardRequest:
    """The resolved size of a SpiNNaker request."""

    boards: tuple[Board, ...]
    chips_needed: int | None  # None when asked by board count
    cores_needed: int | None

    @property
    def count(self) -> int:
        return len(self.boards)

    @property
    def chips(self) -> int:
        return sum(b.chips for b in self.boards)

    def describe(self) -> str:
        what = f"{self.count} board(s)"
        if self.cores_needed is not None:
            what += f" for {self.cores_needed} cores"
        elif self.chips_needed is not None:
            what += f" for {self.chips_needed} chips"
        return what


def chips_for_cores(cores: int, app_cores_per_chip: int = APP_CORES_PER_CHIP) -> int:
    """Chips needed to place ``cores`` application cores."""
    if cores < 1:
        raise HardwareConfigError(f"spinnaker: CORES must be >= 1, got {cores}")
    return math.ceil(cores / app_cores_per_chip)


def select_boards(inventory: Sequence[Board], *, boards: int | None = None, chips: int | None = None,
                  cores: int | None = None) -> BoardRequest:
    """Pick boards from ``inventory`` for a request by count, chips or cores (exactly one of them).

    A single small job prefers a 4-chip board, leaving the large boards for large jobs.
    """
    given = [k for k, v in (("BOARDS", boards), ("CHIPS", chips), ("CORES", cores)) if v is not None]
    if len(given) > 1:
        raise HardwareConfigError(f"spinnaker hardware config: give one of BOARDS, CHIPS or CORES, not "
                                  f"{' and '.join(given)}")
    if not inventory:
        raise HardwareConfigError("this site has no SpiNNaker boards")
    small = [b for b in inventory if b.chips == SMALL_BOARD_CHIPS]
    large = [b for b in inventory if b.chips == LARGE_BOARD_CHIPS]
    if cores is not None:
        chips = chips_for_cores(cores)
    if chips is not None:
        if chips < 1:
            raise HardwareConfigError(f"spinnaker hardware config: CHIPS must be >= 1, got {chips}")
        if chips <= SMALL_BOARD_CHIPS and small:
            return BoardRequest((small[0],), chips, cores)
        n = math.ceil(chips / LARGE_BOARD_CHIPS)
        if n > len(large):
            raise HardwareConfigError(f"{chips} SpiNNaker chips need {n} 48-chip board(s) but this site has "
                                      f"{len(large)}" + (f" (and {len(small)} 4-chip board(s), which cannot be "
                                                         f"joined)" if small else ""))
        return BoardRequest(tuple(large[:n]), chips, cores)
    n = 1 if boards is None else boards
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise HardwareConfigError(f"spinnaker hardware config: BOARDS must be >= 1, got {boards!r}")
    if n > len(inventory):
        raise HardwareConfigError(f"{n} SpiNNaker board(s) requested but this site has {len(inventory)}")
    if n == 1:
        return BoardRequest(((large or small)[0],), None, None)
    if n > len(large):
        raise HardwareConfigError(f"{n} joined SpiNNaker boards must be 48-chip boards; this site has "
                                  f"{len(large)}")
    return BoardRequest(tuple(large[:n]), None, None)


def need_from_report(report: Mapping[str, Any] | Path | str) -> dict[str, int]:
    """The request keys (``CORES`` or ``CHIPS``) for a partitioning report.

    A report is a JSON object (or a path to one) with ``cores`` and/or ``chips`` (integers; other keys,
    such as per-population placements, are ignored).  Chips win over cores when both are given: the
    partitioner already knows how the cores pack onto chips.
    """
    if not isinstance(report, Mapping):
        try:
            report = json.loads(Path(report).read_text())
        except (OSError, ValueError) as exc:
            raise HardwareConfigError(f"cannot read partitioning report {report}: {exc}") from None
    if not isinstance(report, Mapping):
        raise HardwareConfigError("a partitioning report is a JSON object with 'cores' and/or 'chips'")
    for key in ("chips", "cores"):
        value = report.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HardwareConfigError(f"partitioning report: {key} must be a positive integer, got {value!r}")
            return {key.upper(): value}
    raise HardwareConfigError("partitioning report names neither 'chips' nor 'cores'")


def boards_for_report(inventory: Sequence[Board], report: Mapping[str, Any] | Path | str) -> BoardRequest:
    """Boards for a partitioning report (cores/chips -> boards)."""
    need = need_from_report(report)
    return select_boards(inventory, chips=need.get("CHIPS"), cores=need.get("CORES"))

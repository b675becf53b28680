"""BrainScaleS wafer geometry: HICANN <-> (x, y) <-> reticle <-> FPGA, licences and FPGA IPs.

The facts (SPEC.md, "BrainScaleS wafer geometry"): 384 HICANNs enumerated row by row over a 36 x 16 grid
whose rows are 12,12,20,20,28,28,36,36,36,36,28,28,20,20,12,12 wide and centred; a HICANN at (x, y)
belongs to reticle (x // 4, y // 2); reticles are enumerated row-major (rows of 3,5,7,9,9,7,5,3) and
map to FPGAs through a fixed table.  Everything is computed once into tuples at import time (pure,
immutable) so both the partition validation and the wafer emulator share one source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable

N_HICANNS = 384
N_FPGAS = 48
N_RETICLES = 48
GRID_WIDTH = 36
GRID_HEIGHT = 16
HICANNS_PER_FPGA = 8

ROW_WIDTHS: tuple[int, ...] = (12, 12, 20, 20, 28, 28, 36, 36, 36, 36, 28, 28, 20, 20, 12, 12)
RETICLE_ROW_WIDTHS: tuple[int, ...] = (3, 5, 7, 9, 9, 7, 5, 3)
RETICLE_TO_FPGA: tuple[int, ...] = (
    12, 13, 11, 16, 14, 15, 10, 9, 20, 17, 19, 7, 6, 8, 3, 22, 21, 23, 18, 5, 4, 0, 2, 1,
    25, 26, 24, 28, 43, 42, 47, 45, 46, 27, 29, 30, 41, 40, 38, 44, 31, 32, 39, 37, 36, 33, 34, 35,
)


def _build() -> tuple[tuple[tuple[int, int], ...], tuple[int, ...], dict[tuple[int, int], int]]:
    coords: list[tuple[int, int]] = []
    for y, width in enumerate(ROW_WIDTHS):
        x0 = (GRID_WIDTH - width) // 2
        coords.extend((x, y) for x in range(x0, x0 + width))
    # reticle enum: row-major over reticle rows; reticle row r spans grid rows 2r, 2r+1
    reticle_index: dict[tuple[int, int], int] = {}
    n = 0
    for ry, rwidth in enumerate(RETICLE_ROW_WIDTHS):
        x0 = (GRID_WIDTH // 4 - rwidth) // 2
        for rx in range(x0, x0 + rwidth):
            reticle_index[(rx, ry)] = n
            n += 1
    reticles = tuple(reticle_index[(x // 4, y // 2)] for x, y in coords)
    return tuple(coords), reticles, reticle_index


HICANN_COORDS, HICANN_RETICLE, _RETICLE_INDEX = _build()
HICANN_FPGA: tuple[int, ...] = tuple(RETICLE_TO_FPGA[r] for r in HICANN_RETICLE)
_COORD_TO_HICANN = {c: h for h, c in enumerate(HICANN_COORDS)}
FPGA_TO_RETICLE: tuple[int, ...] = tuple(RETICLE_TO_FPGA.index(f) for f in range(N_FPGAS))


_RETICLE_COORDS: tuple[tuple[int, int], ...] = tuple(sorted(_RETICLE_INDEX, key=_RETICLE_INDEX.__getitem__))


def check_hicann(hicann: int) -> int:
    """Return ``hicann`` if it is a valid HICANN enum, else raise ValueError naming the range."""
    if isinstance(hicann, bool) or not isinstance(hicann, int) or not 0 <= hicann < N_HICANNS:
        raise ValueError(f"HICANN {hicann!r} is out of range 0..{N_HICANNS - 1}")
    return hicann


def check_fpga(fpga: int) -> int:
    if isinstance(fpga, bool) or not isinstance(fpga, int) or not 0 <= fpga < N_FPGAS:
        raise ValueError(f"FPGA {fpga!r} is out of range 0..{N_FPGAS - 1}")
    return fpga


def check_reticle(reticle: int) -> int:
    if isinstance(reticle, bool) or not isinstance(reticle, int) or not 0 <= reticle < N_RETICLES:
        raise ValueError(f"reticle {reticle!r} is out of range 0..{N_RETICLES - 1}")
    return reticle


def hicann_coord(hicann: int) -> tuple[int, int]:
    """Grid coordinate (x, y) of a HICANN."""
    return HICANN_COORDS[check_hicann(hicann)]


def hicann_at(x: int, y: int) -> int | None:
    """HICANN at grid position (x, y), or None where the round wafer has no chip."""
    return _COORD_TO_HICANN.get((x, y))


def reticle_of_hicann(hicann: int) -> int:
    return HICANN_RETICLE[check_hicann(hicann)]


def fpga_of_hicann(hicann: int) -> int:
    """FPGA serving a HICANN (e.g. HICANN 367 -> FPGA 34)."""
    return HICANN_FPGA[check_hicann(hicann)]


def fpga_of_reticle(reticle: int) -> int:
    return RETICLE_TO_FPGA[check_reticle(reticle)]


def hicanns_of_fpga(fpga: int) -> tuple[int, ...]:
    """The 8 HICANNs an FPGA serves, ascending (FPGA 12 -> 0-3, 12-15)."""
    check_fpga(fpga)
    return tuple(h for h in range(N_HICANNS) if HICANN_FPGA[h] == fpga)


def hicanns_of_reticle(reticle: int) -> tuple[int, ...]:
    check_reticle(reticle)
    return tuple(h for h in range(N_HICANNS) if HICANN_RETICLE[h] == reticle)


def neighbours(hicann: int) -> tuple[int, ...]:
    """HICANNs adjacent on the grid (N, E, S, W order), those that exist."""
    x, y = hicann_coord(hicann)
    out = []
    for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)):
        h = hicann_at(x + dx, y + dy)
        if h is not None:
            out.append(h)
    return tuple(out)


def fpgas_for_hicanns(hicanns: Iterable[int]) -> tuple[int, ...]:
    """Sorted unique FPGAs needed for a set of HICANNs."""
    return tuple(sorted({fpga_of_hicann(h) for h in hicanns}))


def license_name(wafer: int, fpga: int) -> str:
    """Slurm licence of one FPGA of a wafer, e.g. ``W33F34``."""
    return f"W{wafer}F{check_fpga(fpga)}"


def hicann_name(wafer: int, hicann: int) -> str:
    """Environment name of a HICANN, e.g. ``W33H297``."""
    return f"W{wafer}H{check_hicann(hicann)}"


def license_by_hicann(wafer: int, hicann: int) -> str:
    """Licence of the FPGA serving HICANN ``hicann`` of ``wafer`` (``33, 367`` -> ``W33F34``)."""
    return license_name(wafer, fpga_of_hicann(hicann))


def fpga_ip(wafer: int, fpga: int) -> str:
    """FPGA IP scheme of the original site: ``192.168.<wafer>.<1 + fpga % 12 + 32 * (fpga // 12)>``."""
    check_fpga(fpga)
    return f"192.168.{wafer}.{1 + fpga % 12 + 32 * (fpga // 12)}"


def reticle_coord(reticle: int) -> tuple[int, int]:
    """Reticle grid coordinate (rx, ry) = (x // 4, y // 2) of its HICANNs."""
    return _RETICLE_COORDS[check_reticle(reticle)]


def reticle_at(rx: int, ry: int) -> int | None:
    """Reticle at reticle-grid position (rx, ry), or None outside the round wafer."""
    return _RETICLE_INDEX.get((rx, ry))


def reticle_of_fpga(fpga: int) -> int:
    """The reticle an FPGA serves (one FPGA per reticle)."""
    return FPGA_TO_RETICLE[check_fpga(fpga)]


def hicanns_of_fpgas(fpgas: Iterable[int]) -> tuple[int, ...]:
    """Sorted HICANNs served by a set of FPGAs."""
    return tuple(sorted(h for f in set(fpgas) for h in hicanns_of_fpga(f)))


def reticle_neighbours(reticle: int) -> tuple[int, ...]:
    """Reticles adjacent on the reticle grid (N, E, S, W order), those that exist."""
    rx, ry = reticle_coord(reticle)
    out = []
    for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0)):
        r = reticle_at(rx + dx, ry + dy)
        if r is not None:
            out.append(r)
    return tuple(out)


def fpga_of_ip(ip: str) -> tuple[int, int]:
    """Inverse of :func:`fpga_ip`: ``"192.168.33.76"`` -> (wafer 33, FPGA 34)."""
    parts = ip.strip().split(".")
    if len(parts) != 4 or parts[:2] != ["192", "168"] or not all(p.isdigit() for p in parts[2:]):
        raise ValueError(f"{ip!r} is not a wafer FPGA address (192.168.<wafer>.<host>)")
    wafer, host = int(parts[2]), int(parts[3]) - 1
    block, offset = divmod(host, 32)
    if not (0 <= block < N_FPGAS // 12 and 0 <= offset < 12):
        raise ValueError(f"{ip!r} is not an FPGA address of the 192.168.<wafer>.<1 + f % 12 + 32 * (f // 12)> scheme")
    return wafer, block * 12 + offset

"""The Spikey chip as the emulator sees it: limits, shared parameters, weights, line drivers, noise.

Why a separate module: everything here is a property of the *chip* (and of the station's
individual chip), not of PyNN.  The PyNN layer (``simulator.py`` ...) asks this module to place
neurons, allocate line drivers, quantise weights and realise parameters, so the chip rules live
in one place and can be tested without PyNN.

Facts (SPEC "Spikey chip", guidebook "Spikey school"):

* 384 neurons in two blocks of 192; 256 line drivers per block; driver ``i < 192`` of a block is
  fed by neuron ``i`` of the same block or by the matching neuron of the other block (table in the
  guidebook: left driver ``i`` <- right neuron ``192 + (i ^ 1)``); the top 64 drivers take
  external input only; external sources are allocated top-down (driver 255, 254, ...); at most
  256 external sources per chip.  A driver fans out to one block only, and its synapse type,
  short-term plasticity and PSC shape (``drvifall`` / ``drviout``) are per driver.
* ``IF_facets_hardware1``: per neuron ``g_leak``, ``tau_refrac``; shared per block ``v_rest``,
  ``v_reset``, ``v_thresh``, ``e_rev_I``; ``e_rev_E = 0``; ``cm = 0.2 nF``.
* 4-bit weights: levels 0..15 of ``minExcWeight()`` / ``minInhWeight()``; other values are rounded
  stochastically (seeded); level 0 means no synapse.
* Membrane potential of one neuron at a time; spikes of all neurons.
* Speed-up 10^4; fixed-pattern noise per chip (stable), temporal noise per trial.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from nmcluster.errors import UserInputError

# --- constants -----------------------------------------------------------------------------------
N_NEURONS = 384
BLOCK_SIZE = 192
N_BLOCKS = 2
DRIVERS_PER_BLOCK = 256
NEURON_DRIVERS = 192  # drivers 0..191 may be fed by neurons; 192..255 external only
MAX_EXTERNAL_SOURCES = 256
WEIGHT_LEVELS = 15  # 4 bit: 0..15
SPEEDUP = 1.0e4
CM = 0.2  # nF, fixed membrane capacitance
E_REV_E = 0.0  # mV, excitatory reversal clamped to ground
MIN_EXC_WEIGHT = 0.001  # µS per weight level (excitatory)
MIN_INH_WEIGHT = 0.003  # µS per weight level (inhibitory; smaller driving force)
INTRINSIC_DELAY = 1.0  # ms (bio); synaptic delays are not configurable on the chip
# neurons whose membrane can be routed to the analog readout (SPEC: 192..383)
MEMBRANE_READOUT = range(BLOCK_SIZE, N_NEURONS)
SHARED_PARAMS = ("v_rest", "v_reset", "v_thresh", "e_rev_I")

DEFAULTS = {  # IF_facets_hardware1 defaults on Spikey (SPEC)
    "g_leak": 20.0, "tau_refrac": 1.0, "v_rest": -75.0, "v_reset": -80.0, "v_thresh": -55.0,
    "e_rev_I": -80.0, "tau_syn_E": 5.0, "tau_syn_I": 5.0,
}


class ChipLimitError(UserInputError):
    """A network or observation limit of the Spikey chip was exceeded.

    ``limit`` names the violated limit (e.g. ``"neurons"``, ``"external sources"``,
    ``"line driver"``, ``"membrane recording"``, ``"shared parameter"``, ``"short-term
    plasticity"``) so that callers and users can act on it.
    """

    def __init__(self, limit: str, message: str) -> None:
        self.limit = limit
        super().__init__(f"Spikey limit '{limit}': {message}")


class ChipConfigError(UserInputError):
    """An option passed to ``setup()`` is unknown or not supported by the emulator."""


def min_weight(receptor: str) -> float:
    return MIN_EXC_WEIGHT if receptor == "excitatory" else MIN_INH_WEIGHT


def station_number(station: str | int | None) -> int:
    """``"station500"`` -> 500; the number seeds the chip's fixed-pattern noise."""
    if station is None:
        return 0
    if isinstance(station, (int, np.integer)):
        return int(station)
    m = re.fullmatch(r"(?:station)?(\d+)", str(station).strip())
    if not m:
        raise ChipConfigError(f"workStationName must look like 'station500', got {station!r}")
    return int(m.group(1))


# --- noise ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseModel:
    """Sizes of the analog imperfections (relative sigmas unless stated).

    Fixed-pattern values follow the uncalibrated spread reported for Spikey (tens of percent in
    leak and synaptic efficacy, a few mV in threshold); temporal values are an order of magnitude
    smaller (trial-to-trial reproducibility of firing rates of a few percent).
    """

    fpn_g_leak: float = 0.15
    fpn_v_thresh: float = 1.5  # mV
    fpn_driver: float = 0.2
    fpn_synapse: float = 0.05
    fpn_readout: float = 2.0  # mV offset of the membrane readout (output pins)
    tmp_g_leak: float = 0.02
    tmp_v_thresh: float = 0.3  # mV
    tmp_driver: float = 0.03
    tmp_v_noise: float = 0.0  # mV white membrane noise per step (off: costs one normal/step)


@dataclass(frozen=True)
class FixedPattern:
    """The stable deviations of one emulated chip (seeded by its station number)."""

    g_leak: np.ndarray  # (384,) multiplicative
    v_thresh: np.ndarray  # (384,) additive mV
    driver: np.ndarray  # (512,) multiplicative (block * 256 + driver)
    readout: np.ndarray  # (384,) additive mV on recorded membrane
    synapse: np.ndarray | None  # (2, 256, 192) multiplicative per synapse; None: no noise

    @classmethod
    def for_station(cls, station: int, noise: NoiseModel, enabled: bool = True) -> "FixedPattern":
        """The chip of ``station`` (its arrays are read-only and shared: a station's fixed
        pattern is a pure function of its number and the noise model, so every ``setup()`` of
        a process reuses the ~100 k draws of the first instead of drawing them again)."""
        return _fixed_pattern(cls, int(station), noise, bool(enabled))

    @classmethod
    def _draw(cls, station: int, noise: NoiseModel, enabled: bool) -> "FixedPattern":
        if not enabled:
            return cls(np.ones(N_NEURONS), np.zeros(N_NEURONS),
                       np.ones(N_BLOCKS * DRIVERS_PER_BLOCK), np.zeros(N_NEURONS), None)
        rng = np.random.default_rng([0x5B1CE, station])
        return cls(
            g_leak=np.exp(rng.normal(0.0, noise.fpn_g_leak, N_NEURONS)),
            v_thresh=rng.normal(0.0, noise.fpn_v_thresh, N_NEURONS),
            driver=np.exp(rng.normal(0.0, noise.fpn_driver, N_BLOCKS * DRIVERS_PER_BLOCK)),
            readout=rng.normal(0.0, noise.fpn_readout, N_NEURONS),
            synapse=np.exp(rng.normal(0.0, noise.fpn_synapse,
                                      (N_BLOCKS, DRIVERS_PER_BLOCK, BLOCK_SIZE))),
        )

    def synapse_factors(self, noise: NoiseModel, block: np.ndarray, driver: np.ndarray,
                        neuron: np.ndarray) -> np.ndarray:
        """Per-synapse efficacy deviation, a fixed function of the synapse's position."""
        if self.synapse is None:
            return np.ones(np.size(neuron))
        return self.synapse[block, driver, np.asarray(neuron) % BLOCK_SIZE]


@functools.lru_cache(maxsize=16)
def _fixed_pattern(cls, station: int, noise: NoiseModel, enabled: bool) -> FixedPattern:
    fp = cls._draw(station, noise, enabled)
    for a in (fp.g_leak, fp.v_thresh, fp.driver, fp.readout, fp.synapse):
        if a is not None:
            a.flags.writeable = False
    return fp


# --- weights -------------------------------------------------------------------------------------
def quantise_weights(weights: np.ndarray, lsb: float,
                     rng: np.random.Generator | Callable[[], np.random.Generator]
                     ) -> tuple[np.ndarray, int]:
    """4-bit weights: ``w / lsb`` rounded stochastically to a neighbouring integer (unbiased:
    ``E[level] = w / lsb``), clipped to 0..15.  Returns ``(levels, n_clipped)``.

    Stochastic rounding is what the chip software does; it preserves the mean weight of a
    projection, which deterministic rounding would bias for weights below one level.  ``rng``
    may be a zero-argument callable making the generator: it is then called only when some
    weight lies between two levels (weights on levels round the same whatever is drawn).
    """
    x = np.asarray(weights, dtype=float) / lsb
    if np.any(x < 0):
        raise ValueError("conductance weights must be >= 0")
    lo = np.floor(x)
    frac = x - lo
    if frac.any():
        if callable(rng):
            rng = rng()
        levels = lo + (rng.random(x.shape) < frac)
    else:
        levels = lo
    clipped = int(np.count_nonzero(levels > WEIGHT_LEVELS))
    return np.clip(levels, 0, WEIGHT_LEVELS).astype(np.int64), clipped


# --- placement and line drivers ------------------------------------------------------------------
def block_of(hw: int | np.ndarray) -> int | np.ndarray:
    return np.asarray(hw) // BLOCK_SIZE if not isinstance(hw, int) else hw // BLOCK_SIZE


def neuron_driver(hw_neuron: int, target_block: int) -> int:
    """Local index of the line driver through which neuron ``hw_neuron`` reaches ``target_block``
    (guidebook table: same block -> driver i; other block -> driver i ^ 1)."""
    i = hw_neuron % BLOCK_SIZE
    return i if hw_neuron // BLOCK_SIZE == target_block else i ^ 1


def default_placement_order() -> list[int]:
    """Right block first (its membranes are the ones that can be read out), then the left."""
    return list(range(BLOCK_SIZE, N_NEURONS)) + list(range(0, BLOCK_SIZE))


@dataclass
class Driver:
    """Configuration of one synapse line driver."""

    block: int
    index: int
    source: int  # PyNN ID of the neuron or external source feeding it
    external: bool
    receptor: str | None = None
    stp: tuple[float, float, float] | None = None  # (U, tau_rec, tau_facil)
    plastic_kind: str | None = None  # "static" / "stp"
    fall_factor: float = 1.0  # drvifall scaling (PSC decay speed)
    out_factor: float = 1.0  # drviout scaling (PSC amplitude)

    @property
    def gid(self) -> int:
        return self.block * DRIVERS_PER_BLOCK + self.index


@dataclass
class ChipLayout:
    """Neuron placement and line-driver allocation of one chip configuration."""

    order: list[int] = field(default_factory=default_placement_order)
    offset: int = 0
    used: list[int] = field(default_factory=list)
    drivers: dict[tuple[int, int], Driver] = field(default_factory=dict)
    external_slot: dict[int, int] = field(default_factory=dict)  # source ID -> 0..255

    def place(self, n: int) -> np.ndarray:
        """Hardware neurons for ``n`` new neurons, in placement order."""
        start = self.offset + len(self.used)
        if start + n > len(self.order):
            raise ChipLimitError(
                "neurons", f"{N_NEURONS} neurons (2 blocks of {BLOCK_SIZE}) available; "
                f"{len(self.used)} placed (mapping offset {self.offset}), {n} more requested")
        hw = self.order[start:start + n]
        self.used.extend(hw)
        return np.asarray(hw, dtype=np.int64)

    def driver_for(self, source_id: int, hw_neuron: int | None, target_block: int) -> Driver:
        """The driver that carries ``source_id`` into ``target_block`` (allocating it)."""
        if hw_neuron is None:  # external source
            slot = self.external_slot.get(source_id)
            if slot is None:
                slot = len(self.external_slot)
                if slot >= MAX_EXTERNAL_SOURCES:
                    raise ChipLimitError(
                        "external sources",
                        f"at most {MAX_EXTERNAL_SOURCES} external spike sources per chip")
                self.external_slot[source_id] = slot
            index = DRIVERS_PER_BLOCK - 1 - slot
        else:
            index = neuron_driver(hw_neuron, target_block)
        key = (target_block, index)
        drv = self.drivers.get(key)
        if drv is None:
            drv = Driver(target_block, index, source_id, hw_neuron is None)
            self.drivers[key] = drv
        elif drv.source != source_id:
            what = "external source" if hw_neuron is None else f"hardware neuron {hw_neuron}"
            raise ChipLimitError(
                "line driver",
                f"driver {index} of block {target_block} is already fed by "
                f"{'external source' if drv.external else 'a neuron'} (ID {drv.source}); "
                f"{what} (ID {source_id}) cannot use it. Drivers 0..191 serve neuron i of their "
                f"block or neuron i^1 of the other block; external sources take drivers from "
                f"255 downwards")
        return drv


def check_driver_config(drv: Driver, receptor: str, stp: tuple[float, float, float] | None
                        ) -> None:
    """A driver has one synapse type and one short-term plasticity setting."""
    if drv.receptor is None:
        drv.receptor = receptor
    elif drv.receptor != receptor:
        raise ChipLimitError(
            "line driver", f"driver {drv.index} of block {drv.block} (source ID {drv.source}) "
            f"would need to be both {drv.receptor} and {receptor}; a driver has one synapse type")
    kind = "static" if stp is None else "stp"
    if stp is not None:
        U, trec, tfac = stp
        if trec > 0 and tfac > 0:
            raise ChipLimitError(
                "short-term plasticity",
                f"Spikey STP is depressing (tau_facil=0) or facilitating (tau_rec=0), not both "
                f"(got tau_rec={trec}, tau_facil={tfac})")
    if drv.plastic_kind is None:
        drv.plastic_kind, drv.stp = kind, stp
    elif drv.plastic_kind != kind or (stp is not None and drv.stp != stp):
        raise ChipLimitError(
            "short-term plasticity",
            f"driver {drv.index} of block {drv.block} (source ID {drv.source}) already has "
            f"STP={drv.stp}; all synapses of a line driver share its STP setting")


def lut_for(kind: str, w_min_level: int, w_max_level: int) -> tuple[np.ndarray, int]:
    """Look-up table (causal row, acausal row) of the chip's STDP controller and the number of
    LSB steps one evaluation represents (1 additive, 4 multiplicative)."""
    levels = np.arange(16)
    if kind == "additive":
        step = 1
        causal = levels + 1
        acausal = levels - 1
    else:  # multiplicative: step proportional to the distance from the bound
        step = 4
        span = max(1, w_max_level - w_min_level)
        causal = levels + np.rint(step * (w_max_level - levels) / span)
        acausal = levels - np.rint(step * (levels - w_min_level) / span)
    return (np.clip(np.vstack([causal, acausal]), w_min_level, w_max_level).astype(np.int64),
            step)


#: the range of the chip's voltage parameters (v_rest, v_reset, v_thresh, e_rev_I) in biological mV.
#: *inferred*: Spikey's parameter voltages are analog outputs of ~0..1.8 V mapped onto biological
#: millivolts by the Spikey software's ``hwconfig``; beyond this range no DAC setting realises them
VOLTAGE_RANGE = (-100.0, -20.0)


def check_voltages(name: str, values: np.ndarray) -> None:
    """Refuse a voltage parameter outside the chip's range (naming the range)."""
    lo, hi = VOLTAGE_RANGE
    bad = values[(values < lo) | (values > hi)]
    if bad.size:
        raise ChipLimitError(
            "voltage range",
            f"{name} = {', '.join(f'{b:g}' for b in np.unique(bad)[:3])} mV lies outside the "
            f"chip's range {lo:g}..{hi:g} mV ({bad.size} neuron(s)); use a value in that range")


def shared_value(name: str, block: int, values: np.ndarray, strict: bool) -> float:
    """The one value of a block-shared parameter; conflicts raise in strict mode.

    Non-strict mode does what the hardware does when two neurons of a block ask for different
    values: the block gets one of them (the last written); the others are not realised (the
    simulator tells that once, with counts: :func:`shared_conflicts`).
    """
    uniq = np.unique(np.round(values, 9))
    if uniq.size > 1 and strict:
        raise ChipLimitError(
            "shared parameter",
            f"{name} is shared by all neurons of block {block} but the neurons placed there ask "
            f"for {uniq.size} different values ({', '.join(f'{u:g}' for u in uniq[:5])}); "
            f"use one value per block or setup(strict=False)")
    return float(values[-1])


def shared_conflicts(values: np.ndarray) -> int:
    """How many neurons of a block do not get their requested shared value (non-strict mode)."""
    if values.size == 0:
        return 0
    return int(np.sum(np.abs(values - values[-1]) > 1e-9))


def parse_permutation(perm: Sequence[int] | None) -> list[int]:
    if perm is None:
        return default_placement_order()
    out = [int(p) for p in perm]
    if len(set(out)) != len(out) or any(not 0 <= p < N_NEURONS for p in out):
        raise ChipConfigError("neuronPermutation must be distinct hardware neurons 0..383")
    return out


def blocks(hw: Iterable[int]) -> np.ndarray:
    return np.asarray(list(hw), dtype=np.int64) // BLOCK_SIZE

"""The emulated HICANN's analog neuron circuits: per-denmem fixed-pattern deviations.

ONE chip model, used by both the wafer emulator's mapping (:func:`realise_neurons`: PyNN parameters
-> floating-gate DAC values -> what the circuits realise) and the BrainScaleS calibration
(:mod:`nmcluster.calib.brainscales` measures these circuits and fits the calibtic-like
transformations the mapping then applies).  Like the Spikey emulator's per-station noise
(:mod:`nmcluster.emulators.spikey.chip`), the pattern is seeded by (wafer, HICANN): the same
HICANN always deviates the same way.

Per HICANN 512 denmems; parameters are 10-bit floating-gate DAC values 0..1023; values in
biological mV / nS (membrane capacitance ``CM`` = 0.2 nF per denmem):

* ``E_l(dac) = -90 + 60 * s_E * dac / 1023 + o_E`` (s_E ~ logN(0, 0.1), o_E ~ N(0, 3 mV));
* ``V_t(dac)``: same form with its own s_V, o_V (the spike comparator's threshold);
* ``g_leak(dac) = g_max * (dac / 1023) ** p`` nS (g_max ~ 60 * logN(0, 0.2), p ~ N(1.3, 0.1));
* 2 % of denmems have a stuck leak (g_leak ~ 0.05 nS whatever the DAC) and 1 % a stuck threshold
  (fires at every DAC value): calibration fails for them and blacklists them.

Without a calibration the mapping programs the *nominal* DAC value (:func:`nominal_dac`: the
transformation of an ideal circuit, ``s = 1, o = 0, g_max = 60, p = 1.3``); with one it programs
the HICANN's calibtic-like transformation (value -> DAC, polynomial on its domain; requested values
outside the domain are clipped into it, as calibtic's clipping does).

A logical neuron of ``neuron_size`` interconnected denmems (columns ``c .. c + size/2 - 1``, top
denmem ``col`` and bottom denmem ``256 + col``) realises: leak conductance = requested x mean
relative deviation of its denmems' leaks (time constant of the whole membrane), rest potential =
leak-weighted mean of its denmems' E_l, threshold = the comparator of its firing denmem (the top
denmem of its first column).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

N_DENMEMS = 512
COLUMNS = N_DENMEMS // 2
CM = 0.2  # nF per denmem
DAC_MAX = 1023
PARAMS = ("E_l", "V_t", "g_leak")
NOMINAL_P = 1.3
NOMINAL_G_MAX = 60.0


class HicannChip:
    """Fixed pattern of one HICANN's denmems (seeded by wafer and HICANN)."""

    def __init__(self, wafer: int, hicann: int) -> None:
        self.wafer, self.hicann = int(wafer), int(hicann)
        rng = np.random.default_rng([0xB55, self.wafer, self.hicann])
        n = N_DENMEMS
        self.s_E, self.o_E = np.exp(rng.normal(0, 0.1, n)), rng.normal(0, 3.0, n)
        self.s_V, self.o_V = np.exp(rng.normal(0, 0.1, n)), rng.normal(0, 3.0, n)
        self.g_max, self.p = 60.0 * np.exp(rng.normal(0, 0.2, n)), rng.normal(1.3, 0.1, n)
        self.stuck_leak = rng.random(n) < 0.02
        self.stuck_vt = rng.random(n) < 0.01

    # elementwise: dac and ids broadcast against each other
    def value(self, param: str, dac, ids) -> np.ndarray:
        dac = np.asarray(dac, float)
        if param == "E_l":
            return -90.0 + 60.0 * self.s_E[ids] * dac / DAC_MAX + self.o_E[ids]
        if param == "V_t":
            v = -90.0 + 60.0 * self.s_V[ids] * dac / DAC_MAX + self.o_V[ids]
            return np.where(self.stuck_vt[ids], -120.0, v)
        if param == "g_leak":
            g = self.g_max[ids] * (np.clip(dac, 0, None) / DAC_MAX) ** self.p[ids]
            return np.where(self.stuck_leak[ids], 0.05, g)
        raise KeyError(param)

    # measurement form: ``dac`` (...) x ``ids`` (n,) -> (..., n)
    def E_l(self, dac, ids):
        return self.value("E_l", np.asarray(dac)[..., None], ids)

    def V_t(self, dac, ids):
        return self.value("V_t", np.asarray(dac)[..., None], ids)

    def g_leak(self, dac, ids):
        return self.value("g_leak", np.asarray(dac)[..., None], ids)


@functools.lru_cache(maxsize=512)
def hicann_chip(wafer: int, hicann: int) -> HicannChip:
    return HicannChip(wafer, hicann)


def nominal_dac(param: str, value) -> np.ndarray:
    """DAC value an uncalibrated mapping programs (the ideal circuit's transformation)."""
    v = np.asarray(value, float)
    if param in ("E_l", "V_t"):
        dac = (v + 90.0) * DAC_MAX / 60.0
    elif param == "g_leak":
        dac = DAC_MAX * (np.clip(v, 0, None) / NOMINAL_G_MAX) ** (1.0 / NOMINAL_P)
    else:
        raise KeyError(param)
    return np.clip(np.rint(dac), 0, DAC_MAX)


def polynomial_dac(coeffs: np.ndarray, domain: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A calibtic-like transformation (per denmem ``dac = sum c_k x^k`` on ``[lo, hi]``) as a
    function ``(values, denmem ids) -> DAC`` (values clipped into the domain; NaN where the denmem
    has no valid transformation)."""
    coeffs = np.asarray(coeffs, float)
    domain = np.asarray(domain, float)

    def to_dac(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(values, float), domain[ids, 0], domain[ids, 1])
        c = coeffs[ids]
        dac = sum(c[:, k] * x ** k for k in range(c.shape[1]))
        return np.where(np.isfinite(dac), np.clip(np.rint(dac), 0, DAC_MAX), np.nan)
    return to_dac


def denmems_of(column: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(denmem ids, owning neuron index) of logical neurons at first ``column`` with ``size`` denmems."""
    half = np.asarray(size, np.int64) // 2
    owner = np.repeat(np.arange(half.size), half)
    k = np.arange(owner.size) - np.repeat(np.cumsum(half) - half, half)
    col = np.repeat(np.asarray(column, np.int64), half) + k
    return np.concatenate([col, col + COLUMNS]), np.concatenate([owner, owner])


def realise_neurons(wafer: int, hicann: np.ndarray, column: np.ndarray, size: np.ndarray,
                    params: Mapping[str, np.ndarray],
                    transforms: Mapping[int, Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]]
                    ) -> dict[str, np.ndarray]:
    """The engine parameters the placed neurons realise on the emulated circuits.

    ``params``: per neuron engine parameters (``cm`` nF, ``g_leak`` µS, ``v_rest``, ``v_thresh``,
    ``v_spike``, ``delta_T`` mV); ``transforms``: per HICANN ``{param: (values, ids) -> DAC}`` from
    the calibration (missing HICANN or parameter: the nominal DAC values).  Returns a copy of
    ``params`` with ``g_leak``, ``v_rest``, ``v_spike`` (and ``v_thresh`` where ``delta_T == 0``,
    i.e. IF_cond_exp) as realised."""
    out = {k: np.array(v, float, copy=True) for k, v in params.items()}
    n = np.asarray(hicann).size
    if n == 0:
        return out
    hicann = np.asarray(hicann, np.int64)
    den, owner = denmems_of(column, size)
    g_target = 1000.0 * CM * out["g_leak"] / out["cm"]  # per denmem, nS: the membrane's time constant
    want = {"E_l": out["v_rest"][owner], "g_leak": g_target[owner]}
    got = {"E_l": np.empty(den.size), "g_leak": np.empty(den.size)}
    fire = np.asarray(column, np.int64)  # the firing denmem: top denmem of the first column
    vt_got = np.empty(n)
    for h in np.unique(hicann):
        chipm = hicann_chip(int(wafer), int(h))
        tf = transforms.get(int(h), {})
        sel = np.nonzero(hicann[owner] == h)[0]
        for param in ("E_l", "g_leak"):
            got[param][sel] = chipm.value(param, _dac(tf, param, want[param][sel], den[sel]), den[sel])
        nsel = np.nonzero(hicann == h)[0]
        vt_got[nsel] = chipm.value("V_t", _dac(tf, "V_t", out["v_spike"][nsel], fire[nsel]), fire[nsel])
    gsum = np.bincount(owner, weights=got["g_leak"], minlength=n)
    cnt = np.bincount(owner, minlength=n)
    out["g_leak"] = out["g_leak"] * (gsum / cnt) / g_target
    out["v_rest"] = np.bincount(owner, weights=got["g_leak"] * got["E_l"], minlength=n) / gsum
    shift = vt_got - out["v_spike"]
    out["v_spike"] = vt_got
    lif = out.get("delta_T", np.zeros(n)) == 0
    out["v_thresh"] = np.where(lif, out["v_thresh"] + shift, out["v_thresh"])
    return out


def _dac(tf: Mapping[str, Any], param: str, values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    nominal = nominal_dac(param, values)
    fn = tf.get(param)
    if fn is None:
        return nominal
    dac = fn(values, ids)
    return np.where(np.isfinite(dac), dac, nominal)  # no transformation for that denmem: nominal

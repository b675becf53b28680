"""BrainScaleS calibration: per-denmem V_t, E_l and g_leak transformations (calibtic-like) with
blacklisting of denmems whose fit fails (redman-like).

The measured circuits are the wafer emulator's chip model (:mod:`nmcluster.emulators.brainscales.chip`,
per wafer and HICANN seeded fixed pattern of 512 denmems; the model is documented there), so the
transformations fitted here are exactly what the emulator's mapping applies when a job runs.
Temporal noise per trial: 2 % on g_leak, 0.3 mV on V_t and E_l.

Measurements (one chunk = a range of denmems of one HICANN, all in one batched pass per step):
``E_l`` - spike mechanism off (threshold far away), resting membrane for 5 E_l DAC values; ``V_t`` -
resting potential far above threshold, the highest membrane value reached before each reset, for 5
V_t DAC values; ``g_leak`` - relaxation from -90 mV towards rest, ``v[k+1] - E = (v[k] - E) * exp(-dt /
tau)`` is linear in ``v[k]``: the slope gives tau, ``g = C / tau``, for 5 g_leak DAC values.

Transformations (calibtic direction: wanted value -> DAC): per denmem and parameter a polynomial
``dac = c0 + c1 x + c2 x^2`` (cubic for g_leak, whose DAC curve is ``~ g^(1/p)``) fitted to the measured points, valid on the measured domain
``[min x, max x]``; a fit fails (-> blacklist ``denmem/h<H>``, coefficients NaN) on missing points, a
residual above 8 DAC or a non-monotonic transformation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmcluster.emulators.brainscales import chip

N_DENMEMS = chip.N_DENMEMS
CM = chip.CM  # nF per denmem (emulated)
DACS = np.array([100, 300, 500, 700, 900])
VT_DACS = DACS  # thresholds up to about -37 mV (PyNN's default IF_cond_exp threshold is -50 mV)
PARAMS = chip.PARAMS


@dataclass
class MeasureParams:
    reps: int = 2
    seed: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _net(n: int):
    from nmcluster.emulators.engine import Network

    net = Network(n, dt=0.1, model="lif_cond")
    net.set_params(cm=CM, tau_refrac=0.5, v_reset=-95.0)
    net.add_channel("exp", 0, 5.0, 0.0)
    return net


def measure_denmems(wafer: int, hicann: int, ids: np.ndarray, p: MeasureParams) -> dict[str, np.ndarray]:
    chipm = chip.hicann_chip(wafer, hicann)
    n, R = ids.size, p.reps
    rng = np.random.default_rng([p.seed, wafer, hicann, int(ids[0])])
    d = np.repeat(DACS, R)  # (T,)
    T = d.size
    tg = np.exp(rng.normal(0, 0.02, (T, n)))
    out: dict[str, np.ndarray] = {"ids": ids, "dacs": DACS, "vt_dacs": VT_DACS}
    g_mid = np.broadcast_to(chipm.g_leak(np.array([600]), ids), (T, n)) * tg / 1000.0
    # E_l: spikes off, resting membrane
    net = _net(n)
    net.record(spikes=False, analog=[("v", i) for i in range(n)], every=100)
    el = chipm.E_l(d, ids) + rng.normal(0, 0.3, (T, n))
    sim = net.run(200.0, trials=T, seeds=list(range(T)),
                  overrides={"v_rest": el, "v_init": el, "v_thresh": np.full((T, n), 100.0), "g_leak": g_mid})
    v = sim.analog()
    out["E_l"] = v[:, v.shape[1] // 2:, :].mean(axis=1).reshape(len(DACS), R, n)
    # V_t: rest far above threshold; highest membrane before each reset
    dv = np.repeat(VT_DACS, R)
    net = _net(n)
    net.record(spikes=True, analog=[("v", i) for i in range(n)], every=1)
    vt = chipm.V_t(dv, ids) + rng.normal(0, 0.3, (T, n))
    sim = net.run(30.0, trials=T, seeds=list(range(T)),
                  overrides={"v_rest": np.full((T, n), 0.0), "v_init": np.full((T, n), -95.0), "v_thresh": vt,
                             "g_leak": g_mid})
    v = sim.analog()
    spikes = sim.spike_counts()
    vmax = v[:, 1:, :].max(axis=1)
    out["V_t"] = np.where(spikes > 0, vmax, np.nan).reshape(len(VT_DACS), R, n)
    out["V_t_spiked_at_rest"] = (v[:, 0, :] >= vt).reshape(len(VT_DACS), R, n)
    # g_leak: relaxation from -90 mV towards -60 mV
    net = _net(n)
    every = 10
    net.record(spikes=False, analog=[("v", i) for i in range(n)], every=every)
    g = chipm.g_leak(d, ids) * tg / 1000.0
    sim = net.run(100.0, trials=T, seeds=list(range(T)),
                  overrides={"v_rest": np.full((T, n), -60.0), "v_init": np.full((T, n), -90.0),
                             "v_thresh": np.full((T, n), 100.0), "g_leak": g})
    v = sim.analog()  # (T, S, n)
    x, y = v[:, :-1, :], v[:, 1:, :]
    big = np.abs(x + 60.0) > 0.5  # the part of the relaxation well above the noise
    xm = np.where(big, x, np.nan)
    ym = np.where(big, y, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mx, my = np.nanmean(xm, 1), np.nanmean(ym, 1)
        slope = np.nansum((xm - mx[:, None]) * (ym - my[:, None]), 1) / np.nansum((xm - mx[:, None]) ** 2, 1)
        tau = -every * 0.1 / np.log(slope)
        gm = 1000.0 * CM / tau
    gm = np.where((big.sum(1) >= 3) & np.isfinite(gm) & (gm > 0.2), gm, np.nan)
    out["g_leak"] = gm.reshape(len(DACS), R, n)
    return out


def chunks(hicanns: list[int], per_hicann: int = 4) -> list[dict[str, Any]]:
    out = []
    for h in hicanns:
        for part in np.array_split(np.arange(N_DENMEMS), per_hicann):
            out.append({"step": "denmems", "hicann": int(h), "ids": [int(part[0]), int(part[-1]) + 1]})
    return out


def measure_chunk(wafer: int, chunk: dict[str, Any], params: MeasureParams) -> dict[str, np.ndarray]:
    if chunk["step"] != "denmems":
        raise ValueError(f"unknown BrainScaleS calibration step {chunk['step']!r}")
    return measure_denmems(wafer, int(chunk["hicann"]), np.arange(*chunk["ids"]), params)


def fit_transform(x: np.ndarray, dac: np.ndarray, deg: int = 2, max_resid: float = 8.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per denmem polynomial dac(x); x (P, N) measured values at DAC values ``dac`` (P,).
    Returns coeffs (N, deg+1) (lowest order first), domain (N, 2), ok (N,)."""
    P, N = x.shape
    coeffs = np.full((N, deg + 1), np.nan)
    dom = np.full((N, 2), np.nan)
    ok = np.zeros(N, bool)
    for i in range(N):
        xi = x[:, i]
        good = np.isfinite(xi)
        if good.sum() < deg + 2 or np.ptp(xi[good]) <= 1e-6:
            continue
        c = np.polynomial.polynomial.polyfit(xi[good], dac[good].astype(float), deg)
        resid = np.polynomial.polynomial.polyval(xi[good], c) - dac[good]
        lo, hi = xi[good].min(), xi[good].max()
        grid = np.linspace(lo, hi, 32)
        slope = np.polynomial.polynomial.polyval(grid, np.polynomial.polynomial.polyder(c))
        if np.sqrt(np.mean(resid ** 2)) > max_resid or not (np.all(slope > 0) or np.all(slope < 0)):
            continue
        coeffs[i], dom[i], ok[i] = c, (lo, hi), True
    return coeffs, dom, ok


def fit(raw: list[tuple[dict[str, Any], dict[str, np.ndarray]]], params: MeasureParams) -> dict[str, Any]:
    per_h: dict[int, list[tuple[np.ndarray, dict[str, np.ndarray]]]] = {}
    for chunk, res in raw:
        per_h.setdefault(int(chunk["hicann"]), []).append((np.asarray(res["ids"]), res))
    data: dict[str, np.ndarray] = {}
    attrs: dict[str, dict[str, Any]] = {}
    blacklist: dict[str, np.ndarray] = {}
    for h, parts in per_h.items():
        bad = np.zeros(N_DENMEMS, bool)
        seen = np.zeros(N_DENMEMS, bool)
        for param in PARAMS:
            deg = 3 if param == "g_leak" else 2  # dac ~ g^(1/p): more curvature
            co = np.full((N_DENMEMS, deg + 1), np.nan)
            dm = np.full((N_DENMEMS, 2), np.nan)
            for ids, res in parts:
                with warnings.catch_warnings():  # all-NaN columns (stuck denmems) are expected
                    warnings.simplefilter("ignore", RuntimeWarning)
                    x = np.nanmean(res[param], axis=1)
                dacs = res["vt_dacs"] if param == "V_t" else res["dacs"]
                if param == "V_t":  # a threshold below every rest value: stuck comparator
                    x = np.where(np.any(res["V_t_spiked_at_rest"], axis=(0, 1)), np.nan, x)
                c, d, ok = fit_transform(x, dacs, deg)
                co[ids], dm[ids] = c, d
                bad[ids] |= ~ok
                seen[ids] = True
            data[f"hicann/{h}/{param}/coeffs"] = co
            data[f"hicann/{h}/{param}/domain"] = dm
            attrs[f"hicann/{h}/{param}/coeffs"] = {"kind": "polynomial", "unit_x": "nS" if param == "g_leak" else "mV",
                                                   "doc": "dac = sum c_k x^k on the domain"}
        bad |= ~seen
        for param in PARAMS:
            data[f"hicann/{h}/{param}/coeffs"][bad] = np.nan
        if bad.any():
            blacklist[f"denmem/h{h}"] = np.nonzero(bad)[0]
    return {"data": data, "attrs": attrs, "blacklist": blacklist}


def to_dac(cal: Any, hicann: int, param: str, value: float | np.ndarray) -> np.ndarray:
    """DAC values realising ``value`` on every denmem of ``hicann`` (NaN: blacklisted / outside domain)."""
    co = cal.data[f"hicann/{hicann}/{param}/coeffs"]
    dm = cal.data[f"hicann/{hicann}/{param}/domain"]
    v = np.broadcast_to(np.asarray(value, float), (co.shape[0],))
    dac = sum(co[:, k] * v ** k for k in range(co.shape[1]))
    return np.where((v >= dm[:, 0] - 1e-9) & (v <= dm[:, 1] + 1e-9), np.rint(dac), np.nan)

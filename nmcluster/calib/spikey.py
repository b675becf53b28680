"""Spikey calibration: measurement and fit steps (``calibAll.py stationXXX`` of the chip software).

Steps (guidebook 5.4; SPEC "Spikey chip"):

* **neurons** (membrane time constant via g_leak, firing threshold, refractory period, output pins):
  every neuron's membrane rests *above* threshold (``v_rest`` > ``v_thresh``), so it fires
  regularly with inter-spike interval ``ISI = t_ref + tau_m * ln((E - V_reset) / (E - V_th))``,
  ``tau_m = cm / (g_leak * a)``.  One batched pass runs 3 programmed g_leak values x 3 resting
  potentials x ``reps`` trials for all neurons of a chunk at once; a per-neuron Gauss-Newton fit
  gives the leak factor ``a``, the threshold deviation ``d`` and the effective refractory period
  ``t_ref``.  One more condition below threshold measures the output-pin (readout) offset of the
  neurons whose membrane can be read out (192..383).
* **drivers** (synapse driver strength, ``calibSynDrivers``): every driver of a chunk gets one
  input spike (staggered in time, ``trials`` run the driver groups and repetitions in parallel),
  excitatory and inhibitory; the PSP height is measured on 24 observation neurons of the driver's
  block.  ``log(height) = log(driver) + log(neuron) + log(synapse)``: subtracting each neuron's
  mean over the block's drivers removes the neuron, averaging over observation neurons the synapse
  term; the fit's factor makes every driver as strong as the block's (geometric) mean driver.

What the calibration programs (:func:`to_station_calibration`, applied by
:func:`nmcluster.emulators.spikey.calibration.apply`):

* ``g_leak_factor``: with ``neuron_target="rate"`` (default; the guidebook's "calibrate the firing
  rate by adjusting its leak conductance") the factor that makes each neuron fire at the ideal
  chip's rate at the reference operating point (``v_rest`` = -40 mV, thresholds as programmed with
  the block-mean threshold correction) - it also absorbs the neuron's residual threshold deviation,
  which a block-shared threshold cannot correct.  ``neuron_target="taumem"``: the pure membrane
  time-constant correction ``1 / a`` (stored as ``neurons/tau_mem_factor`` either way).
* ``v_thresh_offset``: the fitted ``d`` (the chip software shifts each block by its mean);
* ``driver_factor``: per driver; ``readout_offset``: per neuron (0 where not readable).

On hardware the same steps run against the station (not available on this cluster: the emulated
chip :class:`EmulatedSpikey` stands in, with the station's fixed-pattern and temporal noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmcluster.emulators.spikey import calibration as scal
from nmcluster.emulators.spikey import chip

N_NEURONS = chip.N_NEURONS
N_DRIVERS = chip.N_BLOCKS * chip.DRIVERS_PER_BLOCK
CM = chip.CM
V_RESET = -80.0
V_THRESH = -55.0
TAU_REFRAC = 1.0
G_SWEEP = (10.0, 20.0, 40.0)  # nS, programmed g_leak
E_SWEEP = (-45.0, -35.0, -20.0)  # mV, resting potential above threshold
E_REST_READOUT = -70.0  # mV, below threshold: readout offset
E_REF = -40.0  # mV, reference operating point of the rate calibration
G_REF = 20.0  # nS
OBS_PER_BLOCK = 24  # observation neurons per block for the driver measurement
PSP_V_REST = -60.0
PSP_LEVEL = 7  # 4-bit weight level used for the PSP measurement
SLOT_MS = 40.0
SLOTS = 16


@dataclass
class MeasureParams:
    reps: int = 4
    neuron_duration: float = 500.0  # ms per neuron trial
    driver_reps: int = 3
    seed: int = 1
    neuron_target: str = "rate"  # "rate" | "taumem"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def obs_neurons(block: int) -> np.ndarray:
    return block * chip.BLOCK_SIZE + np.arange(0, chip.BLOCK_SIZE, chip.BLOCK_SIZE // OBS_PER_BLOCK)


@dataclass
class EmulatedSpikey:
    """The emulated chip of a station as a calibration measurement device (the same fixed-pattern
    and temporal noise model as the PyNN backend, optionally with a calibration applied)."""

    station: int
    noise: chip.NoiseModel = field(default_factory=chip.NoiseModel)
    calibration: scal.StationCalibration | None = None
    temporal_noise: bool = True

    def __post_init__(self) -> None:
        self.fp = chip.FixedPattern.for_station(self.station, self.noise)
        self.corr = scal.apply(self.calibration, {}, np.arange(N_NEURONS))

    # -- neurons -------------------------------------------------------------------------------
    def measure_neurons(self, neurons: np.ndarray, p: MeasureParams) -> dict[str, np.ndarray]:
        """Batched ISI sweep and readout measurement of ``neurons``; raw results."""
        from nmcluster.emulators.engine import Network

        hw = np.asarray(neurons, dtype=np.int64)
        n = hw.size
        conds = [(g, e) for g in G_SWEEP for e in E_SWEEP]
        C, R = len(conds), p.reps
        T = C * R + R  # + readout trials
        g_prog = np.array([c[0] for c in conds for _ in range(R)] + [G_REF] * R)
        e_prog = np.array([c[1] for c in conds for _ in range(R)] + [E_REST_READOUT] * R)
        rng = np.random.default_rng([p.seed, self.station, 0xCA1, int(hw[0]) if n else 0])
        tg = np.exp(rng.normal(0, self.noise.tmp_g_leak, (T, n))) if self.temporal_noise else 1.0
        tth = rng.normal(0, self.noise.tmp_v_thresh, (T, n)) if self.temporal_noise else 0.0
        blk = hw // chip.BLOCK_SIZE
        net = Network(n, dt=0.1, model="lif_cond")
        net.set_params(v_reset=V_RESET, cm=CM, tau_refrac=TAU_REFRAC, i_offset=0.0)
        net.add_channel("exp", 0, 5.0, 0.0)  # unused; the kernel expects a channel
        every = 50
        net.record(spikes=True, analog=[("v", i) for i in range(n)], every=every)
        g_act = g_prog[:, None] / 1000.0 * self.corr.g_leak[hw] * self.fp.g_leak[hw] * tg
        vth = V_THRESH + self.corr.v_thresh_block[blk] + self.fp.v_thresh[hw] + tth
        seeds = [int(x) for x in np.random.SeedSequence([p.seed, self.station, int(hw[0])]).generate_state(T)]
        sim = net.run(p.neuron_duration, trials=T, seeds=seeds,
                      overrides={"g_leak": g_act, "v_rest": np.broadcast_to(e_prog[:, None], (T, n)),
                                 "v_thresh": vth, "v_init": np.broadcast_to(e_prog[:, None], (T, n))})
        tr, t, nid = sim.spikes()
        key = tr * n + nid
        cnt = np.bincount(key, minlength=T * n)
        first = np.full(T * n, np.inf)
        last = np.full(T * n, -np.inf)
        np.minimum.at(first, key, t)
        np.maximum.at(last, key, t)
        with np.errstate(invalid="ignore", divide="ignore"):
            isi = np.where(cnt >= 4, (last - first) / np.maximum(cnt - 1, 1), np.nan).reshape(T, n)
        v = sim.analog()[C * R:]  # (R, samples, n), readout trials
        half = v.shape[1] // 2
        v_read = v[:, half:, :].mean(axis=1) + self.fp.readout[hw] - self.corr.readout[hw]
        readable = hw >= chip.BLOCK_SIZE
        readout = np.where(readable, v_read.mean(axis=0) - E_REST_READOUT, np.nan)
        return {"neurons": hw, "isi": isi[:C * R].reshape(C, R, n), "g": np.array([c[0] for c in conds]),
                "E": np.array([c[1] for c in conds]), "readout": readout,
                "rate_counts": cnt.reshape(T, n)[:C * R].reshape(C, R, n)}

    # -- drivers -------------------------------------------------------------------------------
    def measure_drivers(self, drivers: np.ndarray, p: MeasureParams) -> dict[str, np.ndarray]:
        """PSP heights of ``drivers`` (global ids block*256+i), exc and inh, on the observation
        neurons of each driver's block: ``psp`` (2, reps, n_drivers, OBS_PER_BLOCK)."""
        gids = np.asarray(drivers, dtype=np.int64)
        out = np.full((2, p.driver_reps, gids.size, OBS_PER_BLOCK), np.nan)
        for b in np.unique(gids // chip.DRIVERS_PER_BLOCK):
            sel = np.nonzero(gids // chip.DRIVERS_PER_BLOCK == b)[0]
            out[:, :, sel, :] = self._psp_block(int(b), gids[sel], p)
        return {"drivers": gids, "psp": out}

    def _psp_block(self, block: int, gids: np.ndarray, p: MeasureParams) -> np.ndarray:
        from nmcluster.emulators.engine import Network

        obs = obs_neurons(block)
        K, nd, R = obs.size, gids.size, p.driver_reps
        G = int(np.ceil(nd / SLOTS))
        T = 2 * R * G
        j = np.arange(nd)
        group, slot = j % G, j // G
        t_spike = slot * SLOT_MS + 5.0
        net = Network(K, dt=0.1, model="lif_cond")
        g = G_REF / 1000.0 * self.corr.g_leak[obs] * self.fp.g_leak[obs]
        net.set_params(v_rest=PSP_V_REST, v_reset=V_RESET, v_thresh=0.0, cm=CM, tau_refrac=TAU_REFRAC,
                       g_leak=g, v_init=PSP_V_REST)
        exc = net.add_channel("exp", 0, 5.0, chip.E_REV_E)
        inh = net.add_channel("exp", 1, 5.0, -80.0)
        src = net.add_spike_array([[float(x)] for x in t_spike])
        pre = np.repeat(src, K)
        post = np.tile(np.arange(K), nd)
        drv_local = np.repeat(gids % chip.DRIVERS_PER_BLOCK, K)
        syn = self.fp.synapse_factors(self.noise, np.full(pre.size, block), drv_local, np.tile(obs, nd))
        base_gain = np.repeat(self.fp.driver[gids] * self.corr.driver[gids], K) * syn
        w_exc = PSP_LEVEL * chip.MIN_EXC_WEIGHT
        w_inh = PSP_LEVEL * chip.MIN_INH_WEIGHT
        ids_e = net.connect(pre, post, exc, w_exc, 1.0, gain=base_gain)
        ids_i = net.connect(pre, post, inh, w_inh, 1.0, gain=base_gain)
        every = 2
        net.record(spikes=False, analog=[("v", k) for k in range(K)], every=every)
        n_syn = net.n_synapses
        weight = np.zeros((T, n_syn))
        gain = np.zeros((T, n_syn))
        rng = np.random.default_rng([p.seed, self.station, 0xD21, block, int(gids[0])])
        grp_syn = np.repeat(group, K)
        for t in range(T):
            typ, rest = divmod(t, R * G)
            gr = rest % G
            tn = (np.exp(rng.normal(0, self.noise.tmp_driver, nd)) if self.temporal_noise
                  else np.ones(nd))
            ids = ids_e if typ == 0 else ids_i
            weight[t, ids] = np.where(grp_syn == gr, w_exc if typ == 0 else w_inh, 0.0)
            gain[t, ids_e] = base_gain * np.repeat(tn, K)
            gain[t, ids_i] = base_gain * np.repeat(tn, K)
        seeds = [int(x) for x in np.random.SeedSequence([p.seed, self.station, block, int(gids[0]), 7])
                 .generate_state(T)]
        sim = net.run(SLOTS * SLOT_MS + 5.0, trials=T, seeds=seeds, overrides={"weight": weight, "gain": gain})
        v = sim.analog()  # (T, samples, K); sample s at time s * every * dt
        dts = every * net.dt
        out = np.full((2, R, nd, K), np.nan)
        win = int(round(30.0 / dts))
        for t in range(T):
            typ, rest = divmod(t, R * G)
            rep, gr = divmod(rest, G)
            for jj in np.nonzero(group == gr)[0]:
                i0 = int(round(t_spike[jj] / dts))
                seg = v[t, i0:i0 + win, :]
                base = v[t, i0, :]
                out[typ, rep, jj] = (seg.max(axis=0) - base) if typ == 0 else (base - seg.min(axis=0))
        return out


# -- chunks ---------------------------------------------------------------------------------------
def chunks(neuron_chunks: int = 4, driver_chunks: int = 4) -> list[dict[str, Any]]:
    """The measurement chunks of a full chip: neuron ranges and driver ranges (one array task each)."""
    out: list[dict[str, Any]] = []
    for part in np.array_split(np.arange(N_NEURONS), neuron_chunks):
        out.append({"step": "neurons", "ids": [int(part[0]), int(part[-1]) + 1]})
    for part in np.array_split(np.arange(N_DRIVERS), driver_chunks):
        out.append({"step": "drivers", "ids": [int(part[0]), int(part[-1]) + 1]})
    return out


def measure_chunk(station: int, chunk: dict[str, Any], params: MeasureParams,
                  device: EmulatedSpikey | None = None) -> dict[str, np.ndarray]:
    dev = device or EmulatedSpikey(station)
    ids = np.arange(*chunk["ids"])
    if chunk["step"] == "neurons":
        return dev.measure_neurons(ids, params)
    if chunk["step"] == "drivers":
        return dev.measure_drivers(ids, params)
    raise ValueError(f"unknown Spikey calibration step {chunk['step']!r}")


# -- fits -----------------------------------------------------------------------------------------
def isi_model(g: np.ndarray, E: np.ndarray, la: np.ndarray, d: np.ndarray, tref: np.ndarray) -> np.ndarray:
    tau = 1000.0 * CM / (g * np.exp(la))
    return tref + tau * np.log((E - V_RESET) / np.maximum(E - V_THRESH - d, 1e-3))


def fit_neurons(g: np.ndarray, E: np.ndarray, isi: np.ndarray, iters: int = 30
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron fit of (a, d, t_ref) to ISIs ``isi`` (C, R, N); returns ``(a, d, tref, ok)``."""
    y = np.nanmean(isi, axis=1).T  # (N, C)
    N = y.shape[0]
    la, d, tref = np.zeros(N), np.zeros(N), np.full(N, TAU_REFRAC)
    gg, ee = np.asarray(g, float)[None, :], np.asarray(E, float)[None, :]
    valid = np.isfinite(y)
    yz = np.where(valid, y, 0.0)
    for _ in range(iters):
        tau = 1000.0 * CM / (gg * np.exp(la)[:, None])
        den = np.maximum(ee - V_THRESH - d[:, None], 1e-3)
        L = np.log((ee - V_RESET) / den)
        model = tref[:, None] + tau * L
        r = np.where(valid, yz - model, 0.0)
        J = np.stack([-tau * L, tau / den, np.ones_like(tau)], axis=-1) * valid[..., None]
        JtJ = np.einsum("nci,ncj->nij", J, J) + 1e-9 * np.eye(3)
        step = np.linalg.solve(JtJ, np.einsum("nci,nc->ni", J, r)[..., None])[..., 0]
        step[:, 1] = np.clip(step[:, 1], -2.0, 2.0)
        step[:, 0] = np.clip(step[:, 0], -0.5, 0.5)
        la, d, tref = la + step[:, 0], d + step[:, 1], tref + step[:, 2]
        d = np.minimum(d, min(E) - V_THRESH - 0.5)
    tau = 1000.0 * CM / (gg * np.exp(la)[:, None])
    resid = np.where(valid, yz - (tref[:, None] + tau * np.log((ee - V_RESET) /
                                                              np.maximum(ee - V_THRESH - d[:, None], 1e-3))), 0)
    rel = np.sqrt((resid ** 2).sum(1) / np.maximum(valid.sum(1), 1)) / np.nanmean(np.where(valid, y, np.nan), 1)
    ok = (valid.sum(1) >= 6) & np.isfinite(la) & np.isfinite(d) & (np.abs(la) < 1.5) & (np.abs(d) < 10) \
        & (tref > 0) & (tref < 5) & (rel < 0.05)
    return np.exp(la), d, tref, ok


def fit(raw: list[tuple[dict[str, Any], dict[str, np.ndarray]]], params: MeasureParams) -> dict[str, Any]:
    """All chunks' raw results -> the version's datasets and blacklist."""
    a = np.ones(N_NEURONS)
    d = np.zeros(N_NEURONS)
    tref = np.full(N_NEURONS, np.nan)
    readout = np.zeros(N_NEURONS)
    ok_n = np.zeros(N_NEURONS, bool)
    psp = np.full((2, N_DRIVERS, OBS_PER_BLOCK), np.nan)
    seen_n = np.zeros(N_NEURONS, bool)
    seen_d = np.zeros(N_DRIVERS, bool)
    for chunk, res in raw:
        if chunk["step"] == "neurons":
            ids = np.asarray(res["neurons"])
            ai, di, ti, oki = fit_neurons(res["g"], res["E"], res["isi"])
            a[ids], d[ids], tref[ids], ok_n[ids] = ai, di, ti, oki
            readout[ids] = np.nan_to_num(res["readout"], nan=0.0)
            seen_n[ids] = True
        else:
            ids = np.asarray(res["drivers"])
            with np.errstate(invalid="ignore"):
                psp[:, ids, :] = np.nanmean(res["psp"], axis=1)
            seen_d[ids] = True
    if not seen_n.all() or not seen_d.all():
        raise ValueError(f"incomplete measurement: {int((~seen_n).sum())} neurons and "
                         f"{int((~seen_d).sum())} drivers have no raw results")
    bad_n = ~ok_n
    a[bad_n], d[bad_n] = 1.0, 0.0
    tref_nom = float(np.nanmedian(tref[ok_n])) if ok_n.any() else TAU_REFRAC
    tref = np.where(ok_n, tref, tref_nom)
    # rate-calibration factor at the reference operating point (block-mean threshold correction on)
    dbar = np.array([d[b * chip.BLOCK_SIZE:(b + 1) * chip.BLOCK_SIZE][ok_n[b * chip.BLOCK_SIZE:
                     (b + 1) * chip.BLOCK_SIZE]].mean() for b in range(chip.N_BLOCKS)])
    blk = np.arange(N_NEURONS) // chip.BLOCK_SIZE
    L0 = np.log((E_REF - V_RESET) / (E_REF - V_THRESH))
    Li = np.log((E_REF - V_RESET) / (E_REF - V_THRESH - d + dbar[blk]))
    tau0 = 1000.0 * CM / G_REF
    isi_nom = tref_nom + tau0 * L0
    rate_factor = (1.0 / a) * (Li / L0) * (isi_nom - tref_nom) / np.maximum(isi_nom - tref, 1e-3)
    g_leak_factor = np.where(ok_n, rate_factor if params.neuron_target == "rate" else 1.0 / a, 1.0)
    # drivers: remove the observation neuron's term, average over observation neurons
    with np.errstate(invalid="ignore", divide="ignore"):
        logh = np.log(np.where(psp > 0, psp, np.nan))  # (2, 512, K)
    D = np.zeros((2, N_DRIVERS))
    for b in range(chip.N_BLOCKS):
        s = slice(b * chip.DRIVERS_PER_BLOCK, (b + 1) * chip.DRIVERS_PER_BLOCK)
        m = np.nanmean(logh[:, s, :], axis=1, keepdims=True)
        D[:, s] = np.nanmean(logh[:, s, :] - m, axis=2)
    ok_d = np.all(np.isfinite(D), axis=0) & np.all(np.abs(D) < 1.5, axis=0)
    D = np.where(ok_d, D, 0.0)
    f_type = np.exp(-D)
    driver_factor = np.exp(-D.mean(axis=0))
    data = {
        "neurons/g_leak_factor": g_leak_factor, "neurons/tau_mem_factor": np.where(ok_n, 1.0 / a, 1.0),
        "neurons/v_thresh_offset": d, "neurons/tau_refrac": tref, "neurons/readout_offset": readout,
        "drivers/driver_factor": driver_factor, "drivers/factor_exc": f_type[0], "drivers/factor_inh": f_type[1],
        "drivers/psp_exc": np.nanmean(psp[0], axis=1), "drivers/psp_inh": np.nanmean(psp[1], axis=1),
    }
    attrs = {
        "neurons/g_leak_factor": {"unit": "1", "mode": params.neuron_target,
                                  "doc": "programmed g_leak = requested * factor"},
        "neurons/tau_mem_factor": {"unit": "1", "doc": "g_leak factor equalising tau_mem"},
        "neurons/v_thresh_offset": {"unit": "mV"}, "neurons/tau_refrac": {"unit": "ms"},
        "neurons/readout_offset": {"unit": "mV", "doc": "0 for neurons 0..191 (not readable)"},
        "drivers/driver_factor": {"unit": "1", "doc": "index block*256 + driver"},
        "drivers/psp_exc": {"unit": "mV", "doc": f"uncalibrated PSP height at weight level {PSP_LEVEL}"},
        "drivers/psp_inh": {"unit": "mV"},
    }
    blacklist = {"neuron": np.nonzero(~ok_n)[0], "driver": np.nonzero(~ok_d)[0]}
    return {"data": data, "attrs": attrs, "blacklist": {k: v for k, v in blacklist.items() if v.size}}


def to_station_calibration(cal: Any) -> scal.StationCalibration:
    """A store version -> what the Spikey emulator applies (a version without the datasets it needs is
    one clear error naming the target, not a KeyError in the job)."""
    from nmcluster.calib.store import CalibInputError

    d = cal.data
    missing = [k for k in ("neurons/g_leak_factor", "neurons/v_thresh_offset", "drivers/driver_factor") if k not in d]
    if missing:
        raise CalibInputError(f"calibration {cal.target} version {cal.version} lacks {', '.join(missing)}; "
                              f"it cannot calibrate a Spikey chip")
    return scal.StationCalibration(
        version=f"{cal.target}:{cal.version}",
        g_leak_factor=np.asarray(d["neurons/g_leak_factor"], float),
        v_thresh_offset=np.asarray(d["neurons/v_thresh_offset"], float),
        driver_factor=np.asarray(d["drivers/driver_factor"], float),
        readout_offset=np.asarray(d.get("neurons/readout_offset", np.zeros(N_NEURONS)), float),
    )


# -- evaluation (the proof) -------------------------------------------------------------------------
def spread(x: np.ndarray) -> float:
    """Across-unit spread: standard deviation over mean."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(x.std() / abs(x.mean())) if x.size else float("nan")


def evaluate(station: int, calibration: scal.StationCalibration | None, reps: int = 4,
             seed: int = 99) -> dict[str, float]:
    """Spread of the calibrated quantities on emulated ``station`` with ``calibration`` applied:
    firing rate of every neuron at a fixed input (the reference operating point, 1 s, ``reps``
    trials), membrane time constant (fitted) and PSP height per driver."""
    from nmcluster.emulators.engine import Network

    dev = EmulatedSpikey(station, calibration=calibration)
    hw = np.arange(N_NEURONS)
    blk = hw // chip.BLOCK_SIZE
    net = Network(N_NEURONS, dt=0.1)
    net.set_params(v_reset=V_RESET, cm=CM, tau_refrac=TAU_REFRAC, v_rest=E_REF, v_init=E_REF)
    net.add_channel("exp", 0, 5.0, 0.0)
    rng = np.random.default_rng([seed, station])
    tg = np.exp(rng.normal(0, dev.noise.tmp_g_leak, (reps, N_NEURONS)))
    tth = rng.normal(0, dev.noise.tmp_v_thresh, (reps, N_NEURONS))
    g = G_REF / 1000.0 * dev.corr.g_leak * dev.fp.g_leak * tg
    vth = V_THRESH + dev.corr.v_thresh_block[blk] + dev.fp.v_thresh + tth
    sim = net.run(1000.0, trials=reps, seeds=[seed + k for k in range(reps)],
                  overrides={"g_leak": g, "v_thresh": vth})
    rate = sim.spike_counts().mean(axis=0) / 1.0
    p = MeasureParams(reps=2, driver_reps=reps, seed=seed)
    dr = dev.measure_drivers(np.arange(N_DRIVERS), p)
    psp = np.nanmean(dr["psp"], axis=(1, 3))  # (2, 512)
    tau = 1000.0 * CM / (G_REF / 1000.0 * 1000.0 * dev.corr.g_leak * dev.fp.g_leak)
    return {"rate_spread": spread(rate), "rate_mean_hz": float(rate.mean()),
            "psp_exc_spread": spread(psp[0]), "psp_inh_spread": spread(psp[1]),
            "tau_mem_spread": spread(tau)}

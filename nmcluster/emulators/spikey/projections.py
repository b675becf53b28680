"""Projection of the Spikey emulator backend (on ``pyNN.common.Projection``).

Connections are collected from PyNN's connectors through ``_convergent_connect``; when the
connector is done the projection allocates its line drivers (checking the chip's driver rules)
and quantises its weights to 4 bit with seeded stochastic rounding.  ``get("weight")`` returns
the realised weights (after STDP, the current ones).
"""

from __future__ import annotations

import logging

import numpy as np
from pyNN.standardmodels import synapses as std_synapses

from ..common.projections import BaseProjection, Connection  # noqa: F401
from . import chip, simulator

logger = logging.getLogger("nmcluster.emulators.spikey")


class Projection(BaseProjection):
    __doc__ = BaseProjection.__doc__
    _simulator = simulator

    def _finalise(self) -> None:
        cat = self._params
        self._delay = np.full(self._pre.size, chip.INTRINSIC_DELAY)
        req_d = cat.get("delay")
        # delays other than the chip's fixed one: counted here, told once per session by the
        # simulator when the network is built (``State.tell_once``)
        # (PyNN's default delay, the minimum delay, stands for "no delay asked for")
        default = getattr(self.synapse_type, "_get_minimum_delay", lambda: chip.INTRINSIC_DELAY)()
        self._delays_changed = (int(np.sum((np.abs(req_d - chip.INTRINSIC_DELAY) > 1e-9)
                                           & (np.abs(req_d - default) > 1e-9)))
                                if req_d is not None and req_d.size else 0)
        self._post_hw = simulator.state.hw_lookup()[self._post_ids]
        self._allocate_drivers()
        self._quantise()

    def _stp(self) -> tuple[float, float, float] | None:
        if isinstance(self.synapse_type, std_synapses.TsodyksMarkramSynapse):
            p = self._params
            if not self._pre.size:
                return None
            vals = [np.unique(p[k]) for k in ("U", "tau_rec", "tau_facil")]
            if any(v.size > 1 for v in vals):
                raise chip.ChipLimitError("short-term plasticity",
                                          "STP parameters are per line driver; use one set per "
                                          "projection")
            return (float(vals[0][0]), float(vals[1][0]), float(vals[2][0]))
        return None

    def _allocate_drivers(self) -> None:
        """One line driver per (presynaptic cell, target block), allocated (and checked) in the
        order of the connections that first need them; connections then just look up their
        driver (vectorised: a projection has far fewer drivers than connections)."""
        layout = simulator.state.layout
        stp = self._stp()
        self._drivers = []
        if not self._pre.size:
            self._driver = np.zeros(0, dtype=np.int64)
            return
        block = self._post_hw // chip.BLOCK_SIZE
        key = self._pre_ids * chip.N_BLOCKS + block
        # group connections by key (np.unique's return_index / return_inverse, without its
        # overhead): `first` = first connection of each key, `inv` = key group of each connection
        by_key = np.argsort(key, kind="stable")
        new_key = np.empty(key.size, dtype=bool)
        new_key[0] = True
        np.not_equal(key[by_key[1:]], key[by_key[:-1]], out=new_key[1:])
        first = by_key[new_key]
        inv = np.empty(key.size, dtype=np.int64)
        inv[by_key] = np.cumsum(new_key) - 1
        order = np.argsort(first, kind="stable")  # first-use order, as a per-connection loop
        use = first[order]
        pids = self._pre_ids[use]
        gid_list = []
        for pid, hw_pre, blk in zip(pids.tolist(), simulator.state.hw_lookup()[pids].tolist(),
                                    block[use].tolist()):
            drv = layout.driver_for(pid, None if hw_pre < 0 else hw_pre, blk)
            chip.check_driver_config(drv, self.receptor_type, stp)
            gid_list.append(drv.gid)
            self._drivers.append(drv)
        gids = np.empty(first.size, dtype=np.int64)
        gids[order] = gid_list
        self._driver = gids[inv]

    def _lsb(self) -> float:
        return chip.min_weight(self.receptor_type)

    def _quantise(self) -> None:
        seed = [simulator.state.config.seed, 0x4B17, self._index, self._set_count]
        self._levels, clipped = chip.quantise_weights(self._w_req, self._lsb(),
                                                      lambda: np.random.default_rng(seed))
        if clipped:
            logger.warning("%s: %d weights above the 4-bit maximum (%g uS = 15 x %g) were "
                           "clipped", self.label, clipped, 15 * self._lsb(), self._lsb())
        self._w_real = self._levels * self._lsb()

    # -- PyNN interface ------------------------------------------------------------------------
    def _current_weights(self) -> np.ndarray:
        w = self._w_real.copy()
        sim = simulator.state.sim
        if sim is not None and getattr(self, "_syn_ids", np.zeros(0)).size and \
                self._is_plastic() and self._built_net is simulator.state.net:
            w[self._syn_index] = sim.weights()[0, self._syn_ids]
        return w

    def _delays(self) -> np.ndarray:
        return self._delay

    def _set_attributes(self, parameter_space):
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            arr = np.asarray(value)
            vals = arr[self._pre, self._post] if arr.ndim == 2 else np.broadcast_to(
                arr, self._pre.shape)
            if name == "weight":
                self._w_req = np.asarray(vals, dtype=float).copy()
                self._set_count += 1
                self._quantise()
                self._weights_changed = True
            elif name == "delay":
                self._params["delay"] = np.asarray(vals, float).copy()
            else:
                if isinstance(self.synapse_type, std_synapses.TsodyksMarkramSynapse):
                    self._params[name] = np.asarray(vals, float).copy()
                    stp = self._stp()
                    for drv in self._drivers:
                        drv.plastic_kind, drv.stp = None, None
                        chip.check_driver_config(drv, self.receptor_type, stp)
                else:
                    self._params[name] = np.asarray(vals, float).copy()
        simulator.state.params_dirty = True

    # -- Spikey extras -------------------------------------------------------------------------
    def _driver_factors(self, factors, attr: str) -> None:
        uniq_pre = np.unique(self._pre)
        f = np.asarray(factors, dtype=float)
        if f.ndim == 0:
            f = np.full(self.pre.size, float(f))
        if f.size != self.pre.size:
            raise ValueError(f"need one factor per presynaptic neuron ({self.pre.size}) or one "
                             f"scalar, got {f.size}")
        if np.any(f <= 0):
            raise ValueError("driver factors must be > 0")
        by_gid = {d.gid: d for d in self._drivers}
        for i in uniq_pre:
            for gid in np.unique(self._driver[self._pre == i]):
                setattr(by_gid[int(gid)], attr, float(f[i]))
        simulator.state.params_dirty = True
        simulator.state.structure_changed() if attr == "fall_factor" else None

    def setDrvifallFactors(self, factors) -> None:
        """Scale the PSC fall-time current of this projection's line drivers (per presynaptic
        neuron or one scalar): a factor ``f`` makes PSCs decay ``f`` times faster."""
        self._driver_factors(factors, "fall_factor")

    def setDrvioutFactors(self, factors) -> None:
        """Scale the PSC amplitude (output current) of this projection's line drivers."""
        self._driver_factors(factors, "out_factor")

    # -- mapping onto the engine ---------------------------------------------------------------
    def _is_plastic(self) -> bool:
        return isinstance(self.synapse_type, std_synapses.STDPMechanism)

    def _rule(self, net) -> int:
        st = self.synapse_type
        p = self._params
        lsb = self._lsb()

        def first(name: str, default: float) -> float:
            v = p.get(name)
            return float(v[0]) if v is not None and v.size else default

        w_min = first("w_min", 0.0)
        w_max = first("w_max", 15 * lsb)
        lo = int(np.clip(round(w_min / lsb), 0, 15))
        hi = int(np.clip(round(w_max / lsb), lo, 15))
        kind = "multiplicative" if isinstance(
            st.weight_dependence, std_synapses.MultiplicativeWeightDependence) else "additive"
        lut, step = chip.lut_for(kind, lo, hi)
        # one LUT evaluation moves `step` levels; PyNN's rule moves A * w_max per pair at dt -> 0,
        # so each pair adds A * w_max / (step * lsb) to an accumulator whose threshold is 1
        scale = max(w_max, lsb) / (step * lsb)
        return net.add_rule("lut", tau_plus=first("tau_plus", 20.0),
                            tau_minus=first("tau_minus", 20.0),
                            A_plus=first("A_plus", 0.01) * scale,
                            A_minus=first("A_minus", 0.01) * scale,
                            w_min=lo * lsb, w_max=hi * lsb, lsb=lsb, lut=lut)


def map_to_engine(net, projections: list, channel, kinds: np.ndarray, corr, fp) -> None:
    """Add the synapses of all ``projections`` to the engine network ``net``.

    Realised synapses (level > 0; all synapses of plastic projections) keep their projection
    order and, within a projection, their connection order, so synapse ids are what one
    ``net.connect`` per projection would give; the lookups (units, drivers, channels, gains)
    run once over all synapses and consecutive projections with the same STP setting and
    plasticity rule share one ``net.connect``.  Channels are created in the order of a
    per-projection walk over its (fall factor, PSC shape) pairs in ascending order.
    """
    state = simulator.state
    parts, groups = [], []  # per projection with synapses: (projection, idx); connect groups
    offset = 0
    for prj in projections:
        plastic = prj._is_plastic()
        idx = np.arange(prj._pre.size) if plastic else np.flatnonzero(prj._levels > 0)
        prj._syn_index = idx
        prj._built_net = net
        if not idx.size:
            prj._syn_ids = np.zeros(0, np.int64)
            prj._syn_driver = np.zeros(0, np.int64)
            continue
        stp = prj._stp()
        key = (stp, prj._rule(net) if plastic else None)
        if not groups or groups[-1][0] != key:
            groups.append((key, offset, []))
        groups[-1][2].append(len(parts))
        parts.append((prj, idx))
        offset += idx.size
    if not parts:
        return

    def cat(get) -> np.ndarray:
        return np.concatenate([get(prj, idx) for prj, idx in parts])

    pre_units = state.unit_lookup[cat(lambda p, i: p._pre_ids[i])]
    post_units = state.unit_lookup[cat(lambda p, i: p._post_ids[i])]
    gids = cat(lambda p, i: p._driver[i])
    weight = cat(lambda p, i: p._w_real[i])
    delay = cat(lambda p, i: p._delay[i])
    post_hw = cat(lambda p, i: p._post_hw[i])
    sizes = np.array([idx.size for _, idx in parts])
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    owner = np.repeat(np.arange(len(parts)), sizes)
    fall = state.driver_fall[gids]
    # channels: one per (receptor, fall factor, PSC shape) in per-projection sorted order
    kind_names, kind_code = np.unique(kinds, return_inverse=True)
    falls, fall_code = np.unique(fall, return_inverse=True)
    combo = (owner * falls.size + fall_code.reshape(-1)) * kind_names.size \
        + kind_code.reshape(-1)[post_units]
    combos, inv = np.unique(combo, return_inverse=True)
    chan_of = np.empty(combos.size, dtype=np.int64)
    for c, value in enumerate(combos.tolist()):
        rest, k = divmod(value, kind_names.size)
        j, f = divmod(rest, falls.size)
        chan_of[c] = channel(parts[j][0].receptor_type, float(falls[f]), str(kind_names[k]))
    chans = chan_of[inv.reshape(-1)]
    syn_fp = fp.synapse_factors(state.config.noise, gids // chip.DRIVERS_PER_BLOCK,
                                gids % chip.DRIVERS_PER_BLOCK, post_hw)
    gain = state.driver_out[gids] * fp.driver[gids] * corr.driver[gids] * syn_fp
    for (stp, rule), lo, members in groups:
        hi = bounds[members[-1] + 1]
        ids = net.connect(pre_units[lo:hi], post_units[lo:hi], chans[lo:hi], weight[lo:hi],
                          delay[lo:hi], gain=gain[lo:hi], stp=stp, rule=rule)
        for m in members:
            prj = parts[m][0]
            a, b = bounds[m] - lo, bounds[m + 1] - lo
            prj._syn_ids = ids[a:b]
            prj._syn_driver = gids[bounds[m]:bounds[m + 1]]

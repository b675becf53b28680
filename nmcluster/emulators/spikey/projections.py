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
        if req_d is not None and req_d.size and np.any(np.abs(req_d - chip.INTRINSIC_DELAY) > 1e-9):
            logger.info("%s: synaptic delays are not configurable on Spikey; the intrinsic "
                        "delay of %g ms is realised (requested %s)", self.label,
                        chip.INTRINSIC_DELAY, np.unique(req_d)[:3])
        self._post_hw = simulator.state.hw_lookup()[np.asarray(self._post_cells, np.int64)]
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
        layout = simulator.state.layout
        stp = self._stp()
        self._driver = np.zeros(self._pre.size, dtype=np.int64)
        pre_cells = np.asarray(self.pre.all_cells)[self._pre]
        cache: dict[tuple[int, int], chip.Driver] = {}
        for i, (cell, pid, hw_post) in enumerate(zip(pre_cells, self._pre_ids, self._post_hw)):
            block = int(hw_post) // chip.BLOCK_SIZE
            key = (int(pid), block)
            drv = cache.get(key)
            if drv is None:
                parent = cell.parent
                hw_pre = None if parent._is_source else int(parent._hw[parent.id_to_index(cell)])
                drv = layout.driver_for(int(pid), hw_pre, block)
                chip.check_driver_config(drv, self.receptor_type, stp)
                cache[key] = drv
            self._driver[i] = drv.gid
        self._drivers = list(cache.values())

    def _lsb(self) -> float:
        return chip.min_weight(self.receptor_type)

    def _quantise(self) -> None:
        rng = np.random.default_rng([simulator.state.config.seed, 0x4B17, self._index,
                                     self._set_count])
        self._levels, clipped = chip.quantise_weights(self._w_req, self._lsb(), rng)
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

    def _map_to_engine(self, net, channel, kinds, corr, fp) -> None:
        state = simulator.state
        plastic = self._is_plastic()
        keep = np.ones(self._pre.size, bool) if plastic else self._levels > 0
        idx = np.nonzero(keep)[0]
        self._syn_index = idx
        self._built_net = net
        if not idx.size:
            self._syn_ids = np.zeros(0, np.int64)
            self._syn_driver = np.zeros(0, np.int64)
            return
        pre_units = state.unit_lookup[self._pre_ids[idx]]
        post_units = state.unit_lookup[np.asarray(self._post_cells[idx], dtype=np.int64)]
        gids = self._driver[idx]
        fall = state.driver_fall[gids]
        out = state.driver_out[gids]
        chans = np.zeros(idx.size, dtype=np.int64)
        post_kind = kinds[post_units]
        for f in np.unique(fall):  # few distinct (fall factor, PSC shape) pairs per projection
            for kind in np.unique(post_kind):
                sel = (fall == f) & (post_kind == kind)
                if sel.any():
                    chans[sel] = channel(self.receptor_type, float(f), str(kind))
        post_hw = self._post_hw[idx]
        syn_fp = fp.synapse_factors(state.config.noise, gids // chip.DRIVERS_PER_BLOCK,
                                    gids % chip.DRIVERS_PER_BLOCK, post_hw)
        gain = out * fp.driver[gids] * corr.driver[gids] * syn_fp
        stp = self._stp()
        rule = self._rule(net) if plastic else None
        self._syn_ids = net.connect(
            pre_units, post_units, chans, self._w_real[idx], self._delay[idx], gain=gain,
            stp=None if stp is None else (stp[0], stp[1], stp[2]), rule=rule)
        self._syn_driver = gids

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

"""Projection of the BrainScaleS wafer emulator.

Weights are realised with 4 bits: each projection's synapses share one maximum conductance
(the largest requested weight = level 15, as the mapping programs the synapse drivers' gmax) and
are rounded to the nearest of the 16 levels.  Whether a synapse exists on the wafer at all is
decided by the mapping at ``run()`` (:func:`.wafer.route`); ``simulator.state.stats`` then has the
realised weights with NaN for lost synapses.  ``get("weight")`` returns the requested weights
(the network description), or the current ones of plastic synapses during a run.
"""

from __future__ import annotations

import numpy as np
from pyNN.standardmodels import synapses as std_synapses

from ..common.projections import BaseProjection, Connection  # noqa: F401
from . import simulator, wafer

WEIGHT_LEVELS = 15


class Projection(BaseProjection):
    __doc__ = BaseProjection.__doc__
    _simulator = simulator

    def _finalise(self) -> None:
        if np.any(self._w_req < 0):
            raise wafer.WaferConfigError(
                f"{self.label}: {int(np.sum(self._w_req < 0))} negative weight(s): the wafer's "
                f"synapses are conductances (weights >= 0, in µS); for inhibition use positive "
                f"weights with receptor_type='inhibitory'")
        self._stp()  # refuse an STP setting the synapse drivers cannot take, at once
        self._quantise()

    def _quantise(self) -> None:
        w = self._w_req
        top = float(w.max()) if w.size else 0.0
        self._lsb = top / WEIGHT_LEVELS if top > 0 else 1.0
        self._levels = np.clip(np.rint(w / self._lsb), 0, WEIGHT_LEVELS).astype(np.int64)
        self._w_real = self._levels * self._lsb

    def _is_plastic(self) -> bool:
        return isinstance(self.synapse_type, std_synapses.STDPMechanism)

    def _map_to_engine(self, net, channel: int, keep: np.ndarray, w: np.ndarray) -> None:
        state = simulator.state
        idx = np.nonzero(keep)[0]
        self._syn_index = idx
        self._built_net = net
        if not idx.size:
            self._syn_ids = np.zeros(0, np.int64)
            return
        pre = state.unit_lookup[self._pre_ids[idx]]
        post = state.unit_lookup[self._post_ids[idx]]
        rule = self._rule(net) if self._is_plastic() else None
        self._syn_ids = net.connect(pre, post, channel, w[idx], self._delays()[idx], rule=rule,
                                    stp=self._stp())

    def _stp(self) -> tuple[float, float, float] | None:
        """(U, tau_rec, tau_facil) of a TsodyksMarkramSynapse projection, checked against the
        wafer's synapse drivers: one set per projection, depressing xor facilitating."""
        if not isinstance(self.synapse_type, std_synapses.TsodyksMarkramSynapse) or \
                not self._pre.size:
            return None
        vals = [np.unique(self._params[k]) for k in ("U", "tau_rec", "tau_facil")]
        if any(v.size > 1 for v in vals):
            raise wafer.WaferConfigError(
                f"{self.label}: short-term plasticity is set per synapse driver on the wafer; use "
                f"one U/tau_rec/tau_facil per projection")
        u, rec, fac = (float(v[0]) for v in vals)
        if rec > 0 and fac > 0:
            raise wafer.WaferConfigError(
                f"{self.label}: the wafer's short-term plasticity is depressing (tau_facil=0) or "
                f"facilitating (tau_rec=0), not both (got tau_rec={rec:g}, tau_facil={fac:g})")
        return (u, rec, fac)

    def _rule(self, net) -> int:
        p = self._params

        def first(name: str, default: float) -> float:
            v = p.get(name)
            return float(v[0]) if v is not None and v.size else default

        kind = "multiplicative" if isinstance(
            self.synapse_type.weight_dependence,
            std_synapses.MultiplicativeWeightDependence) else "additive"
        return net.add_rule(kind, tau_plus=first("tau_plus", 20.0),
                            tau_minus=first("tau_minus", 20.0), A_plus=first("A_plus", 0.01),
                            A_minus=first("A_minus", 0.01), w_min=first("w_min", 0.0),
                            w_max=first("w_max", float(self._w_real.max(initial=0.0)) or 1.0))

    def _delays(self) -> np.ndarray:
        d = self._params.get("delay")
        dt = simulator.state.dt
        return np.maximum(dt, d) if d is not None else np.full(self._pre.size, dt)

    def _current_weights(self) -> np.ndarray:
        w = self._w_req.copy()
        sim = simulator.state.sim
        if sim is not None and self._is_plastic() and getattr(self, "_built_net", None) is \
                simulator.state.net and self._syn_ids.size:
            w[self._syn_index] = sim.weights()[0, self._syn_ids]
        return w

    def _set_attributes(self, parameter_space):
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            arr = np.asarray(value)
            vals = arr[self._pre, self._post] if arr.ndim == 2 else np.broadcast_to(
                arr, self._pre.shape)
            if name == "weight":
                self._w_req = np.asarray(vals, dtype=float).copy()
                self._quantise()
                self._weights_changed = True
            else:
                self._params[name] = np.asarray(vals, float).copy()
        simulator.state.params_dirty = True

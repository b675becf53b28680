"""Projection of the SpiNNaker emulator: delays checked against 1..144 time steps at creation,
weights realised as 16-bit integers with the target's scale at ``run()``; strict mode refuses
non-contiguous PopulationView and Assembly endpoints as the real tool chain does."""

from __future__ import annotations

import numpy as np
from pyNN.standardmodels import synapses as std_synapses

from ..common.projections import BaseProjection, Connection  # noqa: F401
from ..common.projections import populations_of as _populations
from . import machine, simulator


class Projection(BaseProjection):
    __doc__ = BaseProjection.__doc__
    _simulator = simulator

    def _check_create(self, pre, post) -> None:
        """sPyNNaker projects from and to Populations and contiguous PopulationViews
        (spynnaker/pyNN/models/projection.py: a view becomes a slice of its vertex); a
        non-contiguous view or an Assembly cannot be expressed on the machine."""
        if not simulator.state.config.strict:
            return
        for end, obj in (("presynaptic", pre), ("postsynaptic", post)):
            if hasattr(obj, "populations"):
                raise machine.SpinnakerConfigError(
                    f"SpiNNaker does not support an Assembly as {end} side of a Projection; "
                    f"use a Population or a contiguous PopulationView (or setup(strict=False) "
                    f"in the emulator)")
            if hasattr(obj, "parent"):
                idx = np.asarray(obj.index_in_grandparent(np.arange(obj.size)))
                if idx.size and not np.array_equal(idx, np.arange(idx[0], idx[0] + idx.size)):
                    raise machine.SpinnakerConfigError(
                        f"SpiNNaker supports PopulationViews as {end} side of a Projection "
                        f"only if they are contiguous (one slice of the population); this "
                        f"view selects {idx.size} non-contiguous neurons of "
                        f"{obj.grandparent.label!r} (or setup(strict=False) in the emulator)")

    def _plastic_signature(self):
        """What sPyNNaker compares when two plastic projections share a target population
        (synapse_dynamics_stdp.py ``is_same_as``: rule types and parameters, dendritic delay
        fraction); None for static synapses."""
        st = self.synapse_type
        if not isinstance(st, std_synapses.STDPMechanism):
            return None

        def params(component):
            if component is None:
                return None
            out = []
            for k, v in sorted(component.parameter_space.items()):
                out.append((k, getattr(v, "base_value", v)))
            return type(component).__name__, tuple(out)

        return (params(st.timing_dependence), params(st.weight_dependence),
                st.dendritic_delay_fraction)

    def _check_plastic_merge(self) -> None:
        sig = self._plastic_signature()
        if sig is None:
            return
        posts = {id(p) for p in _populations(self.post)}
        for other in simulator.state.projections:
            if other is self or not posts & {id(p) for p in _populations(other.post)}:
                continue
            o = other._plastic_signature()
            if o is not None and o != sig:
                raise machine.SpinnakerConfigError(
                    f"{self.label}: Synapse dynamics must match exactly when using multiple "
                    f"edges to the same population (sPyNNaker 7: the plasticity rules of "
                    f"{other.label} and this projection onto the same population differ)")

    def _finalise(self) -> None:
        self._check_plastic_merge()
        d = self._params.get("delay")
        dt = simulator.state.dt
        if d is None:
            d = np.full(self._pre.size, dt)
        self._steps = machine.delay_steps(d, dt, str(self.label))
        self._w_real = np.abs(self._w_req)
        self._scale = None

    def _realise(self, scale: float) -> None:
        self._scale = scale
        self._w_real = machine.quantise_weights(self._w_req, scale)

    def _delays(self) -> np.ndarray:
        return self._steps * simulator.state.dt

    def _is_plastic(self) -> bool:
        return isinstance(self.synapse_type, std_synapses.STDPMechanism)

    def _map_to_engine(self, net, channel: int, sign: float) -> None:
        state = simulator.state
        self._built_net = net
        pre = state.unit_lookup[self._pre_ids]
        post = state.unit_lookup[self._post_ids]
        rule = self._rule(net, sign) if self._is_plastic() else None
        self._sign = sign
        self._syn_ids = net.connect(pre, post, channel, sign * self._w_real,
                                    self._steps * state.dt, rule=rule)

    def _rule(self, net, sign: float) -> int:
        p = self._params

        def first(name: str, default: float) -> float:
            v = p.get(name)
            return float(v[0]) if v is not None and v.size else default

        # sPyNNaker's pairing (timing_pair_impl.h: all-to-all traces; timing_nearest_pair_impl.h:
        # nearest) and weight rules (A_plus / A_minus in weight units)
        scheme = "nearest" if type(self.synapse_type.timing_dependence).__name__ == \
            "SpikeNearestPairRule" else "pair"
        kind = scheme + ("_multiplicative" if isinstance(
            self.synapse_type.weight_dependence,
            std_synapses.MultiplicativeWeightDependence) else "_additive")
        # Vogels2011Rule: one tau; RecurrentRule: its mean windows (see .extra_models)
        tau = first("tau", first("mean_pre_window", 20.0))
        # triplet terms: extra_models.PfisterSpikeTriplet (A3 on
        # WeightDependenceAdditiveTriplet) or PyNN's PfisterSpikeTripletRule (A3 on the rule)
        triplet = None
        if "tau_x" in p and "tau_y" in p:
            triplet = (first("tau_x", 101.0), first("tau_y", 125.0), first("A3_plus", 0.0),
                       first("A3_minus", 0.0))
        return net.add_rule(kind, triplet=triplet, tau_plus=first("tau_plus", tau),
                            tau_minus=first("tau_minus", first("mean_post_window", tau)),
                            A_plus=first("A_plus", 0.01), A_minus=first("A_minus", 0.01),
                            w_min=first("w_min", 0.0), w_max=first("w_max", 1.0))

    def _current_weights(self) -> np.ndarray:
        w = self._w_real.copy()
        sim = simulator.state.sim
        if sim is not None and self._is_plastic() and getattr(self, "_built_net", None) is \
                simulator.state.net and self._syn_ids.size:
            w = np.abs(sim.weights()[0, self._syn_ids])
        return w

    def _set_attributes(self, parameter_space):
        simulator.state.check_set()
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            arr = np.asarray(value)
            vals = arr[self._pre, self._post] if arr.ndim == 2 else np.broadcast_to(
                arr, self._pre.shape)
            if name == "weight":
                self._w_req = np.asarray(vals, dtype=float).copy()
                self._w_real = np.abs(self._w_req) if self._scale is None else \
                    machine.quantise_weights(self._w_req, self._scale)
                self._weights_changed = True
            elif name == "delay":
                self._steps = machine.delay_steps(np.asarray(vals, float),
                                                  simulator.state.dt, str(self.label))
                self._params["delay"] = np.asarray(vals, float).copy()
            else:
                self._params[name] = np.asarray(vals, float).copy()
        simulator.state.params_dirty = True

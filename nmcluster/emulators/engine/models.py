"""Neuron-model registry of the engine.

Why a registry: the three emulators need different neuron dynamics (Spikey: conductance LIF;
BrainScaleS: AdEx; SpiNNaker: current LIF and Izhikevich in fixed point) but share everything else
(sources, delay rings, sparse delivery, STP/STDP, recording, batching).  A model contributes only
its parameter names with defaults and an ``invoke`` adapter that calls its numba kernel with the
arrays of a :class:`~nmcluster.emulators.engine.network.Simulation`; the kernels reuse the shared
helpers of :mod:`.kernels`.  To add a model, add an entry to :data:`MODELS` (no runtime mutation).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from . import kernels

if TYPE_CHECKING:  # pragma: no cover
    from .network import Part, Simulation


@dataclass(frozen=True)
class NeuronModel:
    """Description of one neuron model family.

    ``params`` maps per-neuron parameter names to defaults (PyNN units: mV, ms, nF, µS, nA);
    ``conductance`` says whether synaptic channels are conductances (reversal potentials apply)
    or currents; ``invoke(sim, step0, nsteps, part) -> steps_done`` runs the model's kernel on
    the trials ``[part.tr0, part.tr1)`` with the part's spike queue and buffers (see
    :class:`~.network.Part`; the kernel may replace the buffers by larger ones).
    """

    name: str
    params: Mapping[str, float]
    conductance: bool
    supports_alpha: bool
    invoke: Callable[["Simulation", int, int, "Part"], int]
    kind: int = kernels.MODEL_LIF
    #: initial value of the second state variable from (parameters, v0); None: zeros
    init_x: Callable[[Mapping[str, np.ndarray], np.ndarray], np.ndarray] | None = None


def _invoke_lif(sim: "Simulation", step0: int, nsteps: int, part: "Part") -> int:
    p = sim.flat
    c = sim.csr
    K = sim.g.shape[0]
    TN = sim.trials * sim.net.n
    done, part.spk_tr, part.spk_step, part.spk_id = kernels.run_lif(
        step0, nsteps, sim.dt, sim.model.conductance, sim.net.n, part.tr0, part.tr1,
        p["v_rest"], p["g_leak"], sim.dt_cm, sim.detect, p["v_reset"], sim.ref_steps,
        p["i_offset"], sim.gl_el, p["v_noise"], sim.any_noise,
        sim.model.kind, sim.xpar, sim.x.reshape(-1), sim.net.fixed_point,
        c.ch_alpha, sim.ch_decay.reshape(K, TN), sim.ch_erev.reshape(K, TN),
        sim.ch_p21.reshape(K, TN), sim.ch_ascale.reshape(K, TN), c.ch_group,
        sim.v.reshape(-1), sim.g.reshape(K, TN), sim.h.reshape(K, TN), sim.refr.reshape(-1),
        sim.scratch,
        sim.ring.reshape(sim.ring.shape[0], K, TN), c.indptr, c.post, c.chan, c.delay, sim.w,
        sim.gain, c.stp_U, c.stp_trec, c.stp_tfac, sim.stp_u, sim.stp_x, sim.last_spike,
        c.syn_rule, c.rule_par, c.lut, sim.pre_avail, sim.post_avail, sim.acc_c, sim.acc_a,
        c.in_ptr, c.in_syn, c.in_pre, c.sweep_rows, c.sweep_phase, c.sweep_period,
        c.pois_unit, sim.pois_rate, c.pois_stop, sim.pois_next, sim.pois_rng, c.pois_plain,
        c.arr_unit, c.arr_ptr, c.arr_steps, sim.arr_cur, sim.arr_room,
        sim.rng, part.q_tr, part.q_unit,
        sim.record_spikes, part.spk_tr, part.spk_step, part.spk_id, part.spk_n,
        c.rec_idx, c.rec_var, sim.rec_every, sim.rec_buf, part.rec_n,
        c.gate_group.size > 0, c.gate_group, c.gate_rate, c.gate_burst, sim.gate_tok,
        sim.gate_last, sim.gate_lost)
    return int(done)


_LIF_PARAMS = {
    "v_rest": -65.0,  # mV
    "g_leak": 0.01,  # µS  (cm / tau_m)
    "cm": 0.2,  # nF
    "v_thresh": -55.0,  # mV
    "v_reset": -65.0,  # mV
    "tau_refrac": 1.0,  # ms
    "i_offset": 0.0,  # nA
    "v_noise": 0.0,  # mV, std of the white voltage noise added per step (temporal noise)
    "v_init": float("nan"),  # mV; NaN = start at v_rest
}

# AdEx (EIF_cond_exp_isfa_ista): v_thresh is V_T of the exponential term, a spike is detected at
# v_spike; a in µS (PyNN: nS), b in nA
_ADEX_PARAMS = dict(_LIF_PARAMS, v_rest=-70.6, g_leak=0.03, cm=0.281, v_thresh=-50.4,
                    v_reset=-70.6, tau_refrac=0.1, a=0.004, b=0.0805, delta_T=2.0, tau_w=144.0,
                    v_spike=-40.0, w_init=0.0)
# Izhikevich: v_reset is c, v_thresh the spike peak (30 mV); cm/g_leak are unused placeholders
_IZH_PARAMS = dict(_LIF_PARAMS, v_rest=-70.0, v_reset=-65.0, v_thresh=30.0, tau_refrac=0.0,
                   a=0.02, b=0.2, d=2.0, u_init=float("nan"))


def _adex_xpar(p: Mapping[str, np.ndarray]) -> np.ndarray:
    out = np.zeros((kernels.XP_ROWS, p["a"].size))
    out[kernels.XP_A] = p["a"]
    out[kernels.XP_INCR] = p["b"]
    out[kernels.XP_DELTA_T] = p["delta_T"]
    out[kernels.XP_TAU_W] = p["tau_w"]
    out[kernels.XP_V_T] = p["v_thresh"]
    return out


def _izh_xpar(p: Mapping[str, np.ndarray]) -> np.ndarray:
    out = np.zeros((kernels.XP_ROWS, p["a"].size))
    out[kernels.XP_A] = p["a"]
    out[kernels.XP_INCR] = p["d"]
    out[kernels.XP_B] = p["b"]
    out[kernels.XP_TAU_W] = 1.0
    return out


def _adex_x0(p: Mapping[str, np.ndarray], v0: np.ndarray) -> np.ndarray:
    return p["w_init"].copy()


def _izh_x0(p: Mapping[str, np.ndarray], v0: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(p["u_init"]), p["b"] * v0, p["u_init"])


# SpiNNaker (sPyNNaker 7.x): LIF and Izhikevich neurons, current or conductance input, in one
# network; ``family`` per neuron (kernels.FAM_*), Izhikevich a, b, d as above
_SPINN_PARAMS = dict(_LIF_PARAMS, a=0.02, b=0.2, d=2.0, u_init=float("nan"), family=0.0)


def _spinn_xpar(p: Mapping[str, np.ndarray]) -> np.ndarray:
    out = np.zeros((kernels.XP_ROWS, p["a"].size))
    izh = p["family"] >= kernels.FAM_IZH_CURR
    out[kernels.XP_A] = np.where(izh, p["a"], 0.0)
    out[kernels.XP_INCR] = np.where(izh, p["d"], 0.0)
    out[kernels.XP_B] = np.where(izh, p["b"], 0.0)
    out[kernels.XP_TAU_W] = 1.0
    out[kernels.XP_V_T] = p["family"]
    return out


def _spinn_x0(p: Mapping[str, np.ndarray], v0: np.ndarray) -> np.ndarray:
    izh = p["family"] >= kernels.FAM_IZH_CURR
    return np.where(izh, np.where(np.isnan(p["u_init"]), p["b"] * v0, p["u_init"]), 0.0)


#: extra-parameter builders (rows of the kernel's ``xpar``) and spike-detection parameter per
#: model kind (AdEx detects at v_spike, the others at v_thresh)
XPAR = {kernels.MODEL_ADEX: _adex_xpar, kernels.MODEL_IZH: _izh_xpar,
        kernels.MODEL_SPINN: _spinn_xpar}
DETECT = {kernels.MODEL_LIF: "v_thresh", kernels.MODEL_ADEX: "v_spike",
          kernels.MODEL_IZH: "v_thresh", kernels.MODEL_SPINN: "v_thresh"}

MODELS: Mapping[str, NeuronModel] = MappingProxyType({
    "lif_cond": NeuronModel("lif_cond", MappingProxyType(dict(_LIF_PARAMS)), True, True,
                            _invoke_lif),
    "lif_curr": NeuronModel("lif_curr", MappingProxyType(dict(_LIF_PARAMS)), False, False,
                            _invoke_lif),
    "adex": NeuronModel("adex", MappingProxyType(_ADEX_PARAMS), True, False, _invoke_lif,
                        kernels.MODEL_ADEX, _adex_x0),
    "izh_curr": NeuronModel("izh_curr", MappingProxyType(_IZH_PARAMS), False, False, _invoke_lif,
                            kernels.MODEL_IZH, _izh_x0),
    "izh_cond": NeuronModel("izh_cond", MappingProxyType(_IZH_PARAMS), True, False, _invoke_lif,
                            kernels.MODEL_IZH, _izh_x0),
    # the SpiNNaker emulator's model: sPyNNaker's update order and fixed-point arithmetic, several
    # families per network (kernels._spinn_membrane); channels carry init / decay as s16.15
    "spinnaker": NeuronModel("spinnaker", MappingProxyType(_SPINN_PARAMS), False, True,
                             _invoke_lif, kernels.MODEL_SPINN, _spinn_x0),
})


def get_model(name: str) -> NeuronModel:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown neuron model {name!r}; known: {sorted(MODELS)}") from None

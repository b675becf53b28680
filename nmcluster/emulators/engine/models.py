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

from . import kernels

if TYPE_CHECKING:  # pragma: no cover
    from .network import Simulation


@dataclass(frozen=True)
class NeuronModel:
    """Description of one neuron model family.

    ``params`` maps per-neuron parameter names to defaults (PyNN units: mV, ms, nF, µS, nA);
    ``conductance`` says whether synaptic channels are conductances (reversal potentials apply)
    or currents; ``invoke(sim, step0, nsteps) -> steps_done`` runs the model's kernel.
    """

    name: str
    params: Mapping[str, float]
    conductance: bool
    supports_alpha: bool
    invoke: Callable[["Simulation", int, int], int]


def _invoke_lif(sim: "Simulation", step0: int, nsteps: int) -> int:
    p = sim.flat
    c = sim.csr
    K = sim.g.shape[0]
    TN = sim.trials * sim.net.n
    return int(kernels.run_lif(
        step0, nsteps, sim.dt, sim.model.conductance, sim.net.n,
        p["v_rest"], p["g_leak"], sim.dt_cm, p["v_thresh"], p["v_reset"], sim.ref_steps,
        p["i_offset"], sim.gl_el, p["v_noise"], sim.any_noise,
        c.ch_alpha, sim.ch_decay.reshape(K, TN), sim.ch_erev.reshape(K, TN),
        sim.ch_p21.reshape(K, TN), sim.ch_ascale.reshape(K, TN), c.ch_group,
        sim.v.reshape(-1), sim.g.reshape(K, TN), sim.h.reshape(K, TN), sim.refr.reshape(-1),
        sim.scratch,
        sim.ring.reshape(sim.ring.shape[0], K, TN), c.indptr, c.post, c.chan, c.delay, sim.w,
        sim.gain, c.stp_U, c.stp_trec, c.stp_tfac, sim.stp_u, sim.stp_x, sim.last_spike,
        c.syn_rule, c.rule_par, c.lut, sim.pre_avail, sim.post_avail, sim.acc_c, sim.acc_a,
        c.in_ptr, c.in_syn, c.in_pre, c.sweep_rows, c.sweep_phase, c.sweep_period,
        c.pois_unit, sim.pois_rate, c.pois_stop, sim.pois_next,
        c.arr_unit, c.arr_ptr, c.arr_steps, sim.arr_cur,
        sim.rng, sim.q_tr, sim.q_unit,
        sim.record_spikes, sim.spk_tr, sim.spk_step, sim.spk_id, sim.spk_n,
        c.rec_idx, c.rec_var, sim.rec_every, sim.rec_buf, sim.rec_n,
    ))


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

MODELS: Mapping[str, NeuronModel] = MappingProxyType({
    "lif_cond": NeuronModel("lif_cond", MappingProxyType(dict(_LIF_PARAMS)), True, True,
                            _invoke_lif),
    "lif_curr": NeuronModel("lif_curr", MappingProxyType(dict(_LIF_PARAMS)), False, False,
                            _invoke_lif),
})


def get_model(name: str) -> NeuronModel:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown neuron model {name!r}; known: {sorted(MODELS)}") from None

"""Standard cell and synapse types of the BrainScaleS wafer emulator.

The wafer's neuron circuit is AdEx (``EIF_cond_exp_isfa_ista``); ``IF_cond_exp`` runs on the same
circuit with adaptation and exponential term switched off.  Native names equal PyNN's standard
names; the hardware realisation (4-bit weights, mapping, calibration) happens when the network
is mapped at ``run()``.
"""

from __future__ import annotations

from pyNN.standardmodels import cells, synapses

from . import simulator
from ..common.standardmodels import identity, min_delay_getter

_min_delay = min_delay_getter(simulator)


class EIF_cond_exp_isfa_ista(cells.EIF_cond_exp_isfa_ista):
    __doc__ = cells.EIF_cond_exp_isfa_ista.__doc__
    translations = identity(*cells.EIF_cond_exp_isfa_ista.default_parameters)


class IF_cond_exp(cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__ + """
    On the wafer realised by the AdEx circuit with a = b = delta_T = 0.
    """
    translations = identity(*cells.IF_cond_exp.default_parameters)


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = identity("rate", "start", "duration")


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = identity("spike_times")


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = identity("weight", "delay")
    _get_minimum_delay = _min_delay


class TsodyksMarkramSynapse(synapses.TsodyksMarkramSynapse):
    __doc__ = synapses.TsodyksMarkramSynapse.__doc__ + """
    On the wafer short-term plasticity is a property of the synapse driver and is either
    depressing (``tau_facil=0``) or facilitating (``tau_rec=0``), never both (guidebook: "it cannot
    implement depression and facilitation at the same time"); one parameter set per projection.
    """
    translations = identity("weight", "delay", "U", "tau_rec", "tau_facil")
    _get_minimum_delay = _min_delay


class STDPMechanism(synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__
    base_translations = identity("weight", "delay", "dendritic_delay_fraction")
    _get_minimum_delay = _min_delay


class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = identity("w_max", "w_min")


class MultiplicativeWeightDependence(synapses.MultiplicativeWeightDependence):
    __doc__ = synapses.MultiplicativeWeightDependence.__doc__
    translations = identity("w_max", "w_min")


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = identity("tau_plus", "tau_minus", "A_plus", "A_minus")

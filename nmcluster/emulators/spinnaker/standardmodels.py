"""Standard cell and synapse types of the SpiNNaker emulator (sPyNNaker's set).

Synaptic inputs are exponential (``IF_curr_dual_exp`` has a second excitatory receptor,
``"excitatory2"``, with ``tau_syn_E2``); the Izhikevich models have exponential current
(``Izhikevich``) or conductance (``Izhikevich_cond``) synapses as in sPyNNaker, and treat 1 nA of
input as 1 mV/ms.  The only current input is ``i_offset``.
"""

from __future__ import annotations

from pyNN.standardmodels import cells, synapses

from ..common.standardmodels import identity, min_delay_getter
from . import simulator

_min_delay = min_delay_getter(simulator)


class IF_curr_exp(cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__
    translations = identity(*cells.IF_curr_exp.default_parameters)


class IF_cond_exp(cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__
    translations = identity(*cells.IF_cond_exp.default_parameters)


class IF_curr_dual_exp(cells.IF_curr_exp):
    """Current-based LIF with two excitatory synapse types (``"excitatory"`` with
    ``tau_syn_E``, ``"excitatory2"`` with ``tau_syn_E2``) and one inhibitory (sPyNNaker's
    ``IF_curr_dual_exp``)."""

    default_parameters = dict(cells.IF_curr_exp.default_parameters, tau_syn_E2=5.0)
    receptor_types = ("excitatory", "excitatory2", "inhibitory")
    units = dict(cells.IF_curr_exp.units, tau_syn_E2="ms")
    translations = identity(*default_parameters)


class Izhikevich(cells.Izhikevich):
    __doc__ = cells.Izhikevich.__doc__ + """
    On SpiNNaker with exponential current synapses (``tau_syn_E``, ``tau_syn_I``).
    """
    default_parameters = dict(cells.Izhikevich.default_parameters, tau_syn_E=5.0, tau_syn_I=5.0)
    receptor_types = ("excitatory", "inhibitory")
    units = dict(cells.Izhikevich.units, tau_syn_E="ms", tau_syn_I="ms")
    translations = identity(*default_parameters)


class Izhikevich_cond(cells.Izhikevich):
    """Izhikevich neuron with exponential conductance synapses (sPyNNaker's
    ``Izhikevich_cond``)."""

    default_parameters = dict(cells.Izhikevich.default_parameters, tau_syn_E=5.0, tau_syn_I=5.0,
                              e_rev_E=0.0, e_rev_I=-70.0)
    receptor_types = ("excitatory", "inhibitory")
    conductance_based = True
    units = dict(cells.Izhikevich.units, tau_syn_E="ms", tau_syn_I="ms", e_rev_E="mV",
                 e_rev_I="mV")
    translations = identity(*default_parameters)


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


class PfisterSpikeTripletRule(synapses.SpikePairRule):
    """sPyNNaker's triplet rule (Pfister & Gerstner 2006).  The emulator applies its pair terms
    (``tau_plus``, ``tau_minus``, ``A_plus``, ``A_minus``); the triplet terms ``tau_x``,
    ``tau_y``, ``A3_plus``, ``A3_minus`` are accepted and not yet integrated."""

    default_parameters = dict(synapses.SpikePairRule.default_parameters, tau_x=101.0,
                              tau_y=125.0, A3_plus=0.0, A3_minus=0.0)
    translations = identity(*default_parameters)

"""Standard cell, synapse and plasticity types of the SpiNNaker emulator: sPyNNaker 7.x's set
under its names (spynnaker/pyNN/__init__.py and spynnaker/pyNN/extra_models/__init__.py of
sPyNNaker 7.4.1).

Cells: ``IF_curr_exp``, ``IF_cond_exp``, ``IF_curr_alpha``, ``IF_curr_delta``, ``Izhikevich``
(exponential current synapses) at top level; ``IF_curr_dual_exp`` (second excitatory receptor
``"excitatory2"``), ``Izhikevich_cond``, ``IFCurDelta`` in ``extra_models``.  As in sPyNNaker, a
state variable given as a cell parameter (``IF_curr_exp(v=-70.0)``) is taken as its initial value
with a warning (spynnaker/pyNN/models/defaults.py: "Formal PyNN specifies that v should be set
using initial_values not cell_params"), and ``gsyn_exc`` / ``gsyn_inh`` of a current-input cell
record its synaptic current with a warning (spynnaker/pyNN/models/recorder.py).

Plasticity: ``STDPMechanism`` with ``SpikePairRule``, ``AdditiveWeightDependence``,
``MultiplicativeWeightDependence`` (top level) and the extra timing / weight rules (see
:mod:`.extra_models`); structural plasticity (``StructuralMechanismStatic`` / ``STDP`` with its
partner selection, formation and elimination rules) is accepted and runs with the initial
connectivity (the rewiring itself is not emulated; a warning says so).
"""

from __future__ import annotations

import logging

from pyNN.standardmodels import cells, synapses

from ..common.standardmodels import identity, min_delay_getter
from . import simulator

logger = logging.getLogger("nmcluster.emulators.spinnaker")
_min_delay = min_delay_getter(simulator)

#: state variables sPyNNaker's cell constructors accept as parameters (with a warning)
_STATE_ARGS = ("v", "u", "isyn_exc", "isyn_inh", "isyn_exc2", "gsyn_exc", "gsyn_inh")


class _SpinnakerCell:
    """State variables as constructor arguments (sPyNNaker's defaults.py behaviour)."""

    def __init__(self, **kw) -> None:
        init = {}
        for name in [k for k in kw if k in _STATE_ARGS and k not in self.default_parameters]:
            logger.warning("Formal PyNN specifies that %s should be set using initial_values "
                           "not cell_params", name)
            init[name] = kw.pop(name)
        super().__init__(**kw)
        known = {k: v for k, v in init.items() if k in type(self).default_initial_values}
        if known:
            self.default_initial_values = dict(type(self).default_initial_values, **known)


def _curr_recordable(base) -> list[str]:
    return list(dict.fromkeys(list(base.recordable) + ["gsyn_exc", "gsyn_inh"]))


class IF_curr_exp(_SpinnakerCell, cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__
    translations = identity(*cells.IF_curr_exp.default_parameters)
    recordable = _curr_recordable(cells.IF_curr_exp)
    units = dict(cells.IF_curr_exp.units, gsyn_exc="nA", gsyn_inh="nA")


class IF_cond_exp(_SpinnakerCell, cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__
    translations = identity(*cells.IF_cond_exp.default_parameters)


class IF_curr_alpha(_SpinnakerCell, cells.IF_curr_alpha):
    __doc__ = cells.IF_curr_alpha.__doc__
    translations = identity(*cells.IF_curr_alpha.default_parameters)
    recordable = _curr_recordable(cells.IF_curr_alpha)
    units = dict(cells.IF_curr_alpha.units, gsyn_exc="nA", gsyn_inh="nA")


class IF_curr_delta(_SpinnakerCell, cells.IF_curr_delta):
    __doc__ = cells.IF_curr_delta.__doc__ + """
    On SpiNNaker a weight w (nA) adds the current w / ts for one step (sPyNNaker's
    input_type_delta.h), i.e. a jump of about w / cm mV.
    """
    translations = identity(*cells.IF_curr_delta.default_parameters)
    recordable = _curr_recordable(cells.IF_curr_delta)
    units = dict(cells.IF_curr_delta.units, gsyn_exc="nA", gsyn_inh="nA")
    receptor_types = ("excitatory", "inhibitory")


class IF_curr_dual_exp(_SpinnakerCell, cells.IF_curr_exp):
    """Current-based LIF with two excitatory synapse types (``"excitatory"`` with
    ``tau_syn_E``, ``"excitatory2"`` with ``tau_syn_E2``) and one inhibitory (sPyNNaker's
    ``extra_models.IF_curr_dual_exp``)."""

    default_parameters = dict(cells.IF_curr_exp.default_parameters, tau_syn_E2=5.0)
    receptor_types = ("excitatory", "excitatory2", "inhibitory")
    units = dict(cells.IF_curr_exp.units, tau_syn_E2="ms", gsyn_exc="nA", gsyn_inh="nA")
    translations = identity(*default_parameters)
    recordable = _curr_recordable(cells.IF_curr_exp)


class Izhikevich(_SpinnakerCell, cells.Izhikevich):
    __doc__ = cells.Izhikevich.__doc__ + """
    On SpiNNaker with exponential current synapses (``tau_syn_E``, ``tau_syn_I``).
    """
    default_parameters = dict(cells.Izhikevich.default_parameters, tau_syn_E=5.0, tau_syn_I=5.0)
    receptor_types = ("excitatory", "inhibitory")
    units = dict(cells.Izhikevich.units, tau_syn_E="ms", tau_syn_I="ms", gsyn_exc="nA",
                 gsyn_inh="nA")
    translations = identity(*default_parameters)
    recordable = ["spikes", "v", "u", "gsyn_exc", "gsyn_inh"]


class Izhikevich_cond(_SpinnakerCell, cells.Izhikevich):
    """Izhikevich neuron with exponential conductance synapses (sPyNNaker's
    ``Izhikevich_cond``)."""

    default_parameters = dict(cells.Izhikevich.default_parameters, tau_syn_E=5.0, tau_syn_I=5.0,
                              e_rev_E=0.0, e_rev_I=-70.0)
    receptor_types = ("excitatory", "inhibitory")
    conductance_based = True
    units = dict(cells.Izhikevich.units, tau_syn_E="ms", tau_syn_I="ms", e_rev_E="mV",
                 e_rev_I="mV")
    translations = identity(*default_parameters)
    recordable = ["spikes", "v", "u", "gsyn_exc", "gsyn_inh"]


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = identity("rate", "start", "duration")

    def __init__(self, **kw) -> None:
        # sPyNNaker's SpikeSourcePoisson also takes seed / max_rate (per-population options)
        kw.pop("seed", None)
        kw.pop("max_rate", None)
        super().__init__(**kw)


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

    def __init__(self, timing_dependence=None, weight_dependence=None, voltage_dependence=None,
                 dendritic_delay_fraction=1.0, weight=0.0, delay=None, pad_to_length=None,
                 backprop_delay=True, **kw) -> None:
        # pad_to_length / backprop_delay: sPyNNaker's SynapseDynamicsSTDP options (placement
        # details of the real machine; accepted)
        super().__init__(timing_dependence, weight_dependence, voltage_dependence,
                         dendritic_delay_fraction, weight, delay)


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
    """Triplet rule (Pfister & Gerstner 2006) under PyNN's standard name, with its parameters
    ``tau_plus``, ``tau_minus``, ``tau_x``, ``tau_y``, ``A_plus``, ``A_minus``, ``A3_plus``,
    ``A3_minus``, integrated as sPyNNaker's triplet rule (see :mod:`.extra_models`)."""

    default_parameters = dict(synapses.SpikePairRule.default_parameters, tau_x=101.0,
                              tau_y=125.0, A3_plus=0.0, A3_minus=0.0)
    translations = identity(*default_parameters)

    def __init__(self, tau_plus=20.0, tau_minus=20.0, tau_x=101.0, tau_y=125.0, A_plus=0.01,
                 A_minus=0.01, A3_plus=0.0, A3_minus=0.0) -> None:
        synapses.STDPTimingDependence.__init__(
            self, tau_plus=tau_plus, tau_minus=tau_minus, tau_x=tau_x, tau_y=tau_y,
            A_plus=A_plus, A_minus=A_minus, A3_plus=A3_plus, A3_minus=A3_minus)


# -- structural plasticity (sPyNNaker: spynnaker/pyNN/models/neuron/structural_plasticity) ------

class _Component:
    """A structural-plasticity component: keeps its arguments (sPyNNaker's names)."""

    def __init__(self, *args, **kwargs) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kwargs})"


class RandomSelection(_Component):
    """Partner selection: a random presynaptic neuron (sPyNNaker ``RandomSelection``)."""


class LastNeuronSelection(_Component):
    """Partner selection: a neuron that spiked last step (sPyNNaker ``LastNeuronSelection``)."""


class DistanceDependentFormation(_Component):
    """Formation rule by distance (sPyNNaker ``DistanceDependentFormation``)."""


class RandomByWeightElimination(_Component):
    """Elimination rule by weight (sPyNNaker ``RandomByWeightElimination``)."""


def _warn_structural(name: str) -> None:
    logger.warning("%s: the SpiNNaker emulator runs the projection with its initial connections; "
                   "structural rewiring (formation / elimination) is not emulated", name)


class StructuralMechanismStatic(StaticSynapse):
    """sPyNNaker's ``StructuralMechanismStatic`` (synaptic rewiring on static synapses).  The
    emulator keeps the initial connections (``weight``/``delay``, or ``initial_weight`` /
    ``initial_delay``) and does not rewire."""

    def __init__(self, partner_selection=None, formation=None, elimination=None, f_rew=1000,
                 initial_weight=0.0, initial_delay=1.0, s_max=32, with_replacement=True,
                 seed=None, weight=None, delay=None) -> None:
        _warn_structural(type(self).__name__)
        super().__init__(weight=initial_weight if weight is None else weight,
                         delay=initial_delay if delay is None else delay)
        self.structural = dict(partner_selection=partner_selection, formation=formation,
                               elimination=elimination, f_rew=f_rew, s_max=s_max, seed=seed)


class StructuralMechanismSTDP(STDPMechanism):
    """sPyNNaker's ``StructuralMechanismSTDP``: STDP on the initial connections (no rewiring)."""

    def __init__(self, partner_selection=None, formation=None, elimination=None,
                 timing_dependence=None, weight_dependence=None, voltage_dependence=None,
                 dendritic_delay_fraction=1.0, f_rew=1000, initial_weight=0.0,
                 initial_delay=1.0, s_max=32, with_replacement=True, seed=None, weight=None,
                 delay=None, backprop_delay=True) -> None:
        _warn_structural(type(self).__name__)
        super().__init__(timing_dependence, weight_dependence, voltage_dependence,
                         dendritic_delay_fraction,
                         initial_weight if weight is None else weight,
                         initial_delay if delay is None else delay)
        self.structural = dict(partner_selection=partner_selection, formation=formation,
                               elimination=elimination, f_rew=f_rew, s_max=s_max, seed=seed)

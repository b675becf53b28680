"""Standard cell and synapse types of the Spikey emulator backend.

Native names equal PyNN's standard names (identity translations): the chip mapping (g_leak from
cm/tau_m, block-shared values, 4-bit weights ...) happens in :mod:`.chip` / :mod:`.simulator`
when the configuration is written, as on the real system, so ``Population.get`` returns what the
user asked for and ``Projection.get("weight")`` what the chip realised.
"""

from __future__ import annotations

from pyNN.standardmodels import cells, synapses

from ..common.standardmodels import IdentityTranslation
from ..common.standardmodels import identity as _identity
from ..common.standardmodels import min_delay_getter
from . import chip, simulator


class IF_facets_hardware1(IdentityTranslation, cells.IF_facets_hardware1):
    """Spikey's conductance-based LIF neuron (``IF_facets_hardware1``).

    Per neuron: ``g_leak`` (nS), ``tau_refrac`` (ms).  Shared by the 192 neurons of a block:
    ``v_rest``, ``v_reset``, ``v_thresh``, ``e_rev_I`` (mV).  Fixed: ``cm = 0.2 nF``,
    ``e_rev_E = 0 mV``.  ``tau_syn_E``/``tau_syn_I`` set the PSC decay of the drivers feeding the
    neuron (further scaled per driver by ``Projection.setDrvifallFactors``).
    """

    default_parameters = dict(chip.DEFAULTS)
    default_initial_values = {"v": chip.DEFAULTS["v_rest"], "gsyn_exc": 0.0, "gsyn_inh": 0.0}
    units = dict(cells.IF_facets_hardware1.units, tau_refrac="ms")
    translations = _identity(*default_parameters)


class IF_cond_exp(IdentityTranslation, cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__ + """
    On Spikey mapped to IF_facets_hardware1: g_leak = 0.2 nF / tau_m (membrane time constant
    preserved), e_rev_E must be 0 and i_offset 0 (the chip has no current input).
    """
    translations = _identity(*cells.IF_cond_exp.default_parameters)


class IF_cond_alpha(IdentityTranslation, cells.IF_cond_alpha):
    __doc__ = cells.IF_cond_alpha.__doc__ + """
    On Spikey mapped to IF_facets_hardware1 with alpha-shaped PSCs (see IF_cond_exp).
    """
    translations = _identity(*cells.IF_cond_alpha.default_parameters)


class SpikeSourcePoisson(IdentityTranslation, cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = _identity("rate", "start", "duration")


class SpikeSourceArray(IdentityTranslation, cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = _identity("spike_times")


_min_delay = min_delay_getter(simulator)


class StaticSynapse(IdentityTranslation, synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = _identity("weight", "delay")
    _get_minimum_delay = _min_delay


class TsodyksMarkramSynapse(IdentityTranslation, synapses.TsodyksMarkramSynapse):
    __doc__ = synapses.TsodyksMarkramSynapse.__doc__ + """
    On Spikey STP is a property of the line driver and is either depressing (``tau_facil=0``) or
    facilitating (``tau_rec=0``), never both.
    """
    translations = _identity("weight", "delay", "U", "tau_rec", "tau_facil")
    _get_minimum_delay = _min_delay


class STDPMechanism(synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__ + """
    On Spikey: reduced symmetric nearest-neighbour pairing, correlation accumulators per synapse
    and 4-bit weight steps applied by a sequential look-up-table sweep.
    """
    base_translations = _identity("weight", "delay", "dendritic_delay_fraction")
    _get_minimum_delay = _min_delay


class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = _identity("w_max", "w_min")


class MultiplicativeWeightDependence(synapses.MultiplicativeWeightDependence):
    __doc__ = synapses.MultiplicativeWeightDependence.__doc__
    translations = _identity("w_max", "w_min")


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = _identity("tau_plus", "tau_minus", "A_plus", "A_minus")

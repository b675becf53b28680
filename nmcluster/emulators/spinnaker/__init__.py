"""SpiNNaker emulator as a PyNN 0.13 backend: ``import pyNN.nmcluster.spinnaker as sim``.

Same shape as the Spikey backend (on ``pyNN.common`` through :mod:`nmcluster.emulators.common`);
the machine's rules (partitioning, 16-bit weights, delays) in :mod:`.machine`, the dynamics
(s16.15 fixed point) in :mod:`nmcluster.emulators.engine`.

It exports what sPyNNaker 7.4.1's ``pyNN.spiNNaker`` exports (spynnaker/pyNN/__init__.py
``__all__``): cell types, current sources, STDP and structural-plasticity types, ``extra_models``,
``name()``, ``get_machine()``, ``set_number_of_neurons_per_core`` / ``set_number_of_synapse_cores``
/ ``set_allow_delay_extensions``, and ``neo_convertor`` (sPyNNaker's
``spynnaker.pyNN.utilities.neo_convertor``).  A PyNN feature SpiNNaker does not have
(``HH_cond_exp``, ``EIF_*``, ``TsodyksMarkramSynapse`` ...) raises an error naming it and listing
what is supported.

Extras: ``PartitionerMaximumSizeConstraint``, ``Population.add_constraint()`` /
``set_max_atoms_per_core()``, ``partitioning_report()``, ``weight_scales()``,
``PfisterSpikeTripletRule``; ``setup`` options in :func:`.control.setup`.
"""

from nmcluster.emulators.common.imports import import_lazyarray

import_lazyarray()  # before PyNN: ~50 ms less per job (see common/imports.py)

from pyNN import errors, random, space  # noqa: E402,F401
from pyNN.connectors import *  # noqa: F401,F403
from pyNN.network import Network  # noqa: F401
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution  # noqa: F401
from pyNN.recording import *  # noqa: F401,F403
from pyNN.space import Space  # noqa: F401
from pyNN.standardmodels import StandardCellType

from . import extra_models, neo_convertor  # noqa: F401
from .control import (  # noqa: F401
    emulation_time, end, get_current_time, get_machine, get_max_delay, get_min_delay,
    get_time_step, initialize, name, num_processes, partitioning_report, rank, reset, run,
    run_for, run_until, set_allow_delay_extensions, set_number_of_neurons_per_core,
    set_number_of_synapse_cores, setup, weight_scales)
from .electrodes import ACSource, DCSource, NoisyCurrentSource, StepCurrentSource  # noqa: F401
from .extra_models import SpinnakerUnsupported
from .machine import (MAX_DELAY_STEPS, MAX_NEURONS_PER_CORE,  # noqa: F401
                      PartitionerMaximumSizeConstraint, SpinnakerConfigError)
from .populations import Assembly, Population, PopulationView  # noqa: F401
from .procedural_api import connect, create, record, record_gsyn, record_v  # noqa: F401
from .projections import Projection  # noqa: F401
from .standardmodels import *  # noqa: F401,F403
from .standardmodels import StaticSynapse as _StaticSynapse

Projection._static_synapse_class = _StaticSynapse
SpiNNakerProjection = Projection
FixedTotalNumberConnector = globals().get("FixedTotalNumberConnector")

#: PyNN names SpiNNaker (sPyNNaker 7.4.1) does not provide; ``sim.<name>`` explains
_NOT_ON_SPINNAKER = {
    "HH_cond_exp": "cell type", "EIF_cond_alpha_isfa_ista": "cell type",
    "EIF_cond_exp_isfa_ista": "cell type", "IF_cond_alpha": "cell type",
    "IF_cond_exp_gsfa_grr": "cell type", "IF_facets_hardware1": "cell type",
    "GIF_cond_exp": "cell type", "SpikeSourceGamma": "cell type",
    "SpikeSourceInhGamma": "cell type", "SpikeSourcePoissonRefractory": "cell type",
    "MultiCompartmentNeuron": "cell type", "PointNeuron": "cell type", "AdExp": "cell type",
    "LIF": "cell type", "TsodyksMarkramSynapse": "synapse type",
    "SimpleStochasticSynapse": "synapse type", "StochasticTsodyksMarkramSynapse": "synapse type",
    "MockStochasticSynapse": "synapse type", "ElectricalSynapse": "synapse type",
    "GutigWeightDependence": "weight dependence",
    "AdditivePotentiationMultiplicativeDepression": "weight dependence",
    "Vogels2011Rule": "timing dependence (use sim.extra_models.Vogels2011Rule)",
    "NativeRNG": "random number generator",
}


def __getattr__(attr: str):
    kind = _NOT_ON_SPINNAKER.get(attr)
    if kind is None:
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
    cells = sorted(n for n in list_standard_models())
    raise SpinnakerUnsupported(
        f"{attr} ({kind}) is not supported on SpiNNaker (sPyNNaker 7.4.1 has no {attr} in "
        f"pyNN.spiNNaker); supported cell types: {', '.join(cells)}; extra models in "
        f"sim.extra_models: {', '.join(extra_models._PROVIDED)}")


def list_standard_models() -> list[str]:
    """Names of the StandardCellType classes this backend provides."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)
            and obj is not StandardCellType]

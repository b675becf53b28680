"""SpiNNaker emulator as a PyNN 0.13 backend: ``import pyNN.nmcluster.spinnaker as sim``.

Same shape as the Spikey backend (on ``pyNN.common`` through :mod:`nmcluster.emulators.common`);
the machine's rules (partitioning, 16-bit weights, delays) in :mod:`.machine`, the dynamics
(s16.15 fixed point) in :mod:`nmcluster.emulators.engine`.

Extras: ``PartitionerMaximumSizeConstraint``, ``Population.add_constraint()`` /
``set_max_atoms_per_core()``, ``set_number_of_neurons_per_core()``, ``partitioning_report()``,
``weight_scales()``, ``Izhikevich_cond``, ``PfisterSpikeTripletRule``; ``setup`` options in
:func:`.control.setup`.
"""

from pyNN import errors, random, space  # noqa: F401
from pyNN.connectors import *  # noqa: F401,F403
from pyNN.network import Network  # noqa: F401
from pyNN.random import GSLRNG, NumpyRNG, RandomDistribution  # noqa: F401
from pyNN.recording import *  # noqa: F401,F403
from pyNN.space import Space  # noqa: F401
from pyNN.standardmodels import StandardCellType

from .control import (  # noqa: F401
    emulation_time, end, get_current_time, get_max_delay, get_min_delay, get_time_step,
    initialize, num_processes, partitioning_report, rank, reset, run, run_for, run_until,
    set_number_of_neurons_per_core, setup, weight_scales)
from .machine import (MAX_DELAY_STEPS, MAX_NEURONS_PER_CORE,  # noqa: F401
                      PartitionerMaximumSizeConstraint, SpinnakerConfigError)
from .populations import Assembly, Population, PopulationView  # noqa: F401
from .procedural_api import connect, create, record, record_gsyn, record_v  # noqa: F401
from .projections import Projection  # noqa: F401
from .standardmodels import *  # noqa: F401,F403
from .standardmodels import StaticSynapse as _StaticSynapse

Projection._static_synapse_class = _StaticSynapse


def list_standard_models() -> list[str]:
    """Names of the StandardCellType classes this backend provides."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)
            and obj is not StandardCellType]

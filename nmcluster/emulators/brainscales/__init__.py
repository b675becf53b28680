"""BrainScaleS wafer emulator (what the ESS did, fast) as a PyNN 0.13 backend:
``import pyNN.nmcluster.brainscales as sim``.

Same shape as the Spikey backend (on ``pyNN.common`` through :mod:`nmcluster.emulators.common`);
the wafer's mapping in :mod:`.wafer`, the ESS options in :mod:`.ess`, the calibration seam in
:mod:`.calibration`, the dynamics (AdEx) in :mod:`nmcluster.emulators.engine`.

Extras: ``PyMarocco`` (the guidebook's ``marocco`` object), ``ESSConfig``, ``Bandwidth``,
``mapping_stats()``, ``pulse_statistics()``, ``hardware_time()``, ``speedup()``; ``setup``
options in :func:`.control.setup`.
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

from .control import (  # noqa: F401
    emulation_time, end, get_current_time, get_max_delay, get_min_delay, get_time_step,
    hardware_time, initialize, mapping_stats, num_processes, pulse_statistics, rank, reset, run,
    run_for, run_until, setup, speedup)
from .ess import Bandwidth, ESSConfig  # noqa: F401
from .populations import Assembly, Population, PopulationView  # noqa: F401
from .procedural_api import connect, create, record, record_gsyn, record_v  # noqa: F401
from .projections import Projection  # noqa: F401
from .standardmodels import *  # noqa: F401,F403
from .standardmodels import StaticSynapse as _StaticSynapse
from .wafer import (MappingStats, PyMarocco, SynapseLossError,  # noqa: F401
                    WaferConfigError)

Projection._static_synapse_class = _StaticSynapse


def list_standard_models() -> list[str]:
    """Names of the StandardCellType classes this backend provides."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)
            and obj is not StandardCellType]


def __getattr__(name: str):
    """A PyNN cell type BrainScaleS lacks is an error naming the platform and its cell types."""
    from ..pynn07 import missing_attribute

    raise missing_attribute(__name__, "BrainScaleS", name, list_standard_models())

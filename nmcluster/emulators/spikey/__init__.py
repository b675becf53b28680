"""Spikey chip emulator as a PyNN 0.13 backend: ``import pyNN.nmcluster.spikey as sim``.

Built on ``pyNN.common`` / ``pyNN.standardmodels`` / ``pyNN.recording`` like ``pyNN.mock`` and
``pyNN.nest``; the chip's rules live in :mod:`.chip`, the calibration seam in
:mod:`.calibration`, the dynamics in :mod:`nmcluster.emulators.engine`.

Spikey extras (from the chip's own PyNN API): ``IF_facets_hardware1``, ``minExcWeight()``,
``minInhWeight()``, ``maxExcWeight()``, ``maxInhWeight()``, ``Projection.setDrvifallFactors()`` /
``setDrvioutFactors()``, ``setup(workStationName=..., mappingOffset=..., neuronPermutation=...,
calibTauMem=..., calibSynDrivers=..., calibVthresh=..., calibOutputPins=..., strict=True)``.
Emulator extras: ``hardware_time()``, ``run_trials()`` (batched trials), ``setup`` options
``seed``, ``fixedPatternNoise``, ``temporalNoise``, ``noiseModel``, ``calibrationProvider``.
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

from .chip import ChipConfigError, ChipLimitError  # noqa: F401
from .control import (  # noqa: F401
    emulation_time, end, get_current_time, get_max_delay, get_min_delay, get_time_step,
    hardware_time,
    initialize, maxExcWeight, maxInhWeight, minExcWeight, minInhWeight, num_processes, rank,
    reset, run, run_for, run_trials, run_until, setup)
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


def __getattr__(name: str):
    """A PyNN cell type Spikey lacks is an error naming the platform and its cell types."""
    from ..pynn07 import missing_attribute

    raise missing_attribute(__name__, "Spikey", name, list_standard_models())

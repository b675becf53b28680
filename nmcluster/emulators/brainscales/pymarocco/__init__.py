"""``import pymarocco`` on the wafer emulator: the mapping configuration of the BrainScaleS software.

``PyMarocco`` and ``Defects`` are the emulator's own (:mod:`..wafer`); ``pymarocco.results.Marocco``
reads back the mapping results a run persisted (``marocco.persist``).  Served by
:mod:`nmcluster._compat_names` when the real pymarocco (github electronicvisions/marocco,
``pymarocco/``) is not installed.
"""

from ..wafer import Defects, MappingStats, PyMarocco  # noqa: F401
from . import results  # noqa: F401  (``import pymarocco.results`` finds it in sys.modules)

__all__ = ["PyMarocco", "Defects", "MappingStats", "results"]

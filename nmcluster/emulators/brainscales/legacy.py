"""``import pyhmf as pynn`` on the emulator: the BrainScaleS backend with the PyNN 0.7 API shapes
of the hardware's own software (see :mod:`nmcluster.emulators.pynn07`); served by
:mod:`nmcluster._compat_names` when the real software is not installed.
"""

from .. import brainscales as _sim
from .. import pynn07 as _pynn07

_pynn07.build(__name__, _sim, "BrainScaleS")

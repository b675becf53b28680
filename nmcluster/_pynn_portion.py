"""``pyNN/nmcluster/__init__.py`` of the wheel: PyNN's name for nmcluster's emulator backends.

The wheel installs this file as ``pyNN/nmcluster/__init__.py`` next to PyNN's own files (pyproject.toml,
[tool.hatch.build.targets.wheel.force-include]), so ``import pyNN.nmcluster.spikey`` works where no
.pth file runs (``python -S``, PYTHONPATH set-ups of one site-packages, Spack views).  It installs the
alias finder and makes ``pyNN.nmcluster`` the very module ``nmcluster.emulators`` (one copy: the
finder then maps ``pyNN.nmcluster.<backend>`` onto ``nmcluster.emulators.<backend>``).
See nmcluster/_pynn_alias.py.
"""

import importlib
import sys

import nmcluster._pynn_alias as _alias

_alias.install()
sys.modules[__name__] = importlib.import_module("nmcluster.emulators")

"""nmcluster: neuromorphic hardware (Spikey, BrainScaleS, SpiNNaker) and their emulators behind Slurm."""

__version__ = "0.1.0"

# ``pyNN.nmcluster.<backend>`` names even where the .pth file is not processed (PYTHONPATH set-ups,
# ``python -S``): importing nmcluster installs the tiny alias finder (idempotent, no heavy imports).
from nmcluster import _pynn_alias as _alias  # noqa: E402

_alias.install()
del _alias

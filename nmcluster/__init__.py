"""nmcluster: neuromorphic hardware (Spikey, BrainScaleS, SpiNNaker) and their emulators behind Slurm."""

__version__ = "0.1.0"

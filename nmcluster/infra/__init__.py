"""Shared infrastructure below every hardware and job module: the one Slurm CLI adapter
(:mod:`.slurmcli`) and advisory file locks (:mod:`.locks`).  Nothing here imports another nmcluster
layer except :mod:`nmcluster.errors`, so ``hwdrivers``, ``partitions``, ``calib`` and ``executors`` may
all use it without pointing upward."""

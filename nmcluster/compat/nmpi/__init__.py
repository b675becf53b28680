"""nmcluster's drop-in for the platform's ``nmpi`` package: ``import nmpi; c = nmpi.Client("me")``.

Opt in with ``eval "$(nmcluster shell-env)"``; see :mod:`nmcluster.client` for what each method does.
Jobs go to this site's Slurm partitions (or the local executor), or to ``$NMCLUSTER_HOST`` over SSH.
"""

from nmcluster.client import (  # noqa: F401
    BRAINSCALES,
    BRAINSCALES1,
    ESS,
    SPIKEY,
    SPINNAKER,
    Client,
)

__version__ = "0.11.1+nmcluster"

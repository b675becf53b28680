"""Partitions: one module per hardware, each turning a hardware config into Slurm resources.

``get_partition(kind, site)`` is the only entry point the rest of nmcluster needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig
    from nmcluster.partitions.base import Partition


def get_partition(kind: str, site: "SiteConfig") -> "Partition":
    """The partition object for a partition kind (``spikey``, ``wafer``, ``ess``, ``spinnaker``)."""
    from nmcluster.jobs.spec import normalise_platform

    kind = normalise_platform(kind)
    if kind == "spikey":
        from nmcluster.partitions.spikey import SpikeyPartition as cls
    elif kind == "wafer":
        from nmcluster.partitions.wafer import WaferPartition as cls
    elif kind == "ess":
        from nmcluster.partitions.ess import EssPartition as cls
    else:
        from nmcluster.partitions.spinnaker import SpinnakerPartition as cls
    return cls(site)

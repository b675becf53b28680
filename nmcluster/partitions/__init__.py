"""Partitions: one module per hardware, each turning a hardware config into Slurm resources.

``get_partition(kind, site)`` is the only entry point the rest of nmcluster needs; the platform names
a user may give (``BrainScaleS``, ``NM-MC1``) are resolved here, next to the registry of partitions,
so generic job code never spells a hardware's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nmcluster.errors import UserInputError

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig
    from nmcluster.partitions.base import Partition


#: platform names of the original platform (and our partition kinds) -> partition kind
PLATFORM_ALIASES: dict[str, str] = {
    "spikey": "spikey",
    "brainscales": "wafer",
    "wafer": "wafer",
    "nm-pm1": "wafer",
    "nm-mc1": "spinnaker",
    "brainscales-ess": "ess",
    "ess": "ess",
    "spinnaker": "spinnaker",
}
#: partition kind -> the platform's own spelling, used in job records (``hardware_platform``)
PLATFORM_NAMES: dict[str, str] = {
    "spikey": "Spikey",
    "wafer": "BrainScaleS",
    "ess": "BrainScaleS-ESS",
    "spinnaker": "SpiNNaker",
}


def normalise_platform(platform: str) -> str:
    """``"BrainScaleS"`` -> ``"wafer"`` etc.; unknown names are a user error listing the known ones."""
    kind = PLATFORM_ALIASES.get(str(platform).strip().lower())
    if kind is None:
        known = ", ".join(sorted(set(PLATFORM_NAMES.values()) | set(PLATFORM_NAMES)))
        raise UserInputError(f"unknown platform {platform!r} (known: {known})")
    return kind


#: partition kind -> ``module:class`` (imported only when that partition is used)
PARTITION_CLASSES: dict[str, str] = {
    "spikey": "nmcluster.partitions.spikey:SpikeyPartition",
    "wafer": "nmcluster.partitions.wafer:WaferPartition",
    "ess": "nmcluster.partitions.ess:EssPartition",
    "spinnaker": "nmcluster.partitions.spinnaker:SpinnakerPartition",
}


def partition_class(kind: str) -> "type[Partition]":
    """The partition class of a partition kind or platform name (its module imported on demand)."""
    import importlib

    module, _, name = PARTITION_CLASSES[normalise_platform(kind)].partition(":")
    return getattr(importlib.import_module(module), name)


def get_partition(kind: str, site: "SiteConfig") -> "Partition":
    """The partition object for a partition kind (``spikey``, ``wafer``, ``ess``, ``spinnaker``)."""
    return partition_class(kind)(site)

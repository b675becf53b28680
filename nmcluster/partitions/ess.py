"""BrainScaleS-ESS partition: the wafer emulator.  Same hardware config as the wafer partition (the
emulated wafer's HICANNs shape the mapping) but no licences: nothing physical is claimed."""

from __future__ import annotations

from nmcluster.partitions.wafer import WaferPartition


class EssPartition(WaferPartition):
    kind = "ess"
    uses_licences = False

"""BrainScaleS-ESS partition: the wafer emulator.  Same hardware config as the wafer partition (the
emulated wafer's HICANNs shape the mapping) but no licences: nothing physical is claimed."""

from __future__ import annotations

from nmcluster.errors import HardwareConfigError
from nmcluster.partitions.wafer import WaferPartition


class EssPartition(WaferPartition):
    kind = "ess"

    def quota_unit(self) -> None:
        return None  # the ESS is an emulator on the batch partition: no hardware time to count

    def tracked_tres(self) -> tuple[str, ...]:
        return ()

    uses_licences = False

    def default_wafer(self) -> int:
        """The ESS needs no wafer: the site's default wafer, else any configured one (the lowest id) is
        emulated."""
        try:
            return super().default_wafer()
        except HardwareConfigError:
            if not self.site.wafers:
                raise
            return min(self.site.wafers)

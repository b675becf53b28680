"""SpiNNaker partition: whole boards, counted by the Slurm licence the site configures.

``BOARDS`` (or ``CHIPS``, a machine size rounded up to 48-chip boards) must not exceed the site's
inventory; the job sees ``NMCLUSTER_SPINNAKER_BOARDS``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nmcluster.errors import HardwareConfigError
from nmcluster.partitions.base import Partition, int_value


class SpinnakerPartition(Partition):
    kind = "spinnaker"
    SCHEMA = {"BOARDS": "integer >= 1", "CHIPS": "integer >= 1 (machine size)"}

    def resolve(self, hw: Mapping[str, Any]):
        total = len(self.site.boards)
        if "BOARDS" in hw and "CHIPS" in hw:
            raise HardwareConfigError("spinnaker hardware config: give BOARDS or CHIPS, not both")
        if "CHIPS" in hw:
            chips = int_value(self.kind, "CHIPS", hw["CHIPS"])
            if chips < 1:
                raise HardwareConfigError(f"spinnaker hardware config: CHIPS must be >= 1, got {chips}")
            per_board = max((b.chips for b in self.site.boards), default=48)
            boards = math.ceil(chips / per_board)
        else:
            boards = int_value(self.kind, "BOARDS", hw.get("BOARDS", 1))
        if boards < 1:
            raise HardwareConfigError(f"spinnaker hardware config: BOARDS must be >= 1, got {boards}")
        if boards > total:
            raise HardwareConfigError(f"{boards} SpiNNaker board(s) requested but this site has {total}")
        lic = self.config.board_license
        args = [f"--licenses={lic}:{boards}"] if lic else []
        names = [b.name for b in self.site.boards[:boards]]
        env = {"NMCLUSTER_SPINNAKER_BOARDS": str(boards)}
        return (args, env, {"BOARDS": boards}, f"spinnaker {boards} board(s)",
                [f"spinnaker:{n}" for n in names])

"""SpiNNaker partition: whole boards, claimed through a spalloc server or counted by a Slurm licence.

``BOARDS`` (a count), ``CHIPS`` (a machine size) or ``CORES`` (what the network needs, e.g. from the
SpiNNaker emulator's partitioning report) are turned into boards of the site's inventory by
:mod:`nmcluster.hwdrivers.spinnaker.boards`; with a spalloc server configured spalloc arbitrates the
boards, otherwise the partition's board licence does (``--licenses=spinnaker_board:N``).  The job sees
``NMCLUSTER_SPINNAKER_BOARDS`` (and ``NMCLUSTER_SPALLOC_SERVER`` with spalloc).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nmcluster.partitions.base import Partition, int_value


class SpinnakerPartition(Partition):
    kind = "spinnaker"
    SCHEMA = {"BOARDS": "integer >= 1", "CHIPS": "integer >= 1 (machine size)",
              "CORES": "integer >= 1 (application cores needed)"}

    def resolve(self, hw: Mapping[str, Any]):
        from nmcluster.hwdrivers.spinnaker import allocation
        from nmcluster.hwdrivers.spinnaker.boards import select_boards

        values = {k.lower(): int_value(self.kind, k, hw[k]) for k in ("BOARDS", "CHIPS", "CORES") if k in hw}
        req = select_boards(self.site.boards, **values)
        names = [b.name for b in req.boards]
        env = {"NMCLUSTER_SPINNAKER_BOARDS": str(req.count),
               "NMCLUSTER_SPINNAKER_BOARD_NAMES": ",".join(names)}
        normalised: dict[str, Any] = {"BOARDS": req.count}  # what is claimed; the description keeps why
        args = allocation.slurm_licence_args(self.site, req.count)
        if self.site.spalloc.configured:
            env.update(allocation.job_environment(self.site.spalloc))
            return (args, env, normalised, f"spinnaker {req.describe()} via spalloc {self.site.spalloc.host}", [])
        return (args, env, normalised, f"spinnaker {req.describe()}", [f"spinnaker:{n}" for n in names])

    def hardware_present(self, request, env):
        """Ask the SpiNNaker driver: spalloc server answering, or the boards reachable from this node?"""
        from nmcluster.hwdrivers.spinnaker.presence import request_presence

        names = [n for n in request.environment.get("NMCLUSTER_SPINNAKER_BOARD_NAMES", "").split(",") if n]
        return request_presence(self.site, request.hardware_config, names)

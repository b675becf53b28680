"""The ``slurm.conf`` lines that put quotas into Slurm's hands (``nmcluster admin slurm-conf --accounting``).

* ``AccountingStorageType=accounting_storage/slurmdbd`` and ``AccountingStorageEnforce=associations,limits,
  safe``: a job must be charged to an account its user belongs to; an account's ``GrpTRESMins`` limit is
  enforced by slurmctld; ``safe`` starts a job only if it can run to its time limit within what is left,
  so a quota is never overrun by a job already started (Slurm's ``resource_limits`` documentation).
* ``AccountingStorageTRES``: the station GRES and every wafer FPGA licence are tracked as TRES, so that
* ``TRESBillingWeights`` per partition (rendered from each partition's :meth:`quota_unit`) make the
  ``billing`` TRES count station-minutes, FPGA-minutes or CPU-minutes; one ``GrpTRESMins=billing=N``
  per platform sub-account then is the quota.
* ``PriorityType=priority/multifactor`` with ``PriorityDecayHalfLife=0`` and ``PriorityUsageResetPeriod=NONE``:
  usage never decays, so what Slurm enforces equals the sum that ``sacct`` reports.
"""

from __future__ import annotations

from collections.abc import Mapping

from nmcluster.config import SiteConfig


def accounting_lines(site: SiteConfig) -> str:
    """The global lines (admins merge them into slurm.conf; the test cluster is started from them)."""
    from nmcluster.partitions import get_partition

    tres: list[str] = []
    for kind in site.partitions:
        for t in get_partition(kind, site).tracked_tres():
            if t not in tres:
                tres.append(t)
    ac = site.accounting
    lines = ["# --- nmcluster: collabs and quotas on Slurm accounting (nmcluster admin slurm-conf --accounting) ---",
             "AccountingStorageType=accounting_storage/slurmdbd",
             f"AccountingStorageHost={ac.dbd_host}",
             f"AccountingStoragePort={ac.dbd_port}",
             "AccountingStorageEnforce=associations,limits,safe",
             "PriorityType=priority/multifactor",
             "PriorityDecayHalfLife=0",
             "PriorityUsageResetPeriod=NONE",
             "PriorityCalcPeriod=1"]
    if tres:
        lines.append("AccountingStorageTRES=" + ",".join(tres))
    return "\n".join(lines) + "\n"


def partition_billing(site: SiteConfig) -> Mapping[str, str]:
    """Slurm partition name -> ``TRESBillingWeights=...`` for the platforms that have a quota."""
    from nmcluster.partitions import get_partition

    out: dict[str, str] = {}
    for kind, part in site.partitions.items():
        unit = get_partition(kind, site).quota_unit()
        if unit is not None and part.slurm_partition not in out:
            out[part.slurm_partition] = f'TRESBillingWeights="{unit.weights}"'
    return out

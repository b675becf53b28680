"""Executors: where a job runs.  ``slurm`` (sbatch/srun through :mod:`nmcluster.infra.slurmcli`) or ``local``
(subprocesses on this machine, the embedded default).  Both run the same job runner in the same job
directory layout and report the same states."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from nmcluster.errors import UserInputError

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig
    from nmcluster.executors.base import Executor


def get_executor(name: str, site: "SiteConfig", env: Mapping[str, str] | None = None) -> "Executor":
    """``auto`` picks Slurm when its controller answers, local otherwise (like submitit's AutoExecutor)."""
    if name == "auto":
        from nmcluster.infra.slurmcli import slurm_configured

        name = "slurm" if slurm_configured(env) else "local"
    if name == "slurm":
        from nmcluster.executors.slurm import SlurmExecutor

        return SlurmExecutor(site, env=env)
    if name == "local":
        from nmcluster.executors.local import LocalExecutor

        return LocalExecutor(site, env=env)
    raise UserInputError(f"unknown executor {name!r} (auto, slurm or local)")

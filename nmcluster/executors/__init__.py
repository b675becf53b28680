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


def slurm_configured(env: Mapping[str, str] | None = None) -> bool:
    """Is this machine part of a Slurm cluster?  (Client tools installed and a slurm.conf to use.)

    A configured Slurm whose controller does not answer is an error ("Slurm is not answering"), not a
    reason to run a hardware job on the frontend; only a machine without Slurm gets the local executor.
    """
    import os
    import shutil

    env = os.environ if env is None else env
    if shutil.which("sbatch", path=env.get("PATH")) is None:
        return False
    conf = env.get("SLURM_CONF") or "/etc/slurm/slurm.conf"
    return os.path.isfile(conf)


def get_executor(name: str, site: "SiteConfig", env: Mapping[str, str] | None = None) -> "Executor":
    """``auto`` picks Slurm when its controller answers, local otherwise (like submitit's AutoExecutor)."""
    if name == "auto":
        name = "slurm" if slurm_configured(env) else "local"
    if name == "slurm":
        from nmcluster.executors.slurm import SlurmExecutor

        return SlurmExecutor(site, env=env)
    if name == "local":
        from nmcluster.executors.local import LocalExecutor

        return LocalExecutor(site, env=env)
    raise UserInputError(f"unknown executor {name!r} (auto, slurm or local)")

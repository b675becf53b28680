"""The executor protocol: submit a staged job directory, observe states, cancel, run interactively."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from nmcluster.partitions.base import ResourceRequest


class JobRecord(Protocol):
    """What an executor needs of a job's record to observe or cancel it (the job store's
    :class:`nmcluster.jobs.store.JobRecord` has these fields; the executors do not import the store)."""

    id: int
    external_id: str
    job_dir: str
    timestamp_submission: float


class Observation(NamedTuple):
    """What an executor currently knows about a job (None: nothing new)."""

    status: str  # submitted | running | finished | error
    reason: str = ""
    exit_code: int | None = None
    start: float | None = None
    end: float | None = None
    slurm_state: str = ""


class Executor(Protocol):
    name: str

    def submit(self, job_dir: Path, job_id: int, request: ResourceRequest,
               slurm_options: Sequence[str] = ()) -> str:
        """Queue the job whose directory is prepared; return the executor's id for it."""

    def observe(self, records: Sequence[JobRecord]) -> dict[int, Observation]:
        """Current states of unfinished jobs (keyed by record id)."""

    def cancel(self, record: JobRecord) -> None:
        """Stop a queued or running job."""

    def interactive(self, request: ResourceRequest, command: Sequence[str], mode: str,
                    slurm_options: Sequence[str] = ()) -> int:
        """Run ``command`` now with the request's resources, streaming output; return its exit code."""


def runner_argv(*args: str) -> list[str]:
    """How to start the job runner with nmcluster's own interpreter."""
    return [sys.executable, "-m", "nmcluster.executors.runner", *args]

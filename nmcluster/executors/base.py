"""The executor protocol: submit a staged job directory, observe states, cancel, run interactively."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Ticket:
    """One prepared job to queue: its record id, its directory (job.json written, snapshot staged), its
    resources and the account it is charged to (the collab; Slurm's ``--account``)."""

    job_id: int
    job_dir: Path
    request: ResourceRequest
    account: str | None = None


class Executor(Protocol):
    name: str
    #: does a job carry the account it is charged to (the collab; Slurm's ``--account``)?
    charges_accounts: bool

    def submit(self, tickets: Sequence[Ticket], slurm_options: Sequence[str] = ()) -> list[str]:
        """Queue prepared jobs of one request (a job is an array of one; a sweep one array) and return
        the executor's id of each, in order.  All or nothing: on failure nothing stays queued."""

    def observe(self, records: Sequence[JobRecord]) -> dict[int, Observation]:
        """Current states of unfinished jobs (keyed by record id)."""

    def cancel(self, record: JobRecord) -> None:
        """Stop a queued or running job."""

    def free_nodes(self) -> list:
        """The scheduler's nodes as they are now (for pinning "any" resource before a run); [] without."""

    def interactive(self, request: ResourceRequest, command: Sequence[str], mode: str,
                    slurm_options: Sequence[str] = (), runtime_helper: str = "") -> int:
        """Run ``command`` now with the request's resources, streaming output; return its exit code.
        ``runtime_helper``: a module that completes the environment inside the allocation when the
        command runs without the job runner."""


def runner_argv(*args: str) -> list[str]:
    """How to start the job runner with nmcluster's own interpreter."""
    return [sys.executable, "-m", "nmcluster.executors.runner", *args]

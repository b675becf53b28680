"""Local executor: the embedded default when there is no Slurm.

A submitted job is a detached job-runner process (own session, so it survives the submitting shell);
its state is read back from the files the runner writes in the job directory and from whether the
process still lives.  Exclusive hardware (a station, an FPGA licence) is guarded by advisory locks, which
is the bookkeeping Slurm's GRES and licences do on a cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from nmcluster.config import SiteConfig
from nmcluster.errors import UserInputError
from nmcluster.executors.base import JobRecord, Observation, Ticket, runner_argv
from nmcluster.executors.jobfile import RESULT_FILE, RUNNER_FILE
from nmcluster.partitions.base import ResourceRequest


def lock_dir(site: SiteConfig) -> Path:
    """Where the advisory hardware locks live (``[hardware] lock_dir``, else under the job root)."""
    return site.lock_dir


def _alive(pid: int, job_dir: str) -> bool:
    """Is ``pid`` still our runner for ``job_dir``?  (Guards against PID reuse.)"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    if cmdline == [b""]:  # just after exec the kernel briefly shows an empty cmdline: a starting runner
        return True
    return job_dir.encode() in cmdline


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class LocalExecutor:
    name = "local"
    #: does a job carry the account it is charged to (Slurm's --account)?
    charges_accounts = False

    def __init__(self, site: SiteConfig, env: Mapping[str, str] | None = None) -> None:
        self.site = site
        self.env = dict(os.environ if env is None else env)

    def submit(self, tickets: Sequence[Ticket], slurm_options: Sequence[str] = ()) -> list[str]:
        """One detached runner per job; the runner takes the request's exclusive resources (a station,
        FPGA licences) as advisory locks in :func:`lock_dir`, the bookkeeping Slurm does otherwise."""
        if slurm_options:
            raise UserInputError("Slurm options (--slurm-opt) need the Slurm executor; "
                                 "the local executor has no Slurm")
        started: list[str] = []
        try:
            for ticket in tickets:
                out = open(ticket.job_dir / "runner.out", "ab")
                try:
                    proc = subprocess.Popen(
                        runner_argv("batch", str(ticket.job_dir), "--lock-dir", str(lock_dir(self.site))),
                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                        env=self.env, cwd=ticket.job_dir)
                finally:
                    out.close()
                started.append(str(proc.pid))
        except BaseException:
            for pid, ticket in zip(started, tickets):
                self.cancel(_Started(pid, str(ticket.job_dir)))
            raise
        return started

    def observe(self, records: Sequence[JobRecord]) -> dict[int, Observation]:
        out: dict[int, Observation] = {}
        for rec in records:
            job_dir = Path(rec.job_dir)
            result = _read(job_dir / RESULT_FILE)
            if result is not None:
                out[rec.id] = Observation(result["state"], result.get("reason", ""), result.get("exit_code"),
                                          result.get("start"), result.get("end"))
                continue
            runner = _read(job_dir / RUNNER_FILE)
            alive = rec.external_id.isdigit() and _alive(int(rec.external_id), str(job_dir))
            if alive:
                out[rec.id] = Observation("running" if runner else "submitted",
                                          start=runner.get("start") if runner else None)
            else:
                _reap(rec.external_id)
                result = _read(job_dir / RESULT_FILE)  # it may have finished between our two looks
                if result is not None:
                    out[rec.id] = Observation(result["state"], result.get("reason", ""),
                                              result.get("exit_code"), result.get("start"), result.get("end"))
                    continue
                out[rec.id] = Observation("error", "job runner died without a result (killed?); see the log",
                                          start=runner.get("start") if runner else None)
        return out

    def cancel(self, record: JobRecord) -> None:
        if record.external_id.isdigit() and _alive(int(record.external_id), record.job_dir):
            try:
                os.kill(int(record.external_id), signal.SIGTERM)
            except ProcessLookupError:
                pass

    def free_nodes(self) -> list:
        """No Slurm nodes here: nothing to pin "any free station" to before a run (the runner asks the
        driver which station is attached)."""
        return []

    def interactive(self, request: ResourceRequest, command: Sequence[str], mode: str,
                    slurm_options: Sequence[str] = (), runtime_helper: str = "") -> int:
        """Lock the hardware, then become the runner (exec): output streams, the exit code is the job's."""
        if slurm_options:
            raise UserInputError("Slurm options (--slurm-opt) need the Slurm executor")
        from nmcluster.executors import runner
        from nmcluster.infra import locks

        if request.lock_keys:
            # like a second user at the workstation: say who has the station now, never share the device
            try:
                locks.acquire(request.lock_keys, lock_dir(self.site), locks.describe_owner("interactive"),
                              blocking=False, inheritable=True)
            except locks.ResourceBusy as exc:
                from nmcluster.errors import HardwareBusyError

                what = f"station {exc.key[7:]}" if exc.key.startswith("station") else exc.key
                raise HardwareBusyError(f"{what} is in use by {exc.who}") from None
        return runner.run_exec(request, mode, list(command))


class _Started(NamedTuple):
    """What :meth:`LocalExecutor.cancel` needs of a runner started moments ago."""

    external_id: str
    job_dir: str


def _reap(pid: str) -> None:
    """Collect a zombie child if this process started it (tests submit and poll in one process)."""
    if pid.isdigit():
        try:
            os.waitpid(int(pid), os.WNOHANG)
        except ChildProcessError:
            pass

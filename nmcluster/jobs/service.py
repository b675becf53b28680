"""The library API behind the CLI and the Python client: submit, observe, fetch, cancel, remove.

The CLI and :mod:`nmcluster.client` are thin layers over :class:`JobService`; no logic lives only in one
of them.  Submission is careful about partial state: everything that can be rejected (platform, hardware
config, Slurm options, code, command, inputs) is checked before the job store is touched, and a failure
after that (Slurm down, disk full) removes the record and the job directory again.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmcluster.config import SiteConfig, load_config
from nmcluster.errors import JobStateError, NmclusterError, StagingError, UserInputError
from nmcluster.jobs.runner import JOB_FILE, LOG_FILE, RESULT_FILE, RUNNER_FILE, WORK_DIR, write_json_atomic
from nmcluster.jobs.spec import JobSpec, system_restrictions
from nmcluster.partitions import get_partition
from nmcluster.partitions.base import ResourceRequest

if TYPE_CHECKING:  # the store (sqlite3) is imported only by commands that use it, not by `run`
    from nmcluster.jobs.store import JobRecord, JobStore

STORE_FILE = "jobs.sqlite"


def check_system_restrictions(command: str | Sequence[str], request: ResourceRequest) -> None:
    """``{system=a,b}`` must name at least one backend this partition can provide."""
    text = command if isinstance(command, str) else " ".join(command)
    for allowed in system_restrictions(text):
        if allowed is not None and not set(allowed) & set(request.backends):
            raise UserInputError(f"{{system={','.join(allowed)}}} lists no backend of the {request.kind} "
                                 f"partition (its backends: {', '.join(request.backends)})")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class JobService:
    """One user's view of the job store and executors, for one site configuration."""

    def __init__(self, site: SiteConfig | None = None, env: Mapping[str, str] | None = None,
                 executor: str | None = None) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.site = site if site is not None else load_config(env=self.env)
        self.executor_name = executor or self.site.executor
        self._executors: dict[str, Any] = {}
        self._store: JobStore | None = None

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def store(self) -> "JobStore":
        if self._store is None:
            from nmcluster.jobs.store import JobStore

            self.site.job_root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._store = JobStore(self.site.job_root / STORE_FILE)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> "JobService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def executor(self, name: str | None = None):
        from nmcluster.executors import get_executor

        key = name or self.executor_name
        if key not in self._executors:
            ex = get_executor(key, self.site, self.env)
            self._executors[key] = ex
            self._executors[ex.name] = ex
        return self._executors[key]

    # -- validation -------------------------------------------------------------------------------
    def resolve(self, platform: str, hardware_config: Mapping[str, Any],
                slurm_options: Sequence[str] = ()) -> ResourceRequest:
        """Validate a hardware request without queueing anything."""
        partition = get_partition(platform, self.site)
        request = partition.validate(hardware_config)
        partition.check_slurm_options(slurm_options)
        return request

    # -- interactive ----------------------------------------------------------------------------
    def run(self, platform: str, hardware_config: Mapping[str, Any], command: Sequence[str],
            mode: str = "auto", slurm_options: Sequence[str] = ()) -> int:
        """``nmcluster run``: validate, then hand over to the executor (which usually execs)."""
        if not command:
            raise UserInputError("no command given (put it after --, e.g. -- python run.py {system})")
        request = self.resolve(platform, hardware_config, slurm_options)
        check_system_restrictions(command, request)
        return self.executor().interactive(request, command, mode, slurm_options)

    # -- submission -----------------------------------------------------------------------------
    def submit(self, spec: JobSpec, mode: str = "auto", slurm_options: Sequence[str] = ()) -> JobRecord:
        if mode not in ("auto", "hardware", "emulate"):
            raise UserInputError(f"unknown backend mode {mode!r} (auto, hardware or emulate)")
        request = self.resolve(spec.platform, spec.hardware_config, slurm_options)
        check_system_restrictions(spec.command, request)
        executor = self.executor()
        from nmcluster.jobs.staging import stage_code

        root = self.site.job_root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(mode=0o700)
        job_id: int | None = None
        job_dir: Path | None = None
        try:
            staged = stage_code(spec.code, spec.command, staging / WORK_DIR, spec.inputs)
            now = time.time()
            job_id = self.store.insert(
                status="preparing", code=spec.code, command=staged.command, platform=spec.platform,
                hardware_config=dict(request.hardware_config), input_data=list(spec.inputs), tags=list(spec.tags),
                collab_id=spec.collab_id, user=self.env.get("USER") or getpass.getuser(),
                timestamp_submission=now, executor=executor.name)
            job_dir = root / str(job_id)
            staging.rename(job_dir)
            staging = job_dir
            job = {"id": job_id, "spec": spec.to_dict(), "command": staged.command, "inputs": list(staged.inputs),
                   "code_kind": staged.kind, "request": request.to_dict(), "mode": mode,
                   "executor": executor.name, "submitted": now}
            if executor.name == "local":
                from nmcluster.executors.local import lock_dir

                job.update(lock_keys=list(request.lock_keys), lock_dir=str(lock_dir(self.site)))
            write_json_atomic(job_dir / JOB_FILE, job)
            if spec.collab_id and executor.name == "slurm":  # the collab is the Slurm account
                slurm_options = (*slurm_options, f"--account={spec.collab_id}")
            external = executor.submit(job_dir, job_id, request, slurm_options)
            self.store.update(job_id, status="submitted", external_id=external, job_dir=str(job_dir))
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if job_id is not None:
                self.store.delete(job_id)
            if isinstance(exc, OSError) and not isinstance(exc, NmclusterError):
                raise StagingError(f"cannot prepare the job directory: {exc.strerror or exc}") from None
            raise
        return self.store.get(job_id)

    # -- observation ----------------------------------------------------------------------------
    def refresh(self, records: Sequence[JobRecord]) -> list[JobRecord]:
        """Bring unfinished records up to date with their executors; final states are written once."""
        by_executor: dict[str, list[JobRecord]] = {}
        for rec in records:
            if not rec.final:
                by_executor.setdefault(rec.executor, []).append(rec)
        changed: dict[int, JobRecord] = {}
        for name, recs in by_executor.items():
            observations = self.executor(name).observe(recs)
            for rec in recs:
                obs = observations.get(rec.id)
                if obs is None:
                    continue
                values: dict[str, Any] = {}
                if obs.status != rec.status:
                    values["status"] = obs.status
                if obs.reason != rec.reason:
                    values["reason"] = obs.reason
                if obs.slurm_state and obs.slurm_state != rec.slurm_state:
                    values["slurm_state"] = obs.slurm_state
                if obs.start and rec.timestamp_start is None:
                    values["timestamp_start"] = obs.start
                job_dir = Path(rec.job_dir)
                info = _read_json(job_dir / RESULT_FILE) or _read_json(job_dir / RUNNER_FILE) or {}
                if info.get("backend") and info["backend"] != rec.backend:
                    values.update(backend=info["backend"], emulated=bool(info.get("emulated")),
                                  backend_reason=info.get("backend_reason", ""))
                if obs.status in ("finished", "error"):
                    values["exit_code"] = obs.exit_code
                    values["timestamp_completion"] = obs.end or time.time()
                    values["output_data"] = list(info.get("outputs", ())) if "outputs" in info else []
                if values:
                    self.store.update(rec.id, **values)
                    changed[rec.id] = self.store.get(rec.id)
        return [changed.get(r.id, r) for r in records]

    def get(self, job_id: int | str, refresh: bool = True) -> JobRecord:
        rec = self.store.get(_job_id(job_id))
        return self.refresh([rec])[0] if refresh else rec

    def list(self, include_final: bool = False, limit: int | None = None,
             collab_id: str | None = None) -> list[JobRecord]:
        return self.refresh(self.store.list(include_final=True, limit=limit, collab_id=collab_id)) \
            if include_final else [r for r in self.refresh(self.store.list(include_final=False)) if not r.final]

    def wait(self, job_id: int | str, timeout: float | None = None, interval: float = 0.2) -> JobRecord:
        """Poll until the job is final (or ``timeout`` seconds pass: JobStateError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            rec = self.get(job_id)
            if rec.final:
                return rec
            if deadline is not None and time.monotonic() > deadline:
                raise JobStateError(f"job {rec.id} is still {rec.status} after {timeout:g} s")
            time.sleep(interval)

    def log(self, job_id: int | str) -> str:
        rec = self.store.get(_job_id(job_id))
        job_dir = Path(rec.job_dir)
        parts = []
        for name in (LOG_FILE, "slurm.out", "runner.out"):
            try:
                text = (job_dir / name).read_text(errors="replace")
            except OSError:
                continue
            if text.strip():
                parts.append(text if name == LOG_FILE else f"--- {name} ---\n{text}")
        return "".join(parts)

    def results(self, job_id: int | str, dest: Path | str, include_inputs: bool = False) -> list[Path]:
        """Copy the job's output files (and optionally its inputs) below ``dest``; returns the copies."""
        rec = self.get(job_id)
        if not rec.final:
            raise JobStateError(f"job {rec.id} is {rec.status}: results are available once it has finished")
        work = Path(rec.job_dir) / WORK_DIR
        names = list(rec.output_data)
        if include_inputs:
            job = _read_json(Path(rec.job_dir) / JOB_FILE) or {}
            names += list(job.get("inputs", ()))
        dest = Path(dest)
        copied = []
        for name in names:
            src = work / name
            if not src.is_file():
                continue
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            copied.append(target)
        return copied

    # -- removal --------------------------------------------------------------------------------
    def cancel(self, job_id: int | str) -> JobRecord:
        rec = self.get(job_id)
        if rec.final:
            raise JobStateError(f"job {rec.id} has already ended ({rec.status})")
        self.executor(rec.executor).cancel(rec)
        return rec

    def remove(self, job_id: int | str, cancel_queued: bool = False) -> None:
        """Delete a finished job's record and directory (``cancel_queued``: cancel a queued one first)."""
        rec = self.get(job_id)
        if not rec.final:
            if not (cancel_queued and rec.status == "submitted"):
                raise JobStateError(f"job {rec.id} is {rec.status}: cancel it first (nmcluster cancel {rec.id})")
            self.executor(rec.executor).cancel(rec)
        self.store.delete(rec.id)
        if rec.job_dir:
            shutil.rmtree(rec.job_dir, ignore_errors=True)


def _job_id(value: int | str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise UserInputError(f"job id must be a number, got {value!r}") from None

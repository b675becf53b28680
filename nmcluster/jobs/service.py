"""The library API behind the CLI and the Python client: submit, observe, fetch, cancel, remove.

The CLI and :mod:`nmcluster.client` are thin layers over :class:`JobService`; no logic lives only in one
of them.  Submission is careful about partial state: everything that can be rejected (platform, hardware
config, Slurm options, code, command, inputs) is checked before the job store is touched, and a failure
after that (Slurm down, disk full) removes the record and the job directory again.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmcluster.config import SiteConfig, load_config
from nmcluster.identity import user_name
from nmcluster.errors import JobStateError, JobTimeoutError, NmclusterError, StagingError, StorageError, UserInputError
from nmcluster.executors.jobfile import LOG_FILE, RESULT_FILE, RUNNER_FILE, WORK_DIR, ArrayTask, JobFile
from nmcluster.command import allowed_backends, check_placeholders, uses_system
from nmcluster.jobs.spec import JobSpec
from nmcluster.partitions import get_partition
from nmcluster.partitions.base import ResourceRequest, check_allowed

if TYPE_CHECKING:  # the store (sqlite3) is imported only by commands that use it, not by `run`
    from nmcluster.jobs.store import JobRecord, JobStore

STORE_FILE = "jobs.sqlite"
#: most tasks in one ``submit --array`` (Slurm's default MaxArraySize is 1001: indices 0..1000)
MAX_ARRAY_TASKS = 1000


def check_command(command: str | Sequence[str], request: ResourceRequest, array: bool = False) -> None:
    """Refuse at once what would fail in the queue: unknown placeholders, ``--array`` without
    ``{task}``, and a ``{system=a,b}`` that no backend of the partition satisfies."""
    text = command if isinstance(command, str) else " ".join(command)
    check_placeholders(text, array)
    check_allowed(request, allowed_backends(text))


def safe_relative_name(name: str) -> bool:
    """Is ``name`` a plain relative file name inside a job's work directory (no absolute path, no ``..``)?
    Result names can come from another machine (``--host``), so they are checked before use."""
    from pathlib import PurePosixPath

    p = PurePosixPath(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def result_names(record: JobRecord, include_inputs: bool = False,
                 names: Sequence[str] | None = None) -> list[str]:
    """The files of a job that ``results`` fetches, relative to its work directory: the output files, plus
    the staged inputs when asked; ``names`` keeps only those.  Shared by the local and the remote service
    and by the Python client's ``download_data``."""
    from nmcluster.jobs.staging import input_name

    out = list(record.output_data)
    if include_inputs:
        out += [input_name(i) for i in record.input_data]
    if names is not None:
        wanted = set(names)
        out = [n for n in out if n in wanted]
    seen: set[str] = set()
    return [n for n in out if safe_relative_name(n) and not (n in seen or seen.add(n))]


def check_no_overwrite(dest: Path, names: Sequence[str], force: bool) -> None:
    """``results`` never replaces a file the user has (a re-run's results, an edited copy) unless
    ``force``: refused before anything is copied.  Shared by the local and the remote service."""
    if force:
        return
    existing = [dest / n for n in names if os.path.lexists(dest / n)]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UserInputError(f"{existing[0]} exists{more}: results never overwrites files; "
                             f"use --force, or another directory with -o")


def _storage_or_staging_error(exc: OSError, root: Path) -> NmclusterError:
    """An OSError while preparing a job: the job root is full/read-only/not writable (a runtime failure,
    exit 1) or something about the user's files (bad input, exit 2)."""
    what = exc.strerror or str(exc)
    in_root = str(exc.filename or "").startswith(str(root))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or \
            (exc.errno in (errno.EACCES, errno.EPERM) and in_root):
        return StorageError(f"cannot write the job directory in {root}: {what}; nothing was submitted")
    return StagingError(f"cannot prepare the job directory: {what}")


def _submitter() -> str:
    """Who is preparing a job ('preparing' rows and staging directories carry it, so that what a killed
    submission left behind can be recognised and removed later)."""
    return f"preparing:{os.uname().nodename}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


#: leftovers of submissions from other hosts (or reused pids) are removed after this long
ABANDONED_AFTER_S = 86400.0


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

            self._store = JobStore(self.job_root() / STORE_FILE)
        return self._store

    def job_root(self) -> Path:
        """The job root, created (0700) when missing, checked on every use: absolute, not a link, owned by
        this (real) user, not writable by others, under parents nobody else can swap.  A root shared by
        several users would let them read and change each other's records; a planted link would send
        this user's jobs where another user chose.  With ``shared_job_root = true`` the site's directory
        must be root-owned (sticky when world-writable) and each user gets a private one inside it."""
        from nmcluster.identity import check_shared_parent, secure_private_dir

        if self.site.shared_job_root is not None:
            check_shared_parent(self.site.shared_job_root, "job root")
        return secure_private_dir(self.site.job_root, "job root")

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
                slurm_options: Sequence[str] = (), command: str = "sbatch") -> ResourceRequest:
        """Validate a hardware request without queueing anything (``command``: the Slurm command the
        options go to, whose option table Slurm reads them with)."""
        partition = get_partition(platform, self.site)
        request = partition.validate(hardware_config)
        partition.check_slurm_options(slurm_options, command)
        return request

    # -- interactive ----------------------------------------------------------------------------
    def run(self, platform: str, hardware_config: Mapping[str, Any], command: Sequence[str],
            mode: str = "auto", slurm_options: Sequence[str] = ()) -> int:
        """``nmcluster run``: validate, then hand over to the executor (which usually execs)."""
        if not command:
            raise UserInputError("no command given (put it after --, e.g. -- python run.py {system})")
        request = self.resolve(platform, hardware_config, slurm_options, command="srun")
        check_command(command, request)
        executor = self.executor()
        helper = ""
        if mode == "auto" and not uses_system(command):
            # nothing to decide on the node: the command may run without the job runner if the
            # environment is complete before it starts.  "Any free station": the partition pins one
            # that is free now (with user Slurm options, node lists or reservations, Slurm decides);
            # nothing free (the job will queue): its helper names the one Slurm picks
            partition = get_partition(request.kind, self.site)
            if partition.needs_runtime_environment(request) and not slurm_options:
                request = partition.pin_free_now(request, executor.free_nodes()) or request
            if partition.needs_runtime_environment(request):
                helper = partition.RUNTIME_HELPER
        return executor.interactive(request, command, mode, slurm_options, helper)

    # -- submission -----------------------------------------------------------------------------
    def submit(self, spec: JobSpec, mode: str = "auto", slurm_options: Sequence[str] = (),
               code_label: str | None = None, input_labels: Sequence[str] | None = None) -> JobRecord:
        """Validate, stage a snapshot of the code and inputs, register the job, queue it.

        ``code_label`` / ``input_labels`` are what the job record shows as ``code`` / ``input_data`` when
        they differ from where the files were staged from (a remote submit stages from an upload
        directory but records the names the user gave on their own machine)."""
        if input_labels is not None and len(input_labels) != len(spec.inputs):
            raise UserInputError(f"{len(input_labels)} input labels for {len(spec.inputs)} inputs")
        return self._submit(spec, None, mode, slurm_options, code_label, input_labels)[0]

    def size_from_script(self, spec: JobSpec) -> JobSpec:
        """The partition's sizing from the script (a SpiNNaker job with ``BOARDS: "auto"``: its network
        construction runs on the emulator in partition-only mode, see
        :func:`nmcluster.partitions.spinnaker.sized_hardware_config`); the spec as it is otherwise."""
        import dataclasses

        hw = get_partition(spec.platform, self.site).size_from_script(
            spec.hardware_config, lambda backend, env, timeout: self._run_snapshot(spec, backend, env, timeout),
            self.env)
        return spec if hw is spec.hardware_config else dataclasses.replace(spec, hardware_config=dict(hw))

    def _run_snapshot(self, spec: JobSpec, backend: str, extra_env: Mapping[str, str],
                      timeout: float) -> "subprocess.CompletedProcess[str]":
        """Run a temporary snapshot of the spec's code and inputs (task 0 of an array) with ``{system}`` =
        ``backend``: what a partition's sizing hook measures the script with."""
        import subprocess
        import tempfile

        from nmcluster.command import build_argv, split_command
        from nmcluster.jobs.staging import stage_code

        with tempfile.TemporaryDirectory(prefix="nmcluster-sizing-") as tmp:
            staged = stage_code(spec.code, spec.command, Path(tmp) / "work", tuple(spec.inputs),
                                limits=self.site.sources)
            argv = build_argv(split_command(staged.command.replace("{task}", "0")), backend)
            return subprocess.run(argv, cwd=Path(tmp) / "work", env={**self.env, **extra_env},
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    def _check_submission(self, spec: JobSpec, mode: str, slurm_options: Sequence[str], array: bool = False):
        """Everything that can reject a submission before anything is written."""
        if mode not in ("auto", "hardware", "emulate"):
            raise UserInputError(f"unknown backend mode {mode!r} (auto, hardware or emulate)")
        for opt in slurm_options:  # one job directory must never be run by several array tasks
            if opt.split("=", 1)[0] == "--array" or opt.startswith("-a"):
                raise UserInputError("Slurm option --array is not accepted here: use nmcluster submit --array N "
                                     "(one job record and directory per task)")
        request = self.resolve(spec.platform, spec.hardware_config, slurm_options)
        check_command(spec.command, request, array)
        executor = self.executor()
        return request, executor, self.charged_account(spec.collab_id, request.kind, executor)

    def charged_account(self, collab_id: str | None, kind: str, executor) -> str | None:
        """The account a job is charged to, for executors that charge accounts (Slurm's ``--account``).
        With Slurm accounting (``[accounting] enabled``) the collab's sub-account for the platform, after
        checking membership and storage (refused with exit 2 before anything is written); without it, the
        collab id as the account, as before."""
        if not executor.charges_accounts:
            return None
        if self.site.accounting.enabled:
            from nmcluster.accounting.quotas import Accounting

            charge = Accounting(self.site, self.env).charge_account(collab_id, kind)
            return charge[1] if charge else None
        return collab_id or None

    def _abort_submission(self, executor, dirs: Sequence[Path], job_ids: Sequence[int],
                          queued: Sequence[tuple[str, Path]]) -> None:
        """Undo a submission that failed half-way (or was interrupted): cancel what reached the executor,
        remove the directories, then the records (best effort: a record left behind stays 'preparing',
        which no command shows)."""
        from types import SimpleNamespace

        for external, job_dir in queued:
            try:
                executor.cancel(SimpleNamespace(external_id=external, job_dir=str(job_dir)))
            except Exception:  # noqa: BLE001 - the original failure is what the user must see
                pass
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        if job_ids:
            try:
                self.store.delete_many(list(job_ids))
            except NmclusterError:
                pass

    def collect_abandoned(self, root: Path | None = None) -> list[int]:
        """Remove what submissions that died half-way left behind (SIGKILL, a crash, a disk so full that
        even their clean-up failed): 'preparing' rows and ``.staging-*`` directories of submitting
        processes on this host that no longer exist, and any older than a day.  No command ever showed
        them.  Returns the ids of the rows removed; never fails a submission."""
        root = root or self.site.job_root
        host = os.uname().nodename
        old = time.time() - ABANDONED_AFTER_S

        def abandoned(marker: str, when: float) -> bool:
            h, _, pid = marker.removeprefix("preparing:").rpartition(":")
            return when < old or (h == host and pid.isdigit() and not _pid_alive(int(pid)))
        removed: list[int] = []
        try:
            removed = [i for i, marker, when in self.store.preparing() if abandoned(marker, when)]
            for job_id in removed:
                shutil.rmtree(root / str(job_id), ignore_errors=True)
            if removed:
                self.store.delete_many(removed)
            with os.scandir(root) as entries:
                for entry in entries:
                    if entry.name.startswith(".staging-"):
                        pid = entry.name.split("-")[1]
                        if (pid.isdigit() and not _pid_alive(int(pid))) or entry.stat().st_mtime < old:
                            shutil.rmtree(entry.path, ignore_errors=True)
        except (NmclusterError, OSError):
            pass
        return removed

    def submit_array(self, spec: JobSpec, count: int, mode: str = "auto",
                     slurm_options: Sequence[str] = ()) -> list[JobRecord]:
        """A sweep: ``count`` jobs from one snapshot of the code, ``{task}`` in the command becoming
        0 .. count-1, queued with one ``sbatch --array`` (executors without arrays queue them one by one).

        Every task is an ordinary job (own record, directory, state, log, results), so ``status``,
        ``cancel`` and ``remove`` work per task.  All or nothing: if any step fails, every record and
        directory of the sweep is removed again and what was queued is cancelled."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ARRAY_TASKS:
            raise UserInputError(f"--array takes a number of tasks from 1 to {MAX_ARRAY_TASKS}, got {count!r}")
        return self._submit(spec, count, mode, slurm_options)

    def _submit(self, spec: JobSpec, count: int | None, mode: str, slurm_options: Sequence[str],
                code_label: str | None = None, input_labels: Sequence[str] | None = None) -> list[JobRecord]:
        """One submission path for a job (``count`` None) and a sweep: stage the snapshot once, one record,
        directory and job file per task, one ``executor.submit`` call for all (a job is an array of one).
        All or nothing: if any step fails, every record and directory is removed again and what was
        queued is cancelled."""
        spec = self.size_from_script(spec)
        request, executor, account = self._check_submission(spec, mode, slurm_options, array=count is not None)
        from nmcluster.executors.base import Ticket
        from nmcluster.jobs.staging import stage_code

        tasks = 1 if count is None else count
        root = self.job_root()
        self.collect_abandoned(root)
        staging = root / f".staging-{os.getpid()}-{os.urandom(8).hex()}"  # not uuid: its import costs ~15 ms
        dirs: list[Path] = [staging]
        job_ids: list[int] = []
        queued: list[tuple[str, Path]] = []
        try:
            staging.mkdir(mode=0o700)
            staged = stage_code(spec.code, spec.command, staging / WORK_DIR, spec.inputs, limits=self.site.sources)
            now = time.time()
            user = user_name()
            commands = [staged.command if count is None else staged.command.replace("{task}", str(i))
                        for i in range(tasks)]
            job_ids = self.store.insert_many([dict(
                status="preparing", code=spec.code if code_label is None else code_label, command=cmd,
                platform=spec.platform, hardware_config=dict(request.hardware_config),
                input_data=list(spec.inputs if input_labels is None else input_labels), tags=list(spec.tags),
                collab_id=spec.collab_id, user=user, timestamp_submission=now, executor=executor.name,
                external_id=_submitter()) for cmd in commands])
            job_dirs = [root / str(i) for i in job_ids]
            for i, job_dir in enumerate(job_dirs):  # the last task takes the snapshot itself
                dirs.append(job_dir)
                if i < tasks - 1:
                    shutil.copytree(staging, job_dir, symlinks=True)
                else:
                    staging.rename(job_dir)
            for i, (job_id, job_dir) in enumerate(zip(job_ids, job_dirs)):
                JobFile(id=job_id, command=commands[i], request=request, mode=mode, submitted=now,
                        inputs=tuple(staged.inputs), code_kind=staged.kind, spec=spec.to_dict(),
                        array=None if count is None else ArrayTask(i, count, job_ids[0])
                        ).write(job_dir, fsync=count is None)  # one fsync per task would cost seconds
            tickets = [Ticket(job_id, job_dir, request, account)
                       for job_id, job_dir in zip(job_ids, job_dirs)]
            externals = executor.submit(tickets, slurm_options)
            queued = list(zip(externals, job_dirs))
            self.store.update_many({job_id: dict(status="submitted", external_id=ext, job_dir=str(d))
                                    for job_id, (ext, d) in zip(job_ids, queued)})
        except BaseException as exc:
            self._abort_submission(executor, dirs, job_ids, queued)
            if isinstance(exc, OSError) and not isinstance(exc, NmclusterError):
                raise _storage_or_staging_error(exc, root) from None
            raise
        return self.store.get_many(job_ids)

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
                reason = obs.reason
                if reason and obs.status == "submitted" and "Assoc" in reason and rec.collab_id:
                    from nmcluster.accounting.quotas import explain_reason, sub_account

                    reason = explain_reason(reason, sub_account(rec.collab_id, rec.platform)) or reason
                if reason != rec.reason:
                    values["reason"] = reason
                if obs.slurm_state and obs.slurm_state != rec.slurm_state:
                    values["slurm_state"] = obs.slurm_state
                if obs.start and rec.timestamp_start is None:
                    values["timestamp_start"] = obs.start
                job_dir = Path(rec.job_dir)
                info = _read_json(job_dir / RESULT_FILE) or _read_json(job_dir / RUNNER_FILE) or {}
                if info.get("backend") and info["backend"] != rec.backend:
                    values.update(backend=info["backend"], emulated=bool(info.get("emulated")),
                                  backend_reason=info.get("backend_reason", ""))
                allocated = info.get("allocated")
                if isinstance(allocated, dict) and any(k not in rec.hardware_config for k in allocated):
                    # what the job got that its request left open (the station Slurm picked): shown by status
                    values["hardware_config"] = {**allocated, **rec.hardware_config}
                cv = info.get("calib_version")  # bounded: a 10**400 here would break every later listing
                if type(cv) is int and 0 < cv <= 2**31 - 1 and cv != rec.calib_version:
                    values["calib_version"] = cv
                if obs.status in ("finished", "error"):
                    values["exit_code"] = obs.exit_code
                    values["timestamp_completion"] = obs.end or time.time()
                    values["output_data"] = list(info.get("outputs", ())) if "outputs" in info else []
                if values:  # never over a final state another process recorded meanwhile
                    self.store.update(rec.id, unless_final=True, **values)
                    changed[rec.id] = self.store.get(rec.id)
        return [changed.get(r.id, r) for r in records]

    def get(self, job_id: int | str, refresh: bool = True) -> JobRecord:
        rec = self.store.get(_job_id(job_id))
        return self.refresh([rec])[0] if refresh else rec

    def list(self, include_final: bool = False, limit: int | None = None,
             collab_id: str | None = None) -> list[JobRecord]:
        return self.refresh(self.store.list(include_final=True, limit=limit, collab_id=collab_id)) \
            if include_final else [r for r in self.refresh(self.store.list(include_final=False, collab_id=collab_id))
                                   if not r.final]

    def wait(self, job_id: int | str, timeout: float | None = None, interval: float = 0.2,
             on_poll=None) -> JobRecord:
        """Poll until the job is final (or ``timeout`` seconds pass: JobTimeoutError); ``on_poll(record)``
        sees every record read (a progress display)."""
        return wait_until_final(self.get, job_id, timeout, interval, on_poll)

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

    def results(self, job_id: int | str, dest: Path | str, include_inputs: bool = False,
                names: Sequence[str] | None = None, force: bool = False) -> list[Path]:
        """Copy the job's output files (and optionally its inputs) below ``dest``; returns the copies.
        ``names`` (relative to the work directory) restricts the copy to those files.  An existing file is
        never overwritten unless ``force`` (checked for all files before the first is copied)."""
        rec = self.get(job_id)
        if not rec.final:
            raise JobStateError(f"job {rec.id} is {rec.status}: results are available once it has finished")
        from nmcluster.jobs.safetree import ResultWriter

        work = Path(rec.job_dir) / WORK_DIR
        wanted = [n for n in result_names(rec, include_inputs, names) if (work / n).is_file()]
        check_no_overwrite(Path(dest), wanted, force)
        copied: list[Path] = []
        if not wanted:
            return copied
        # links planted in dest are refused even with force, never followed; a file replaced with force is
        # a new file renamed over the old one, never written through (safetree.ResultWriter)
        with ResultWriter(Path(dest)) as out:
            for name in wanted:
                out.check(name)  # all before the first write: a refusal leaves dest as it was
            for name in wanted:
                src = work / name
                with open(src, "rb") as fh:
                    copied.append(out.write(name, lambda o, _fh=fh: shutil.copyfileobj(_fh, o),
                                            os.fstat(fh.fileno()).st_mtime))
        return copied

    def file_url(self, record: JobRecord, name: str) -> str:
        """A ``file://`` URL of one of the job's files (``name`` relative to its work directory)."""
        return (Path(record.job_dir) / WORK_DIR / name).as_uri()

    def info(self) -> dict[str, Any]:
        """What ``nmcluster info`` shows: version, site config in use, job root, executor."""
        from nmcluster import __version__
        from nmcluster.infra.slurmcli import slurm_configured

        executor = self.executor_name
        if executor == "auto":
            executor = "slurm" if slurm_configured(self.env) else "local"
        return {"version": __version__, "config": self.site.source, "job_root": str(self.site.job_root),
                "executor": executor, "configured_executor": self.executor_name,
                "user": user_name(),
                "quotas": "on (Slurm accounting: collabs, quotas, resource requests)" if self.site.accounting.enabled
                else "off (no Slurm accounting configured: [accounting] enabled = false)"}

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


#: waiting polls after 0.2 s, then each pause 1.5 times the last, up to this (squeue is asked once per
#: poll: a user waiting for a queued hour-long job costs one call every 10 s, not five a second)
MAX_POLL_INTERVAL_S = 10.0


def poll_intervals(first: float = 0.2, factor: float = 1.5, most: float = MAX_POLL_INTERVAL_S):
    """The pauses between polls: ``first``, growing by ``factor`` up to ``most`` (back-off)."""
    pause = first
    while True:
        yield pause
        pause = min(most, pause * factor)


def wait_until_final(get, job_id: int | str, timeout: float | None, interval: float,
                     on_poll=None) -> "JobRecord":
    """Poll ``get(job_id)`` until the record is final (pauses from ``interval`` backing off to
    :data:`MAX_POLL_INTERVAL_S`), or raise JobTimeoutError after ``timeout`` s.  ``on_poll(record)`` sees
    every record read (a progress display).  Shared by the local service and the remote one (which polls
    over its open SSH connection)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for pause in poll_intervals(interval):
        rec = get(job_id)
        if on_poll is not None:
            on_poll(rec)
        if rec.final:
            return rec
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise JobTimeoutError(f"job {rec.id} is still {rec.status} after {timeout:g} s")
            pause = min(pause, left + 0.01)
        time.sleep(pause)
    raise AssertionError("not reached")


def _job_id(value: int | str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise UserInputError(f"job id must be a number, got {value!r}") from None

"""RemoteService: :class:`~nmcluster.jobs.service.JobService`'s methods, carried out on a frontend over SSH.

Every operation runs the frontend's own ``nmcluster`` (``bash -lc``, so the login profile and ``module
load`` environments apply) with ``--json`` and reads the answer back, so the frontend's site config, job
store and executors decide everything, exactly as for a user logged in there.  One SSH connection is
opened on first use and reused for every step (connect once per CLI command; a :class:`Client` keeps it).

Submitting from the user's machine:

1. everything checkable locally is checked first (platform, config JSON, the code exists, the command's
   script is in it, input files exist): bad input never touches the network;
2. local code is staged here exactly as a local submit would stage it (same function, same messages),
   packed into one ``.tar.gz`` and streamed with SFTP into ``<remote job root>/.uploads/<random>/``,
   local input files next to it; URLs (git, archives, inputs) are passed on for the frontend to fetch;
3. only then does the remote ``nmcluster submit`` run on the uploaded copy: it makes the job's real
   snapshot and registers the job, and the upload directory is removed in the same remote command.

A connection lost during step 2 leaves no job (nothing was registered); the orphaned upload directory is
removed by the next submit after a day.  Arguments reach the remote ``nmcluster`` through two layers of
POSIX shell quoting (``shlex.quote``), so user strings are only ever arguments, never shell code.
"""

from __future__ import annotations

import gzip
import json
import os
import posixpath
import shlex
import stat
import tarfile
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmcluster.command import check_placeholders
from nmcluster.errors import (JobStateError, RemoteCommandError, RemoteConnectionError, RemoteError,
                              RemoteUserError, StagingError, UserInputError)
from nmcluster.executors.jobfile import WORK_DIR
from nmcluster.jobs.service import check_no_overwrite, result_names
from nmcluster.jobs.spec import JobSpec
from nmcluster.jobs.store import JobRecord
from nmcluster.remote.ssh import Connection, HostSpec, SshOptions, resolve

UPLOADS_DIR = ".uploads"
STALE_UPLOAD_MINUTES = 24 * 60
CODE_ARCHIVE = "code.tar.gz"
MAX_LABEL_CHARS = 16 * 1024  # the whole remote command line must stay below the kernel's 128 KiB
ProgressCallback = Callable[[str, int, int], None]


def parse_job_id(value: int | str) -> int:
    """A job id from ``12``, ``"12"`` or a platform resource URI like ``/api/v2/queue/12``."""
    text = str(value).strip().rstrip("/")
    text = text.rsplit("/", 1)[-1]
    try:
        return int(text)
    except ValueError:
        raise UserInputError(f"job id must be a number, got {value!r}") from None


def _local_path(source: str) -> Path | None:
    """A ``file://`` URL or a plain path -> the local path; other URLs and pasted text -> None."""
    from nmcluster.jobs.staging import is_url

    if "\n" in source:
        return None
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    if is_url(source):
        return None
    return Path(source).expanduser()


@dataclass
class UploadPlan:
    """What a remote submit sends: a locally staged code tree (or a URL) and input files (or URLs)."""

    spec: JobSpec
    code_arg: str | None = None  # a URL passed on as it is; None: the staged tree is uploaded
    command: str = ""
    work: Path | None = None  # locally staged snapshot of the code
    inputs: list[tuple[str, Path | None]] = field(default_factory=list)  # (as given, local file or None)
    _tmp: tempfile.TemporaryDirectory | None = None

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def plan_upload(spec: JobSpec) -> UploadPlan:
    """Check and stage locally everything that is local (raises the same StagingErrors a local submit would)."""
    from nmcluster.jobs.staging import classify, input_name, stage_code

    plan = UploadPlan(spec=spec, command=spec.command)
    code = spec.code
    path = _local_path(code)
    kind = classify(code) if path is None else classify(str(path))
    if path is None and kind != "text":  # a remote git repository or archive URL: the frontend fetches it
        plan.code_arg = code
    elif kind == "git" and path is not None and not path.exists():  # scp-like git@host:repo.git
        plan.code_arg = code
    else:
        plan._tmp = tempfile.TemporaryDirectory(prefix="nmcluster-upload-")
        try:
            staged = stage_code(code if path is None else str(path), spec.command, Path(plan._tmp.name) / "work")
        except BaseException:
            plan.cleanup()
            raise
        plan.work = Path(plan._tmp.name) / "work"
        plan.command = staged.command
    for item in spec.inputs:
        local = _local_path(item)
        if local is not None:
            if not local.is_file():
                plan.cleanup()
                raise StagingError(f"input file {item} does not exist")
            if not os.access(local, os.R_OK):
                plan.cleanup()
                raise StagingError(f"input file {item} cannot be read")
            if not input_name(item):
                plan.cleanup()
                raise StagingError(f"input {item!r} has no file name")
        plan.inputs.append((item, local))
    return plan


class _CountingWriter:
    """File-like wrapper reporting bytes written (for the progress callback)."""

    def __init__(self, fh: Any, report: Callable[[int], None]) -> None:
        self.fh, self.report, self.count = fh, report, 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.count += len(data)
        self.report(self.count)
        return len(data)

    def flush(self) -> None:
        pass


def _pack(work: Path, out: Any) -> None:
    """Write ``work``'s contents as a gzip'd tar stream.  Links inside the tree stay links; links pointing
    outside it are replaced by what they point to (the target exists only on this machine)."""
    root = work.resolve()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=3, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(work):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = Path(dirpath) / name
                arc = full.relative_to(work).as_posix()
                if full.is_symlink():
                    target = (full.parent / os.readlink(full)).resolve()
                    if target == root or root in target.parents:
                        tar.add(full, arcname=arc, recursive=False)
                        continue
                    if not target.exists():
                        raise StagingError(f"link {arc} -> {os.readlink(full)} points outside the code and to "
                                           f"nothing: it cannot be sent to the frontend")
                    if target.is_dir():
                        raise StagingError(f"link {arc} points to the folder {target} outside the code: copy "
                                           f"it into the code to send it to the frontend")
                    tar.add(target, arcname=arc, recursive=False)
                    continue
                if full.is_dir() or full.is_file():
                    tar.add(full, arcname=arc, recursive=False)


class RemoteService:
    """The job service of a remote frontend; the same methods and return types as JobService."""

    def __init__(self, host: str, *, accept_new_host_key: bool = False, executor: str | None = None,
                 remote_command: str | None = None, username: str | None = None,
                 ssh_options: SshOptions | None = None, env: Mapping[str, str] | None = None,
                 submit_timeout_s: float = 900.0, command_timeout_s: float = 120.0) -> None:
        env = os.environ if env is None else env
        self.host = host
        self.options = ssh_options or SshOptions(accept_new_host_key=accept_new_host_key, username=username)
        HostSpec.parse(host)  # bad syntax: a user error before anything else
        self.executor_name = executor
        self.remote_command = remote_command or env.get("NMCLUSTER_REMOTE_COMMAND") or "nmcluster"
        self.submit_timeout_s = submit_timeout_s
        self.command_timeout_s = command_timeout_s
        #: called as ``progress(name, bytes_done, bytes_total)`` during uploads (total 0: unknown)
        self.upload_progress: ProgressCallback | None = None
        self._conn: Connection | None = None
        self._info: dict[str, Any] | None = None
        self._target = None

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def connection(self) -> Connection:
        """The open connection (made on first use; made again if it was lost)."""
        if self._conn is None or not self._conn.alive():
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._info = None
            self._conn = Connection(self.target, self.options).open()
        return self._conn

    @property
    def target(self):
        if self._target is None:
            self._target = resolve(self.host, self.options)
        return self._target

    @property
    def label(self) -> str:
        return self.target.label

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "RemoteService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def shell_command(self, args: Sequence[str], after: str = "") -> tuple[str, str]:
        """The command line for the remote user's shell: ``bash -lc '<nmcluster args>'`` with a marker line
        first (login scripts that print text cannot garble the answer).  ``after`` (fixed shell text built
        from quoted paths only) runs once nmcluster has finished; the exit status stays nmcluster's."""
        marker = f"__nmcluster_{uuid.uuid4().hex}__"
        program = " ".join(shlex.quote(a) for a in (self.remote_command, *args))
        body = f"{program}; rc=$?; {after}; exit $rc" if after else f"exec {program}"
        inner = f"unset NMCLUSTER_HOST; export NMCLUSTER_ERROR_FORMAT=json; printf '%s\\n' {marker}; {body}"
        return "bash -lc " + shlex.quote(inner), marker

    def call(self, args: Sequence[str], *, timeout: float | None = None, after: str = "") -> str:
        """Run the remote ``nmcluster`` with ``args``; its stdout, or its error re-raised here."""
        command, marker = self.shell_command(args, after)
        conn = self.connection
        rc, out, err = conn.run(command, timeout=timeout or self.command_timeout_s)
        text = out.decode("utf-8", errors="replace")
        pos = text.find(marker + "\n")
        text = text[pos + len(marker) + 1:] if pos >= 0 else ""
        if rc != 0 or pos < 0:
            self._raise(rc, err.decode("utf-8", errors="replace"), args)
        return text

    def _raise(self, rc: int, err: str, args: Sequence[str]) -> None:
        lines = [line.strip() for line in err.strip().splitlines() if line.strip()]
        typed = next((line.split("nmcluster: error-json: ", 1)[1] for line in reversed(lines)
                      if line.startswith("nmcluster: error-json: ")), None)
        if typed is not None:  # the frontend's own error, with its type: JobNotFoundError stays one
            import nmcluster.errors as errors

            try:
                data = json.loads(typed)
                cls = getattr(errors, str(data["type"]), None)
                message = str(data["message"])
            except (ValueError, KeyError, TypeError):
                cls, message = None, typed
            if isinstance(cls, type) and issubclass(cls, errors.NmclusterError) and \
                    cls.exit_code == (2 if rc == 2 else 1):
                raise cls(f"{self.label}: {message}")
        lines = [line for line in lines if not line.startswith("nmcluster: error-json: ")]
        message = next((line.split("nmcluster: error: ", 1)[1] for line in reversed(lines)
                        if line.startswith("nmcluster: error: ")), None)
        if rc == 127 and message is None:
            raise RemoteCommandError(
                f"{self.label}: `{self.remote_command}` is not found by a login shell there: install nmcluster "
                f"on the frontend or load its module in ~/.bash_profile (or set NMCLUSTER_REMOTE_COMMAND to "
                f"its path)")
        if rc == -1:
            raise RemoteConnectionError(f"{self.label}: the remote nmcluster {args[0]} ended without an exit "
                                        f"status (killed?)" + (f": {lines[-1]}" if lines else ""))
        if message is None:
            message = lines[-1] if lines else f"the remote nmcluster {args[0]} failed with exit code {rc}"
            if "no such option" in message.lower() or "no such command" in message.lower():
                message += " (the frontend's nmcluster is older than this one: update it there)"
        if rc == 2:
            raise RemoteUserError(f"{self.label}: {message}")
        raise RemoteCommandError(f"{self.label}: {message}")

    def _json(self, args: Sequence[str], **kw: Any) -> Any:
        text = self.call([args[0], "--json", *args[1:]], **kw)
        try:
            return json.loads(text)
        except ValueError:
            raise RemoteCommandError(f"{self.label}: unexpected answer from the remote nmcluster {args[0]}: "
                                     f"{text.strip()[:200]!r}") from None

    # -- the JobService methods -----------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The remote ``nmcluster info`` (version, config, job root, executor), plus the host."""
        if self._info is None or self._conn is None or not self._conn.alive():
            data = self._json(["info"])
            data["host"] = self.label
            self._info = data
        return dict(self._info)

    def submit(self, spec: JobSpec, mode: str = "auto", slurm_options: Sequence[str] = (),
               code_label: str | None = None, input_labels: Sequence[str] | None = None) -> JobRecord:
        """Check locally, upload with SFTP, then let the remote nmcluster snapshot and register the job."""
        return JobRecord.from_dict(self._submit(spec, mode, slurm_options, code_label, input_labels))

    def submit_array(self, spec: JobSpec, count: int, mode: str = "auto",
                     slurm_options: Sequence[str] = ()) -> list[JobRecord]:
        """A sweep of ``count`` tasks from one upload: the remote nmcluster queues it as one array, like
        :meth:`nmcluster.jobs.service.JobService.submit_array` (which checks ``count`` and ``{task}``)."""
        if isinstance(count, bool) or not isinstance(count, int):
            raise UserInputError(f"--array takes a number of tasks, got {count!r}")
        check_placeholders(spec.command, array=True)  # before anything is uploaded
        data = self._submit(spec, mode, slurm_options, None, None, [f"--array={count}"])
        return [JobRecord.from_dict(d) for d in data]

    def _submit(self, spec: JobSpec, mode: str, slurm_options: Sequence[str], code_label: str | None,
                input_labels: Sequence[str] | None, extra: Sequence[str] = ()) -> Any:
        """Upload, then ``nmcluster submit ... --json`` on the remote host; its JSON answer."""
        check_placeholders(spec.command, array=bool(extra))
        if mode not in ("auto", "hardware", "emulate"):
            raise UserInputError(f"unknown backend mode {mode!r} (auto, hardware or emulate)")
        labels = list(input_labels) if input_labels is not None else list(spec.inputs)
        if len(labels) != len(spec.inputs):
            raise UserInputError(f"{len(labels)} input labels for {len(spec.inputs)} inputs")
        plan = plan_upload(spec)
        try:
            job_root = self.info()["job_root"]
            uploads = posixpath.join(job_root, UPLOADS_DIR)
            upload = posixpath.join(uploads, uuid.uuid4().hex)
            try:
                code_arg, input_args = self._upload(plan, upload)
            except BaseException:
                self._discard(upload)
                raise
        finally:
            plan.cleanup()
        label = code_label if code_label is not None else spec.code
        if len(label) > MAX_LABEL_CHARS:
            label = label[:MAX_LABEL_CHARS] + "\n# [... cut: the job's snapshot holds the whole code]\n"
        args = ["submit", f"--platform={spec.platform}", f"--command={plan.command}",
                f"--config={json.dumps(dict(spec.hardware_config), sort_keys=True)}",
                *(f"--input={a}" for a in input_args), *(f"--input-label={lab}" for lab in labels),
                *(f"--tag={t}" for t in spec.tags), *(f"--slurm-opt={o}" for o in slurm_options),
                f"--code-label={label}"]
        if spec.collab_id is not None:
            args.append(f"--collab={spec.collab_id}")
        if mode != "auto":
            args.append(f"--{mode}")
        if self.executor_name == "local":
            args.append("--local")
        args += [*extra, "--", code_arg]
        q = shlex.quote
        after = (f"rm -rf -- {q(upload)}; find {q(uploads)} -mindepth 1 -maxdepth 1 -mmin "
                 f"+{STALE_UPLOAD_MINUTES} -exec rm -rf -- {{}} + 2>/dev/null")
        try:
            data = self._json(args, timeout=self.submit_timeout_s, after=after)
        except RemoteConnectionError as exc:
            raise RemoteConnectionError(f"{exc}. The upload was complete, so the job may have been queued: "
                                        f"check with `nmcluster --host {self.host} list`") from None
        return data

    def _upload(self, plan: UploadPlan, upload: str) -> tuple[str, list[str]]:
        conn = self.connection
        progress = self.upload_progress
        with conn.guard("uploading the job's code and inputs"):
            sftp = conn.sftp()
            _makedirs(sftp, upload)
            code_arg = plan.code_arg
            if code_arg is None:
                assert plan.work is not None
                remote = posixpath.join(upload, CODE_ARCHIVE)
                with sftp.open(remote, "wb") as fh:
                    fh.set_pipelined(True)
                    report = (lambda n: progress(plan.spec.code, n, 0)) if progress else (lambda n: None)
                    _pack(plan.work, _CountingWriter(fh, report))
                code_arg = remote
            input_args = []
            for i, (item, local) in enumerate(plan.inputs):
                if local is None:
                    input_args.append(item)
                    continue
                from nmcluster.jobs.staging import input_name

                folder = posixpath.join(upload, "inputs", str(i))
                _makedirs(sftp, folder)
                remote = posixpath.join(folder, input_name(item))
                size = local.stat().st_size
                callback = (lambda done, total, _n=item: progress(_n, done, total)) if progress else None
                with open(local, "rb") as src:
                    sftp.putfo(src, remote, file_size=size, callback=callback, confirm=True)
                input_args.append(remote)
        return code_arg, input_args

    def _discard(self, upload: str) -> None:
        """Best effort: remove a half-written upload while the connection still works."""
        if self._conn is None or not self._conn.alive():
            return
        try:
            self._conn.run(f"rm -rf -- {shlex.quote(upload)}", timeout=30)
        except RemoteError:
            pass

    def refresh(self, records: Sequence[JobRecord]) -> list[JobRecord]:
        return [r if r.final else self.get(r.id) for r in records]

    def get(self, job_id: int | str, refresh: bool = True) -> JobRecord:
        return JobRecord.from_dict(self._json(["status", str(parse_job_id(job_id))]))

    def list(self, include_final: bool = False, limit: int | None = None,
             collab_id: str | None = None) -> list[JobRecord]:
        args = ["list"]
        if include_final:
            args.append("--all")
        if limit:
            args.append(f"--limit={int(limit)}")
        if collab_id is not None:
            args.append(f"--collab={collab_id}")
        return [JobRecord.from_dict(d) for d in self._json(args)]

    def wait(self, job_id: int | str, timeout: float | None = None, interval: float = 1.0,
             on_poll=None) -> JobRecord:
        """Poll (on the open connection) until the job is final, or ``timeout`` seconds: JobTimeoutError."""
        from nmcluster.jobs.service import wait_until_final

        return wait_until_final(self.get, job_id, timeout, interval, on_poll)

    def log(self, job_id: int | str) -> str:
        return self.call(["log", str(parse_job_id(job_id))])

    def results(self, job_id: int | str, dest: Path | str, include_inputs: bool = False,
                names: Sequence[str] | None = None, force: bool = False) -> list[Path]:
        """Download the job's output files (and optionally its inputs) below ``dest`` with SFTP; an
        existing file is never overwritten unless ``force`` (checked before the first download)."""

        rec = self.get(job_id)
        if not rec.final:
            raise JobStateError(f"job {rec.id} is {rec.status}: results are available once it has finished")
        from nmcluster.jobs.safetree import ResultWriter

        work = posixpath.join(rec.job_dir, WORK_DIR)
        copied: list[Path] = []
        conn = self.connection
        with conn.guard("downloading results"):
            sftp = conn.sftp()
            wanted = []
            for name in result_names(rec, include_inputs, names):
                remote = posixpath.join(work, name)
                try:
                    attrs = sftp.stat(remote)
                except FileNotFoundError:
                    continue
                if attrs.st_mode is None or not stat.S_ISREG(attrs.st_mode):
                    continue
                wanted.append((name, remote, attrs))
            check_no_overwrite(Path(dest), [name for name, _, _ in wanted], force)
            if not wanted:
                return copied
            with ResultWriter(Path(dest)) as out:  # links planted in dest are refused, never followed
                for name, _remote, _attrs in wanted:
                    out.check(name)
                for name, remote, attrs in wanted:
                    copied.append(out.write(name, lambda fh, _r=remote: sftp.getfo(_r, fh), attrs.st_mtime))
        return copied

    def file_url(self, record: JobRecord, name: str) -> str:
        """``sftp://user@host:port/path`` of one of the job's files on the frontend."""
        t = self.target
        host = f"[{t.hostname}]" if ":" in t.hostname else t.hostname
        path = posixpath.join(record.job_dir, WORK_DIR, name)
        return f"sftp://{urllib.parse.quote(t.user)}@{host}:{t.port}{urllib.parse.quote(path)}"

    def cancel(self, job_id: int | str) -> JobRecord:
        return JobRecord.from_dict(self._json(["cancel", str(parse_job_id(job_id))]))

    def remove(self, job_id: int | str, cancel_queued: bool = False) -> None:
        self.call(["remove", str(parse_job_id(job_id)), *(["--queued"] if cancel_queued else [])])

    def run(self, platform: str, hardware_config: Mapping[str, Any], command: Sequence[str],
            mode: str = "auto", slurm_options: Sequence[str] = ()) -> int:
        raise UserInputError("`nmcluster run` streams a command on the frontend itself and does not work with "
                             "--host: use `nmcluster --host ... submit CODE --wait` (or ssh there and run it)")


def _makedirs(sftp: Any, path: str) -> None:
    """``mkdir -p`` over SFTP (new folders 0700: uploads are private until the job owns them)."""
    missing = []
    current = path
    while current not in ("", "/"):
        try:
            sftp.stat(current)
            break
        except FileNotFoundError:
            missing.append(current)
            current = posixpath.dirname(current)
    for folder in reversed(missing):
        try:
            sftp.mkdir(folder, mode=0o700)
        except OSError:
            try:
                sftp.stat(folder)  # created concurrently
            except FileNotFoundError:
                raise RemoteError(f"cannot create {folder} on the frontend") from None

"""The job directory's ``job.json``: one typed, versioned record of what a queued job is to run, written
once by the job service and read by the job runner inside the allocation.

Why typed and validated when read: the file crosses a process and a machine boundary (submitting shell
-> compute node, possibly after an upgrade of nmcluster), so a field missing or of the wrong type must
be one readable error naming the file, not a ``KeyError`` deep in the runner.  Version 1 (the untyped
dict written before this module; no ``version`` key, lock keys written by the service for the local
executor) is still read, so jobs queued before an upgrade run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmcluster.errors import NmclusterError
from nmcluster.partitions.base import ResourceRequest

JOB_FILE = "job.json"
RUNNER_FILE = "runner.json"
RESULT_FILE = "result.json"
#: left by a cancel (the Slurm executor's): a pending array task's end that Slurm does not record
CANCEL_FILE = "cancel.json"
LOG_FILE = "job.log"
WORK_DIR = "work"
#: version of the job file this nmcluster writes (1: the untyped dict before it had a version)
JOB_FILE_VERSION = 2
MODES = ("auto", "hardware", "emulate")


class JobFileError(NmclusterError):
    """A job directory's job.json cannot be read as a job (damaged, or written by an incompatible
    nmcluster)."""


def write_json_atomic(path: Path, data: Mapping[str, Any], fsync: bool = True) -> None:
    """Readers see the old file or the new one, never half of it (``fsync``: and it survives a crash)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)  # a full disk must not leave a half-written temporary behind
        except OSError:
            pass
        raise


@dataclass(frozen=True)
class ArrayTask:
    """Task ``task`` of ``count`` of a sweep whose first job has id ``first_id``."""

    task: int
    count: int
    first_id: int


@dataclass(frozen=True)
class JobFile:
    """What the runner needs to run one job; ``spec`` keeps the user's job spec as submitted (for
    provenance: ``command`` is what runs, after staging and ``{task}`` substitution)."""

    id: int
    command: str
    request: ResourceRequest
    mode: str = "auto"
    submitted: float = 0.0
    inputs: tuple[str, ...] = ()
    code_kind: str = ""
    spec: Mapping[str, Any] = field(default_factory=dict)
    array: ArrayTask | None = None
    #: version-1 files of the local executor named the locks to take; version 2 takes the request's
    #: lock keys in the lock directory the local executor passes to the runner
    lock_keys: tuple[str, ...] = ()
    lock_dir: str = ""
    version: int = JOB_FILE_VERSION

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "id": self.id, "command": self.command,
                             "request": self.request.to_dict(), "mode": self.mode, "submitted": self.submitted,
                             "inputs": list(self.inputs), "code_kind": self.code_kind, "spec": dict(self.spec)}
        if self.array is not None:
            d["array"] = {"task": self.array.task, "count": self.array.count, "first_id": self.array.first_id}
        if self.lock_keys:
            d.update(lock_keys=list(self.lock_keys), lock_dir=self.lock_dir)
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "job.json") -> "JobFile":
        """Validate and convert (version 1 or 2); JobFileError names the first problem."""
        def bad(what: str) -> JobFileError:
            return JobFileError(f"{where}: {what}; the job directory is damaged or was written by an "
                                f"incompatible nmcluster")

        def typed(key: str, types: type | tuple[type, ...], default: Any = ...) -> Any:
            if key not in d:
                if default is ...:
                    raise bad(f"{key} is missing")
                return default
            value = d[key]
            if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
                raise bad(f"{key} must be {getattr(types, '__name__', types)}, got {value!r}")
            if not isinstance(value, types):
                raise bad(f"{key} has the wrong type ({type(value).__name__})")
            return value

        if not isinstance(d, Mapping):
            raise bad("not a JSON object")
        version = typed("version", int, 1)
        if version not in (1, JOB_FILE_VERSION):
            raise bad(f"version {version} is not known here (this nmcluster reads 1 and {JOB_FILE_VERSION})")
        mode = typed("mode", str, "auto")
        if mode not in MODES:
            raise bad(f"mode {mode!r} is not one of {', '.join(MODES)}")
        try:
            request = ResourceRequest.from_dict(typed("request", Mapping))
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"request is incomplete ({exc})") from None
        array = None
        if d.get("array") is not None:
            a = typed("array", Mapping)
            try:
                array = ArrayTask(int(a["task"]), int(a["count"]), int(a["first_id"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise bad(f"array is incomplete ({exc})") from None
        inputs = typed("inputs", list, [])
        lock_keys = typed("lock_keys", list, [])
        if not all(isinstance(i, str) for i in [*inputs, *lock_keys]):
            raise bad("inputs and lock_keys must be lists of strings")
        return cls(id=typed("id", int), command=typed("command", str), request=request, mode=mode,
                   submitted=float(typed("submitted", (int, float), 0.0)), inputs=tuple(inputs),
                   code_kind=typed("code_kind", str, ""), spec=dict(typed("spec", Mapping, {})), array=array,
                   lock_keys=tuple(lock_keys), lock_dir=typed("lock_dir", str, ""), version=version)

    def write(self, job_dir: Path, fsync: bool = True) -> None:
        write_json_atomic(Path(job_dir) / JOB_FILE, self.to_dict(), fsync=fsync)

    @classmethod
    def read(cls, job_dir: Path) -> "JobFile":
        path = Path(job_dir) / JOB_FILE
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise JobFileError(f"cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise JobFileError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data, str(path))

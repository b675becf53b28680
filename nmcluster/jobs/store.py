"""The job store: one SQLite database (WAL; rollback journal on shared file systems) per job root.

Why SQLite: several ``nmcluster`` processes (a user's shell, a sweep script, the Python client) read and
write concurrently; WAL lets readers proceed during a write, and ``busy_timeout`` turns lock contention
into a short wait instead of a "database is locked" error in the user's face.  Records hold the fields
of the platform's job record plus what nmcluster needs to find the job again (executor, Slurm id, job
directory) and what it decided (backend, emulated or not, exit code, reason).
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from nmcluster.errors import JobNotFoundError, StorageError

FINAL_STATES = ("finished", "error")
STATES = ("preparing", "submitted", "running", "finished", "error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    code TEXT NOT NULL,
    command TEXT NOT NULL,
    platform TEXT NOT NULL,
    hardware_config TEXT NOT NULL DEFAULT '{}',
    input_data TEXT NOT NULL DEFAULT '[]',
    output_data TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    collab_id TEXT,
    user TEXT NOT NULL,
    timestamp_submission REAL NOT NULL,
    timestamp_start REAL,
    timestamp_completion REAL,
    executor TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL DEFAULT '',
    job_dir TEXT NOT NULL DEFAULT '',
    backend TEXT NOT NULL DEFAULT '',
    emulated INTEGER,
    backend_reason TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    slurm_state TEXT NOT NULL DEFAULT '',
    calib_version INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""
_JSON_FIELDS = ("hardware_config", "input_data", "output_data", "tags")


@dataclass(frozen=True)
class JobRecord:
    id: int
    status: str
    code: str
    command: str
    platform: str
    user: str
    timestamp_submission: float
    hardware_config: Mapping[str, Any] = field(default_factory=dict)
    input_data: Sequence[str] = ()
    output_data: Sequence[str] = ()
    tags: Sequence[str] = ()
    collab_id: str | None = None
    timestamp_start: float | None = None
    timestamp_completion: float | None = None
    executor: str = ""
    external_id: str = ""
    job_dir: str = ""
    backend: str = ""
    emulated: bool | None = None
    backend_reason: str = ""
    exit_code: int | None = None
    reason: str = ""
    slurm_state: str = ""
    calib_version: int | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def hardware_platform(self) -> str:
        from nmcluster.jobs.spec import PLATFORM_NAMES

        return PLATFORM_NAMES.get(self.platform, self.platform)

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (``--json`` output); timestamps ISO 8601 like the platform's."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in _JSON_FIELDS:
            d[key] = dict(d[key]) if key == "hardware_config" else list(d[key])
        for key in ("timestamp_submission", "timestamp_start", "timestamp_completion"):
            d[key] = iso(d[key])
        d["hardware_platform"] = self.hardware_platform
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobRecord":
        """Inverse of :meth:`to_dict` (e.g. a remote ``nmcluster status --json``); unknown keys are ignored.

        Timestamps may be ISO 8601 strings (naive ones are local time, as :func:`iso` writes them) or
        seconds since the epoch."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for key in ("timestamp_submission", "timestamp_start", "timestamp_completion"):
            values[key] = parse_timestamp(values.get(key))
        if values.get("timestamp_submission") is None:
            values["timestamp_submission"] = 0.0
        for key in ("input_data", "output_data", "tags"):
            values[key] = tuple(values.get(key) or ())
        values["hardware_config"] = dict(values.get("hardware_config") or {})
        return cls(**values)


def iso(ts: float | None) -> str | None:
    return None if ts is None else _dt.datetime.fromtimestamp(ts).isoformat()


def parse_timestamp(value: Any) -> float | None:
    """Seconds since the epoch from what :func:`iso` wrote (or a number); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return _dt.datetime.fromisoformat(str(value)).timestamp()


def _encode(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(dict(v) if k == "hardware_config" else list(v)) if k in _JSON_FIELDS else v)
            for k, v in values.items()}


def _row_to_record(row: sqlite3.Row) -> JobRecord:
    """The record of one row; a row that cannot be read (hand-edited, written by a broken tool) becomes a
    record in state ``error`` that says so, so one bad row never breaks commands for the other jobs."""
    try:
        return _decode_row(row)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
        data = dict(row)

        def _num(value: Any, default: Any = None) -> Any:
            return value if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and abs(value) < 1e15 else default

        return JobRecord(id=int(data.get("id") or 0), status="error", code=str(data.get("code") or ""),
                         command=str(data.get("command") or ""), platform=str(data.get("platform") or ""),
                         user=str(data.get("user") or ""),
                         timestamp_submission=float(_num(data.get("timestamp_submission"), 0.0)),
                         job_dir=str(data.get("job_dir") or ""),
                         reason=f"unreadable job record ({type(exc).__name__}: {str(exc)[:120]})")


def _decode_row(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    for key in _JSON_FIELDS:
        data[key] = json.loads(data[key])
    data["input_data"] = tuple(data["input_data"])
    data["output_data"] = tuple(data["output_data"])
    data["tags"] = tuple(data["tags"])
    if not isinstance(data["hardware_config"], dict):
        raise ValueError("hardware_config is not an object")
    for key in ("input_data", "output_data", "tags"):
        if not all(isinstance(v, str) for v in data[key]):
            raise ValueError(f"{key} holds something other than text")
    if data["emulated"] is not None:
        data["emulated"] = bool(data["emulated"])
    # numbers that other commands compute with: bounded here so that one absurd value (a calibration
    # version of 400 digits, an infinite timestamp) cannot raise OverflowError in status/list/cancel/remove
    for key in ("calib_version", "exit_code"):
        value = data[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63):
            raise ValueError(f"{key} is not a 64-bit integer")
    for key in ("timestamp_submission", "timestamp_start", "timestamp_completion"):
        value = data[key]
        if value is not None and (not isinstance(value, (int, float)) or not -1e11 < value < 1e11):
            raise ValueError(f"{key} is not a time")
    return JobRecord(**data)


def storage_error(path: Path, exc: BaseException) -> StorageError:
    """A SQLite/OS failure of the store as one line a user can act on (never a traceback, never a bare
    "database is locked")."""
    msg = str(exc)
    low = msg.lower()
    if "disk is full" in low or "no space" in low or "quota" in low:
        why = f"no space left on the job root {path.parent} ({msg})"
    elif "locked" in low or "busy" in low:
        why = f"the job store {path} stayed locked by another nmcluster process ({msg}); try again"
    elif "readonly" in low or "unable to open" in low or "permission" in low or "authoriz" in low:
        why = f"cannot write the job store {path} ({msg}): is the job root yours and writable?"
    else:
        why = f"job store {path}: {msg}"
    return StorageError(why)


def _create_private(path: Path) -> None:
    """Create the database file 0600 (never through a link) before SQLite opens it: SQLite creates a
    missing file with the umask's mode (0644: every user could read every record) and gives its
    ``-wal``/``-shm`` files the database file's mode, so the first creation decides for all three."""
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        if path.is_symlink():
            raise StorageError(f"the job store {path} is a symbolic link; refusing to follow it") from None
        return
    os.close(fd)


class JobStore:
    """Records of one user's jobs.  Open one per command; connections are cheap.

    Every SQLite or OS failure surfaces as :class:`~nmcluster.errors.StorageError`; a failed write leaves
    the store as it was before (each change is one ``BEGIN IMMEDIATE`` transaction)."""

    def __init__(self, path: Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _create_private(self.path)
            self._conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise storage_error(self.path, exc) from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self.journal_mode = apply_journal_mode(self._conn, self.path)
            # the schema only when missing: a write transaction on every open would queue every command
            # behind every writer (8 concurrent submitters + pollers in the load test)
            if self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
                                  ).fetchone() is None:
                with self.transaction() as c:
                    for stmt in filter(str.strip, _SCHEMA.split(";")):
                        c.execute(stmt)
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.Error):
                raise storage_error(self.path, exc) from None
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock up front so concurrent writers queue, never deadlock."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if isinstance(exc, sqlite3.Error):
                raise storage_error(self.path, exc) from None
            raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None

    def insert(self, **values: Any) -> int:
        values = _encode(values)
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction() as c:
            cur = c.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", tuple(values.values()))
            return int(cur.lastrowid)

    def insert_many(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert several records in one transaction (all or none); returns their ids in order."""
        ids = []
        with self.transaction() as c:
            for values in rows:
                values = _encode(values)
                cur = c.execute(f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                                tuple(values.values()))
                ids.append(int(cur.lastrowid))
        return ids

    def update(self, job_id: int, unless_final: bool = False, **values: Any) -> bool:
        """Change one record; ``unless_final``: leave it alone once it is finished or error (a slower
        observer must never overwrite a final state with an older one).  Returns whether it changed."""
        if not values:
            return False
        encoded = _encode(values)
        sets = ", ".join(f"{k} = ?" for k in encoded)
        where = "id = ?" + (" AND status NOT IN ('finished', 'error')" if unless_final else "")
        with self.transaction() as c:
            return c.execute(f"UPDATE jobs SET {sets} WHERE {where}", (*encoded.values(), job_id)).rowcount > 0

    def update_many(self, changes: Mapping[int, Mapping[str, Any]]) -> None:
        """Apply ``{job_id: values}`` in one transaction (all or none)."""
        with self.transaction() as c:
            for job_id, values in changes.items():
                encoded = _encode(values)
                if encoded:
                    c.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in encoded)} WHERE id = ?",
                              (*encoded.values(), job_id))

    def delete(self, job_id: int) -> None:
        self.delete_many([job_id])

    def delete_many(self, job_ids: Sequence[int]) -> None:
        with self.transaction() as c:
            c.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in job_ids])

    def get(self, job_id: int) -> JobRecord:
        rows = self._read("SELECT * FROM jobs WHERE id = ? AND status != 'preparing'", (job_id,))
        if not rows:
            raise JobNotFoundError(f"no job {job_id} in {self.path.parent}")
        return _row_to_record(rows[0])

    def get_many(self, job_ids: Sequence[int]) -> list[JobRecord]:
        """Several records, in the order asked (missing ones: JobNotFoundError)."""
        found: dict[int, JobRecord] = {}
        ids = list(job_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._read(f"SELECT * FROM jobs WHERE status != 'preparing' AND id IN "
                              f"({', '.join('?' for _ in chunk)})", chunk)
            found.update((r["id"], _row_to_record(r)) for r in rows)
        missing = [i for i in ids if i not in found]
        if missing:
            raise JobNotFoundError(f"no job {missing[0]} in {self.path.parent}")
        return [found[i] for i in ids]

    def list(self, include_final: bool = True, limit: int | None = None,
             collab_id: str | None = None) -> list[JobRecord]:
        sql = "SELECT * FROM jobs WHERE status != 'preparing'"
        args: list[Any] = []
        if not include_final:
            sql += " AND status NOT IN ('finished', 'error')"
        if collab_id is not None:
            sql += " AND collab_id = ?"
            args.append(collab_id)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_row_to_record(r) for r in self._read(sql, args)]

    def preparing(self) -> list[tuple[int, str, float]]:
        """(id, external_id, timestamp_submission) of every 'preparing' row: submissions in progress, or
        abandoned half-way (``external_id`` names the submitting process while a row is preparing)."""
        return [(r["id"], r["external_id"], r["timestamp_submission"])
                for r in self._read("SELECT id, external_id, timestamp_submission FROM jobs WHERE status = 'preparing'")]

    def stale_preparing(self, older_than_s: float = 3600.0) -> list[JobRecord]:
        """Records of submissions that died half-way (the submitting process was killed)."""
        rows = self._read("SELECT * FROM jobs WHERE status = 'preparing' AND timestamp_submission < ?",
                          (time.time() - older_than_s,))
        return [_row_to_record(r) for r in rows]


def apply_journal_mode(conn: sqlite3.Connection, path: Path) -> str:
    """Set the journal mode the store's file system can take; returns the mode SQLite reports.

    WAL (readers never wait for the writer) on local disks; on a file system shared between machines
    (NFS, Lustre, GPFS, ...: nmcluster/fsinfo.py) WAL's shared-memory index is not coherent across
    clients, so the rollback journal (``DELETE``) with POSIX locks and ``synchronous = FULL`` is used
    there -- the mode sqlite.org recommends where a network file system cannot be avoided.
    ``$NMCLUSTER_STORE_JOURNAL`` (wal, delete, truncate, auto) overrides the detection.
    """
    from nmcluster.fsinfo import journal_mode_for

    mode, _why = journal_mode_for(path)
    got = str(conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]).upper()
    conn.execute("PRAGMA synchronous = NORMAL" if got == "WAL" else "PRAGMA synchronous = FULL")
    return got


def with_updates(record: JobRecord, **values: Any) -> JobRecord:
    return replace(record, **values)

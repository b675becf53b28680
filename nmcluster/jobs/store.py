"""The job store: one SQLite database (WAL) per job root holding a record per submitted job.

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

from nmcluster.errors import JobNotFoundError

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


def iso(ts: float | None) -> str | None:
    return None if ts is None else _dt.datetime.fromtimestamp(ts).isoformat()


def _encode(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(dict(v) if k == "hardware_config" else list(v)) if k in _JSON_FIELDS else v)
            for k, v in values.items()}


def _row_to_record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    for key in _JSON_FIELDS:
        data[key] = json.loads(data[key])
    data["input_data"] = tuple(data["input_data"])
    data["output_data"] = tuple(data["output_data"])
    data["tags"] = tuple(data["tags"])
    if data["emulated"] is not None:
        data["emulated"] = bool(data["emulated"])
    return JobRecord(**data)


class JobStore:
    """Records of one user's jobs.  Open one per command; connections are cheap."""

    def __init__(self, path: Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        with self.transaction() as c:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                c.execute(stmt)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "JobStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock up front so concurrent writers queue, never deadlock."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def insert(self, **values: Any) -> int:
        values = _encode(values)
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.transaction() as c:
            cur = c.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", tuple(values.values()))
            return int(cur.lastrowid)

    def update(self, job_id: int, **values: Any) -> None:
        if not values:
            return
        encoded = _encode(values)
        sets = ", ".join(f"{k} = ?" for k in encoded)
        with self.transaction() as c:
            c.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*encoded.values(), job_id))

    def delete(self, job_id: int) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def get(self, job_id: int) -> JobRecord:
        row = self._conn.execute("SELECT * FROM jobs WHERE id = ? AND status != 'preparing'",
                                 (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {job_id} in {self.path.parent}")
        return _row_to_record(row)

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
        return [_row_to_record(r) for r in self._conn.execute(sql, args)]

    def stale_preparing(self, older_than_s: float = 3600.0) -> list[JobRecord]:
        """Records of submissions that died half-way (the submitting process was killed)."""
        rows = self._conn.execute("SELECT * FROM jobs WHERE status = 'preparing' AND timestamp_submission < ?",
                                  (time.time() - older_than_s,))
        return [_row_to_record(r) for r in rows]


def with_updates(record: JobRecord, **values: Any) -> JobRecord:
    return replace(record, **values)

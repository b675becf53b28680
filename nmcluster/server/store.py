"""The server's own database: tokens, the REST view of jobs, comments, owners of resource requests.

Execution state lives where it always does (the service account's :class:`~nmcluster.jobs.service.JobService`
store); this database keeps what only the REST layer knows: which REST user submitted a job, its collab,
tags added later, comments, and the jobs held for a provider bridge (``[server] provider_platforms``), which
never enter the local job store.  One sqlite file in the server's private state directory, WAL mode, one
connection guarded by a lock (uvicorn runs sync routes in a thread pool).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,            -- 'user' (bearer token) or 'provider' (x-api-key of a bridge)
    name TEXT NOT NULL,            -- user name, or provider name
    platform TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL UNIQUE,     -- sha256 of the token; the token itself is never stored
    created REAL NOT NULL,
    expires REAL,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL,
    collab TEXT NOT NULL,
    platform TEXT NOT NULL,
    code TEXT NOT NULL,
    command TEXT NOT NULL DEFAULT '',
    hardware_config TEXT NOT NULL DEFAULT '{}',
    input_data TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    local_id INTEGER,              -- the nmcluster job (JobService) running it, NULL for provider jobs
    provider INTEGER NOT NULL DEFAULT 0,
    timestamp_submission REAL NOT NULL,
    timestamp_completion REAL,
    log TEXT,
    output_data TEXT,              -- provider jobs: the DataSet the provider reported
    provenance TEXT,
    resource_usage REAL
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (provider, platform, status);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    user TEXT NOT NULL,
    content TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS project_owners (
    project TEXT PRIMARY KEY,
    user TEXT NOT NULL
);
"""

JSON_COLUMNS = ("hardware_config", "input_data", "tags", "output_data", "provenance")


def token_hash(token: str) -> str:
    """sha256, not a slow password hash: tokens are 32 random bytes, so there is nothing to brute-force,
    and every request (20 pollers a second) checks one."""
    return hashlib.sha256(token.encode()).hexdigest()


class ServerStore:
    """Thread-safe access to ``<state_dir>/server.sqlite``."""

    def __init__(self, state_dir: Path) -> None:
        from nmcluster.identity import secure_private_dir

        self.dir = secure_private_dir(state_dir, "server state directory")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.dir / "server.sqlite", check_same_thread=False, timeout=30,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [_decode(dict(r)) for r in self._db.execute(sql, tuple(args)).fetchall()]

    # -- secret for signed download URLs ------------------------------------------------------------
    def secret(self) -> bytes:
        """The HMAC key of download URLs (created once, 0600): the real client downloads with
        ``urlretrieve``, without its token, so output URLs carry an expiring signature instead."""
        path = self.dir / "url-secret"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        return path.read_bytes()

    # -- tokens -------------------------------------------------------------------------------------
    def create_token(self, kind: str, name: str, platform: str = "", expires: float | None = None) -> tuple[int, str]:
        token = ("nmcp_" if kind == "provider" else "nmct_") + secrets.token_urlsafe(32)
        cur = self._exec("INSERT INTO tokens (kind, name, platform, hash, created, expires) VALUES (?,?,?,?,?,?)",
                         (kind, name, platform, token_hash(token), time.time(), expires))
        return int(cur.lastrowid), token

    def lookup_token(self, token: str, kind: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM tokens WHERE hash = ? AND kind = ?", (token_hash(token), kind))
        if not rows:
            return None
        row = rows[0]
        if row["revoked"] is not None or (row["expires"] is not None and row["expires"] < time.time()):
            return None
        return row

    def list_tokens(self) -> list[dict[str, Any]]:
        return self._rows("SELECT id, kind, name, platform, created, expires, revoked FROM tokens ORDER BY id")

    def revoke_token(self, token_id: int) -> bool:
        cur = self._exec("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), token_id))
        return cur.rowcount == 1

    # -- jobs ---------------------------------------------------------------------------------------
    def insert_job(self, **values: Any) -> int:
        values = _encode(values)
        cols = ", ".join(values)
        cur = self._exec(f"INSERT INTO jobs ({cols}) VALUES ({', '.join('?' * len(values))})", values.values())
        return int(cur.lastrowid)

    def update_job(self, job_id: int, **values: Any) -> None:
        values = _encode(values)
        sets = ", ".join(f"{k} = ?" for k in values)
        self._exec(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM jobs WHERE id = ? AND status != 'removed'", (job_id,))
        return rows[0] if rows else None

    def list_jobs(self, collabs: Iterable[str], user: str, statuses: Iterable[str] = (),
                  platforms: Iterable[str] = (), size: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        """Jobs of ``collabs`` (and the user's own), newest first."""
        collabs = list(collabs)
        where = [f"(collab IN ({', '.join('?' * len(collabs))}) OR user = ?)" if collabs else "user = ?",
                 "status != 'removed'"]
        args: list[Any] = [*collabs, user]
        for col, vals in (("status", list(statuses)), ("platform", list(platforms))):
            if vals:
                where.append(f"{col} IN ({', '.join('?' * len(vals))})")
                args += vals
        return self._rows(f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ? OFFSET ?",
                          (*args, size, offset))

    def next_provider_job(self, platforms: Iterable[str]) -> dict[str, Any] | None:
        """The oldest job still waiting for a provider (for_providers.py ``get_next_job``: it does not take
        the job off the queue; the provider's ``PUT status=running`` does)."""
        platforms = list(platforms)
        rows = self._rows(f"SELECT * FROM jobs WHERE provider = 1 AND status = 'submitted' AND platform IN "
                          f"({', '.join('?' * len(platforms))}) ORDER BY timestamp_submission, id LIMIT 1", platforms)
        return rows[0] if rows else None

    # -- comments, project owners ----------------------------------------------------------------------
    def add_comment(self, job_id: int, user: str, content: str) -> dict[str, Any]:
        cur = self._exec("INSERT INTO comments (job_id, user, content, created) VALUES (?,?,?,?)",
                         (job_id, user, content, time.time()))
        return self._rows("SELECT * FROM comments WHERE id = ?", (cur.lastrowid,))[0]

    def comments(self, job_id: int) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM comments WHERE job_id = ? ORDER BY id", (job_id,))

    def set_project_owner(self, project: str, user: str) -> None:
        self._exec("INSERT OR REPLACE INTO project_owners (project, user) VALUES (?, ?)", (project, user))

    def project_owner(self, project: str) -> str | None:
        rows = self._rows("SELECT user FROM project_owners WHERE project = ?", (project,))
        return rows[0]["user"] if rows else None


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v) if k in JSON_COLUMNS and v is not None else v) for k, v in values.items()}


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for k in JSON_COLUMNS:
        if k in row and isinstance(row[k], str):
            row[k] = json.loads(row[k])
    return row

"""The benchmark measurement database: registered repositories, runs (one nmcluster job per task and
platform) and the harvested results with their provenance.

Why SQLite (WAL, ``busy_timeout``, one ``BEGIN IMMEDIATE`` transaction per change): several users'
``nmcluster benchmarks`` commands and the periodic watcher write at the same time on one frontend, and a
harvest either stores a whole report or nothing.  It must live on local disk (WAL needs shared memory:
not NFS/Lustre).  A site with several frontends points ``[benchmarks] database`` at one frontend's disk and
runs the watcher there (README "Benchmarks"), or exports results with ``nmcluster benchmarks results --csv``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nmcluster.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repos (
    url TEXT PRIMARY KEY,
    ref TEXT NOT NULL DEFAULT '',
    last_commit TEXT NOT NULL DEFAULT '',
    platforms TEXT NOT NULL DEFAULT '[]',
    registered_by TEXT NOT NULL,
    registered REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    platform TEXT NOT NULL,
    job_id INTEGER,
    job_root TEXT NOT NULL DEFAULT '',
    user TEXT NOT NULL,
    trigger TEXT NOT NULL DEFAULT 'manual',
    status TEXT NOT NULL DEFAULT 'submitted',
    message TEXT NOT NULL DEFAULT '',
    submitted REAL NOT NULL,
    harvested REAL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    measure TEXT NOT NULL,
    value REAL NOT NULL,
    units TEXT,
    std_dev REAL,
    min REAL,
    max REAL,
    timestamp TEXT NOT NULL,
    platform TEXT NOT NULL,
    backend TEXT NOT NULL DEFAULT '',
    emulated INTEGER,
    repo TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    nmcluster_version TEXT NOT NULL,
    calib_version INTEGER,
    job_id INTEGER,
    wall_time REAL,
    report_file TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS results_task ON results(model, task, name);
CREATE TABLE IF NOT EXISTS system (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

RESULT_FIELDS = ("id", "run_id", "model", "task", "type", "name", "measure", "value", "units", "std_dev", "min",
                 "max", "timestamp", "platform", "backend", "emulated", "repo", "commit_id", "nmcluster_version",
                 "calib_version", "job_id", "wall_time", "report_file")


class BenchmarkDB:
    def __init__(self, path: Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():  # 0600 unless the site made a shared (group) database beforehand
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            self.conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self.conn.execute("PRAGMA journal_mode = WAL")
            with self.transaction() as c:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"benchmark database {self.path}: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "BenchmarkDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"benchmark database {self.path}: {exc}") from None

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            return [dict(r) for r in self.conn.execute(sql, args).fetchall()]
        except sqlite3.Error as exc:
            raise StorageError(f"benchmark database {self.path}: {exc}") from None

    # -- repositories -----------------------------------------------------------------------------
    def register(self, url: str, ref: str, platforms: Sequence[str], user: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO repos(url, ref, platforms, registered_by, registered) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT(url) DO UPDATE SET ref = excluded.ref, platforms = excluded.platforms",
                      (url, ref, json.dumps(list(platforms)), user, time.time()))

    def unregister(self, url: str) -> bool:
        with self.transaction() as c:
            return c.execute("DELETE FROM repos WHERE url = ?", (url,)).rowcount > 0

    def repos(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM repos ORDER BY url")
        for r in rows:
            r["platforms"] = json.loads(r["platforms"])
        return rows

    def set_last_commit(self, url: str, commit: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE repos SET last_commit = ? WHERE url = ?", (commit, url))

    # -- runs ---------------------------------------------------------------------------------------
    def add_runs(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        ids = []
        with self.transaction() as c:
            for r in rows:
                cur = c.execute("INSERT INTO runs(repo, commit_id, model, task, platform, job_id, job_root, user, "
                                "trigger, status, submitted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (r["repo"], r["commit_id"], r["model"], r["task"], r["platform"], r.get("job_id"),
                                 r.get("job_root", ""), r["user"], r.get("trigger", "manual"),
                                 r.get("status", "submitted"), time.time()))
                ids.append(int(cur.lastrowid))
        return ids

    def pending_runs(self, user: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM runs WHERE status = 'submitted' AND user = ? ORDER BY id", (user,))

    def runs(self, limit: int = 200) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (int(limit),))

    def finish_run(self, run_id: int, status: str, message: str, results: Sequence[Mapping[str, Any]]) -> None:
        """Store a run's results and its final state in one transaction (all or nothing)."""
        with self.transaction() as c:
            for r in results:
                cols = [k for k in RESULT_FIELDS if k not in ("id",) and k in r]
                c.execute(f"INSERT INTO results({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                          [r[k] for k in cols])
            c.execute("UPDATE runs SET status = ?, message = ?, harvested = ? WHERE id = ?",
                      (status, message[:2000], time.time(), run_id))

    # -- results -------------------------------------------------------------------------------------
    def results(self, model: str | None = None, task: str | None = None, platform: str | None = None,
                name: str | None = None, repo: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        for col, value in (("model", model), ("task", task), ("platform", platform), ("name", name), ("repo", repo)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        sql = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql, args)

    # -- system fingerprint ------------------------------------------------------------------------
    def get_system(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM system WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_system(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO system(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                      "excluded.value", (key, value))

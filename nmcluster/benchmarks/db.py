"""The benchmark measurement database: registered repositories, runs (one nmcluster job per task and
platform) and the harvested results with their provenance.

Two back ends behind one class, chosen by ``[benchmarks] database``:

* a path: SQLite (WAL, ``busy_timeout``, one ``BEGIN IMMEDIATE`` transaction per change).  Several users'
  ``nmcluster benchmarks`` commands and the periodic watcher write at the same time on one frontend, and a
  harvest stores a whole report or nothing.  It must live on local disk (WAL needs shared memory).
* ``mysql://USER[:PASSWORD]@HOST[:PORT]/DB`` or ``mysql://USER@localhost/DB?unix_socket=/path``: MariaDB/MySQL
  through PyMySQL (InnoDB transactions), for a site with several frontends: the MariaDB of the accounting
  set-up serves (README "Benchmark repositories").  The password may come from ``$NMCLUSTER_BENCHMARK_DB_PASSWORD``
  instead of the URL.

The SQL is the same for both except the placeholders, the auto-increment and upsert clauses and the
column types MariaDB needs for keys (``VARCHAR`` instead of ``TEXT``), which :class:`_Dialect` spells.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from urllib.parse import parse_qs, unquote, urlparse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nmcluster.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repos (
    url {URL} PRIMARY KEY,
    ref {SHORT} NOT NULL DEFAULT '',
    last_commit {SHORT} NOT NULL DEFAULT '',
    platforms {SHORT} NOT NULL DEFAULT '[]',
    registered_by {SHORT} NOT NULL,
    registered REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY {AUTO},
    repo TEXT NOT NULL,
    commit_id {SHORT} NOT NULL,
    model {KEY} NOT NULL,
    task {KEY} NOT NULL,
    platform {SHORT} NOT NULL,
    job_id INTEGER,
    job_root TEXT NOT NULL,
    user {SHORT} NOT NULL,
    trig {SHORT} NOT NULL DEFAULT 'manual',
    status {SHORT} NOT NULL DEFAULT 'submitted',
    message TEXT NOT NULL,
    submitted REAL NOT NULL,
    harvested REAL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY {AUTO},
    run_id INTEGER NOT NULL REFERENCES runs(id),
    model {KEY} NOT NULL,
    task {KEY} NOT NULL,
    type TEXT NOT NULL,
    name {KEY} NOT NULL,
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
    commit_id {SHORT} NOT NULL,
    nmcluster_version {SHORT} NOT NULL,
    calib_version INTEGER,
    job_id INTEGER,
    wall_time REAL,
    report_file TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_task ON results(model, task, name);
CREATE TABLE IF NOT EXISTS system (name {KEY} PRIMARY KEY, value TEXT NOT NULL);
"""

RESULT_FIELDS = ("id", "run_id", "model", "task", "type", "name", "measure", "value", "units", "std_dev", "min",
                 "max", "timestamp", "platform", "backend", "emulated", "repo", "commit_id", "nmcluster_version",
                 "calib_version", "job_id", "wall_time", "report_file")


class _Dialect:
    """What differs between SQLite and MariaDB in the few statements used here."""

    def __init__(self, mysql: bool) -> None:
        self.mysql = mysql
        self.types = ({"KEY": "VARCHAR(250)", "URL": "VARCHAR(700)", "SHORT": "VARCHAR(250)",
                       "AUTO": "AUTO_INCREMENT"} if mysql else
                      {"KEY": "TEXT", "URL": "TEXT", "SHORT": "TEXT", "AUTO": "AUTOINCREMENT"})

    def schema(self) -> list[str]:
        text = _SCHEMA
        for k, v in self.types.items():
            text = text.replace("{" + k + "}", v)
        return [stmt.strip() for stmt in text.split(";") if stmt.strip()]

    def has_table(self) -> str:
        """A query with one row when the table named by its parameter exists."""
        return ("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND "
                "table_name = ?") if self.mysql else "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.mysql else statement

    def upsert(self, table: str, key: str, cols: Sequence[str], update: Sequence[str]) -> str:
        head = f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
        if self.mysql:
            return self.sql(head + "ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in update))
        return head + f"ON CONFLICT({key}) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)


def _is_url(database: str | os.PathLike[str]) -> bool:
    return bool(re.match(r"^(mysql|mariadb)://", str(database)))


class BenchmarkDB:
    """The measurement database (SQLite file or MariaDB URL, see the module docstring)."""

    def __init__(self, database: Path | str, timeout_s: float = 60.0) -> None:
        self.path = database
        self.dialect = _Dialect(_is_url(database))
        try:
            self.conn = self._connect_mysql(str(database), timeout_s) if self.dialect.mysql \
                else self._connect_sqlite(Path(database), timeout_s)
            # the schema only when missing: a write transaction on every open would queue every reader behind
            # every writer (the job store does the same).  "system" is the last table the schema creates.
            if not self._rows(self.dialect.has_table(), ("system",)):
                with self.transaction() as c:
                    for stmt in self.dialect.schema():
                        c.execute(stmt)
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001 - sqlite3/pymysql/OS errors become one line
            raise StorageError(f"benchmark database {self._where()}: {exc}") from None

    def _where(self) -> str:
        return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", str(self.path))  # never print a password

    @staticmethod
    def _connect_sqlite(path: Path, timeout_s: float):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():  # 0600 unless the site made a shared (group) database beforehand
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        return conn

    @staticmethod
    def _connect_mysql(url: str, timeout_s: float):
        try:
            import pymysql
            import pymysql.cursors
        except ImportError:
            raise StorageError("a MariaDB benchmark database needs PyMySQL: pip install 'nmcluster[mariadb]'") \
                from None
        u = urlparse(url)
        query = parse_qs(u.query)
        password = unquote(u.password) if u.password else os.environ.get("NMCLUSTER_BENCHMARK_DB_PASSWORD", "")
        kwargs: dict[str, Any] = {"user": unquote(u.username or ""), "password": password,
                                  "database": u.path.lstrip("/"), "connect_timeout": int(timeout_s),
                                  "autocommit": True, "charset": "utf8mb4",
                                  "cursorclass": pymysql.cursors.DictCursor}
        if "unix_socket" in query:
            kwargs["unix_socket"] = query["unix_socket"][0]
        else:
            kwargs.update(host=u.hostname or "localhost", port=u.port or 3306)
        return pymysql.connect(**kwargs)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "BenchmarkDB":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One all-or-nothing change; yields a cursor-like object with ``execute``."""
        if self.dialect.mysql:
            cur = self.conn.cursor()
            try:
                self.conn.begin()
                yield _Cursor(cur, self.dialect)
                self.conn.commit()
            except BaseException as exc:
                self.conn.rollback()
                if isinstance(exc, Exception) and not isinstance(exc, StorageError) and \
                        type(exc).__module__.startswith("pymysql"):
                    raise StorageError(f"benchmark database {self._where()}: {exc}") from None
                raise
            finally:
                cur.close()
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Cursor(self.conn, self.dialect)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"benchmark database {self._where()}: {exc}") from None

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            if self.dialect.mysql:
                with self.conn.cursor() as cur:
                    cur.execute(self.dialect.sql(sql), tuple(args))
                    return [dict(r) for r in cur.fetchall()]
            return [dict(r) for r in self.conn.execute(sql, args).fetchall()]
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"benchmark database {self._where()}: {exc}") from None

    # -- repositories -----------------------------------------------------------------------------
    def register(self, url: str, ref: str, platforms: Sequence[str], user: str) -> None:
        with self.transaction() as c:
            c.execute(self.dialect.upsert("repos", "url", ("url", "ref", "platforms", "registered_by", "registered"),
                                          ("ref", "platforms")),
                      (url, ref, json.dumps(list(platforms)), user, time.time()), raw=True)

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
                                "trig, status, message, submitted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (r["repo"], r["commit_id"], r["model"], r["task"], r["platform"], r.get("job_id"),
                                 r.get("job_root", ""), r["user"], r.get("trigger", "manual"),
                                 r.get("status", "submitted"), "", time.time()))
                ids.append(int(cur.lastrowid))
        return ids

    def pending_runs(self, user: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM runs WHERE status = 'submitted' AND user = ? ORDER BY id", (user,))

    def runs(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._rows(f"SELECT * FROM runs ORDER BY id DESC LIMIT {int(limit)}")
        for r in rows:
            r["trigger"] = r.pop("trig")
        return rows

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
        rows = self._rows("SELECT value FROM system WHERE name = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_system(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute(self.dialect.upsert("system", "name", ("name", "value"), ("value",)), (key, value), raw=True)


class _Cursor:
    """``execute`` with ``?`` placeholders on either back end; returns something with ``rowcount`` and
    ``lastrowid``."""

    def __init__(self, target: Any, dialect: _Dialect) -> None:
        self.target, self.dialect = target, dialect

    def execute(self, sql: str, args: Sequence[Any] = (), raw: bool = False) -> Any:
        if self.dialect.mysql:
            self.target.execute(sql if raw else self.dialect.sql(sql), tuple(args))
            return self.target
        return self.target.execute(sql, args)

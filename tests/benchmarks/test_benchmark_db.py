"""The measurement database on both back ends: SQLite (one frontend) and a real MariaDB (Debian's
mariadb-server, started by the test with its own data directory and socket, as the accounting set-up runs
it), through the same class: upserts, runs, all-or-nothing harvests, concurrent writers (issue 22)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nmcluster.benchmarks.db import BenchmarkDB


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    if not (shutil.which("mariadbd") and shutil.which("mariadb-install-db")):
        if os.environ.get("CI"):
            pytest.fail("mariadb-server is not installed (scripts/test installs it)")
        pytest.skip("needs Debian's mariadb-server")
    pytest.importorskip("pymysql")
    if os.geteuid() != 0:
        pytest.skip("the private MariaDB runs as root here")
    root = tmp_path_factory.mktemp("mariadb")
    sock = root / "mysql.sock"
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={root / 'db'}", "--user=root",
                    "--skip-test-db", "--auth-root-authentication-method=socket"], check=True, capture_output=True,
                   timeout=180)
    proc = subprocess.Popen(["mariadbd", "--no-defaults", f"--datadir={root / 'db'}", f"--socket={sock}",
                             "--skip-networking", "--user=root", f"--pid-file={root / 'pid'}",
                             f"--log-error={root / 'err'}", "--innodb-buffer-pool-size=16M"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["mariadb", "--no-defaults", "-S", str(sock), "-u", "root", "-e", "select 1"],
                             capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, (root / "err").read_text()[-2000:]
            time.sleep(0.2)
        subprocess.run(["mariadb", "--no-defaults", "-S", str(sock), "-u", "root", "-e",
                        "CREATE DATABASE nmbench; CREATE USER 'bench'@'localhost' IDENTIFIED BY 's3cret';"
                        "GRANT ALL ON nmbench.* TO 'bench'@'localhost';"], check=True, capture_output=True)
        yield f"mysql://bench:s3cret@localhost/nmbench?unix_socket={sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(params=["sqlite", "mariadb"])
def database(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "bench.sqlite"
    return _emptied(request.getfixturevalue("mariadb"))


def _emptied(url: str) -> str:
    """The shared MariaDB database with its tables emptied (a clean slate per test)."""
    with BenchmarkDB(url) as db:
        with db.transaction() as c:
            for table in ("results", "runs", "repos", "system"):
                c.execute(f"DELETE FROM {table}")
    return url


def _result(run_id: int, name: str, value: float) -> dict:
    return {"run_id": run_id, "model": "M", "task": "t", "type": "quality", "name": name, "measure": "m",
            "value": value, "units": "Hz", "timestamp": "2026-12-04T10:00:00", "platform": "spikey",
            "backend": "nmcluster.spikey", "emulated": 1, "repo": "/r", "commit_id": "c" * 40,
            "nmcluster_version": "0.1.0", "calib_version": 3, "job_id": 7, "wall_time": 1.5, "report_file": "r.json"}


def test_round_trip(database):
    with BenchmarkDB(database) as db:
        db.register("/r", "", ["spikey"], "alice")
        db.register("/r", "main", ["spikey", "wafer"], "alice")  # upsert: one row, new ref and platforms
        assert [(r["url"], r["ref"], r["platforms"]) for r in db.repos()] == [("/r", "main", ["spikey", "wafer"])]
        db.set_last_commit("/r", "c" * 40)
        assert db.repos()[0]["last_commit"] == "c" * 40
        ids = db.add_runs([{"repo": "/r", "commit_id": "c" * 40, "model": "M", "task": "t", "platform": p,
                            "job_id": i, "user": "alice", "trigger": "commit"} for i, p in enumerate(["spikey", "wafer"])])
        assert len(ids) == 2 and ids[1] == ids[0] + 1
        assert [r["platform"] for r in db.pending_runs("alice")] == ["spikey", "wafer"]
        db.finish_run(ids[0], "harvested", "2 results", [_result(ids[0], "a", 1.5), _result(ids[0], "b", 2.5)])
        assert [r["platform"] for r in db.pending_runs("alice")] == ["wafer"]
        rows = db.results(model="M", name="b")
        assert [(r["name"], r["value"], r["units"], r["calib_version"]) for r in rows] == [("b", 2.5, "Hz", 3)]
        assert {r["trigger"] for r in db.runs()} == {"commit"}
        db.set_system("fingerprint", "x")
        db.set_system("fingerprint", "y")
        assert db.get_system("fingerprint") == "y" and db.get_system("other") is None
        assert db.unregister("/r") and not db.unregister("/r")


def test_a_failed_harvest_stores_nothing(database):
    with BenchmarkDB(database) as db:
        (run_id,) = db.add_runs([{"repo": "/r", "commit_id": "", "model": "M", "task": "t", "platform": "spikey",
                                  "user": "alice"}])
        bad = _result(run_id, "x", 1.0)
        bad.pop("measure")  # NOT NULL: the second insert fails after the first succeeded
        with pytest.raises(Exception):
            db.finish_run(run_id, "harvested", "", [_result(run_id, "ok", 1.0), bad])
        assert db.results() == []
        assert db.pending_runs("alice")[0]["id"] == run_id  # the run is still waiting


def test_concurrent_writers(database):
    """Eight writers (a user's harvest each) at once: every result lands exactly once."""
    with BenchmarkDB(database) as db:
        ids = db.add_runs([{"repo": "/r", "commit_id": "", "model": "M", "task": "t", "platform": "spikey",
                            "user": "u"} for _ in range(8)])
    errors: list[BaseException] = []

    def harvest(run_id: int) -> None:
        try:
            with BenchmarkDB(database) as db:
                db.finish_run(run_id, "harvested", "", [_result(run_id, f"n{i}", float(i)) for i in range(25)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=harvest, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with BenchmarkDB(database) as db:
        rows = db.results()
        assert len(rows) == 8 * 25 and len({(r["run_id"], r["name"]) for r in rows}) == 200


def test_cli_on_mariadb(mariadb, tmp_path):
    """`nmcluster benchmarks` with the database URL in the site config: run, harvest, results."""
    _emptied(mariadb)
    src = tmp_path / "src"
    src.mkdir()
    (src / "benchmarks.json").write_text(json.dumps(
        [{"model": {"name": "M"}, "tasks": [{"name": "t", "command": "run.py {system}"}]}]))
    (src / "run.py").write_text("import json\njson.dump({'model': 'M', 'task': 't', 'timestamp': 'now', 'results': "
                                "[{'type': 'quality', 'name': 'answer', 'value': 42.0, 'measure': 'm'}]}, "
                                "open('report.json', 'w'))\n")
    site = tmp_path / "site.toml"
    site.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n[benchmarks]\ndatabase = "{mariadb}"\n')
    env = {**os.environ, "NMCLUSTER_CONFIG": str(site), "NMCLUSTER_QUIET": "1"}
    env.pop("SLURM_CONF", None)

    def nm(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nmcluster.cli.main", *args], capture_output=True, text=True,
                              env=env, timeout=300)

    proc = nm("benchmarks", "run", str(src), "-p", "spikey", "--json")
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)[0]["job_id"]
    deadline = time.monotonic() + 120
    while json.loads(nm("status", str(job), "--json").stdout)["status"] not in ("finished", "error"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert json.loads(nm("benchmarks", "harvest", "--json").stdout)[0]["status"] == "harvested"
    rows = json.loads(nm("benchmarks", "results", "--json").stdout)
    assert [(r["name"], r["value"], r["job_id"]) for r in rows] == [("answer", 42.0, job)]
    # a wrong password is one line naming the database without the password
    site.write_text(site.read_text().replace("s3cret", "wrong"))
    proc = nm("benchmarks", "results")
    assert proc.returncode == 1 and "benchmark database mysql://bench:***@" in proc.stderr
    assert "wrong" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

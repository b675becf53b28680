"""benchmarks.json and measurement reports are checked before anything is queued or stored; the example
benchmark repository runs on the emulators through the local executor and lands in the database with its
provenance; malformed reports never corrupt the database (issue 22)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "benchmarks"


class Site:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "bench.sqlite"
        self.config = root / "site.toml"
        self.config.write_text(f'job_root = "{root / "jobs"}"\nexecutor = "local"\n[benchmarks]\n'
                               f'database = "{self.db}"\ncache_dir = "{root / "cache"}"\n')
        import os

        self.env = {**os.environ, "NMCLUSTER_CONFIG": str(self.config), "NMCLUSTER_QUIET": "1",
                    "XDG_DATA_HOME": str(root / "data"), "XDG_CONFIG_HOME": str(root / "cfg")}
        self.env.pop("SLURM_CONF", None)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nmcluster.cli.main", *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, cwd=self.root)

    def wait_all(self, timeout: float = 240) -> list[dict]:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = json.loads(self.cli("list", "--all", "--json").stdout)
            if jobs and all(j["status"] in ("finished", "error") for j in jobs):
                return jobs
            time.sleep(0.5)
        raise AssertionError("benchmark jobs did not finish")

    def count(self, table: str) -> int:
        if not self.db.exists():
            return 0
        with sqlite3.connect(self.db) as c:
            return c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture
def site(tmp_path):
    return Site(tmp_path)


def _repo(tmp_path: Path, benchmarks: object, scripts: dict[str, str] | None = None) -> Path:
    d = tmp_path / "bench-src"
    d.mkdir()
    (d / "benchmarks.json").write_text(benchmarks if isinstance(benchmarks, str) else json.dumps(benchmarks))
    for name, text in (scripts or {}).items():
        (d / name).write_text(text)
    return d


def _one_line(proc, needle: str) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "warning" not in ln]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr, proc.stderr


GOOD_TASK = {"name": "t", "command": "run.py {system}"}


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON"),
    ([], "non-empty list"),
    ([{"tasks": [GOOD_TASK]}], "needs a model object"),
    ([{"model": {"name": "M"}, "tasks": []}], "non-empty list of tasks"),
    ([{"model": {"name": "M"}, "tasks": [{"name": "t"}]}], "command must be a non-empty string"),
    ([{"model": {"name": "M"}, "tasks": [{"name": "t", "command": "run.py {system=spiNNaker}"}]}],
     "allows none of the chosen platforms (spikey)"),
    ([{"model": {"name": "M"}, "tasks": [{"name": "t", "command": "run.py {system}", "target": ["Loihi"]}]}],
     "unknown platform"),
    ([{"model": {"name": "M"}, "tasks": [GOOD_TASK, GOOD_TASK]}], "defined twice"),
    ([{"model": {"name": "M"}, "tasks": [{**GOOD_TASK, "config": {"spikey": {"extra_pip_installs": ["x"]}}}]}],
     "allows none ([benchmarks] pip_index is not set)"),
])
def test_bad_benchmarks_json_queues_nothing(site, tmp_path, content, needle):
    src = _repo(tmp_path, content, {"run.py": "print(1)\n"})
    _one_line(site.cli("benchmarks", "run", str(src), "-p", "spikey"), needle)
    assert json.loads(site.cli("list", "--all", "--json").stdout) == []
    assert site.count("runs") == 0


def test_unknown_fields_are_warnings(site, tmp_path):
    src = _repo(tmp_path, [{"model": {"name": "M", "colour": "red"}, "extra": 1,
                            "tasks": [{**GOOD_TASK, "timeout": 5}]}], {"run.py": "print(1)\n"})
    proc = site.cli("benchmarks", "run", str(src), "-p", "spikey")
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 3 and any("'timeout'" in w for w in warnings)


def test_example_benchmarks_on_the_emulators(site, tmp_path):
    """The shipped example repository runs on all three emulators; every task's report lands with its
    provenance, and the dashboard is written."""
    proc = site.cli("benchmarks", "run", str(EXAMPLE), "--model", "IF_cond_exp", "--json")
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    assert sorted(r["platform"] for r in runs) == ["spikey", "spinnaker", "wafer"]  # the tasks' targets
    jobs = site.wait_all()
    assert all(j["status"] == "finished" for j in jobs), jobs
    harvested = json.loads(site.cli("benchmarks", "harvest", "--json").stdout)
    assert sorted(h["status"] for h in harvested) == ["harvested"] * 3, harvested
    rows = json.loads(site.cli("benchmarks", "results", "--name", "rate_response#slope", "--json").stdout)
    assert len(rows) == 3
    for r in rows:
        assert r["backend"] == f"nmcluster.{'brainscales' if r['platform'] == 'wafer' else r['platform']}"
        assert r["emulated"] == 1 and r["repo"] == str(EXAMPLE) and r["nmcluster_version"]
        assert r["units"] == "Hz/Hz" and 0.2 < r["value"] < 5  # output rate grows with input rate
        assert r["wall_time"] > 0 and r["job_id"] in [j["id"] for j in jobs]
    csv = site.cli("benchmarks", "results", "--csv").stdout.splitlines()
    assert csv[0].startswith("id,run_id,model,task") and len(csv) == 1 + 3 * 6
    out = tmp_path / "site"
    proc = site.cli("benchmarks", "report", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    page = (out / "task-IF_cond_exp-rate_response.html").read_text()
    assert page.count("<img ") == 6 and "Hz/Hz" in page
    assert all((out / f"plot-IF_cond_exp-rate_response-{i}.png").stat().st_size > 5000 for i in range(6))


REPORT_SCRIPT = """import json, sys
json.dump({REPORT}, open("report.json", "w"))
"""


@pytest.mark.parametrize("report, needle", [
    ({"model": "M", "task": "t", "timestamp": "x"}, "'results' is a required property"),
    ({"model": "M", "task": "t", "timestamp": "x", "results": [{"type": "q", "name": "n", "value": "high",
                                                                  "measure": "m"}]}, "results/0/value"),
    ({"model": "M", "task": "t", "timestamp": "x", "results": [{"type": "q", "name": "n", "measure": "m"}]},
     "'value' is a required property"),
    ({"model": "Other", "task": "t", "timestamp": "x", "results": [{"type": "q", "name": "n", "value": 1,
                                                                      "measure": "m"}]}, "but the task is M/t"),
    ("NAN", "not a readable JSON report"),
    ("HUGE", "larger than 1 MiB"),
])
def test_malformed_reports_are_refused_and_store_nothing(site, tmp_path, report, needle):
    if report == "NAN":
        script = ('import json\nopen("report.json","w").write(\'{"model":"M","task":"t","timestamp":"x",'
                  '"results":[{"type":"q","name":"n","value":NaN,"measure":"m"}]}\')\n')
    elif report == "HUGE":
        script = ('import json\njson.dump({"model":"M","task":"t","timestamp":"x","results":[{"type":"q",'
                  '"name":"n"*2000000,"value":1,"measure":"m"}]}, open("report.json","w"))\n')
    else:
        script = REPORT_SCRIPT.replace("{REPORT}", repr(report))
    good = {"model": "M", "task": "t", "timestamp": "x", "results": [{"type": "q", "name": "ok", "value": 1.5,
                                                                       "measure": "m"}]}
    src = _repo(tmp_path, [{"model": {"name": "M"}, "tasks": [{"name": "t", "command": "run.py {system}"}]}],
                {"run.py": script})
    (tmp_path / "good").mkdir()
    good_src = _repo(tmp_path / "good", [{"model": {"name": "M"}, "tasks": [{"name": "t", "command":
                                                                               "run.py {system}"}]}],
                     {"run.py": REPORT_SCRIPT.replace("{REPORT}", repr(good))})
    for s in (good_src, src):
        assert site.cli("benchmarks", "run", str(s), "-p", "spinnaker").returncode == 0
    site.wait_all()
    harvested = {h["job_id"]: h for h in json.loads(site.cli("benchmarks", "harvest", "--json").stdout)}
    assert harvested[1]["status"] == "harvested"
    assert harvested[2]["status"] == "bad report" and needle in harvested[2]["message"], harvested[2]
    rows = json.loads(site.cli("benchmarks", "results", "--json").stdout)
    assert [(r["name"], r["value"], r["job_id"]) for r in rows] == [("ok", 1.5, 1)]
    with sqlite3.connect(site.db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

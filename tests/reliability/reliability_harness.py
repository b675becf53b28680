"""Reliability harness shared by ``tests/reliability/`` and ``benchmarks/reliability.py``.

* :class:`Cluster`: a private multi-node Slurm (``scripts/test-cluster start --nodes 4 --dir D``) that fault
  scenarios may break (kill a slurmd, restart slurmctld) without touching the shared single-node cluster
  other test sessions use;
* :class:`Site`: an isolated nmcluster site (own job root and ``site.toml``) on that cluster, driven through
  the real CLI in subprocesses, plus direct read-only access to its job store for consistency checks;
* scenarios (``run_load``, ``node_killed``, ``slurmctld_restarted``, ``slurmctld_down``, ``runner_killed``,
  ``disk_full``, ``store_writer_killed``): each injects real faults and returns a :class:`Outcome` whose
  ``problems`` list is empty when the toolkit behaved; the tests assert on it and the benchmark prints
  the figures.

Everything is bounded (timeouts everywhere) because the machine is small and shared.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TEST_CLUSTER = REPO / "scripts" / "test-cluster"
NMCLUSTER = [sys.executable, "-m", "nmcluster.cli.main"]
FINAL = ("finished", "error")
#: what must never reach a user's terminal
LEAKS = re.compile(r"Traceback \(most recent call last\)|database is locked|sqlite3\.", re.IGNORECASE)

EXPERIMENT_MAIN = """\
import json, os, sys, time
t0 = time.time()
print("started", sys.argv[1:], flush=True)
time.sleep(float(os.environ.get("SLEEP", "0")))
ran = os.environ.get("RAN_LOG")
if ran:  # one short O_APPEND write per run: atomic, so concurrent jobs never interleave
    with open(ran, "a") as fh:
        fh.write(f"{os.environ.get('NMCLUSTER_JOB_ID')} {' '.join(sys.argv[1:])}\\n")
json.dump({"start": t0, "end": time.time(), "argv": sys.argv[1:], "node": os.environ.get("SLURMD_NODENAME"),
           "station": os.environ.get("MY_STAGE1_STATION"), "licenses": os.environ.get("SLURM_HARDWARE_LICENSES")},
          open("times.json", "w"))
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def make_experiment(path: Path) -> Path:
    """A small experiment folder: ``main.py`` records when it ran (``times.json``), sleeps ``$SLEEP``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.py").write_text(EXPERIMENT_MAIN)
    os.chmod(path, 0o755)
    os.chmod(path / "main.py", 0o644)
    return path


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g} s")
        time.sleep(interval)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


def _free_port_block(n: int) -> int:
    """A base port with ``n`` consecutive free TCP ports (the cluster's slurmctld + one per slurmd)."""
    rng = random.Random(os.getpid() ^ int(time.time()))
    for _ in range(200):
        base = rng.randrange(30000, 59000, 10)
        ok = True
        for port in range(base, base + n):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no block of free ports found")


def prerequisites() -> str | None:
    """Why a private cluster cannot be started here (None: it can)."""
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged") if not shutil.which(b)]
    if missing:
        return f"Slurm is not installed (missing {', '.join(missing)})"
    if os.geteuid() != 0:
        return "the reliability cluster must be started as root"
    return None


# ------------------------------------------------------------------------------------------------ cluster
@dataclass
class Cluster:
    """A private multi-node test cluster (its own directory, ports, state, job-completion file)."""

    dir: Path
    nodes: tuple[str, ...]
    conf: Path
    jobcomp: Path
    cpus: int

    @classmethod
    def start(cls, directory: Path | None = None, nodes: int = 4, cpus: int = 16) -> "Cluster":
        d = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="nmcluster-rel-", dir="/tmp"))
        port = _free_port_block(nodes + 1)
        proc = _script(d, "start", "--nodes", str(nodes), "--cpus", str(cpus), "--port", str(port), "--json",
                       timeout=120)
        if proc.returncode != 0:
            _script(d, "stop", timeout=60)
            raise RuntimeError(f"test-cluster start failed: {proc.stderr.strip() or proc.stdout.strip()}")
        info = json.loads(proc.stdout)
        return cls(dir=d, nodes=tuple(info["nodes"]), conf=Path(info["SLURM_CONF"]),
                   jobcomp=Path(info["jobcomp_file"]), cpus=cpus)

    def stop(self, remove: bool = True) -> None:
        _script(self.dir, "stop", timeout=120)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *argv: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(argv), capture_output=True, text=True, env=self.env, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.dir / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _alive(pid) else None

    def ctld_pid(self) -> int | None:
        return self._pid("slurmctld.pid")

    def slurmd_pid(self, node: str) -> int | None:
        return self._pid(f"slurmd-{node}.pid")

    def node_states(self) -> dict[str, str]:
        proc = self.run("sinfo", "-h", "-N", "-o", "%N|%t", check=False, timeout=10)
        return dict(line.split("|", 1) for line in proc.stdout.split() if "|" in line)

    def diagnose(self) -> str:
        """A few lines on what Slurm is doing (for failure messages): node states, queue by state and
        reason, the first pending job."""
        nodes = self.node_states()
        queue = self.run("squeue", "-h", "-o", "%T|%r", check=False, timeout=10).stdout.split("\n")
        counts = Counter(q for q in queue if q)
        first = self.run("squeue", "-h", "-t", "pending", "-S", "-p", "-o", "%i %P %r %b %W", check=False,
                         timeout=10).stdout.split("\n")[:2]
        return f"nodes {nodes}; queue {dict(counts.most_common(6))}; first pending {first}"

    def settle(self, timeout: float = 60) -> list[str]:
        """Bring the cluster back to empty and idle between scenarios: every daemon up, every node
        resumed, every job left over cancelled (after a slurmctld crash Slurm may restore jobs that had
        already ended, and such ghosts block the scheduler for minutes).  Returns the jobs cancelled."""
        if self.ctld_pid() is None or any(self.slurmd_pid(n) is None for n in self.nodes):
            self.restart_missing()
        left = self.run("squeue", "-h", "-o", "%A", check=False).stdout.split()
        if left:
            self.run("scancel", *left, check=False)
        for node, state in self.node_states().items():
            if state.rstrip("*~#") not in ("idle", "mix", "alloc", "comp"):
                self.run("scontrol", "update", f"NodeName={node}", "State=RESUME", check=False)
        wait_until(lambda: not self.run("squeue", "-h", "-o", "%A", check=False).stdout.strip()
                   and all(s.rstrip("*") == "idle" for s in self.node_states().values()), timeout, 0.2,
                   f"cluster settled ({self.diagnose()})")
        return left

    def reset(self) -> None:
        """Stop everything, forget Slurm's state (controller and nodes), start again: after a slurmctld
        crash Slurm hands out job ids it already used, and nodes that remember them refuse those jobs
        (drain + hold) for a while; later scenarios must not inherit that."""
        _script(self.dir, "stop", timeout=120)
        for d in [self.dir / "state", *self.dir.glob("spool-*")]:
            shutil.rmtree(d, ignore_errors=True)
        self.restart_missing()
        self.settle()

    def job_node(self, slurm_id: str) -> str:
        return self.run("squeue", "-h", "-j", slurm_id, "-o", "%N").stdout.strip()

    # -- faults -----------------------------------------------------------------------------------
    def stop_ctld(self, sig: int = signal.SIGTERM) -> None:
        pid = self.ctld_pid()
        if pid is None:
            return
        helpers = _children(pid)  # slurmscriptd: a SIGKILLed slurmctld leaves it behind
        os.kill(pid, sig)
        wait_until(lambda: not _alive(pid), 15, 0.02, "slurmctld exit")
        for child in helpers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)

    def restart_missing(self) -> None:
        """Start whatever daemon is down (``test-cluster start`` restarts only the missing ones)."""
        proc = _script(self.dir, "start", "--json", timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"test-cluster restart failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def job_processes(self, slurm_job_id: str) -> list[int]:
        """slurmstepd and job processes of one Slurm job of this cluster."""
        marker = f"SLURM_CONF={self.conf}".encode()
        stepd = f"[{slurm_job_id}.".encode()
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                env = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline.startswith(b"slurmstepd:") and stepd in cmdline:
                out.append(int(entry.name))
            elif marker in env and f"SLURM_JOB_ID={slurm_job_id}".encode() in env:
                out.append(int(entry.name))
        return out

    def kill_node(self, node: str, reason: str = "reliability test: node killed") -> list[int]:
        """Simulate a dead node: SIGKILL its slurmd and every job process on it, then mark it DOWN
        (what an admin or a health check does when a node does not answer)."""
        jobs = self.run("squeue", "-h", "-w", node, "-o", "%A").stdout.split()
        victims = [p for p in [self.slurmd_pid(node)] if p]
        for job in jobs:
            victims += self.job_processes(job)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.run("scontrol", "update", f"NodeName={node}", "State=DOWN", f"Reason={reason}")
        return victims

    def revive_node(self, node: str) -> None:
        if self.slurmd_pid(node) is None:
            self.run("slurmd", "-f", str(self.conf), "-N", node)
        self.run("scontrol", "update", f"NodeName={node}", "State=RESUME", check=False)
        wait_until(lambda: self.node_states().get(node, "").rstrip("*") in ("idle", "mix", "alloc"), 30, 0.1,
                   f"node {node} back")


def _script(directory: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return subprocess.run([sys.executable, str(TEST_CLUSTER), "--dir", str(directory), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------------------- site
class Site:
    """An isolated nmcluster site: own ``site.toml`` and job root, the real CLI in subprocesses."""

    def __init__(self, root: Path, cluster: Cluster | None = None, executor: str = "slurm",
                 job_root: str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cluster = cluster
        self.job_root = Path(job_root) if job_root else self.root / "jobs"
        self.config = self.root / "site.toml"
        lines = [f'job_root = "{job_root or self.job_root}"', f'executor = "{executor}"']
        if cluster is not None:
            lines += ["[slurm]", f'jobcomp_file = "{cluster.jobcomp}"']
        self.config.write_text("\n".join(lines) + "\n")
        drop = ("MY_STAGE1_STATION", "NMCLUSTER_PARTITION", "NMCLUSTER_WAFER", "NMCLUSTER_HOST")
        self.env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SLURM_")}
        if cluster is not None:
            self.env["SLURM_CONF"] = str(cluster.conf)
        self.env.update(NMCLUSTER_CONFIG=str(self.config), NMCLUSTER_QUIET="1")

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run([*NMCLUSTER, *args], capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})}, cwd=self.root, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"nmcluster {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n"
                                 f"{proc.stderr}")
        return proc

    def submit(self, *args: str, env: dict[str, str] | None = None) -> int:
        return int(self.cli("submit", *args, env=env, check=True).stdout.strip())

    def record(self, job: int) -> dict:
        return json.loads(self.cli("status", str(job), "--json", check=True).stdout)

    def records(self) -> list[dict]:
        return json.loads(self.cli("list", "--all", "--json", check=True, timeout=300).stdout)

    def wait(self, job: int, timeout: float = 60, interval: float = 0.2) -> dict:
        return self.wait_all([job], timeout, interval)[job]

    def wait_all(self, jobs: list[int], timeout: float = 120, interval: float = 0.3) -> dict[int, dict]:
        """Poll ``nmcluster list --json`` (unfinished jobs, refreshed) until none of ``jobs`` is left."""
        wanted = set(jobs)
        deadline = time.monotonic() + timeout
        while True:
            proc = self.cli("list", "--json", timeout=300)
            if proc.returncode == 0:
                open_ids = {r["id"] for r in json.loads(proc.stdout)} & wanted
                if not open_ids:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(open_ids) if proc.returncode == 0 else '?'} of {len(wanted)} jobs "
                                   f"not final after {timeout:g} s (last list: rc {proc.returncode} "
                                   f"{proc.stderr.strip()[:300]})"
                                   + (f"; {self.cluster.diagnose()}" if self.cluster else ""))
            time.sleep(interval)
        return {r["id"]: r for r in self.records() if r["id"] in wanted}

    # -- direct looks at the store (read-only) ----------------------------------------------------------
    @property
    def store_path(self) -> Path:
        return self.job_root / "jobs.sqlite"

    def _open_store(self) -> sqlite3.Connection:
        """Read-only when possible.  A writer killed with its WAL not yet checkpointed leaves a log that a
        read-only connection may not recover ("attempt to write a readonly database"); the next nmcluster
        command recovers it when it opens the store, so do what it does."""
        c = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=30)
        try:
            c.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return c
        except sqlite3.OperationalError as exc:
            c.close()
            if "readonly" not in str(exc):
                raise
        return sqlite3.connect(self.store_path, timeout=30)

    def store_rows(self) -> list[dict]:
        """Every row, 'preparing' ones included (what no command shows)."""
        if not self.store_path.exists():
            return []
        with contextlib.closing(self._open_store()) as c:
            c.row_factory = sqlite3.Row
            if c.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone() is None:
                return []  # a submit killed between creating the file and its schema: no job yet
            return [dict(r) for r in c.execute("SELECT * FROM jobs ORDER BY id")]

    def visible_rows(self) -> list[dict]:
        """The rows commands show (a 'preparing' row is a submission in progress or abandoned half-way)."""
        return [r for r in self.store_rows() if r["status"] != "preparing"]

    def integrity(self) -> str:
        if not self.store_path.exists():
            return "ok"
        with contextlib.closing(self._open_store()) as c:
            return ";".join(r[0] for r in c.execute("PRAGMA integrity_check"))

    def leftovers(self) -> list[str]:
        """Entries of the job root that are neither the store, the lock dir, nor a recorded job's dir."""
        if not self.job_root.exists():
            return []
        known = {str(r["id"]) for r in self.store_rows() if r["status"] != "preparing"}
        return sorted(p.name for p in self.job_root.iterdir()
                      if not p.name.startswith("jobs.sqlite") and p.name != "locks" and p.name not in known)


@dataclass
class Outcome:
    """What a scenario measured; ``problems`` is empty when the toolkit behaved."""

    name: str
    jobs: int = 0
    lost: int = 0
    duplicated: int = 0
    faults: int = 0
    survived: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, condition: bool, message: str) -> bool:
        if not condition:
            self.problems.append(message)
        return condition

    def row(self) -> tuple:
        return (self.name, self.jobs, self.lost, self.duplicated, self.faults, self.survived)


def _leaks(proc: subprocess.CompletedProcess) -> list[str]:
    text = (proc.stderr or "") + (proc.stdout or "")
    return [m.group(0) for m in LEAKS.finditer(text)]


def clean_error(proc: subprocess.CompletedProcess, code: int, needle: str) -> str | None:
    """None if ``proc`` failed the way users should see it: exit ``code``, one line containing ``needle``,
    no traceback; else what was wrong."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode != code:
        return f"exit {proc.returncode} instead of {code}: {proc.stderr.strip()[:400]}"
    if len(lines) != 1 or needle.lower() not in lines[0].lower() or _leaks(proc):
        return f"expected one line with {needle!r}, got: {proc.stderr.strip()[:400]}"
    return None


# --------------------------------------------------------------------------------------------------- load
def run_load(site: Site, experiment: Path, jobs: int = 1000, submitters: int = 8, array: int = 1000,
             hold: bool = False, poll: bool = True, drain_timeout: float = 600,
             partition: tuple[str, ...] = ("-p", "ess", "--wafer", "33")) -> Outcome:
    """``jobs`` submissions by ``submitters`` concurrent streams of ``nmcluster submit`` processes, plus one
    sweep submitted as an ``array``-task job array at the same time, while a poller runs ``nmcluster list``
    (readers and state writers against the same store).  Then every record must be there exactly once and
    final, every job must have run exactly once, and no process may have leaked a traceback or "database
    is locked".  ``hold``: submit held (pure submission throughput), release once all are in."""
    out = Outcome("load", faults=0)
    ran_log = site.root / "ran.log"
    ran_log.write_text("")
    env = {"RAN_LOG": str(ran_log)}
    extra = ("--slurm-opt=--hold",) if hold else ()
    per = [jobs // submitters + (1 if w < jobs % submitters else 0) for w in range(submitters)]
    submitted: dict[str, int] = {}
    failures: list[str] = []
    leaks: list[str] = []
    lock = threading.Lock()
    array_ids: list[int] = []
    stop_poll = threading.Event()
    polls = Counter()

    def worker(w: int) -> None:
        for i in range(per[w]):
            tag = f"load-{w}-{i}"
            proc = site.cli("submit", str(experiment), *partition, "-c", "main.py", "--tag", tag, *extra, env=env)
            with lock:
                leaks.extend(_leaks(proc))
                if proc.returncode == 0 and proc.stdout.strip().isdigit():
                    submitted[tag] = int(proc.stdout.strip())
                else:
                    failures.append(f"{tag}: exit {proc.returncode}: {proc.stderr.strip()[:200]}")

    def sweep() -> None:
        if not array:
            return
        proc = site.cli("submit", str(experiment), *partition, "-c", "main.py {task}", "--array", str(array),
                        "--tag", "sweep", *extra, env=env, timeout=600)
        with lock:
            leaks.extend(_leaks(proc))
            if proc.returncode == 0:
                array_ids.extend(int(x) for x in proc.stdout.split())
            else:
                failures.append(f"sweep: exit {proc.returncode}: {proc.stderr.strip()[:300]}")

    def poller() -> None:
        while not stop_poll.wait(0.5):
            proc = site.cli("list", "--json", timeout=300)
            with lock:
                polls["ok" if proc.returncode == 0 else "failed"] += 1
                leaks.extend(_leaks(proc))
                if proc.returncode != 0:
                    failures.append(f"list: exit {proc.returncode}: {proc.stderr.strip()[:200]}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(submitters)]
    threads.append(threading.Thread(target=sweep))
    pt = threading.Thread(target=poller)
    if poll:
        pt.start()
    for t in threads:
        t.start()
    for t in threads[:-1]:
        t.join()
    t_jobs = time.monotonic() - t0
    threads[-1].join()
    t_all = time.monotonic() - t0
    stop_poll.set()
    if poll:
        pt.join()
    if hold:
        slurm_ids = sorted({r["external_id"].split("_")[0] for r in site.store_rows() if r["external_id"]})
        for start in range(0, len(slurm_ids), 200):
            site.cluster.run("scontrol", "release", ",".join(slurm_ids[start:start + 200]), check=False)
    all_ids = list(submitted.values()) + array_ids
    try:
        final = site.wait_all(all_ids, timeout=drain_timeout, interval=1.0)
    except TimeoutError as exc:
        out.problems.append(f"{exc}; {site.cluster.diagnose() if site.cluster else ''}")
        final = {r["id"]: r for r in site.records() if r["id"] in set(all_ids)}
    t_drain = time.monotonic() - t0

    records = site.records()
    rows = site.store_rows()
    by_tag = Counter(tag for r in records for tag in r["tags"])
    out.jobs = jobs + array
    out.figures.update(submit_seconds=round(t_jobs, 2), submissions_per_s=round(jobs / t_jobs, 2),
                       sweep_seconds=round(t_all, 2), drained_seconds=round(t_drain, 2), polls=dict(polls))
    out.seconds = t_drain
    ids = [r["id"] for r in records]
    out.check(len(ids) == len(set(ids)), "a job id appears twice in the store")
    missing_tags = [f"load-{w}-{i}" for w in range(submitters) for i in range(per[w])
                    if by_tag[f"load-{w}-{i}"] == 0]
    dup_tags = [t for t, n in by_tag.items() if t.startswith("load-") and n > 1]
    out.lost = len(missing_tags) + max(0, array - by_tag["sweep"])
    out.duplicated = len(dup_tags) + max(0, by_tag["sweep"] - array)
    out.check(not failures, f"{len(failures)} failed commands, e.g. {failures[:3]}")
    out.check(not leaks, f"leaked to users: {Counter(leaks).most_common(3)}")
    out.check(set(ids) == set(all_ids), f"store ids differ from the ids printed: "
                                        f"{len(set(all_ids) - set(ids))} missing, {len(set(ids) - set(all_ids))} extra")
    out.check(not missing_tags and not dup_tags, f"lost {missing_tags[:5]}, duplicated {dup_tags[:5]}")
    sweep_cmds = Counter(r["command"] for r in records if "sweep" in r["tags"])
    out.check(sorted(sweep_cmds) == sorted(f"main.py {i}" for i in range(array)) and
              all(n == 1 for n in sweep_cmds.values()), "sweep tasks missing or doubled")
    not_final = [r["id"] for r in final.values() if r["status"] not in FINAL]
    not_finished = [(r["id"], r["status"], r["reason"]) for r in final.values() if r["status"] != "finished"]
    out.check(not not_final, f"{len(not_final)} records never became final: {not_final[:5]}")
    out.check(not not_finished, f"{len(not_finished)} jobs did not finish: {not_finished[:5]}")
    externals = [r["external_id"] for r in records]
    out.check(len(externals) == len(set(externals)), "two records share one Slurm job")
    out.check(not [r for r in rows if r["status"] == "preparing"], "half-submitted ('preparing') rows left")
    out.check(site.integrity() == "ok", f"store integrity: {site.integrity()}")
    out.check(not site.leftovers(), f"stray entries in the job root: {site.leftovers()[:5]}")
    runs = Counter(line.split()[0] for line in ran_log.read_text().splitlines() if line.strip())
    out.check(set(runs) == {str(i) for i in all_ids} and all(n == 1 for n in runs.values()),
              f"jobs that did not run exactly once: {[(k, v) for k, v in runs.items() if v != 1][:5]}, "
              f"never ran: {len({str(i) for i in all_ids} - set(runs))}")
    out.survived = out.jobs - out.lost - len(not_finished)
    return out


def sbatch_rate(cluster: Cluster, workdir: Path, jobs: int = 1000, submitters: int = 8,
                hold: bool = False) -> Outcome:
    """The peer: the same number of bare ``sbatch`` calls from the same number of concurrent streams."""
    out = Outcome("bare sbatch")
    script = workdir / "true.sbatch"
    script.write_text("#!/bin/sh\ntrue\n")
    per = [jobs // submitters + (1 if w < jobs % submitters else 0) for w in range(submitters)]
    ids: list[str] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        for _ in range(per[w]):
            proc = cluster.run("sbatch", "--parsable", "-p", "batch", "--output=/dev/null",
                               *(["--hold"] if hold else []), str(script), check=False)
            with lock:
                if proc.returncode == 0:
                    ids.append(proc.stdout.strip())
                else:
                    out.problems.append(proc.stderr.strip()[:200])

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(submitters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if hold:
        for start in range(0, len(ids), 200):
            cluster.run("scontrol", "release", ",".join(ids[start:start + 200]), check=False)
    wait_until(lambda: not cluster.run("squeue", "-h", "-o", "%i", check=False).stdout.strip(), 600, 0.5,
               "bare jobs drained")
    out.jobs = len(ids)
    out.seconds = elapsed
    out.figures.update(submit_seconds=round(elapsed, 2), submissions_per_s=round(len(ids) / elapsed, 2),
                       drained_seconds=round(time.monotonic() - t0, 2))
    return out


# ------------------------------------------------------------------------------------------------- faults
def _running(site: Site, job: int, timeout: float = 60) -> dict:
    """Wait until the job's runner has started the command (runner.json and the job's first line)."""
    def started():
        rec = site.record(job)
        if rec["status"] in FINAL:
            raise AssertionError(f"job {job} ended before the fault could be injected: {rec}")
        runner = Path(rec["job_dir"]) / "runner.json"
        log = Path(rec["job_dir"]) / "job.log"
        with contextlib.suppress(OSError, ValueError):
            if rec["status"] == "running" and "started" in log.read_text():
                return {**rec, "runner": json.loads(runner.read_text())}
        return None
    return wait_until(started, timeout, 0.1, f"job {job} running")


def node_killed(site: Site, experiment: Path, requeue: bool = True) -> Outcome:
    """Kill the node under a running job (slurmd and every process of the job, then mark it DOWN).
    With requeue (Slurm's default for batch jobs) the job must run again elsewhere and finish; with
    ``--no-requeue`` it must end in ``error`` with the reason.  Never stuck in ``running``."""
    cluster = site.cluster
    out = Outcome(f"node killed under a running job ({'requeue' if requeue else 'no requeue'})", jobs=1, faults=1)
    t0 = time.monotonic()
    opts = () if requeue else ("--slurm-opt=--no-requeue",)
    job = site.submit(str(experiment), "-p", "ess", "--wafer", "33", "-c", "main.py", *opts, env={"SLEEP": "5"})
    rec = _running(site, job)
    node = cluster.job_node(rec["external_id"])
    cluster.kill_node(node)
    try:
        final = site.wait(job, timeout=90)
    except TimeoutError:
        final = site.record(job)
        out.problems.append(f"job stuck in {final['status']} after its node {node} died: {final}")
    finally:
        cluster.revive_node(node)
        cluster.settle()
    out.figures.update(node=node, status=final["status"], reason=final["reason"])
    if requeue:
        if final["status"] == "finished":
            times = json.loads((Path(final["job_dir"]) / "work" / "times.json").read_text())
            out.check(times["node"] != node, f"finished, but on the dead node {node}?")
            out.figures["rerun_on"] = times["node"]
        else:
            out.check(final["status"] == "error" and final["reason"], f"neither requeued nor an error: {final}")
    else:
        out.check(final["status"] == "error" and "node fail" in final["reason"].lower(),
                  f"expected error with reason 'node fail': {final['status']} {final['reason']!r}")
    out.survived = int(not out.problems)
    out.seconds = time.monotonic() - t0
    return out


def slurmctld_restarted(site: Site, experiment: Path, jobs: int = 6) -> Outcome:
    """Restart slurmctld while jobs run and queue (same station, so they are serialised): during the
    outage commands fail cleanly; after it every job finishes, exactly once, with the right state."""
    cluster = site.cluster
    out = Outcome("slurmctld restarted mid-run", jobs=jobs, faults=1)
    t0 = time.monotonic()
    # The first job outlives the poll that sees it running (each poll is a CLI start, over a second on a
    # loaded machine) and the outage after it, so the fault always lands while it runs.
    ids = [site.submit(str(experiment), "-p", "spikey", "--station", "501", "-c", "main.py",
                       env={"SLEEP": "8" if k == 0 else "1"})
           for k in range(jobs)]
    _running(site, ids[0])
    before = {r["id"] for r in site.store_rows()}
    slurmds = {n: cluster.slurmd_pid(n) for n in cluster.nodes}
    cluster.stop_ctld(signal.SIGTERM)
    outage = time.monotonic()
    try:
        status = site.cli("status", str(ids[-1]))
        if status.returncode != 0:
            problem = clean_error(status, 1, "Slurm is not answering")
            out.check(problem is None, f"status during the outage: {problem}")
        sub = site.cli("submit", str(experiment), "-p", "spikey", "--station", "501", "-c", "main.py")
        problem = clean_error(sub, 1, "Slurm is not answering")
        out.check(problem is None, f"submit during the outage: {problem}")
        out.check({r["id"] for r in site.store_rows()} == before, "the failed submit left a record")
        time.sleep(max(0.0, 3.0 - (time.monotonic() - outage)))
    finally:
        cluster.restart_missing()
    out.figures["outage_s"] = round(time.monotonic() - outage, 2)
    out.check({n: cluster.slurmd_pid(n) for n in cluster.nodes} == slurmds,
              "the slurmd daemons were restarted too (only slurmctld should have been)")
    try:
        final = site.wait_all(ids, timeout=120)
    except TimeoutError as exc:
        out.problems.append(str(exc))
        final = {r["id"]: r for r in site.records() if r["id"] in ids}
    bad = [(i, r["status"], r["reason"]) for i, r in final.items() if r["status"] != "finished"]
    out.check(not bad and len(final) == jobs, f"jobs not finished after the restart: {bad}")
    spans = []
    for r in final.values():
        with contextlib.suppress(OSError, ValueError):
            t = json.loads((Path(r["job_dir"]) / "work" / "times.json").read_text())
            spans.append((t["start"], t["end"]))
    spans.sort()
    out.check(len(spans) == jobs, f"only {len(spans)} of {jobs} jobs left their timestamps")
    out.check(all(b[0] >= a[1] - 1e-3 for a, b in zip(spans, spans[1:])), "jobs on one station overlapped")
    out.check({r["id"] for r in site.store_rows()} == before, "records appeared or vanished")
    cluster.settle()
    out.survived = jobs - len(bad)
    out.seconds = time.monotonic() - t0
    return out


def slurmctld_down(site: Site, experiment: Path) -> Outcome:
    """slurmctld SIGKILLed right after a job ended: ``submit`` says "Slurm is not answering", exits 1,
    records nothing and leaves no files; the finished job's status is still shown (from its result);
    commands work again after a restart.  A crashed slurmctld restores its last saved state, in which the
    job that had just ended may still be queued: Slurm starts it again, and nmcluster must not run it a
    second time nor change its final record."""
    cluster = site.cluster
    out = Outcome("slurmctld down (SIGKILL)", jobs=4, faults=1)
    t0 = time.monotonic()
    ran = site.root / "ran-down.log"
    ran.write_text("")
    first = [site.submit(str(experiment), "-p", "spikey", "--station", "502", "-c", "main.py",
                         env={"RAN_LOG": str(ran), "SLEEP": "0.3"}) for _ in range(3)]
    done = first[-1]
    result = site.job_root / str(done) / "result.json"
    wait_until(result.exists, 60, 0.01, "the jobs' results")
    cluster.stop_ctld(signal.SIGKILL)  # the moment the last one ends: before slurmctld saved all that
    before_kill = {j: site.record(j) for j in first}  # from their result.json, without Slurm
    rows_before = site.store_rows()
    try:
        t_sub = time.monotonic()
        sub = site.cli("submit", str(experiment), "-p", "ess", "--wafer", "33", "-c", "main.py")
        out.figures["submit_error_s"] = round(time.monotonic() - t_sub, 2)
        problem = clean_error(sub, 1, "Slurm is not answering")
        out.check(problem is None, f"submit with slurmctld down: {problem}")
        out.check(site.store_rows() == rows_before, "a record was written although nothing was queued")
        out.check(not site.leftovers(), f"files left behind: {site.leftovers()}")
        out.check(before_kill[done]["status"] == "finished", f"status of a finished job with slurmctld down: "
                                                             f"{before_kill[done]['status']} {before_kill[done]['reason']}")
    finally:
        cluster.restart_missing()
    again = site.cli("submit", str(experiment), "-p", "ess", "--wafer", "33", "-c", "main.py")
    out.check(again.returncode == 0, f"submit after slurmctld came back: {again.stderr.strip()[:200]}")
    if again.returncode == 0:
        job = int(again.stdout)
        with contextlib.suppress(TimeoutError):  # final, or held by Slurm (see below)
            wait_until(lambda: (lambda r: r["status"] in FINAL or "held" in r["reason"])(site.record(job)), 20, 0.3)
        rec = site.record(job)
        reused = rec["external_id"] in {r["external_id"] for r in rows_before}
        out.figures.update(slurm_reused_a_job_id=reused, new_job=f"{rec['status']} {rec['reason']}".strip())
        # Slurm restored from older state may give the new job an id it already gave to an ended job
        # (slurmd then refuses the launch, drains the node, holds the job), or queue it behind restored
        # jobs that no longer exist on their nodes.  nmcluster must show that, not a wrong state.
        out.check(rec["status"] == "finished" or rec["status"] == "submitted" and rec["reason"],
                  f"job after the restart: {rec['status']} {rec['reason']!r} (Slurm id {rec['external_id']}, "
                  f"reused: {reused})")
    # Slurm may start the jobs that had ended before the crash again (its restored state has them
    # queued): give it the time to, then every job must have run exactly once with its record unchanged
    ghosts = {before_kill[j]["external_id"] for j in first}
    new_ids = {site.record(int(again.stdout))["external_id"]} if again.returncode == 0 else set()

    def ghosts_settled() -> bool:
        left = cluster.run("squeue", "-h", "-j", ",".join(ghosts - new_ids) or "0", "-t",
                           "pending,running,completing", "-o", "%r", check=False).stdout
        return all("held" in ln.lower() for ln in left.split("\n") if ln.strip())
    with contextlib.suppress(TimeoutError):
        wait_until(ghosts_settled, 20, 0.5)
    runs = Counter(ln.split()[0] for ln in ran.read_text().splitlines() if ln.strip())
    out.check(sorted(runs.values()) == [1, 1, 1], f"jobs that ended before the crash ran {dict(runs)} times")
    for j in first:
        after = site.record(j)
        out.check(after["status"] == "finished" and
                  after["timestamp_completion"] == before_kill[j]["timestamp_completion"],
                  f"the final record of job {j} changed: {after['status']} {after['reason']}")
    out.figures["restarted_by_slurm_refused"] = sum(
        "not running it twice" in (site.job_root / str(j) / "job.log").read_text() for j in first)
    cluster.reset()
    out.survived = out.jobs if not out.problems else 0
    out.seconds = time.monotonic() - t0
    return out


def runner_killed(site: Site, experiment: Path) -> Outcome:
    """SIGKILL the job runner of a running job: the record ends in ``error`` with a reason, the log
    written so far is kept, and no process of the job lives on."""
    out = Outcome(f"job runner SIGKILLed ({'slurm' if site.cluster else 'local'})", jobs=1, faults=1)
    t0 = time.monotonic()
    job = site.submit(str(experiment), "-p", "ess", "--wafer", "33", "-c", "main.py", env={"SLEEP": "30"})
    rec = _running(site, job)
    runner_pid = int(rec["runner"]["pid"])
    children = _children(runner_pid)
    os.kill(runner_pid, signal.SIGKILL)
    try:
        final = site.wait(job, timeout=60)
    except TimeoutError:
        final = site.record(job)
        out.problems.append(f"stuck in {final['status']} after the runner was killed")
    out.check(final["status"] == "error" and final["reason"], f"expected error with a reason: {final}")
    log = site.cli("log", str(job))
    out.check(log.returncode == 0 and "started" in log.stdout and "running" in log.stdout,
              f"the log was not kept: {log.stdout[-300:]!r} {log.stderr.strip()[:200]}")
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not any(_alive(c) for c in children), 10, 0.1)
    out.check(not any(_alive(c) for c in children), f"the job's command outlived its runner: {children}")
    for c in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(c, signal.SIGKILL)
    out.figures.update(status=final["status"], reason=final["reason"])
    out.survived = int(not out.problems)
    out.seconds = time.monotonic() - t0
    return out


# ---------------------------------------------------------------------------------------------- disk full
@contextlib.contextmanager
def small_filesystem(path: Path, size_kib: int = 1024):
    """Mount a small file system at ``path``: tmpfs, else a loop-mounted ext2 image.  Yields the kind;
    raises OSError when this machine allows neither (not root, no CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    kind = None
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    image = path.with_suffix(".img")
    if proc.returncode == 0:
        kind = "tmpfs"
    elif shutil.which("mkfs.ext2"):
        with open(image, "wb") as fh:
            fh.truncate(size_kib * 1024)
        mk = subprocess.run(["mkfs.ext2", "-q", "-F", str(image)], capture_output=True, text=True)
        lo = subprocess.run(["mount", "-o", "loop", str(image), str(path)], capture_output=True, text=True)
        if mk.returncode == 0 and lo.returncode == 0:
            kind = "loop"
    if kind is None:
        image.unlink(missing_ok=True)
        raise OSError(f"cannot mount a small file system here: {proc.stderr.strip()}")
    try:
        yield kind
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        image.unlink(missing_ok=True)


def _fill(fs: Path, leave_bytes: int) -> Path:
    """Fill the file system at ``fs`` until about ``leave_bytes`` are free."""
    filler = fs / "filler"
    st = os.statvfs(fs)
    free = st.f_bavail * st.f_frsize
    with open(filler, "ab") as fh:
        with contextlib.suppress(OSError):
            fh.write(b"\0" * max(0, free - leave_bytes))
    return filler


def disk_full(site_root: Path, experiment: Path, cluster: Cluster | None, size_kib: int = 1024) -> Outcome:
    """The job root on a small file system: (1) code larger than the free space, (2) the disk filled to
    every level from nothing to a few pages free: each submission either succeeds completely or fails
    with a clear error (exit 1), leaving no record, no directory, no staging leftovers; the store stays
    readable and its earlier jobs intact; after space is freed, submitting works again."""
    out = Outcome("disk full on the job root")
    t0 = time.monotonic()
    mnt = site_root / "smallfs"
    with small_filesystem(mnt, size_kib) as kind:
        out.figures["filesystem"] = f"{kind} {size_kib} KiB"
        site = Site(site_root / "site", cluster, executor="slurm" if cluster else "local",
                    job_root=str(mnt / "jobs"))
        first = site.submit(str(experiment), "-p", "ess", "--wafer", "33", "-c", "main.py")
        site.wait(first)
        baseline = site.visible_rows()
        big = make_experiment(site_root / "big")
        (big / "data.bin").write_bytes(os.urandom(size_kib * 1024 * 2))
        proc = site.cli("submit", str(big), "-p", "ess", "--wafer", "33", "-c", "main.py")
        out.faults += 1
        problem = clean_error(proc, 1, "No space left on device")
        out.check(problem is None, f"code larger than the disk: {problem}")
        out.check(site.visible_rows() == baseline and not site.leftovers(),
                  f"partial job left after a full disk: {site.leftovers()}")
        accepted = []
        for leave in [0, 1024, 4096, 8192, 12288, 16384, 24576, 32768, 49152, 65536]:
            filler = _fill(mnt, leave)
            before = site.visible_rows()
            proc = site.cli("submit", str(experiment), "-p", "ess", "--wafer", "33", "-c", "main.py",
                            "--slurm-opt=--hold" if cluster else "--tag=x")
            out.faults += 1
            if proc.returncode == 0:
                job = int(proc.stdout)
                accepted.append(job)
                rows = {r["id"]: r for r in site.visible_rows()}
                out.check(rows.get(job, {}).get("status") == "submitted" and
                          (mnt / "jobs" / str(job) / "job.json").is_file(),
                          f"accepted with {leave} B free but incomplete: {rows.get(job)}")
            else:
                problem = clean_error(proc, 1, "")
                out.figures.setdefault("errors", set()).add(re.sub(r"\d+", "N", proc.stderr.strip()))
                out.check(problem is None, f"{leave} B free: {problem}")
                out.check("space" in proc.stderr.lower() or "full" in proc.stderr.lower(),
                          f"{leave} B free: the error does not say the disk is full: {proc.stderr.strip()}")
                out.check(site.visible_rows() == before, f"{leave} B free: the store changed")
                out.check(not site.leftovers(), f"{leave} B free: partial job left: {site.leftovers()}")
            filler.unlink()
        out.check(site.integrity() == "ok", f"store damaged: {site.integrity()}")
        out.check([r for r in site.store_rows() if r["id"] == first] == [r for r in baseline if r["id"] == first],
                  "the earlier job's record changed")
        again = site.cli("submit", str(experiment), "-p", "ess", "--wafer", "33", "-c", "main.py")
        out.check(again.returncode == 0, f"submit after freeing space: {again.stderr.strip()[:200]}")
        if again.returncode == 0:
            accepted.append(int(again.stdout))
        out.check(not [r for r in site.store_rows() if r["status"] == "preparing"],
                  "rows of failed submissions were not cleaned up by the next submit")
        for job in accepted:
            site.cli("cancel", str(job))
        with contextlib.suppress(TimeoutError):
            site.wait_all(accepted, timeout=60)
        out.jobs = out.faults + 1
        out.figures["accepted_when_tight"] = len(accepted)
    out.survived = out.faults if not out.problems else 0
    out.seconds = time.monotonic() - t0
    return out


# ------------------------------------------------------------------------------------------ data safety
STORE_WRITER = r"""
import random, sys, time
from pathlib import Path
from nmcluster.jobs.store import JobStore
path, seed = Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
store = JobStore(path)
print("open", flush=True)
while True:
    op = rng.random()
    live = [r.id for r in store.list(include_final=True, limit=50)]
    if op < 0.5 or not live:
        i = store.insert(status="submitted", code="exp", command="main.py " + "x" * rng.randrange(0, 3000),
                         platform="spikey", user="u", timestamp_submission=time.time(),
                         tags=[f"s{seed}"], hardware_config={"STATION": "station500"})
        print("insert", i, flush=True)
    elif op < 0.85:
        i = rng.choice(live)
        status = rng.choice(["running", "finished", "error"])
        store.update(i, status=status, reason="r" * rng.randrange(0, 2000), output_data=["a", "b"])
        print("update", i, status, flush=True)
    else:
        i = rng.choice(live)
        store.delete(i)
        print("delete", i, flush=True)
"""


def store_writer_killed(root: Path, trials: int = 100, seed: int = 1) -> Outcome:
    """SIGKILL a job-store writer (inserts, updates, deletes through :class:`JobStore`) at random points,
    ``trials`` times on the same store.  After each kill the store must open, pass SQLite's integrity
    check and hold every change the writer had reported as done (at most the one in flight may or may not
    be there): the previous state is intact."""
    out = Outcome("job-store writer SIGKILLed", faults=trials)
    t0 = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    path = root / "jobs.sqlite"
    rng = random.Random(seed)
    model: dict[int, str] = {}  # id -> status the writer acknowledged
    for trial in range(trials):
        proc = subprocess.Popen([sys.executable, "-c", STORE_WRITER, str(path), str(seed * 1000 + trial)],
                                stdout=subprocess.PIPE, text=True, cwd=str(REPO))
        # kill at a random moment: sometimes during start-up/open, mostly in the write loop
        time.sleep(rng.choice([rng.uniform(0.0, 0.08), rng.uniform(0.05, 0.4)]))
        proc.send_signal(signal.SIGKILL)
        lines, _ = proc.communicate(timeout=30)
        # only complete lines count as acknowledged (the kill may cut the last one)
        acked = [ln.split() for ln in lines.split("\n")[:-1] if len(ln.split()) >= 2]
        inflight_ok: set[int] = set()
        for parts in acked:
            if parts[0] == "insert":
                model[int(parts[1])] = "submitted"
            elif parts[0] == "update":
                model[int(parts[1])] = parts[2]
            elif parts[0] == "delete":
                model.pop(int(parts[1]), None)
        try:
            from nmcluster.jobs.store import JobStore

            with JobStore(path) as store:
                actual = {r.id: r.status for r in store.list(include_final=True)}
            with contextlib.closing(sqlite3.connect(path)) as c:
                check = c.execute("PRAGMA integrity_check").fetchone()[0]
        except Exception as exc:  # noqa: BLE001 - any failure to read back is the finding
            out.problems.append(f"trial {trial}: store unreadable after SIGKILL: {exc!r}")
            continue
        if check != "ok":
            out.problems.append(f"trial {trial}: integrity check: {check}")
        # the one operation in flight may or may not have committed; everything acknowledged must be there
        diff = {i for i in set(model) | set(actual) if model.get(i) != actual.get(i)}
        if len(diff) > 1:
            out.problems.append(f"trial {trial}: {len(diff)} records differ from the acknowledged state, "
                                f"e.g. {sorted(diff)[:3]}")
        for i in diff:  # adopt the in-flight change that did commit
            if i in actual:
                model[i] = actual[i]
            else:
                model.pop(i, None)
        inflight_ok.update(diff)
        out.jobs = max(out.jobs, max(actual, default=0))
    out.survived = trials - len({p.split(":")[0] for p in out.problems})
    out.figures.update(records_at_end=len(model))
    out.seconds = time.monotonic() - t0
    return out


# -------------------------------------------------------------------------------------------- the table
def table(outcomes: list[Outcome]) -> str:
    head = ("scenario", "jobs", "lost", "duplicated", "faults injected", "survived")
    rows = [head] + [tuple(str(x) for x in o.row()) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def submit_killed(site: Site, experiment: Path, trials: int = 20, seed: int = 2) -> Outcome:
    """SIGKILL ``nmcluster submit`` at random points, ``trials`` times.  After each kill the store must be
    readable and intact, every job a command shows must be complete (directory, job.json, queued), and
    the earlier jobs unchanged; what the killed submission left half-done must be invisible and is
    removed by the next submission."""
    out = Outcome("nmcluster submit SIGKILLed", faults=trials)
    t0 = time.monotonic()
    rng = random.Random(seed)
    hold = ("--slurm-opt=--hold",) if site.cluster else ()
    env = {**site.env}
    seen: dict[int, dict] = {}
    for trial in range(trials):
        proc = subprocess.Popen([*NMCLUSTER, "submit", str(experiment), "-p", "spikey", "-c", "main.py", *hold],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=site.root)
        time.sleep(rng.uniform(0.01, 0.14))
        proc.kill()
        stdout, _ = proc.communicate(timeout=30)
        if stdout.strip().isdigit():
            seen[int(stdout)] = {}
        if site.integrity() != "ok":
            out.problems.append(f"trial {trial}: integrity {site.integrity()}")
        visible = {r["id"]: r for r in site.visible_rows()}
        for job_id, row in visible.items():
            job_dir = site.job_root / str(job_id)
            if row["status"] == "preparing" or not (job_dir / "job.json").is_file() or not row["external_id"]:
                out.problems.append(f"trial {trial}: job {job_id} is shown but incomplete: {row}")
        for job_id in seen:
            if job_id not in visible:
                out.problems.append(f"trial {trial}: job {job_id}, printed by a submit, vanished")
        out.jobs += 1
    # the next submission cleans up what the killed ones left half-done (their processes are gone)
    site.submit(str(experiment), "-p", "spikey", "-c", "main.py", *hold)
    half = [r["id"] for r in site.store_rows() if r["status"] == "preparing"]
    out.check(not half, f"'preparing' rows of killed submissions not cleaned up: {half}")
    out.check(not site.leftovers(), f"staging leftovers not cleaned up: {site.leftovers()}")
    out.figures.update(completed_before_kill=len(seen), visible=len(site.visible_rows()))
    if site.cluster:
        held = site.cluster.run("squeue", "-h", "-t", "pending", "-o", "%A", check=False).stdout.split()
        if held:  # including Slurm jobs of submissions killed between sbatch and their record update
            site.cluster.run("scancel", *held, check=False)
    out.survived = trials - len({p.split(":")[0] for p in out.problems})
    out.seconds = time.monotonic() - t0
    return out


# A fork server: imports h5py and the calibration store once, then forks one writer per trial, so that
# 100 trials do not pay 100 interpreter + h5py start-ups.  Protocol on stdin/stdout: "go SEED ACKFILE" ->
# "pid N"; the parent kills N; "reap N" -> "reaped".
CALIB_ZYGOTE = r"""
import os, random, sys
import numpy as np
from nmcluster.calib.store import CalibStore, Calibration
root = sys.argv[1]
print("ready", flush=True)
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "reap":
        os.waitpid(int(args[0]), 0)
        print("reaped", flush=True)
        continue
    seed, ack = int(args[0]), args[1]
    pid = os.fork()
    if pid:
        print("pid", pid, flush=True)
        continue
    rng = random.Random(seed)
    store = CalibStore(root)
    fd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    n = 0
    while True:
        n += 1
        value = float(seed * 1000 + n)
        if rng.random() < 0.8 or store.current("station500") is None:
            v = store.commit(Calibration("station500", "spikey", data={
                "neurons/g_leak_factor": np.full(384, value),
                "blob": np.full((rng.randrange(1, 300), 100), value)}), notes=repr(value))
            os.write(fd, f"commit {v} {value!r}\n".encode())
        else:
            target = rng.randrange(1, store.current("station500") + 1)
            store.set_current("station500", target)
            os.write(fd, f"current {target}\n".encode())
"""


def calib_writer_killed(root: Path, trials: int = 100, seed: int = 3) -> Outcome:
    """SIGKILL a calibration-store writer (new versions, roll-backs of ``current``) at random points,
    ``trials`` times on the same store.  After each kill the file must open, every version the writer had
    reported must be there complete (its data say which commit it was), and ``current`` must be the last
    reported one or the one in flight: the previous state is intact."""
    import numpy as np

    out = Outcome("calibration writer SIGKILLed", faults=trials)
    t0 = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    store_dir = root / "calib"
    rng = random.Random(seed)
    zygote = subprocess.Popen([sys.executable, "-c", CALIB_ZYGOTE, str(store_dir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        assert zygote.stdout.readline().strip() == "ready"
        from nmcluster.calib.store import CalibStore

        store = CalibStore(store_dir)
        versions: dict[int, float] = {}
        current: int | None = None
        for trial in range(trials):
            ack = root / f"ack-{trial}"
            zygote.stdin.write(f"go {seed * 1000 + trial} {ack}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline().split()[1])
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(pid, signal.SIGKILL)
            zygote.stdin.write(f"reap {pid}\n")
            zygote.stdin.flush()
            zygote.stdout.readline()
            lines = ack.read_text().split("\n")[:-1] if ack.exists() else []
            for parts in (ln.split() for ln in lines):
                if parts[0] == "commit":
                    versions[int(parts[1])] = float(parts[2])
                    current = int(parts[1])
                else:
                    current = int(parts[1])
            try:
                on_disk = {v["version"]: v for v in store.versions("station500")} if versions or \
                    store.path("station500").exists() else {}
                now = store.current("station500") if on_disk else None
                missing = sorted(set(versions) - set(on_disk))
                if missing:
                    out.problems.append(f"trial {trial}: reported versions missing: {missing[:5]}")
                extra = sorted(set(on_disk) - set(versions))
                if len(extra) > 1:
                    out.problems.append(f"trial {trial}: {len(extra)} unreported versions appeared")
                for v in list(versions)[-3:] + extra:  # spot-check contents (the newest, the in-flight one)
                    cal = store.read("station500", v)
                    value = float(cal.meta["notes"]) if v in extra else versions[v]
                    if not (np.all(cal.data["neurons/g_leak_factor"] == value) and np.all(cal.data["blob"] == value)):
                        out.problems.append(f"trial {trial}: version {v} is not complete")
                for v in extra:  # the in-flight commit did land: adopt it
                    versions[v] = float(store.read("station500", v).meta["notes"])
                # current: the reported one, or what the operation in flight set (a new version or a
                # roll-back to an existing one); never missing, never a half-written version
                if current is not None and (now is None or now not in on_disk):
                    out.problems.append(f"trial {trial}: current is {now}, reported {current}")
                if now is not None:
                    cal = store.read("station500")
                    if not np.all(cal.data["neurons/g_leak_factor"] == versions.get(now)):
                        out.problems.append(f"trial {trial}: the current version {now} is not complete")
                current = now
            except Exception as exc:  # noqa: BLE001 - failing to read back is the finding
                out.problems.append(f"trial {trial}: store unreadable after SIGKILL: {exc!r}")
            leftovers = sorted(p.name for p in store_dir.glob(".*.tmp"))
            out.figures["temporaries_seen"] = out.figures.get("temporaries_seen", 0) + len(leftovers)
        out.jobs = len(versions)
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
    out.figures["versions"] = len(versions)
    out.survived = trials - len({p.split(":")[0] for p in out.problems})
    out.seconds = time.monotonic() - t0
    return out

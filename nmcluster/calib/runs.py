"""Calibration runs: measure in chunks (ordinary nmcluster jobs, or local worker processes), then fit and
commit one version.

A run lives in ``<store>/runs/<run id>/``::

    run.json              target, kind, chunks, measurement parameters, submissions (job ids), created
    chunk-<i>.npz         raw result of chunk i (written to a temporary and renamed: complete or absent)
    task-<i>.json         state of chunk i's task: running | done | failed (+ error, host, job, times)
    fit.json              the fit-and-commit step: done (version) | failed (error)

Through the site's executor (:func:`submit_jobs`): the missing chunks are one array of nmcluster jobs on
the hardware's partition, holding what they measure (the station's GRES, the HICANNs' FPGA licences), with
job records like any job (``nmcluster status``, ``log``, ``cancel``; tags ``calibration`` and the run id).
Each task runs ``run.py slot RUN SUBMISSION TASK`` (:data:`TASK_SCRIPT`): it measures its chunk, and the
task that measures the last missing chunk fits all raw results and commits one version to the store
(:func:`fit_if_complete`; the executor protocol has no job dependencies, and the fit needs no second
allocation).  A failed task leaves the run uncommitted; ``nmcluster calib status`` names the failed chunk
and its error.  Starting the same calibration again reuses the newest uncommitted run of the target with
the same parameters and measures only the chunks without a raw result (resume); a run whose chunks are
all measured but whose fit failed gets one job that runs the fit alone.

``--local`` runs the same task and fit functions in worker processes on this machine, without jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nmcluster.calib.store import CalibError, CalibInputError, CalibStore, Calibration, parse_target, target_name


def _job_id() -> int | None:
    """The nmcluster job this process runs in (the runner's ``$NMCLUSTER_JOB_ID``), if any."""
    value = os.environ.get("NMCLUSTER_JOB_ID", "")
    return int(value) if value.isdigit() else None


def _publish(path: Path, write: Any, suffix: str = ".tmp") -> None:
    """Write ``path`` through a new temporary beside it (``write(binary file)``), fsync, rename: readers
    see the old file or the new one.  The run directory lives in a store that others (the admin group)
    may write, so the temporary is created with ``O_EXCL|O_NOFOLLOW`` under an unguessable name: a
    file or link planted there is never followed or written into."""
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}{suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    _publish(path, lambda fh: fh.write(text.encode()))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def backend(kind: str):
    if kind == "spikey":
        from nmcluster.calib import spikey

        return spikey
    from nmcluster.calib import brainscales

    return brainscales


@dataclass
class Run:
    dir: Path

    @property
    def spec(self) -> dict[str, Any]:
        data = _read_json(self.dir / "run.json")
        if data is None:
            raise CalibInputError(f"{self.dir} is not a calibration run (no run.json)")
        return data

    @property
    def id(self) -> str:
        return self.dir.name

    def chunk_file(self, i: int) -> Path:
        return self.dir / f"chunk-{i}.npz"

    def task_file(self, i: int) -> Path:
        return self.dir / f"task-{i}.json"

    def measured(self) -> list[int]:
        return [i for i in range(len(self.spec["chunks"])) if self.chunk_file(i).exists()]

    def missing(self) -> list[int]:
        have = set(self.measured())
        return [i for i in range(len(self.spec["chunks"])) if i not in have]

    def committed(self) -> int | None:
        fit = _read_json(self.dir / "fit.json") or {}
        return int(fit["version"]) if fit.get("state") == "done" else None


def runs_dir(store: CalibStore) -> Path:
    return store.root / "runs"


def list_runs(store: CalibStore, target: str | None = None) -> list[Run]:
    d = runs_dir(store)
    if not d.is_dir():
        return []
    out = [Run(p) for p in sorted(d.iterdir()) if (p / "run.json").exists()]
    if target is not None:
        out = [r for r in out if r.spec.get("target") == target]
    return sorted(out, key=lambda r: r.spec.get("created", 0))


def plan(store: CalibStore, target: str, params: dict[str, Any], chunk_args: dict[str, Any],
         fresh: bool = False) -> tuple[Run, bool]:
    """The run to execute for ``target``: the newest uncommitted run with the same parameters (resume)
    unless ``fresh``, else a new one.  Returns ``(run, resumed)``."""
    kind, number = parse_target(target)
    target = target_name(kind, number)
    be = backend(kind)
    chunks = be.chunks(**chunk_args)
    if not fresh:
        for run in reversed(list_runs(store, target)):
            spec = run.spec
            if run.committed() is None and spec.get("params") == params and spec.get("chunks") == chunks:
                return run, True
    runs_dir(store).mkdir(parents=True, exist_ok=True)
    stamp = f"{target}-{time.strftime('%Y%m%d-%H%M%S')}"
    for k in range(1000):  # unique even for several runs of a target within a second
        d = runs_dir(store) / (stamp if k == 0 else f"{stamp}.{k}")
        try:
            d.mkdir()
            break
        except FileExistsError:
            continue
    _write_json(d / "run.json", {"target": target, "kind": kind, "number": number, "params": params,
                                 "chunks": chunks, "created": time.time(), "store": str(store.root),
                                 "host": socket.gethostname()})
    return Run(d), False


def _params(kind: str, params: dict[str, Any]):
    be = backend(kind)
    return be.MeasureParams(**params)


def run_task(run_dir: Path | str, index: int) -> int:
    """Measure chunk ``index`` of the run (one array task); 0 on success."""
    run = Run(Path(run_dir))
    spec = run.spec
    chunk = spec["chunks"][index]
    tf = run.task_file(index)
    started = time.time()
    base = {"index": index, "chunk": chunk, "host": socket.gethostname(), "start": started,
            "job_id": _job_id(), "slurm_job_id": os.environ.get("SLURM_JOB_ID", ""),
            # where it measured: the hardware's partition and what it holds (the station, the FPGAs)
            "slurm_partition": os.environ.get("SLURM_JOB_PARTITION", ""),
            "station": os.environ.get("MY_STAGE1_STATION", ""),
            "licenses": os.environ.get("SLURM_HARDWARE_LICENSES", "")}
    if run.chunk_file(index).exists():
        _write_json(tf, {**base, "state": "done", "end": time.time(), "note": "already measured"})
        return 0
    _write_json(tf, {**base, "state": "running"})
    try:
        if os.environ.get("NMCLUSTER_CALIB_FAIL_CHUNK") == str(index):  # tests: a failing task
            raise RuntimeError(f"injected failure of chunk {index} (NMCLUSTER_CALIB_FAIL_CHUNK)")
        be = backend(spec["kind"])
        res = be.measure_chunk(spec["number"], chunk, _params(spec["kind"], spec["params"]))
        out = run.chunk_file(index)
        _publish(out, lambda fh: np.savez(fh, **{k: np.asarray(v) for k, v in res.items()}), ".tmp.npz")
    except BaseException as exc:  # noqa: BLE001 - the task's status file must say why
        _write_json(tf, {**base, "state": "failed", "end": time.time(), "error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc(limit=5)})
        return 1
    _write_json(tf, {**base, "state": "done", "end": time.time(), "seconds": time.time() - started})
    return 0


def run_fit(run_dir: Path | str, notes: str = "") -> int:
    """Fit all raw chunk results and commit one version; returns the version (raises on failure)."""
    run = Run(Path(run_dir))
    spec = run.spec
    fit_file = run.dir / "fit.json"
    if run.committed() is not None:
        return int(run.committed())
    started = time.time()
    try:
        missing = run.missing()
        if missing:
            raise CalibError(f"chunks {missing} have no raw result; nothing committed")
        raw = []
        for i, chunk in enumerate(spec["chunks"]):
            with np.load(run.chunk_file(i), allow_pickle=False) as z:
                raw.append((chunk, {k: z[k] for k in z.files}))
        be = backend(spec["kind"])
        res = be.fit(raw, _params(spec["kind"], spec["params"]))
        store = CalibStore(spec["store"])
        cal = Calibration(spec["target"], spec["kind"], data=res["data"], attrs=res.get("attrs", {}),
                          blacklist=res.get("blacklist", {}))
        version = store.commit(cal, notes=notes or f"calibration run {run.id}",
                               source=res.get("source", "emulated"), chip_id=spec["target"],
                               meta={"run": run.id, "params": spec["params"], "chunks": len(spec["chunks"]),
                                     "job_id": _job_id(),
                                     **res.get("meta", {})})
    except BaseException as exc:
        _write_json(fit_file, {"state": "failed", "error": f"{type(exc).__name__}: {exc}", "start": started,
                               "end": time.time(), "job_id": _job_id(),
                               "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")})
        raise
    _write_json(fit_file, {"state": "done", "version": version, "start": started, "end": time.time(),
                           "job_id": _job_id(), "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")})
    return version


def _task_worker(args: tuple[str, int]) -> int:
    return run_task(args[0], args[1])


def _reset(run: Run, todo: list[int]) -> None:
    """Forget the failures of chunks about to be measured again (and of the fit)."""
    for i in todo:
        _write_json(run.task_file(i), {"index": i, "state": "pending", "queued": time.time()})
    fit = _read_json(run.dir / "fit.json")
    if fit is not None and fit.get("state") != "done":
        (run.dir / "fit.json").unlink()


def run_local(run: Run, workers: int = 2, progress: Any = None) -> int:
    """Measure the missing chunks in ``workers`` processes, then fit and commit; returns the version."""
    todo = run.missing()
    _reset(run, todo)
    failed: list[int] = []
    if todo:
        if workers <= 1:
            for i in todo:
                if run_task(run.dir, i) != 0:
                    failed.append(i)
                if progress:
                    progress(i)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
                for i, rc in zip(todo, pool.map(_task_worker, [(str(run.dir), i) for i in todo])):
                    if rc != 0:
                        failed.append(i)
                    if progress:
                        progress(i)
    if failed:
        raise CalibError(failure_report(run))
    return run_fit(run.dir)


# -- as nmcluster jobs ------------------------------------------------------------------------------
#: the job's code (staged as run.py like any script): measure the chunk its array task stands for; the
#: last chunk measured fits and commits (see :func:`run_slot`)
TASK_SCRIPT = '''"""One measurement chunk of an nmcluster calibration run (written by `nmcluster calib run`).

run.py slot RUN_DIR SUBMISSION TASK: measure the chunk that array task TASK of that submission stands
for; the task that measures the last missing chunk fits and commits the new version.
run.py fit RUN_DIR: fit and commit (a run whose chunks were all measured but whose fit failed).
"""
import sys

from nmcluster.calib.runs import main

sys.exit(main(sys.argv[1:]))
'''


def _submission(spec: dict[str, Any], sub: int) -> dict[str, Any]:
    subs = spec.get("submissions") or []
    if not 0 <= sub < len(subs) or not isinstance(subs[sub], dict):
        raise CalibInputError(f"calibration run has no submission {sub}")
    return subs[sub]


def run_slot(run_dir: Path | str, sub: int, task: int) -> int:
    """Array task ``task`` of submission ``sub``: measure its chunk; if that was the last chunk without a
    raw result, fit and commit (so a run needs no dependent fit job: the executor protocol has none, and
    the fit, a few seconds of numpy, runs in the allocation that already holds the hardware).  0 on
    success; a failed fit exits 1 with the error in the job's log and ``fit.json``."""
    run = Run(Path(run_dir))
    todo = _submission(run.spec, sub).get("todo") or []
    if not 0 <= task < len(todo):
        print(f"nmcluster calib: submission {sub} of run {run.id} has no task {task}", file=sys.stderr)
        return 2
    rc = run_task(run.dir, int(todo[task]))
    if rc != 0:
        err = (_read_json(run.task_file(int(todo[task]))) or {}).get("error", "failed")
        print(f"nmcluster calib: chunk {todo[task]} of run {run.id}: {err}", file=sys.stderr)
        return rc
    return fit_if_complete(run)


def fit_if_complete(run: Run) -> int:
    """Fit and commit when every chunk has its raw result, once: tasks that finish together serialise on
    ``fit.lock`` (``flock``: released by the kernel if the holder dies), and the second finds the
    version committed.  0 when nothing was left to do or the commit succeeded, 1 if the fit failed.
    The lock file lives in a store that others (the admin group) may write, so it is taken with
    :mod:`nmcluster.infra.locks` (no link followed, no file it did not create truncated)."""
    from nmcluster.infra import locks

    if run.missing():
        return 0
    try:
        held = locks.acquire(["fit"], run.dir, locks.describe_owner(str(_job_id() or "")))
    except locks.LockRefused as exc:
        print(f"nmcluster calib: fit of run {run.id} refused: {exc}", file=sys.stderr)
        return 1
    try:
        if run.committed() is not None:
            return 0
        try:
            version = run_fit(run.dir)
        except Exception as exc:  # noqa: BLE001 - fit.json says why; the job's log too
            print(f"nmcluster calib: fit of run {run.id} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    finally:
        locks.release(held)
    print(f"nmcluster calib: run {run.id}: committed {run.spec['target']} version {version}")
    return 0


def submit_jobs(run: Run, service: Any, hardware_config: dict[str, Any],
                slurm_options: Sequence[str] = (), collab_id: str | None = None) -> dict[str, Any]:
    """Queue the run's missing chunks as ordinary nmcluster jobs through the site's executor: one array
    (``JobService.submit_array``), one task per chunk, on the hardware's partition with the target's
    hardware config (so each task holds the station's GRES or the HICANNs' FPGA licences, and the
    local executor's station lock).  Every task has a job record: ``nmcluster status``, ``log``,
    ``cancel`` work on it; its tags are ``calibration`` and the run id.  When every chunk is already
    measured but nothing was committed (a failed fit), one job runs the fit alone.

    Returns ``{"jobs": {chunk: job id}, "external": {chunk: executor id}, "fit_job": id | None}`` and
    records it in ``run.json`` (``submissions``).  All or nothing: if the submission is refused, run.json
    is as before."""
    from nmcluster.jobs.spec import JobSpec

    spec = run.spec
    todo = run.missing()
    subs = list(spec.get("submissions") or [])
    sub = len(subs)
    rd = shlex.quote(str(run.dir))
    if todo:
        command = f"run.py slot {rd} {sub} {{task}}"
    elif run.committed() is None:
        command = f"run.py fit {rd}"
    else:
        return {"jobs": {}, "external": {}, "fit_job": None}
    job = JobSpec.create(TASK_SCRIPT, spec["kind"], command=command, hardware_config=hardware_config,
                         tags=("calibration", run.id), collab_id=collab_id)
    entry: dict[str, Any] = {"todo": todo, "submitted": time.time(), "jobs": {}, "external": {},
                             "fit_job": None}
    _write_json(run.dir / "run.json", {**spec, "submissions": [*subs, entry]})  # before any task reads it
    try:
        _reset(run, todo)
        if todo:
            records = service.submit_array(job, len(todo), slurm_options=slurm_options)
            entry["jobs"] = {str(c): r.id for c, r in zip(todo, records)}
            entry["external"] = {str(c): r.external_id for c, r in zip(todo, records)}
        else:
            rec = service.submit(job, slurm_options=slurm_options)
            entry["fit_job"] = rec.id
            entry["external"] = {"fit": rec.external_id}
    except BaseException:
        _write_json(run.dir / "run.json", spec)
        raise
    entry["executor"] = service.executor_name
    data = run.spec
    data["submissions"][sub] = entry
    _write_json(run.dir / "run.json", data)
    return {"jobs": entry["jobs"], "external": entry["external"], "fit_job": entry["fit_job"]}


def run_jobs(run: Run) -> tuple[dict[int, int], list[int]]:
    """The nmcluster job of each chunk (its newest submission) and every job id of the run, in order."""
    latest: dict[int, int] = {}
    every: list[int] = []
    for entry in run.spec.get("submissions") or []:
        if not isinstance(entry, dict):
            continue
        for chunk, job_id in (entry.get("jobs") or {}).items():
            if str(chunk).isdigit() and type(job_id) is int:
                latest[int(chunk)] = job_id
                every.append(job_id)
        if type(entry.get("fit_job")) is int:
            every.append(entry["fit_job"])
    return latest, every


def job_records(service: Any) -> Any:
    """``records(ids) -> {id: record}`` over ``service`` for :func:`status`: brought up to date with the
    executor; ids not in this user's store (another user's run in a shared store) are left out."""
    from nmcluster.errors import NmclusterError

    def records(ids: Sequence[int]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for job_id in dict.fromkeys(ids):
            try:
                out[job_id] = service.store.get(job_id)
            except NmclusterError:
                continue
        try:
            fresh = service.refresh(list(out.values()))
        except NmclusterError:
            fresh = list(out.values())
        return {r.id: r for r in fresh}
    return records


# -- status ----------------------------------------------------------------------------------------
def status(run: Run, records: Any = None) -> dict[str, Any]:
    """State of every chunk and of the fit: the run's files first, then the job records
    (``records(ids) -> {id: record}``, see :func:`job_records`) for queued, cancelled and failed jobs."""
    spec = run.spec
    n = len(spec["chunks"])
    latest, every = run_jobs(run)
    recs: dict[int, Any] = {}
    if records is not None and every:
        with contextlib.suppress(Exception):
            recs = records(every)
    tasks = []
    for i in range(n):
        tf = _read_json(run.task_file(i)) or {}
        state = tf.get("state", "pending")
        if run.chunk_file(i).exists():
            state = "done"
        job_id = latest.get(i)
        rec = recs.get(job_id) if job_id is not None else None
        error = tf.get("error", "")
        if state in ("pending", "running") and rec is not None:
            if rec.final:
                state = "failed"
                error = error or f"job {rec.id} {rec.status}: {rec.reason or 'ended'}"
            elif rec.status == "submitted" and state == "pending":
                state = "queued"
        tasks.append({"index": i, "chunk": spec["chunks"][i], "state": state, "job": job_id,
                      "external_id": rec.external_id if rec is not None else "",
                      "error": error, "host": tf.get("host", ""), "seconds": tf.get("seconds")})
    fit = _read_json(run.dir / "fit.json") or {}
    fit_state = fit.get("state", "pending")
    fit_error = fit.get("error", "")
    done = sum(t["state"] == "done" for t in tasks)
    busy = [r for r in recs.values() if not r.final]
    if fit_state == "pending" and done == n and recs and not busy:
        fit_state, fit_error = "failed", "every job of the run ended without a fit (see their logs)"
    failed = [t for t in tasks if t["state"] == "failed"]
    if fit_state == "done":
        overall = "committed"
    elif failed or fit_state == "failed":
        overall = "failed"
    elif done == n:
        overall = "fitting"
    else:
        overall = "measuring"
    return {"run": run.id, "target": spec["target"], "state": overall, "done": done, "chunks": n,
            "tasks": tasks, "jobs": every, "busy": len(busy),
            "fit": {"state": fit_state, "version": fit.get("version"), "error": fit_error,
                    "job": fit.get("job_id")},
            "created": spec.get("created"), "dir": str(run.dir)}


def failure_report(run: Run, st: dict[str, Any] | None = None) -> str:
    st = st or status(run)
    lines = [f"calibration run {run.id} of {st['target']} failed; nothing committed "
             f"({st['done']} of {st['chunks']} chunks measured)"]
    for t in st["tasks"]:
        if t["state"] == "failed":
            c = t["chunk"]
            lines.append(f"  chunk {t['index']} ({c['step']} {_desc(c)}): {t['error'] or 'failed'}")
    if st["fit"]["state"] == "failed":
        lines.append(f"  fit: {st['fit']['error']}")
    lines.append("  run the same `nmcluster calib run ...` again to resume from the measured chunks")
    return "\n".join(lines)


def _desc(chunk: dict[str, Any]) -> str:
    ids = chunk.get("ids")
    where = f" hicann {chunk['hicann']}" if "hicann" in chunk else ""
    return (f"{ids[0]}..{ids[1] - 1}" if isinstance(ids, list) and len(ids) == 2 else str(ids)) + where


def wait(run: Run, records: Any, timeout: float = 600.0, interval: float = 0.2,
         on_poll=None) -> dict[str, Any]:
    """Poll the run until it committed or failed, backing off like job waits (0.2 s up to 10 s);
    ``on_poll(status)`` sees every status read (a progress display)."""
    from nmcluster.jobs.service import poll_intervals

    deadline = time.monotonic() + timeout
    for pause in poll_intervals(interval):
        st = status(run, records)
        if on_poll is not None:
            on_poll(st)
        busy = st["busy"] > 0 or any(t["state"] in ("queued", "running") for t in st["tasks"])
        if st["state"] == "committed" or (st["state"] == "failed" and not busy):
            return st
        if time.monotonic() > deadline:
            raise CalibError(f"calibration run {run.id} not finished after {timeout:g} s (state {st['state']})")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic()) + 0.01))
    raise AssertionError("not reached")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "task":
        return run_task(args[1], int(args[2]))
    if len(args) == 4 and args[0] == "slot" and args[2].isdigit() and args[3].isdigit():
        try:
            return run_slot(args[1], int(args[2]), int(args[3]))
        except CalibError as exc:
            print(f"nmcluster calib: {exc}", file=sys.stderr)
            return 2
    if len(args) == 2 and args[0] == "fit":
        try:
            v = run_fit(args[1])
        except Exception as exc:  # noqa: BLE001
            print(f"nmcluster calib: fit failed: {exc}", file=sys.stderr)
            return 1
        print(f"committed version {v}")
        return 0
    print("usage: python -m nmcluster.calib.runs task RUN_DIR INDEX | slot RUN_DIR SUBMISSION TASK | fit RUN_DIR",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

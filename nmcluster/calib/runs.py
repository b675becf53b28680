"""Calibration runs: measure in chunks (a Slurm array, or local worker processes), then fit and
commit one version.

A run lives in ``<store>/runs/<run id>/``::

    run.json              target, kind, chunks, measurement parameters, Slurm ids, created
    chunk-<i>.npz         raw result of chunk i (written to a temporary and renamed: complete or absent)
    task-<i>.json         state of chunk i's task: running | done | failed (+ error, host, times)
    fit.json              the fit-and-commit step: done (version) | failed (error)

Slurm: ``sbatch --array=<missing chunks>`` runs ``python -m nmcluster.calib.runs task RUN i`` per
chunk; ``sbatch --dependency=afterok:<array> --kill-on-invalid-dep=yes`` runs ``... fit RUN``, which
fits all raw results and commits one version to the store.  A failed task therefore cancels the fit:
nothing is committed; ``nmcluster calib status`` names the failed chunk and its error.  Starting the
same calibration again reuses the newest uncommitted run of the target with the same parameters and
measures only the chunks without a raw result (resume).

``--local`` runs the same task and fit functions in worker processes on this machine.
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


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
            "slurm_job_id": os.environ.get("SLURM_JOB_ID", ""),
            "slurm_array_task": os.environ.get("SLURM_ARRAY_TASK_ID", ""),
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
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **{k: np.asarray(v) for k, v in res.items()})
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
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
                                     **res.get("meta", {})})
    except BaseException as exc:
        _write_json(fit_file, {"state": "failed", "error": f"{type(exc).__name__}: {exc}", "start": started,
                               "end": time.time(), "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")})
        raise
    _write_json(fit_file, {"state": "done", "version": version, "start": started, "end": time.time(),
                           "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")})
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


# -- Slurm -----------------------------------------------------------------------------------------
def _python() -> str:
    return sys.executable


def submit_slurm(run: Run, site: Any, env: dict[str, str] | None = None,
                 extra_args: Sequence[str] = (), request: Any = None) -> dict[str, Any]:
    """Submit the missing chunks as one array and the dependent fit job; records the ids in run.json.

    ``request`` (the partition's :class:`~nmcluster.partitions.base.ResourceRequest` of the target) is
    what every measurement task holds: on the hardware's partition, with the station's GRES or the
    HICANNs' FPGA licences and their environment, so a task on a real site reaches the chip it measures
    and no job shares it meanwhile.  The fit needs no hardware and runs on the default partition."""
    from nmcluster.infra.slurmcli import SlurmCLI

    spec = run.spec
    todo = run.missing()
    env = dict(os.environ if env is None else env)
    env.setdefault("NMCLUSTER_CALIB_ROOT", spec["store"])
    cli = SlurmCLI(env=env, jobcomp_file=site.slurm.jobcomp_file)
    partition = site.slurm.default_partition
    common = [f"--chdir={run.dir}", *site.slurm.extra_sbatch_args, *extra_args]
    if request is not None:
        measure = [f"--partition={request.slurm_partition}", *request.slurm_args]
        env.update(request.environment)
    else:
        measure = [f"--partition={partition}"]
    py = shlex.quote(_python())
    rd = shlex.quote(str(run.dir))
    ids: dict[str, Any] = {"array_id": None, "tasks": {}}
    dep: list[str] = []
    _reset(run, todo)
    if todo:
        script = run.dir / "task.sbatch"
        script.write_text("#!/bin/sh\n# generated by nmcluster calib: one measurement chunk per array task\n"
                          f'exec {py} -m nmcluster.calib.runs task {rd} "$SLURM_ARRAY_TASK_ID"\n')
        array_id = cli.sbatch(script, [*measure, *common, f"--job-name=calib-{spec['target']}",
                                       f"--array={','.join(str(i) for i in todo)}",
                                       f"--output={run.dir}/task-%a.out"], env=env)
        ids["array_id"] = array_id
        ids["tasks"] = {str(i): f"{array_id}_{i}" for i in todo}
        dep = [f"--dependency=afterok:{array_id}", "--kill-on-invalid-dep=yes"]
    fit_script = run.dir / "fit.sbatch"
    fit_script.write_text("#!/bin/sh\n# generated by nmcluster calib: fit the raw results, commit one version\n"
                          f"exec {py} -m nmcluster.calib.runs fit {rd}\n")
    ids["fit_id"] = cli.sbatch(fit_script, [f"--partition={partition}", *common,
                                            f"--job-name=calib-fit-{spec['target']}", *dep,
                                            f"--output={run.dir}/fit.out"], env=env)
    ids["submitted"] = time.time()
    data = dict(spec)
    data.setdefault("submissions", []).append(ids)
    data["slurm"] = ids
    _write_json(run.dir / "run.json", data)
    return ids


# -- status ----------------------------------------------------------------------------------------
def status(run: Run, slurm: Any | None = None) -> dict[str, Any]:
    """State of every chunk task and of the fit: files first, Slurm for queued/running/cancelled."""
    spec = run.spec
    n = len(spec["chunks"])
    sl = spec.get("slurm") or {}
    infos: dict[str, Any] = {}
    if slurm is not None and sl:
        ids = list(sl.get("tasks", {}).values()) + ([sl["fit_id"]] if sl.get("fit_id") else [])
        with contextlib.suppress(Exception):
            infos = slurm.jobs(ids)
    tasks = []
    for i in range(n):
        tf = _read_json(run.task_file(i)) or {}
        state = tf.get("state", "pending")
        if run.chunk_file(i).exists():
            state = "done"
        sid = sl.get("tasks", {}).get(str(i))
        info = infos.get(sid) if sid else None
        if state in ("pending", "running") and info is not None:
            if info.state in ("CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "FAILED", "BOOT_FAIL"):
                state = "failed"
                tf.setdefault("error", f"Slurm: {info.state} {info.reason}".strip())
            elif info.state == "PENDING" and state == "pending":
                state = "queued"
        tasks.append({"index": i, "chunk": spec["chunks"][i], "state": state, "slurm_id": sid,
                      "error": tf.get("error", ""), "host": tf.get("host", ""),
                      "seconds": tf.get("seconds")})
    fit = _read_json(run.dir / "fit.json") or {}
    fit_state = fit.get("state", "pending")
    finfo = infos.get(sl.get("fit_id")) if sl.get("fit_id") else None
    if fit_state == "pending" and finfo is not None:
        if finfo.state == "CANCELLED" or "DependencyNeverSatisfied" in (finfo.reason or ""):
            fit_state = "cancelled"
        elif finfo.state in ("FAILED", "TIMEOUT", "NODE_FAIL"):
            fit_state = "failed"
        elif finfo.state in ("PENDING", "RUNNING"):
            fit_state = finfo.state.lower()
    failed = [t for t in tasks if t["state"] == "failed"]
    done = sum(t["state"] == "done" for t in tasks)
    if fit_state == "done":
        overall = "committed"
    elif failed or fit_state in ("failed", "cancelled"):
        overall = "failed"
    elif done == n and fit_state in ("pending", "running", "queued"):
        overall = "fitting"
    else:
        overall = "measuring"
    return {"run": run.id, "target": spec["target"], "state": overall, "done": done, "chunks": n,
            "tasks": tasks, "fit": {"state": fit_state, "version": fit.get("version"),
                                    "error": fit.get("error", ""), "slurm_id": sl.get("fit_id")},
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


def wait(run: Run, slurm: Any, timeout: float = 600.0, interval: float = 0.2,
         on_poll=None) -> dict[str, Any]:
    """Poll the run until it committed or failed, backing off like job waits (0.2 s up to 10 s);
    ``on_poll(status)`` sees every status read (a progress display)."""
    from nmcluster.jobs.service import poll_intervals

    deadline = time.monotonic() + timeout
    for pause in poll_intervals(interval):
        st = status(run, slurm)
        if on_poll is not None:
            on_poll(st)
        busy = any(t["state"] in ("pending", "queued", "running") for t in st["tasks"])
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
    if len(args) == 2 and args[0] == "fit":
        try:
            v = run_fit(args[1])
        except Exception as exc:  # noqa: BLE001
            print(f"nmcluster calib: fit failed: {exc}", file=sys.stderr)
            return 1
        print(f"committed version {v}")
        return 0
    print("usage: python -m nmcluster.calib.runs task RUN_DIR INDEX | fit RUN_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

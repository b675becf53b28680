"""Run a benchmark repository's tasks as nmcluster jobs, harvest their reports, and decide what is due.

* :func:`run`: SOURCE (a git repository, URL or path, at a commit or branch; or a folder) with a top-level
  ``benchmarks.json`` -> one job per task and platform through :class:`~nmcluster.jobs.service.JobService`
  (same staging, hardware resources, emulator fallback, records and quotas as any job).  Everything is
  checked before the first job is queued.
* :func:`harvest`: finished jobs' measurement reports (any ``*.json`` output with a ``results`` list),
  validated against the guidebook's schema, stored with provenance (repository, commit, platform, the
  backend that really ran, nmcluster version, calibration version, job id, wall time) in one transaction.
* :func:`watch`: the guidebook's continuous integration (7.1.4) without a daemon: a new commit of a
  registered repository runs its benchmarks unless its message holds ``[skip ci]``/``[ci skip]``; a new
  system configuration (nmcluster version, calibration versions) runs every registered repository.  Run it
  periodically with ``scrontab`` or a systemd timer (README "Benchmarks").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from nmcluster.benchmarks.db import BenchmarkDB
from nmcluster.benchmarks.spec import BenchmarksError, check_report, load, plan, read_report
from nmcluster.config import SiteConfig
from nmcluster.errors import StagingError, UserInputError
from nmcluster.identity import user_name

GIT_TIMEOUT = 300.0
SKIP_MARKERS = ("[skip ci]", "[ci skip]")


class Source(NamedTuple):
    """A checked-out snapshot of the benchmark code."""

    url: str  # what the user named (URL or absolute path): the repository of the provenance
    commit: str  # "" for a plain folder
    path: Path  # the snapshot folder (removed after submission)
    message: str = ""


def _git(args: Sequence[str], cwd: Path | None = None, timeout: float = GIT_TIMEOUT) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    # only ordinary transports: ext:: and fd:: run commands (git's protocol.allow documentation)
    argv = ["git", "-c", "protocol.allow=never", "-c", "protocol.file.allow=always", "-c",
            "protocol.https.allow=always", "-c", "protocol.ssh.allow=always", "-c", "protocol.git.allow=always",
            *args]
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StagingError(f"git {args[0]} did not finish in {timeout:.0f} s") from None
    except FileNotFoundError:
        raise StagingError("git is not installed") from None
    if proc.returncode != 0:
        msg = " ".join((proc.stderr or proc.stdout).split())[:300]
        raise StagingError(f"git {args[0]} failed: {msg}")
    return proc.stdout


def _is_git_source(source: str) -> bool:
    p = Path(source).expanduser()
    return p.is_dir() and (p / ".git").exists() or "://" in source or source.endswith(".git") \
        or source.startswith("git@")


def repo_url(source: str) -> str:
    """The canonical name of a source: absolute path for local ones, the URL otherwise."""
    if "://" in source or source.startswith("git@"):
        return source
    return str(Path(source).expanduser().resolve())


def _mirror(site: SiteConfig, url: str) -> Path:
    """A bare clone of ``url`` in the user's cache, fetched up to date."""
    cache = site.benchmarks.cache_dir or Path(tempfile.gettempdir())
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    mirror = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
    if not (mirror / "HEAD").exists():
        tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=cache))
        try:
            _git(["clone", "--bare", "--quiet", "--", url, str(tmp / "repo.git")])
            (tmp / "repo.git").rename(mirror)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        _git(["fetch", "--quiet", "--prune", "--force", "origin", "+refs/heads/*:refs/heads/*"], cwd=mirror)
    return mirror


def _resolve(site: SiteConfig, url: str, ref: str = "") -> tuple[Path, str, str]:
    """(mirror, commit id, commit message) of ``ref`` (default: HEAD), after one fetch of the mirror."""
    mirror = _mirror(site, url)
    rev = _git(["rev-parse", "--verify", "--quiet", f"{ref or 'HEAD'}^{{commit}}"], cwd=mirror).strip()
    return mirror, rev, _git(["log", "-1", "--format=%B", rev], cwd=mirror)


def head_commit(site: SiteConfig, url: str, ref: str = "") -> tuple[str, str]:
    """(commit id, commit message) of ``ref`` (default: the repository's HEAD)."""
    _mirror_dir, rev, message = _resolve(site, url, ref)
    return rev, message


def _snapshot(mirror: Path, url: str, commit: str, message: str) -> Source:
    """The tree of ``commit`` from the local mirror, in a private temporary directory (no fetch)."""
    tmp = Path(tempfile.mkdtemp(prefix="nmcluster-bench-"))
    try:
        snap = tmp / "src"
        _git(["clone", "--quiet", "--no-checkout", "--", str(mirror), str(snap)])
        _git(["checkout", "--quiet", "--detach", commit], cwd=snap)
        shutil.rmtree(snap / ".git", ignore_errors=True)
        return Source(url, commit, snap, message)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def checkout(site: SiteConfig, source: str, ref: str = "") -> Source:
    """A snapshot of SOURCE at ``ref`` (git) or of the folder, in a private temporary directory."""
    if _is_git_source(source):
        url = repo_url(source)
        mirror, commit, message = _resolve(site, url, ref)
        return _snapshot(mirror, url, commit, message)
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise UserInputError(f"benchmark source {source!r} is neither a git repository nor a folder")
    if ref:
        raise UserInputError(f"--ref {ref!r} needs a git repository; {source} is a plain folder")
    tmp = Path(tempfile.mkdtemp(prefix="nmcluster-bench-"))
    try:
        shutil.copytree(folder, tmp / "src", symlinks=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Source(repo_url(source), "", tmp / "src")


def _task_command(p, site: SiteConfig) -> str:
    """The job command: the task's own, or wrapped by :mod:`nmcluster.benchmarks.task` when it needs
    extra pip installs (into the job's own directory, from the site's allowed index only)."""
    if not p.extra_pip_installs:
        return p.command
    if not site.benchmarks.pip_index:
        raise BenchmarksError(f"task {p.model}/{p.task} on {p.platform} asks for extra_pip_installs "
                              f"({', '.join(p.extra_pip_installs)}), but this site allows none "
                              f"([benchmarks] pip_index is not set)")
    import shlex

    for pkg in p.extra_pip_installs:
        if pkg.startswith("-") or any(c.isspace() for c in pkg):
            raise BenchmarksError(f"task {p.model}/{p.task}: {pkg!r} is not a package requirement")
    pips = " ".join(f"--pip {shlex.quote(x)}" for x in p.extra_pip_installs)
    return f"python -m nmcluster.benchmarks.task --index {shlex.quote(site.benchmarks.pip_index)} {pips} -- {p.command}"


def run(site: SiteConfig, source: str, platforms: Sequence[str] = (), model: str | None = None,
        task: str | None = None, ref: str = "", trigger: str = "manual", env: Mapping[str, str] | None = None,
        warn: Callable[[str], None] | None = None, mode: str = "auto", collab_id: str | None = None,
        snapshot: Source | None = None) -> list[dict[str, Any]]:
    """Submit every planned task; returns the run rows (model, task, platform, job id)."""
    from nmcluster.jobs.service import JobService
    from nmcluster.jobs.spec import JobSpec, normalise_platform

    kinds = [normalise_platform(p) for p in platforms]
    src = snapshot or checkout(site, source, ref)
    try:
        models = load(src.path / "benchmarks.json", warn)
        planned = plan(models, kinds, model, task, site)
        specs = [(p, JobSpec.create(code=str(src.path), platform=p.platform, command=_task_command(p, site),
                                    tags=["benchmark", p.model, p.task], collab_id=collab_id)) for p in planned]
        rows: list[dict[str, Any]] = []
        with JobService(site=site, env=env) as service:
            for p, spec in specs:
                rec = service.submit(spec, mode=mode, code_label=f"{src.url}@{src.commit[:12]}" if src.commit
                                     else src.url)
                rows.append({"repo": src.url, "commit_id": src.commit, "model": p.model, "task": p.task,
                             "platform": p.platform, "job_id": rec.id, "job_root": str(service.job_root()),
                             "user": user_name(), "trigger": trigger})
        with BenchmarkDB(site.benchmarks.database) as db:
            for row, run_id in zip(rows, db.add_runs(rows)):
                row["run_id"] = run_id
        return rows
    finally:
        if snapshot is None:
            shutil.rmtree(src.path.parent, ignore_errors=True)


def harvest(site: SiteConfig, env: Mapping[str, str] | None = None,
            warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Store the reports of this user's finished benchmark jobs; returns one summary per run harvested."""
    from nmcluster import __version__
    from nmcluster.jobs.service import JobService

    warn = warn or (lambda _m: None)
    out = []
    with BenchmarkDB(site.benchmarks.database) as db, JobService(site=site, env=env) as service:
        pending = db.pending_runs(user_name())
        if not pending:
            return []
        by_id = {r.id: r for r in service.list(include_final=True)}
        for run_row in pending:
            rec = by_id.get(run_row["job_id"])
            if rec is None:
                db.finish_run(run_row["id"], "lost", "the job record is gone (removed?)", [])
                continue
            if not rec.final:
                continue
            results, problems = [], []
            if rec.status == "finished":
                work = Path(rec.job_dir) / "work"
                for name in rec.output_data:
                    if not name.endswith(".json"):
                        continue
                    path = work / name
                    try:
                        data = read_report(path)
                        if not isinstance(data, dict) or not ("results" in data or {"model", "task"} <= set(data)):
                            continue  # some other JSON output of the task (a report names results or model+task)
                        report, warnings = check_report(data, run_row["model"], run_row["task"], name)
                    except BenchmarksError as exc:
                        problems.append(str(exc))
                        continue
                    for w in warnings:
                        warn(w)
                    wall = (rec.timestamp_completion - rec.timestamp_start) \
                        if rec.timestamp_completion and rec.timestamp_start else None
                    for r in report["results"]:
                        results.append({
                            "run_id": run_row["id"], "model": report["model"], "task": report["task"],
                            "type": r["type"], "name": r["name"], "measure": r["measure"], "value": float(r["value"]),
                            "units": r.get("units"), "std_dev": r.get("std_dev"), "min": r.get("min"),
                            "max": r.get("max"), "timestamp": str(report["timestamp"]), "platform": run_row["platform"],
                            "backend": rec.backend, "emulated": None if rec.emulated is None else int(rec.emulated),
                            "repo": run_row["repo"], "commit_id": run_row["commit_id"],
                            "nmcluster_version": __version__, "calib_version": rec.calib_version,
                            "job_id": rec.id, "wall_time": wall, "report_file": name})
            if rec.status != "finished":
                status, message = "failed", f"job {rec.id} ended in {rec.status}: {rec.reason or 'see its log'}"
            elif problems:
                status, message = "bad report", "; ".join(problems)
                results = []  # a bad report stores nothing of its run
            elif not results:
                status, message = "no report", f"job {rec.id} wrote no measurement report (*.json with results)"
            else:
                status, message = "harvested", f"{len(results)} results"
            db.finish_run(run_row["id"], status, message, results)
            out.append({"run_id": run_row["id"], "model": run_row["model"], "task": run_row["task"],
                        "platform": run_row["platform"], "job_id": rec.id, "status": status, "message": message})
    return out


def system_fingerprint(site: SiteConfig) -> dict[str, Any]:
    """What the guidebook calls the system configuration: nmcluster's version and the current calibration
    version of every station and HICANN in the store (a change of either reruns every repository)."""
    from nmcluster import __version__

    calib: dict[str, Any] = {}
    try:
        from nmcluster.calib.store import open_store  # noqa: WPS433

        store = open_store(site)
        for target in store.targets():
            calib[str(target)] = store.current(target)
    except Exception:  # noqa: BLE001 - no store yet, or unreadable: counts as "no calibration"
        calib = {}
    return {"nmcluster": __version__, "calibration": calib}


def watch(site: SiteConfig, env: Mapping[str, str] | None = None,
          warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Check every registered repository once, submit what is due, harvest what finished."""
    warn = warn or (lambda _m: None)
    actions: list[dict[str, Any]] = []
    harvested = harvest(site, env, warn)
    with BenchmarkDB(site.benchmarks.database) as db:
        repos = db.repos()
        fingerprint = json.dumps(system_fingerprint(site), sort_keys=True)
        previous = db.get_system("fingerprint")
    system_changed = previous is not None and previous != fingerprint  # the first watch only records it
    for repo in repos:
        try:
            mirror, commit, message = _resolve(site, repo["url"], repo["ref"])  # the one fetch of this repo
        except (StagingError, UserInputError) as exc:
            actions.append({"repo": repo["url"], "action": "error", "message": str(exc)})
            continue
        new_commit = commit != repo["last_commit"]
        skip = any(m in message.lower() for m in SKIP_MARKERS)
        if new_commit and skip:
            actions.append({"repo": repo["url"], "commit": commit, "action": "skipped",
                            "message": "commit message says [skip ci]"})
            with BenchmarkDB(site.benchmarks.database) as db:
                db.set_last_commit(repo["url"], commit)
            continue
        if not new_commit and not system_changed:
            actions.append({"repo": repo["url"], "commit": commit, "action": "up to date"})
            continue
        trigger = "commit" if new_commit else "system change"
        try:
            src = _snapshot(mirror, repo["url"], commit, message)
            try:
                rows = run(site, repo["url"], repo["platforms"], trigger=trigger, env=env, warn=warn, snapshot=src)
            finally:
                shutil.rmtree(src.path.parent, ignore_errors=True)
        except UserInputError as exc:
            actions.append({"repo": repo["url"], "commit": commit, "action": "error", "message": str(exc)})
        else:
            actions.append({"repo": repo["url"], "commit": commit, "action": "submitted", "trigger": trigger,
                            "jobs": [r["job_id"] for r in rows]})
        with BenchmarkDB(site.benchmarks.database) as db:
            db.set_last_commit(repo["url"], commit)
    with BenchmarkDB(site.benchmarks.database) as db:
        db.set_system("fingerprint", fingerprint)
    return [*({"action": "harvested", **h} for h in harvested), *actions]

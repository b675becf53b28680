"""``nmcluster calib``: calibration runs and the versioned calibration store (``nmcluster.calib``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from nmcluster.errors import UserInputError

CTX = {"help_option_names": ["-h", "--help"]}


def _store(root: str | None):
    from nmcluster.calib.store import CalibStore, open_store

    return CalibStore(Path(root)) if root else open_store()


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=1, sort_keys=True, default=str))


def _target(name: str) -> str:
    from nmcluster.calib.store import parse_target, target_name

    return target_name(*parse_target(name))


root_option = click.option("--store", "root", metavar="DIR", envvar="NMCLUSTER_CALIB_ROOT",
                           help="Calibration store directory (default: site config [hardware] calib_dir, "
                                "else your own <data dir>/nmcluster/calib; $NMCLUSTER_CALIB_ROOT).")


@click.group(context_settings=CTX)
def calib() -> None:
    """Calibration runs and the versioned calibration store.

    \b
    Examples:
      nmcluster calib run spikey --station 500            # an array of nmcluster jobs on spikey
      nmcluster calib run spikey --station 500 --local    # same steps on this machine
      nmcluster calib run wafer --wafer 33 --hicann 367,368
      nmcluster calib status
      nmcluster calib cancel station500
      nmcluster calib list
      nmcluster calib show station500 --json
      nmcluster calib diff station500 1 2
      nmcluster calib export station500 ./out
      nmcluster calib blacklist wafer33 add denmem 3,17 --hicann 367
    """


# -- run ---------------------------------------------------------------------------------------------
@calib.command(context_settings=CTX)
@click.argument("kind", metavar="spikey|wafer")
@click.option("--station", metavar="N", help="Spikey station (500 or station500).")
@click.option("--wafer", type=int, metavar="W", help="BrainScaleS wafer id.")
@click.option("--hicann", metavar="H,H", help="HICANNs to calibrate (wafer; default 367).")
@click.option("--local", is_flag=True, help="Run the measurement chunks and the fit on this machine.")
@click.option("--workers", type=int, default=2, show_default=True, help="--local: worker processes.")
@click.option("--chunks", type=int, default=4, show_default=True,
              help="Array tasks per step (Spikey: neuron chunks and driver chunks; wafer: per HICANN).")
@click.option("--reps", type=int, default=4, show_default=True, help="Repetitions (trials) per condition.")
@click.option("--mode", "neuron_target", type=click.Choice(["rate", "taumem"]), default="rate", show_default=True,
              help="Spikey g_leak calibration target: equal firing rate at the reference point, or equal tau_mem.")
@click.option("--fresh", is_flag=True, help="Start a new run instead of resuming an unfinished one.")
@click.option("--wait/--no-wait", default=None, help="Wait for the run's jobs to commit (default: no).")
@click.option("--collab", "collab_id", metavar="ID", help="Collab the jobs are charged to (as submit --collab).")
@click.option("--slurm-opt", "slurm_opts", multiple=True, metavar="OPT",
              help="Extra sbatch option, e.g. --slurm-opt=--time=30 (time, memory, CPUs, name, mail, ...; "
                   "resource options are refused).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@root_option
def run(kind, station, wafer, hicann, local, workers, chunks, reps, neuron_target, fresh, wait, collab_id,
        slurm_opts, as_json, root) -> int:
    """Calibrate a Spikey station or BrainScaleS HICANNs: measure in chunks, then fit and commit one new
    version.  The chunks are an array of ordinary nmcluster jobs on the hardware's partition, each
    holding the station or the HICANNs' FPGAs it measures (`nmcluster status`, `log` and `cancel` work
    on them); the task that measures the last chunk fits and commits.  Without hardware the emulated
    chip is measured.  Running it again resumes an unfinished run.

    \b
    Examples:
      nmcluster calib run spikey --station 500
      nmcluster calib run spikey --station 500 --local --workers 2
      nmcluster calib run wafer --wafer 33 --hicann 367,368 --wait
    """
    from nmcluster.calib import runs
    from nmcluster.calib.store import parse_ids

    if kind not in ("spikey", "wafer"):
        raise UserInputError(f"calib run: KIND must be spikey or wafer, got {kind!r}")
    if chunks < 1 or reps < 1 or workers < 1:
        raise UserInputError("calib run: --chunks, --reps and --workers must be >= 1")
    if slurm_opts:  # read as sbatch reads them, before anything is planned (see nmcluster.slurmopts)
        from nmcluster.slurmopts import check_user_options

        check_user_options(slurm_opts, "sbatch", what="the calibration run")
    store = _store(root)
    if kind == "spikey":
        if station is None or wafer is not None or hicann is not None:
            raise UserInputError("calib run spikey needs --station N (and no --wafer/--hicann)")
        target = _target(str(station))
        params = {"reps": reps, "driver_reps": 3, "neuron_duration": 500.0, "seed": 1,
                  "neuron_target": neuron_target}
        chunk_args = {"neuron_chunks": chunks, "driver_chunks": chunks}
    else:
        if wafer is None or station is not None:
            raise UserInputError("calib run wafer needs --wafer W (and no --station)")
        target = f"wafer{wafer}"
        hs = parse_ids(hicann) if hicann else [367]
        if any(not 0 <= h < 384 for h in hs):
            raise UserInputError("--hicann takes HICANN numbers 0..383")
        params = {"reps": reps, "seed": 1}
        chunk_args = {"hicanns": hs, "per_hicann": chunks}
    # the partition checks the target like a job's hardware config: a station, wafer or HICANN the site
    # does not have is refused (exit 2) before a run is planned; its resources are what the measurement
    # tasks hold under Slurm (the station's GRES, the HICANNs' FPGA licences)
    from nmcluster.config import load_config
    from nmcluster.partitions import get_partition

    site = load_config()
    partition = get_partition(kind, site)
    request = partition.validate({"STATION": station} if kind == "spikey" else {"WAFER": wafer, "HICANNS": hs})
    if not local:
        partition.check_slurm_options(slurm_opts)
    run_, resumed = runs.plan(store, target, params, chunk_args, fresh=fresh)
    todo = run_.missing()
    note = (f"resuming run {run_.id}: {len(run_.spec['chunks']) - len(todo)} of {len(run_.spec['chunks'])} "
            f"chunks already measured" if resumed else f"new run {run_.id}")
    if local:
        import time

        t0 = time.perf_counter()
        if not as_json:
            click.echo(f"nmcluster calib: {note}; measuring {len(todo)} chunk(s) with {workers} worker(s)", err=True)
        try:
            version = runs.run_local(run_, workers=workers)
        except Exception as exc:
            from nmcluster.calib.store import CalibError

            raise CalibError(str(exc)) from None
        out = {"run": run_.id, "target": target, "version": version, "seconds": time.perf_counter() - t0,
               "resumed": resumed}
        if as_json:
            _echo_json(out)
        else:
            click.echo(f"committed {target} version {version} ({out['seconds']:.1f} s, run {run_.id})")
        return 0
    from nmcluster.jobs.service import JobService

    service = JobService(site)
    hw = dict(request.hardware_config)
    try:
        ids = runs.submit_jobs(run_, service, hw, slurm_options=slurm_opts, collab_id=collab_id)
        out = {"run": run_.id, "target": target, "jobs": ids["jobs"], "external": ids["external"],
               "fit_job": ids["fit_job"], "executor": service.executor_name, "resumed": resumed}
        if wait:
            from nmcluster.calib.store import CalibError
            from nmcluster.cli.common import WaitProgress

            with WaitProgress() as progress:
                st = runs.wait(run_, runs.job_records(service),
                               on_poll=lambda s: progress.show(f"calibration run {s['run']} of {s['target']}: "
                                                               f"{s['state']}, {s['done']} of {s['chunks']} "
                                                               f"chunks measured, {progress.waited():.0f} s"))
            if st["state"] != "committed":
                raise CalibError(runs.failure_report(run_, st))
            out["version"] = st["fit"]["version"]
    finally:
        service.close()
    if as_json:
        _echo_json(out)
    else:
        click.echo(f"nmcluster calib: {note}")
        jobs = sorted(ids["jobs"].values())
        if jobs:
            span = f"{jobs[0]}" if len(jobs) == 1 else f"{jobs[0]}-{jobs[-1]}"
            click.echo(f"submitted {len(jobs)} measurement job(s) {span} on {kind} ({request.description}); "
                       f"follow with `nmcluster calib status` or `nmcluster status {jobs[0]}`")
        elif ids["fit_job"] is not None:
            click.echo(f"every chunk is measured; submitted fit job {ids['fit_job']}")
        if "version" in out:
            click.echo(f"committed {target} version {out['version']}")
    return 0


# -- status ------------------------------------------------------------------------------------------
@calib.command(context_settings=CTX)
@click.argument("target", required=False)
@click.option("--all", "show_all", is_flag=True, help="Also list committed runs.")
@click.option("--no-slurm", "no_jobs", is_flag=True, help="Files only: do not look at the run's jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@root_option
def status(target, show_all, no_jobs, as_json, root) -> int:
    """Progress of calibration runs across their array tasks (newest first).

    \b
    Examples:
      nmcluster calib status
      nmcluster calib status station500 --json
    """
    from nmcluster.calib import runs

    store = _store(root)
    service = None
    if not no_jobs:
        try:
            from nmcluster.jobs.service import JobService

            service = JobService()
        except Exception:  # noqa: BLE001 - status from files alone
            service = None
    try:
        records = runs.job_records(service) if service is not None else None
        sts = [runs.status(r, records) for r in reversed(runs.list_runs(store, _target(target) if target else None))]
    finally:
        if service is not None:
            service.close()
    if not show_all:
        sts = [s for s in sts if s["state"] != "committed"] or sts[:1]
    if as_json:
        _echo_json({"runs": sts})
        return 0
    if not sts:
        click.echo("no calibration runs")
        return 0
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    console = Console(file=sys.stdout)
    for s in sts:
        table = Table(title=f"{s['run']} ({s['target']}): {s['state']}, {s['done']}/{s['chunks']} chunks",
                      title_justify="left")
        for col in ("chunk", "step", "ids", "state", "job", "slurm", "host", "s", "error"):
            table.add_column(col)
        for t in s["tasks"]:
            c = t["chunk"]
            table.add_row(str(t["index"]), c["step"], runs._desc(c), t["state"],
                          str(t["job"]) if t["job"] is not None else "-", t["external_id"] or "-",
                          t["host"] or "-", f"{t['seconds']:.1f}" if t["seconds"] else "-", t["error"][:60])
        f = s["fit"]
        table.add_row("fit", "fit+commit", "-", f["state"] + (f" (v{f['version']})" if f["version"] else ""),
                      str(f["job"]) if f["job"] is not None else "-", "-", "-", "-", f["error"][:60])
        console.print(ProgressBar(total=s["chunks"], completed=s["done"], width=40))
        console.line()
        console.print(table)
        if s["state"] == "failed":
            console.print(runs.failure_report(runs.Run(Path(s["dir"])), s), markup=False)
    return 0


@calib.command(context_settings=CTX)
@click.argument("run_or_target", metavar="[RUN|TARGET]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs cancelled as JSON.")
@root_option
def cancel(run_or_target, as_json, root) -> int:
    """Cancel the queued and running jobs of a calibration run (default: the newest unfinished run; a
    target such as station500 means its newest unfinished run).  Nothing is committed; what was
    measured stays, and the same `calib run` resumes from it.

    \b
    Examples:
      nmcluster calib cancel
      nmcluster calib cancel station500
      nmcluster calib cancel station500-20261204-161500
    """
    from nmcluster.calib import runs
    from nmcluster.jobs.service import JobService

    store = _store(root)
    every = runs.list_runs(store)
    if run_or_target and any(r.id == run_or_target for r in every):
        chosen = [r for r in every if r.id == run_or_target]
    else:
        target = _target(run_or_target) if run_or_target else None
        chosen = [r for r in every if (target is None or r.spec.get("target") == target)
                  and r.committed() is None][-1:]
    if not chosen:
        raise UserInputError(f"no unfinished calibration run{' of ' + run_or_target if run_or_target else ''} "
                             f"(see nmcluster calib status)")
    run_ = chosen[0]
    from nmcluster.errors import JobNotFoundError, JobStateError

    cancelled: list[int] = []
    with JobService() as service:
        for job_id in dict.fromkeys(runs.run_jobs(run_)[1]):
            try:
                service.cancel(job_id)
            except (JobStateError, JobNotFoundError):  # ended already; another user's job
                continue
            cancelled.append(job_id)
    if as_json:
        _echo_json({"run": run_.id, "cancelled": cancelled})
    elif cancelled:
        click.echo(f"cancelled {len(cancelled)} job(s) of calibration run {run_.id}: "
                   f"{', '.join(str(i) for i in cancelled)}")
    else:
        click.echo(f"calibration run {run_.id} has no queued or running jobs")
    return 0


# -- list / show / diff ---------------------------------------------------------------------------------
@calib.command("list", context_settings=CTX)
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@root_option
def list_(target, as_json, root) -> int:
    """List targets and their current versions, or one target's versions.

    \b
    Examples:
      nmcluster calib list
      nmcluster calib list station500 --json
    """
    store = _store(root)
    if target:
        rows = store.versions(_target(target))
        if as_json:
            _echo_json({"target": _target(target), "versions": rows})
            return 0
        for r in rows:
            click.echo(f"{'*' if r['current'] else ' '} v{r['version']:<4} {_time(r.get('created'))}  "
                       f"{r.get('source', '')}  slurm={r.get('slurm_job_id') or '-'}  {r.get('notes', '')}")
        return 0
    from nmcluster.errors import NmclusterError

    rows = []
    for t in store.targets():  # one bad file is shown as bad; the others are listed
        try:
            rows.append({"target": t, "current": store.current(t), "versions": len(store.versions(t))})
        except NmclusterError as exc:
            rows.append({"target": t, "current": None, "versions": None, "error": str(exc)})
    if as_json:
        _echo_json({"store": str(store.root), "targets": rows})
        return 0
    if not rows:
        click.echo(f"no calibrations in {store.root}")
    for r in rows:
        if r.get("error"):
            click.echo(f"{r['target']:<12} unreadable: {r['error']}")
        else:
            click.echo(f"{r['target']:<12} current v{r['current']}  ({r['versions']} versions)")
    return 0


def _time(t) -> str:
    import time

    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t)))
    except (TypeError, ValueError):
        return "-"


@calib.command(context_settings=CTX)
@click.argument("target")
@click.argument("version", type=int, required=False)
@click.option("--data", "show_data", is_flag=True, help="Include the arrays (JSON).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@root_option
def show(target, version, show_data, as_json, root) -> int:
    """Show one version (default: current): metadata, datasets with summary statistics, blacklists.

    \b
    Examples:
      nmcluster calib show station500
      nmcluster calib show wafer33 2 --json
    """
    import numpy as np

    cal = _store(root).read(_target(target), version)
    info = cal.info()
    stats = {}
    for k, v in sorted(cal.data.items()):
        a = np.asarray(v, float)
        fin = a[np.isfinite(a)]
        stats[k] = {"shape": list(a.shape), "mean": float(fin.mean()) if fin.size else None,
                    "std": float(fin.std()) if fin.size else None,
                    "min": float(fin.min()) if fin.size else None, "max": float(fin.max()) if fin.size else None}
        if show_data:
            stats[k]["values"] = a.tolist()
    info["datasets"] = stats
    if as_json:
        _echo_json(info)
        return 0
    click.echo(f"{cal.target} version {cal.version}  created {_time(cal.meta.get('created'))}  "
               f"source {cal.meta.get('source')}  tool {cal.meta.get('tool_version')}  "
               f"job {(cal.meta.get('meta') or {}).get('job_id') or '-'}  "
               f"slurm job {cal.meta.get('slurm_job_id') or '-'}")
    if cal.meta.get("notes"):
        click.echo(f"notes: {cal.meta['notes']}")
    for k, s in stats.items():
        if s["mean"] is None:
            click.echo(f"  {k:<36} {s['shape']} (no finite values)")
        else:
            click.echo(f"  {k:<36} {str(s['shape']):<10} mean {s['mean']:.4g}  std {s['std']:.3g}  "
                       f"[{s['min']:.4g}, {s['max']:.4g}]")
    for comp, ids in info["blacklist"].items():
        click.echo(f"  blacklist {comp}: {len(ids)} ({', '.join(map(str, ids[:20]))}{' ...' if len(ids) > 20 else ''})")
    return 0


@calib.command(context_settings=CTX)
@click.argument("target")
@click.argument("version_a", type=int)
@click.argument("version_b", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@root_option
def diff(target, version_a, version_b, as_json, root) -> int:
    """What changed between two versions (VERSION_B default: current).

    \b
    Examples:
      nmcluster calib diff station500 1 2
      nmcluster calib diff wafer33 3 --json
    """
    d = _store(root).diff(_target(target), version_a, version_b)
    if as_json:
        _echo_json(d)
        return 0
    click.echo(f"{d['target']}: v{d['from']} -> v{d['to']}")
    for k, s in d["datasets"].items():
        extra = (f"{s['changed']}/{s['of']} changed, max |change| {s['max_abs_change']:.4g}"
                 if s["status"] == "changed" else s["status"])
        click.echo(f"  {k}: {extra}")
    for comp, s in d["blacklist"].items():
        click.echo(f"  blacklist {comp}: +{s['added']} -{s['removed']}")
    for k, (a, b) in d["meta"].items():
        click.echo(f"  {k}: {a!r} -> {b!r}")
    if not (d["datasets"] or d["blacklist"] or d["meta"]):
        click.echo("  identical")
    return 0


# -- export / import / blacklist ---------------------------------------------------------------------------
@calib.command("export", context_settings=CTX)
@click.argument("target")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--version", type=int, help="Version (default: current).")
@click.option("--hicann", metavar="H,H", help="Wafer: only these HICANNs.")
@root_option
def export_(target, directory, version, hicann, root) -> int:
    """Export a version: Spikey -> calibTauMem_<S>.dat + calibSynDriver_<S>_{exc,inh}.dat;
    wafer -> calibtic-style w<W>-h<H>.xml per HICANN.

    \b
    Examples:
      nmcluster calib export station500 ./calib-out
      nmcluster calib export wafer33 ./xml --hicann 367
    """
    from nmcluster.calib import formats
    from nmcluster.calib.store import parse_ids

    cal = _store(root).read(_target(target), version)
    d = Path(directory)
    files = formats.export_spikey(cal, d) if cal.kind == "spikey" else \
        formats.export_xml(cal, d, parse_ids(hicann) if hicann else None)
    for f in files:
        click.echo(str(f))
    return 0


@calib.command("import", context_settings=CTX)
@click.argument("target")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--notes", default="", help="Notes stored with the version.")
@click.option("--source", type=click.Choice(["hardware", "emulated"]), default="hardware", show_default=True)
@root_option
def import_(target, directory, notes, source, root) -> int:
    """Import files written by `calib export` (or the Spikey tool / calibtic) as a new current version.

    \b
    Examples:
      nmcluster calib import station500 ./calib-out --notes "from calibAll.py"
      nmcluster calib import wafer33 ./xml
    """
    from nmcluster.calib import formats
    from nmcluster.calib.store import parse_target

    kind, n = parse_target(target)
    cal = formats.import_spikey(Path(directory), n) if kind == "spikey" else formats.import_xml(Path(directory), n)
    v = _store(root).commit(cal, notes=notes or f"imported from {directory}", source=source, chip_id=cal.target)
    click.echo(f"imported {cal.target} version {v}")
    return 0


@calib.command(context_settings=CTX)
@click.argument("target")
@click.argument("action", type=click.Choice(["add", "remove"]))
@click.argument("component")
@click.argument("ids")
@click.option("--hicann", type=int, help="Wafer: the HICANN of a per-HICANN component (denmem, driver, synrow, bus).")
@click.option("--notes", default="", help="Why (stored with the new version).")
@root_option
def blacklist(target, action, component, ids, hicann, notes, root) -> int:
    """Add or remove blacklisted components; writes a new version (redman-like).

    COMPONENT: Spikey: neuron, driver; wafer: hicann, fpga, or with --hicann: denmem, driver, synrow, bus.

    \b
    Examples:
      nmcluster calib blacklist station500 add neuron 17,40-42
      nmcluster calib blacklist wafer33 add denmem 3,17 --hicann 367
      nmcluster calib blacklist wafer33 remove hicann 12
    """
    from nmcluster.calib.store import parse_ids, parse_target

    kind, _ = parse_target(target)
    allowed = {"spikey": {"neuron": 384, "driver": 512},
               "wafer": {"hicann": 384, "fpga": 48, "denmem": 512, "driver": 224, "synrow": 448, "bus": 64}}[kind]
    if component not in allowed:
        raise UserInputError(f"blacklist component for {kind} must be one of {', '.join(allowed)}, got {component!r}")
    per_hicann = kind == "wafer" and component not in ("hicann", "fpga")
    if per_hicann and hicann is None:
        raise UserInputError(f"blacklist {component} of a wafer needs --hicann H")
    if hicann is not None and not per_hicann:
        raise UserInputError(f"--hicann does not apply to component {component!r}")
    id_list = parse_ids(ids)
    if any(i >= allowed[component] for i in id_list):
        raise UserInputError(f"{component} ids must be 0..{allowed[component] - 1}")
    comp = f"{component}/h{hicann}" if per_hicann else component
    v = _store(root).update_blacklist(_target(target), action, comp, id_list, notes=notes)
    click.echo(f"{_target(target)} version {v}: blacklist {action} {comp} {ids}")
    return 0

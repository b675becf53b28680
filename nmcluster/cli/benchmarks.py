"""``nmcluster benchmarks``: the guidebook's benchmarks (chapter 7) as nmcluster jobs, a measurement
database and a static dashboard (thin commands over :mod:`nmcluster.benchmarks`)."""

from __future__ import annotations

import click

from nmcluster.cli.common import echo_json

CTX = {"help_option_names": ["-h", "--help"]}


def _site():
    from nmcluster.cli.common import environment
    from nmcluster.config import load_config

    env = environment()
    return load_config(env=env), env


def _emit(rows, as_json: bool, line) -> None:
    """``--json``: the rows; else one line per row (``line(row)``)."""
    if as_json:
        echo_json(rows)
    else:
        for r in rows:
            click.echo(line(r))


def _warn(msg: str) -> None:
    click.echo(f"nmcluster: warning: {msg}", err=True)


@click.group("benchmarks", context_settings=CTX)
def benchmarks() -> None:
    """Run benchmark repositories (a top-level benchmarks.json), store their measurements, show them.

    \b
    Examples:
      nmcluster benchmarks run https://github.com/CNRS-UNIC/hardware-benchmarks -p spinnaker -p wafer
      nmcluster benchmarks run ./examples/benchmarks --model IF_cond_exp --task I_f_curve -p spikey
      nmcluster benchmarks register ./my-benchmarks -p spinnaker ; nmcluster benchmarks watch
      nmcluster benchmarks results --model IF_cond_exp --csv > if.csv
      nmcluster benchmarks report -o ~/public_html/benchmarks
    """


@benchmarks.command("run", context_settings=CTX)
@click.argument("source")
@click.option("-p", "--platform", "platforms", multiple=True,
              help="Platform to run on (repeat); default: each task's own target.")
@click.option("--model", default=None, help="Only this model.")
@click.option("--task", default=None, help="Only this task.")
@click.option("--ref", default="", help="Commit or branch of a git SOURCE (default: its HEAD).")
@click.option("--emulate", is_flag=True, help="Use the emulators even where the hardware is attached.")
@click.option("--collab", "collab_id", default=None, help="Collab to charge (Slurm account).")
@click.option("--json", "as_json", is_flag=True)
def run_cmd(source, platforms, model, task, ref, emulate, collab_id, as_json) -> int:
    """Submit every task of SOURCE (git URL or path, or a folder) as an nmcluster job per platform."""
    from nmcluster.benchmarks.runner import run

    site, env = _site()
    rows = run(site, source, platforms, model, task, ref, env=env, warn=_warn,
               mode="emulate" if emulate else "auto", collab_id=collab_id)
    _emit(rows, as_json, lambda r: f"job {r['job_id']}: {r['model']}/{r['task']} on {r['platform']}"
          + (f" at {r['commit_id'][:12]}" if r["commit_id"] else ""))
    return 0


@benchmarks.command("harvest", context_settings=CTX)
@click.option("--json", "as_json", is_flag=True)
def harvest_cmd(as_json) -> int:
    """Store the measurement reports of your finished benchmark jobs."""
    from nmcluster.benchmarks.runner import harvest

    site, env = _site()
    _emit(harvest(site, env, _warn), as_json, lambda h: f"run {h['run_id']} (job {h['job_id']}, {h['model']}/"
          f"{h['task']} on {h['platform']}): {h['status']}: {h['message']}")
    return 0


@benchmarks.command("register", context_settings=CTX)
@click.argument("source")
@click.option("-p", "--platform", "platforms", multiple=True, help="Platforms (default: each task's target).")
@click.option("--ref", default="", help="Branch to follow (default: HEAD).")
def register_cmd(source, platforms, ref) -> int:
    """Register a git repository for `watch` (new commits run its benchmarks)."""
    from nmcluster.benchmarks.db import BenchmarkDB
    from nmcluster.benchmarks.runner import head_commit, repo_url
    from nmcluster.identity import user_name
    from nmcluster.jobs.spec import normalise_platform

    site, _env = _site()
    url = repo_url(source)
    head_commit(site, url, ref)  # refuse now what `watch` could never fetch
    with BenchmarkDB(site.benchmarks.database) as db:
        db.register(url, ref, [normalise_platform(p) for p in platforms], user_name())
    click.echo(f"registered {url}")
    return 0


@benchmarks.command("unregister", context_settings=CTX)
@click.argument("source")
def unregister_cmd(source) -> int:
    """Stop watching a repository (its results stay)."""
    from nmcluster.benchmarks.db import BenchmarkDB
    from nmcluster.benchmarks.runner import repo_url
    from nmcluster.errors import UserInputError

    site, _env = _site()
    with BenchmarkDB(site.benchmarks.database) as db:
        if not db.unregister(repo_url(source)):
            raise UserInputError(f"{source} is not registered (see nmcluster benchmarks list)")
    return 0


@benchmarks.command("list", context_settings=CTX)
@click.option("--json", "as_json", is_flag=True)
def list_cmd(as_json) -> int:
    """Registered repositories and the last commit seen."""
    from nmcluster.benchmarks.db import BenchmarkDB

    site, _env = _site()
    with BenchmarkDB(site.benchmarks.database) as db:
        repos = db.repos()
    _emit(repos, as_json, lambda r: f"{r['url']}  {r['ref'] or 'HEAD'}  {(r['last_commit'] or '-')[:12]}  "
          f"{','.join(r['platforms']) or 'targets'}")
    return 0


@benchmarks.command("watch", context_settings=CTX)
@click.option("--json", "as_json", is_flag=True)
def watch_cmd(as_json) -> int:
    """Check registered repositories once and submit what is due (new commit without [skip ci], or a new
    system configuration: nmcluster version, calibration versions); harvest finished runs.  Run it
    periodically: `scrontab` (Slurm) or a systemd timer, see README."""
    from nmcluster.benchmarks.runner import watch

    site, env = _site()
    _emit(watch(site, env, _warn), as_json, lambda a: " ".join(f"{k}={v}" for k, v in a.items()))
    return 0


@benchmarks.command("results", context_settings=CTX)
@click.option("--model", default=None)
@click.option("--task", default=None)
@click.option("-p", "--platform", default=None)
@click.option("--name", default=None, help="Only this measurement name.")
@click.option("--limit", type=int, default=None)
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
def results_cmd(model, task, platform, name, limit, as_json, as_csv) -> int:
    """Stored measurements with their provenance."""
    from nmcluster.benchmarks.db import RESULT_FIELDS, BenchmarkDB

    site, _env = _site()
    with BenchmarkDB(site.benchmarks.database) as db:
        rows = db.results(model, task, platform, name, limit=limit)
    if as_json:
        echo_json(rows)
    elif as_csv:
        import csv
        import sys

        w = csv.DictWriter(sys.stdout, fieldnames=list(RESULT_FIELDS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    else:
        for r in rows:
            click.echo(f"{r['model']}/{r['task']} {r['platform']} ({r['backend']}) {r['name']} = {r['value']:.6g}"
                       f"{' ' + r['units'] if r['units'] else ''}  commit {(r['commit_id'] or '-')[:12]} "
                       f"job {r['job_id']}")
    return 0


@benchmarks.command("report", context_settings=CTX)
@click.option("-o", "--output", "output", required=True, help="Directory of the static site.")
def report_cmd(output) -> int:
    """Write the dashboard: static HTML + PNG plots, viewable from the file system or any web server."""
    from pathlib import Path

    from nmcluster.benchmarks.dashboard import write_report
    from nmcluster.benchmarks.db import BenchmarkDB

    site, _env = _site()
    with BenchmarkDB(site.benchmarks.database) as db:
        pages = write_report(db.results(), db.runs(), Path(output))
    click.echo(f"wrote {len(pages)} pages; open {pages[0]}")
    return 0

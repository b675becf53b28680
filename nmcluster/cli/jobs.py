"""``status``, ``list``, ``log``, ``results``, ``cancel``, ``remove``: a user's jobs."""

from __future__ import annotations

import sys

import click

from nmcluster.cli.common import echo_json, make_service

STATE_STYLE = {"submitted": "yellow", "running": "cyan", "finished": "green", "error": "red"}


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``): a tag or command must not move the cursor,
    recolour or retitle a user's terminal, nor hide what it says."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _table(records, title: str, console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title)
    for col in ("id", "status", "platform", "hardware", "backend", "command", "submitted", "tags", "reason"):
        table.add_column(col, overflow="fold")
    for r in records:
        hw = ", ".join(f"{k}={v}" for k, v in r.hardware_config.items() if k not in ("HICANNS",))
        backend = r.backend + (" (emulated)" if r.emulated else "") if r.backend else ""
        submitted = (r.to_dict()["timestamp_submission"] or "")[:19].replace("T", " ")
        # user strings as Text, never as markup: a tag like "[/]" or "[link=...]" must print as written and
        # never break the listing of every other job
        table.add_row(str(r.id), Text(r.status, style=STATE_STYLE.get(r.status, "")),
                      *(Text(printable(str(v))) for v in (r.hardware_platform, hw, backend, r.command, submitted,
                                               ",".join(r.tags), r.reason)))
    (console or Console()).print(table)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("job", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(job, as_json) -> int:
    """Show JOB's state (submitted, running, finished, error) or, without JOB, your unfinished jobs.

    \b
    Examples:
      nmcluster status 12
      nmcluster status 12 --json | jq .status
    """
    with make_service(False) as service:
        if job is None:
            records = service.list(include_final=False)
            if as_json:
                echo_json([r.to_dict() for r in records])
            else:
                _table(records, "unfinished jobs")
            return 0
        rec = service.get(job)
        if as_json:
            echo_json(rec.to_dict())
            return 0
        click.echo(f"job {rec.id}: {rec.status}" + (f" ({rec.reason})" if rec.reason else ""))
        click.echo(f"  platform:  {rec.hardware_platform} {dict(rec.hardware_config) or ''}")
        if rec.backend:
            click.echo(f"  backend:   {rec.backend}" + (f" - emulated: {rec.backend_reason}" if rec.emulated else ""))
        click.echo(f"  command:   {rec.command}")
        click.echo(f"  executor:  {rec.executor} {rec.external_id}")
        if rec.exit_code is not None:
            click.echo(f"  exit code: {rec.exit_code}")
        if rec.final and rec.executor == "slurm" and service.site.accounting.enabled:
            from nmcluster.accounting.quotas import charged

            cost = charged(service.site, service.env, rec.external_id, rec.platform)
            if cost:
                click.echo(f"  charged:   {cost}")
        if rec.output_data:
            click.echo(f"  outputs:   {', '.join(rec.output_data)}")
    return 0


@click.command("list", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--all", "show_all", is_flag=True, help="Include finished and failed jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-n", "--limit", type=int, default=None, help="At most N jobs (newest first).")
@click.option("--collab", "collab_id", default=None, help="Only jobs of this collab/project (Slurm account).")
def list_jobs(show_all, as_json, limit, collab_id) -> int:
    """List your jobs: queued and running ones, or all with --all.

    \b
    Examples:
      nmcluster list
      nmcluster list --all --json
    """
    with make_service(False) as service:
        records = service.list(include_final=show_all, limit=limit, collab_id=collab_id)
        if as_json:
            echo_json([r.to_dict() for r in records])
        else:
            _table(records, "all jobs" if show_all else "queued and running jobs")
    return 0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("job")
def log(job) -> int:
    """Print JOB's log (the command's output plus nmcluster's notes).

    \b
    Example:
      nmcluster log 12 | less
    """
    with make_service(False) as service:
        sys.stdout.write(service.log(job))
    return 0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("job")
@click.option("-o", "--output", "dest", default=".", type=click.Path(file_okay=False), show_default=True,
              help="Directory to copy the files into.")
@click.option("--inputs", "include_inputs", is_flag=True, help="Copy the job's input files too.")
@click.option("--json", "as_json", is_flag=True, help="Print the copied paths as JSON.")
def results(job, dest, include_inputs, as_json) -> int:
    """Copy the output files of finished JOB into a directory.

    \b
    Example:
      nmcluster results 12 -o results/12
    """
    with make_service(False) as service:
        files = service.results(job, dest, include_inputs=include_inputs)
    if as_json:
        echo_json([str(f) for f in files])
    else:
        for f in files:
            click.echo(str(f))
    return 0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("job")
@click.option("--json", "as_json", is_flag=True, help="Print the job's record (as it was when cancelled) as JSON.")
def cancel(job, as_json) -> int:
    """Cancel queued or running JOB (it ends in state error, reason cancelled).

    \b
    Example:
      nmcluster cancel 12
    """
    with make_service(False) as service:
        rec = service.cancel(job)
    if as_json:
        echo_json(rec.to_dict())
    else:
        click.echo(f"cancelled job {rec.id}")
    return 0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("job")
@click.option("--queued", is_flag=True, help="Also remove a job that is still queued (cancels it).")
def remove(job, queued) -> int:
    """Remove finished JOB: its record and its directory.

    \b
    Example:
      nmcluster remove 12
    """
    with make_service(False) as service:
        service.remove(job, cancel_queued=queued)
    click.echo(f"removed job {job}")
    return 0

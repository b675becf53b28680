"""``status``, ``list``, ``log``, ``results``, ``cancel``, ``remove``: a user's jobs."""

from __future__ import annotations

import sys

import click

from nmcluster.cli.common import echo_json, make_service

STATE_STYLE = {"submitted": "yellow", "running": "cyan", "finished": "green", "error": "red"}


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``): a tag or command must not move the cursor,
    recolour or retitle a user's terminal, nor hide what it says (nor break a piped line: tabs and
    newlines are escaped too)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


#: what ``list``/``status`` show by default, in order; ``--format`` may name any field of the record
DEFAULT_FIELDS = ("id", "status", "platform", "hardware", "backend", "command", "submitted", "tags", "reason")


def id_ranges(values) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"``: a whole wafer's 384 HICANNs read as ``0-383``."""
    from itertools import groupby

    ids = sorted(set(values))
    runs = [[v for _, v in group] for _, group in groupby(enumerate(ids), key=lambda iv: iv[1] - iv[0])]
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def hardware_text(config) -> str:
    """A hardware config on one line; lists of ids as ranges."""
    def show(value) -> str:
        if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return id_ranges(value)
        return str(value)
    return ", ".join(f"{k}={show(v)}" for k, v in config.items())


def field_value(record, name: str) -> str:
    """One field of a job for ``list``/``status``: the display fields above, or any record field."""
    if name == "platform":
        return record.hardware_platform
    if name == "hardware":
        return hardware_text(record.hardware_config)
    if name == "backend":
        return record.backend + (" (emulated)" if record.emulated else "") if record.backend else ""
    if name == "submitted":
        return (record.to_dict()["timestamp_submission"] or "")[:19].replace("T", " ")
    if name == "tags":
        return ",".join(record.tags)
    value = record.to_dict().get(name)
    if value is None:
        return ""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def shown_value(record, name: str) -> str:
    """:func:`field_value` with control characters escaped (user strings: tags, commands, reasons)."""
    return printable(field_value(record, name))


def parse_fields(text: str | None) -> tuple[str, ...]:
    """``--format id,status,slurm_state`` (like ``squeue -o``): known names only, one line of error else."""
    if text is None:
        return DEFAULT_FIELDS
    from dataclasses import fields

    from nmcluster.errors import UserInputError
    from nmcluster.jobs.store import JobRecord

    known = dict.fromkeys([*DEFAULT_FIELDS, *(f.name for f in fields(JobRecord)), "hardware_platform"])
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UserInputError(f"--format: unknown field(s) {', '.join(unknown) or '(none given)'} "
                             f"(known: {', '.join(known)})")
    return names


def _lines(records, names: tuple[str, ...], header: bool) -> None:
    """Plain output for scripts and pipes: one line per job, tab-separated, never wrapped."""
    rows = [[shown_value(r, n) for n in names] for r in records]
    if header:
        rows.insert(0, [n.upper() for n in names])
    for row in rows:
        click.echo("\t".join(row))


def _table(records, title: str, names: tuple[str, ...] = DEFAULT_FIELDS, header: bool = True,
           console=None) -> None:
    """A rich table on a terminal (or ``console``); lines (see :func:`_lines`) when piped."""
    if console is None and not sys.stdout.isatty():
        _lines(records, names, header)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title if header else None, show_header=header)
    for col in names:
        table.add_column(col, overflow="fold")
    for r in records:
        # user strings as Text, never as markup: a tag like "[/]" or "[link=...]" must print as written and
        # never break the listing of every other job
        table.add_row(*(Text(shown_value(r, n), style=STATE_STYLE.get(r.status, "") if n == "status" else "")
                        for n in names))
    (console or Console()).print(table)


FORMAT_HELP = ("Fields to print, comma-separated, like squeue -o: id,status,platform,hardware,backend,command,"
               "submitted,tags,reason or any record field (slurm_state, external_id, exit_code, ...).")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("job", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-o", "--format", "fmt", default=None, metavar="FIELDS", help=FORMAT_HELP)
@click.option("--noheader", is_flag=True, help="No header line (like squeue -h).")
def status(job, as_json, fmt, noheader) -> int:
    """Show JOB's state (submitted, running, finished, error) or, without JOB, your unfinished jobs.

    \b
    Examples:
      nmcluster status 12
      nmcluster status 12 --json | jq .status
      nmcluster status 12 --format status,slurm_state --noheader
    """
    names = parse_fields(fmt)
    with make_service(False) as service:
        if job is None:
            records = service.list(include_final=False)
            if as_json:
                echo_json([r.to_dict() for r in records])
            elif fmt is not None:
                _lines(records, names, not noheader)
            else:
                _table(records, "unfinished jobs", names, not noheader)
            return 0
        rec = service.get(job)
        if as_json:
            echo_json(rec.to_dict())
            return 0
        if fmt is not None:
            _lines([rec], names, not noheader)
            return 0
        click.echo(f"job {rec.id}: {rec.status}" + (f" ({rec.reason})" if rec.reason else ""))
        click.echo(f"  platform:  {rec.hardware_platform} {hardware_text(rec.hardware_config)}")
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
@click.option("-o", "--format", "fmt", default=None, metavar="FIELDS", help=FORMAT_HELP)
@click.option("--noheader", is_flag=True, help="No header line (like squeue -h).")
def list_jobs(show_all, as_json, limit, collab_id, fmt, noheader) -> int:
    """List your jobs: queued and running ones, or all with --all.  Piped or with --format: one
    tab-separated line per job (never wrapped), for scripts.

    \b
    Examples:
      nmcluster list
      nmcluster list --all --json
      nmcluster list --all --format id,status,slurm_state --noheader | awk '$2 == "error"'
    """
    names = parse_fields(fmt)
    with make_service(False) as service:
        records = service.list(include_final=show_all, limit=limit, collab_id=collab_id)
        if as_json:
            echo_json([r.to_dict() for r in records])
        elif fmt is not None:
            _lines(records, names, not noheader)
        else:
            _table(records, "all jobs" if show_all else "queued and running jobs", names, not noheader)
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
@click.option("-o", "--output", "dest", default=None, type=click.Path(file_okay=False),
              help="Directory to copy the files into (default: job_<JOB>/, like the client's download_data).")
@click.option("--inputs", "include_inputs", is_flag=True, help="Copy the job's input files too.")
@click.option("--force", is_flag=True, help="Overwrite files that exist already (never done without it).")
@click.option("--json", "as_json", is_flag=True, help="Print the copied paths as JSON.")
def results(job, dest, include_inputs, force, as_json) -> int:
    """Copy the output files of finished JOB into a directory (job_<JOB>/ by default); existing files are
    never overwritten without --force.

    \b
    Examples:
      nmcluster results 12
      nmcluster results 12 -o results/12 --force
    """
    with make_service(False) as service:
        if dest is None:
            from nmcluster.remote.remote import parse_job_id

            dest = f"job_{parse_job_id(job)}"
        files = service.results(job, dest, include_inputs=include_inputs, force=force)
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

"""``nmcluster`` entry point: a lazy click group plus the error-to-exit-code mapping."""

from __future__ import annotations

import json
import os
import sys

import click

from nmcluster import __version__
from nmcluster.cli.lazy import LazyGroup
from nmcluster.errors import NmclusterError

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("nmcluster.cli.run:run", "Run a command on a partition now and stream its output (like srun)."),
    "submit": ("nmcluster.cli.submit:submit", "Queue a job in the platform's job format; prints its id."),
    "status": ("nmcluster.cli.jobs:status", "Show the state of one job or of your recent jobs."),
    "list": ("nmcluster.cli.jobs:list_jobs", "List your queued/running jobs (--all: every job)."),
    "log": ("nmcluster.cli.jobs:log", "Print a job's log."),
    "results": ("nmcluster.cli.jobs:results", "Copy a job's output files to a directory."),
    "cancel": ("nmcluster.cli.jobs:cancel", "Cancel a queued or running job."),
    "remove": ("nmcluster.cli.jobs:remove", "Remove a finished job's record and files."),
    "admin": ("nmcluster.cli.admin:admin", "Admin helpers: Slurm config lines, modulefiles, udev rule."),
    "info": ("nmcluster.cli.info:info", "Show the site configuration in use: config file, job root, executor."),
    "shell-env": ("nmcluster.cli.shell_env:shell_env",
                  "Print shell lines that make `import nmpi` scripts run on nmcluster (eval them)."),
    "calib": ("nmcluster.cli.calib:calib",
              "Calibration runs (Slurm array + fit) and the versioned calibration store."),
    "stations": ("nmcluster.cli.stations:stations",
                 "Show the Spikey stations: attached, permissions, in use by, calibration (--json)."),
    "quota": ("nmcluster.cli.quota:quota",
              "Your collabs' quotas: limit, usage (from Slurm accounting) and what is left."),
    "request": ("nmcluster.cli.quota:request",
                "Resource requests for a collab: create, edit, submit, list."),
    "benchmarks": ("nmcluster.cli.benchmarks:benchmarks",
                   "Benchmark repositories (benchmarks.json): run as jobs, store results, dashboard."),
    "serve": ("nmcluster.cli.serve:serve", "Serve the platform's job-queue API and Job Manager (nmpi clients)."),
    "provider": ("nmcluster.cli.provider:provider", "Provider bridge: run jobs of an NMPI queue on this site."),
    "plot": ("nmcluster.cli.plot:plot",
             "Raster plot or membrane trace (PNG) of a neo data file or of a job's outputs."),
}

#: commands that work on a remote frontend with --host (``run`` explains why it does not)
REMOTE_COMMANDS = ("submit", "status", "list", "log", "results", "cancel", "remove", "info", "run")

EPILOG = """\b
Examples:
  nmcluster run -p spikey --station 500 -- python example.py
  nmcluster run -p wafer --wafer 33 --hicann 297,298 -- python run.py {system}
  nmcluster submit ./my_experiment/ -p spikey --command "main.py {system}" --tag test
  nmcluster status 12 --json
  nmcluster --host alice@frontend submit ./my_experiment/ -p spikey --wait
"""


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nmcluster")
@click.option("--host", metavar="[USER@]HOST[:PORT]", envvar="NMCLUSTER_HOST", default=None,
              help="Work on a remote frontend over SSH (submit, status, list, log, results, cancel, remove, "
                   "info); keys from ssh-agent or ~/.ssh/config. Default: $NMCLUSTER_HOST.")
@click.option("--accept-new-host-key", is_flag=True,
              help="First contact with --host: add its unknown host key to ~/.ssh/known_hosts (a changed "
                   "key is still refused).")
@click.pass_context
def cli(ctx: click.Context, host: str | None, accept_new_host_key: bool) -> None:
    """nmcluster: run PyNN experiments on Spikey, BrainScaleS and SpiNNaker partitions of a Slurm
    cluster, or on their software emulators when the hardware (or Slurm) is absent."""
    if host and ctx.invoked_subcommand not in REMOTE_COMMANDS:
        if ctx.get_parameter_source("host") != click.core.ParameterSource.ENVIRONMENT:
            from nmcluster.errors import UserInputError

            raise UserInputError(f"--host works with {', '.join(REMOTE_COMMANDS[:-1])}; "
                                 f"`{ctx.invoked_subcommand}` runs here only")
        host = None  # $NMCLUSTER_HOST is a default for the remote-capable commands only
    ctx.obj = {"host": host or None, "accept_new_host_key": accept_new_host_key}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit 2, runtime failures exit 1, never a traceback."""
    # set by a RemoteService on the frontend; popped so that jobs submitted now do not inherit it
    error_format = os.environ.pop("NMCLUSTER_ERROR_FORMAT", "")
    try:
        rv = cli.main(args=argv, prog_name="nmcluster", standalone_mode=False)
    except NmclusterError as exc:
        click.echo(f"nmcluster: error: {exc}", err=True)
        if error_format == "json":  # for a RemoteService: keep the error's type
            click.echo("nmcluster: error-json: " + json.dumps({"type": type(exc).__name__, "message": str(exc)}),
                       err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())

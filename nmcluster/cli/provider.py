"""``nmcluster provider run``: the provider bridge (README "Platform server": provider bridge).

Takes jobs for one platform from an NMPI job queue (``nmcluster serve`` elsewhere, or a central one),
runs each as an nmcluster job on this site and reports back; see :mod:`nmcluster.server.bridge` for why
it never loses or runs twice a job it took.  The API key comes from ``$NMCLUSTER_PROVIDER_KEY`` or a file,
never the command line (``ps`` would show it).
"""

from __future__ import annotations

import click

CTX = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CTX)
def provider() -> None:
    """Provider bridge: serve an NMPI job queue with this site's hardware.

    \b
    Examples:
      NMCLUSTER_PROVIDER_KEY=nmcp_... nmcluster provider run --queue https://nm.example.org --platform SpiNNaker
      nmcluster provider run --queue https://nm.example.org --platform SpiNNaker --once --api-key-file ~/.nmpi-key
    """


@provider.command("run", context_settings=CTX)
@click.option("--queue", required=True, metavar="URL", help="The job queue's base URL.")
@click.option("--platform", required=True, metavar="NAME", help="The platform whose jobs to take, e.g. SpiNNaker.")
@click.option("--once", is_flag=True, help="Run until nothing is queued or in flight, then exit (timers, scrontab).")
@click.option("--api-key-file", type=click.Path(dir_okay=False), default=None,
              help="File holding the provider's API key (default: $NMCLUSTER_PROVIDER_KEY).")
@click.option("--collab", default=None, help="Local collab whose Slurm account the jobs are charged to.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.1, 3600))
@click.option("--max-running", default=4, show_default=True, type=click.IntRange(1, 1000))
def run(queue: str, platform: str, once: bool, api_key_file: str | None, collab: str | None, interval: float,
        max_running: int) -> int:
    """Take jobs from QUEUE for PLATFORM, run them here, report status, log and output files."""
    import os
    from pathlib import Path

    from nmcluster.errors import UserInputError
    from nmcluster.jobs.service import JobService
    from nmcluster.server.bridge import Bridge, Queue

    if api_key_file:
        try:
            key = Path(api_key_file).read_text().strip()
        except OSError as exc:
            raise UserInputError(f"cannot read --api-key-file {api_key_file}: {exc.strerror}") from None
    else:
        key = os.environ.get("NMCLUSTER_PROVIDER_KEY", "").strip()
    if not key:
        raise UserInputError("no API key: set $NMCLUSTER_PROVIDER_KEY or give --api-key-file")
    service = JobService()
    site = service.site
    bridge = Bridge(Queue(queue, key), platform, service, site.server.state_dir or site.job_root / ".server",
                    collab=collab, max_running=max_running)
    return bridge.run(once=once, interval=interval, log=lambda m: click.echo(m, err=True))

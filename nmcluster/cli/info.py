"""``nmcluster info``: the site configuration in use (also how a remote client finds the job root)."""

from __future__ import annotations

import click

from nmcluster.cli.common import echo_json, make_service


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(as_json) -> int:
    """Show the nmcluster version, the site config file in use, the job root and the executor.

    \b
    Examples:
      nmcluster info
      nmcluster --host alice@frontend info --json
    """
    with make_service(False) as service:
        data = service.info()
    if as_json:
        echo_json(data)
    else:
        for key in ("version", "config", "job_root", "executor", "user", "host", "quotas"):
            if data.get(key):
                click.echo(f"{key + ':':<10} {data[key]}")
    return 0

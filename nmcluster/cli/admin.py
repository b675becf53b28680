"""``nmcluster admin``: helpers for the cluster's admins.  Each subcommand lives in its own module
(``admin_<name>.py``) and is imported only when used."""

from __future__ import annotations

import click

from nmcluster.cli.lazy import LazyGroup

ADMIN_COMMANDS: dict[str, tuple[str, str]] = {
    "slurm-conf": ("nmcluster.cli.admin_slurm:slurm_conf",
                   "Print the slurm.conf / gres.conf lines for this site's hardware."),
    "install-modules": ("nmcluster.cli.admin_modules:install_modules",
                        "Render the nmcluster/spikey/wafer/spinnaker modulefiles into a prefix."),
    "collab": ("nmcluster.cli.quota:admin_collab",
               "Collabs (Slurm accounts per platform): create, add members, set quotas."),
    "requests": ("nmcluster.cli.quota:admin_requests",
                 "Review resource requests: list, approve (sets Slurm limits), reject."),
    "token": ("nmcluster.cli.admin_token:token", "Platform server tokens: create, list, revoke (users, providers)."),
    "udev-rule": ("nmcluster.cli.admin_udev:udev_rule",
                  "Print the udev rule that lets plugdev members use Spikey USB stations."),
    "build-kernels": ("nmcluster.cli.admin_kernels:build_kernels",
                      "Compile the emulators' kernels into a cache all users read (install time)."),
}


@click.group(cls=LazyGroup, lazy_subcommands=ADMIN_COMMANDS)
def admin() -> None:
    """Admin helpers: render what the site's Slurm, module system and udev need.

    \b
    Examples:
      nmcluster admin slurm-conf --node frontend1 >> /etc/slurm/slurm.conf
      nmcluster admin install-modules --prefix /opt/modulefiles --site-config /etc/nmcluster/site.toml
      nmcluster admin build-kernels
    """

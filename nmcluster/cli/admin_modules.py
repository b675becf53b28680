"""``nmcluster admin install-modules``: write the Tcl modulefiles for this installation."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("install-modules", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--prefix", required=True, metavar="DIR",
              help="Modulefile directory to write into (created if missing); users add it with "
                   "`module use DIR`.")
@click.option("--site-config", metavar="FILE", default=None,
              help="Site config (TOML) to list stations and wafers from; the nmcluster module then sets "
                   "NMCLUSTER_CONFIG to it.  Default: $NMCLUSTER_CONFIG if set (the config your own "
                   "nmcluster uses), else /etc/nmcluster/site.toml if present (NMCLUSTER_CONFIG stays "
                   "unset), else the built-in defaults.")
@click.option("--bin-dir", metavar="DIR", default=None,
              help="Directory of the nmcluster executable to put on PATH.  Default: the one running now.")
def install_modules(prefix: str, site_config: str | None, bin_dir: str | None) -> int:
    """Render the nmcluster, spikey, wafer and spinnaker modulefiles for this installation.

    Writes nmcluster/<version> (nmcluster on PATH), spikey/<version>, spikey/station<N> for each
    configured station, wafer/<version>, wafer/w<ID> for each wafer, spinnaker/<version> and the
    .version defaults.  They load under Lmod and Environment Modules 5.  Re-running replaces the files
    it wrote earlier and removes modules of stations or wafers no longer configured; files it did not
    write are never touched.

    \b
    Example:
      nmcluster admin install-modules --prefix /opt/modulefiles --site-config /etc/nmcluster/site.toml
      # users then:
      module use /opt/modulefiles
      module load nmcluster spikey/station500
      nmcluster run -- python example.py {system}
    """
    from nmcluster.modules import install_for_installation

    result = install_for_installation(Path(prefix), site_config=Path(site_config) if site_config else None,
                                      bin_dir=Path(bin_dir) if bin_dir else None)
    for path in result.written:
        click.echo(f"wrote {path}")
    for path in result.removed:
        click.echo(f"removed {path} (no longer in the site config)")
    click.echo(f"stations and wafers from {result.config_source}")
    click.echo(f"users: module use {result.prefix}; module load nmcluster spikey/station<N> | wafer | spinnaker")
    return 0

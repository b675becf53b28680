"""``nmcluster stations``: the Spikey stations as this node sees them, and importing station files."""

from __future__ import annotations

import click


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "-" if value is None else (yes if value else no)


def _short_access(row) -> str:
    if row.access is None:
        return "-"
    if row.access.ok:
        return "ok"
    msg = row.access.message
    if "not in group" in msg:
        return "no (not in group)"
    if "udev rule is missing" in msg:
        return "no (udev rule)"
    if "does not exist" in msg:
        return "no (no device node)"
    return "no"


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print the stations as JSON.")
@click.option("--no-slurm", is_flag=True, help="Do not ask Slurm which job uses a station (local locks only).")
@click.pass_context
def stations(ctx: click.Context, as_json: bool, no_slurm: bool) -> int:
    """Show the Spikey stations: serial, chip version, attached to this node or not, device
    permissions, which job uses it (Slurm job holding its GRES, or the local lock's holder), and the
    current calibration version.  Attached chips no station is configured for are listed too.

    \b
    Examples:
      nmcluster stations
      nmcluster stations --json
      nmcluster stations import --dir /opt/spikey/config --xml /etc/spikey/workstations.xml
    """
    if ctx.invoked_subcommand is not None:
        return 0
    from nmcluster.config import load_config
    from nmcluster.hwdrivers.spikey.stations import station_status, station_users

    site = load_config()
    users = station_users(site, use_slurm=False if no_slurm else None)
    rows = station_status(site, in_use=users.by_station,
                          calibration=lambda st: _calibration_label(site, st.name))
    if as_json:
        from nmcluster.cli.common import echo_json

        echo_json({"stations": [r.to_dict() for r in rows], "warnings": users.warnings, "site_config": site.source,
                   "sysfs_root": str(site.hardware.sysfs_root)})
        return 0
    from rich.console import Console
    from rich.table import Table

    import sys

    # off a terminal rich would squeeze the table into 80 columns and cut serials; pipes get it whole
    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"Spikey stations ({site.source})", title_justify="left")
    for col in ("station", "serial", "chip", "attached", "permissions", "in use by", "calibration"):
        table.add_column(col, overflow="fold")
    problems: list[str] = []
    for r in rows:
        attached = f"yes (USB {r.device.busport})" if r.device else "no"
        table.add_row(r.name, r.serial or "-", str(r.chip_version) if r.chip_version is not None else "?", attached,
                      _short_access(r), r.in_use_by or "-", r.calibration)
        if r.access is not None and not r.access.ok:
            problems.append(f"{r.name if r.number is not None else r.serial}: {r.access.message}")
        problems.extend(f"{r.name}: {n}" if r.number is not None else n for n in r.notes)
    if not rows:
        console.print("no Spikey stations are configured and none is attached")
    else:
        console.print(table)
    for line in users.warnings + problems:
        click.echo(f"note: {line}", err=True)
    return 0


@stations.command("import", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dir", "directory", metavar="DIR", help="Directory with stationNNN.cfg files.")
@click.option("--xml", "xml", metavar="FILE", help="A workstations.xml file.")
def import_(directory: str | None, xml: str | None) -> int:
    """Print [[stations]] TOML for the site config from stationNNN.cfg files and/or a workstations.xml.

    (The site config can also import them on every load: [hardware] station_config_dir /
    workstations_xml.)

    \b
    Examples:
      nmcluster stations import --dir /opt/spikey/config >> /etc/nmcluster/site.toml
    """
    from nmcluster.errors import UserInputError
    from nmcluster.stationfiles import import_stations, to_toml

    if not directory and not xml:
        raise UserInputError("give --dir DIR (stationNNN.cfg files) and/or --xml FILE (workstations.xml)")
    click.echo(to_toml(import_stations(directory, xml)), nl=False)
    return 0


def _calibration_label(site, target: str) -> str:
    """Current calibration version of ``target`` in the calibration store (``"v3"``); ``"-"`` when the
    store has none, ``"?"`` when it cannot be read (a status table must not fail on the store)."""
    try:
        from nmcluster.calib.store import CalibStore, default_root

        version = CalibStore(default_root(site)).current(target)
    except Exception:  # noqa: BLE001 - see above
        return "?"
    return f"v{version}" if version else "-"

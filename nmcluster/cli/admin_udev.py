"""``nmcluster admin udev-rule``: the udev rule that lets ``plugdev`` members open Spikey stations."""

from __future__ import annotations

import click


@click.command("udev-rule", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--group", default=None, metavar="GROUP",
              help="Group that may use the stations. Default: [hardware] udev_group of the site config "
                   "(plugdev).")
@click.option("--mode", default="0660", show_default=True, metavar="MODE", help="Mode of the device nodes.")
@click.option("--rule-only", is_flag=True, help="Print only the rule line, without the install comments.")
def udev_rule(group: str | None, mode: str, rule_only: bool) -> int:
    """Print the udev rule for Spikey USB stations (04b4:1003), for an admin to install.

    Without it the device nodes are root-only and jobs fall back to the emulator with a permission
    message.  Users additionally need to be in the group (and to log in again after being added).

    \b
    Examples:
      nmcluster admin udev-rule | sudo tee /etc/udev/rules.d/60-spikey.rules
      sudo udevadm control --reload-rules && sudo udevadm trigger --subsystem-match=usb
      sudo usermod -aG plugdev alice
    """
    from nmcluster.hwdrivers.spikey.access import udev_rule as rule, udev_rule_file

    if group is None:
        from nmcluster.config import load_config

        group = load_config().hardware.udev_group
    if not mode.isdigit() or len(mode) not in (3, 4) or any(c > "7" for c in mode):
        from nmcluster.errors import UserInputError

        raise UserInputError(f"--mode must be an octal mode like 0660, got {mode!r}")
    click.echo(rule(group, mode) if rule_only else udev_rule_file(group, mode), nl=rule_only)
    return 0

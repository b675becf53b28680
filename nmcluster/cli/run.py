"""``nmcluster run``: like ``srun``, with the partition's resources derived from the hardware flags."""

from __future__ import annotations

import click

from nmcluster.cli.common import build_hardware_config, environment, hardware_options, make_service, resolve_partition


@click.command(context_settings={"ignore_unknown_options": False, "help_option_names": ["-h", "--help"]})
@hardware_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(partition, station, wafer, hicann, fpga, reticle, boards, hw_config, local, mode, slurm_opts,
        command) -> int:
    """Run COMMAND now on a partition, streaming its output; exits with the command's exit code.

    \b
    {system} in COMMAND becomes the PyNN backend: the hardware's when it is attached to the node,
    else the partition's emulator (e.g. nmcluster.spikey).  Without Slurm the command runs here.
    \b
    Examples:
      nmcluster run -p spikey --station 500 -- python example.py
      nmcluster run -p wafer --wafer 33 --hicann 297,298 -- python run.py {system}
      nmcluster run -p spinnaker --boards 1 -- python run.py {system}
      nmcluster run -p spikey --emulate --local -- python run.py {system}
    """
    env = environment()
    kind = resolve_partition(partition, env)
    config = build_hardware_config(kind, hw_config, station, wafer, hicann, fpga, reticle, boards, env)
    service = make_service(local)
    return service.run(kind, config, list(command), mode or "auto", slurm_opts)

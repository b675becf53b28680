"""Options and helpers shared by ``run`` and ``submit`` (hardware flags, environment defaults)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import click

from nmcluster.errors import UserInputError

PARTITION_CHOICES = "spikey, wafer, ess, spinnaker (or Spikey, BrainScaleS, BrainScaleS-ESS, SpiNNaker)"


def _int_list(value: str | None, what: str) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UserInputError(f"--{what} takes comma-separated integers, got {value!r}") from None


def hardware_options(func: Callable) -> Callable:
    """The flags that fill the hardware config keys, in the platform's upper-case style."""
    options = [
        click.option("-p", "--partition", "--platform", "partition", metavar="NAME",
                     help=f"Partition/platform: {PARTITION_CHOICES}. Default: $NMCLUSTER_PARTITION."),
        click.option("--station", metavar="N", help="Spikey station (500 or station500) -> STATION. "
                     "Default: $MY_STAGE1_STATION."),
        click.option("--wafer", type=int, metavar="W", help="BrainScaleS wafer id -> WAFER."),
        click.option("--hicann", metavar="H,H", help="HICANNs of the wafer (0..383) -> HICANNS."),
        click.option("--fpga", metavar="F,F", help="FPGAs of the wafer (0..47) -> FPGAS."),
        click.option("--reticle", metavar="R,R", help="Reticles of the wafer (0..47) -> RETICLES."),
        click.option("--boards", type=int, metavar="N", help="SpiNNaker boards -> BOARDS."),
        click.option("--config", "hw_config", metavar="JSON|@FILE",
                     help='Hardware config as a JSON object, e.g. \'{"STATION": "station500"}\', or @file.json.'),
        click.option("--local", is_flag=True, help="Use the local executor even where Slurm exists."),
        click.option("--hardware", "mode", flag_value="hardware", help="Fail unless real hardware is used."),
        click.option("--emulate", "mode", flag_value="emulate", help="Always use the software emulator."),
        click.option("--slurm-opt", "slurm_opts", multiple=True, metavar="OPT",
                     help="Extra Slurm option, e.g. --slurm-opt=--time=10, read as sbatch/srun read it "
                          "(repeat for a separate value: --slurm-opt=-t --slurm-opt=10).  Accepted: --time, "
                          "--time-min, --mem, --mem-per-cpu, --tmp, --cpus-per-task, --mincpus, --job-name, "
                          "--comment, --mail-type, --mail-user, --nice, --hold, --no-requeue; resources "
                          "(partition, licences, GRES, account, array) come from the hardware flags."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def resolve_partition(partition: str | None, env: Mapping[str, str]) -> str:
    value = partition or env.get("NMCLUSTER_PARTITION")
    if not value:
        raise UserInputError(f"no partition given: use -p with one of {PARTITION_CHOICES} "
                             f"(or load a spikey/wafer/spinnaker module)")
    return value


def build_hardware_config(kind: str, hw_config: str | None, station: str | None, wafer: int | None,
                          hicann: str | None, fpga: str | None, reticle: str | None, boards: int | None,
                          env: Mapping[str, str]) -> dict[str, Any]:
    """Merge ``--config`` with the flags (flags win) and the module environment defaults (lowest)."""
    from nmcluster.jobs.spec import merge_hardware_config

    flags: dict[str, Any] = {}
    if station is not None:
        flags["STATION"] = station
    if wafer is not None:
        flags["WAFER"] = wafer
    for key, value, what in (("HICANNS", hicann, "hicann"), ("FPGAS", fpga, "fpga"),
                             ("RETICLES", reticle, "reticle")):
        parsed = _int_list(value, what)
        if parsed is not None:
            flags[key] = parsed
    if boards is not None:
        flags["BOARDS"] = boards
    return merge_hardware_config(kind, hw_config, flags, env)


def make_service(local: bool = False):
    """The service a command works with: a :class:`~nmcluster.remote.remote.RemoteService` when the global
    ``--host`` option names a frontend, else the local :class:`~nmcluster.jobs.service.JobService`.
    Both have the same methods, so commands never know the difference."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    host = obj.get("host") if isinstance(obj, dict) else None
    if host:
        from nmcluster.remote.remote import RemoteService

        return RemoteService(host, accept_new_host_key=bool(obj.get("accept_new_host_key")),
                             executor="local" if local else None)
    from nmcluster.jobs.service import JobService

    return JobService(executor="local" if local else None)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def environment() -> dict[str, str]:
    return dict(os.environ)


class WaitProgress:
    """What ``submit --wait`` shows while it waits: on a terminal (stderr), a live line with the job's
    state, Slurm's reason and the time waited (rich, redrawn in place); piped, nothing at all, so a
    script's output stays the job id or the JSON it asked for."""

    def __init__(self, jobs: int = 1, console=None) -> None:
        self.jobs = jobs
        self.done: set[int] = set()
        self._console = console
        self._status = None
        self._start = 0.0

    def __enter__(self) -> "WaitProgress":
        import sys
        import time

        self._start = time.monotonic()
        if self._console is None and not sys.stderr.isatty():
            return self
        from rich.console import Console

        console = self._console or Console(stderr=True)
        if console.is_terminal:
            self._status = console.status("waiting for the job ...")
            self._status.start()
        return self

    def text(self, record) -> str:
        """The progress line for ``record`` (also what a test can read without a terminal)."""
        import time

        if record.final:
            self.done.add(record.id)
        waited = time.monotonic() - self._start
        sweep = f" ({len(self.done)} of {self.jobs} done)" if self.jobs > 1 else ""
        why = f": {record.reason}" if record.reason and not record.final else ""
        return f"job {record.id} {record.status}{why}{sweep}, {waited:.0f} s"

    def update(self, record) -> None:
        self.show(self.text(record))

    def waited(self) -> float:
        import time

        return time.monotonic() - self._start

    def show(self, line: str) -> None:
        """Redraw the live line (on a terminal; nothing otherwise)."""
        if self._status is not None:
            from rich.text import Text

            self._status.update(Text(line))

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

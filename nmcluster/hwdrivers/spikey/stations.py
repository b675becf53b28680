"""The Spikey station registry: which stations a site has, where they are, and what state they are in.

Stations live in the site config (``[[stations]]``), or are imported from the original chip
software's station files by :mod:`nmcluster.stationfiles` when the site config is read.

:func:`station_status` joins the registry with what the node sees (sysfs, device node permissions) and
with who uses each station (the Slurm job holding its GRES, else the local advisory lock's holder).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nmcluster.config import Station
from nmcluster.hwdrivers.spikey.access import AccessCheck, check_node
from nmcluster.hwdrivers.spikey.discovery import UsbDevice, match_serial, spikey_devices, unspecified_serial

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig

_STATION_VALUE = re.compile(r"^(?:station)?(\d{1,9})$")


def parse_station(value: Any) -> int:
    """A job's ``STATION``: ``500``, ``"500"`` or ``"station500"`` -> 500 (HardwareConfigError otherwise,
    also for numbers of more than 9 digits, which no station has)."""
    from nmcluster.errors import HardwareConfigError, shown

    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 10**9:
            return value
    elif isinstance(value, str):
        m = _STATION_VALUE.match(value.strip())
        if m:
            return int(m.group(1))
    raise HardwareConfigError(f"spikey hardware config: STATION must be like \"station500\" or 500, "
                              f"got {shown(value)}")


# ------------------------------------------------------------------------------------------------ status
@dataclass(frozen=True)
class StationStatus:
    """One row of ``nmcluster stations``: a configured station, or an attached chip nobody configured."""

    number: int | None  # None: a Spikey with a serial no configured station has
    serial: str
    chip_version: int | None
    board_version: int | None
    host: str
    device: UsbDevice | None
    access: AccessCheck | None
    in_use_by: str = ""
    calibration: str = "-"
    notes: tuple[str, ...] = ()
    dev_root: str = "/dev"

    @property
    def name(self) -> str:
        return f"station{self.number}" if self.number is not None else "-"

    @property
    def attached(self) -> bool:
        return self.device is not None

    @property
    def usable(self) -> bool:
        return self.device is not None and self.access is not None and self.access.ok

    def to_dict(self) -> dict[str, Any]:
        return {"station": self.name, "number": self.number, "serial": self.serial,
                "chip_version": self.chip_version, "board_version": self.board_version, "host": self.host,
                "attached": self.attached, "permissions_ok": self.access.ok if self.access else None,
                "access": self.access.to_dict() if self.access else None,
                "device": self.device.to_dict(self.dev_root) if self.device else None,
                "in_use_by": self.in_use_by, "calibration": self.calibration, "notes": list(self.notes)}


def assign_devices(stations: Sequence[Station],
                   devices: list[UsbDevice]) -> tuple[dict[int, UsbDevice], list[UsbDevice]]:
    """Stations with a serial get their device first; an unspecified serial takes the only chip left."""
    assigned: dict[int, UsbDevice] = {}
    free = list(devices)
    for st in stations:
        if not unspecified_serial(st.serial):
            dev = match_serial(st.serial, free)
            if dev is not None:
                assigned[st.number] = dev
                free.remove(dev)
    for st in stations:
        if unspecified_serial(st.serial):
            dev = match_serial(st.serial, free)
            if dev is not None:
                assigned[st.number] = dev
                free.remove(dev)
    return assigned, free


def station_status(site: "SiteConfig", in_use: Mapping[int, str] | None = None,
                   numbers: Iterable[int] | None = None,
                   calibration: Callable[[Station], str] | None = None) -> list[StationStatus]:
    """The configured stations (or ``numbers`` of them) as this node sees them, plus unknown chips.

    ``in_use`` maps a station number to who uses it (see :func:`station_users`); absent -> free.
    ``calibration`` names a station's calibration version (the caller passes its lookup in the
    calibration store: the driver does not import the store).
    """
    hw = site.hardware
    wanted = [site.stations[n] for n in (sorted(numbers) if numbers is not None else sorted(site.stations))
              if n in site.stations]
    devices = spikey_devices(hw.sysfs_root)
    assigned, unknown = assign_devices(list(site.stations.values()), devices)
    rows: list[StationStatus] = []
    for st in wanted:
        dev = assigned.get(st.number)
        access = check_node(dev.node(hw.dev_root), hw.udev_group) if dev else None
        notes = ["serial unspecified (0): matched the only attached chip"] if dev and unspecified_serial(st.serial) \
            else []
        rows.append(StationStatus(number=st.number, serial=st.serial, chip_version=st.chip_version,
                                  board_version=st.board_version, host=st.host, device=dev, access=access,
                                  in_use_by=(in_use or {}).get(st.number, ""),
                                  calibration=calibration(st) if calibration else "-", notes=tuple(notes),
                                  dev_root=str(hw.dev_root)))
    if numbers is None:
        for dev in unknown:
            rows.append(StationStatus(number=None, serial=dev.serial or "(none)", chip_version=None,
                                      board_version=None, host="", device=dev,
                                      access=check_node(dev.node(hw.dev_root), hw.udev_group),
                                      notes=(f"Spikey with serial {dev.serial or '(none)'} at USB {dev.busport} is "
                                             f"not configured for any station",), dev_root=str(hw.dev_root)))
    return rows


# ------------------------------------------------------------------------------------------------ users
from nmcluster.hwdrivers.spikey.allocated import stations_in as _stations_in  # noqa: E402


def parse_scontrol_jobs(text: str) -> dict[int, str]:
    """Stations held by running jobs, from ``scontrol -d -o show job`` (one line per job).

    The per-node detail (``GRES=station:s500(CNT:1)``) and ``JOB_GRES=station:s500:1,station:s501:0,...``
    name the station actually allocated, also for jobs that asked for "any station";
    ``TresPerNode=gres:station:s500:1`` only says what was requested and is the last resort.
    """
    out: dict[int, str] = {}
    for line in text.splitlines():
        tokens = line.split()
        kv: dict[str, str] = {}
        for tok in tokens:
            if "=" in tok:
                k, v = tok.split("=", 1)
                kv.setdefault(k, v)
        if kv.get("JobState", "") not in ("RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED"):
            continue
        allocated: set[int] = set()
        for tok in tokens:
            if tok.startswith("GRES="):
                allocated |= _stations_in(tok[5:])
        if not allocated:
            allocated = _stations_in(kv.get("JOB_GRES", ""))
        if not allocated:
            allocated = _stations_in(kv.get("TresPerNode", ""))
        user = kv.get("UserId", "").split("(", 1)[0]
        about = [user] if user else []
        nmc = re.fullmatch(r"nmc-(\d+)(?:-(\d+))?", kv.get("JobName", ""))  # nmcluster's job names
        if nmc:  # an array nmc-<first>-<last>: task i runs job <first> + i (ids of one sweep are consecutive)
            task = kv.get("ArrayTaskId", "")
            about.append(f"nmcluster job {int(nmc.group(1)) + (int(task) if nmc.group(2) and task.isdigit() else 0)}")
        for number in allocated:
            out.setdefault(number, f"Slurm job {kv.get('JobId', '?')}" + (f" ({', '.join(about)})" if about else ""))
    return out


def slurm_station_users(env: Mapping[str, str] | None = None) -> dict[int, str]:
    """Station -> Slurm job using it, through the one Slurm adapter (:mod:`nmcluster.infra.slurmcli`).

    Raises :class:`~nmcluster.errors.SlurmUnavailableError` when Slurm does not answer.
    """
    from nmcluster.infra.slurmcli import SlurmCLI

    return parse_scontrol_jobs(SlurmCLI(env=env).show_jobs_detail())


@dataclass
class Users:
    """Who uses which station, and what could not be asked."""

    by_station: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def station_users(site: "SiteConfig", env: Mapping[str, str] | None = None, use_slurm: bool | None = None) -> Users:
    """Slurm jobs holding a station GRES (when Slurm is configured) and local advisory-lock holders."""
    from nmcluster.errors import NmclusterError
    from nmcluster.hwdrivers.spikey.locks import station_holder

    users = Users()
    if use_slurm is None:
        from nmcluster.infra.slurmcli import slurm_configured

        use_slurm = slurm_configured(env)
    if use_slurm:
        try:
            users.by_station.update(slurm_station_users(env))
        except NmclusterError as exc:
            users.warnings.append(f"cannot ask Slurm who uses the stations: {exc}")
    for number in site.stations:
        if number not in users.by_station:
            holder = station_holder(site, number)
            if holder:
                users.by_station[number] = holder
    return users

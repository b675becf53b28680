"""The Spikey station registry: which stations a site has, where they are, and what state they are in.

Stations live in the site config (``[[stations]]``).  Sites that already run the original chip software
keep their station data in two places, both importable here so nobody types serials twice:

``stationNNN.cfg`` (one file per station, next to the chip software; the number comes from the name)
    four lines: USB serial, board version, chip version, FPGA input delay, e.g.::

        B201335
        2
        5
        35

    A serial of ``0`` (found in old files) means "whichever single chip is attached".

``workstations.xml`` (one file for the site; this layout is nmcluster's, documented here)::

        <?xml version="1.0" encoding="UTF-8"?>
        <workstations>
          <!-- number="500" or name="station500"; host = node the USB cable is plugged into -->
          <station number="500" host="spikey-ws01">
            <serial>B201335</serial>
            <board_version>2</board_version>
            <chip_version>5</chip_version>
            <fpga_input_delay>35</fpga_input_delay>
          </station>
        </workstations>

    Every field may also be given as an attribute (``<station number="501" serial="B201336" .../>``);
    unknown elements or attributes are errors, like unknown keys in the site config.

The site config imports them through ``[hardware] station_config_dir`` / ``workstations_xml`` (explicit
``[[stations]]`` entries override imported ones by number); ``nmcluster stations import`` prints the
equivalent ``[[stations]]`` TOML for admins who prefer one file.

:func:`station_status` joins the registry with what the node sees (sysfs, device node permissions) and
with who uses each station (the Slurm job holding its GRES, else the local advisory lock's holder).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmcluster.config import Station
from nmcluster.errors import ConfigError
from nmcluster.hwdrivers.spikey.access import AccessCheck, check_node
from nmcluster.hwdrivers.spikey.discovery import UsbDevice, match_serial, spikey_devices, unspecified_serial

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig

_CFG_NAME = re.compile(r"^station(\d+)\.cfg$")
_STATION_NAME = re.compile(r"^(?:station)?(\d+)$")
_XML_FIELDS = ("serial", "board_version", "chip_version", "fpga_input_delay", "host")
_INT_FIELDS = ("board_version", "chip_version", "fpga_input_delay")


# ------------------------------------------------------------------------------------------------ import
def parse_station_cfg(path: Path | str) -> Station:
    """One ``stationNNN.cfg``: serial, board version, chip version, FPGA input delay (one per line)."""
    path = Path(path)
    m = _CFG_NAME.match(path.name)
    if not m:
        raise ConfigError(f"{path}: station files are named stationNNN.cfg (e.g. station500.cfg)")
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read station file {path}: {exc.strerror or exc}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != 4:
        raise ConfigError(f"{path}: expected 4 lines (USB serial, board version, chip version, FPGA input "
                          f"delay), found {len(lines)}")
    serial = lines[0].strip()
    values: list[int] = []
    for lineno, (what, text) in enumerate(zip(("board version", "chip version", "FPGA input delay"), lines[1:]),
                                          start=2):
        try:
            values.append(int(text.strip()))
        except ValueError:
            raise ConfigError(f"{path}:{lineno}: {what} must be an integer, got {text.strip()!r}") from None
    return Station(number=int(m.group(1)), serial=serial, board_version=values[0], chip_version=values[1],
                   fpga_input_delay=values[2])


def import_station_dir(directory: Path | str) -> list[Station]:
    """Every ``stationNNN.cfg`` in ``directory`` (other files are ignored), by station number."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"station config directory {directory} does not exist")
    return sorted((parse_station_cfg(p) for p in directory.iterdir() if _CFG_NAME.match(p.name)),
                  key=lambda s: s.number)


def parse_workstations_xml(path: Path | str) -> list[Station]:
    """Stations from a ``workstations.xml`` (layout in the module docstring)."""
    import xml.etree.ElementTree as ET

    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ET.ParseError as exc:
        raise ConfigError(f"{path}: not well-formed XML ({exc})") from None
    if root.tag != "workstations":
        raise ConfigError(f"{path}: the root element must be <workstations>, found <{root.tag}>")
    stations: list[Station] = []
    for i, el in enumerate(root, start=1):
        where = f"{path}: <{el.tag}> #{i}"
        if el.tag != "station":
            raise ConfigError(f"{where}: only <station> elements are allowed in <workstations>")
        attrs = dict(el.attrib)
        ident = attrs.pop("number", None) or attrs.pop("name", None)
        if ident is None or not _STATION_NAME.match(ident.strip()):
            raise ConfigError(f"{where}: needs number=\"500\" or name=\"station500\"")
        values: dict[str, str] = {}
        for key in list(attrs):
            if key not in _XML_FIELDS:
                raise ConfigError(f"{where}: unknown attribute {key!r} (allowed: number, name, "
                                  f"{', '.join(_XML_FIELDS)})")
            values[key] = attrs.pop(key)
        for child in el:
            if child.tag not in _XML_FIELDS:
                raise ConfigError(f"{where}: unknown element <{child.tag}> (allowed: "
                                  f"{', '.join(_XML_FIELDS)})")
            if child.tag in values:
                raise ConfigError(f"{where}: {child.tag} is given twice")
            values[child.tag] = (child.text or "").strip()
        ints: dict[str, int] = {}
        for key in _INT_FIELDS:
            if key in values:
                try:
                    ints[key] = int(values[key])
                except ValueError:
                    raise ConfigError(f"{where}: {key} must be an integer, got {values[key]!r}") from None
        number = int(_STATION_NAME.match(ident.strip()).group(1))  # type: ignore[union-attr]
        stations.append(Station(number=number, serial=values.get("serial", "").strip(),
                                board_version=ints.get("board_version", 2), chip_version=ints.get("chip_version", 4),
                                fpga_input_delay=ints.get("fpga_input_delay", 0),
                                host=values.get("host", "").strip()))
    numbers = [s.number for s in stations]
    dupes = sorted({n for n in numbers if numbers.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: station(s) {', '.join(map(str, dupes))} listed twice")
    return sorted(stations, key=lambda s: s.number)


def import_stations(config_dir: Path | str | None = None, workstations_xml: Path | str | None = None) -> list[Station]:
    """Stations from a directory of ``stationNNN.cfg`` and/or a ``workstations.xml``.

    A station found in both must agree on serial and versions (the host may come from the XML alone):
    two sources that disagree about a chip would send jobs to the wrong one.
    """
    merged: dict[int, Station] = {}
    if config_dir:
        merged.update({s.number: s for s in import_station_dir(config_dir)})
    if workstations_xml:
        for st in parse_workstations_xml(workstations_xml):
            old = merged.get(st.number)
            if old is not None and (old.serial, old.board_version, old.chip_version, old.fpga_input_delay) != \
                    (st.serial, st.board_version, st.chip_version, st.fpga_input_delay):
                raise ConfigError(f"station {st.number}: {config_dir}/station{st.number}.cfg and {workstations_xml} "
                                  f"disagree (serial {old.serial!r} vs {st.serial!r}, chip version "
                                  f"{old.chip_version} vs {st.chip_version}, ...)")
            merged[st.number] = st
    return [merged[n] for n in sorted(merged)]


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(stations: Iterable[Station]) -> str:
    """``[[stations]]`` tables for the site config, one per station."""
    blocks = []
    for st in stations:
        lines = ["[[stations]]", f"number = {st.number}", f"serial = {_toml_str(st.serial)}",
                 f"board_version = {st.board_version}", f"chip_version = {st.chip_version}",
                 f"fpga_input_delay = {st.fpga_input_delay}"]
        if st.host:
            lines.append(f"host = {_toml_str(st.host)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


# ------------------------------------------------------------------------------------------------ status
def calibration_version(site: "SiteConfig", station: Station) -> str:
    """Current calibration version of a station in the calibration store (``"v3"``); ``"-"`` when
    the store has none (or cannot be read)."""
    try:
        from nmcluster.calib.store import CalibStore, default_root

        version = CalibStore(default_root(site)).current(station.name)
    except Exception:  # noqa: BLE001 - a status table must not fail on an unreadable store
        return "?"
    return f"v{version}" if version else "-"


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
                   numbers: Iterable[int] | None = None) -> list[StationStatus]:
    """The configured stations (or ``numbers`` of them) as this node sees them, plus unknown chips.

    ``in_use`` maps a station number to who uses it (see :func:`station_users`); absent -> free.
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
                                  calibration=calibration_version(site, st), notes=tuple(notes),
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
        for number in allocated:
            out.setdefault(number, f"Slurm job {kv.get('JobId', '?')}" + (f" ({user})" if user else ""))
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
        from nmcluster.executors import slurm_configured

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

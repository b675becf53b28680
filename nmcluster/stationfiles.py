"""Station files of sites that already run the original Spikey chip software: part of reading the
site configuration, so it sits beside :mod:`nmcluster.config` at the bottom of the layers (the config
loader imports it; nothing here imports upward).  The station registry and status live in
:mod:`nmcluster.hwdrivers.spikey.stations`.

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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from nmcluster.errors import ConfigError

_CFG_NAME = re.compile(r"^station(\d+)\.cfg$")
_STATION_NAME = re.compile(r"^(?:station)?(\d+)$")
_XML_FIELDS = ("serial", "board_version", "chip_version", "fpga_input_delay", "host")
_INT_FIELDS = ("board_version", "chip_version", "fpga_input_delay")


class Station(NamedTuple):
    """A Spikey station: one USB-attached chip, addressed as ``station<number>``."""

    number: int
    serial: str = ""
    chip_version: int = 4
    board_version: int = 2
    fpga_input_delay: int = 0
    host: str = ""  # node the station's USB cable is plugged into ("" = not recorded)

    @property
    def name(self) -> str:
        return f"station{self.number}"

    @property
    def gres_type(self) -> str:
        """Slurm GRES type of this station (``station:s500``)."""
        return f"s{self.number}"


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

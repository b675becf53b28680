"""Defects of a wafer: what must not be used, and what the mapping must avoid.

Two kinds, with different consequences:

* **unavailable** FPGAs and HICANNs (a broken FPGA board, a dead chip): a job that asks for them is
  rejected before it is queued, with the reason; a whole-wafer request leaves them out; ``slurm-conf``
  creates no licence for an unavailable FPGA.
* **blacklists** per HICANN — denmems (neuron circuits 0..511) and synapse drivers (0..223) that failed
  calibration: jobs still run, the mapping (and the emulator) must not place anything there.  The job
  finds them through ``SLURM_DEFECTS_PATH`` like at the original site: a batch job's runner writes the
  job's own ``<job dir>/defects/wafer<W>.json`` (the defects files merged with the calibration store's
  blacklists of the version the job is pinned to, :func:`job_defects_dir`) and points it there.

Until the calibration store keeps defects with the calibration data, they are read from one file per
wafer in the site's ``[hardware] defects_dir``: ``wafer<W>.toml`` (or ``wafer<W>.json`` with the same
structure)::

    # defects of wafer 33
    wafer = 33                       # optional; must match the file name
    unavailable_fpgas = [3]          # FPGA enums 0..47
    unavailable_hicanns = [12, 300]  # HICANN enums 0..383

    [hicanns.297]                    # blacklists of one HICANN (the key is its enum)
    denmems = [0, 1, 45]
    synapse_drivers = [3, 100]
    note = "denmem 45 failed calibration"

Unknown keys and out-of-range numbers are errors: a typo must not silently un-blacklist a broken chip.
No file means no known defects.  Where the data come from is behind :class:`DefectSource`; the
calibration store will provide another implementation and :func:`defect_source` will choose it.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nmcluster.errors import ConfigError
from nmcluster.hwdrivers.wafer import geometry

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig

N_DENMEMS = 512
N_SYNAPSE_DRIVERS = 224
_TOP_KEYS = {"wafer", "unavailable_fpgas", "unavailable_hicanns", "hicanns"}
_HICANN_KEYS = {"denmems", "synapse_drivers", "note"}


@dataclass(frozen=True)
class HicannBlacklist:
    """Parts of one HICANN the mapping must not use."""

    denmems: frozenset[int] = frozenset()
    synapse_drivers: frozenset[int] = frozenset()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"denmems": sorted(self.denmems), "synapse_drivers": sorted(self.synapse_drivers)}
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class WaferDefects:
    """Everything known to be broken on one wafer (empty = nothing known)."""

    wafer: int
    unavailable_fpgas: frozenset[int] = frozenset()
    unavailable_hicanns: frozenset[int] = frozenset()
    hicanns: Mapping[int, HicannBlacklist] = field(default_factory=dict)
    source: str = ""  # where they were read from, quoted in rejections

    @property
    def empty(self) -> bool:
        return not (self.unavailable_fpgas or self.unavailable_hicanns or self.hicanns)

    def hicann_unavailable(self, hicann: int) -> bool:
        """Unavailable itself or behind an unavailable FPGA."""
        return hicann in self.unavailable_hicanns or geometry.fpga_of_hicann(hicann) in self.unavailable_fpgas

    def blocked_hicanns(self) -> frozenset[int]:
        """All HICANNs a job cannot use: unavailable ones and those of unavailable FPGAs."""
        return self.unavailable_hicanns | frozenset(geometry.hicanns_of_fpgas(self.unavailable_fpgas))

    def check_request(self, hicanns: Iterable[int] = (), fpgas: Iterable[int] = ()) -> None:
        """Raise :class:`~nmcluster.errors.HardwareConfigError` naming the first defective resource asked for."""
        from nmcluster.errors import HardwareConfigError

        where = f" (defects: {self.source})" if self.source else ""
        # HICANNs first: a user who named HICANNs learns which FPGA behind them is the problem
        bad = sorted(h for h in set(hicanns) if h in self.unavailable_hicanns)
        if bad:
            raise HardwareConfigError(f"wafer {self.wafer}: HICANN {', '.join(map(str, bad))} "
                                      f"{'is' if len(bad) == 1 else 'are'} marked unavailable{where}")
        behind = sorted(h for h in set(hicanns) if geometry.fpga_of_hicann(h) in self.unavailable_fpgas)
        if behind:
            f = geometry.fpga_of_hicann(behind[0])
            raise HardwareConfigError(f"wafer {self.wafer}: HICANN {behind[0]} is served by FPGA {f}, which is "
                                      f"marked unavailable{where}")
        bad_fpgas = sorted(set(fpgas) & self.unavailable_fpgas)
        if bad_fpgas:
            raise HardwareConfigError(f"wafer {self.wafer}: FPGA {', '.join(map(str, bad_fpgas))} "
                                      f"{'is' if len(bad_fpgas) == 1 else 'are'} marked unavailable{where}")

    def to_dict(self) -> dict[str, Any]:
        return {"wafer": self.wafer, "unavailable_fpgas": sorted(self.unavailable_fpgas),
                "unavailable_hicanns": sorted(self.unavailable_hicanns),
                "hicanns": {str(h): b.to_dict() for h, b in sorted(self.hicanns.items())}, "source": self.source}


def _ints(where: str, value: Any, upper: int) -> frozenset[int]:
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise ConfigError(f"{where} must be a list of integers, got {value!r}")
    bad = [v for v in value if not 0 <= v < upper]
    if bad:
        raise ConfigError(f"{where}: {bad[0]} is out of range 0..{upper - 1}")
    return frozenset(value)


def parse_defects(data: Mapping[str, Any], wafer: int, source: str = "<dict>") -> WaferDefects:
    """Validate a parsed defects document (TOML or JSON) for ``wafer``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a defects file holds a table/object")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_TOP_KEYS))})")
    if "wafer" in data and data["wafer"] != wafer:
        raise ConfigError(f"{source}: says wafer {data['wafer']!r} but is the defects file of wafer {wafer}")
    fpgas = _ints(f"{source}: unavailable_fpgas", data.get("unavailable_fpgas", []), geometry.N_FPGAS)
    hicanns = _ints(f"{source}: unavailable_hicanns", data.get("unavailable_hicanns", []), geometry.N_HICANNS)
    table = data.get("hicanns", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: hicanns must be a table keyed by HICANN enum")
    lists: dict[int, HicannBlacklist] = {}
    for key, entry in table.items():
        where = f"{source}: hicanns.{key}"
        if not str(key).isdigit() or not 0 <= int(key) < geometry.N_HICANNS:
            raise ConfigError(f"{where}: the key must be a HICANN enum 0..{geometry.N_HICANNS - 1}")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(entry) - _HICANN_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} "
                              f"(allowed: {', '.join(sorted(_HICANN_KEYS))})")
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise ConfigError(f"{where}.note must be a string")
        lists[int(key)] = HicannBlacklist(denmems=_ints(f"{where}.denmems", entry.get("denmems", []), N_DENMEMS),
                                          synapse_drivers=_ints(f"{where}.synapse_drivers",
                                                                entry.get("synapse_drivers", []), N_SYNAPSE_DRIVERS),
                                          note=note)
    return WaferDefects(wafer=wafer, unavailable_fpgas=fpgas, unavailable_hicanns=hicanns,
                        hicanns=dict(sorted(lists.items())), source=source)


def defects_file(directory: Path | str, wafer: int) -> Path | None:
    """``wafer<W>.toml`` or ``wafer<W>.json`` in ``directory`` (both present is ambiguous: an error)."""
    directory = Path(directory)
    found = [p for p in (directory / f"wafer{wafer}.toml", directory / f"wafer{wafer}.json") if p.is_file()]
    if len(found) > 1:
        raise ConfigError(f"wafer {wafer} has two defects files ({found[0]} and {found[1]}); keep one")
    return found[0] if found else None


def load_defects_file(path: Path | str, wafer: int) -> WaferDefects:
    path = Path(path)
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read defects file {path}: {exc.strerror or exc}") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"defects file {path} is malformed: {exc}") from None
    return parse_defects(data, wafer, source=str(path))


class DefectSource(Protocol):
    """Where a site's defect data come from (files now; the calibration store later)."""

    def load(self, wafer: int) -> WaferDefects: ...

    def location(self, wafer: int) -> str:
        """What the job gets as ``SLURM_DEFECTS_PATH`` ("" = nothing to read)."""
        ...


class NoDefects:
    """A site without defect data: every wafer is assumed whole."""

    def load(self, wafer: int) -> WaferDefects:
        return WaferDefects(wafer=wafer)

    def location(self, wafer: int) -> str:
        return ""


class FileDefects:
    """One ``wafer<W>.toml`` / ``.json`` per wafer in a directory; a missing file means no defects."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def load(self, wafer: int) -> WaferDefects:
        path = defects_file(self.directory, wafer)
        return load_defects_file(path, wafer) if path else WaferDefects(wafer=wafer)

    def location(self, wafer: int) -> str:
        return str(self.directory)


class BlacklistedDefects:
    """Another source's defects (the defects files) plus blacklists from a provider (the calibration
    store's, :func:`nmcluster.calib.providers.wafer_blacklists`: components ``hicann``, ``fpga``,
    ``denmem/h<H>``, ``driver/h<H>``).  The provider is passed in: the driver never imports the store."""

    def __init__(self, base: DefectSource, blacklists: Callable[[int], Any]) -> None:
        self.base = base
        self.blacklists = blacklists

    def load(self, wafer: int) -> WaferDefects:
        base = self.base.load(wafer)
        found = self.blacklists(wafer)
        if found is None:
            return base
        bl, where = found
        lists = dict(base.hicanns)
        for comp, ids in bl.items():
            kind, _, h = comp.partition("/h")
            if kind not in ("denmem", "driver") or not h.isdigit():
                continue
            old = lists.get(int(h), HicannBlacklist())
            add = frozenset(int(i) for i in ids)
            lists[int(h)] = HicannBlacklist(
                denmems=old.denmems | add if kind == "denmem" else old.denmems,
                synapse_drivers=old.synapse_drivers | add if kind == "driver" else old.synapse_drivers,
                note=old.note or "from the calibration store")
        return WaferDefects(
            wafer=wafer,
            unavailable_fpgas=base.unavailable_fpgas | frozenset(int(i) for i in bl.get("fpga", ())),
            unavailable_hicanns=base.unavailable_hicanns | frozenset(int(i) for i in bl.get("hicann", ())),
            hicanns=lists, source=", ".join(s for s in (base.source, where) if s))

    def location(self, wafer: int) -> str:
        return self.base.location(wafer)


def defect_source(site: "SiteConfig", blacklists: Callable[[int], Any] | None = None) -> DefectSource:
    """The site's defect source: the defects files (or none), plus ``blacklists`` (the calibration
    store's, passed in by the partition or the job runner) when given."""
    base: DefectSource = FileDefects(site.hardware.defects_dir) if site.hardware.defects_dir is not None \
        else NoDefects()
    return base if blacklists is None else BlacklistedDefects(base, blacklists)


def write_defects_dir(defects: WaferDefects, directory: Path | str) -> Path:
    """Write ``defects`` as ``<directory>/wafer<W>.json`` (the defects-file format above), so that a job
    reading ``SLURM_DEFECTS_PATH=<directory>`` sees them; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = defects.to_dict()
    data.pop("source", None)
    if defects.source:
        for entry in data["hicanns"].values():
            entry.setdefault("note", f"from {defects.source}")
    tmp = directory / f".wafer{defects.wafer}.json.tmp"
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(directory / f"wafer{defects.wafer}.json")
    return directory


def job_defects_dir(site: "SiteConfig", wafer: int, directory: Path | str,
                    blacklists: Callable[[int], Any] | None = None) -> Path:
    """The job's own defects directory: the site's defects files merged with ``blacklists`` (the
    calibration store's at the job's pinned version), written to ``directory`` (the job runner points
    ``SLURM_DEFECTS_PATH`` at it)."""
    return write_defects_dir(defect_source(site, blacklists).load(wafer), directory)


def load_defects(site: "SiteConfig", wafer: int, blacklists: Callable[[int], Any] | None = None) -> WaferDefects:
    """Defects of one wafer of this site (with ``blacklists``: also those of the calibration store)."""
    return defect_source(site, blacklists).load(wafer)

"""Site configuration: one TOML file describes the cluster's neuromorphic hardware.

Looked up in this order, the first file that exists wins (no merging, so what a user sees in one file is
what applies): ``$NMCLUSTER_CONFIG``, ``/etc/nmcluster/site.toml``, ``$XDG_CONFIG_HOME/nmcluster/site.toml``
(``~/.config/nmcluster/site.toml``).  Without any file the built-in defaults describe the *embedded*
case: a few Spikey stations, two wafers and two SpiNNaker boards that exist only as emulators, and a job
root in the user's data directory.  The same defaults drive the project's test cluster.

Everything is parsed into immutable records (NamedTuples: cheap to define, and this module is on every
command's start-up path) and passed explicitly; nothing reads a global.
Unknown keys are errors: a typo in a site file must not silently fall back to a default.

Where the driver layers (:mod:`nmcluster.hwdrivers`) find the hardware, all optional::

    [hardware]
    sysfs_root = "/sys"                  # Spikey discovery: <sysfs_root>/bus/usb/devices
    dev_root = "/dev"                    # usbfs nodes <dev_root>/bus/usb/BBB/DDD
    lock_dir = "/run/lock/nmcluster"     # shared station locks for --local (default: <job_root>/locks)
    defects_dir = "/etc/nmcluster/defects"   # wafer<W>.toml per wafer (hwdrivers/wafer/defects.py)
    station_config_dir = "/opt/spikey/config"  # import stationNNN.cfg files
    workstations_xml = "/etc/spikey/workstations.xml"  # import stations (hwdrivers/spikey/stations.py)
    udev_group = "plugdev"
    calib_dir = "/srv/nmcluster/calib"   # the site's calibration store (default: per user, see below)
    calib_admin_group = "nmcalib"        # group that may write the site's store besides its owner

    [spalloc]                            # SpiNNaker boards through spalloc instead of Slurm licences
    host = "spalloc.example.org"
    owner = "{user}@example.org"

    [[wafers]]
    id = 33
    hardware = true                      # a real wafer: its FPGAs are on this cluster's network
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from types import MappingProxyType
from pathlib import Path
from typing import Any, NamedTuple

from nmcluster.errors import ConfigError, shown
from nmcluster.identity import user_name
from nmcluster.stationfiles import Station, import_stations  # noqa: F401 - Station is part of the site config

SYSTEM_CONFIG = Path("/etc/nmcluster/site.toml")
PARTITION_KINDS = ("spikey", "wafer", "ess", "spinnaker")


class Wafer(NamedTuple):
    """A BrainScaleS wafer module; ``fpgas`` lists the FPGAs usable at this site."""

    id: int
    fpgas: tuple[int, ...] = tuple(range(48))
    #: the wafer physically exists here (its FPGAs answer on 192.168.<id>.x); False = emulator only
    hardware: bool = False
    #: the wafer a BrainScaleS job without ``WAFER`` runs on (the guidebook's client calls name none)
    default: bool = False


class Board(NamedTuple):
    """A SpiNNaker board (4 or 48 chips)."""

    name: str
    host: str = ""
    chips: int = 48
    position: tuple[int, int, int] = (0, 0, 0)
    #: the board physically exists here (reachable at ``host``); False = emulator only
    hardware: bool = False


class PartitionConfig(NamedTuple):
    """How one platform maps onto Slurm and onto PyNN backends.

    ``hardware_backend`` is what ``{system}`` becomes when the job runs on real hardware;
    ``emulator_backends`` are tried in order when it does not (the first importable one wins, so a
    site without our emulator for a platform still runs jobs on e.g. NEST).
    """

    kind: str
    slurm_partition: str
    hardware_backend: str
    emulator_backends: tuple[str, ...]
    always_emulate: bool = False
    board_license: str = ""  # spinnaker: Slurm licence counting boards

    @property
    def backends(self) -> tuple[str, ...]:
        """Every backend name ``{system}`` may become on this partition."""
        names = () if self.always_emulate else (self.hardware_backend,)
        return names + self.emulator_backends


class SlurmSettings(NamedTuple):
    default_partition: str = "batch"
    jobcomp_file: str = ""  # JobCompLoc of jobcomp/filetxt; fallback when Slurm forgot a job
    extra_sbatch_args: tuple[str, ...] = ()


class HardwareSettings(NamedTuple):
    """Where the driver layers look for hardware (``[hardware]`` in the site file).

    The roots are configurable so a node can be inspected from a chroot/container and so tests can use a
    directory tree with the kernel's real layout instead of the machine's own ``/sys``.
    """

    sysfs_root: Path = Path("/sys")  # USB devices under <sysfs_root>/bus/usb/devices
    dev_root: Path = Path("/dev")  # device nodes <dev_root>/bus/usb/BBB/DDD
    lock_dir: Path | None = None  # advisory station/FPGA locks outside Slurm; None = <job_root>/locks
    defects_dir: Path | None = None  # per-wafer defect files wafer<W>.toml / .json; None = no defects
    station_config_dir: Path | None = None  # import stationNNN.cfg files from here
    workstations_xml: Path | None = None  # import stations from this workstations.xml
    udev_group: str = "plugdev"  # group the udev rule gives Spikey device nodes to
    calib_dir: Path | None = None  # the site's calibration store (nmcluster.calib); None = per user
    calib_admin_group: str = ""  # group allowed to write the site's store besides its owner ("" = none)
    calib_user_dir: Path | None = None  # per-user store <user data dir>/calib, used without calib_dir
    uncalibrated: str = "warn"  # hardware without calibration: refuse, warn (told in log/status), allow


class SpallocSettings(NamedTuple):
    """A spalloc server that hands out SpiNNaker boards (``[spalloc]``); ``host == ""`` means none, and
    boards are then counted by the Slurm licence of the spinnaker partition."""

    host: str = ""
    port: int = 22244
    owner: str = ""  # spalloc wants an owner (by convention an e-mail address); "" = the user name
    machine: str = ""  # restrict allocations to this machine ("" = any machine tagged "default")
    keepalive: float = 60.0
    timeout: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.host)


class SourceLimits(NamedTuple):
    """Caps on a job's code and how it is fetched (``[sources]`` in the site file).

    A job's code comes from whoever submits it, often from a URL nobody on the cluster controls: archives
    can be bombs (tiny on the wire, terabytes unpacked) or hold 100k members, a git URL can name a 15 GB
    repository or a server that accepts the connection and never answers.  Every limit is refused with a
    one-line error naming it (see :mod:`nmcluster.jobs.safetree`)::

        [sources]
        max_bytes = 2147483648        # bytes of all files of the code (archive unpacked, folder, git tree)
        max_file_bytes = 1073741824   # one file
        max_members = 50000           # files + folders + links
        max_depth = 64                # folders deep (at most 256)
        max_ratio = 1000              # unpacked / packed size of an archive (checked above 16 MiB)
        git_max_bytes = 1073741824    # what one git clone may download
        git_max_objects = 500000      # objects one git clone may hold
        fetch_timeout_s = 300         # each git clone or archive/input download as a whole
    """

    max_bytes: int = 2 * 1024**3
    max_file_bytes: int = 1024**3
    max_members: int = 50_000
    max_depth: int = 64
    max_ratio: int = 1000
    git_max_bytes: int = 1024**3
    git_max_objects: int = 500_000
    fetch_timeout_s: float = 300.0


def parse_source_limits(table: Any) -> SourceLimits:
    """``[sources]``: positive integers (``fetch_timeout_s`` a positive number), ``max_depth`` <= 256 (deeper
    trees exhaust file descriptors and recursion in tools that later walk the job directory)."""
    table = _typed("sources", table, dict)
    _check_keys("[sources]", table, set(SourceLimits._fields))
    values: dict[str, Any] = {}
    for key, default in SourceLimits._field_defaults.items():
        kind = (int, float) if isinstance(default, float) else int
        value = _typed(f"sources.{key}", table.get(key, default), kind)
        if not 0 < value <= (256 if key == "max_depth" else 2**62):
            raise ConfigError(f"site config: sources.{key} must be a positive number"
                              + (" of at most 256" if key == "max_depth" else "") + f", got {value!r}")
        values[key] = float(value) if isinstance(default, float) else value
    return SourceLimits(**values)


class AccountingSettings(NamedTuple):
    """Collabs, quotas and resource requests on Slurm's accounting database (``[accounting]``).

    ``enabled`` says the cluster runs slurmdbd with ``AccountingStorageEnforce`` (rendered by ``nmcluster
    admin slurm-conf --accounting``); without it quotas are off and ``nmcluster info`` says so.  A collab is
    a Slurm account with one sub-account per platform (``<collab>_<platform>``) so that each platform's
    quota is its own ``GrpTRESMins=billing`` limit."""

    enabled: bool = False
    admin_group: str = "nmadmin"  # Unix group whose members may approve requests, set limits, add members
    requests_dir: Path | None = None  # resource requests (site-wide, sticky); None = quotas without requests
    dbd_host: str = "localhost"
    dbd_port: int = 6819


class BenchmarkSettings(NamedTuple):
    """``[benchmarks]``: where measurements are stored and what tasks may install."""

    database: Path | str | None = None  # SQLite path, or a mysql:// URL (MariaDB); default per user
    pip_index: str = ""  # index URL extra_pip_installs may use; "" = such tasks are refused
    cache_dir: Path | None = None  # clones of benchmark repositories; None = <user data dir>/benchmark-repos


class ServerSettings(NamedTuple):
    """``nmcluster serve`` and the provider bridge (``[server]``; see README "Platform server").

    ``state_dir``: the server's token and job-queue database (default ``<job_root>/.server``, inside the
    service account's private job root).  ``oidc_userinfo``: an OpenID Connect userinfo URL; bearer tokens
    that are not site tokens are checked there (as the real job-queue service does with EBRAINS IAM) and
    ``preferred_username`` names the user.  ``collabs``: collab -> member user names, used when Slurm
    accounting is off (with accounting on, membership is Slurm's).  ``provider_platforms``: platforms
    whose jobs wait in this server's queue for a provider bridge instead of running here.
    ``admin_users``: REST users who may approve resource requests.  ``max_body_bytes``: request size limit."""

    state_dir: Path | None = None
    oidc_userinfo: str = ""
    collabs: Mapping[str, tuple[str, ...]] = MappingProxyType({})
    provider_platforms: tuple[str, ...] = ()
    admin_users: tuple[str, ...] = ()
    max_body_bytes: int = 2_000_000
    max_upload_bytes: int = 100_000_000
    internal_hosts: tuple[str, ...] = ()  # code/input URL hosts inside the site that jobs may still name


def _parse_server(data: Mapping[str, Any]) -> ServerSettings:
    """The ``[server]`` table (one block, so that the server's settings stay in one place)."""
    sv = _typed("server", data.get("server", {}), dict)
    _check_keys("[server]", sv, {"state_dir", "oidc_userinfo", "collabs", "provider_platforms", "admin_users",
                                 "max_body_bytes", "max_upload_bytes", "internal_hosts"})
    state_dir = _typed("server.state_dir", sv.get("state_dir", ""), str)
    if state_dir and not Path(state_dir).is_absolute():
        raise ConfigError("site config: server.state_dir must be an absolute path")
    userinfo = _typed("server.oidc_userinfo", sv.get("oidc_userinfo", ""), str)
    if userinfo and not userinfo.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ConfigError("site config: server.oidc_userinfo must be an https:// URL")
    collabs: dict[str, tuple[str, ...]] = {}
    for name, members in _typed("server.collabs", sv.get("collabs", {}), dict).items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", name):
            raise ConfigError(f"site config: server.collabs: {name!r} is not a collab id (a-z, 0-9, _ and -)")
        collabs[name] = tuple(_typed(f"server.collabs.{name}[]", m, str)
                              for m in _typed(f"server.collabs.{name}", members, list))
    return ServerSettings(
        state_dir=Path(state_dir) if state_dir else None, oidc_userinfo=userinfo,
        collabs=MappingProxyType(collabs),
        provider_platforms=tuple(_typed("server.provider_platforms[]", p, str)
                                 for p in _typed("server.provider_platforms", sv.get("provider_platforms", []), list)),
        admin_users=tuple(_typed("server.admin_users[]", u, str)
                          for u in _typed("server.admin_users", sv.get("admin_users", []), list)),
        max_body_bytes=_bounded("server.max_body_bytes", sv.get("max_body_bytes", 2_000_000), 1024, 2**31 - 1),
        max_upload_bytes=_bounded("server.max_upload_bytes", sv.get("max_upload_bytes", 100_000_000), 1024,
                                  2**40),
        internal_hosts=tuple(_typed("server.internal_hosts[]", h, str).lower()
                             for h in _typed("server.internal_hosts", sv.get("internal_hosts", []), list)))


class SiteConfig(NamedTuple):
    #: this user's job root (0700, theirs alone); with ``shared_job_root = true`` it is
    #: ``<job_root>/<user>`` under the site's shared, root-owned, sticky directory
    job_root: Path
    executor: str = "auto"  # auto | slurm | local
    partitions: Mapping[str, PartitionConfig] = MappingProxyType({})
    stations: Mapping[int, Station] = MappingProxyType({})
    wafers: Mapping[int, Wafer] = MappingProxyType({})
    boards: tuple[Board, ...] = ()
    slurm: SlurmSettings = SlurmSettings()
    source: str = "built-in defaults"
    hardware: HardwareSettings = HardwareSettings()
    spalloc: SpallocSettings = SpallocSettings()
    sources: SourceLimits = SourceLimits()
    #: the site-managed parent of per-user job roots (``shared_job_root = true``), else None
    shared_job_root: Path | None = None
    accounting: AccountingSettings = AccountingSettings()
    benchmarks: BenchmarkSettings = BenchmarkSettings()
    server: ServerSettings = ServerSettings()

    @property
    def lock_dir(self) -> Path:
        """Directory of the advisory hardware locks.  Per user (under the job root) unless the site sets
        ``hardware.lock_dir``; a workstation shared by several users needs a shared one (e.g.
        ``/run/lock/nmcluster``) so that a second user sees "station 500 is in use"."""
        return self.hardware.lock_dir or self.job_root / "locks"

    @property
    def calib_root(self) -> Path:
        """Directory of the calibration store (:mod:`nmcluster.calib`): the site's ``hardware.calib_dir``
        (owned by the admins, read-only for users), else the user's own ``<user data dir>/calib`` - never a
        directory next to a job root that other users share and could plant calibrations in."""
        return (self.hardware.calib_dir or self.hardware.calib_user_dir
                or user_data_dir(os.environ) / "calib")

    def partition(self, kind: str) -> PartitionConfig:
        try:
            return self.partitions[kind]
        except KeyError:
            raise ConfigError(f"partition {kind!r} is not configured at this site "
                              f"(configured: {', '.join(sorted(self.partitions))})") from None


DEFAULT_PARTITIONS: dict[str, dict[str, Any]] = {
    "spikey": {"slurm_partition": "spikey", "hardware_backend": "hardware.spikey",
               "emulator_backends": ["nmcluster.spikey", "nest"]},
    "wafer": {"slurm_partition": "wafer", "hardware_backend": "hardware.brainscales",
              "emulator_backends": ["nmcluster.brainscales", "nest"]},
    "ess": {"slurm_partition": "batch", "hardware_backend": "hardware.brainscales",
            "emulator_backends": ["nmcluster.brainscales", "nest"], "always_emulate": True},
    "spinnaker": {"slurm_partition": "spinnaker", "hardware_backend": "spiNNaker",
                  "emulator_backends": ["nmcluster.spinnaker", "nest"],
                  "board_license": "spinnaker_board"},
}
DEFAULT_STATIONS = [
    {"number": 500, "serial": "SPIKEY-0500", "chip_version": 4},
    {"number": 501, "serial": "SPIKEY-0501", "chip_version": 4},
    {"number": 502, "serial": "SPIKEY-0502", "chip_version": 4},
    {"number": 600, "serial": "SPIKEY-0600", "chip_version": 5},
]
DEFAULT_WAFERS = [{"id": 33, "default": True}, {"id": 37}]
DEFAULT_BOARDS = [{"name": "spinn-1", "host": "spinn-1", "chips": 48},
                  {"name": "spinn-2", "host": "spinn-2", "chips": 48, "position": [0, 0, 1]}]


def user_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "nmcluster"


def user_config_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "nmcluster" / "site.toml"


def find_config_file(env: Mapping[str, str] | None = None) -> Path | None:
    """The site file that applies, or None for the built-in defaults."""
    env = os.environ if env is None else env
    explicit = env.get("NMCLUSTER_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"NMCLUSTER_CONFIG names {path}, which is not a file")
        return path
    for path in (SYSTEM_CONFIG, user_config_file(env)):
        if path.is_file():
            return path
    return None


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> SiteConfig:
    """Load the site configuration (``path``, else the lookup order in the module docstring)."""
    env = os.environ if env is None else env
    file = Path(path) if path is not None else find_config_file(env)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            with open(file, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read site config {file}: {exc}") from None
        except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition
            raise ConfigError(f"cannot read site config {file}: not UTF-8 text (byte {exc.start}: "
                              f"{exc.reason})") from None
        except ValueError as exc:  # e.g. an integer of thousands of digits (int conversion limit)
            raise ConfigError(f"cannot read site config {file}: {str(exc).split(';')[0]}") from None
        except RecursionError:  # arrays nested thousands deep
            raise ConfigError(f"cannot read site config {file}: nested too deeply") from None
    return parse_config(data, env, source=str(file) if file else "built-in defaults")


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"site config: unknown key(s) {', '.join(unknown)} in {where} "
                          f"(allowed: {', '.join(sorted(allowed))})")


def _typed(where: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if isinstance(value, bool) and kind is int or not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"site config: {where} must be {name}, got {shown(value, 80)}")
    return value


def _int_list(where: str, value: Any, lo: int = 0, hi: int = 9999) -> tuple[int, ...]:
    _typed(where, value, list)
    return tuple(_bounded(f"{where}[]", v, lo, hi) for v in value)


def _bounded(where: str, value: Any, lo: int, hi: int) -> int:
    """An integer in ``lo..hi``.  Numbers end up in slurm.conf, udev rules, GRES names and file names:
    a negative station or a number of thousands of digits must stop here with one line, not later as a
    ValueError/OverflowError in whichever command renders it."""
    _typed(where, value, int)
    if not lo <= value <= hi:
        raise ConfigError(f"site config: {where} must lie in {lo}..{hi}, got {shown(value)}")
    return value


#: POSIX portable user/group names as Debian's adduser accepts them (NAME_REGEX), at most 32 characters:
#: the group is written into a udev rule, so quotes, commas or newlines must never get there
_GROUP_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,30}\$?$")


def valid_group_name(name: str) -> bool:
    """True for a portable Unix group name (what may be written into a udev rule)."""
    return bool(_GROUP_RE.fullmatch(name))


def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None,
                 source: str = "<dict>") -> SiteConfig:
    """Validate a parsed TOML document and build the :class:`SiteConfig`."""
    env = os.environ if env is None else env
    _check_keys("the top level", data,
                {"job_root", "shared_job_root", "executor", "partitions", "stations", "wafers", "boards", "slurm",
                 "hardware", "spalloc", "accounting", "benchmarks", "sources", "server"})
    # the real uid's name, never $USER: {user} decides whose directory this process writes into
    user = user_name()
    raw_root = str(_typed("job_root", data.get("job_root") or str(user_data_dir(env) / "jobs"), str))
    shared_root = _typed("shared_job_root", data.get("shared_job_root", False), bool)
    if shared_root and "{user}" in raw_root:
        raise ConfigError("site config: shared_job_root = true makes <job_root>/<user> per user; "
                          "drop {user} from job_root")
    job_root = Path(os.path.expanduser(raw_root.replace("{user}", user)))
    if not job_root.is_absolute():
        raise ConfigError(f"site config: job_root must be an absolute path, got {raw_root!r}")
    shared_parent: Path | None = None
    if shared_root:
        shared_parent, job_root = job_root, job_root / user
    executor = _typed("executor", data.get("executor", "auto"), str)
    if executor not in ("auto", "slurm", "local"):
        raise ConfigError(f"site config: executor must be auto, slurm or local, got {executor!r}")

    parts_in = _typed("partitions", data.get("partitions", {}), dict)
    partitions: dict[str, PartitionConfig] = {}
    for kind in PARTITION_KINDS:
        merged = dict(DEFAULT_PARTITIONS[kind])
        override = _typed(f"partitions.{kind}", parts_in.get(kind, {}), dict)
        _check_keys(f"[partitions.{kind}]", override, set(DEFAULT_PARTITIONS["spinnaker"]) | {"always_emulate"})
        merged.update(override)
        partitions[kind] = PartitionConfig(
            kind=kind,
            slurm_partition=_typed(f"partitions.{kind}.slurm_partition", merged["slurm_partition"], str),
            hardware_backend=_typed(f"partitions.{kind}.hardware_backend", merged["hardware_backend"], str),
            emulator_backends=tuple(_typed(f"partitions.{kind}.emulator_backends[]", b, str)
                                    for b in _typed(f"partitions.{kind}.emulator_backends",
                                                    merged["emulator_backends"], list)),
            always_emulate=bool(_typed(f"partitions.{kind}.always_emulate",
                                       merged.get("always_emulate", False), bool)),
            board_license=_typed(f"partitions.{kind}.board_license", merged.get("board_license", ""), str),
        )
    unknown_parts = sorted(set(parts_in) - set(PARTITION_KINDS))
    if unknown_parts:
        raise ConfigError(f"site config: unknown partition(s) {', '.join(unknown_parts)} "
                          f"(known: {', '.join(PARTITION_KINDS)})")

    hw = _typed("hardware", data.get("hardware", {}), dict)
    _check_keys("[hardware]", hw, {"sysfs_root", "dev_root", "lock_dir", "defects_dir", "station_config_dir",
                                   "workstations_xml", "udev_group", "calib_dir", "calib_admin_group",
                                   "uncalibrated"})
    uncalibrated = _typed("hardware.uncalibrated", hw.get("uncalibrated", "warn"), str)
    if uncalibrated not in ("refuse", "warn", "allow"):
        raise ConfigError(f"site config: hardware.uncalibrated must be refuse, warn or allow, "
                          f"not {uncalibrated!r}")

    def _path(key: str, default: str | None) -> Path | None:
        value = _typed(f"hardware.{key}", hw.get(key, default or ""), str)
        return Path(os.path.expanduser(value.replace("{user}", user))) if value else None

    hardware = HardwareSettings(
        sysfs_root=_path("sysfs_root", "/sys") or Path("/sys"),
        dev_root=_path("dev_root", "/dev") or Path("/dev"),
        lock_dir=_path("lock_dir", None), defects_dir=_path("defects_dir", None),
        station_config_dir=_path("station_config_dir", None), workstations_xml=_path("workstations_xml", None),
        calib_dir=_path("calib_dir", None), calib_user_dir=user_data_dir(env) / "calib",
        calib_admin_group=_typed("hardware.calib_admin_group", hw.get("calib_admin_group", ""), str),
        udev_group=_typed("hardware.udev_group", hw.get("udev_group", "plugdev"), str) or "plugdev",
        uncalibrated=uncalibrated,
    )
    if not valid_group_name(hardware.udev_group):
        raise ConfigError(f"site config: hardware.udev_group must be a group name (letters, digits, _ and -), "
                          f"got {hardware.udev_group!r}")

    stations: dict[int, Station] = {}
    if hardware.station_config_dir or hardware.workstations_xml:
        # imported stations come first; [[stations]] entries below override them by number
        stations.update({s.number: s for s in import_stations(hardware.station_config_dir,
                                                              hardware.workstations_xml)})
        station_list = data.get("stations", [])
    else:
        station_list = data.get("stations", DEFAULT_STATIONS)
    explicit: set[int] = set()
    for i, st in enumerate(_typed("stations", station_list, list)):
        _typed(f"stations[{i}]", st, dict)
        _check_keys(f"stations[{i}]", st, {"number", "serial", "chip_version", "board_version",
                                           "fpga_input_delay", "host"})
        if "number" not in st:
            raise ConfigError(f"site config: stations[{i}] needs a number")
        station = Station(number=_bounded(f"stations[{i}].number", st["number"], 0, 99999),
                          serial=str(st.get("serial", "")),
                          chip_version=_bounded(f"stations[{i}].chip_version", st.get("chip_version", 4), 0, 99),
                          board_version=_bounded(f"stations[{i}].board_version", st.get("board_version", 2), 0, 99),
                          fpga_input_delay=_bounded(f"stations[{i}].fpga_input_delay",
                                                    st.get("fpga_input_delay", 0), 0, 1_000_000),
                          host=_typed(f"stations[{i}].host", st.get("host", ""), str))
        if station.number in explicit:
            raise ConfigError(f"site config: station {station.number} is listed twice")
        explicit.add(station.number)
        stations[station.number] = station
    stations = dict(sorted(stations.items()))

    wafers: dict[int, Wafer] = {}
    for i, wf in enumerate(_typed("wafers", data.get("wafers", DEFAULT_WAFERS), list)):
        _typed(f"wafers[{i}]", wf, dict)
        _check_keys(f"wafers[{i}]", wf, {"id", "fpgas", "hardware", "default"})
        if "id" not in wf:
            raise ConfigError(f"site config: wafers[{i}] needs an id")
        fpgas = _int_list(f"wafers[{i}].fpgas", wf.get("fpgas", list(range(48))), 0, 47)
        wafer = Wafer(id=_bounded(f"wafers[{i}].id", wf["id"], 0, 9999), fpgas=tuple(sorted(set(fpgas))),
                      hardware=_typed(f"wafers[{i}].hardware", wf.get("hardware", False), bool),
                      default=_typed(f"wafers[{i}].default", wf.get("default", False), bool))
        wafers[wafer.id] = wafer
    defaults = [w.id for w in wafers.values() if w.default]
    if len(defaults) > 1:
        raise ConfigError(f"site config: only one wafer can be the default, got {', '.join(map(str, defaults))}")

    boards: list[Board] = []
    for i, bd in enumerate(_typed("boards", data.get("boards", DEFAULT_BOARDS), list)):
        _typed(f"boards[{i}]", bd, dict)
        _check_keys(f"boards[{i}]", bd, {"name", "host", "chips", "position", "hardware"})
        chips = _bounded(f"boards[{i}].chips", bd.get("chips", 48), 0, 48)
        if chips not in (4, 48):
            raise ConfigError(f"site config: boards[{i}].chips must be 4 or 48, got {chips}")
        pos = _int_list(f"boards[{i}].position", bd.get("position", [0, 0, 0]), 0, 9999)
        if len(pos) != 3:
            raise ConfigError(f"site config: boards[{i}].position must be [x, y, z]")
        boards.append(Board(name=_typed(f"boards[{i}].name", bd.get("name", f"board{i}"), str),
                            host=str(bd.get("host", "")), chips=chips, position=(pos[0], pos[1], pos[2]),
                            hardware=_typed(f"boards[{i}].hardware", bd.get("hardware", False), bool)))
    names = [b.name for b in boards]
    if len(set(names)) != len(names):
        raise ConfigError("site config: SpiNNaker board names must be unique")

    sl = _typed("slurm", data.get("slurm", {}), dict)
    _check_keys("[slurm]", sl, {"default_partition", "jobcomp_file", "extra_sbatch_args"})
    slurm = SlurmSettings(
        default_partition=_typed("slurm.default_partition", sl.get("default_partition", "batch"), str),
        jobcomp_file=_typed("slurm.jobcomp_file", sl.get("jobcomp_file", ""), str),
        extra_sbatch_args=tuple(_typed("slurm.extra_sbatch_args[]", a, str)
                                for a in _typed("slurm.extra_sbatch_args", sl.get("extra_sbatch_args", []), list)),
    )
    sp = _typed("spalloc", data.get("spalloc", {}), dict)
    _check_keys("[spalloc]", sp, {"host", "port", "owner", "machine", "keepalive", "timeout"})
    spalloc = SpallocSettings(
        host=_typed("spalloc.host", sp.get("host", ""), str),
        port=_bounded("spalloc.port", sp.get("port", 22244), 1, 65535),
        owner=_typed("spalloc.owner", sp.get("owner", ""), str).replace("{user}", user),
        machine=_typed("spalloc.machine", sp.get("machine", ""), str),
        keepalive=float(_typed("spalloc.keepalive", sp.get("keepalive", 60.0), (int, float))),
        timeout=float(_typed("spalloc.timeout", sp.get("timeout", 10.0), (int, float))),
    )
    ac = _typed("accounting", data.get("accounting", {}), dict)
    _check_keys("[accounting]", ac, {"enabled", "admin_group", "requests_dir", "dbd_host", "dbd_port"})
    requests_dir = _typed("accounting.requests_dir", ac.get("requests_dir", ""), str)
    accounting = AccountingSettings(
        enabled=_typed("accounting.enabled", ac.get("enabled", False), bool),
        admin_group=_typed("accounting.admin_group", ac.get("admin_group", "nmadmin"), str),
        requests_dir=Path(requests_dir) if requests_dir else None,
        dbd_host=_typed("accounting.dbd_host", ac.get("dbd_host", "localhost"), str),
        dbd_port=_bounded("accounting.dbd_port", ac.get("dbd_port", 6819), 1, 65535))
    if not valid_group_name(accounting.admin_group):
        raise ConfigError(f"site config: accounting.admin_group must be a group name, got {accounting.admin_group!r}")
    if accounting.requests_dir is not None and not accounting.requests_dir.is_absolute():
        raise ConfigError("site config: accounting.requests_dir must be an absolute path")
    bm = _typed("benchmarks", data.get("benchmarks", {}), dict)
    _check_keys("[benchmarks]", bm, {"database", "pip_index", "cache_dir"})
    bm_db = _typed("benchmarks.database", bm.get("database", ""), str)
    bm_cache = _typed("benchmarks.cache_dir", bm.get("cache_dir", ""), str)
    benchmarks = BenchmarkSettings(
        database=(bm_db if re.match(r"^(mysql|mariadb)://", bm_db) else
                  Path(os.path.expanduser(bm_db.replace("{user}", user))) if bm_db
                  else user_data_dir(env) / "benchmarks.sqlite"),
        pip_index=_typed("benchmarks.pip_index", bm.get("pip_index", ""), str),
        cache_dir=Path(os.path.expanduser(bm_cache.replace("{user}", user))) if bm_cache
        else user_data_dir(env) / "benchmark-repos")
    return SiteConfig(job_root=job_root, shared_job_root=shared_parent, accounting=accounting, benchmarks=benchmarks,
                      executor=executor, partitions=partitions, stations=stations,
                      wafers=wafers, boards=tuple(boards), slurm=slurm, source=source, hardware=hardware,
                      spalloc=spalloc, sources=parse_source_limits(data.get("sources", {})),
                      server=_parse_server(data))

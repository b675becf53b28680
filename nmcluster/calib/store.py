"""Versioned calibration store: one HDF5 file per target, new versions published atomically.

Targets are named ``station<N>`` (a Spikey station) or ``wafer<W>`` (a BrainScaleS wafer with its
HICANNs).  The store directory (``[hardware] calib_dir`` of the site config: the site's store, owned by
root/the admin group and read-only for users; without it the user's own ``<user data dir>/calib``;
``$NMCLUSTER_CALIB_ROOT`` overrides both) holds::

    station500.h5        the target's file (all versions)
    station500.lock      writer lock (fcntl), serialises writers of this target
    runs/<run id>/       calibration runs (raw chunk results, task status; see runs.py)

File layout (HDF5)::

    /                    attrs: target, kind ("spikey" | "wafer"), current (int), format (1)
    /versions/<n>/       one version, n = 1, 2, ...; attrs: created (epoch s), tool_version,
                         slurm_job_id, source ("emulated" | "hardware"), chip_id, notes, parent
                         (version it was derived from, 0 = none), meta (JSON: run parameters ...)
    /versions/<n>/data/<path>        float/int datasets, e.g. neurons/g_leak_factor (Spikey, 384),
                                     drivers/driver_factor (512), hicann/367/V_t/coeffs (512, k)
                                     (dataset attrs carry per-dataset facts: kind, unit, domain)
    /versions/<n>/blacklist/<component>   sorted int ids: neuron, driver (Spikey); hicann, fpga,
                                     denmem/h<H>, driver/h<H> (wafer), like redman

Why copy-on-write of the whole file rather than appending in place: HDF5 updates its metadata in
place, so a writer killed in the middle of an in-place append can leave a file no reader can open.
A writer here takes ``<target>.lock`` (``fcntl.flock``; a killed writer's lock dies with it), copies
the current file to ``.<target>.h5.<pid>.tmp``, adds the version, sets ``current`` last, closes,
``fsync``\\ s the file, ``os.replace``\\ s it over ``<target>.h5`` and ``fsync``\\ s the directory.
A reader opens ``<target>.h5`` and sees either the complete old file or the complete new one; a
writer killed at any point leaves the previous file untouched (its temporary is removed by the next
writer).  The files are small (a Spikey version is ~20 KB, a wafer HICANN ~50 KB), so copying is
cheap next to a calibration run.

Every file is untrusted input: :mod:`nmcluster.calib.safety` refuses a store (directory, files, links
on the way) that anyone but its owner, root or the admin group could write, and reads a file's versions
only after checking their datasets against the hardware's layout (no external storage, no virtual
datasets, no links, bounded shapes and version numbers).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from nmcluster.calib import safety
from nmcluster.calib.safety import UnsafeCalibration, check_version
from nmcluster.errors import NmclusterError, UserInputError
from nmcluster.fsinfo import lock_exclusive

FORMAT = 1
ENV_ROOT = "NMCLUSTER_CALIB_ROOT"
ENV_VERSION = "NMCLUSTER_CALIB_VERSION"
_TARGET_RE = re.compile(r"^(?:(station)(\d{1,9})|(wafer)(\d{1,9}))$")


class CalibError(NmclusterError):
    """A calibration store or run failed at run time."""


class CalibInputError(UserInputError):
    """Bad calibration input (unknown target or version, malformed file)."""


def parse_target(name: str | int) -> tuple[str, int]:
    """``"station500"``/``"500"``/``500`` -> ("spikey", 500); ``"wafer33"`` / ``"w33"`` -> ("wafer", 33)."""
    s = str(name).strip().lower()[:64]
    if re.fullmatch(r"\d{1,9}", s):
        return "spikey", int(s)
    s = re.sub(r"^w(\d+)$", r"wafer\1", s)
    m = _TARGET_RE.match(s)
    if not m:
        raise CalibInputError(f"calibration target must look like station500 or wafer33, got {name!r}")
    return ("spikey", int(m.group(2))) if m.group(1) else ("wafer", int(m.group(4)))


def target_name(kind: str, number: int) -> str:
    return f"station{number}" if kind == "spikey" else f"wafer{number}"


def default_root(site: Any | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The store directory: ``$NMCLUSTER_CALIB_ROOT``, else the site's ``[hardware] calib_dir``, else
    ``calib`` next to the job root."""
    env = os.environ if env is None else env
    if env.get(ENV_ROOT):
        return Path(env[ENV_ROOT])
    if site is None:
        from nmcluster.config import load_config

        site = load_config(env=env)
    return site.calib_root


@dataclass
class Calibration:
    """One version's content.  ``data`` maps dataset paths to arrays, ``attrs`` dataset paths to their
    attributes, ``blacklist`` component names to sorted id arrays."""

    target: str
    kind: str
    version: int = 0
    data: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    blacklist: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {"target": self.target, "version": self.version, **self.meta,
                "datasets": {k: list(np.shape(v)) for k, v in sorted(self.data.items())},
                "blacklist": {k: [int(i) for i in v] for k, v in sorted(self.blacklist.items())}}


_META_KEYS = ("created", "tool_version", "slurm_job_id", "source", "chip_id", "notes", "parent")


def _tool_version() -> str:
    try:
        from nmcluster import __version__

        return str(__version__)
    except Exception:  # pragma: no cover
        return "?"


def _publish(tmp: Path, path: Path) -> None:
    """Make a fully written temporary file the store file: fsync it, rename it over the old one, fsync
    the directory (so a crash leaves either the old or the new file, never a torn one)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_store(site: Any | None = None, env: Mapping[str, str] | None = None) -> "CalibStore":
    """The store a job or command of this site uses, with the site's admin group."""
    env = os.environ if env is None else env
    if site is None:
        from nmcluster.config import load_config

        site = load_config(env=env)
    return CalibStore(default_root(site, env), admin_group=site.hardware.calib_admin_group)


def _site_admin_group() -> str:
    """``[hardware] calib_admin_group`` of the site config ("" when none or unreadable)."""
    try:
        from nmcluster.config import load_config

        return str(getattr(load_config().hardware, "calib_admin_group", "") or "")
    except Exception:  # noqa: BLE001 - no admin group: only the user and root are trusted
        return ""


class CalibStore:
    """The store at ``root`` (created on first write).  ``admin_group``: the group besides the owner that
    may write it (None: the site config's ``[hardware] calib_admin_group``, looked up only when a
    file's owner or group needs it)."""

    def __init__(self, root: Path | str | None = None, admin_group: str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._admin_group = admin_group
        self._trust = safety.trust_for(admin_group or "")

    # -- ownership -----------------------------------------------------------------------------
    def _checked(self, check, *args):
        """``check(*args, trust)``; on a refusal, retry once with the site's admin group when it was not
        given (so a store writable by the admins is accepted without reading the config every time)."""
        try:
            return check(*args, self._trust)
        except UnsafeCalibration:
            if self._admin_group is not None:
                raise
            self._admin_group = _site_admin_group()
            if not self._admin_group:
                raise
            self._trust = safety.trust_for(self._admin_group)
            return check(*args, self._trust)

    def check(self) -> bool:
        """Refuse a store someone else could write (see :mod:`nmcluster.calib.safety`); False when the
        store does not exist yet."""
        return bool(self._checked(safety.check_store_dir, self.root))

    def _check_file(self, path: Path):
        return self._checked(safety.check_store_file, path)

    # -- paths ---------------------------------------------------------------------------------
    def path(self, target: str) -> Path:
        kind, n = parse_target(target)
        return self.root / f"{target_name(kind, n)}.h5"

    def targets(self) -> list[str]:
        if not self.check():
            return []
        out = []
        for p in self.root.glob("*.h5"):
            try:
                parse_target(p.stem)
            except CalibInputError:
                continue
            out.append(p.stem)
        return sorted(out, key=lambda t: (parse_target(t)[0], parse_target(t)[1]))

    # -- reading -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _open(self, target: str) -> Iterator[Any]:
        import h5py

        path = self.path(target)
        if not self.check() or self._check_file(path) is None:
            raise CalibInputError(f"no calibration for {target} in {self.root} "
                                  f"(run `nmcluster calib run ...` or `nmcluster calib import`)")
        try:
            fh = h5py.File(path, "r", locking=False)
        except Exception as exc:  # noqa: BLE001 - OSError, or libhdf5's other complaints about a crafted file
            raise UnsafeCalibration(f"calibration file {path} cannot be read as HDF5: "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        try:
            yield fh
        finally:
            fh.close()

    def current(self, target: str) -> int | None:
        """Current version of ``target``; None when the target has no file."""
        if not self.check() or self._check_file(self.path(target)) is None:
            return None
        with self._open(target) as fh:
            return safety.current_version(safety._File(self.path(target)), fh) or None

    def versions(self, target: str) -> list[dict[str, Any]]:
        """Metadata of every version, oldest first (``current`` flags the current one)."""
        with self._open(target) as fh:
            f = safety._File(self.path(target))
            cur = safety.current_version(f, fh)
            vs, names = safety.version_names(f, fh)
            out = []
            for v in names:
                g = f.group(vs, str(v), f"/versions/{v}")
                m = _read_meta(g, f, f"/versions/{v}")
                m.update(version=v, current=v == cur)
                out.append(m)
            return out

    def read(self, target: str, version: int | None = None) -> Calibration:
        """One version (default: the current one)."""
        kind, n = parse_target(target)
        name = target_name(kind, n)
        if version is not None:
            version = check_version(version, f"{name}: requested version")
        with self._open(name) as fh:
            f = safety._File(self.path(name))
            v = version if version is not None else safety.current_version(f, fh)
            vs, names = safety.version_names(f, fh)
            if not v or v not in names:
                have = _ranges(names) or "none"
                raise CalibInputError(f"{name} has no calibration version {version if version else '(current)'}"
                                      f" in {f.path} (versions: {have})")
            where = f"/versions/{v}"
            g = f.group(vs, str(v), where)
            cal = Calibration(name, kind, v, meta=_read_meta(g, f, where))
            data = f.group(g, "data", f"{where}/data")
            if data is not None:
                cal.data, cal.attrs = safety.read_data(f, data, kind, f"{where}/data")
            bl = f.group(g, "blacklist", f"{where}/blacklist")
            if bl is not None:
                cal.blacklist = safety.read_blacklist(f, bl, kind, f"{where}/blacklist")
            return cal

    # -- writing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer_lock(self, target: str, timeout: float = 60.0) -> Iterator[None]:
        """Serialise writers of ``target`` (a lock on ``<target>.lock`` that other machines see too)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.check()
        lock = self.path(target).with_suffix(".lock")
        self._check_file(lock)
        try:  # never through a link planted in a store that was writable before
            # 0664: in a site store (setgid, admin group) every admin takes the same lock
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY, 0o664)
        except OSError as exc:
            raise CalibError(f"cannot open the store's writer lock {lock}: {exc.strerror}") from None
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    # flock on local disks, POSIX locks on shared file systems (nmcluster/fsinfo.py)
                    lock_exclusive(fd, lock, blocking=False)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise CalibError(f"another writer holds {lock} for more than {timeout:g} s") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock

    def commit(self, cal: Calibration, *, notes: str = "", source: str = "emulated",
               chip_id: str = "", slurm_job_id: str | None = None, meta: Mapping[str, Any] | None = None,
               parent: int | None = None, make_current: bool = True,
               _before_publish: Any = None) -> int:
        """Write ``cal`` as a new version of its target and (by default) make it current; returns the
        version number.  Atomic (see the module docstring)."""
        import h5py

        name = cal.target
        kind, _ = parse_target(name)
        path = self.path(name)
        _check_calibration(cal, kind)
        with self.writer_lock(name):
            for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed writer
                with contextlib.suppress(OSError):
                    stale.unlink()
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                if self._check_file(path) is not None:
                    _copy_new(path, tmp)
                with h5py.File(tmp, "a", locking=False) as fh:
                    f = safety._File(path)
                    _, have = safety.version_names(f, fh)
                    cur = safety.current_version(f, fh)
                    fh.attrs["target"] = name
                    fh.attrs["kind"] = kind
                    fh.attrs["format"] = FORMAT
                    vs = fh.require_group("versions")
                    version = check_version(max(have, default=0) + 1, f"{path}: next version")
                    g = vs.create_group(str(version))
                    g.attrs["created"] = time.time()
                    g.attrs["tool_version"] = _tool_version()
                    g.attrs["slurm_job_id"] = str(slurm_job_id if slurm_job_id is not None
                                                  else os.environ.get("SLURM_JOB_ID", ""))
                    g.attrs["source"] = source
                    g.attrs["chip_id"] = chip_id
                    g.attrs["notes"] = notes
                    g.attrs["parent"] = check_version(parent if parent is not None else cur, "parent version",
                                                      allow_zero=True)
                    g.attrs["meta"] = json.dumps(dict(meta or cal.meta.get("meta") or {}), sort_keys=True,
                                                 default=_json_default)
                    d = g.create_group("data")
                    for key, arr in sorted(cal.data.items()):
                        ds = d.create_dataset(key, data=np.asarray(arr))
                        for ak, av in cal.attrs.get(key, {}).items():
                            ds.attrs[ak] = av
                    b = g.create_group("blacklist")
                    for comp, ids in sorted(cal.blacklist.items()):
                        b.create_dataset(comp, data=np.unique(np.asarray(ids, dtype=np.int64)))
                    if _before_publish is not None:
                        _before_publish(fh)  # tests: a hook to be killed "mid-write"
                    if make_current:
                        fh.attrs["current"] = version  # last: the version is complete
                _publish(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
        return version

    def set_current(self, target: str, version: int) -> None:
        """Make an existing version current (roll back / forward), atomically."""
        import h5py

        path = self.path(target)
        version = check_version(version, f"{target}: version")
        with self.writer_lock(target):
            with self._open(target) as fh:
                if version not in safety.version_names(safety._File(path), fh)[1]:
                    raise CalibInputError(f"{target} has no calibration version {version}")
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # left by a killed writer that had our pid (we hold the writer lock)
            try:
                _copy_new(path, tmp)
                with h5py.File(tmp, "a", locking=False) as fh:
                    fh.attrs["current"] = version
                _publish(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise

    def update_blacklist(self, target: str, action: str, component: str, ids: list[int],
                         notes: str = "") -> int:
        """A new version equal to the current one with ``ids`` added to / removed from the blacklist
        of ``component``; returns its number."""
        if action not in ("add", "remove"):
            raise CalibInputError(f"blacklist action must be add or remove, got {action!r}")
        with self.writer_lock(target, timeout=60):
            pass  # fail early on a stuck writer; commit takes the lock again
        cal = self.read(target)
        old = set(int(i) for i in cal.blacklist.get(component, ()))
        new = old | set(ids) if action == "add" else old - set(ids)
        cal.blacklist[component] = np.array(sorted(new), dtype=np.int64)
        if not new:
            cal.blacklist.pop(component)
        base = cal.version
        return self.commit(cal, notes=notes or f"blacklist {action} {component} {_ranges(ids)}",
                           source=cal.meta.get("source", "emulated"), chip_id=cal.meta.get("chip_id", ""),
                           meta=cal.meta.get("meta", {}), parent=base)

    # -- diff ----------------------------------------------------------------------------------
    def diff(self, target: str, a: int, b: int | None = None) -> dict[str, Any]:
        """What changed from version ``a`` to ``b`` (default: current): per dataset the number of
        changed entries and the largest change, blacklist ids added/removed, metadata changes."""
        va = self.read(target, a)
        vb = self.read(target, b)
        out: dict[str, Any] = {"target": va.target, "from": va.version, "to": vb.version, "datasets": {},
                               "blacklist": {}, "meta": {}}
        for key in sorted(set(va.data) | set(vb.data)):
            if key not in va.data or key not in vb.data:
                out["datasets"][key] = {"status": "added" if key in vb.data else "removed"}
                continue
            x, y = np.asarray(va.data[key]), np.asarray(vb.data[key])
            if x.shape != y.shape:
                out["datasets"][key] = {"status": "reshaped", "from": list(x.shape), "to": list(y.shape)}
                continue
            with np.errstate(invalid="ignore"):
                diff = np.abs(y.astype(float) - x.astype(float))
            changed = ~((x == y) | (np.isnan(x.astype(float)) & np.isnan(y.astype(float))))
            if changed.any():
                out["datasets"][key] = {"status": "changed", "changed": int(changed.sum()),
                                        "of": int(changed.size),
                                        "max_abs_change": float(np.nanmax(diff[changed])) if np.any(
                                            np.isfinite(diff[changed])) else float("nan")}
        for comp in sorted(set(va.blacklist) | set(vb.blacklist)):
            x = set(int(i) for i in va.blacklist.get(comp, ()))
            y = set(int(i) for i in vb.blacklist.get(comp, ()))
            if x != y:
                out["blacklist"][comp] = {"added": sorted(y - x), "removed": sorted(x - y)}
        for k in _META_KEYS:
            if va.meta.get(k) != vb.meta.get(k) and k != "created":
                out["meta"][k] = [va.meta.get(k), vb.meta.get(k)]
        return out


def _read_meta(g: Any, f: "safety._File", where: str) -> dict[str, Any]:
    a = f.attrs(g, where, (*_META_KEYS, "meta"))
    m = {k: a[k] for k in _META_KEYS if k in a}
    if "parent" in m:
        try:
            m["parent"] = check_version(m["parent"], "parent", allow_zero=True)
        except UnsafeCalibration:
            raise f.fail(f"{where}: attribute parent is not a version number") from None
    try:
        meta = json.loads(str(a.get("meta", "{}")))
    except (ValueError, RecursionError):
        meta = {}
    m["meta"] = meta if isinstance(meta, dict) else {}
    return m


def _check_calibration(cal: Calibration, kind: str) -> None:
    """What :meth:`CalibStore.commit` writes must be what a reader accepts (the hardware's layout)."""
    def fail(why: str) -> CalibInputError:
        return CalibInputError(f"calibration of {cal.target} not stored: {why}")

    if cal.kind != kind:
        raise fail(f"kind {cal.kind!r} does not match the target")
    for key, arr in cal.data.items():
        check = safety.data_shape_check(kind, key)
        a = np.asarray(arr)
        if check is None:
            raise fail(f"{key} is not a dataset a {kind} calibration has")
        if a.dtype.kind not in "biuf":
            raise fail(f"{key} has type {a.dtype} (numbers only)")
        why = check(tuple(int(x) for x in a.shape))
        if why:
            raise fail(f"{key} has shape {a.shape}, expected {why}")
    for comp, ids in cal.blacklist.items():
        safety.check_ids(kind, comp, np.unique(np.asarray(ids, dtype=np.int64)) if np.size(ids) else
                         np.zeros(0, np.int64), fail)


def _copy_new(src: Path, dst: Path) -> None:
    """Copy ``src`` to a new file ``dst`` (``O_EXCL|O_NOFOLLOW``: never into something already there)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        while chunk := fin.read(1 << 20):
            fout.write(chunk)


_plain = safety.plain


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _ranges(ids: list[int]) -> str:
    ids = sorted(set(int(i) for i in ids))
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


def parse_ids(text: str) -> list[int]:
    """``"1,2,5-7"`` -> [1, 2, 5, 6, 7]."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d{1,9})(?:-(\d{1,9}))?", part)
        if not m:
            raise CalibInputError(f"ids must be like 1,2,5-7, got {text[:80]!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise CalibInputError(f"bad id range {part!r}")
        if len(out) + b - a + 1 > safety.MAX_GENERIC_IDS:
            raise CalibInputError(f"more than {safety.MAX_GENERIC_IDS} ids given")
        out.extend(range(a, b + 1))
    if not out:
        raise CalibInputError("no ids given")
    return out


# -- what the emulators read ------------------------------------------------------------------------
class PinnedReader:
    """One target's calibration as a job must see it: the version pinned by ``$NMCLUSTER_CALIB_VERSION``
    (the job runner sets it from the hardware config's ``CALIB_VERSION``, or to the current version at
    job start), else the current one; None (raw chip) when the target has no calibration.  Re-reads
    only when the store file changed (its identity is part of the cache key)."""

    def __init__(self, root: Path | str | None = None, version: int | None = None) -> None:
        self._root = root
        self._version = version
        self._cache: dict[tuple, Any] = {}

    def read(self, target: str, convert=lambda data: data):
        if self._root is None:
            # the site's store, resolved once per reader (one job): a wafer job reads each of its
            # ~400 HICANNs, and parsing the site config for each cost ~0.1 s per job (issue 27)
            self._root = _root_or_none()
        store = CalibStore(self._root)
        pinned = self._version
        if pinned is None and os.environ.get(ENV_VERSION, "").strip():
            pinned = check_version(os.environ[ENV_VERSION], ENV_VERSION)
        path = store.path(target)
        try:
            st = path.stat()
        except OSError:
            if pinned is not None:
                raise CalibInputError(f"calibration version {pinned} of {target} was requested "
                                      f"(CALIB_VERSION) but {target} has no calibration in {store.root}") from None
            return None
        key = (str(path), st.st_ino, st.st_mtime_ns, pinned)
        if key not in self._cache:
            if pinned is None and store.current(target) is None:
                return None
            self._cache = {key: convert(store.read(target, pinned))}
        return self._cache[key]


def _root_or_none() -> Path:
    try:
        return default_root()
    except NmclusterError:
        return Path(os.devnull)



def job_calibration_version(kind: str, env: Mapping[str, str], site: Any | None = None) -> int | None:
    """The version a job of partition ``kind`` will use (the job runner records it and pins it):
    ``$NMCLUSTER_CALIB_VERSION`` when set, else the target's current version (None: none)."""
    if env.get(ENV_VERSION, "").strip():
        return check_version(env[ENV_VERSION], ENV_VERSION)
    if kind == "spikey":
        m = re.fullmatch(r"station(\d+)", env.get("MY_STAGE1_STATION", ""))
        target = f"station{m.group(1)}" if m else None
    elif kind in ("wafer", "ess"):
        m = re.fullmatch(r"(\d+)", env.get("NMCLUSTER_WAFER", "") or "")
        target = f"wafer{m.group(1)}" if m else None
    else:
        target = None
    if target is None:
        return None
    return open_store(site, env).current(target)

"""Who may have written the calibration store, and reading its HDF5 files as untrusted input.

Every job of every user reads calibrations, so a store another user could write is a way into their jobs:
HDF5 *external storage* makes h5py read any file the victim can read as "calibration data", a *virtual
dataset* or an *external link* does the same through another HDF5 file, a declared shape of 10^12
elements exhausts memory, an object reference or a user-defined filter (a plugin loaded from
``HDF5_PLUGIN_PATH``) runs code paths no calibration needs.  Hence two defences:

* **Ownership** (:func:`check_store_dir`, :func:`check_store_file`): the store directory, its ancestors
  and its files must be owned by the reading user, root or a member of the site's admin group
  (``[hardware] calib_admin_group``), and writable by nobody else: never by "other", by a group only when
  it is the admin group or the owner's private group (user private groups, as ``useradd`` makes them).
  A symbolic link on the way must belong to a trusted user too.  The site's store is ``[hardware]
  calib_dir`` (owned by root/the admins, read-only for users); without it each user has their own
  (``<user data dir>/calib``).
* **Shape before content** (:func:`read_version`): only hard-linked groups and datasets are followed;
  a dataset is read only after its dtype (plain numbers), shape (the hardware's size: 384 neurons and
  512 drivers of a Spikey chip, 512 denmems of a HICANN, 384 HICANNs and 48 FPGAs of a wafer), storage
  (no external files, not virtual) and filters (deflate, shuffle, fletcher32, lzf) are checked; attribute
  counts and sizes are capped; version numbers are bounded integers (a version of 10^400 must not reach
  SQLite, where it raises ``OverflowError`` for every later ``status``).

h5py's own documentation is the reference for the checks (github: h5py/h5py, ``docs/high/dataset.rst``:
``Dataset.external``, ``Dataset.is_virtual``; ``h5py/h5p.pyx``: ``PropDCID.get_external_count``,
``get_nfilters``/``get_filter``; ``docs/high/group.rst``: ``Group.get(name, getlink=True)`` returns the
link itself - ``HardLink``, ``SoftLink`` or ``ExternalLink`` - without resolving it).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmcluster.errors import UserInputError

MAX_VERSION = 2**31 - 1  # fits SQLite INTEGER, HDF5 int attributes and every JSON reader
MAX_VERSIONS = 100_000  # versions in one file
MAX_FILE_BYTES = 1 << 30  # a wafer version is ~20 MB (384 HICANNs x ~50 KB)
MAX_VERSION_BYTES = 256 << 20  # decoded data of one version
MAX_DATASETS = 8192  # per version (a wafer: 384 HICANNs x 3 parameters x 2 + extras)
MAX_EXTRA_ELEMENTS = 1 << 22  # a dataset outside the hardware's namespaces (notes, raw sweeps)
MAX_ATTRS = 64
MAX_ATTR_BYTES = 1 << 16
MAX_COEFFS = 16  # polynomial / lookup coefficients per denmem and parameter
MAX_GENERIC_IDS = 1 << 16  # blacklist components the store does not know (redman has many)
ALLOWED_FILTERS = {1: "deflate", 2: "shuffle", 3: "fletcher32", 32000: "lzf"}

# The hardware's sizes (tests/calib/test_store_security.py checks them against the emulators' constants;
# the store stays free of emulator imports).
SPIKEY_NEURONS = 384  # nmcluster.emulators.spikey.chip.N_NEURONS
SPIKEY_DRIVERS = 512  # N_BLOCKS * DRIVERS_PER_BLOCK
WAFER_HICANNS = 384  # nmcluster.hwdrivers.wafer.geometry.N_HICANNS
WAFER_FPGAS = 48  # geometry.N_FPGAS
HICANN_DENMEMS = 512  # nmcluster.hwdrivers.wafer.defects.N_DENMEMS
HICANN_DRIVERS = 224  # defects.N_SYNAPSE_DRIVERS

_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_SPIKEY_DATA = re.compile(rf"^(neurons|drivers)/({_NAME})$")
_WAFER_DATA = re.compile(rf"^hicann/(\d{{1,3}})/({_NAME})/(coeffs|domain)$")
_EXTRA_DATA = re.compile(rf"^{_NAME}(?:/{_NAME}){{0,3}}$")
_COMPONENT = re.compile(r"^([a-z][a-z0-9_]{0,31})(?:/h(\d{1,3}))?$")
_VERSION_NAME = re.compile(r"^[1-9]\d{0,9}$")


class UnsafeCalibration(UserInputError):
    """A calibration store another user could write, or a calibration file that is not what the store
    writes (one line naming the path and why; exit code 2)."""


# -- versions ----------------------------------------------------------------------------------------
def check_version(value: Any, where: str, allow_zero: bool = False) -> int:
    """A version number as a bounded int (1..MAX_VERSION; 0 too when ``allow_zero``: "none")."""
    if isinstance(value, (bool, np.bool_)):
        raise UnsafeCalibration(f"{where}: a calibration version must be an integer, got {value!r}")
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("ascii", "replace")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{1,10}", text):
            shown = text if len(text) <= 24 else f"{text[:12]}...({len(text)} characters)"
            raise UnsafeCalibration(f"{where}: a calibration version must be an integer from 1 to "
                                    f"{MAX_VERSION}, got {shown!r}")
        value = int(text)
    elif isinstance(value, (int, np.integer)):
        value = int(value)
    elif isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value) if abs(value) <= 2**53 else MAX_VERSION + 1
    else:
        raise UnsafeCalibration(f"{where}: a calibration version must be an integer, got {type(value).__name__}")
    lo = 0 if allow_zero else 1
    if not lo <= value <= MAX_VERSION:
        shown = str(value) if value.bit_length() < 64 else f"an integer of {value.bit_length()} bits"
        raise UnsafeCalibration(f"{where}: calibration version {shown} is outside {lo}..{MAX_VERSION}")
    return value


# -- ownership ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trust:
    """Who may own and write the store: the reading user, root, and the admin group's members."""

    uids: frozenset[int]
    admin_group: str = ""
    admin_gid: int | None = None


def trust_for(admin_group: str = "") -> Trust:
    uids = {0, os.geteuid()}
    gid = None
    if admin_group:
        try:
            gr = grp.getgrnam(admin_group)
        except KeyError:
            gr = None
        if gr is not None:
            gid = gr.gr_gid
            for name in gr.gr_mem:
                try:
                    uids.add(pwd.getpwnam(name).pw_uid)
                except KeyError:
                    pass
    return Trust(frozenset(uids), admin_group, gid)


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def _private_group(uid: int, gid: int) -> bool:
    """``gid`` is ``uid``'s user private group: its primary group, named like it, with no other members."""
    try:
        pw, gr = pwd.getpwuid(uid), grp.getgrgid(gid)
    except KeyError:
        return False
    return pw.pw_gid == gid and gr.gr_name == pw.pw_name and set(gr.gr_mem) <= {pw.pw_name}


def _admin_hint(trust: Trust) -> str:
    return (f"[hardware] calib_admin_group is {trust.admin_group!r}" if trust.admin_group
            else "the site names no [hardware] calib_admin_group")


def check_owned(path: Path | str, st: os.stat_result, trust: Trust, what: str) -> None:
    """Refuse ``path`` unless a trusted user owns it and nobody else can write it."""
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in trust.uids:
        raise UnsafeCalibration(f"refusing {what} {path}: owned by {_user(st.st_uid)}, not by you, root or "
                                f"the admin group ({_admin_hint(trust)})")
    sticky_dir = stat.S_ISDIR(st.st_mode) and mode & stat.S_ISVTX
    if mode & stat.S_IWOTH:
        raise UnsafeCalibration(f"refusing {what} {path}: writable by every user (mode {mode:04o})")
    if mode & stat.S_IWGRP and st.st_gid != trust.admin_gid and not _private_group(st.st_uid, st.st_gid) \
            and not sticky_dir:
        raise UnsafeCalibration(f"refusing {what} {path}: writable by group {_group(st.st_gid)} (mode "
                                f"{mode:04o}), which is not the admin group ({_admin_hint(trust)})")


def _check_ancestors(path: Path, trust: Trust, what: str) -> None:
    """A directory above the store that someone else owns or may write lets them swap the store."""
    for anc in path.parents:
        st = os.lstat(anc)
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid not in trust.uids:
            raise UnsafeCalibration(f"refusing {what} {path}: the directory {anc} above it is owned by "
                                    f"{_user(st.st_uid)}, who could replace the store")
        if mode & stat.S_ISVTX:
            continue  # /tmp-like: others may add entries but not replace ours
        if mode & stat.S_IWOTH or (mode & stat.S_IWGRP and st.st_gid != trust.admin_gid
                                   and not _private_group(st.st_uid, st.st_gid)):
            raise UnsafeCalibration(f"refusing {what} {path}: the directory {anc} above it is writable by "
                                    f"others (mode {mode:04o}), who could replace the store")


def check_store_dir(root: Path | str, trust: Trust) -> bool:
    """Check the store directory, and every directory and link on the way to it; False when it does not
    exist yet (nothing to read)."""
    literal = Path(os.path.abspath(root))
    for comp in (literal, *literal.parents):  # links on the way must be ours/root's/the admins'
        try:
            st = os.lstat(comp)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UnsafeCalibration(f"cannot check calibration store {root}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode) and st.st_uid not in trust.uids:
            raise UnsafeCalibration(f"refusing calibration store {root}: {comp} is a symbolic link of "
                                    f"{_user(st.st_uid)}")
    real = Path(os.path.realpath(literal))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UnsafeCalibration(f"cannot check calibration store {root}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeCalibration(f"calibration store {root} is not a directory")
    check_owned(real, st, trust, "calibration store")
    _check_ancestors(real, trust, "calibration store")
    return True


def check_store_file(path: Path, trust: Trust) -> os.stat_result | None:
    """A store file (HDF5 or lock): a regular file (not a link) that a trusted user owns and nobody else
    can write, not larger than ``MAX_FILE_BYTES``; None when it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeCalibration(f"refusing calibration file {path}: a symbolic link (the store holds plain files)")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeCalibration(f"refusing calibration file {path}: not a regular file")
    check_owned(path, st, trust, "calibration file")
    if path.suffix == ".h5" and st.st_size > MAX_FILE_BYTES:
        raise UnsafeCalibration(f"refusing calibration file {path}: {st.st_size} bytes, more than the "
                                f"{MAX_FILE_BYTES} a calibration file may have")
    return st


# -- HDF5 content ------------------------------------------------------------------------------------
class _File:
    """Checks on one open HDF5 file; every failure names the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, why: str) -> UnsafeCalibration:
        return UnsafeCalibration(f"calibration file {self.path} is not a valid calibration: {why}")

    def children(self, group: Any, where: str, limit: int) -> list[tuple[str, Any]]:
        """(name, object) of a group's members, only through hard links (no soft/external links)."""
        import h5py

        try:
            names = list(group)
        except Exception as exc:  # noqa: BLE001 - libhdf5 errors on corrupt groups
            raise self.fail(f"cannot list {where}: {exc}") from None
        if len(names) > limit:
            raise self.fail(f"{where} has {len(names)} members (at most {limit})")
        out = []
        for name in names:
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise self.fail(f"{where}/{name} is a {type(link).__name__} (only plain groups and datasets "
                                f"are read)")
            try:
                out.append((name, group[name]))
            except Exception as exc:  # noqa: BLE001
                raise self.fail(f"cannot open {where}/{name}: {exc}") from None
        return out

    def group(self, parent: Any, name: str, where: str) -> Any | None:
        import h5py

        if name not in parent:
            return None
        link = parent.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise self.fail(f"{where} is a {type(link).__name__} (only plain groups are read)")
        obj = parent[name]
        if not isinstance(obj, h5py.Group):
            raise self.fail(f"{where} is not a group")
        return obj

    def attrs(self, obj: Any, where: str, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Attributes (all, or only ``keys``) as plain values, after checking type and size."""
        import h5py

        try:
            names = list(obj.attrs)
        except Exception as exc:  # noqa: BLE001
            raise self.fail(f"cannot list the attributes of {where}: {exc}") from None
        if len(names) > MAX_ATTRS:
            raise self.fail(f"{where} has {len(names)} attributes (at most {MAX_ATTRS})")
        out: dict[str, Any] = {}
        for name in names:
            if keys is not None and name not in keys:
                continue
            try:
                aid = obj.attrs.get_id(name)
                dt, shape, size = aid.dtype, aid.shape, aid.get_storage_size()
            except Exception as exc:  # noqa: BLE001
                raise self.fail(f"attribute {name!r} of {where} cannot be read: {exc}") from None
            if h5py.check_dtype(ref=dt) is not None or (dt.kind == "O" and h5py.check_string_dtype(dt) is None) \
                    or dt.kind not in "biufSUO" or dt.fields is not None:
                raise self.fail(f"attribute {name!r} of {where} has type {dt} (numbers and strings only)")
            n = int(np.prod(shape)) if shape else 1
            if size > MAX_ATTR_BYTES or n * max(dt.itemsize, 1) > MAX_ATTR_BYTES or n > MAX_ATTR_BYTES:
                raise self.fail(f"attribute {name!r} of {where} is larger than {MAX_ATTR_BYTES} bytes")
            try:
                value = obj.attrs[name]
            except Exception as exc:  # noqa: BLE001
                raise self.fail(f"attribute {name!r} of {where} cannot be read: {exc}") from None
            out[name] = plain(value)
        return out

    def dataset(self, ds: Any, where: str, shape_ok: Callable[[tuple[int, ...]], str], integer: bool = False
                ) -> np.ndarray:
        """Read one dataset after checking storage, filters, dtype and shape (``shape_ok`` returns ""
        when the shape fits, else what was expected)."""
        import h5py

        if not isinstance(ds, h5py.Dataset):
            raise self.fail(f"{where} is not a dataset")
        try:
            if ds.is_virtual:
                raise self.fail(f"{where} is a virtual dataset (it would read other files)")
            plist = ds.id.get_create_plist()
            if plist.get_external_count():
                raise self.fail(f"{where} uses external storage (it would read other files)")
            for i in range(plist.get_nfilters()):
                code = plist.get_filter(i)[0]
                if code not in ALLOWED_FILTERS:
                    raise self.fail(f"{where} uses HDF5 filter {code} (only "
                                    f"{', '.join(ALLOWED_FILTERS.values())} are read)")
            dt, shape = ds.dtype, tuple(int(x) for x in (ds.shape or ()))
        except UnsafeCalibration:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.fail(f"{where} cannot be inspected: {exc}") from None
        if dt.fields is not None or dt.subdtype is not None or dt.kind not in ("iu" if integer else "biuf"):
            raise self.fail(f"{where} has type {dt} ({'integers' if integer else 'numbers'} only)")
        if ds.shape is None:
            raise self.fail(f"{where} is an empty (null) dataset")
        why = shape_ok(shape)
        if why:
            raise self.fail(f"{where} has shape {shape}, expected {why}")
        try:
            value = ds[()]
        except Exception as exc:  # noqa: BLE001 - corrupt chunks, missing filters
            raise self.fail(f"{where} cannot be read: {exc}") from None
        return np.asarray(value)


def plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return plain(v.item())
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()] if v.dtype.kind in "OS" else v.tolist()
    return v


def _shape(expected: tuple[int, ...]) -> Callable[[tuple[int, ...]], str]:
    return lambda s: "" if s == expected else str(expected)


def data_shape_check(kind: str, key: str) -> Callable[[tuple[int, ...]], str] | None:
    """How ``key`` of a ``kind`` calibration must be shaped; None when the key is not allowed at all."""
    if kind == "spikey":
        m = _SPIKEY_DATA.match(key)
        if m:
            return _shape((SPIKEY_NEURONS if m.group(1) == "neurons" else SPIKEY_DRIVERS,))
        if key.split("/", 1)[0] in ("neurons", "drivers"):
            return None
    else:
        m = _WAFER_DATA.match(key)
        if m:
            if int(m.group(1)) >= WAFER_HICANNS:
                return None
            if m.group(3) == "domain":
                return lambda s: "" if len(s) == 2 and 1 <= s[0] <= HICANN_DENMEMS and s[1] == 2 else \
                    f"(n, 2) with n <= {HICANN_DENMEMS}"
            return lambda s: "" if len(s) == 2 and 1 <= s[0] <= HICANN_DENMEMS and 1 <= s[1] <= MAX_COEFFS \
                else f"(n, k) with n <= {HICANN_DENMEMS}, k <= {MAX_COEFFS}"
        if key.split("/", 1)[0] == "hicann":
            return None
    if _EXTRA_DATA.match(key):  # not read by the emulators: bounded, any plain numeric shape
        return lambda s: "" if len(s) <= 2 and int(np.prod(s)) <= MAX_EXTRA_ELEMENTS else \
            f"at most 2 dimensions and {MAX_EXTRA_ELEMENTS} elements"
    return None


def blacklist_limit(kind: str, component: str) -> int | None:
    """Ids of ``component`` must be below this; None when the component is not allowed."""
    m = _COMPONENT.match(component)
    if not m:
        return None
    name, h = m.group(1), m.group(2)
    if kind == "spikey":
        return {"neuron": SPIKEY_NEURONS, "driver": SPIKEY_DRIVERS}.get(component)
    if h is None:
        return {"hicann": WAFER_HICANNS, "fpga": WAFER_FPGAS}.get(name, MAX_GENERIC_IDS)
    if int(h) >= WAFER_HICANNS:
        return None
    return {"denmem": HICANN_DENMEMS, "driver": HICANN_DRIVERS}.get(name, MAX_GENERIC_IDS)


def check_ids(kind: str, component: str, ids: np.ndarray, fail: Callable[[str], Exception]) -> np.ndarray:
    limit = blacklist_limit(kind, component)
    if limit is None:
        raise fail(f"blacklist component {component!r} is not one a {kind} calibration has")
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size > limit or (ids.size and ids.dtype.kind not in "iu"):
        raise fail(f"blacklist {component!r} must be at most {limit} integer ids")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= limit):
        raise fail(f"blacklist {component!r} has ids outside 0..{limit - 1}")
    return ids


def version_names(f: _File, fh: Any) -> tuple[Any | None, list[int]]:
    """The ``/versions`` group and its version numbers (sorted)."""
    vs = f.group(fh, "versions", "/versions")
    if vs is None:
        return None, []
    try:
        names = list(vs)
    except Exception as exc:  # noqa: BLE001
        raise f.fail(f"cannot list /versions: {exc}") from None
    if len(names) > MAX_VERSIONS:
        raise f.fail(f"/versions has {len(names)} entries (at most {MAX_VERSIONS})")
    out = []
    for name in names:
        if not _VERSION_NAME.match(name) or int(name) > MAX_VERSION:
            shown = name if len(name) <= 24 else f"{name[:12]}...({len(name)} characters)"
            raise f.fail(f"/versions/{shown} is not a version number 1..{MAX_VERSION}")
        out.append(int(name))
    return vs, sorted(out)


def current_version(f: _File, fh: Any) -> int:
    value = f.attrs(fh, "/", ("current",)).get("current", 0)
    try:
        return check_version(value, "attribute current", allow_zero=True)
    except UnsafeCalibration as exc:
        raise f.fail(str(exc)) from None


def read_data(f: _File, g: Any, kind: str, where: str) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """The ``data`` group of one version: every dataset checked against the hardware's layout."""
    import h5py

    data: dict[str, np.ndarray] = {}
    attrs: dict[str, dict[str, Any]] = {}
    total = 0
    stack: list[tuple[Any, str, int]] = [(g, "", 0)]
    while stack:
        grp_, rel, depth = stack.pop()
        for name, obj in f.children(grp_, f"{where}/{rel}".rstrip("/"), MAX_DATASETS):
            key = f"{rel}/{name}" if rel else name
            if isinstance(obj, h5py.Group):
                if depth >= 4:
                    raise f.fail(f"{where}/{key} is nested deeper than a calibration is")
                stack.append((obj, key, depth + 1))
                continue
            if len(data) >= MAX_DATASETS:
                raise f.fail(f"{where} has more than {MAX_DATASETS} datasets")
            check = data_shape_check(kind, key)
            if check is None:
                raise f.fail(f"{where}/{key} is not a dataset a {kind} calibration has")
            arr = f.dataset(obj, f"{where}/{key}", check)
            total += arr.nbytes
            if total > MAX_VERSION_BYTES:
                raise f.fail(f"{where} holds more than {MAX_VERSION_BYTES} bytes of data")
            data[key] = arr
            a = f.attrs(obj, f"{where}/{key}")
            if a:
                attrs[key] = a
    return data, attrs


def read_blacklist(f: _File, g: Any, kind: str, where: str) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    stack: list[tuple[Any, str, int]] = [(g, "", 0)]
    while stack:
        grp_, rel, depth = stack.pop()
        for name, obj in f.children(grp_, f"{where}/{rel}".rstrip("/"), 4 * WAFER_HICANNS + 16):
            key = f"{rel}/{name}" if rel else name
            if isinstance(obj, h5py.Group):
                if depth >= 1:
                    raise f.fail(f"{where}/{key} is nested deeper than a blacklist is")
                stack.append((obj, key, depth + 1))
                continue
            limit = blacklist_limit(kind, key)
            if limit is None:
                raise f.fail(f"{where}/{key} is not a blacklist component a {kind} calibration has")
            arr = f.dataset(obj, f"{where}/{key}", lambda s, n=limit: "" if len(s) == 1 and s[0] <= n else
                            f"one dimension of at most {n} ids", integer=True)
            out[key] = check_ids(kind, key, arr, lambda why, k=key: f.fail(f"{where}/{k}: {why}"))
    return out

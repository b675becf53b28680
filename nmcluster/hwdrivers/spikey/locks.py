"""Exclusive use of a station outside Slurm (``--local`` on a workstation with a chip attached).

Built on :mod:`nmcluster.infra.locks` (the same ``station500`` lock file the local executor takes for a
job), so a ``--local`` run, a locally queued job and a direct :func:`claim_station` exclude each other.
``flock`` locks die with their process: a crashed experiment never leaves a station blocked.

Two users on one workstation only exclude each other when they share the lock directory: set
``[hardware] lock_dir`` (e.g. ``/run/lock/nmcluster``) in the site config.  Lock files there are created
world-read-writable in a sticky directory so the second user can open, wait on and take over a lock file
the first one created (an admin may also create it beforehand: ``install -d -m 1777 DIR``).

:func:`station_holder` answers "who has it?" without touching the lock: it looks the lock file up in
``/proc/locks`` (so a status query can never make a concurrent claimant fail), falling back to a shared
probe where ``/proc/locks`` is unavailable.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nmcluster.errors import HardwareBusyError, HardwareConfigError
from nmcluster.infra import locks

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig


def station_key(number: int) -> str:
    """Lock key of a station: the same key the spikey partition puts in ``lock_keys``."""
    return f"station{number}"


def prepare_shared(lock_dir: Path) -> None:
    """Create a shared lock directory sticky and world-writable (like ``/run/lock``) so every user can
    create lock files in it; :func:`nmcluster.infra.locks.acquire` makes the files themselves rw for all."""
    if lock_dir.is_dir():
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(lock_dir, 0o1777)
    except OSError:
        pass


class StationClaim:
    """A held station; release with :meth:`release` or by leaving the ``with`` block (or exiting)."""

    def __init__(self, number: int, fds: list[int], path: Path) -> None:
        self.number = number
        self.path = path
        self._fds = fds

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def release(self) -> None:
        locks.release(self._fds)
        self._fds = []

    def __enter__(self) -> "StationClaim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_station(site: "SiteConfig", number: int, owner: str = "", blocking: bool = False,
                  announce: Callable[[str], None] | None = None, inheritable: bool = False) -> StationClaim:
    """Take station ``number`` exclusively.

    Non-blocking by default: a second user gets :class:`HardwareBusyError` "station 500 is in use by PID
    1234 / job 7 (user alice)" at once instead of a shared device.  ``owner`` is what others will read
    (default: this PID and user).
    """
    if number not in site.stations:
        known = ", ".join(str(n) for n in sorted(site.stations)) or "none"
        raise HardwareConfigError(f"station {number} is not configured at this site (stations: {known})")
    key = station_key(number)
    path = locks.lock_path(site.lock_dir, key)
    if site.hardware.lock_dir is not None:
        prepare_shared(site.lock_dir)
    try:
        fds = locks.acquire([key], site.lock_dir, owner or locks.describe_owner(), blocking=blocking,
                            announce=announce, inheritable=inheritable)
    except locks.ResourceBusy as exc:
        raise HardwareBusyError(f"station {number} is in use by {exc.who}") from None
    except PermissionError as exc:
        raise HardwareBusyError(f"cannot open the lock of station {number} ({path}): {exc.strerror}; the lock "
                                f"directory must be shared (see [hardware] lock_dir)") from None
    return StationClaim(number, fds, path)


def _locked_in_proc(path: Path) -> tuple[bool, int] | None:
    """``(locked, pid)`` from ``/proc/locks`` for this file; None when /proc/locks cannot be read."""
    try:
        st = path.lstat()  # the lock file itself: a planted link is not the station's lock
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in text.splitlines():
        parts = line.split()
        if "->" in parts or len(parts) < 6:
            continue  # "->" marks a waiter, not a holder
        if parts[1] == "FLOCK" and parts[5] == ident:
            return True, int(parts[4]) if parts[4].isdigit() else 0
    return False, 0


def station_holder(site: "SiteConfig", number: int) -> str:
    """Who holds station ``number``'s local lock right now (``""``: nobody)."""
    key = station_key(number)
    path = locks.lock_path(site.lock_dir, key)
    if not os.path.lexists(path):
        return ""
    found = _locked_in_proc(path)
    if found is None:  # no /proc/locks: probe with a shared lock, released at once
        try:  # never through a planted link, never blocking on a planted FIFO
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            return ""
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            locked = False
        except BlockingIOError:
            locked = True
        finally:
            os.close(fd)
        found = (locked, 0)
    locked, pid = found
    if not locked:
        return ""
    who = locks.holder(site.lock_dir, key)
    return who if who != "unknown" or not pid else f"PID {pid}"

"""Advisory locks for exclusive hardware where Slurm is not doing the bookkeeping (local executor).

One lock file per resource (``station500``, ``W33F34``) under a lock directory; ``flock`` locks vanish
with the process that holds them, so a crashed job never leaves a station blocked.  The holder writes
its PID and job into the file so a waiting user learns who has the station.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Sequence
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def lock_path(lock_dir: Path, key: str) -> Path:
    return lock_dir / (_SAFE.sub("_", key) + ".lock")


def holder(lock_dir: Path, key: str) -> str:
    """Who holds (or last held) the lock, as written by the holder."""
    try:
        return lock_path(lock_dir, key).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def acquire(keys: Sequence[str], lock_dir: Path, owner: str, blocking: bool = True,
            announce=None, inheritable: bool = False) -> list[int]:
    """Lock every key (sorted, so two jobs never deadlock on each other) and return the fds.

    Keep the fds open for as long as the resource is in use; closing them (or exiting) releases.
    ``announce(message)`` is called once per key we have to wait for.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    fds: list[int] = []
    try:
        for key in sorted(set(keys)):
            fd = os.open(lock_path(lock_dir, key), os.O_RDWR | os.O_CREAT, 0o666)
            fds.append(fd)
            _share(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    raise ResourceBusy(key, holder(lock_dir, key)) from None
                if announce is not None:
                    announce(f"waiting for {key} (in use by {holder(lock_dir, key)})")
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{owner}\n".encode(), 0)
            os.set_inheritable(fd, inheritable)
        return fds
    except BaseException:
        release(fds)
        raise


def _share(fd: int) -> None:
    """Lock files we own become rw for everyone (the umask took that away), so in a shared lock
    directory (``[hardware] lock_dir``, mode 1777) the next user can open, wait on and take the lock."""
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, 0o666)
    except OSError:
        pass


def release(fds: Sequence[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class ResourceBusy(Exception):
    def __init__(self, key: str, who: str) -> None:
        super().__init__(f"{key} is in use by {who}")
        self.key = key
        self.who = who


def describe_owner(job: str = "") -> str:
    from nmcluster.identity import user_name

    return f"PID {os.getpid()}" + (f" / job {job}" if job else "") + f" (user {user_name()})"


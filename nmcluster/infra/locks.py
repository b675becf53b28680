"""Advisory locks for exclusive hardware where Slurm is not doing the bookkeeping (local executor).

One lock file per resource (``station500``, ``W33F34``) under a lock directory; ``flock`` locks vanish
with the process that holds them, so a crashed job never leaves a station blocked.  The holder writes
its PID and job into the file so a waiting user learns who has the station.

The lock directory may be shared by every user of a machine (``[hardware] lock_dir``, mode 1777 like
``/run/lock``), so whatever sits in it may have been planted by another user.  A lock file is therefore
opened with ``O_NOFOLLOW`` (a planted ``station500.lock -> ~victim/.bashrc`` is refused, never truncated
or made world-writable), created with ``O_EXCL`` (only a file this call created is ``fchmod``-ed to 0666),
and an existing one is used only when it is a regular file with one link that is ours or a shared 0666
lock file of another user's nmcluster; the holder text is written only after the ``flock`` is held and
those checks passed.  The open-lock-recheck loop follows systemd's ``make_lock_file``
(github: systemd/systemd, ``src/basic/lock-util.c``: open with ``O_NOFOLLOW|O_CLOEXEC|O_NOCTTY``, lock,
``fstat`` and retry when the file was deleted while we waited); here we also compare the path's inode
with the locked one, since in a shared directory the file may be replaced, not only deleted.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from nmcluster.errors import NmclusterError

_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_OPEN_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
_HOLDER_MAX = 512  # bytes of holder text read back (a planted huge file is not read whole)


class LockRefused(NmclusterError):
    """A lock directory or lock file is not safe to use (planted link, foreign file, open directory).
    Exit code 1: the request is fine, the machine's lock directory needs the admin's attention."""


def lock_path(lock_dir: Path, key: str) -> Path:
    return lock_dir / (_SAFE.sub("_", key) + ".lock")


def check_lock_dir(lock_dir: Path) -> None:
    """Refuse a lock directory that another user could swap files in under us: a symbolic link, not a
    directory, or world-writable without the sticky bit (then anyone may delete or replace a held lock
    file, and two jobs would hold "the" lock of one station)."""
    try:
        st = os.lstat(lock_dir)
    except OSError as exc:
        raise LockRefused(f"lock directory {lock_dir} cannot be used: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise LockRefused(f"lock directory {lock_dir} is a symbolic link; refusing it (another user may have "
                          f"planted it): set [hardware] lock_dir to the real directory")
    if not stat.S_ISDIR(st.st_mode):
        raise LockRefused(f"lock directory {lock_dir} is not a directory")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise LockRefused(f"lock directory {lock_dir} is world-writable without the sticky bit (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}), so any user could replace its lock files; "
                          f"make it 1777 (chmod +t)")


def _check_file(path: Path, st: os.stat_result) -> None:
    """An existing lock file is used only when it is a lock file: regular, one link, and ours or a
    shared 0666 lock file another user's nmcluster created."""
    if not stat.S_ISREG(st.st_mode):
        raise LockRefused(f"lock file {path} is not a regular file; refusing it (remove it or ask the admin)")
    if st.st_nlink != 1:
        raise LockRefused(f"lock file {path} has {st.st_nlink} hard links (a lock file has one); refusing it "
                          f"(it may be another file linked there)")
    if st.st_uid != os.geteuid() and stat.S_IMODE(st.st_mode) != 0o666:
        raise LockRefused(f"lock file {path} belongs to uid {st.st_uid} and has mode "
                          f"{stat.S_IMODE(st.st_mode):04o}, not a shared 0666 lock file; refusing it")


def _open_lock(path: Path) -> int:
    """Open (creating when missing) the lock file at ``path`` without following links; returns the fd."""
    for _ in range(8):  # a file removed between the two opens: create it again
        try:
            fd = os.open(path, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pass
        else:
            try:
                os.fchmod(fd, 0o666)  # ours, just created: rw for all (the umask took that away)
            except OSError:
                pass
            return fd
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockRefused(f"lock file {path} is a symbolic link; refusing to follow it (another user "
                                  f"may have planted it)") from None
            if exc.errno in (errno.EACCES, errno.EPERM):  # say why: whose file, which mode
                try:
                    _check_file(path, os.lstat(path))
                except OSError:
                    pass
                raise LockRefused(f"cannot open lock file {path}: {exc.strerror}") from None
            raise
        try:
            _check_file(path, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        return fd
    raise LockRefused(f"lock file {path} keeps disappearing; giving up")


def _same_file(fd: int, path: Path) -> bool:
    """After the flock: is ``path`` still the file we locked (not unlinked and recreated meanwhile)?"""
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def holder(lock_dir: Path, key: str) -> str:
    """Who holds (or last held) the lock, as written by the holder (one printable line)."""
    try:
        fd = os.open(lock_path(lock_dir, key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
                     | os.O_NONBLOCK)
    except OSError:
        return "unknown"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "unknown"
        raw = os.pread(fd, _HOLDER_MAX, 0)
    except OSError:
        return "unknown"
    finally:
        os.close(fd)
    text = raw.decode("utf-8", "replace").strip().splitlines()
    line = "".join(c for c in (text[0] if text else "") if c.isprintable())
    return line or "unknown"


def acquire(keys: Sequence[str], lock_dir: Path, owner: str, blocking: bool = True,
            announce=None, inheritable: bool = False) -> list[int]:
    """Lock every key (sorted, so two jobs never deadlock on each other) and return the fds.

    Keep the fds open for as long as the resource is in use; closing them (or exiting) releases.
    ``announce(message)`` is called once per key we have to wait for.  Raises :class:`LockRefused` when
    the directory or a lock file is unsafe (see the module docstring).
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    check_lock_dir(lock_dir)
    fds: list[int] = []
    try:
        for key in sorted(set(keys)):
            path = lock_path(lock_dir, key)
            announced = False
            while True:
                fd = _open_lock(path)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not blocking:
                        os.close(fd)
                        raise ResourceBusy(key, holder(lock_dir, key)) from None
                    if announce is not None and not announced:
                        announce(f"waiting for {key} (in use by {holder(lock_dir, key)})")
                        announced = True
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX)
                    except BaseException:
                        os.close(fd)
                        raise
                if _same_file(fd, path):
                    break
                os.close(fd)  # replaced while we waited: lock the file that is there now
            fds.append(fd)
            # held, and checked to be a regular one-link lock file of ours or a shared 0666 one
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{owner}\n".encode(), 0)
            os.set_inheritable(fd, inheritable)
        return fds
    except BaseException:
        release(fds)
        raise


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

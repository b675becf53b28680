"""Which file system holds a path, and how to lock and journal safely on it (issue 26).

Sites put the job root on a shared file system (``/scratch``: NFS, Lustre, GPFS, ...) that several
frontends mount.  Two things that are right on a local disk are wrong there:

* SQLite's WAL mode keeps its index in a shared-memory file (``-shm``) mapped by every process; mmap is
  not coherent across the clients of a network file system, so two frontends writing the same WAL
  database corrupt it (sqlite.org/wal.html, "WAL does not work over a network filesystem").  The
  rollback journal (``journal_mode=DELETE``) only needs POSIX byte-range locks, which NFS (NLM / NFSv4
  locks), GPFS, CephFS and Lustre (mounted with ``-o flock``) provide across clients.
* ``flock(2)`` locks are local to one client on several of them (NFS mounted ``local_lock=flock``,
  Lustre without ``-o flock`` even fails with ENOSYS), while POSIX ``fcntl`` locks are what those
  file systems forward to their lock manager.

``statvfs`` (what ``os.statvfs`` returns) has no file-system type, so the type comes from
``/proc/self/mountinfo`` (proc(5)): the mount with the longest mount point that contains the path.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from typing import Mapping

#: File-system types (mountinfo's field after the separator) shared between machines.
NETWORK_FS_TYPES = frozenset({
    "nfs", "nfs4", "lustre", "gpfs", "cifs", "smb3", "smbfs", "ceph", "fuse.ceph", "beegfs", "fhgfs",
    "glusterfs", "fuse.glusterfs", "fuse.sshfs", "9p", "afs", "orangefs", "pvfs2", "panfs", "ocfs2",
    "gfs2", "fuse.gcsfuse", "fuse.s3fs", "fuse.juicefs", "wekafs", "quobyte",
})
#: $NMCLUSTER_STORE_JOURNAL: ``auto`` (default: by file system), or a journal mode to force
JOURNAL_ENV = "NMCLUSTER_STORE_JOURNAL"
_JOURNAL_CHOICES = {"auto", "wal", "delete", "truncate"}


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str

    @property
    def shared(self) -> bool:
        """Could other machines be writing here too?"""
        return self.fstype in NETWORK_FS_TYPES


def _unescape(field: str) -> str:
    r"""mountinfo escapes space, tab, newline and backslash as ``\040`` etc. (octal)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts of a ``/proc/<pid>/mountinfo`` text, in its order (later mounts shadow earlier ones)."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        mounts.append(Mount(mount_point=_unescape(fields[4]), fstype=tail[0], source=_unescape(tail[1])))
    return mounts


def mount_of(path: str | os.PathLike[str], mountinfo: str | None = None) -> Mount | None:
    """The mount that holds ``path`` (None where /proc is not readable: not Linux)."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
                mountinfo = f.read()
        except OSError:
            return None
    target = os.path.realpath(os.path.abspath(os.fspath(path)))  # symlinks resolved where they exist
    best: Mount | None = None
    for m in parse_mountinfo(mountinfo):
        mp = m.mount_point.rstrip("/") or "/"
        if target == mp or target.startswith(mp + "/") or mp == "/":
            if best is None or len(mp) >= len(best.mount_point.rstrip("/") or "/"):
                best = m  # ties: the later line is the mount on top
    return best


def journal_mode_for(db_path: str | os.PathLike[str], env: Mapping[str, str] | None = None,
                     mountinfo: str | None = None) -> tuple[str, str]:
    """The SQLite journal mode for a database at ``db_path`` and why: ``WAL`` on a local file system,
    ``DELETE`` (rollback journal, POSIX locks) on a shared one; ``$NMCLUSTER_STORE_JOURNAL`` forces one."""
    env = os.environ if env is None else env
    choice = env.get(JOURNAL_ENV, "auto").strip().lower() or "auto"
    if choice not in _JOURNAL_CHOICES:
        from nmcluster.errors import ConfigError

        raise ConfigError(f"${JOURNAL_ENV}={env.get(JOURNAL_ENV)!r}: expected one of "
                          f"{', '.join(sorted(_JOURNAL_CHOICES))}")
    if choice != "auto":
        return choice.upper(), f"${JOURNAL_ENV}={choice}"
    mount = mount_of(db_path, mountinfo)
    if mount is not None and mount.shared:
        return "DELETE", f"{mount.fstype} at {mount.mount_point} is shared between machines: no WAL"
    return "WAL", f"{mount.fstype if mount else 'local'} file system"


def lock_exclusive(fd: int, path: str | os.PathLike[str], blocking: bool = True) -> None:
    """Exclusive advisory lock on ``fd`` (a file at ``path``) that other machines also see.

    Local disks: ``flock``.  Shared file systems: POSIX ``lockf`` (forwarded to NFS's lock manager,
    GPFS, Lustre with ``-o flock``).  Raises BlockingIOError when ``blocking`` is False and the lock is
    held; OSError with a readable message when the file system cannot lock at all.
    POSIX locks belong to the process and drop when *any* descriptor of the file closes, so callers
    keep one descriptor per lock file (as the calibration store does).
    """
    mount = mount_of(path)
    shared = mount is not None and mount.shared
    try:
        if shared:
            fcntl.lockf(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK) and not blocking:
            raise BlockingIOError(exc.errno, f"{path} is locked") from None
        if exc.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            where = f"{mount.fstype} at {mount.mount_point}" if mount else "this file system"
            raise OSError(exc.errno, f"cannot lock {path}: {where} does not support file locks "
                                     "(NFS: run rpc.statd/lockd; Lustre: mount with -o flock)") from None
        raise

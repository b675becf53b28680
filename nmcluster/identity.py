"""Who the caller is, and whether a directory is safe for them to keep their data in.

Why a module of its own: identity matters for security decisions (whose job root, whose records, whose
lock), and ``$USER``/``$LOGNAME`` are set by the user (``USER=alice nmcluster list`` must not make Bob's
process act as Alice).  Every such decision asks the kernel: the real uid (:func:`os.getuid`) through the
password database.  This module sits at the bottom of the layers (it imports only :mod:`nmcluster.errors`)
so that config, drivers, executors and jobs can all use it.

The directory check follows OpenSSH's ``StrictModes`` reasoning (``auth.c: auth_secure_path``): a path is
only as safe as every directory above it, because whoever may write a parent may rename the child away
and put a directory (or a link) of their own in its place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nmcluster.errors import UnsafePathError


def current_uid() -> int:
    """The real uid of this process (not ``$USER``)."""
    return os.getuid()


def _passwd_name(uid: int) -> str | None:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def user_name(uid: int | None = None) -> str:
    """The login name of ``uid`` (default: the real uid) from the password database; ``uid<N>`` for a uid
    without an entry (containers), never ``$USER``."""
    uid = current_uid() if uid is None else uid
    return _passwd_name(uid) or f"uid{uid}"


def describe_uid(uid: int) -> str:
    """``user alice`` / ``uid 1234`` for messages."""
    name = _passwd_name(uid)
    return f"user {name}" if name else f"uid {uid}"


def _trusted_owner(uid: int, me: int) -> bool:
    return uid in (0, me)


def check_parents(path: Path, what: str, me: int | None = None) -> None:
    """Refuse ``path`` when a directory above it could be replaced by another user: every existing
    ancestor must be owned by root or by ``me`` and, if group- or world-writable, have the sticky bit
    (``/tmp``-like directories are fine: nobody else may rename what we own there)."""
    me = current_uid() if me is None else me
    for parent in path.parents:
        try:
            st = os.lstat(parent)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UnsafePathError(f"cannot check {parent} above the {what} {path}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            target = os.path.realpath(parent)
            if not _trusted_owner(st.st_uid, me):
                raise UnsafePathError(f"the {what} {path} lies under {parent}, a link owned by "
                                      f"{describe_uid(st.st_uid)}; refusing to follow it")
            check_parents(Path(target) / "x", what, me)
            continue
        if not _trusted_owner(st.st_uid, me) and st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            raise UnsafePathError(f"the {what} {path} lies under {parent}, which {describe_uid(st.st_uid)} "
                                  f"owns and others may write without the sticky bit: they could replace "
                                  f"it; ask the admin to fix its mode (chmod +t or go-w)")
        if st.st_uid == me and st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
            raise UnsafePathError(f"the {what} {path} lies under {parent}, which is world-writable without "
                                  f"the sticky bit: anyone could replace it (chmod o-w or +t {parent})")


def secure_private_dir(path: Path, what: str) -> Path:
    """Create (0700) or check a directory that must belong to the caller alone: absolute, not a link,
    owned by the real uid, not writable by group or others, under parents nobody else can swap.

    Returns the path; raises :class:`UnsafePathError` with one line that says what is wrong and how to
    fix it.  Used for per-user job roots and the per-user calibration store."""
    if not path.is_absolute():
        raise UnsafePathError(f"the {what} {path} is a relative path; give an absolute one in the site config")
    me = current_uid()
    check_parents(path, what, me)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        pass  # a non-directory in the way: lstat below says what it is
    except OSError as exc:
        raise UnsafePathError(f"cannot create the {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UnsafePathError(f"cannot use the {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"the {what} {path} is a symbolic link (owned by {describe_uid(st.st_uid)}); "
                              f"refusing to follow it: use the real directory in the site config")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"the {what} {path} exists and is not a directory")
    if st.st_uid != me:
        raise UnsafePathError(f"the {what} {path} belongs to {describe_uid(st.st_uid)}, not to you: every "
                              f"user needs their own (put {{user}} into job_root in the site config, e.g. "
                              f"job_root = \"/scratch/nmcluster/{{user}}\")")
    if st.st_mode & 0o022:
        raise UnsafePathError(f"the {what} {path} is writable by {'others' if st.st_mode & 0o002 else 'its group'} "
                              f"(mode {stat.S_IMODE(st.st_mode):04o}): anyone who may write it could change "
                              f"your jobs; run chmod go-w {path} (0700 is the default)")
    return path


def check_shared_parent(path: Path, what: str) -> None:
    """A site-managed shared directory (e.g. a shared job root holding one private directory per user):
    absolute, not a link, owned by root, and sticky when others may write it."""
    if not path.is_absolute():
        raise UnsafePathError(f"the {what} {path} is a relative path; give an absolute one in the site config")
    check_parents(path, what)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UnsafePathError(f"the shared {what} {path} does not exist; the site admin creates it "
                              f"(owned by root, mode 1777 or 0755)") from None
    except OSError as exc:
        raise UnsafePathError(f"cannot use the {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"the shared {what} {path} must be a real directory, not a link or file")
    if st.st_uid != 0:
        raise UnsafePathError(f"the shared {what} {path} belongs to {describe_uid(st.st_uid)}, not to root: "
                              f"whoever owns it could read or replace every user's directory")
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise UnsafePathError(f"the shared {what} {path} is writable by others without the sticky bit "
                              f"(mode {stat.S_IMODE(st.st_mode):04o}): users could remove each other's "
                              f"directories; chmod 1777 {path}")

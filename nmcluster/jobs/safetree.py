"""Build a job's code tree ourselves, relative to directory file descriptors, never through a link.

Why not ``tarfile.extractall(filter="data")``: the data filter decides whether a member stays inside the
destination with ``os.path.realpath``, which stops expanding links once a path exceeds ``PATH_MAX``; a
chain of symbolic links through long directory names then looks "inside" while the kernel resolves it
outside (CVE-2025-4517 / CVE-2025-4330, in the Python 3.11.2 and 3.11.7 in use; the attack is the one of
CPython's own regression test, python/cpython ``Lib/test/test_tarfile.py``
``test_realpath_limit_attack``).  Here no path is ever resolved by the kernel through something an
archive created:

* every file and directory is created with ``os.open``/``os.mkdir`` relative to the file descriptor of
  its parent directory, which was itself opened with ``O_NOFOLLOW | O_DIRECTORY`` component by component;
  files with ``O_CREAT | O_EXCL | O_NOFOLLOW``;
* only regular files, directories and links are accepted (devices, FIFOs, sockets are refused);
* a symbolic link is kept only when its target, resolved lexically inside the tree (whose directories are
  real directories, so lexical and kernel resolution agree), stays inside the tree and names a regular
  file or directory of the tree - not another link; links are created last, after every file, so no
  file is ever written through one; a hard link must name a regular file created earlier;
* names are checked first (NUL, absolute, ``..``, overlong, too deep) and refused with the member named;
* caps from the site config (:class:`nmcluster.config.SourceLimits`): members, bytes in all, bytes per
  file, depth, compression ratio; archive headers are checked before anything is written, and the
  running byte count catches sizes that lie.

The caller removes the partly built tree when anything is refused (:func:`nmcluster.jobs.staging.stage_code`),
so a refused source leaves nothing behind.

:class:`ResultWriter` is the same discipline for ``nmcluster results -o DIR``: a link planted in DIR is
never followed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from nmcluster.errors import StagingError, UserInputError
from nmcluster.identity import describe_uid

if TYPE_CHECKING:
    from nmcluster.config import SourceLimits

#: longest member path in bytes (kept well under PATH_MAX so the job directory plus the member fits)
MAX_PATH_BYTES = 2048
#: longest single name component in bytes (NAME_MAX of Linux file systems)
MAX_NAME_BYTES = 255
#: longest link target kept
MAX_LINK_BYTES = 1024
#: below this many bytes in all, the compression ratio is not checked (small files of zeros are fine)
RATIO_FLOOR_BYTES = 16 * 1024 * 1024
#: tarfile reads a PAX/GNU long-name header in one read of its declared size; larger reads are refused
MAX_HEADER_READ = 16 * 1024 * 1024
CHUNK = 1 << 20
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def shown(name: str, limit: int = 80) -> str:
    """A member name for a one-line message: repr (escapes newlines, NULs) and shortened."""
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _kind_of(mode: int) -> str:
    for test, word in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return "a special file"


class SafeTree:
    """A tree under ``root`` (an empty directory, created here when missing) built member by member.

    ``what`` names the source in messages (``archive code.tgz``, ``folder exp/``); ``compressed`` is the
    size of the archive on disk, for the compression-ratio cap."""

    #: directory fds kept open between members (a hard link needs two at once)
    OPEN_DIRS = 32

    def __init__(self, root: Path, limits: SourceLimits, what: str, compressed: int | None = None) -> None:
        self.limits = limits
        self.what = what
        self.compressed = compressed
        self.members = 0
        self.bytes = 0
        #: what we created, by path parts: "dir" or "file" (links are not entered: nothing may go through one)
        self.kinds: dict[tuple[str, ...], str] = {(): "dir"}
        self._links: list[tuple[str, tuple[str, ...], str]] = []  # (member name, parts, target) for the end
        self._dirs: dict[tuple[str, ...], int] = {}  # open directory fds by path parts, least recently used first
        root.mkdir(mode=0o755, exist_ok=True)
        self.fd = os.open(root, _DIR_FLAGS)

    # -- plumbing ---------------------------------------------------------------------------------
    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> SafeTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refuse(self, name: str, why: str) -> StagingError:
        return StagingError(f"{self.what} refused: member {shown(name)} {why}")

    # -- checks -----------------------------------------------------------------------------------
    def parts(self, name: str) -> tuple[str, ...]:
        """The path components of a member name, or a refusal naming it."""
        if not isinstance(name, str) or not name:
            raise StagingError(f"{self.what} refused: a member has an empty name")
        if "\x00" in name:
            raise self.refuse(name, "has a NUL character in its name")
        pieces = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[0].isalpha() and name[1] == ":"
                                            and (len(name) == 2 or name[2] in "/\\")):
            raise self.refuse(name, "has an absolute path")
        if ".." in pieces:
            raise self.refuse(name, "points outside the archive (..)")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        try:
            encoded = [os.fsencode(p) for p in parts]
        except UnicodeError:
            raise self.refuse(name, "has a name that cannot be encoded as a file name") from None
        if any(len(e) > MAX_NAME_BYTES for e in encoded):
            raise self.refuse(name, f"has a name component longer than {MAX_NAME_BYTES} bytes")
        if sum(len(e) + 1 for e in encoded) > MAX_PATH_BYTES:
            raise self.refuse(name, f"has a path longer than {MAX_PATH_BYTES} bytes")
        if len(parts) > self.limits.max_depth:
            raise self.refuse(name, f"is nested {len(parts)} deep; the limit is {self.limits.max_depth} "
                                    f"(site config [sources] max_depth)")
        return parts

    def count(self, name: str) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise StagingError(f"{self.what} refused: it has more than {self.limits.max_members} members "
                               f"(site config [sources] max_members); at {shown(name)}")

    def declare(self, name: str, size: int, total: int) -> None:
        """Check a member's declared size and the running declared total before anything is written."""
        if size > self.limits.max_file_bytes:
            raise self.refuse(name, f"is {size} bytes, more than the limit of {self.limits.max_file_bytes} "
                                    f"(site config [sources] max_file_bytes)")
        self._check_total(name, total)

    def _check_total(self, name: str, total: int) -> None:
        lim = self.limits
        if total > lim.max_bytes:
            raise StagingError(f"{self.what} refused: it inflates beyond {lim.max_bytes} bytes "
                               f"(site config [sources] max_bytes); at {shown(name)}")
        if self.compressed is not None and total > RATIO_FLOOR_BYTES and \
                total > lim.max_ratio * max(self.compressed, 1):
            raise StagingError(f"{self.what} refused: it inflates more than {lim.max_ratio} times its size of "
                               f"{self.compressed} bytes (site config [sources] max_ratio); at {shown(name)}")

    # -- walking ----------------------------------------------------------------------------------
    def _parent(self, name: str, parts: tuple[str, ...], create: bool) -> int:
        """An open fd of the directory that holds ``parts[-1]``, walked with O_NOFOLLOW from the root (or
        from the nearest directory already open), creating missing directories when ``create``.  The fd
        belongs to the tree's small cache of open directories (the caller does not close it): members
        come folder by folder, so most walks are one dictionary look-up."""
        key = parts[:-1]
        if not key:
            return self.fd
        cached = self._dirs.pop(key, None)
        if cached is not None:
            self._dirs[key] = cached  # most recently used last
            return cached
        start, cur = 0, self.fd
        for i in range(len(key) - 1, 0, -1):
            if key[:i] in self._dirs:
                start, cur = i, self._dirs[key[:i]]
                break
        owned = False
        try:
            for i in range(start, len(key)):
                comp, here = key[i], key[: i + 1]
                if self.kinds.get(here) not in (None, "dir"):
                    raise self.refuse(name, f"lies below {shown('/'.join(here))}, which is not a directory")
                try:
                    nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
                except FileNotFoundError:
                    if not create:
                        raise self.refuse(name, f"lies below {shown('/'.join(here))}, which does not exist") from None
                    os.mkdir(comp, 0o755, dir_fd=cur)
                    nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
                    os.fchmod(nxt, 0o755)
                    self.kinds[here] = "dir"
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self.refuse(name, f"lies below {shown('/'.join(here))}, which is not a "
                                                f"directory") from None
                    raise
                if owned:
                    os.close(cur)
                cur, owned = nxt, True
        except BaseException:
            if owned:
                os.close(cur)
            raise
        self._dirs[key] = cur
        if len(self._dirs) > self.OPEN_DIRS:
            oldest = next(iter(self._dirs))
            os.close(self._dirs.pop(oldest))
        return cur

    # -- building ---------------------------------------------------------------------------------
    def mkdir(self, name: str, parts: tuple[str, ...]) -> None:
        if not parts:
            return
        kind = self.kinds.get(parts)
        if kind == "dir":
            return
        if kind is not None:
            raise self.refuse(name, "is a directory but an earlier member of that name is a file")
        parent = self._parent(name, parts, create=True)
        try:
            os.mkdir(parts[-1], 0o755, dir_fd=parent)
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent)
            os.fchmod(fd, 0o755)
            os.close(fd)
        except FileExistsError:
            raise self.refuse(name, "appears twice") from None
        self.kinds[parts] = "dir"

    def write_file(self, name: str, parts: tuple[str, ...], src: IO[bytes] | Callable[[int], bytes],
                   mode: int = 0o644, mtime: float | None = None, declared: int | None = None) -> None:
        """Create a regular file from ``src`` (a file object or a ``read(n)`` function), counting bytes
        against the caps as they arrive (declared sizes can lie)."""
        if not parts:
            raise self.refuse(name, "names no file")
        kind = self.kinds.get(parts)
        if kind == "dir":
            raise self.refuse(name, "is a file but an earlier member of that name is a directory")
        read = src if callable(src) else src.read
        parent = self._parent(name, parts, create=True)
        try:
            if kind == "file":  # a later member of the same name wins (tar's rule): a new file, not a write-through
                os.unlink(parts[-1], dir_fd=parent)
            fd = os.open(parts[-1], _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        except FileExistsError:
            raise self.refuse(name, "appears twice") from None
        self.kinds[parts] = "file"
        try:
            written = 0
            lim = self.limits
            while True:
                chunk = read(CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                self.bytes += len(chunk)
                if declared is not None and written > declared:
                    raise self.refuse(name, "inflates beyond its declared size")
                if written > lim.max_file_bytes:
                    raise self.refuse(name, f"is more than the limit of {lim.max_file_bytes} bytes "
                                            f"(site config [sources] max_file_bytes)")
                self._check_total(name, self.bytes)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fchmod(fd, 0o755 if mode & 0o100 else 0o644)
            if mtime is not None:
                try:
                    os.utime(fd, (mtime, mtime))
                except (OSError, OverflowError, ValueError):
                    pass  # a silly date in a header is not worth refusing the code for
        finally:
            os.close(fd)

    def hardlink(self, name: str, parts: tuple[str, ...], target: str) -> None:
        """A hard link (tar): allowed to a regular file created earlier in this tree, nothing else."""
        tparts = self.parts(target)
        if self.kinds.get(tparts) != "file":
            raise self.refuse(name, f"is a hard link to {shown(target)}, which is not a regular file earlier in "
                                    f"the archive")
        if not parts or self.kinds.get(parts) is not None:
            raise self.refuse(name, "appears twice")
        src = self._parent(target, tparts, create=False)
        dst = self._parent(name, parts, create=True)  # may open one directory: src stays cached (LRU)
        try:
            os.link(tparts[-1], parts[-1], src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
        except FileExistsError:
            raise self.refuse(name, "appears twice") from None
        self.kinds[parts] = "file"

    def symlink(self, name: str, parts: tuple[str, ...], target: str) -> None:
        """Note a symbolic link; it is checked and created by :meth:`finish`, after every file."""
        if not parts:
            raise self.refuse(name, "names no file")
        if not target or "\x00" in target or len(os.fsencode(target)) > MAX_LINK_BYTES:
            raise self.refuse(name, "is a link with an empty, overlong or NUL-containing target")
        self._links.append((name, parts, target))

    def _resolve(self, parts: tuple[str, ...], target: str) -> tuple[str, ...] | str:
        """Where a link at ``parts`` pointing to ``target`` lands in the tree, or why it cannot be kept.

        Resolved component by component, and every component it passes through must be a real directory
        of the tree: only then is the lexical ``..`` what the kernel does (``x/..`` through a link ``x ->
        ../..`` is not ``.``: a chain like CVE-2025-4517's climbs out exactly that way)."""
        if target.startswith("/"):
            return f"is a symbolic link to {shown(target)}, which points outside"
        out = list(parts[:-1])
        for comp in target.split("/"):
            if self.kinds.get(tuple(out)) != "dir":
                return (f"is a symbolic link to {shown(target)}, which passes through "
                        f"{shown('/'.join(out))}, not a folder of the code")
            if comp in ("", "."):
                continue
            if comp == "..":
                if not out:
                    return f"is a symbolic link to {shown(target)}, which points outside"
                out.pop()
            else:
                out.append(comp)
        if self.kinds.get(tuple(out)) not in ("dir", "file"):
            return (f"is a symbolic link to {shown(target)}, which is not a file or directory of the code "
                    f"(links may point only to files and folders inside it, not to other links)")
        return tuple(out)

    def finish(self, fallback: Callable[[str, tuple[str, ...], str], bool] | None = None) -> None:
        """Create the noted symbolic links, each only if it resolves to a file or directory of the tree.
        A link that cannot be kept is refused, unless ``fallback(name, parts, why)`` handles it (a folder
        source copies what such a link points to when that is a regular file) and returns True."""
        for name, parts, target in self._links:
            # the link's own folders must be real folders (not links made earlier in this loop): only then
            # does the lexical resolution below agree with what the kernel will do
            for i in range(1, len(parts)):
                if self.kinds.get(parts[:i]) not in (None, "dir"):
                    raise self.refuse(name, f"lies below {shown('/'.join(parts[:i]))}, which is not a directory")
            parent = self._parent(name, parts, create=True)  # its folders exist before it is resolved
            resolved = self._resolve(parts, target)
            if isinstance(resolved, str):
                if parts not in self.kinds and fallback is not None and fallback(name, parts, resolved):
                    continue
                raise self.refuse(name, resolved)
            if parts in self.kinds:
                raise self.refuse(name, "appears twice")
            try:
                os.symlink(target, parts[-1], dir_fd=parent)
            except FileExistsError:
                raise self.refuse(name, "appears twice") from None
            self.kinds[parts] = "link"
        self._links.clear()


# -------------------------------------------------------------------------------------------- archives
class _GuardedReader:
    """The decompressed tar stream, refusing single reads larger than :data:`MAX_HEADER_READ` (tarfile
    reads a PAX or GNU long-name header whole: a header that declares 8 GiB would be read into memory)."""

    def __init__(self, raw: IO[bytes], what: str) -> None:
        self.raw, self.what = raw, what

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_HEADER_READ:
            raise StagingError(f"{self.what} refused: it has a header or member read larger than "
                               f"{MAX_HEADER_READ} bytes at once")
        return self.raw.read(size)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.raw.seek(pos, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.raw.close()


def _open_decompressed(path: Path) -> IO[bytes]:
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"\x1f\x8b"):
        import gzip

        return gzip.open(path, "rb")
    if magic.startswith(b"BZh"):
        import bz2

        return bz2.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        import lzma

        return lzma.open(path, "rb")
    return open(path, "rb")


def _read_errors() -> tuple[type[BaseException], ...]:
    """What a crafted archive makes the standard library raise while reading (not writing) it."""
    import struct
    import tarfile
    import zipfile
    import zlib

    errs: list[type[BaseException]] = [tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, ValueError,
                                       OverflowError, struct.error, NotImplementedError, RuntimeError,
                                       UnicodeError, KeyError, IndexError]
    try:
        import lzma

        errs.append(lzma.LZMAError)
    except ImportError:  # pragma: no cover - python built without lzma
        pass
    return tuple(errs)


def extract_tar(archive: Path, tree: SafeTree) -> None:
    """Tar (plain, gz, bz2, xz): every header is checked (names, types, sizes, count) before anything
    is written; then files and directories are created, hard links to earlier files made, links last."""
    import tarfile

    raw = _open_decompressed(archive)
    try:
        with tarfile.open(fileobj=_GuardedReader(raw, tree.what), mode="r:") as tf:
            members: list[tuple[tarfile.TarInfo, tuple[str, ...]]] = []
            declared = 0
            while True:
                m = tf.next()
                if m is None:
                    break
                tree.count(m.name)
                parts = tree.parts(m.name)
                if m.isreg():
                    declared += max(m.size, 0)
                    tree.declare(m.name, m.size, declared)
                elif m.issym() or m.islnk():
                    if not m.linkname or "\x00" in m.linkname:
                        raise tree.refuse(m.name, "is a link with an empty target")
                elif not m.isdir():
                    raise tree.refuse(m.name, "is a device or special file")
                members.append((m, parts))
            tf.members = []  # what tarfile cached is not needed again
            for m, parts in members:
                if m.isdir():
                    tree.mkdir(m.name, parts)
                elif m.isreg():
                    src = tf.extractfile(m)
                    assert src is not None
                    with src:
                        tree.write_file(m.name, parts, src, m.mode, m.mtime, m.size)
                elif m.islnk():
                    tree.hardlink(m.name, parts, m.linkname)
                else:
                    tree.symlink(m.name, parts, m.linkname)
            tree.finish()
    finally:
        raw.close()


def extract_zip(archive: Path, tree: SafeTree) -> None:
    """Zip: the central directory is checked whole (names, types, declared sizes, count) first."""
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > tree.limits.max_members:
            raise StagingError(f"{tree.what} refused: it has {len(infos)} members, more than "
                               f"{tree.limits.max_members} (site config [sources] max_members)")
        plan = []
        declared = 0
        for info in infos:
            tree.count(info.filename)
            parts = tree.parts(info.filename)
            mode = (info.external_attr >> 16) if info.create_system == 3 else 0
            if stat.S_ISLNK(mode):
                kind = "link"
            elif info.filename.endswith("/") or stat.S_ISDIR(mode):
                kind = "dir"
            elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                raise tree.refuse(info.filename, "is a device or special file")
            else:
                kind = "file"
                declared += info.file_size
                tree.declare(info.filename, info.file_size, declared)
            plan.append((info, parts, kind, mode))
        for info, parts, kind, mode in plan:
            if kind == "dir":
                tree.mkdir(info.filename, parts)
            elif kind == "file":
                with zf.open(info) as src:
                    tree.write_file(info.filename, parts, src, mode or 0o644,
                                    _zip_mtime(info.date_time), info.file_size)
            else:
                with zf.open(info) as src:
                    raw_target = src.read(MAX_LINK_BYTES + 1)
                tree.symlink(info.filename, parts, os.fsdecode(raw_target))
        tree.finish()


def _zip_mtime(date_time: tuple[int, ...]) -> float | None:
    import time

    try:
        return time.mktime((*date_time, 0, 0, -1))
    except (OverflowError, ValueError, TypeError):
        return None


def extract(archive: Path, dest: Path, what: str, limits: SourceLimits) -> None:
    """Extract ``archive`` (zip or tar of any compression) into ``dest`` under ``limits``; a refused
    archive raises :class:`StagingError` naming the member (the caller removes ``dest``)."""
    compressed = archive.stat().st_size
    try:
        with SafeTree(dest, limits, what, compressed) as tree:
            if archive.name.lower().endswith(".zip"):
                extract_zip(archive, tree)
            else:
                extract_tar(archive, tree)
    except StagingError:
        raise
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise
        raise StagingError(f"{what} cannot be read: {exc.strerror or exc}") from None
    except _read_errors() as exc:
        kind = "is not a valid zip file" if archive.name.lower().endswith(".zip") else "cannot be read"
        raise StagingError(f"{what} {kind}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    except RecursionError:
        raise StagingError(f"{what} cannot be read: nested too deeply") from None


# -------------------------------------------------------------------------------------------- folders
def copy_folder(src: Path, dest: Path, what: str, limits: SourceLimits,
                skip_dirs: tuple[str, ...] = ("__pycache__",)) -> None:
    """Copy a folder into ``dest`` with the archive rules: regular files and directories, links only to
    files and folders inside it (a link to a regular file elsewhere is replaced by a copy of that file, a
    link to a folder or special file elsewhere is refused); FIFOs, devices and sockets are refused (reading
    a FIFO would hang the submission, a device like /dev/zero would fill the job root).  Walked
    iteratively with directory fds, so neither depth nor a link swapped in meanwhile can lead it astray."""
    try:
        top = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise StagingError(f"cannot copy {src}: {exc.strerror or exc}") from None
    stack: list[tuple[int, tuple[str, ...]]] = [(top, ())]
    try:
        with SafeTree(dest, limits, what) as tree:
            while stack:
                dfd, prefix = stack.pop()
                try:
                    for entry_name in sorted(os.listdir(dfd)):
                        rel_parts = (*prefix, entry_name)
                        rel = "/".join(rel_parts)
                        st = os.stat(entry_name, dir_fd=dfd, follow_symlinks=False)
                        if stat.S_ISDIR(st.st_mode) and entry_name in skip_dirs:
                            continue
                        tree.count(rel)
                        parts = tree.parts(rel)
                        if stat.S_ISDIR(st.st_mode):
                            tree.mkdir(rel, parts)
                            stack.append((os.open(entry_name, _DIR_FLAGS, dir_fd=dfd), parts))
                        elif stat.S_ISREG(st.st_mode):
                            fd = os.open(entry_name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                                         dir_fd=dfd)
                            try:
                                fst = os.fstat(fd)
                                if not stat.S_ISREG(fst.st_mode):  # swapped since the stat above
                                    raise tree.refuse(rel, f"is {_kind_of(fst.st_mode)}")
                                tree.declare(rel, fst.st_size, tree.bytes + fst.st_size)
                                os.set_blocking(fd, True)
                                tree.write_file(rel, parts, lambda n, _fd=fd: os.read(_fd, n), fst.st_mode,
                                                fst.st_mtime)
                            finally:
                                os.close(fd)
                        elif stat.S_ISLNK(st.st_mode):
                            tree.symlink(rel, parts, os.readlink(entry_name, dir_fd=dfd))
                        else:
                            raise StagingError(f"{what} refused: {shown(rel)} is {_kind_of(st.st_mode)}; only "
                                               f"regular files, folders and links inside the folder are staged")
                finally:
                    os.close(dfd)

            def copy_target(name: str, parts: tuple[str, ...], why: str) -> bool:
                """A link that cannot stay a link (it points outside, or to another link): the folder is
                the user's own, read with the user's own rights, so what it points to is copied in when
                that is a regular file - as a remote submit sends it (nmcluster/remote/remote.py _pack)."""
                try:
                    fd = os.open(src / name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                except OSError:
                    raise tree.refuse(name, f"{why}, and what it points to cannot be read") from None
                try:
                    fst = os.fstat(fd)
                    if not stat.S_ISREG(fst.st_mode):
                        raise tree.refuse(name, f"{why}, and what it points to is "
                                                f"{'a folder' if stat.S_ISDIR(fst.st_mode) else _kind_of(fst.st_mode)}"
                                                f" (copy it into the folder)")
                    tree.declare(name, fst.st_size, tree.bytes + fst.st_size)
                    os.set_blocking(fd, True)
                    tree.write_file(name, parts, lambda n: os.read(fd, n), fst.st_mode, fst.st_mtime)
                finally:
                    os.close(fd)
                return True

            tree.finish(copy_target)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise
        raise StagingError(f"cannot copy {src}: {exc.strerror or exc}"
                           + (f" ({exc.filename})" if exc.filename else "")) from None
    finally:
        for dfd, _ in stack:
            os.close(dfd)


def tree_size(path: Path) -> int:
    """Bytes of the regular files below ``path`` (iterative, links not followed): a git clone's growth."""
    total = 0
    todo = [str(path)]
    while todo:
        try:
            with os.scandir(todo.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            todo.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


# -------------------------------------------------------------------------------------------- results
class ResultWriter:
    """Writes files below a destination directory without following any link planted there.

    The destination itself may be a link only when it belongs to the user (or root): ``-o ~/results``
    pointing at scratch space is fine, a ``/tmp/results`` link planted by someone else is not.  Below it,
    every directory is opened with ``O_NOFOLLOW``; a file is written to a fresh temporary name
    (``O_CREAT | O_EXCL | O_NOFOLLOW``) and renamed over the old one, so an existing regular file is
    replaced (the old ``results`` behaviour) but never written through; an existing link, directory or
    special file at a result's name is refused."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        dest = Path(os.path.abspath(dest))
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(dest, 0o755)
            except FileExistsError:
                pass
            try:
                self.fd = os.open(dest, _DIR_FLAGS)
            except OSError as exc:  # a link: ELOOP, or ENOTDIR as Linux says with O_DIRECTORY
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not os.path.islink(dest):
                    raise
                owner = os.lstat(dest).st_uid
                if owner not in (os.geteuid(), 0):
                    raise UserInputError(f"refusing to write results into {dest}: it is a symbolic link owned by "
                                         f"{describe_uid(owner)}, not by you") from None
                self.fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except NotADirectoryError:
            raise UserInputError(f"cannot write results into {dest}: it is not a directory") from None
        except PermissionError as exc:
            raise UserInputError(f"cannot write results into {dest}: {exc.strerror}") from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _walk(self, name: str, create: bool) -> int | None:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        cur = os.dup(self.fd)
        try:
            for i, comp in enumerate(parts[:-1]):
                try:
                    nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
                except FileNotFoundError:
                    if not create:
                        os.close(cur)
                        return None
                    os.mkdir(comp, 0o755, dir_fd=cur)
                    nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise UserInputError(f"refusing to write result {name}: "
                                             f"{self.dest / '/'.join(parts[: i + 1])} is a symbolic link or "
                                             f"not a directory") from None
                    raise
                os.close(cur)
                cur = nxt
            return cur
        except BaseException:
            os.close(cur)
            raise

    def check(self, name: str) -> None:
        """Refuse, before anything is written, a result whose path in the destination is a link or not a
        regular file (planted there by someone else, or a folder of that name)."""
        parent = self._walk(name, create=False)
        if parent is None:
            return
        try:
            st = os.stat(name.split("/")[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        finally:
            os.close(parent)
        if not stat.S_ISREG(st.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise UserInputError(f"refusing to write result {name}: {self.dest / name} is {what} "
                                 f"(remove it to fetch the results there)")

    def write(self, name: str, fill: Callable[[IO[bytes]], None], mtime: float | None = None) -> Path:
        """Create ``name`` (relative, already checked as safe) from ``fill(fileobj)``; returns its path."""
        self.check(name)
        parent = self._walk(name, create=True)
        assert parent is not None
        leaf = name.split("/")[-1]
        tmp = f".{leaf[:200]}.{os.urandom(6).hex()}.part"
        try:
            fd = os.open(tmp, _NEW_FILE_FLAGS, 0o644, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb", closefd=False) as out:
                    fill(out)
                if mtime is not None:
                    os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)
            os.rename(tmp, leaf, src_dir_fd=parent, dst_dir_fd=parent)  # replaces the entry, never follows it
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=parent)
            except OSError:
                pass
            raise
        finally:
            os.close(parent)
        return self.dest / name

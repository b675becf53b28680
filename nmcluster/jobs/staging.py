"""Staging: make a private snapshot of a job's code and inputs in its own directory at submit time.

The snapshot is what runs, so editing the original folder after submitting never changes a queued job
(the platform's known complaint: a re-submitted folder ran a stale uploaded copy).  Job code comes from
whoever submits it, often from URLs nobody on the cluster controls, so every tree - archive, folder or git
clone - is built by :mod:`nmcluster.jobs.safetree` relative to directory file descriptors, never through a
link, with only regular files, directories and links inside the tree, under the caps of the site
config's ``[sources]`` (:class:`nmcluster.config.SourceLimits`); a refused source is named in one line
and leaves nothing behind.  Git sources are cloned with an argument list (``--`` before the URL), never
through a shell, with a restricted set of transports and a time limit on the whole fetch.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from nmcluster.errors import StagingError
from nmcluster.jobs.spec import split_command

if TYPE_CHECKING:
    from nmcluster.config import SourceLimits

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
PYTHONS = ("python", "python3")


@dataclass(frozen=True)
class StagedCode:
    kind: str  # script | text | folder | git | archive
    command: str  # the command to run, adjusted for single scripts
    inputs: tuple[str, ...]  # file names of staged inputs inside the work dir


def _is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https", "file", "git", "ssh")


def _is_archive(source: str) -> bool:
    path = urllib.parse.urlparse(source).path if _is_url(source) else source
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def _is_git(source: str) -> bool:
    if _is_url(source):
        parsed = urllib.parse.urlparse(source)
        return (parsed.scheme in ("git", "ssh") or parsed.path.endswith(".git")
                or parsed.scheme == "file" and _looks_like_repo(Path(parsed.path))
                or parsed.netloc in ("github.com", "gitlab.com", "bitbucket.org"))
    return _looks_like_repo(Path(source)) and not (Path(source) / ".git").exists() or source.endswith(".git")


def _looks_like_repo(path: Path) -> bool:
    """A bare repository (HEAD + objects/ + refs/)."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def classify(source: str) -> str:
    """What kind of code a source string names."""
    if "\n" in source:
        return "text"
    if _is_archive(source):
        return "archive"
    if _is_git(source):
        return "git"
    if _is_url(source):
        raise StagingError(f"cannot use {source!r} as code: URLs must name a git repository or an archive "
                           f"({', '.join(ARCHIVE_SUFFIXES)})")
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "script"
    raise StagingError(f"code {source!r} does not exist (expected a script, folder, git URL or archive)")


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _limits(limits: SourceLimits | None, max_bytes: int | None) -> SourceLimits:
    """The site's limits (defaults without a site), with ``max_bytes`` overriding the total when given."""
    from nmcluster.config import SourceLimits

    limits = limits or SourceLimits()
    if max_bytes is not None:
        limits = limits._replace(max_bytes=max_bytes)
    return limits


def _fetch(url: str, dest: Path, max_bytes: int, timeout_s: float = 300.0) -> None:
    """Download a URL to ``dest`` (http(s) or file), refusing more than ``max_bytes`` or more than
    ``timeout_s`` in all (a server that drips one byte a minute never trips a per-read timeout alone)."""
    import time
    import urllib.request  # lazy: it pulls in http.client, email and ssl (~30 ms on every submit)

    deadline = time.monotonic() + timeout_s
    try:
        # "xb": never onto or through an existing entry
        with urllib.request.urlopen(url, timeout=min(60.0, timeout_s)) as resp, open(dest, "xb") as out:
            total = 0
            read = getattr(resp, "read1", resp.read)  # read1: whatever has arrived, not a full 1 MiB
            while chunk := read(1 << 20):
                total += len(chunk)
                if total > max_bytes:
                    raise StagingError(f"{url} is larger than the limit of {max_bytes} bytes")
                out.write(chunk)
                if time.monotonic() > deadline:
                    raise StagingError(f"downloading {url} took longer than {timeout_s:g} s "
                                       f"(site config [sources] fetch_timeout_s)")
    except StagingError:
        raise
    except (OSError, ValueError) as exc:
        if getattr(exc, "errno", None) in _NO_SPACE:
            raise
        raise StagingError(f"cannot download {url}: {getattr(exc, 'reason', None) or exc}") from None


def extract_archive(archive: Path, dest: Path, label: str, max_bytes: int | None = None,
                    limits: SourceLimits | None = None) -> None:
    """Extract safely into ``dest`` (created when missing) or raise :class:`StagingError` naming the bad
    member; the tree is built by :mod:`nmcluster.jobs.safetree`, never by ``tarfile.extractall``."""
    from nmcluster.jobs.safetree import extract

    extract(archive, dest, f"archive {label}", _limits(limits, max_bytes))


#: transports a git source may use; ``ext::`` (runs a command) and ``fd::`` are never allowed, whatever
#: the user's own git config says (``protocol.allow=never`` first, then these one by one)
GIT_PROTOCOLS = ("https", "http", "ssh", "git", "file")


def _git_env() -> dict[str, str]:
    return dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", SSH_ASKPASS="true",
                GIT_LFS_SKIP_SMUDGE="1", LC_ALL="C")


def _git_base() -> list[str]:
    argv = ["git", "-c", "protocol.allow=never"]
    for proto in GIT_PROTOCOLS:
        argv += ["-c", f"protocol.{proto}.allow=always"]
    # no fsckObjects: it refuses old repositories with harmless flaws (bad time zones); what matters, names
    # like '..' or links out of the tree, is judged by the extractor on the `git archive` output
    return argv + ["-c", "core.hooksPath=/dev/null"]


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else "unknown error"
    return "".join(c if c.isprintable() else "?" for c in line)[:300]


def _run_git(argv: list[str], deadline: float, source: str, timeout_s: float, cwd: Path | None = None,
             stdout: int | object = subprocess.PIPE, watch: Path | None = None,
             max_bytes: int | None = None) -> subprocess.CompletedProcess:
    """Run one git command in its own process group; kill the whole group (git, its remote helper, ssh)
    when the deadline passes or ``watch`` grows beyond ``max_bytes``."""
    import signal
    import tempfile
    import time

    from nmcluster.jobs.safetree import tree_size

    with tempfile.TemporaryFile() as err:  # a file, not a pipe: nothing blocks on a full pipe while we poll
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=_git_env(), stdin=subprocess.DEVNULL, stdout=stdout,
                                    stderr=err, start_new_session=True)
        except FileNotFoundError:
            raise StagingError("git is not installed, so git sources cannot be staged") from None
        why = None
        try:
            while True:
                try:
                    proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() > deadline:
                    why = (f"git clone of {source} took longer than {timeout_s:g} s "
                           f"(site config [sources] fetch_timeout_s)")
                elif watch is not None and max_bytes is not None and tree_size(watch) > max_bytes:
                    why = (f"git clone of {source} refused: it downloads more than {max_bytes} bytes "
                           f"(site config [sources] git_max_bytes)")
                if why:
                    break
        finally:
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if why:
            raise StagingError(why)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return subprocess.CompletedProcess(argv, proc.returncode, None, stderr)


def _check_git_source(source: str) -> None:
    if source.startswith("-"):
        raise StagingError(f"refusing git source {source!r}: it looks like an option")
    scheme = source.split("::", 1)[0] if "::" in source.split("/", 1)[0] else None
    if scheme is not None:
        raise StagingError(f"refusing git source {source!r}: the {scheme}:: transport is not allowed "
                           f"(allowed: {', '.join(GIT_PROTOCOLS)} URLs)")


def _clone(source: str, dest: Path, limits: SourceLimits | None = None) -> None:
    """Shallow-clone ``source`` and build ``dest`` from its tree with the archive rules.

    The clone is bare (nothing is checked out by git), single-branch, depth 1, without tags, with only the
    transports of :data:`GIT_PROTOCOLS`, within ``fetch_timeout_s`` for all steps together and
    ``git_max_bytes`` downloaded (watched while it runs: the size is known only as it arrives).  Then the
    tree's entries are counted and summed (``git ls-tree -l``) against the caps before anything is
    written, and ``git archive`` of HEAD is extracted by :mod:`nmcluster.jobs.safetree` like any tar."""
    import time

    from nmcluster.jobs.safetree import extract, tree_size

    limits = _limits(limits, None)
    _check_git_source(source)
    timeout_s = limits.fetch_timeout_s
    deadline = time.monotonic() + timeout_s
    tmp = dest.parent / f".{dest.name}.git-{os.urandom(6).hex()}"
    tmp.mkdir(mode=0o700)
    try:
        repo = tmp / "repo.git"
        proc = _run_git([*_git_base(), "clone", "--quiet", "--bare", "--no-local", "--depth", "1",
                         "--single-branch", "--no-tags", "--", source, str(repo)],
                        deadline, source, timeout_s, watch=tmp, max_bytes=limits.git_max_bytes)
        if proc.returncode != 0:
            raise StagingError(f"cannot clone {source}: {_one_line(proc.stderr)}")
        if tree_size(tmp) > limits.git_max_bytes:  # a fast clone can finish between two looks
            raise StagingError(f"git clone of {source} refused: it downloads more than {limits.git_max_bytes} "
                               f"bytes (site config [sources] git_max_bytes)")
        git = [*_git_base(), "--git-dir", str(repo)]
        with open(tmp / "count", "wb") as out:
            _run_git([*git, "count-objects", "-v"], deadline, source, timeout_s, stdout=out)
        counts = dict(line.split(": ", 1) for line in (tmp / "count").read_text().splitlines() if ": " in line)
        objects = sum(int(counts.get(k, "0") or 0) for k in ("count", "in-pack"))
        if objects > limits.git_max_objects:
            raise StagingError(f"git clone of {source} refused: it holds {objects} objects, more than "
                               f"{limits.git_max_objects} (site config [sources] git_max_objects)")
        with open(tmp / "tree", "wb") as out:
            proc = _run_git([*git, "ls-tree", "-r", "-l", "-z", "--full-tree", "HEAD"], deadline, source,
                            timeout_s, stdout=out)
        if proc.returncode != 0:
            raise StagingError(f"cannot read the tree of {source}: {_one_line(proc.stderr)}")
        _check_git_tree(tmp / "tree", source, limits)
        with open(tmp / "code.tar", "wb") as out:
            proc = _run_git([*git, "archive", "--format=tar", "HEAD"], deadline, source, timeout_s, stdout=out)
        if proc.returncode != 0:
            raise StagingError(f"cannot export the tree of {source}: {_one_line(proc.stderr)}")
        extract(tmp / "code.tar", dest, f"git repository {source}", limits)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_git_tree(listing: Path, source: str, limits: SourceLimits) -> None:
    """``git ls-tree -r -l -z`` records: ``<mode> <type> <object> <size>\t<path>``; count and sum them."""
    entries = total = 0
    with open(listing, "rb") as fh:
        data = fh.read()
    for record in data.split(b"\0"):
        if not record:
            continue
        entries += 1
        if entries > limits.max_members:
            raise StagingError(f"git repository {source} refused: it has more than {limits.max_members} files "
                               f"(site config [sources] max_members)")
        head, _, path = record.partition(b"\t")
        fields = head.split()
        if len(fields) == 4 and fields[3].isdigit():
            size = int(fields[3])
            if size > limits.max_file_bytes:
                raise StagingError(f"git repository {source} refused: {os.fsdecode(path)!r} is {size} bytes, "
                                   f"more than {limits.max_file_bytes} (site config [sources] max_file_bytes)")
            total += size
            if total > limits.max_bytes:
                raise StagingError(f"git repository {source} refused: its files hold more than "
                                   f"{limits.max_bytes} bytes (site config [sources] max_bytes)")


def _script_of(argv: list[str]) -> str | None:
    """The file a command runs: ``main.py`` in ``main.py x`` or ``python main.py x``."""
    if argv[0] in PYTHONS:
        return argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    return argv[0]


def stage_code(source: str, command: str, work: Path, inputs: tuple[str, ...] = (),
               max_bytes: int | None = None, limits: SourceLimits | None = None) -> StagedCode:
    """Copy/extract/clone ``source`` into ``work`` (which must not exist yet), then the inputs, under the
    site's ``limits`` (``max_bytes`` overrides their total).  Whatever is refused, ``work`` is removed
    again: a refused source leaves no partial tree."""
    limits = _limits(limits, max_bytes)
    kind = classify(source)
    work.mkdir(parents=True)
    try:
        return _stage(source, kind, command, work, inputs, limits)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _stage(source: str, kind: str, command: str, work: Path, inputs: tuple[str, ...],
           limits: SourceLimits) -> StagedCode:
    from nmcluster.jobs.safetree import copy_folder

    if kind == "text":
        (work / "run.py").write_text(source)
        command = _single_script_command("run.py", command)
    elif kind == "script":
        path = Path(source).expanduser()
        _copy_file(path, work, path.name, limits, f"script {source}")
        command = _single_script_command(path.name, command)
    elif kind == "folder":
        copy_folder(Path(source).expanduser(), work, f"folder {source}", limits)
    elif kind == "git":
        _clone(source, work, limits)
    else:
        tmp = work.parent / (work.name + ".download")
        tmp.mkdir()
        try:
            if _is_url(source):
                archive = tmp / PurePosixPath(urllib.parse.urlparse(source).path).name
                _fetch(source, archive, limits.max_bytes, limits.fetch_timeout_s)
            else:
                archive = Path(source).expanduser()
                if not archive.is_file():
                    raise StagingError(f"archive {source} does not exist")
            extract_archive(archive, work, source, limits=limits)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _unwrap_single_dir(work, command)
    argv = split_command(command)
    script = _script_of(argv)
    if script is None or not (work / script).is_file():
        raise StagingError(f"the command runs {script or argv[0]!r}, which is not in the job's code "
                           f"({source})")
    staged_inputs = stage_inputs(inputs, work, limits=limits)
    return StagedCode(kind=kind, command=command, inputs=staged_inputs)


def _single_script_command(name: str, command: str) -> str:
    """For a single script the command is ``<script> args``, ``run.py args`` (the platform's default
    name stands for the uploaded script) or just the arguments (``{system}``)."""
    argv = split_command(command)
    script = _script_of(argv)
    if script == name:
        return command
    if script == "run.py":
        return command.replace("run.py", shlex.quote(name), 1)
    if script is not None and script.endswith(".py"):
        return command  # names another file: the existence check reports it
    return f"{shlex.quote(name)} {command}"


def _unwrap_single_dir(work: Path, command: str) -> None:
    """Archives often hold one top folder (``repo-main/``); run from inside it when the script is there."""
    entries = list(work.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        script = _script_of(split_command(command))
        if script and not (work / script).exists() and (entries[0] / script).exists() \
                and not _links_climb_out(entries[0]):
            inner = entries[0]
            for child in list(inner.iterdir()):
                child.rename(work / child.name)
            inner.rmdir()


def _links_climb_out(inner: Path) -> bool:
    """Does a link below ``inner`` reach its target through ``inner``'s parent (``l -> ../inner/x``)?
    Such a link would point outside the work directory once ``inner``'s contents move up one level."""
    for dirpath, dirnames, filenames in os.walk(inner):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                continue
            depth = len(path.relative_to(inner).parts) - 1  # folders between inner and the link
            for comp in os.readlink(path).split("/"):
                if comp == "..":
                    depth -= 1
                    if depth < 0:
                        return True
                elif comp not in ("", "."):
                    depth += 1
    return False


def input_name(item: str) -> str:
    """The file name an input (path or URL) gets in the job's work directory: its base name."""
    if _is_url(item):
        return PurePosixPath(urllib.parse.urlparse(item).path).name
    return Path(item).name


def is_url(source: str) -> bool:
    """Does ``source`` name a URL (http, https, file, git, ssh) rather than a local path?"""
    return _is_url(source)


def clone_repository(source: str, dest: Path, limits: SourceLimits | None = None) -> None:
    """Shallow-clone a git repository into ``dest`` without its history (what staging does for git code),
    under the same rules and limits."""
    _clone(source, dest, limits)


def _copy_file(src: Path, work: Path, name: str, limits: SourceLimits, what: str) -> None:
    """Copy one regular file into ``work`` as ``name`` (never onto or through an existing entry).  Opened
    non-blocking and checked with fstat: a FIFO or device named (or swapped in) instead of a file is
    refused rather than hanging the submission or filling the job root."""
    import stat

    from nmcluster.jobs.safetree import SafeTree

    try:
        fd = os.open(src, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise StagingError(f"{what} cannot be read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StagingError(f"{what} refused: it is not a regular file")
        os.set_blocking(fd, True)
        with SafeTree(work, limits, what) as tree:
            parts = tree.parts(name)
            tree.declare(name, st.st_size, st.st_size)
            tree.write_file(name, parts, lambda n: os.read(fd, n), st.st_mode, st.st_mtime)
    finally:
        os.close(fd)


def stage_inputs(inputs: tuple[str, ...], work: Path, max_bytes: int | None = None,
                 limits: SourceLimits | None = None) -> tuple[str, ...]:
    """Copy each input (path or URL) into the work directory by its base name.  Downloads are capped by
    ``max_bytes`` in all and ``fetch_timeout_s``; local files must be regular files (inputs may be large
    data, so their size is the user's own business: no size cap)."""
    limits = _limits(limits, max_bytes)
    local_limits = limits._replace(max_bytes=2**62, max_file_bytes=2**62)
    names: list[str] = []
    for item in inputs:
        name = input_name(item)
        if not name or name in (".", "..") or "\0" in name:
            raise StagingError(f"input {item!r} has no file name")
        target = work / name
        if os.path.lexists(target):
            raise StagingError(f"input {item!r} would overwrite {name} of the job's code")
        if _is_url(item):
            _fetch(item, target, limits.max_bytes, limits.fetch_timeout_s)
        else:
            src = Path(item).expanduser()
            if not src.is_file():
                if src.exists():
                    raise StagingError(f"input {item} refused: it is not a regular file")
                raise StagingError(f"input file {item} does not exist")
            _copy_file(src, work, name, local_limits, f"input file {item}")
        names.append(name)
    return tuple(names)

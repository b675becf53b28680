"""Staging: make a private snapshot of a job's code and inputs in its own directory at submit time.

The snapshot is what runs, so editing the original folder after submitting never changes a queued job
(the platform's known complaint: a re-submitted folder ran a stale uploaded copy).  Archives are
extracted defensively — absolute paths, ``..``, links or devices pointing outside, and archives that
inflate beyond a size limit are refused with the offending member named — because job code comes from
URLs nobody on the cluster controls.  Git sources are cloned with an argument list (``--`` before the
URL), never through a shell.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import stat
import subprocess
import tarfile
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nmcluster.errors import StagingError
from nmcluster.jobs.spec import split_command

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
DEFAULT_MAX_ARCHIVE_BYTES = 2 * 1024**3  # uncompressed; a zip bomb stops here
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
_TAR_FILTER_ERROR = getattr(tarfile, "FilterError", ())  # absent before Python 3.11.4


def _copy_tree(src: Path, dest: Path) -> None:
    try:
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    except shutil.Error as exc:  # one (src, dst, why) per file that failed, as text
        problems = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
        whys = [str(p[-1]) for p in problems if isinstance(p, tuple) and p]
        for code in _NO_SPACE:  # a full job root is the cluster's problem, not the user's code
            if any(f"[Errno {code}]" in w for w in whys):
                raise OSError(code, os.strerror(code), str(dest)) from None
        raise StagingError(f"cannot copy {src}: {'; '.join(whys[:3]) or exc}") from None
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise
        raise StagingError(f"cannot copy {src}: {exc.strerror or exc}") from None


def _fetch(url: str, dest: Path, max_bytes: int) -> None:
    """Download a URL to ``dest`` (http(s) or file), refusing more than ``max_bytes``."""
    import urllib.request  # lazy: it pulls in http.client, email and ssl (~30 ms on every submit)

    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            total = 0
            while chunk := resp.read(1 << 20):
                total += len(chunk)
                if total > max_bytes:
                    raise StagingError(f"{url} is larger than the limit of {max_bytes} bytes")
                out.write(chunk)
    except StagingError:
        raise
    except (OSError, ValueError) as exc:
        raise StagingError(f"cannot download {url}: {getattr(exc, 'reason', None) or exc}") from None


def _check_member_name(name: str, archive: str) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise StagingError(f"archive {archive} refused: member {name!r} has an absolute path")
    if ".." in p.parts:
        raise StagingError(f"archive {archive} refused: member {name!r} points outside the archive (..)")


def extract_archive(archive: Path, dest: Path, label: str, max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES) -> None:
    """Extract safely into ``dest`` or raise :class:`StagingError` naming the bad member."""
    name = archive.name.lower()
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                total = 0
                for info in infos:
                    _check_member_name(info.filename, label)
                    mode = info.external_attr >> 16
                    if stat.S_ISLNK(mode):
                        raise StagingError(f"archive {label} refused: member {info.filename!r} is a symbolic link")
                    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                        raise StagingError(f"archive {label} refused: member {info.filename!r} is a special file")
                    total += info.file_size
                    if total > max_bytes:
                        raise StagingError(f"archive {label} refused: it inflates beyond {max_bytes} bytes")
                for info in infos:  # stream with a running count: declared sizes can lie
                    target = dest / info.filename
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:
                        written = 0
                        while chunk := src.read(1 << 20):
                            written += len(chunk)
                            if written > info.file_size or written > max_bytes:
                                raise StagingError(f"archive {label} refused: member {info.filename!r} "
                                                   f"inflates beyond its declared size")
                            out.write(chunk)
        except zipfile.BadZipFile as exc:
            raise StagingError(f"archive {label} is not a valid zip file: {exc}") from None
        return
    try:
        with tarfile.open(archive) as tf:
            members = []
            total = 0
            for m in tf:  # header by header: a bomb is refused at its first huge header, before it is inflated
                _check_member_name(m.name, label)
                if m.islnk() or m.issym():
                    target = PurePosixPath(m.linkname)
                    resolved = (PurePosixPath(m.name).parent / target) if m.issym() else target
                    if target.is_absolute() or ".." in PurePosixPath(os.path.normpath(str(resolved))).parts:
                        raise StagingError(f"archive {label} refused: link {m.name!r} -> {m.linkname!r} "
                                           f"points outside the archive")
                elif not (m.isfile() or m.isdir()):
                    raise StagingError(f"archive {label} refused: member {m.name!r} is a device or special file")
                total += max(m.size, 0)
                if total > max_bytes:
                    raise StagingError(f"archive {label} refused: it inflates beyond {max_bytes} bytes")
                members.append(m)
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:  # Python < 3.11.4 (Debian 12 ships 3.11.2): the checks above plus the data filter's clean-up
                for m in members:  # no setuid/setgid/sticky bits, no group/other write, no chown to the
                    m.mode = (m.mode & 0o755) | (0o700 if m.isdir() else 0o600)  # archive's owners (as root)
                    m.uid, m.gid, m.uname, m.gname = os.getuid(), os.getgid(), "", ""
                tf.extractall(dest, members=members)
    except _TAR_FILTER_ERROR as exc:
        raise StagingError(f"archive {label} refused: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, StagingError) or getattr(exc, "errno", None) in _NO_SPACE:
            raise
        raise StagingError(f"archive {label} cannot be read: {exc}") from None


def _clone(source: str, dest: Path) -> None:
    if source.startswith("-"):
        raise StagingError(f"refusing git source {source!r}: it looks like an option")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true")
    try:
        proc = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--", source, str(dest)],
                              capture_output=True, text=True, timeout=300, env=env)
    except FileNotFoundError:
        raise StagingError("git is not installed, so git sources cannot be staged") from None
    except subprocess.TimeoutExpired:
        raise StagingError(f"git clone of {source} timed out") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise StagingError(f"cannot clone {source}: {detail}")
    shutil.rmtree(dest / ".git", ignore_errors=True)  # the snapshot is the files, not the history


def _script_of(argv: list[str]) -> str | None:
    """The file a command runs: ``main.py`` in ``main.py x`` or ``python main.py x``."""
    if argv[0] in PYTHONS:
        return argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    return argv[0]


def stage_code(source: str, command: str, work: Path, inputs: tuple[str, ...] = (),
               max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES) -> StagedCode:
    """Copy/extract/clone ``source`` into ``work`` (which must not exist yet), then the inputs."""
    kind = classify(source)
    work.mkdir(parents=True)
    if kind == "text":
        (work / "run.py").write_text(source)
        command = _single_script_command("run.py", command)
    elif kind == "script":
        path = Path(source).expanduser()
        shutil.copy2(path, work / path.name)
        command = _single_script_command(path.name, command)
    elif kind == "folder":
        _copy_tree(Path(source).expanduser(), work)
    elif kind == "git":
        work.rmdir()
        _clone(source, work)
    else:
        tmp = work.parent / (work.name + ".download")
        tmp.mkdir()
        try:
            if _is_url(source):
                archive = tmp / PurePosixPath(urllib.parse.urlparse(source).path).name
                _fetch(source, archive, max_bytes)
            else:
                archive = Path(source).expanduser()
                if not archive.is_file():
                    raise StagingError(f"archive {source} does not exist")
            extract_archive(archive, work, source, max_bytes)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _unwrap_single_dir(work, command)
    argv = split_command(command)
    script = _script_of(argv)
    if script is None or not (work / script).is_file():
        raise StagingError(f"the command runs {script or argv[0]!r}, which is not in the job's code "
                           f"({source})")
    staged_inputs = stage_inputs(inputs, work, max_bytes)
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
        if script and not (work / script).exists() and (entries[0] / script).exists():
            inner = entries[0]
            for child in list(inner.iterdir()):
                child.rename(work / child.name)
            inner.rmdir()


def input_name(item: str) -> str:
    """The file name an input (path or URL) gets in the job's work directory: its base name."""
    if _is_url(item):
        return PurePosixPath(urllib.parse.urlparse(item).path).name
    return Path(item).name


def is_url(source: str) -> bool:
    """Does ``source`` name a URL (http, https, file, git, ssh) rather than a local path?"""
    return _is_url(source)


def clone_repository(source: str, dest: Path) -> None:
    """Shallow-clone a git repository into ``dest`` without its history (what staging does for git code)."""
    _clone(source, dest)


def stage_inputs(inputs: tuple[str, ...], work: Path, max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES) -> tuple[str, ...]:
    """Copy each input (path or URL) into the work directory by its base name."""
    names: list[str] = []
    for item in inputs:
        name = input_name(item)
        if not name or name in (".", ".."):
            raise StagingError(f"input {item!r} has no file name")
        target = work / name
        if target.exists():
            raise StagingError(f"input {item!r} would overwrite {name} of the job's code")
        if _is_url(item):
            _fetch(item, target, max_bytes)
        else:
            src = Path(item).expanduser()
            if not src.is_file():
                raise StagingError(f"input file {item} does not exist")
            shutil.copy2(src, target)
        names.append(name)
    return tuple(names)

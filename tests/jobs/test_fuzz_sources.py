"""Fuzzing (hypothesis) of archive members: names (``..``, absolute, overlong, backslashes, duplicates),
types (files, folders, symbolic and hard links, FIFOs, devices), link targets and sizes, in tar and zip
archives and as real folders, staged with small caps so the limits are hit too.  Whatever the archive:

* the only exception out of :func:`~nmcluster.jobs.staging.stage_code` is
  :class:`~nmcluster.errors.StagingError` (a one-line user error), never a traceback;
* nothing outside the work directory changes (a snapshot of the sandbox around it, sentinel files
  included, is compared before and after) and a refused archive leaves no work directory behind;
* what is staged holds only regular files, folders and links whose target, resolved by the kernel, is a
  file or folder inside the work directory and not itself a link.

200 examples per format (tar, zip, folder) in the default run; 2000 each with ``NMCLUSTER_FUZZ_FULL=1``
(the ``slow`` ones).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nmcluster.config import SourceLimits
from nmcluster.errors import StagingError
from nmcluster.jobs.staging import stage_code

FULL = os.environ.get("NMCLUSTER_FUZZ_FULL") == "1"
EXAMPLES = [pytest.param(200, id="200"),
            pytest.param(2000, id="2000", marks=[pytest.mark.slow, pytest.mark.skipif(
                not FULL, reason="2000 examples with NMCLUSTER_FUZZ_FULL=1")])]

LIMITS = [SourceLimits(), SourceLimits(max_members=6, max_bytes=150, max_file_bytes=60, max_depth=3)]


def _components(outer: str) -> st.SearchStrategy[str]:
    return st.sampled_from(["", ".", "..", "a", "b", "sub", "run.py", "link", "x\\..", "..\\x", "C:", "~",
                            "d" * 300, "é", "\udcff", " ", "a\nb", "[/]", outer.lstrip("/")]) \
        | st.text(alphabet="ab./\\", max_size=4)


def _names(outer: str) -> st.SearchStrategy[str]:
    def join(lead: str, parts: list[str]) -> str:
        name = lead + "/".join(parts)
        # absolute names and targets point only into the sandbox: were staging ever broken, the fuzz must
        # find it there, not by writing to / (an earlier version of this test wrote through /etc/passwd)
        return outer + name if name.startswith("/") and not name.startswith(outer + "/") else name

    return st.builds(join, st.sampled_from(["", "", "", "./", outer + "/"]),
                     st.lists(_components(outer), min_size=1, max_size=5))


KINDS = ["file", "file", "file", "dir", "sym", "sym", "hard", "fifo", "chr"]
#: names from a tiny alphabet, so that members meet: links into folders, links through links, '..' after them
LINKY = st.lists(st.sampled_from(["a", "b", "l", ".."]), min_size=1, max_size=5).map("/".join)


def _members(outer: str):
    return st.lists(st.tuples(st.sampled_from(KINDS), _names(outer) | LINKY,
                              _names(outer) | LINKY | st.sampled_from(["..", "../..", outer + "/sub/data", outer + "/bashrc",
                                                                       "run.py", "a", "sub/..", "."]),
                              st.binary(max_size=80)),
                    max_size=10)


def _snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip.parent:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p == skip:
                continue
            st_ = p.lstat()
            if stat.S_ISDIR(st_.st_mode):  # a folder's size and link count move with what it holds
                out[str(p)] = (stat.S_IFDIR,)
                continue
            data = p.read_bytes() if stat.S_ISREG(st_.st_mode) else os.readlink(p) if p.is_symlink() else None
            out[str(p)] = (stat.S_IFMT(st_.st_mode), st_.st_size, st_.st_nlink, st_.st_mtime_ns, data)
    return out


def _check_staged(work: Path) -> None:
    root = os.path.realpath(work)
    for dirpath, dirnames, filenames in os.walk(work):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            mode = p.lstat().st_mode
            assert stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode), p
            if stat.S_ISLNK(mode):
                real = os.path.realpath(p, strict=True)
                assert real == root or real.startswith(root + "/"), (p, os.readlink(p), real)
                target = Path(p.parent, os.readlink(p))
                assert not target.is_symlink(), (p, os.readlink(p))


def _tar(path: Path, members) -> None:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for kind, name, target, data in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755
            if kind == "file":
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.linkname = target if kind in ("sym", "hard") else ""
            tf.addfile(info)


def _zip(path: Path, members) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the game
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for kind, name, target, data in members:
                if kind == "dir" and not name.endswith("/"):
                    name += "/"
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                mode = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "sym": stat.S_IFLNK, "hard": stat.S_IFREG,
                        "fifo": stat.S_IFIFO, "chr": stat.S_IFCHR}[kind]
                info.external_attr = (mode | 0o644) << 16
                zf.writestr(info, target.encode("utf-8", "surrogateescape") if kind == "sym" else data)


def _folder(path: Path, members) -> None:
    """The members as a real folder (what a user might point ``submit`` at): names are taken relative and
    without ``..`` (a folder cannot hold those), hard links name an earlier file, devices need root.
    Never onto an existing name or below a link: an earlier version wrote fuzz bytes through a member
    link to an absolute target (the pool then held /etc/passwd); absolute targets now point only into
    the sandbox."""
    path.mkdir()
    made: list[Path] = []
    for kind, name, target, data in members:
        parts = [p for p in name.split("/") if p not in ("", ".", "..")]
        if not parts:
            continue
        p = path.joinpath(*parts)
        try:
            if os.path.lexists(p) or any(path.joinpath(*parts[:i]).is_symlink() for i in range(1, len(parts))):
                continue  # writing onto a FIFO or through a link made by an earlier member: the builder's problem
            p.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                p.write_bytes(data)
                made.append(p)
            elif kind == "dir":
                p.mkdir()
            elif kind == "sym":
                os.symlink(target, p)
            elif kind == "hard" and made:
                os.link(made[-1], p)
            elif kind == "fifo":
                os.mkfifo(p)
            elif kind == "chr" and os.geteuid() == 0:
                os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        except (OSError, ValueError):
            continue  # a name taken by an earlier member, a parent that is a file or a link, ...


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    box = tmp_path_factory.mktemp("fuzz-sources")
    outer = box / "outer"
    (outer / "jobs").mkdir(parents=True)
    (outer / "bashrc").write_text("the victim's file\n")
    (outer / "sub").mkdir()
    (outer / "sub" / "data").write_text("more\n")
    os.symlink("../bashrc", outer / "sub" / "up")
    return outer, tmp_path_factory.mktemp("fuzz-archives")


@pytest.mark.parametrize("fmt", ["tar", "zip", "folder"])
@pytest.mark.parametrize("examples", EXAMPLES)
def test_fuzz_archive_members(sandbox, fmt, examples):
    outer, archives = sandbox
    outcomes = {"staged": 0, "refused": 0}
    counter = iter(range(10**9))

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(members=_members(str(outer)), with_script=st.booleans(), limits=st.sampled_from(LIMITS))
    def check(members, with_script, limits):
        n = next(counter)
        archive = archives / f"a{n}.{ {'tar': 'tgz', 'zip': 'zip', 'folder': 'd'}[fmt]}"
        if with_script:
            members = [("file", "run.py", "", b"print(1)\n"), *members]
        try:
            {"tar": _tar, "zip": _zip, "folder": _folder}[fmt](archive, members)
        except (ValueError, UnicodeError, OverflowError, tarfile.TarError):
            assume(False)  # the test's own archive writer cannot express it
        work = outer / "jobs" / f"w{n}"
        before = _snapshot(outer.parent, work)
        try:
            stage_code(str(archive), "run.py", work, limits=limits)
        except StagingError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg and len(msg) < 600, msg
            assert not os.path.lexists(work), "a refused archive left a partial tree"
            outcomes["refused"] += 1
        else:
            _check_staged(work)
            outcomes["staged"] += 1
            shutil.rmtree(work)
        finally:
            shutil.rmtree(archive) if archive.is_dir() else archive.unlink()
        assert _snapshot(outer.parent, work) == before, "something outside the work directory changed"

    check()
    assert outcomes["staged"] > 0 and outcomes["refused"] > 0, outcomes
    assert sum(outcomes.values()) >= examples * 0.9, outcomes

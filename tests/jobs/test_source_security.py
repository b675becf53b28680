"""Hostile job sources and result destinations, each mounted for real (issue 19, sources part).

Every attack is built here the way the public proofs of concept build it (CPython's own regression test
for CVE-2025-4517, ``Lib/test/test_tarfile.py`` ``test_realpath_limit_attack``; zip slip; links to
outside files; FIFOs and device nodes; bombs; a git server that accepts and never answers), most of them
submitted through the real CLI with the local executor.  Each must end in one line on stderr, exit code 2,
nothing queued, nothing left in the job root, and the sentinel file outside the job directory unchanged.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from nmcluster.config import SourceLimits
from nmcluster.errors import StagingError
from nmcluster.jobs.staging import stage_code

from tests.jobs.conftest import LocalSite

SENTINEL_TEXT = "export PS1='$ '  # the victim's own file\n"


def _one_line_error(proc: subprocess.CompletedProcess, needle: str) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def _sentinel(where: Path) -> Path:
    path = where / "bashrc"
    path.write_text(SENTINEL_TEXT)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def _unchanged(path: Path) -> None:
    st = path.lstat()
    assert stat.S_ISREG(st.st_mode) and path.read_text() == SENTINEL_TEXT and st.st_mtime == 1_000_000_000
    assert st.st_nlink == 1, "someone hard-linked the sentinel"


def _nothing_left(site: LocalSite) -> None:
    assert site.leftovers() == [], site.leftovers()
    assert site.records() == []


def _site(tmp_path: Path, **limits: object) -> LocalSite:
    table = "".join(f"{k} = {v!r}\n" for k, v in limits.items())
    return LocalSite(tmp_path, extra_toml=f"[sources]\n{table}" if limits else "")


def _add(tf: tarfile.TarFile, name: str, *, type: bytes = tarfile.REGTYPE, data: bytes = b"",
         linkname: str = "", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = type, linkname, mode
    if type == tarfile.REGTYPE:
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    else:
        tf.addfile(info)


# ------------------------------------------------------------------------------------- CVE-2025-4517
def cve_2025_4517_tar(path: Path, dest_len: int, escape_up: int, component_len: int | None = None) -> Path:
    """The symlink chain of CPython's ``test_realpath_limit_attack``: 16 links ``a``..``p``, each to a
    directory of a long name inside the previous one, so that ``a/b/.../p/<254 l>`` fits in PATH_MAX
    unexpanded but not expanded; ``os.path.realpath`` stops expanding there and the data filter believes
    what follows stays inside.  ``escape`` then points ``escape_up`` levels above the destination, a hard
    link ``flaglink`` is made to ``escape/bashrc`` and overwritten, and ``escape/newfile`` is created.
    ``component_len`` shortens the directory names (the same chain, without the PATH_MAX overflow)."""
    steps = "abcdefghijklmnop"
    max_path = os.pathconf("/", "PC_PATH_MAX")
    component = "d" * (component_len or (max_path - dest_len - 1) // (len(steps) + 1))
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, "run.py", data=b"print('innocent')\n")
        parent = ""
        for step in steps:
            _add(tf, os.path.join(parent, component), type=tarfile.DIRTYPE, mode=0o777)
            _add(tf, os.path.join(parent, step), type=tarfile.SYMTYPE, linkname=component)
            parent = os.path.join(parent, component)
        linkpath = os.path.join(*steps, "l" * 254)
        _add(tf, linkpath, type=tarfile.SYMTYPE, linkname=os.path.join(*[".."] * len(steps)))
        _add(tf, "escape", type=tarfile.SYMTYPE, linkname=os.path.join(linkpath, *[".."] * escape_up))
        _add(tf, "flaglink", type=tarfile.LNKTYPE, linkname=os.path.join("escape", "bashrc"))
        _add(tf, "flaglink", data=b"echo pwned\n")
        _add(tf, "escape/newfile", data=b"new\n")
    return path


@pytest.mark.parametrize("component_len, needle", [
    (None, "has a path longer than 2048 bytes"),  # the real one: its long names alone are refused
    (8, "'flaglink' is a hard link to 'escape/bashrc', which is not a regular file earlier")])
def test_cve_2025_4517_chain_via_cli(tmp_path, component_len, needle):
    """Job dir <tmp>/jobs/.staging-<pid>-<16 hex>/work: three levels up is <tmp>, where the victim's file is.
    (This very archive overwrites the sentinel through stage_code with Python 3.11.7's data filter.)"""
    site = _site(tmp_path)
    victim = _sentinel(tmp_path)
    dest_len = len(str(site.job_root / f".staging-{'9' * 7}-{'f' * 16}" / "work"))
    tgz = cve_2025_4517_tar(tmp_path / "archive.tar.gz", dest_len, escape_up=3, component_len=component_len)
    line = _one_line_error(site.cli("submit", str(tgz), "-p", "spikey", "-c", "run.py"), "refused")
    assert needle in line
    _unchanged(victim)
    assert not (tmp_path / "newfile").exists()
    _nothing_left(site)


def test_cve_2025_4517_links_alone_are_refused(tmp_path):
    """Without the hard link the chain's links are judged in phase two: ``a``..``p`` are links to real
    folders (kept), but the long link lies below the link ``a`` - refused before it or ``escape`` exist."""
    outer = tmp_path / "o"
    (outer / "x" / "y").mkdir(parents=True)
    victim = _sentinel(outer)
    work = outer / "x" / "y" / "work"
    steps = "abcdefghijklmnop"
    tgz = tmp_path / "links.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        _add(tf, "run.py", data=b"")
        parent = ""
        for step in steps:
            _add(tf, os.path.join(parent, "dd"), type=tarfile.DIRTYPE)
            _add(tf, os.path.join(parent, step), type=tarfile.SYMTYPE, linkname="dd")
            parent = os.path.join(parent, "dd")
        _add(tf, os.path.join(*steps, "l"), type=tarfile.SYMTYPE, linkname=os.path.join(*[".."] * 16))
        _add(tf, "escape", type=tarfile.SYMTYPE, linkname=os.path.join(*steps, "l", "..", "..", ".."))
        _add(tf, "escape/newfile", data=b"new\n")
    with pytest.raises(StagingError, match=r"member 'a/b/c/.*/p/l' lies below 'a', which is not a directory"):
        stage_code(str(tgz), "run.py", work)
    _unchanged(victim)
    assert not work.exists() and sorted(p.name for p in outer.iterdir()) == ["bashrc", "x"]


# -------------------------------------------------------------------------------- slips and links
def test_zip_slip_via_cli(tmp_path):
    site = _site(tmp_path)
    victim = _sentinel(tmp_path)
    zpath = tmp_path / "code.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("run.py", "print(1)\n")
        zf.writestr("../../../bashrc", "echo pwned\n")
    line = _one_line_error(site.cli("submit", str(zpath), "-p", "spikey", "-c", "run.py"), "refused")
    assert "'../../../bashrc'" in line and "(..)" in line
    _unchanged(victim)
    _nothing_left(site)


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_tar_hardlink_to_outside_file_via_cli(tmp_path, how):
    """A hard link to the victim's file, then a member of the same name with new content (tar writes
    through hard links): refused at the link."""
    site = _site(tmp_path)
    victim = _sentinel(tmp_path)
    target = str(victim) if how == "absolute" else "../../../bashrc"
    tgz = tmp_path / "code.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        _add(tf, "run.py", data=b"print(1)\n")
        _add(tf, "rc", type=tarfile.LNKTYPE, linkname=target)
        _add(tf, "rc", data=b"echo pwned\n")
    line = _one_line_error(site.cli("submit", str(tgz), "-p", "spikey", "-c", "run.py"), "refused")
    assert "'rc'" in line or repr(target) in line
    _unchanged(victim)
    _nothing_left(site)


def test_links_inside_are_kept_links_to_links_are_not(tmp_path):
    """Safe links survive (pointing at a file or folder of the tree, created after every file); a link to
    a link, a dangling link and a file written below a link are refused."""
    good = tmp_path / "good.tgz"
    with tarfile.open(good, "w:gz") as tf:
        _add(tf, "run.py", data=b"print(1)\n", mode=0o4777)
        _add(tf, "lib/data.txt", data=b"42\n")
        _add(tf, "latest", type=tarfile.SYMTYPE, linkname="lib")
        _add(tf, "lib/alias.txt", type=tarfile.SYMTYPE, linkname="./data.txt")
        _add(tf, "copy.txt", type=tarfile.LNKTYPE, linkname="lib/data.txt")
    stage_code(str(good), "run.py", tmp_path / "w")
    w = tmp_path / "w"
    assert os.readlink(w / "latest") == "lib" and (w / "latest" / "data.txt").read_text() == "42\n"
    assert (w / "lib" / "alias.txt").read_text() == "42\n" and (w / "copy.txt").read_text() == "42\n"
    assert (w / "run.py").stat().st_mode & 0o7777 == 0o755  # no setuid from the archive
    for i, (members, needle) in enumerate([
            ([("l1", tarfile.SYMTYPE, "run.py"), ("l2", tarfile.SYMTYPE, "l1")], "'l2'"),
            ([("dangling", tarfile.SYMTYPE, "nothere")], "'dangling'"),
            ([("d", tarfile.SYMTYPE, "sub"), ("sub/x", tarfile.REGTYPE, ""), ("d/y", tarfile.REGTYPE, "")],
             "appears twice")]):
        bad = tmp_path / f"bad{i}.tgz"
        with tarfile.open(bad, "w:gz") as tf:
            _add(tf, "run.py", data=b"")
            for name, kind, link in members:
                _add(tf, name, type=kind, linkname=link)
        with pytest.raises(StagingError, match=needle):
            stage_code(str(bad), "run.py", tmp_path / f"wb{i}")
        assert not (tmp_path / f"wb{i}").exists()


# ------------------------------------------------------------------------------------------ folders
def test_folder_with_fifo_is_refused_without_hanging(tmp_path, experiment):
    site = _site(tmp_path)
    os.mkfifo(experiment / "pipe")
    t0 = time.monotonic()
    line = _one_line_error(site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py", timeout=60),
                           "refused")
    assert "'pipe' is a FIFO" in line and time.monotonic() - t0 < 30
    _nothing_left(site)


def test_folder_with_device_node_is_refused(tmp_path, experiment):
    if os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    try:
        os.mknod(experiment / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # what /dev/zero is
    except OSError as exc:
        pytest.skip(f"mknod not permitted here: {exc}")
    site = _site(tmp_path)
    line = _one_line_error(site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py"), "refused")
    assert "'zero' is a character device" in line
    _nothing_left(site)


def test_folder_links(tmp_path, experiment):
    """A link to a file inside the folder stays a link; a link to a regular file elsewhere becomes a copy of
    it (the folder is the submitter's own, read with their rights; no link leaves the job directory); a
    link to a folder or a FIFO elsewhere is refused; a folder nested deeper than max_depth is refused."""
    victim = _sentinel(tmp_path)
    os.symlink("main.py", experiment / "alias.py")
    os.symlink(victim, experiment / "rc")
    stage_code(str(experiment), "main.py", tmp_path / "w1")
    assert os.readlink(tmp_path / "w1" / "alias.py") == "main.py"
    assert not (tmp_path / "w1" / "rc").is_symlink() and (tmp_path / "w1" / "rc").read_text() == SENTINEL_TEXT
    (tmp_path / "w1" / "rc").write_text("the job's own copy\n")
    _unchanged(victim)
    os.unlink(experiment / "rc")
    os.mkfifo(tmp_path / "fifo")
    for i, (target, needle) in enumerate([(tmp_path, "is a folder"), (tmp_path / "fifo", "is a FIFO")]):
        os.symlink(target, experiment / "out")
        with pytest.raises(StagingError, match=f"'out' is a symbolic link to .*points outside, and what it "
                                               f"points to {needle}"):
            stage_code(str(experiment), "main.py", tmp_path / f"w2{i}")
        os.unlink(experiment / "out")
    deep = experiment / Path(*["n"] * 300)
    deep.mkdir(parents=True)
    site = _site(tmp_path)
    line = _one_line_error(site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py"), "refused")
    assert "nested 65 deep; the limit is 64" in line
    _unchanged(victim)
    _nothing_left(site)


# -------------------------------------------------------------------------------- names and depth
@pytest.mark.parametrize("name, needle", [
    ("/etc/cron.d/x", "absolute path"), ("a/../../x", "(..)"),
    ("x" * 300, "longer than 255 bytes"), ("/".join(["y" * 200] * 12), "longer than 2048 bytes"),
    ("/".join(["d"] * 500) + "/f.py", "nested 501 deep"), ("C:\\Windows\\x", "absolute path")])
def test_bad_member_names(tmp_path, name, needle):
    tgz = tmp_path / "n.tar"
    with tarfile.open(tgz, "w", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, "run.py", data=b"")
        _add(tf, name, data=b"x")
    with pytest.raises(StagingError, match=r"refused") as err:
        stage_code(str(tgz), "run.py", tmp_path / "w")
    assert needle in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 400
    assert not (tmp_path / "w").exists()


def test_nul_in_a_name():
    """tarfile and zipfile cut names at NUL themselves; the tree refuses one that reaches it anyway."""
    from nmcluster.jobs.safetree import SafeTree

    with tempfile.TemporaryDirectory() as tmp, SafeTree(Path(tmp) / "w", SourceLimits(), "archive t") as tree:
        with pytest.raises(StagingError, match=r"member 'a\\x00b' has a NUL character"):
            tree.parts("a\x00b")


def test_zip_member_with_empty_name(tmp_path):
    zpath = tmp_path / "e.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("run.py", "")
        zf.writestr(zipfile.ZipInfo(""), "x")
    with pytest.raises(StagingError, match="a member has an empty name"):
        stage_code(str(zpath), "run.py", tmp_path / "w")


# ------------------------------------------------------------------------------------------- bombs
def _gz_of_zeros(path: Path, size: int, name: str = "zeros.bin") -> Path:
    """A tar.gz whose one big member is ``size`` zero bytes (streamed: nothing of that size in memory)."""
    class Zeros(io.RawIOBase):
        def __init__(self, n: int) -> None:
            self.left = n

        def readinto(self, b) -> int:
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        _add(tf, "run.py", data=b"")
        info = tarfile.TarInfo(name)
        info.size = size
        tf.addfile(info, Zeros(size))
    return path


def test_tar_bomb_refused_before_writing_via_cli(tmp_path):
    site = _site(tmp_path, max_bytes=4 * 1024 * 1024)
    tgz = _gz_of_zeros(tmp_path / "bomb.tar.gz", 8 * 1024 * 1024)
    line = _one_line_error(site.cli("submit", str(tgz), "-p", "spikey", "-c", "run.py"), "refused")
    assert "inflates beyond 4194304 bytes" in line and "'zeros.bin'" in line
    _nothing_left(site)


def test_compression_ratio_cap(tmp_path):
    tgz = _gz_of_zeros(tmp_path / "ratio.tar.gz", 40 * 1024 * 1024)
    size = tgz.stat().st_size
    assert size < 400_000  # > 100:1
    with pytest.raises(StagingError, match=r"inflates more than 100 times its size"):
        stage_code(str(tgz), "run.py", tmp_path / "w", limits=SourceLimits(max_ratio=100))
    assert not (tmp_path / "w").exists()
    stage_code(str(tgz), "run.py", tmp_path / "w2", limits=SourceLimits(max_ratio=10_000))  # under the cap: fine
    assert (tmp_path / "w2" / "zeros.bin").stat().st_size == 40 * 1024 * 1024


def test_zip_member_lying_about_its_size_leaves_nothing(tmp_path):
    """A zip whose central directory says 10 bytes for a member that inflates to 4 MiB, after a good member:
    the running count refuses it and the partly written tree is removed."""
    zpath = tmp_path / "liar.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("run.py", "print(1)\n")
        zf.writestr("big.bin", b"\0" * (4 * 1024 * 1024))
    data = bytearray(zpath.read_bytes())
    cd = data.rfind(b"PK\x01\x02")  # the central directory entry of big.bin: uncompressed size at +24
    data[cd + 24: cd + 28] = (10).to_bytes(4, "little")
    zpath.write_bytes(bytes(data))
    with pytest.raises(StagingError, match="'big.bin' inflates beyond its declared size|not a valid zip"):
        stage_code(str(zpath), "run.py", tmp_path / "w")
    assert not (tmp_path / "w").exists()


def _many_member_tgz(count: int) -> bytes:
    """A tar.gz of ``run.py`` and ``count`` empty files f000000, f000001, ...: one header made by tarfile,
    the others copied from it with the name digits and the checksum patched (tarfile takes ~60 us per
    header; this keeps the test at a fraction of a second)."""
    import gzip

    template = tarfile.TarInfo("f000000").tobuf(tarfile.USTAR_FORMAT)
    base_sum = int(template[148:154].decode(), 8) - sum(b"000000")
    blocks = [tarfile.TarInfo("run.py").tobuf(tarfile.USTAR_FORMAT)]
    head, tail = template[:1], template[7:148]
    rest = template[156:]
    for i in range(count):
        digits = b"%06d" % i
        blocks.append(head + digits + tail + b"%06o\0 " % (base_sum + sum(digits)) + rest)
    blocks.append(bytes(1024))
    return gzip.compress(b"".join(blocks), compresslevel=1)


def test_archive_of_100k_members_refused_at_the_cap_via_cli(tmp_path):
    """100 000 members (empty files, a 1.1 MB tar.gz); the site caps members at 1000: refused at member 1001,
    before anything is written, in well under the time extracting them would take."""
    site = _site(tmp_path, max_members=1000)
    tgz = tmp_path / "many.tar.gz"
    tgz.write_bytes(_many_member_tgz(100_000))
    t0 = time.monotonic()
    line = _one_line_error(site.cli("submit", str(tgz), "-p", "spikey", "-c", "run.py"), "refused")
    elapsed = time.monotonic() - t0
    assert "more than 1000 members" in line and "'f000999'" in line
    assert elapsed < 15, elapsed
    _nothing_left(site)


def test_site_limits_are_validated(tmp_path):
    from nmcluster.config import parse_config
    from nmcluster.errors import ConfigError

    site = parse_config({"job_root": str(tmp_path), "sources": {"max_members": 7, "fetch_timeout_s": 2}})
    assert site.sources.max_members == 7 and site.sources.fetch_timeout_s == 2.0
    assert site.sources.max_bytes == 2 * 1024**3  # defaults for the rest
    for bad in ({"max_members": 0}, {"max_depth": 1000}, {"max_bytes": "1G"}, {"fetch_timeout_s": float("nan")},
                {"typo": 1}):
        with pytest.raises(ConfigError, match="sources"):
            parse_config({"job_root": str(tmp_path), "sources": bad})


# --------------------------------------------------------------------------------------------- git
def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x"})


@pytest.fixture
def stalled_git_server():
    """A TCP listener on 127.0.0.1 that accepts connections and never answers: a git:// URL to it stalls."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], held
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def _git_processes(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_stalled_git_transport_fails_within_the_time_limit_via_cli(tmp_path, stalled_git_server):
    port, held = stalled_git_server
    site = _site(tmp_path, fetch_timeout_s=2)
    url = f"git://127.0.0.1:{port}/stalled.git"
    t0 = time.monotonic()
    proc = site.cli("submit", url, "-p", "spikey", "-c", "run.py", timeout=60)
    elapsed = time.monotonic() - t0
    line = _one_line_error(proc, "took longer than 2 s")
    assert url in line and "fetch_timeout_s" in line
    assert held, "git never connected: the test did not stall anything"
    assert 2 <= elapsed < 10, elapsed
    assert _git_processes(f"127.0.0.1:{port}") == []  # the whole process group was killed
    _nothing_left(site)


def test_git_size_and_file_limits(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "run.py").write_text("print('from git')\n")
    (src / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible
    _git("init", "-q", "-b", "main", cwd=src)
    _git("add", ".", cwd=src)
    _git("commit", "-qm", "init", cwd=src)
    _git("clone", "-q", "--bare", str(src), str(tmp_path / "repo.git"), cwd=tmp_path)
    url = f"file://{tmp_path / 'repo.git'}"
    with pytest.raises(StagingError, match=r"downloads more than 1048576 bytes \(site config \[sources\] git_max"):
        stage_code(url, "run.py", tmp_path / "w1", limits=SourceLimits(git_max_bytes=1024 * 1024))
    with pytest.raises(StagingError, match=r"'blob.bin' is 3145728 bytes, more than 1000000"):
        stage_code(url, "run.py", tmp_path / "w2", limits=SourceLimits(max_file_bytes=1_000_000))
    with pytest.raises(StagingError, match=r"holds \d+ objects, more than 2"):
        stage_code(url, "run.py", tmp_path / "w3", limits=SourceLimits(git_max_objects=2))
    staged = stage_code(url, "run.py", tmp_path / "w4")
    assert staged.kind == "git" and (tmp_path / "w4" / "blob.bin").stat().st_size == 3 * 1024 * 1024
    assert not (tmp_path / "w4" / ".git").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo.git", "src", "w4"]  # no clone left behind


def test_git_transports_that_run_commands_are_refused(tmp_path):
    marker = tmp_path / "ran"
    for source in (f"ext::sh -c touch% {marker}.git", "fd::3,4/x.git"):
        with pytest.raises(StagingError, match=r"transport is not allowed"):
            stage_code(source, "run.py", tmp_path / "w")
    assert not marker.exists() and not (tmp_path / "w").exists()


# ------------------------------------------------------------------------------------------ results
def _as_nobody(*argv: str) -> None:
    subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv],
                   check=True, capture_output=True)


@pytest.fixture
def shared_tmp():
    """A world-writable sticky directory like /tmp (under /tmp: pytest's own tmp is 0700 to other users)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as a second user (nobody)")
    path = Path(tempfile.mkdtemp(prefix="nmcluster-shared-", dir="/tmp"))
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def finished_job(tmp_path, experiment):
    site = _site(tmp_path)
    job = site.submit(str(experiment), "-p", "spikey", "-c", "main.py")
    rec = site.wait(job)
    assert rec["status"] == "finished" and "result.json" in rec["output_data"]
    return site, job


def test_results_refuse_a_link_planted_by_another_user(finished_job, shared_tmp, tmp_path):
    """nobody creates <shared>/out and plants out/result.json -> the victim's file; the victim (root here)
    fetches results into <shared>/out: refused, exit 2, the victim's file untouched."""
    site, job = finished_job
    victim = _sentinel(tmp_path)
    out = shared_tmp / "out"
    _as_nobody("mkdir", str(out))
    _as_nobody("ln", "-s", str(victim), str(out / "result.json"))
    assert pwd.getpwuid((out / "result.json").lstat().st_uid).pw_name == "nobody"
    _one_line_error(site.cli("results", str(job), "-o", str(out)), "results never overwrites files")
    line = _one_line_error(site.cli("results", str(job), "-o", str(out), "--force"),
                           "refusing to write result result.json")
    assert "symbolic link" in line  # even --force replaces only regular files
    _unchanged(victim)
    assert os.readlink(out / "result.json") == str(victim)


def test_results_refuse_a_destination_link_planted_by_another_user(finished_job, shared_tmp, tmp_path):
    site, job = finished_job
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir()
    _as_nobody("ln", "-s", str(victim_dir), str(shared_tmp / "res"))
    line = _one_line_error(site.cli("results", str(job), "-o", str(shared_tmp / "res")), "symbolic link owned by")
    assert "user nobody" in line
    assert list(victim_dir.iterdir()) == []


def test_results_replace_own_files_and_follow_own_dest_link(finished_job, tmp_path):
    """With --force a file of the same name is replaced by a new file, not written through (a hard link to
    it keeps the old content); -o may be the user's own link."""
    site, job = finished_job
    real = tmp_path / "scratch"
    real.mkdir()
    os.symlink(real, tmp_path / "mine")
    (real / "result.json").write_text("old")
    os.link(real / "result.json", tmp_path / "other-name")
    site.cli("results", str(job), "-o", str(tmp_path / "mine"), "--force", check=True)
    assert (real / "result.json").read_text().startswith("{") and (tmp_path / "other-name").read_text() == "old"
    assert not (real / "result.json").is_symlink() and [p.name for p in real.iterdir()] == ["result.json"]


def test_unwrapping_the_top_folder_keeps_links_inside(tmp_path):
    """``top/up -> ../top/run.py`` is inside the tree as extracted; moving top's contents up one level would
    make it point outside the work directory, so such an archive is staged without unwrapping."""
    tgz = tmp_path / "top.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        _add(tf, "top/run.py", data=b"print(1)\n")
        _add(tf, "top/up", type=tarfile.SYMTYPE, linkname="../top/run.py")
    staged = stage_code(str(tgz), "top/run.py", tmp_path / "w1")
    assert staged.command == "top/run.py" and (tmp_path / "w1" / "top" / "up").read_text() == "print(1)\n"
    with pytest.raises(StagingError, match="'run.py', which is not in the job's code"):
        stage_code(str(tgz), "run.py", tmp_path / "w2")  # not unwrapped: run.py stays in top/
    tgz2 = tmp_path / "top2.tgz"
    with tarfile.open(tgz2, "w:gz") as tf:
        _add(tf, "top/run.py", data=b"print(1)\n")
        _add(tf, "top/lib/x.py", data=b"")
        _add(tf, "top/lib/up", type=tarfile.SYMTYPE, linkname="../run.py")
    stage_code(str(tgz2), "run.py", tmp_path / "w3")  # links that stay below top: unwrapped as before
    assert (tmp_path / "w3" / "lib" / "up").read_text() == "print(1)\n"


def test_stalled_archive_download_fails_within_the_time_limit_via_cli(tmp_path, stalled_git_server):
    """The same listener as an http:// archive URL: it accepts and never sends a header."""
    port, held = stalled_git_server
    site = _site(tmp_path, fetch_timeout_s=2)
    t0 = time.monotonic()
    proc = site.cli("submit", f"http://127.0.0.1:{port}/code.tar.gz", "-p", "spikey", "-c", "run.py", timeout=60)
    elapsed = time.monotonic() - t0
    line = _one_line_error(proc, "cannot download")
    assert "timed out" in line and held and elapsed < 10, (line, elapsed)
    _nothing_left(site)


def test_dripping_download_is_cut_at_the_total_time_limit(tmp_path):
    """A server that answers at once but sends a byte every 0.2 s never trips a per-read timeout; the total
    limit (2 s here) ends it, and the partial download is gone."""
    import http.server

    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass

        def log_message(self, *args) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/code.tgz"
        t0 = time.monotonic()
        with pytest.raises(StagingError, match=r"took longer than 2 s \(site config \[sources\] fetch_timeout_s\)"):
            stage_code(url, "run.py", tmp_path / "w", limits=SourceLimits(fetch_timeout_s=2))
        assert 2 <= time.monotonic() - t0 < 6
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    finally:
        srv.shutdown()
        srv.server_close()


def test_link_resolved_through_another_link_is_refused(tmp_path):
    """``a/b/x -> ../..`` (the root: kept) and ``l -> a/b/x/../..``: read lexically ``l`` lands on ``a``,
    but the kernel follows ``x`` to the root first and then climbs two levels out of the job directory.
    Every component a link passes through must be a real folder, so ``l`` is refused."""
    outer = tmp_path / "o"
    (outer / "jobs").mkdir(parents=True)
    victim = _sentinel(outer)
    tgz = tmp_path / "through.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        _add(tf, "run.py", data=b"")
        _add(tf, "a/b", type=tarfile.DIRTYPE)
        _add(tf, "a/b/x", type=tarfile.SYMTYPE, linkname="../..")
        _add(tf, "l", type=tarfile.SYMTYPE, linkname="a/b/x/../..")
    with pytest.raises(StagingError, match=r"member 'l' is a symbolic link to 'a/b/x/../..', which passes through "
                                           r"'a/b/x', not a folder"):
        stage_code(str(tgz), "run.py", outer / "jobs" / "work")
    _unchanged(victim)
    assert not (outer / "jobs" / "work").exists()


def test_fifo_input_is_refused(tmp_path, experiment):
    site = _site(tmp_path)
    os.mkfifo(tmp_path / "stim.npy")
    line = _one_line_error(site.cli("submit", str(experiment), "-p", "spikey", "-c", "main.py", "-i",
                                    str(tmp_path / "stim.npy"), timeout=60), "refused")
    assert "it is not a regular file" in line
    _nothing_left(site)

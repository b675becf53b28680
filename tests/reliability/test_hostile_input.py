"""Hostile input through the real CLI: archives that try to write outside the job's directory, device files,
zip/tar bombs, and command strings full of shell metacharacters.  Each archive must be refused with one
line on stderr and exit code 2, leaving nothing in the job root and nothing outside it; each command
string must reach the job's script as literal arguments, never through a shell."""

from __future__ import annotations

import io
import json
import stat
import struct
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest

import reliability_harness as harness

pytestmark = pytest.mark.reliability

MAIN = b"print('hello')\n"
GiB = 1 << 30


# ------------------------------------------------------------------------------------------ archive makers
def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data)
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, data


def make_tar(path: Path, members: list[tuple]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        tf.addfile(*_member("main.py", data=MAIN)[:1], io.BytesIO(MAIN))
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data else None)
    return path


def _zero_blocks(total: int) -> tuple[bytes, int]:
    """Raw deflate blocks (not final) that inflate to ``total`` zero bytes, built cheaply: 16 MiB of zeros
    compressed once with a full flush (no back-references across it), then repeated."""
    chunk = 16 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * (total // chunk), (total // chunk) * chunk


def make_tar_bomb(path: Path, declared: int = 3 * GiB) -> Path:
    """A .tar.gz whose one member really inflates to ``declared`` bytes of zeros (a ~3 MB file)."""
    header = tarfile.TarInfo("bomb.bin")
    header.size = declared
    head = header.tobuf(format=tarfile.GNU_FORMAT)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    zeros, _ = _zero_blocks(declared)
    tail = c.compress(b"\0" * 1024) + c.flush()  # end-of-archive blocks, final deflate block
    gz = b"\x1f\x8b\x08\x00\0\0\0\0\x02\xff" + body + zeros + tail + struct.pack("<II", 0, declared & 0xFFFFFFFF)
    path.write_bytes(gz)  # the CRC is wrong, but nothing may read that far
    return path


def make_zip(path: Path, entries: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip written by hand: (name, raw deflate data, declared size, crc, unix mode) per entry, so that
    sizes can lie and the data can be a bomb."""
    out = io.BytesIO()
    central = []
    for name, data, size, crc, mode in entries:
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0))
        out.write(raw + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, 0, 8, 0, 0x21, crc, len(data),
                                   size, len(raw), 0, 0, 0, 0, (mode & 0xFFFF) << 16, offset) + raw)
    start = out.tell()
    for c in central:
        out.write(c)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    path.write_bytes(out.getvalue())
    return path


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _zip_entry(name: str, data: bytes, mode: int = stat.S_IFREG | 0o644) -> tuple:
    return (name, _deflate(data), len(data), zlib.crc32(data), mode)


def make_zip_bomb(path: Path, actual: int, declared: int | None = None) -> Path:
    zeros, size = _zero_blocks(actual)
    data = zeros + b"\x03\x00"  # an empty final fixed-Huffman block ends the stream
    return make_zip(path, [_zip_entry("main.py", MAIN),
                           ("bomb.bin", data, size if declared is None else declared, 0, stat.S_IFREG | 0o644)])


def hostile_archives(tmp: Path, outside: Path) -> dict[str, Path]:
    d = tmp / "archives"
    d.mkdir()
    tars = {
        "tar ../": [_member("../ESCAPED-dotdot.py", data=b"x")],
        "tar a/../../": [_member("a/../../ESCAPED-deep.py", data=b"x")],
        "tar absolute path": [_member(f"{outside}/ESCAPED-abs.py", data=b"x")],
        "tar symlink to /": [_member("lnk", tarfile.SYMTYPE, str(outside))],
        "tar symlink up": [_member("lnk", tarfile.SYMTYPE, "../../..")],
        "tar symlink up from a subdir": [_member("sub/lnk", tarfile.SYMTYPE, "../../x")],
        "tar hard link to /etc/passwd": [_member("h", tarfile.LNKTYPE, "/etc/passwd")],
        "tar hard link up": [_member("h", tarfile.LNKTYPE, "../../outside.txt")],
        "tar character device": [_member("null", tarfile.CHRTYPE)],
        "tar block device": [_member("disk", tarfile.BLKTYPE)],
        "tar fifo": [_member("pipe", tarfile.FIFOTYPE)],
    }
    out = {name: make_tar(d / f"{i}.tar.gz", members) for i, (name, members) in enumerate(tars.items())}
    out["tar.gz bomb (3 GiB of zeros)"] = make_tar_bomb(d / "bomb.tar.gz")
    zips = {
        "zip ../": [_zip_entry("../ESCAPED-zdotdot.py", b"x")],
        "zip absolute path": [_zip_entry(f"{outside}/ESCAPED-zabs.py", b"x")],
        "zip backslash ..\\": [_zip_entry("..\\ESCAPED-zback.py", b"x")],
        "zip drive letter": [_zip_entry("C:/ESCAPED-zdrive.py", b"x")],
        "zip symlink": [_zip_entry("lnk", b"/etc/passwd", stat.S_IFLNK | 0o777)],
        "zip character device": [_zip_entry("null", b"", stat.S_IFCHR | 0o666)],
    }
    for i, (name, entries) in enumerate(zips.items()):
        out[name] = make_zip(d / f"z{i}.zip", [_zip_entry("main.py", MAIN), *entries])
    out["zip bomb (3 GiB of zeros)"] = make_zip_bomb(d / "bomb.zip", 3 * GiB)
    out["zip bomb lying about its size"] = make_zip_bomb(d / "liar.zip", 64 << 20, declared=1024)
    out["zip bomb of many members"] = make_zip(d / "many.zip", [_zip_entry("main.py", MAIN)] + [
        (f"part{i}.bin", *(_zero_blocks(GiB)[0] + b"\x03\x00",), GiB, 0, stat.S_IFREG | 0o644) for i in range(3)])
    return out


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    outside = tmp / "outside"
    outside.mkdir()
    return tmp, outside, hostile_archives(tmp, outside)


ARCHIVE_CASES = ["tar ../", "tar a/../../", "tar absolute path", "tar symlink to /", "tar symlink up",
                 "tar symlink up from a subdir", "tar hard link to /etc/passwd", "tar hard link up",
                 "tar character device", "tar block device", "tar fifo", "tar.gz bomb (3 GiB of zeros)",
                 "zip ../", "zip absolute path", "zip backslash ..\\", "zip drive letter", "zip symlink",
                 "zip character device", "zip bomb (3 GiB of zeros)", "zip bomb lying about its size",
                 "zip bomb of many members"]


def _escaped(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("ESCAPED-*"))


@pytest.mark.parametrize("case", ARCHIVE_CASES)
def test_hostile_archive_is_refused(local_rel_site, archives, case):
    tmp, outside, made = archives
    t0 = time.monotonic()
    proc = local_rel_site.cli("submit", str(made[case]), "-p", "spikey", "-c", "main.py")
    elapsed = time.monotonic() - t0
    problem = harness.clean_error(proc, 2, "archive")
    assert problem is None, f"{case}: {problem}"
    assert "refused" in proc.stderr or "not a valid zip" in proc.stderr or "cannot be read" in proc.stderr
    assert local_rel_site.leftovers() == [] and local_rel_site.visible_rows() == []
    assert _escaped(tmp) == [] and _escaped(local_rel_site.root) == [] and not Path("/ESCAPED-zabs.py").exists()
    assert list(outside.iterdir()) == []
    assert elapsed < 20, f"{case}: refusing took {elapsed:.1f} s (was the bomb inflated?)"


def test_archive_checks_without_tarfile_filters(archives, tmp_path, monkeypatch):
    """Python < 3.11.4 (Debian 12's python3 is 3.11.2) has no tarfile extraction filters: the project's own
    checks must refuse the same archives, and good archives must still extract (without owners/setuid)."""
    import tarfile as tf_module

    from nmcluster.errors import StagingError
    from nmcluster.jobs.staging import extract_archive

    monkeypatch.delattr(tf_module, "data_filter", raising=False)
    tmp, outside, made = archives
    for case in ARCHIVE_CASES:
        if not case.startswith("tar"):
            continue
        dest = tmp_path / f"x{ARCHIVE_CASES.index(case)}"
        with pytest.raises(StagingError):
            extract_archive(made[case], dest, case)
    good = tmp_path / "good.tar.gz"
    with tf_module.open(good, "w:gz") as tf:
        info = tf_module.TarInfo("run.py")
        info.size, info.mode, info.uid, info.uname = 3, 0o4777, 4242, "nobody"
        tf.addfile(info, io.BytesIO(b"x=1"))
        link = tf_module.TarInfo("lib")
        link.type, link.linkname = tf_module.SYMTYPE, "run.py"
        tf.addfile(link)
    extract_archive(good, tmp_path / "good", "good")
    st = (tmp_path / "good" / "run.py").stat()
    assert st.st_mode & 0o7777 == 0o755 and st.st_uid == __import__("os").getuid()
    assert (tmp_path / "good" / "lib").is_symlink()
    assert _escaped(tmp) == []


# -------------------------------------------------------------------------------------- metacharacters
HOSTILE_ARGS = ["; touch {p}-semicolon", "$(touch {p}-dollar)", "`touch {p}-backtick`", "| touch {p}-pipe",
                "&& touch {p}-and", "> {p}-redirect", "'; touch {p}-quote; '", "\"; touch {p}-dq\"",
                "${{IFS}}touch${{IFS}}{p}-ifs", "\n touch {p}-newline", "*", "~root"]


def _hostile_command(marker: Path) -> tuple[str, list[str]]:
    import shlex

    args = [a.format(p=marker) for a in HOSTILE_ARGS]
    return "main.py " + " ".join(shlex.quote(a) for a in args), args


def _assert_literal(site: harness.Site, job: int, args: list[str], marker: Path) -> None:
    rec = site.wait(job, timeout=90)
    assert rec["status"] == "finished", (rec, site.cli("log", str(job)).stdout)
    times = json.loads((Path(rec["job_dir"]) / "work" / "times.json").read_text())
    assert times["argv"] == args
    assert sorted(marker.parent.glob(marker.name + "*")) == []


def test_metacharacters_are_arguments_local(local_rel_site, rel_experiment, tmp_path):
    marker = tmp_path / "pwned"
    command, args = _hostile_command(marker)
    _assert_literal(local_rel_site, local_rel_site.submit(str(rel_experiment), "-p", "spikey", "-c", command),
                    args, marker)
    run = local_rel_site.cli("run", "-p", "spikey", "--", sys.executable, "-c",
                             "import sys; print(repr(sys.argv[1:]))", *args)
    assert run.returncode == 0 and eval(run.stdout.strip()) == args  # noqa: S307 - our own repr
    assert sorted(tmp_path.glob("pwned*")) == []


@pytest.mark.slurm
def test_metacharacters_are_arguments_slurm(rel_cluster, rel_experiment, tmp_path):
    """Through sbatch and the batch script, with a job root whose path is itself hostile, and in a sweep."""
    marker = tmp_path / "pwned"
    root = tmp_path / "jobs $(touch PWNED-root) ; `touch PWNED-root2`"
    site = harness.Site(tmp_path / "site", rel_cluster, job_root=str(root))
    command, args = _hostile_command(marker)
    _assert_literal(site, site.submit(str(rel_experiment), "-p", "spikey", "-c", command,
                                      "--slurm-opt=--comment=$(touch " + str(marker) + "-opt)"), args, marker)
    ids = [int(x) for x in site.cli("submit", str(rel_experiment), "-p", "spikey", "-c", command + " {task}",
                                    "--array", "2", check=True).stdout.split()]
    for i, job in enumerate(ids):
        _assert_literal(site, job, args + [str(i)], marker)
    assert sorted(tmp_path.rglob("PWNED*")) == [] and sorted(Path.cwd().glob("PWNED*")) == []

"""Staging: snapshots, archives (safe extraction), git sources, inputs."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from nmcluster.errors import StagingError
from nmcluster.jobs.staging import classify, stage_code


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for m in members:
            payload = (data or {}).get(m.name)
            if payload is not None:
                m.size = len(payload)
                tf.addfile(m, io.BytesIO(payload))
            else:
                tf.addfile(m)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def test_script_and_text(tmp_path):
    script = tmp_path / "exp.py"
    script.write_text("print(1)\n")
    staged = stage_code(str(script), "run.py {system}", tmp_path / "w1")
    assert staged.command == "exp.py {system}" and (tmp_path / "w1" / "exp.py").read_text() == "print(1)\n"
    staged = stage_code(str(script), "--opt 1 {system}", tmp_path / "w2")
    assert staged.command == "exp.py --opt 1 {system}"
    staged = stage_code("import sys\nprint(sys.argv)\n", "run.py {system}", tmp_path / "w3")
    assert staged.kind == "text" and (tmp_path / "w3" / "run.py").exists()


def test_folder_snapshot_is_independent(tmp_path, experiment):
    staged = stage_code(str(experiment), "main.py {system}", tmp_path / "w")
    (experiment / "main.py").write_text("edited later\n")
    assert staged.kind == "folder"
    assert "edited later" not in (tmp_path / "w" / "main.py").read_text()


def test_tar_and_zip_archives(tmp_path):
    tgz = _tar(tmp_path / "code.tgz", [_file("proj/run.py")], {"proj/run.py": b"print('hi')\n"})
    stage_code(str(tgz), "run.py {system}", tmp_path / "w1")  # single top dir is unwrapped
    assert (tmp_path / "w1" / "run.py").exists()
    zpath = tmp_path / "code.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("main.py", "print(1)\n")
        zf.writestr("lib/helper.py", "x = 1\n")
    stage_code(str(zpath), "main.py", tmp_path / "w2")
    assert (tmp_path / "w2" / "lib" / "helper.py").exists()
    assert classify("https://example.org/x.tar.gz") == "archive"


@pytest.mark.parametrize("name", ["../x", "/etc/x", "a/../../x"])
def test_tar_path_escape_refused(tmp_path, name):
    tgz = _tar(tmp_path / "bad.tgz", [_file("run.py"), _file(name)], {"run.py": b"", name: b"evil"})
    with pytest.raises(StagingError, match="refused"):
        stage_code(str(tgz), "run.py", tmp_path / "w")
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


@pytest.mark.parametrize("kind", ["sym", "hard"])
def test_tar_links_out_refused(tmp_path, kind):
    link = tarfile.TarInfo("run.py")
    link.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
    link.linkname = "/etc/passwd" if kind == "sym" else "../../etc/passwd"
    tgz = _tar(tmp_path / "bad.tgz", [link])
    with pytest.raises(StagingError, match="outside"):
        stage_code(str(tgz), "run.py", tmp_path / "w")


def test_tar_device_refused(tmp_path):
    dev = tarfile.TarInfo("dev0")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    tgz = _tar(tmp_path / "bad.tgz", [_file("run.py"), dev], {"run.py": b""})
    with pytest.raises(StagingError, match="device or special"):
        stage_code(str(tgz), "run.py", tmp_path / "w")


def test_zip_escapes_and_links_refused(tmp_path):
    zpath = tmp_path / "bad.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("run.py", "")
        zf.writestr("../evil.py", "")
    with pytest.raises(StagingError, match=r"\.\."):
        stage_code(str(zpath), "run.py", tmp_path / "w1")
    zlink = tmp_path / "link.zip"
    with zipfile.ZipFile(zlink, "w") as zf:
        info = zipfile.ZipInfo("run.py")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(StagingError, match="symbolic link"):
        stage_code(str(zlink), "run.py", tmp_path / "w2")


def test_zip_bomb_refused(tmp_path):
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("run.py", "")
        zf.writestr("zeros.bin", b"\0" * (4 * 1024 * 1024))
    assert zpath.stat().st_size < 100_000
    with pytest.raises(StagingError, match="inflates beyond"):
        stage_code(str(zpath), "run.py", tmp_path / "w", max_bytes=1024 * 1024)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@x"})


@pytest.fixture
def bare_repo(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "run.py").write_text("print('from git')\n")
    _git("init", "-q", "-b", "main", cwd=src)
    _git("add", ".", cwd=src)
    _git("commit", "-qm", "init", cwd=src)
    bare = tmp_path / "repo.git"
    _git("clone", "-q", "--bare", str(src), str(bare), cwd=tmp_path)
    return bare


def test_git_sources(tmp_path, bare_repo):
    staged = stage_code(f"file://{bare_repo}", "run.py {system}", tmp_path / "w1")
    assert staged.kind == "git" and (tmp_path / "w1" / "run.py").exists()
    assert not (tmp_path / "w1" / ".git").exists()
    staged = stage_code(str(bare_repo), "run.py", tmp_path / "w2")
    assert staged.kind == "git"


def test_unreachable_git_url(tmp_path):
    with pytest.raises(StagingError, match="cannot clone"):
        stage_code(f"file://{tmp_path}/nothere.git", "run.py", tmp_path / "w")
    with pytest.raises(StagingError, match="looks like an option"):
        stage_code("--upload-pack=touch /tmp/pwned.git", "run.py", tmp_path / "w2")


def test_inputs(tmp_path, experiment):
    stim = tmp_path / "stim.npy"
    stim.write_bytes(b"1234")
    staged = stage_code(str(experiment), "main.py", tmp_path / "w", inputs=(str(stim),))
    assert staged.inputs == ("stim.npy",) and (tmp_path / "w" / "stim.npy").read_bytes() == b"1234"
    with pytest.raises(StagingError, match="does not exist"):
        stage_code(str(experiment), "main.py", tmp_path / "w2", inputs=(str(tmp_path / "none.npy"),))
    with pytest.raises(StagingError, match="would overwrite"):
        stage_code(str(experiment), "main.py", tmp_path / "w3", inputs=(str(experiment / "run.py"),))
    url_in = stage_code(str(experiment), "main.py", tmp_path / "w4", inputs=(f"file://{stim}",))
    assert url_in.inputs == ("stim.npy",)

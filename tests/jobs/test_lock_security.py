"""The shared station lock directory against a hostile second user (issue 19).

``[hardware] lock_dir`` is world-writable (1777) so that every user of a workstation can take a station's
lock; whatever is in it may have been planted by another user.  These tests create two real Unix users
(``useradd``) and run the lock code as each of them in a forked child that drops root with
``setresuid``/``setresgid`` (the kernel checks are the real ones: ownership, modes, ``O_NOFOLLOW``), mount
the attacks and assert the refusal and that the victim's files are unchanged (content and mode).
"""

from __future__ import annotations

import os
import pickle
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nmcluster.hwdrivers.spikey import locks as spikey_locks
from nmcluster.infra import locks


class UnixUser:
    def __init__(self, name: str) -> None:
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid


def _become(user: UnixUser) -> None:
    os.setgroups([])
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    os.environ["USER"] = user.name


def as_user(user: UnixUser, fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """Run ``fn(*args)`` in a forked child that is ``user`` (real, effective and saved uid); returns
    ``("ok", value)`` or ``("err", "ExcType: message")``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            _become(user)
            out: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = ("err", f"{type(exc).__name__}: {exc}")
        try:
            os.write(w, pickle.dumps(out))
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return pickle.loads(b"".join(chunks))


class Holder:
    """``user`` holds the lock of ``key`` in a forked child until :meth:`stop`."""

    def __init__(self, user: UnixUser, lock_dir: Path, key: str, owner: str) -> None:
        self._go_r, self._go_w = os.pipe()
        ready_r, ready_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(ready_r)
            try:
                _become(user)
                locks.acquire([key], lock_dir, owner, blocking=False)
                os.write(ready_w, b"y")
                os.read(self._go_r, 1)
            finally:
                os._exit(0)
        os.close(ready_w)
        self.ready = os.read(ready_r, 1) == b"y"
        os.close(ready_r)

    def stop(self) -> None:
        os.write(self._go_w, b"x")
        os.waitpid(self.pid, 0)
        os.close(self._go_r)
        os.close(self._go_w)


@pytest.fixture(scope="module")
def two_users() -> Iterator[tuple[UnixUser, UnixUser]]:
    """(attacker, victim): two real users, removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to create a second Unix user")
    tag = f"{os.getpid() % 100000}"
    names = [f"nmlka{tag}", f"nmlkv{tag}"]
    made = []
    try:
        for name in names:
            proc = subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name], capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                pytest.skip(f"useradd failed: {proc.stderr.strip()}")
            made.append(name)
        yield UnixUser(names[0]), UnixUser(names[1])
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture
def world() -> Iterator[Path]:
    """A directory like ``/run/lock`` (1777) that both users can reach (tmp_path is root's 0700 tree)."""
    base = Path(tempfile.mkdtemp(prefix="nmcluster-locksec-", dir="/tmp"))
    os.chmod(base, 0o1777)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _victim_file(world: Path, victim: UnixUser) -> tuple[Path, bytes, int]:
    home = world / "victim-home"
    home.mkdir()
    os.chown(home, victim.uid, victim.gid)
    target = home / ".bashrc"
    content = b"# victim's shell start-up\nexport PATH=/usr/bin:/bin\n"
    target.write_bytes(content)
    os.chown(target, victim.uid, victim.gid)
    os.chmod(target, 0o644)
    return target, content, 0o644


def _shared_dir_made_by(user: UnixUser, world: Path) -> Path:
    """The shared lock directory as nmcluster makes it when ``user`` runs first (``prepare_shared``)."""
    lock_dir = world / "lock"
    assert as_user(user, spikey_locks.prepare_shared, lock_dir) == ("ok", None)
    st = lock_dir.lstat()
    assert st.st_uid == user.uid and stat.S_IMODE(st.st_mode) == 0o1777
    return lock_dir


def _assert_unchanged(path: Path, content: bytes, mode: int, owner: UnixUser) -> None:
    st = path.lstat()
    assert path.read_bytes() == content
    assert stat.S_IMODE(st.st_mode) == mode
    assert st.st_uid == owner.uid


def test_planted_symlink_to_victim_file_is_refused(two_users, world):
    attacker, victim = two_users
    target, content, mode = _victim_file(world, victim)
    lock_dir = _shared_dir_made_by(attacker, world)
    link = locks.lock_path(lock_dir, "station500")
    assert as_user(attacker, os.symlink, str(target), str(link)) == ("ok", None)

    status, msg = as_user(victim, lambda: locks.acquire(["station500"], lock_dir, "PID 1 (user victim)") and None)
    assert status == "err"
    assert msg.startswith("LockRefused: ") and "symbolic link" in msg and str(link) in msg
    assert "\n" not in msg
    _assert_unchanged(target, content, mode, victim)
    assert link.is_symlink()  # not replaced either

    # the station queries never read through the planted link (nor hang on it)
    assert as_user(victim, locks.holder, lock_dir, "station500") == ("ok", "unknown")


def test_planted_symlink_refused_through_claim_station(two_users, world, site_config):
    attacker, victim = two_users
    target, content, mode = _victim_file(world, victim)
    lock_dir = _shared_dir_made_by(attacker, world)
    as_user(attacker, os.symlink, str(target), str(locks.lock_path(lock_dir, "station500")))
    site = site_config._replace(hardware=site_config.hardware._replace(lock_dir=lock_dir))
    status, msg = as_user(victim, lambda: spikey_locks.claim_station(site, 500).release())
    assert status == "err" and msg.startswith("LockRefused: ") and "symbolic link" in msg
    _assert_unchanged(target, content, mode, victim)


def test_hard_link_to_victim_file_is_refused(two_users, world):
    """With ``fs.protected_hardlinks=0`` a user may link another's file; root stands in for that here."""
    _attacker, victim = two_users
    target, content, mode = _victim_file(world, victim)
    lock_dir = world / "lock"
    lock_dir.mkdir(mode=0o1777)
    os.chmod(lock_dir, 0o1777)
    os.link(target, locks.lock_path(lock_dir, "station500"))
    status, msg = as_user(victim, lambda: locks.acquire(["station500"], lock_dir, "victim") and None)
    assert status == "err" and "2 hard links" in msg
    _assert_unchanged(target, content, mode, victim)


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o4666])
def test_foreign_file_that_is_not_a_shared_lock_file_is_refused(two_users, world, mode):
    attacker, victim = two_users
    lock_dir = _shared_dir_made_by(attacker, world)
    path = locks.lock_path(lock_dir, "station500")

    def plant() -> None:
        path.write_bytes(b"attacker's data\n")
        os.chmod(path, mode)
    assert as_user(attacker, plant) == ("ok", None)
    status, msg = as_user(victim, lambda: locks.acquire(["station500"], lock_dir, "victim") and None)
    assert status == "err" and f"mode {mode:04o}" in msg and f"uid {attacker.uid}" in msg
    assert path.read_bytes() == b"attacker's data\n"
    assert stat.S_IMODE(path.lstat().st_mode) == mode  # never chmod-ed


def test_planted_fifo_is_refused_without_hanging(two_users, world):
    attacker, victim = two_users
    lock_dir = _shared_dir_made_by(attacker, world)
    path = locks.lock_path(lock_dir, "station500")
    assert as_user(attacker, os.mkfifo, str(path), 0o666) == ("ok", None)
    status, msg = as_user(victim, lambda: locks.acquire(["station500"], lock_dir, "victim") and None)
    assert status == "err" and "not a regular file" in msg
    assert as_user(victim, locks.holder, lock_dir, "station500") == ("ok", "unknown")
    assert stat.S_ISFIFO(path.lstat().st_mode)


def test_lock_file_of_another_users_nmcluster_is_shared(two_users, world):
    """The legitimate case: A's nmcluster created the lock file (0666); B waits on it and then takes it,
    without chmod-ing or re-owning it."""
    alice, bob = two_users
    lock_dir = _shared_dir_made_by(alice, world)
    holder = Holder(alice, lock_dir, "station500", "PID 11 / job 7 (user alice)")
    try:
        assert holder.ready
        path = locks.lock_path(lock_dir, "station500")
        st = path.lstat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (alice.uid, 0o666)
        status, msg = as_user(bob, lambda: locks.acquire(["station500"], lock_dir, "bob", blocking=False) and None)
        assert (status, msg) == ("err", "ResourceBusy: station500 is in use by PID 11 / job 7 (user alice)")
    finally:
        holder.stop()
    status, _ = as_user(bob, lambda: locks.acquire(["station500"], lock_dir, "PID 12 (user bob)") and None)
    assert status == "ok"
    st = path.lstat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode), st.st_nlink) == (alice.uid, 0o666, 1)
    assert path.read_text() == "PID 12 (user bob)\n"  # only what bob wrote: the old text is gone


def test_created_lock_file_is_0666_and_ours(two_users, world):
    _attacker, victim = two_users
    lock_dir = _shared_dir_made_by(victim, world)
    old = os.umask(0o077)
    try:
        assert as_user(victim, lambda: locks.acquire(["W33F34", "station501"], lock_dir, "v") and None)[0] == "ok"
    finally:
        os.umask(old)
    for key in ("W33F34", "station501"):
        st = locks.lock_path(lock_dir, key).lstat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (victim.uid, 0o666)


def test_world_writable_lock_dir_without_sticky_bit_is_refused(world):
    lock_dir = world / "open"
    lock_dir.mkdir()
    os.chmod(lock_dir, 0o777)
    with pytest.raises(locks.LockRefused) as exc:
        locks.acquire(["station500"], lock_dir, "me")
    assert "world-writable without the sticky bit (mode 0777)" in str(exc.value)
    assert list(lock_dir.iterdir()) == []  # nothing created in it


def test_symlinked_lock_dir_is_refused(two_users, world):
    attacker, victim = two_users
    real = world / "elsewhere"
    real.mkdir()
    os.chown(real, victim.uid, victim.gid)
    link = world / "lock"
    link.symlink_to(real)
    status, msg = as_user(victim, lambda: locks.acquire(["station500"], link, "v") and None)
    assert status == "err" and "lock directory" in msg and "symbolic link" in msg
    assert list(real.iterdir()) == []


def test_holder_text_is_one_printable_line(tmp_path):
    lock_dir = tmp_path / "locks"
    fds = locks.acquire(["station500"], lock_dir, "PID 1\x1b[31m red\nsecond line")
    try:
        assert locks.holder(lock_dir, "station500") == "PID 1[31m red"
    finally:
        locks.release(fds)

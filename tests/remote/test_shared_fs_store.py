"""The job store and the calibration store's lock on a real network file system mount (issue 26).

NFS cannot be mounted on this machine (its kernel has no NFS client: no ``nfs`` in /proc/filesystems,
no modules to load), so the shared file system here is ``sshfs`` (FUSE, type ``fuse.sshfs``) of a
directory served by the test sshd on 127.0.0.1 -- a real network mount that /proc/self/mountinfo lists
like NFS.  nmcluster must detect it and keep SQLite out of WAL mode there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from nmcluster.fsinfo import mount_of
from nmcluster.jobs.store import JobStore


@pytest.fixture
def sshfs_mount(sshd, tmp_path):
    if shutil.which("sshfs") is None:
        pytest.skip("sshfs is not installed (apt-get install sshfs)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        pytest.skip("/dev/fuse is not usable here (FUSE mounts need it)")
    exported = tmp_path / "exported"
    exported.mkdir()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(
        ["sshfs", "-p", str(sshd.port), "-o", f"IdentityFile={sshd.client_key}",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         f"{sshd.user}@127.0.0.1:{exported}", str(mnt)],
        capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"sshfs mount failed here: {proc.stderr.strip()[:200]}")
    try:
        yield exported, mnt
    finally:
        for _ in range(20):
            if subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True).returncode == 0 or \
                    subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)


def test_store_on_a_network_mount_uses_the_rollback_journal(sshfs_mount, monkeypatch):
    exported, mnt = sshfs_mount
    monkeypatch.delenv("NMCLUSTER_STORE_JOURNAL", raising=False)
    mount = mount_of(mnt / "jobs" / "jobs.sqlite")
    assert mount is not None and mount.fstype == "fuse.sshfs" and mount.shared
    with JobStore(mnt / "jobs" / "jobs.sqlite") as store:
        assert store.journal_mode == "DELETE"
        ids = [store.insert(status="submitted", code="run.py", command="run.py", platform="spikey",
                            user="alice", timestamp_submission=float(i)) for i in range(5)]
        store.update(ids[0], status="finished")
        assert [r.status for r in store.get_many(ids)] == ["finished"] + ["submitted"] * 4
    # what the server's disk holds: one database file, no WAL or shared-memory index beside it
    assert sorted(p.name for p in (exported / "jobs").iterdir()) == ["jobs.sqlite"]
    # the same directory seen locally (not through the mount) is a local file system: WAL there
    assert not mount_of(exported).shared


def test_lock_on_a_network_mount_excludes_another_process(sshfs_mount):
    """The calibration store's writer lock (nmcluster.fsinfo.lock_exclusive: POSIX locks on shared
    file systems) held by one process keeps another out until it is released."""
    import sys

    from nmcluster.fsinfo import lock_exclusive

    _, mnt = sshfs_mount
    lock = mnt / "station500.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time; from nmcluster.fsinfo import lock_exclusive;"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o664); lock_exclusive(fd, {str(lock)!r});"
         "print('held', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        fd = os.open(lock, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            lock_exclusive(fd, lock, blocking=False)
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
        lock_exclusive(fd, lock, blocking=False)  # free now
        os.close(fd)
    finally:
        if holder.poll() is None:
            holder.kill()

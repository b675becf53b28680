"""File-system detection and the job store's journal mode on shared file systems (issue 26).

This machine's kernel has no NFS client (``nfs``/``nfs4`` are absent from /proc/filesystems and there
are no loadable modules), so no NFS export can be mounted here; the real shared mount is an ``sshfs``
(FUSE) mount over the test sshd (tests/remote/test_shared_fs_store.py).  Here: the mountinfo parser and
the mode decision against mountinfo lines of real NFS, Lustre and GPFS mounts, and the store's switch
between WAL and the rollback journal on real SQLite files.
"""

from __future__ import annotations

import sqlite3

import pytest

from nmcluster.errors import ConfigError
from nmcluster.fsinfo import journal_mode_for, mount_of, parse_mountinfo
from nmcluster.jobs.store import JobStore

# proc(5) format; the NFS/Lustre/GPFS lines as those clients write them
MOUNTINFO = r"""27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
61 27 0:52 / /scratch rw,relatime shared:40 - nfs4 fs1.example.org:/export/scratch rw,vers=4.2
62 61 0:53 / /scratch/local\040disk rw,relatime - xfs /dev/sdb1 rw
63 27 0:54 / /lustre rw,relatime - lustre 10.0.0.1@o2ib:/lfs rw,flock
64 27 0:55 / /gpfs/projects rw,relatime - gpfs projects rw
65 27 0:56 / /home rw,relatime - ext4 /dev/sdc1 rw
"""


def test_parse_mountinfo_unescapes_and_keeps_order():
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.mount_point for m in mounts] == ["/", "/scratch", "/scratch/local disk", "/lustre",
                                              "/gpfs/projects", "/home"]
    assert [m.fstype for m in mounts] == ["ext4", "nfs4", "xfs", "lustre", "gpfs", "ext4"]
    assert mounts[1].source == "fs1.example.org:/export/scratch"


@pytest.mark.parametrize("path, fstype, mode", [
    ("/scratch/alice/jobs/jobs.sqlite", "nfs4", "DELETE"),
    ("/scratch/local disk/jobs.sqlite", "xfs", "WAL"),      # a local disk mounted inside the NFS tree
    ("/scratchy/jobs.sqlite", "ext4", "WAL"),               # a prefix of the name is not the mount
    ("/lustre/p/jobs.sqlite", "lustre", "DELETE"),
    ("/gpfs/projects/x/jobs.sqlite", "gpfs", "DELETE"),
    ("/home/alice/.local/share/nmcluster/jobs.sqlite", "ext4", "WAL"),
])
def test_mode_by_file_system(path, fstype, mode):
    assert mount_of(path, MOUNTINFO).fstype == fstype
    got, why = journal_mode_for(path, env={}, mountinfo=MOUNTINFO)
    assert got == mode
    assert fstype in why


def test_environment_overrides_and_rejects_nonsense():
    assert journal_mode_for("/scratch/x", env={"NMCLUSTER_STORE_JOURNAL": "wal"}, mountinfo=MOUNTINFO)[0] == "WAL"
    assert journal_mode_for("/home/x", env={"NMCLUSTER_STORE_JOURNAL": "truncate"},
                            mountinfo=MOUNTINFO)[0] == "TRUNCATE"
    assert journal_mode_for("/scratch/x", env={"NMCLUSTER_STORE_JOURNAL": "auto"}, mountinfo=MOUNTINFO)[0] == "DELETE"
    with pytest.raises(ConfigError, match="NMCLUSTER_STORE_JOURNAL='memory'"):
        journal_mode_for("/x", env={"NMCLUSTER_STORE_JOURNAL": "memory"}, mountinfo=MOUNTINFO)


def test_this_machines_tmp_is_local():
    assert journal_mode_for("/tmp/nmcluster-test.sqlite", env={})[0] == "WAL"


@pytest.mark.parametrize("setting, mode, wal_file", [("delete", "DELETE", False), ("wal", "WAL", True),
                                                    ("", "WAL", True)])
def test_store_journal_mode(tmp_path, monkeypatch, setting, mode, wal_file):
    """The store opens in the chosen mode; a rollback-journal store leaves no -wal/-shm files and other
    connections read what it wrote."""
    monkeypatch.setenv("NMCLUSTER_STORE_JOURNAL", setting)
    db = tmp_path / "jobs.sqlite"
    with JobStore(db) as store:
        assert store.journal_mode == mode
        ids = [store.insert(status="submitted", code="run.py", command="run.py", platform="spikey",
                            user="alice", timestamp_submission=1.0) for _ in range(3)]
        assert (tmp_path / "jobs.sqlite-wal").exists() is wal_file
        other = sqlite3.connect(db)
        assert other.execute("SELECT count(*) FROM jobs").fetchone()[0] == 3
        assert other.execute("PRAGMA journal_mode").fetchone()[0].upper() == mode
        other.close()
        assert [store.get(i).status for i in ids] == ["submitted"] * 3
    assert not (tmp_path / "jobs.sqlite-journal").exists()  # DELETE removes it after each commit

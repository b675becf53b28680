"""The calibration store against a hostile second user and crafted files (issue 19).

* Ownership, with two real Unix users (``useradd``; the reader runs in a forked child that drops root with
  ``setresuid``): a store directory, file, link or parent another user owns or may write is refused with
  one line naming the path and why; the site's store may be written by its admin group.
* Crafted HDF5 (external storage pointing at a secret, virtual datasets, soft/external links, declared
  shapes of 10^9 elements, references, unknown filters, out-of-range ids, enormous version numbers): one
  clear error naming the file, nothing of the secret read, nothing else broken.
* Calibtic XML and Spikey ``.dat`` imports: DTDs/entities, bad ids, malformed blacklists -> one line, exit 2.
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from nmcluster.calib import safety
from nmcluster.calib.formats import import_spikey, import_xml
from nmcluster.calib.store import (Calibration, CalibInputError, CalibStore, PinnedReader, job_calibration_version,
                                   parse_ids)
from nmcluster.calib.safety import UnsafeCalibration
from nmcluster.errors import UserInputError

NM = [sys.executable, "-m", "nmcluster.cli.main"]


# -- two real users ----------------------------------------------------------------------------------
class UnixUser:
    def __init__(self, name: str) -> None:
        pw = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, pw.pw_uid, pw.pw_gid


def as_user(user: UnixUser, fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """``fn(*args)`` in a forked child that is ``user``: ``("ok", value)`` or ``("err", "Type: message")``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(user.gid, user.gid, user.gid)
            os.setresuid(user.uid, user.uid, user.uid)
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


@pytest.fixture(scope="module")
def two_users() -> Iterator[tuple[UnixUser, UnixUser]]:
    """(attacker, victim), each with a private group of its own name; removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to create a second Unix user")
    tag = f"{os.getpid() % 100000}"
    names = [f"nmcsa{tag}", f"nmcsv{tag}"]
    made = []
    try:
        for name in names:
            proc = subprocess.run(["useradd", "-M", "-U", "-s", "/usr/sbin/nologin", name], capture_output=True,
                                  text=True)
            if proc.returncode != 0:
                pytest.skip(f"useradd failed: {proc.stderr.strip()}")
            made.append(name)
        yield UnixUser(names[0]), UnixUser(names[1])
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)
            subprocess.run(["groupdel", name], capture_output=True)


@pytest.fixture
def world() -> Iterator[Path]:
    """A /tmp-like (1777) directory both users reach (pytest's tmp_path is root's 0700 tree)."""
    base = Path(tempfile.mkdtemp(prefix="nmcluster-calibsec-", dir="/tmp"))
    os.chmod(base, 0o1777)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def spikey_cal(value: float = 1.0, target: str = "station500") -> Calibration:
    return Calibration(target, "spikey", data={"neurons/g_leak_factor": np.full(384, value),
                                               "neurons/v_thresh_offset": np.zeros(384),
                                               "drivers/driver_factor": np.ones(512)},
                       blacklist={"neuron": np.array([3, 7])})


def _victim_store(world: Path, victim: UnixUser) -> Path:
    home = world / "victim"
    home.mkdir(mode=0o755)
    os.chown(home, victim.uid, victim.gid)
    store = home / "calib"
    assert as_user(victim, lambda: CalibStore(store, admin_group="").commit(spikey_cal(2.0)))[0] == "ok"
    return store


def _read_current(store: Path) -> Callable[[], float]:
    return lambda: float(CalibStore(store, admin_group="").read("station500").data["neurons/g_leak_factor"][0])


def test_hardware_sizes_match_the_chips():
    from nmcluster.emulators.brainscales import chip as wchip
    from nmcluster.emulators.spikey import chip
    from nmcluster.hwdrivers.wafer import defects, geometry

    assert safety.SPIKEY_NEURONS == chip.N_NEURONS == 384
    assert safety.SPIKEY_DRIVERS == chip.N_BLOCKS * chip.DRIVERS_PER_BLOCK == 512
    assert (safety.WAFER_HICANNS, safety.WAFER_FPGAS) == (geometry.N_HICANNS, geometry.N_FPGAS)
    assert safety.HICANN_DENMEMS == defects.N_DENMEMS == wchip.N_DENMEMS
    assert safety.HICANN_DRIVERS == defects.N_SYNAPSE_DRIVERS


# -- ownership ---------------------------------------------------------------------------------------
def test_own_store_reads(two_users, world):
    _attacker, victim = two_users
    store = _victim_store(world, victim)
    assert as_user(victim, _read_current(store)) == ("ok", 2.0)


def test_store_dir_writable_by_another_users_group_is_refused(two_users, world):
    attacker, victim = two_users
    store = _victim_store(world, victim)
    os.chown(store, victim.uid, attacker.gid)
    os.chmod(store, 0o775)
    # the attack it allows: the attacker (group member) replaces the station's file
    plant = lambda: (store / "station500.h5").unlink() or CalibStore(store, admin_group="").path("station500")  # noqa: E731
    assert as_user(attacker, plant)[0] == "ok"
    status, msg = as_user(victim, _read_current(store))
    assert status == "err" and msg.startswith("UnsafeCalibration: ")
    assert f"refusing calibration store {store}: writable by group {attacker.name} (mode 0775)" in msg
    assert "\n" not in msg


def test_world_writable_store_is_refused(two_users, world):
    _attacker, victim = two_users
    store = _victim_store(world, victim)
    os.chmod(store, 0o1777)  # even sticky: anyone could add station<N>.h5 for a station we have no file of
    status, msg = as_user(victim, _read_current(store))
    assert status == "err" and "writable by every user (mode 1777)" in msg


def test_store_dir_owned_by_another_user_is_refused(two_users, world):
    """The old default: ``<job_root>/../calib`` created by whoever ran first, read by everyone."""
    attacker, victim = two_users
    shared = world / "shared-calib"
    assert as_user(attacker, lambda: CalibStore(shared, admin_group="").commit(spikey_cal(66.0)))[0] == "ok"
    status, msg = as_user(victim, _read_current(shared))
    assert status == "err"
    assert f"refusing calibration store {shared}: owned by {attacker.name} (uid {attacker.uid})" in msg
    # and the job path (PinnedReader, what the emulator reads) refuses the same way
    status, msg = as_user(victim, lambda: PinnedReader(shared).read("station500"))
    assert status == "err" and "owned by" in msg


def test_file_planted_by_another_user_is_refused_and_others_still_read(two_users, world):
    attacker, victim = two_users
    store = _victim_store(world, victim)
    os.chmod(store, 0o777)  # a moment of a too-open store: the attacker plants a file
    other = world / "attacker-made"
    assert as_user(attacker, lambda: CalibStore(other, admin_group="").commit(spikey_cal(66.0, "station501")))[0] \
        == "ok"
    assert as_user(attacker, shutil.copy, str(other / "station501.h5"), str(store / "station501.h5"))[0] == "ok"
    os.chmod(store, 0o755)
    status, msg = as_user(victim, lambda: CalibStore(store, admin_group="").read("station501"))
    assert status == "err" and f"refusing calibration file {store / 'station501.h5'}: owned by {attacker.name}" in msg
    assert as_user(victim, _read_current(store)) == ("ok", 2.0)  # the other station is unaffected
    # `calib list` shows the bad one as bad and the good one as usual, exit 0
    env = {"PATH": "/usr/bin:/bin", "HOME": str(world), "NMCLUSTER_CALIB_ROOT": str(store), "LANG": "C.UTF-8",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}

    def listing() -> tuple[int, str, str]:
        os.environ.clear()
        os.environ.update(env)
        from click.testing import CliRunner

        from nmcluster.cli.main import cli as main_cli

        res = CliRunner().invoke(main_cli, ["calib", "list", "--json"])
        return res.exit_code, res.output, repr(res.exception)
    status, (code, out, exc) = as_user(victim, listing)
    assert status == "ok" and code == 0, exc
    rows = {r["target"]: r for r in json.loads(out)["targets"]}
    assert rows["station500"]["current"] == 1
    assert "owned by" in rows["station501"]["error"]


def test_symlinked_store_of_another_user_is_refused(two_users, world):
    attacker, victim = two_users
    real = world / "attacker-calib"
    assert as_user(attacker, lambda: CalibStore(real, admin_group="").commit(spikey_cal(66.0)))[0] == "ok"
    link = world / "calib-link"
    assert as_user(attacker, os.symlink, str(real), str(link))[0] == "ok"
    status, msg = as_user(victim, _read_current(link))
    assert status == "err" and f"{link} is a symbolic link of {attacker.name}" in msg


def test_store_under_a_directory_of_another_user_is_refused(two_users, world):
    attacker, victim = two_users
    parent = world / "attacker-dir"
    parent.mkdir(mode=0o755)
    os.chown(parent, attacker.uid, attacker.gid)
    store = parent / "calib"
    store.mkdir()
    os.chown(store, victim.uid, victim.gid)  # the victim's own directory, but the attacker may swap it
    status, msg = as_user(victim, lambda: CalibStore(store, admin_group="").current("station500"))
    assert status == "err" and f"the directory {parent} above it is owned by {attacker.name}" in msg


def test_site_store_writable_by_the_admin_group_is_accepted(two_users, world):
    attacker, victim = two_users
    group = f"nmcadm{os.getpid() % 100000}"
    assert subprocess.run(["groupadd", group], capture_output=True).returncode == 0
    try:
        import grp

        gid = grp.getgrnam(group).gr_gid
        site = world / "site-calib"
        CalibStore(site, admin_group=group).commit(spikey_cal(3.0))  # the admin (root) calibrates
        os.chown(site, 0, gid)
        os.chmod(site, 0o2775)
        os.chown(site / "station500.h5", 0, gid)
        os.chmod(site / "station500.h5", 0o664)
        read = lambda: float(CalibStore(site, admin_group=group).read("station500").data["neurons/g_leak_factor"][0])  # noqa: E731
        assert as_user(victim, read) == ("ok", 3.0)
        # the same store with a group that is not the admin group: refused
        os.chown(site, 0, attacker.gid)
        status, msg = as_user(victim, read)
        assert status == "err" and f"writable by group {attacker.name}" in msg and f"is '{group}'" in msg
        # a user cannot write the site's store (read-only for users)
        os.chown(site, 0, gid)
        status, msg = as_user(victim, lambda: CalibStore(site, admin_group=group).commit(spikey_cal(9.0)))
        assert status == "err" and "station500.lock" in msg
        assert read() == 3.0
    finally:
        subprocess.run(["groupdel", group], capture_output=True)


def test_default_store_is_per_user_not_next_to_a_shared_job_root(tmp_path):
    from nmcluster.config import parse_config

    shared = {"job_root": "/srv/nmcluster/{user}/jobs"}
    a = parse_config(shared, env={"USER": "alice", "HOME": "/home/alice", "XDG_DATA_HOME": "/home/alice/.xd"})
    b = parse_config(shared, env={"USER": "bob", "HOME": "/home/bob"})
    assert a.calib_root == Path("/home/alice/.xd/nmcluster/calib")
    assert b.calib_root == Path("/home/bob/.local/share/nmcluster/calib")
    site = parse_config({**shared, "hardware": {"calib_dir": "/srv/calib", "calib_admin_group": "nmcalib"}},
                        env={"USER": "bob", "HOME": "/home/bob"})
    assert site.calib_root == Path("/srv/calib") and site.hardware.calib_admin_group == "nmcalib"


# -- crafted HDF5 ------------------------------------------------------------------------------------
def _craft(store: Path, build: Callable[[h5py.File, h5py.Group], None], current: Any = 1,
           target: str = "station500") -> Path:
    """A store file as commit() writes it, with ``build(file, version_group)`` adding the crafted part."""
    store.mkdir(parents=True, exist_ok=True)
    path = store / f"{target}.h5"
    with h5py.File(path, "w", libver="latest") as fh:  # dense attribute storage: large attributes possible
        fh.attrs.update(target=target, kind="spikey" if target.startswith("station") else "wafer", format=1)
        g = fh.create_group("versions/1")
        g.attrs.update(created=0.0, source="emulated", notes="", parent=0, meta="{}")
        g.create_group("data")
        g.create_group("blacklist")
        build(fh, g)
        fh.attrs["current"] = current
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    p = tmp_path / "secret"
    p.write_bytes(b"TOPSECRET" * 400)
    return p


def _expect_refused(store: Path, *fragments: str, target: str = "station500") -> str:
    with pytest.raises(UserInputError) as exc:
        CalibStore(store, admin_group="").read(target)
    msg = str(exc.value)
    assert str(store / f"{target}.h5") in msg and "\n" not in msg and "TOPSECRET" not in msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_external_storage_is_refused_and_the_secret_never_read(tmp_path, secret):
    store = tmp_path / "store"
    _craft(store, lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", (384,), "f8",
                                                          external=[(str(secret), 0, 384 * 8)]))
    _expect_refused(store, "neurons/g_leak_factor uses external storage")
    # what the old reader did with the same file: the secret's bytes became "calibration data"
    with h5py.File(store / "station500.h5", "r") as fh:
        leaked = fh["versions/1/data/neurons/g_leak_factor"][()].tobytes()
    assert leaked.startswith(b"TOPSECRET")


def test_virtual_dataset_is_refused(tmp_path, secret):
    src = tmp_path / "other.h5"
    with h5py.File(src, "w") as fh:
        fh["x"] = np.full(384, 5.0)
    layout = h5py.VirtualLayout(shape=(384,), dtype="f8")
    layout[:] = h5py.VirtualSource(str(src), "x", shape=(384,))
    _craft(tmp_path / "store", lambda fh, g: g["data"].create_group("neurons")
           .create_virtual_dataset("g_leak_factor", layout))
    _expect_refused(tmp_path / "store", "virtual dataset")


@pytest.mark.parametrize("link", ["soft", "external"])
def test_links_are_refused(tmp_path, link):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as fh:
        fh["x"] = np.full(384, 5.0)

    def build(fh, g):
        n = g["data"].create_group("neurons")
        n["g_leak_factor"] = h5py.SoftLink("/elsewhere") if link == "soft" else h5py.ExternalLink(str(other), "/x")
        fh["elsewhere"] = np.full(384, 5.0)
    _craft(tmp_path / "store", build)
    _expect_refused(tmp_path / "store", "is a SoftLink" if link == "soft" else "is a ExternalLink")


def test_huge_declared_shape_is_refused_before_reading(tmp_path):
    _craft(tmp_path / "store", lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", (10**10,), "f8",
                                                                      chunks=(1 << 16,), fillvalue=1.0))
    assert (tmp_path / "store" / "station500.h5").stat().st_size < 100_000
    _expect_refused(tmp_path / "store", "has shape (10000000000,), expected (384,)")
    _craft(tmp_path / "store", lambda fh, g: g["data"].create_dataset("blob", (10**5, 10**5), "f8",
                                                                      chunks=(256, 256)))
    _expect_refused(tmp_path / "store", "data/blob has shape (100000, 100000)")


@pytest.mark.parametrize("build,fragment", [
    (lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", data=np.ones(383)), "expected (384,)"),
    (lambda fh, g: g["data"].create_dataset("drivers/driver_factor", data=np.ones(384)), "expected (512,)"),
    (lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", data=np.array([b"x"] * 384)), "numbers only"),
    (lambda fh, g: g["data"].create_dataset("neurons/x", data=np.zeros(384, dtype=[("a", "f8"), ("b", "i4")])),
     "numbers only"),
    (lambda fh, g: g["data"].create_dataset("neurons/x", (384,), dtype=h5py.ref_dtype), "numbers only"),
    (lambda fh, g: g["data"].create_dataset("hicann/3/V_t/coeffs", data=np.ones((512, 3))),
     "not a dataset a spikey calibration has"),
    (lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", data=np.ones(384), compression=307,
                                            allow_unknown_filter=True), "uses HDF5 filter 307"),
    (lambda fh, g: g["data"]["neurons/g_leak_factor"].attrs.create("r", g.ref) if g["data"].create_dataset(
        "neurons/g_leak_factor", data=np.ones(384)) else None, "attribute 'r'"),
    (lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", data=np.ones(384)).attrs.create(
        "big", np.zeros(100_000)), "larger than"),
    (lambda fh, g: g["blacklist"].create_dataset("neuron", data=np.array([3, 384])), "outside 0..383"),
    (lambda fh, g: g["blacklist"].create_dataset("neuron", data=np.array([-1])), "outside 0..383"),
    (lambda fh, g: g["blacklist"].create_dataset("neuron", data=np.array([1.5])), "integers only"),
    (lambda fh, g: g["blacklist"].create_dataset("denmem", data=np.array([1])), "not a blacklist component"),
    (lambda fh, g: g["blacklist"].create_dataset("neuron", data=np.arange(385) % 384), "one dimension of at most 384"),
    (lambda fh, g: fh["versions"].create_group("9" * 500), "is not a version number"),
    (lambda fh, g: fh["versions"].create_group("1e400"), "is not a version number"),
    (lambda fh, g: g.attrs.__setitem__("parent", 2**62), "attribute parent is not a version number"),
])
def test_crafted_content_is_one_clear_error(tmp_path, build, fragment):
    _craft(tmp_path / "store", build)
    _expect_refused(tmp_path / "store", fragment)


@pytest.mark.parametrize("current", [2**62, "1" + "0" * 400, 1e300, -1, "x"])
def test_enormous_current_version_is_refused(tmp_path, current):
    _craft(tmp_path / "store", lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", data=np.ones(384)),
           current=current)
    store = CalibStore(tmp_path / "store", admin_group="")
    for call in (lambda: store.current("station500"), lambda: store.versions("station500"),
                 lambda: store.read("station500")):
        with pytest.raises(UnsafeCalibration, match="attribute current"):
            call()


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n" + b"\0" * 100, b"not hdf5 at all" * 50])
def test_garbage_file_is_one_clear_error(tmp_path, content):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "station500.h5").write_bytes(content)
    _expect_refused(tmp_path / "store", "cannot be read as HDF5")


def test_symlinked_store_file_is_refused(tmp_path, secret):
    store = tmp_path / "store"
    CalibStore(store, admin_group="").commit(spikey_cal())
    (store / "station501.h5").symlink_to(store / "station500.h5")
    with pytest.raises(UnsafeCalibration, match="a symbolic link"):
        CalibStore(store, admin_group="").read("station501")


def test_version_bounds_everywhere(tmp_path, monkeypatch):
    store = CalibStore(tmp_path / "store", admin_group="")
    store.commit(spikey_cal())
    huge = "1" + "0" * 400
    with pytest.raises(UnsafeCalibration, match=r"outside 1\.\.2147483647|integer from 1"):
        job_calibration_version("spikey", {"NMCLUSTER_CALIB_VERSION": huge, "NMCLUSTER_CALIB_ROOT": str(store.root)})
    monkeypatch.setenv("NMCLUSTER_CALIB_VERSION", huge)
    with pytest.raises(UnsafeCalibration):
        PinnedReader(store.root).read("station500")
    with pytest.raises(UnsafeCalibration):
        store.read("station500", 10**400)
    with pytest.raises(UnsafeCalibration):
        store.set_current("station500", 10**400)
    with pytest.raises(CalibInputError, match="ids must be like"):
        parse_ids("1" * 5000)
    with pytest.raises(CalibInputError, match="more than 65536 ids"):
        parse_ids("0-999999999")
    with pytest.raises(CalibInputError, match="calibration target"):
        store.path("station" + "9" * 5000)


def test_commit_refuses_what_a_reader_would_refuse(tmp_path):
    store = CalibStore(tmp_path / "store", admin_group="")
    with pytest.raises(CalibInputError, match="expected \\(384,\\)"):
        store.commit(Calibration("station500", "spikey", data={"neurons/g_leak_factor": np.ones(10)}))
    with pytest.raises(CalibInputError, match="outside 0..511"):
        store.commit(Calibration("station500", "spikey", blacklist={"driver": np.array([600])}))
    assert not (tmp_path / "store" / "station500.h5").exists()


def test_calib_cli_show_of_a_crafted_file_is_exit_2_one_line(tmp_path, secret):
    store = tmp_path / "store"
    _craft(store, lambda fh, g: g["data"].create_dataset("neurons/g_leak_factor", (384,), "f8",
                                                          external=[(str(secret), 0, 384 * 8)]))
    env = {**os.environ, "NMCLUSTER_CALIB_ROOT": str(store)}
    for args in (("calib", "show", "station500"), ("calib", "export", "station500", str(tmp_path / "out"))):
        p = subprocess.run([*NM, *args], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr and "TOPSECRET" not in p.stdout + p.stderr
        assert "uses external storage" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_enormous_calib_version_in_a_job_record_never_breaks_listings(tmp_path):
    """A job's result file claiming ``calib_version`` 10**400 (or a submission pinning it) must leave
    ``status``/``list``/``remove`` working for every job."""
    site = tmp_path / "site.toml"
    site.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_CONF", "MY_STAGE1_STATION")}
    env.update(NMCLUSTER_CONFIG=str(site), NMCLUSTER_QUIET="1", NMCLUSTER_CALIB_ROOT=str(tmp_path / "calib"),
               HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"))
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "run.py").write_text("print('ok')\n")

    def nm(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*NM, *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)

    p = nm("submit", str(exp), "-p", "spikey", "-c", "run.py", "--config", '{"CALIB_VERSION": 1' + "0" * 400 + "}")
    assert p.returncode == 2 and "CALIB_VERSION must lie in 1..2147483647" in p.stderr
    assert "Traceback" not in p.stderr
    jobs = [int(nm("submit", str(exp), "-p", "spikey", "-c", "run.py").stdout.strip()) for _ in range(2)]
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        recs = json.loads(nm("list", "--all", "--json").stdout)
        if all(r["status"] in ("finished", "error") for r in recs) and len(recs) == 2:
            break
        time.sleep(0.3)
    job_dir = Path(json.loads(nm("status", str(jobs[0]), "--json").stdout)["job_dir"])
    result = json.loads((job_dir / "result.json").read_text())
    (job_dir / "result.json").write_text(json.dumps({**result, "calib_version": 10**400}))
    for args in (("status", str(jobs[0]), "--json"), ("list", "--all", "--json"), ("status", str(jobs[1]))):
        p = nm(*args)
        assert p.returncode == 0 and "Overflow" not in p.stderr, (args, p.stderr)
    assert nm("remove", str(jobs[1])).returncode == 0


# -- imports -----------------------------------------------------------------------------------------
def _xml(path: Path, body: str, head: str = "") -> Path:
    path.write_text(f'<?xml version="1.0"?>{head}<calibtic wafer="33" hicann="3">{body}</calibtic>')
    return path


GOOD_NEURON = '<neuron id="0"><transformation parameter="V_t" domain_min="1" domain_max="2">1 2 3</transformation></neuron>'


@pytest.mark.parametrize("body,head,fragment", [
    ('<neuron id="-1"/>', "", "neuron id='-1' must be an integer 0..511"),
    ('<neuron id="512"/>', "", "neuron id='512'"),
    ('<neuron id="1' + "0" * 400 + '"/>', "", "must be an integer 0..511"),
    ('<neuron id="x"/>', "", "neuron id='x'"),
    ('<neuron/>', "", "neuron id=None"),
    (GOOD_NEURON + '<blacklist component="denmem">1 two</blacklist>', "", "blacklist 'denmem/h3' must list"),
    (GOOD_NEURON + '<blacklist component="denmem">512</blacklist>', "", "outside 0..511"),
    (GOOD_NEURON + '<blacklist component="../x">1</blacklist>', "", "is not a component name"),
    (GOOD_NEURON + '<blacklist>1</blacklist>', "", "is not a component name"),
    ('<neuron id="0"><transformation parameter="V_t" domain_min="a" domain_max="2">1</transformation></neuron>', "",
     "malformed transformation"),
    ('<neuron id="0"><transformation parameter="V_t" domain_min="1" domain_max="2">' + "1 " * 40
     + '</transformation></neuron>', "", "1 to 16 coefficients"),
    ('<neuron id="0"><transformation domain_min="1" domain_max="2">1</transformation></neuron>', "",
     "no valid parameter name"),
    ("&lol9;", '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol9 "&lol;&lol;&lol;&lol;">]>', "DTDs and entity"),
    ("&xxe;", '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "DTDs and entity"),
    ("<neuron", "", "cannot read"),
])
def test_bad_calibtic_xml_is_one_clear_error(tmp_path, body, head, fragment):
    path = _xml(tmp_path / "w33-h3.xml", body, head)
    with pytest.raises(CalibInputError) as exc:
        import_xml(tmp_path, 33)
    msg = str(exc.value)
    assert str(path) in msg and fragment in msg and "\n" not in msg and "root:" not in msg


def test_xml_import_refuses_links_fifos_and_bad_hicanns(tmp_path, secret):
    (tmp_path / "w33-h3.xml").symlink_to(secret)
    with pytest.raises(CalibInputError, match="symbolic link"):
        import_xml(tmp_path, 33)
    (tmp_path / "w33-h3.xml").unlink()
    os.mkfifo(tmp_path / "w33-h3.xml")
    with pytest.raises(CalibInputError, match="not a regular file"):
        import_xml(tmp_path, 33)
    (tmp_path / "w33-h3.xml").unlink()
    _xml(tmp_path / "w33-h999.xml", GOOD_NEURON)
    with pytest.raises(CalibInputError, match="HICANN 999 does not exist"):
        import_xml(tmp_path, 33)
    (tmp_path / "w33-h999.xml").unlink()
    _xml(tmp_path / "w33-h3.xml", GOOD_NEURON)
    (tmp_path / "w33-blacklist.xml").write_bytes(b'<calibtic><blacklist component="hicann">400</blacklist></calibtic>')
    with pytest.raises(CalibInputError, match="outside 0..383"):
        import_xml(tmp_path, 33)
    (tmp_path / "w33-blacklist.xml").write_bytes(b'<calibtic><blacklist component="hicann">3 \xff</blacklist></calibtic>')
    with pytest.raises(CalibInputError, match="cannot read"):
        import_xml(tmp_path, 33)
    (tmp_path / "w33-blacklist.xml").write_bytes(b'<calibtic><blacklist component="fpga">1 47</blacklist></calibtic>')
    cal = import_xml(tmp_path, 33)
    assert cal.blacklist["fpga"].tolist() == [1, 47] and cal.data["hicann/3/V_t/coeffs"].tolist() == [[1, 2, 3]]


def test_cli_import_of_bad_xml_is_exit_2_and_stores_nothing(tmp_path):
    (tmp_path / "in").mkdir()
    _xml(tmp_path / "in" / "w33-h3.xml", '<neuron id="99999999"/>')
    env = {**os.environ, "NMCLUSTER_CALIB_ROOT": str(tmp_path / "store")}
    p = subprocess.run([*NM, "calib", "import", "wafer33", str(tmp_path / "in")], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "neuron id='99999999' must be an integer 0..511" in p.stderr
    assert not (tmp_path / "store" / "wafer33.h5").exists()


def test_bad_spikey_dat_is_one_clear_error(tmp_path):
    (tmp_path / "calibTauMem_500.dat").write_bytes(b"\xff\xfe garbage\n")
    with pytest.raises(CalibInputError, match="calibTauMem_500.dat"):
        import_spikey(tmp_path, 500)
    (tmp_path / "calibTauMem_500.dat").unlink()
    os.mkfifo(tmp_path / "calibTauMem_500.dat")
    with pytest.raises(CalibInputError, match="not a regular file"):
        import_spikey(tmp_path, 500)

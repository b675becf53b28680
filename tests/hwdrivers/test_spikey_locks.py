"""Exclusive use of a station outside Slurm, under contention between real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from hwtestlib import NOBODY, as_user
from nmcluster.errors import HardwareBusyError
from nmcluster.hwdrivers.spikey.locks import claim_station, station_holder

HOLDER = textwrap.dedent("""
    import sys
    from nmcluster.config import load_config
    from nmcluster.hwdrivers.spikey.locks import claim_station
    claim = claim_station(load_config(), int(sys.argv[1]), owner=sys.argv[2])
    print("held", flush=True)
    sys.stdin.read()          # hold until the test closes our stdin
""")


class Holder:
    """Another process holding a station (the first user at the workstation)."""

    def __init__(self, env, number: int = 500, owner: str = "") -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(number), owner], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "held", self.proc.stderr.read()

    def release(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def site(hw_site, usb):
    usb.add("SPIKEY-0500")
    return hw_site()


def test_second_process_gets_a_clear_error(site):
    holder = Holder(site.env, owner="PID 4242 / job 7 (user alice)")
    try:
        s = site.load()
        with pytest.raises(HardwareBusyError, match=r"^station 500 is in use by PID 4242 / job 7 \(user alice\)$"):
            claim_station(s, 500)
        assert station_holder(s, 500) == "PID 4242 / job 7 (user alice)"
        assert station_holder(s, 501) == ""
        # the interactive local path (the workstation case): an error at once, never a shared device
        t0 = time.monotonic()
        run = site.cli("run", "--local", "-p", "spikey", "--station", "500", "--", "python", "-c", "print('ran')")
        assert run.returncode == 1 and "ran" not in run.stdout
        assert "station 500 is in use by PID 4242 / job 7 (user alice)" in run.stderr
        assert time.monotonic() - t0 < 10
        # another station is free meanwhile
        other = site.cli("run", "--local", "-p", "spikey", "--station", "501", "--", "python", "-c", "print('ran')")
        assert other.returncode == 0 and "ran" in other.stdout
        listing = json.loads(site.cli("stations", "--json", "--no-slurm", check=True).stdout)
        used = {r["station"]: r["in_use_by"] for r in listing["stations"]}
        assert used["station500"] == "PID 4242 / job 7 (user alice)" and used["station501"] == ""
    finally:
        holder.release()
    # the lock died with its holder: free again, no stale state
    assert station_holder(site.load(), 500) == ""
    with claim_station(site.load(), 500) as claim:
        assert claim.held
    run = site.cli("run", "--local", "-p", "spikey", "--station", "500", "--", "python", "-c", "print('ran')")
    assert run.returncode == 0 and "ran" in run.stdout


def test_default_owner_names_the_pid(site):
    holder = Holder(site.env)
    try:
        with pytest.raises(HardwareBusyError) as info:
            claim_station(site.load(), 500)
        assert f"station 500 is in use by PID {holder.proc.pid}" in str(info.value)
    finally:
        holder.release()


def test_blocking_claim_waits_for_the_release(site):
    holder = Holder(site.env, owner="first user")
    messages: list[str] = []
    released_at: list[float] = []

    def release_later() -> None:
        time.sleep(0.5)
        released_at.append(time.monotonic())
        holder.release()

    import threading

    t = threading.Thread(target=release_later)
    t.start()
    try:
        with claim_station(site.load(), 500, blocking=True, announce=messages.append) as claim:
            got = time.monotonic()
            assert claim.held
    finally:
        t.join()
    assert got >= released_at[0]
    assert messages == ["waiting for station500 (in use by first user)"]


def test_queued_local_job_shows_as_user(site, experiment):
    (experiment / "main.py").write_text("import time; time.sleep(30)\n")
    job = int(site.cli("submit", str(experiment), "-p", "spikey", "--station", "500", "-c", "main.py",
                       check=True).stdout)
    try:
        deadline = time.monotonic() + 20
        while site.record(job)["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        holder = station_holder(site.load(), 500)
        assert f"job {job}" in holder
        with pytest.raises(HardwareBusyError, match=f"station 500 is in use by PID \\d+ / job {job}"):
            claim_station(site.load(), 500)
    finally:
        site.cli("cancel", str(job))
        site.wait(job)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user")
def test_shared_lock_dir_across_users(hw_site, usb):
    """Two users on one workstation: with [hardware] lock_dir shared, the second one is told who has it,
    and can take the station once it is free (the first user's lock file is usable by everyone)."""
    usb.add("SPIKEY-0500")
    shared = usb.root / "locks"
    site = hw_site(extra=f'lock_dir = "{shared}"\n')
    s = site.load()
    first = claim_station(s, 500, owner="PID 1 / job 3 (user alice)")
    assert oct(shared.stat().st_mode & 0o7777) == "0o1777"
    assert oct((shared / "station500.lock").stat().st_mode & 0o777) == "0o666"

    def try_claim() -> str:
        try:
            with claim_station(s, 500, owner="bob"):
                return "got it"
        except HardwareBusyError as exc:
            return str(exc)

    assert as_user(try_claim, uid=NOBODY) == "station 500 is in use by PID 1 / job 3 (user alice)"
    first.release()
    assert as_user(try_claim, uid=NOBODY) == "got it"

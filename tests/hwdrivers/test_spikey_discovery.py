"""Spikey discovery through sysfs trees with the real layout: 0, 1 and 3 chips, unknown serials, other USB
devices, device-node permissions (checked by the kernel for an unprivileged process), and the
hardware-or-emulator answer built on them."""

from __future__ import annotations

import os

import pytest

from nmcluster.config import parse_config
from nmcluster.hwdrivers.spikey.access import check_node, udev_rule
from nmcluster.hwdrivers.spikey.discovery import spikey_devices, usb_devices
from nmcluster.hwdrivers.spikey.presence import request_presence
from nmcluster.hwdrivers.spikey.stations import station_status
from nmcluster.partitions import get_partition
from nmcluster.partitions.base import choose_backend

from hwtestlib import NOBODY, as_user, plugdev_gid

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create plugdev-owned nodes and drop privileges")


def site(usb, tmp_path, stations=None, **hw):
    data = {"job_root": str(tmp_path / "jobs"),
            "hardware": {"sysfs_root": str(usb.sys), "dev_root": str(usb.dev), **hw}}
    if stations is not None:
        data["stations"] = stations
    return parse_config(data, env={"HOME": str(tmp_path), "USER": "tester"}, source="test-site.toml")


def test_no_chips(usb, tmp_path):
    usb.add("KBD-1", port="2", vendor="046d", product="c31c")  # a keyboard is not a Spikey
    assert [d.vendor for d in usb_devices(usb.sys)] == ["1d6b", "046d"]  # root hub + keyboard, no interfaces
    assert spikey_devices(usb.sys) == []
    s = site(usb, tmp_path)
    p = request_presence(s, {"STATION": "station500"})
    assert not p and "station500: no Spikey (USB 04b4:1003) is attached to node" in p.reason
    assert all(not r.attached for r in station_status(s))


def test_missing_sysfs_is_no_chip(tmp_path):
    s = parse_config({"job_root": str(tmp_path / "jobs"), "hardware": {"sysfs_root": str(tmp_path / "nothing")}},
                     env={"HOME": str(tmp_path)})
    assert spikey_devices(s.hardware.sysfs_root) == []
    assert not request_presence(s, {"STATION": 500})


def test_one_chip(usb, tmp_path):
    usb.add("SPIKEY-0500", port="1.2")  # behind a hub, like a real station on a hub port
    devs = spikey_devices(usb.sys)
    assert len(devs) == 1
    d = devs[0]
    assert (d.busport, d.serial, d.busnum, d.vidpid) == ("1-1.2", "SPIKEY-0500", 1, "04b4:1003")
    assert d.sysfs_path.endswith("usb1/1-1/1-1.2")
    assert d.node(usb.dev) == usb.dev / "bus/usb/001/002"
    s = site(usb, tmp_path)
    present = request_presence(s, {"STATION": "station500"})
    assert present, present.reason
    assert "station500: Spikey serial SPIKEY-0500 attached" in present.reason and "1-1.2" in present.reason
    absent = request_presence(s, {"STATION": "station501"})
    assert not absent
    assert "station501: no Spikey with serial SPIKEY-0501" in absent.reason
    assert "SPIKEY-0500 (station500)" in absent.reason  # says what *is* attached
    rows = {r.name: r for r in station_status(s)}
    assert rows["station500"].attached and rows["station500"].access.ok
    assert not rows["station501"].attached and rows["station501"].access is None
    # any free station: the one attached here
    anyp = request_presence(s, {})
    assert anyp and "station500" in anyp.reason


def test_three_chips_on_two_buses(usb, tmp_path):
    usb.add("SPIKEY-0500", port="1")
    usb.add("SPIKEY-0502", port="3")
    usb.add("SPIKEY-0600", port="2", bus=2)
    s = site(usb, tmp_path)
    assert sorted(d.serial for d in spikey_devices(usb.sys)) == ["SPIKEY-0500", "SPIKEY-0502", "SPIKEY-0600"]
    rows = {r.name: r for r in station_status(s)}
    assert [n for n, r in rows.items() if r.attached] == ["station500", "station502", "station600"]
    assert rows["station600"].device.node(usb.dev) == usb.dev / "bus/usb/002/002"
    assert rows["station600"].chip_version == 5
    for number in (500, 502, 600):
        assert request_presence(s, {"STATION": number})
    assert not request_presence(s, {"STATION": 501})
    # unplugging one changes the answer at once (nothing cached)
    usb.unplug("1-3")
    assert not request_presence(s, {"STATION": 502})
    assert request_presence(s, {"STATION": 500})


def test_unknown_serials(usb, tmp_path):
    usb.add("B999999", port="1")
    usb.add(None, port="2")  # a chip without a serial string
    s = site(usb, tmp_path)
    rows = station_status(s)
    unknown = [r for r in rows if r.number is None]
    assert sorted(r.serial for r in unknown) == ["(none)", "B999999"]
    assert all("not configured for any station" in r.notes[0] for r in unknown)
    p = request_presence(s, {"STATION": 500})
    assert not p and "B999999 (not configured)" in p.reason and "(no serial) (not configured)" in p.reason


def test_unspecified_serial_takes_the_single_chip(usb, tmp_path):
    usb.add("WHATEVER", port="1")
    s = site(usb, tmp_path, stations=[{"number": 515, "serial": "0"}])
    assert request_presence(s, {"STATION": 515})
    usb.add("OTHER", port="2")  # two chips: "0" is ambiguous, never guessed
    assert not request_presence(s, {"STATION": 515})


def test_missing_device_node(usb, tmp_path):
    usb.add("SPIKEY-0500", node=False)
    s = site(usb, tmp_path)
    p = request_presence(s, {"STATION": 500})
    assert not p and "does not exist" in p.reason


def _check(usb, busport):
    node = usb.node_of(busport)
    return lambda: check_node(node).to_dict()


def test_permissions_without_udev_rule(usb, tmp_path):
    """Out of the box udev makes the node root:root 0664: an ordinary user cannot open it read-write."""
    usb.add("SPIKEY-0500", mode=0o664, group=0 if os.geteuid() == 0 else None)
    if os.geteuid() != 0:
        usb.node_of("1-1").chmod(0o444)
    result = as_user(_check(usb, "1-1"))
    assert result["ok"] is False
    msg = result["message"]
    assert "udev rule is missing" in msg and udev_rule() in msg and "plugdev" in msg
    assert "nmcluster admin udev-rule" in msg


@root_only
@pytest.mark.skipif(plugdev_gid() is None, reason="no plugdev group on this machine")
def test_permissions_not_in_plugdev_and_in_plugdev(usb, tmp_path):
    usb.add("SPIKEY-0500", mode=0o660, group="plugdev")
    outside = as_user(_check(usb, "1-1"))
    assert outside["ok"] is False
    assert "is not in group plugdev" in outside["message"] and "usermod -aG plugdev" in outside["message"]
    inside = as_user(_check(usb, "1-1"), groups=(plugdev_gid(),))
    assert inside["ok"] is True and inside["group"] == "plugdev" and inside["mode"] == "-rw-rw----"


@root_only
@pytest.mark.skipif(plugdev_gid() is None, reason="no plugdev group on this machine")
def test_wrong_permissions_fall_back_with_the_reason(usb, tmp_path):
    """The partition's answer for a user outside plugdev: emulator, and the log says why and what to do;
    --hardware turns it into an error with the same reason."""
    usb.add("SPIKEY-0500", mode=0o660, group="plugdev")
    s = site(usb, tmp_path)
    part = get_partition("spikey", s)
    request = part.validate({"STATION": "station500"})

    def decide() -> dict:
        from nmcluster.errors import HardwareUnavailableError

        present = part.hardware_present(request, {})
        choice = choose_backend(request, present, "auto", importable=lambda name: True)
        try:
            choose_backend(request, present, "hardware", importable=lambda name: True)
            hard = ""
        except HardwareUnavailableError as exc:
            hard = str(exc)
        return {"present": bool(present), "reason": choice.reason, "emulated": choice.emulated, "hard": hard}

    out = as_user(decide)
    assert out["present"] is False and out["emulated"] is True
    assert "station500: Spikey serial SPIKEY-0500 is attached" in out["reason"]
    assert "not in group plugdev" in out["reason"] and "using emulator" in out["reason"]
    assert "--hardware was given" in out["hard"] and "plugdev" in out["hard"]
    ok = as_user(decide, groups=(plugdev_gid(),))
    assert ok["present"] is True and ok["emulated"] is False


@root_only
def test_station_status_reports_permissions_per_user(usb, hw_site):
    """What ``nmcluster stations`` shows depends on who asks: the same node is fine for root, not for nobody."""
    usb.add("SPIKEY-0500", mode=0o664, group=0)
    s = hw_site().load()

    def listing() -> list:
        return [r.to_dict() for r in station_status(s)]

    rows = {r["station"]: r for r in as_user(listing, uid=NOBODY)}
    assert rows["station500"]["attached"] is True and rows["station500"]["permissions_ok"] is False
    rows_root = {r["station"]: r for r in listing()}
    assert rows_root["station500"]["permissions_ok"] is True  # root may open anything

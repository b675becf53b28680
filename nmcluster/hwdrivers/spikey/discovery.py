"""Find Spikey chips attached to this node through the kernel's sysfs, the way ``lsusb`` does.

Every USB device the kernel knows appears as ``<sysfs_root>/bus/usb/devices/<busport>`` (e.g. ``1-1.2``,
a symlink into ``/sys/devices/...``) with one-line attribute files ``idVendor``, ``idProduct``, ``serial``
(absent on devices without a serial string), ``busnum`` and ``devnum``; interfaces (``1-1.2:1.0``) and
root hubs (``usb1``) sit beside them.  The usbfs device node that libusb opens is
``<dev_root>/bus/usb/<busnum:03d>/<devnum:03d>``.

A Spikey station's USB interface is VID:PID ``04b4:1003``.  Reading sysfs needs no privileges and no
libusb, so discovery works for any user and on nodes where the chip software is not installed; whether
the device node may be opened is :mod:`.access`'s question.  Both roots are parameters (from the site
config's ``[hardware]`` table) so a test can hand in a directory tree with the real layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SPIKEY_VENDOR = "04b4"
SPIKEY_PRODUCT = "1003"


@dataclass(frozen=True)
class UsbDevice:
    """One USB device as sysfs describes it."""

    busport: str  # sysfs name, e.g. "1-1.2" (bus 1, port path 1.2): stable while the cable stays put
    vendor: str
    product: str
    serial: str
    busnum: int
    devnum: int
    sysfs_path: str
    manufacturer: str = ""
    product_name: str = ""

    @property
    def vidpid(self) -> str:
        return f"{self.vendor}:{self.product}"

    def node(self, dev_root: Path | str = "/dev") -> Path:
        """The usbfs device node libusb opens (``/dev/bus/usb/001/005``)."""
        return Path(dev_root) / "bus" / "usb" / f"{self.busnum:03d}" / f"{self.devnum:03d}"

    def to_dict(self, dev_root: Path | str = "/dev") -> dict[str, object]:
        return {"busport": self.busport, "vidpid": self.vidpid, "serial": self.serial, "busnum": self.busnum,
                "devnum": self.devnum, "node": str(self.node(dev_root)), "sysfs_path": self.sysfs_path,
                "manufacturer": self.manufacturer, "product": self.product_name}


def _attr(path: Path, name: str) -> str:
    try:
        return (path / name).read_text(errors="replace").strip()
    except OSError:
        return ""


def _is_device_entry(name: str) -> bool:
    """``1-1.2`` is a device; ``1-1.2:1.0`` an interface, ``usb1`` a root hub (kept: it has attributes
    too, but a root hub is never 04b4:1003, so the caller's filter drops it)."""
    return ":" not in name


def usb_devices(sysfs_root: Path | str = "/sys") -> list[UsbDevice]:
    """Every USB device under ``<sysfs_root>/bus/usb/devices``, sorted by bus and device number.

    A missing directory (no USB subsystem, e.g. in a container) is an empty list, not an error: "no
    chip here" is the answer the hardware-or-emulator decision needs.
    """
    base = Path(sysfs_root) / "bus" / "usb" / "devices"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    found: list[UsbDevice] = []
    for name in names:
        if not _is_device_entry(name):
            continue
        path = base / name
        vendor = _attr(path, "idVendor").lower()
        product = _attr(path, "idProduct").lower()
        busnum, devnum = _attr(path, "busnum"), _attr(path, "devnum")
        if not vendor or not product or not busnum.isdigit() or not devnum.isdigit():
            continue  # unplugged while we looked, or not a device directory
        try:
            real = str(path.resolve())
        except OSError:
            real = str(path)
        found.append(UsbDevice(busport=name, vendor=vendor, product=product, serial=_attr(path, "serial"),
                               busnum=int(busnum), devnum=int(devnum), sysfs_path=real,
                               manufacturer=_attr(path, "manufacturer"), product_name=_attr(path, "product")))
    found.sort(key=lambda d: (d.busnum, d.devnum))
    return found


def spikey_devices(sysfs_root: Path | str = "/sys") -> list[UsbDevice]:
    """The attached Spikey chips (VID:PID 04b4:1003)."""
    return [d for d in usb_devices(sysfs_root) if d.vendor == SPIKEY_VENDOR and d.product == SPIKEY_PRODUCT]


def unspecified_serial(serial: str) -> bool:
    """Old station files carry ``0`` (or nothing) as serial: "whichever single chip is attached"."""
    return serial.strip() in ("", "0")


def match_serial(serial: str, devices: list[UsbDevice]) -> UsbDevice | None:
    """The device with this USB serial; for an unspecified serial the only attached chip, if exactly one."""
    if unspecified_serial(serial):
        return devices[0] if len(devices) == 1 else None
    for dev in devices:
        if dev.serial == serial.strip():
            return dev
    return None

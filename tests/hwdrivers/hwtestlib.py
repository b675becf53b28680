"""Helpers for the driver-layer tests (imported by conftest.py and the tests): a sysfs/dev tree with the
kernel's real layout, running code as an unprivileged user, and a site config + CLI runner."""

from __future__ import annotations

import grp
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any



NMCLUSTER = [sys.executable, "-m", "nmcluster.cli.main"]
NOBODY = 65534
PCI = "devices/pci0000:00/0000:00:14.0"


def plugdev_gid() -> int | None:
    try:
        return grp.getgrnam("plugdev").gr_gid
    except KeyError:
        return None


class UsbTree:
    """A ``/sys`` + ``/dev`` pair with USB devices laid out as Linux lays them out."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sys = root / "sys"
        self.dev = root / "dev"
        (self.sys / "bus" / "usb" / "devices").mkdir(parents=True)
        (self.dev / "bus" / "usb").mkdir(parents=True)
        self._next_devnum: dict[int, int] = {}
        self._hubs: set[int] = set()

    def _write_attrs(self, path: Path, attrs: dict[str, Any]) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for name, value in attrs.items():
            (path / name).write_text(f"{value}\n")

    def _link(self, name: str, target: Path) -> None:
        link = self.sys / "bus" / "usb" / "devices" / name
        link.symlink_to(os.path.relpath(target, link.parent))

    def _root_hub(self, bus: int) -> Path:
        hub = self.sys / PCI / f"usb{bus}"
        if bus not in self._hubs:
            self._hubs.add(bus)
            self._next_devnum[bus] = 2
            self._write_attrs(hub, {"idVendor": "1d6b", "idProduct": "0002", "busnum": bus, "devnum": 1,
                                    "devpath": 0, "manufacturer": "Linux xhci-hcd", "product": "xHCI Host Controller",
                                    "serial": "0000:00:14.0", "bDeviceClass": "09"})
            self._write_attrs(hub / f"{bus}-0:1.0", {"bInterfaceClass": "09", "bInterfaceNumber": "00"})
            self._link(f"usb{bus}", hub)
            self._link(f"{bus}-0:1.0", hub / f"{bus}-0:1.0")
            self._node(bus, 1, 0o664, 0)
        return hub

    def _node(self, bus: int, devnum: int, mode: int, gid: int | None) -> Path:
        node = self.dev / "bus" / "usb" / f"{bus:03d}" / f"{devnum:03d}"
        node.parent.mkdir(parents=True, exist_ok=True)
        node.parent.chmod(0o755)
        node.write_bytes(b"")
        if gid is not None and os.geteuid() == 0:
            os.chown(node, 0, gid)
        node.chmod(mode)
        return node

    def add(self, serial: str | None, port: str = "1", bus: int = 1, vendor: str = "04b4", product: str = "1003",
            mode: int = 0o660, group: str | int | None = "plugdev", node: bool = True) -> Path:
        """Plug a device into ``<bus>-<port>`` (``port`` like ``"1"`` or ``"1.2"`` behind a hub)."""
        parent = self._root_hub(bus)
        parts = port.split(".")
        for i in range(1, len(parts)):  # intermediate hubs must exist as directories
            parent = parent / f"{bus}-{'.'.join(parts[:i])}"
        busport = f"{bus}-{port}"
        path = parent / busport
        devnum = self._next_devnum[bus]
        self._next_devnum[bus] += 1
        attrs: dict[str, Any] = {"idVendor": vendor, "idProduct": product, "busnum": bus, "devnum": devnum,
                                 "devpath": port, "manufacturer": "Cypress", "product": "Spikey USB",
                                 "bcdDevice": "0100", "speed": "480"}
        if serial is not None:
            attrs["serial"] = serial
        self._write_attrs(path, attrs)
        (path / "uevent").write_text(f"MAJOR=189\nMINOR={(bus - 1) * 128 + devnum - 1}\n"
                                     f"DEVNAME=bus/usb/{bus:03d}/{devnum:03d}\nDEVTYPE=usb_device\n")
        self._write_attrs(path / f"{busport}:1.0", {"bInterfaceClass": "ff", "bInterfaceNumber": "00"})
        self._link(busport, path)
        self._link(f"{busport}:1.0", path / f"{busport}:1.0")
        if node:
            gid = group if isinstance(group, int) or group is None else grp.getgrnam(group).gr_gid
            self._node(bus, devnum, mode, gid)
        return path

    def node_of(self, busport: str) -> Path:
        base = self.sys / "bus" / "usb" / "devices" / busport
        bus, dev = int((base / "busnum").read_text()), int((base / "devnum").read_text())
        return self.dev / "bus" / "usb" / f"{bus:03d}" / f"{dev:03d}"

    def unplug(self, busport: str) -> None:
        node = self.node_of(busport)
        link = self.sys / "bus" / "usb" / "devices" / busport
        target = link.resolve()
        link.unlink()
        (self.sys / "bus" / "usb" / "devices" / f"{busport}:1.0").unlink()
        shutil.rmtree(target)
        node.unlink(missing_ok=True)


def as_user(fn: Callable[[], Any], uid: int = NOBODY, gid: int = NOBODY, groups: tuple[int, ...] = ()) -> Any:
    """Run ``fn`` in a forked child with the given identity (when we are root; else as ourselves) and
    return its JSON-able result.  The kernel, not our code, decides what that process may open.

    Fork without exec: the interpreter and the modules are already loaded, so the child needs no access
    to the Python installation (which may sit in root's home)."""
    if os.geteuid() != 0:
        return fn()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            payload = json.dumps({"ok": fn()})
        except BaseException as exc:  # noqa: BLE001
            payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            code = 1
        os.write(w, payload.encode())
        os.close(w)
        os._exit(code)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b'{"error": "child died"}')
    if "error" in result:
        raise AssertionError(f"as_user child failed: {result['error']}")
    return result["ok"]


class HwSite:
    """A site config using a :class:`UsbTree`, and the real CLI against it."""

    def __init__(self, root: Path, usb: UsbTree | None, extra: str = "", executor: str = "local",
                 stations: str | None = None) -> None:
        self.root = root
        self.job_root = root / "jobs"
        self.path = root / "site.toml"
        self.usb = usb
        hardware = "[hardware]\n"  # ``extra`` continues this table until it opens another one
        if usb is not None:
            hardware += f'sysfs_root = "{usb.sys}"\ndev_root = "{usb.dev}"\n'
        self.write(f'job_root = "{self.job_root}"\nexecutor = "{executor}"\n{stations or ""}\n{hardware}{extra}')
        drop = ("MY_STAGE1_STATION", "NMCLUSTER_PARTITION", "NMCLUSTER_WAFER")
        if executor == "local":
            drop += ("SLURM_CONF",)
        self.env = {k: v for k, v in os.environ.items() if k not in drop}
        self.env.update(NMCLUSTER_CONFIG=str(self.path), NMCLUSTER_QUIET="1")

    def write(self, text: str) -> None:
        self.path.write_text(text)

    def load(self):
        from nmcluster.config import load_config

        return load_config(self.path, env=self.env)

    def cli(self, *args: str, check: bool = False, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([*NMCLUSTER, *args], capture_output=True, text=True, timeout=timeout,
                              env=env or self.env, cwd=self.root)
        if check and proc.returncode != 0:
            raise AssertionError(f"nmcluster {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def record(self, job: int) -> dict:
        return json.loads(self.cli("status", str(job), "--json", check=True).stdout)

    def wait(self, job: int, timeout: float = 60) -> dict:
        import time

        deadline = time.monotonic() + timeout
        rec: dict = {}
        while time.monotonic() < deadline:
            rec = self.record(job)
            if rec["status"] in ("finished", "error"):
                return rec
            time.sleep(0.1)
        raise AssertionError(f"job {job} did not finish in {timeout} s: {rec}")

    def records(self) -> list[dict]:
        return json.loads(self.cli("list", "--all", "--json", check=True).stdout)

    def job_dirs(self) -> list[str]:
        if not self.job_root.exists():
            return []
        return sorted(p.name for p in self.job_root.iterdir()
                      if not p.name.startswith("jobs.sqlite") and p.name != "locks")



"""Fixtures for the driver-layer tests.

``usb`` builds a sysfs tree with the kernel's real layout (the only fake these tests use): device
directories under ``sys/devices/pci0000:00/0000:00:14.0/usb<B>/...`` holding the attribute files, symlinks
to them from ``sys/bus/usb/devices/<busport>``, interfaces and the root hub beside them, and the usbfs
device nodes ``dev/bus/usb/BBB/DDD`` with real owners and modes.  It lives in a world-traversable temp
directory so a test can check permissions from an unprivileged process (:func:`as_user`).

``hw_site`` writes a site config (TOML) pointing at that tree and returns a helper that runs the real
CLI against it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hwtestlib import HwSite, UsbTree


@pytest.fixture
def usb():
    root = Path(tempfile.mkdtemp(prefix="nmcluster-usb-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield UsbTree(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def hw_site(tmp_path, usb) -> Callable[..., HwSite]:
    def make(extra: str = "", executor: str = "local", stations: str | None = None, tree: bool = True) -> HwSite:
        return HwSite(tmp_path, usb if tree else None, extra=extra, executor=executor, stations=stations)
    return make


@pytest.fixture
def experiment(tmp_path) -> Path:
    """A job folder whose main.py records its argv and environment in result.json."""
    d = tmp_path / "exp"
    d.mkdir()
    (d / "main.py").write_text(
        "import json, os, sys\n"
        "json.dump({'argv': sys.argv[1:], 'backend': os.environ.get('NMCLUSTER_BACKEND'),\n"
        "           'emulated': os.environ.get('NMCLUSTER_EMULATED'),\n"
        "           'station': os.environ.get('MY_STAGE1_STATION'),\n"
        "           'defects': os.environ.get('SLURM_DEFECTS_PATH')}, open('result.json', 'w'))\n"
        "print('hello from', sys.argv[1:])\n")
    return d

"""Hardware or emulator: the decision the runner takes on the node where the job runs, with the driver's
reason, recorded in the job record (backend, emulated, backend_reason), the log and ``status``."""

from __future__ import annotations

import json
import socket

import pytest

from nmcluster.config import parse_config
from nmcluster.hwdrivers.wafer.presence import fpga_route, wafer_presence

NODE = socket.gethostname().split(".", 1)[0]


def submit(site, experiment, *args: str) -> dict:
    job = int(site.cli("submit", str(experiment), *args, check=True).stdout)
    rec = site.wait(job)
    rec["log"] = site.cli("log", str(job), check=True).stdout
    rec["status_text"] = site.cli("status", str(job), check=True).stdout
    return rec


def test_station_attached_chooses_hardware(usb, hw_site, experiment):
    usb.add("SPIKEY-0500", port="4")
    site = hw_site()
    # the chip software is not installed here, so the command does not use {system}: the decision is the point
    rec = submit(site, experiment, "-p", "spikey", "--station", "500", "-c", "main.py")
    assert rec["status"] == "finished", rec["log"]
    assert rec["backend"] == "hardware.spikey" and rec["emulated"] is False
    assert f"station500: Spikey serial SPIKEY-0500 attached to node {NODE} at USB 1-4" in rec["backend_reason"]
    assert rec["backend_reason"] in rec["log"]
    assert "hardware.spikey" in rec["status_text"]
    out = site.root / "r"
    site.cli("results", str(rec["id"]), "-o", str(out), check=True)
    result = json.loads((out / "result.json").read_text())
    assert result["backend"] == "hardware.spikey" and result["emulated"] == "0" and result["station"] == "station500"


def test_station_absent_falls_back_with_reason(usb, hw_site, experiment):
    usb.add("SPIKEY-0501", port="1")
    site = hw_site()
    rec = submit(site, experiment, "-p", "spikey", "--station", "500", "-c", "main.py {system}")
    assert rec["status"] == "finished", rec["log"]
    assert rec["emulated"] is True and rec["backend"] in ("nmcluster.spikey", "nest")
    reason = rec["backend_reason"]
    assert f"station500: no Spikey with serial SPIKEY-0500 on node {NODE}" in reason
    assert "SPIKEY-0501 (station501)" in reason and f"using emulator {rec['backend']}" in reason
    assert reason in rec["log"] and reason in rec["status_text"]


def test_emulate_forces_the_emulator(usb, hw_site, experiment):
    usb.add("SPIKEY-0500")
    site = hw_site()
    rec = submit(site, experiment, "-p", "spikey", "--station", "500", "--emulate", "-c", "main.py {system}")
    assert rec["emulated"] is True and "emulation forced" in rec["backend_reason"]


def test_hardware_flag_makes_absence_an_error(usb, hw_site, experiment):
    site = hw_site()  # no chip at all
    rec = submit(site, experiment, "-p", "spikey", "--station", "500", "--hardware", "-c", "main.py {system}")
    assert rec["status"] == "error"
    assert "no Spikey (USB 04b4:1003) is attached" in rec["reason"] and "--hardware was given" in rec["reason"]
    run = site.cli("run", "--local", "-p", "spikey", "--station", "500", "--hardware", "--", "python", "-c", "1")
    assert run.returncode == 1 and "--hardware was given" in run.stderr and "Traceback" not in run.stderr


def test_run_uses_the_same_decision(usb, hw_site):
    usb.add("SPIKEY-0500")
    site = hw_site()
    code = "import os; print(os.environ['NMCLUSTER_BACKEND'], os.environ['NMCLUSTER_EMULATED'])"
    hw = site.cli("run", "--local", "-p", "spikey", "--station", "500", "--", "python", "-c", code)
    assert hw.returncode == 0 and hw.stdout.split() == ["hardware.spikey", "0"]
    emu = site.cli("run", "--local", "-p", "spikey", "--station", "501", "--", "python", "-c", code)
    assert emu.returncode == 0 and emu.stdout.split()[1] == "1"


def test_wafer_and_spinnaker_say_why(hw_site, experiment):
    site = hw_site()
    wafer = submit(site, experiment, "-p", "wafer", "--wafer", "33", "--hicann", "367", "-c", "main.py {system}")
    assert wafer["emulated"] is True
    assert "wafer 33: no wafer hardware at this site" in wafer["backend_reason"]
    spinn = submit(site, experiment, "-p", "spinnaker", "--boards", "1", "-c", "main.py {system}")
    assert spinn["emulated"] is True and "no SpiNNaker hardware at this site" in spinn["backend_reason"]


def test_wafer_hardware_needs_the_fpga_network(tmp_path):
    site = parse_config({"job_root": str(tmp_path), "wafers": [{"id": 33, "hardware": True}, {"id": 37}]},
                        env={"HOME": str(tmp_path)})
    p = wafer_presence(site, 33, [34])
    assert not p and "FPGA 34 is not reachable from node" in p.reason and "192.168.33.75" in p.reason
    assert not wafer_presence(site, 37, [0]) and "no wafer hardware" in wafer_presence(site, 37, [0]).reason
    ok, why = fpga_route("127.0.0.1")  # an address on a local network: routable without a gateway
    assert ok, why


@pytest.mark.parametrize("mode", ["auto", "hardware"])
def test_ess_always_emulates(hw_site, experiment, mode):
    site = hw_site()
    args = ["-p", "ess", "--wafer", "33", "-c", "main.py {system}"]
    if mode == "hardware":
        sub = site.cli("submit", str(experiment), *args, "--hardware")
        assert sub.returncode == 2 or site.wait(int(sub.stdout))["status"] == "error"
    else:
        rec = submit(site, experiment, *args)
        assert rec["emulated"] is True and "always emulates" in rec["backend_reason"]

"""Station registry: importing stationNNN.cfg files and workstations.xml, the site config seam, and the
``nmcluster stations`` / ``nmcluster stations import`` / ``nmcluster admin udev-rule`` commands."""

from __future__ import annotations

import json
import tomllib

import pytest

from nmcluster.config import Station, parse_config
from nmcluster.errors import ConfigError
from nmcluster.hwdrivers.spikey.stations import parse_scontrol_jobs
from nmcluster.stationfiles import import_stations, parse_station_cfg, parse_workstations_xml, to_toml

XML = """<?xml version="1.0" encoding="UTF-8"?>
<workstations>
  <!-- the site's Spikey workstations -->
  <station number="500" host="spikey-ws01">
    <serial>B201335</serial>
    <board_version>2</board_version>
    <chip_version>5</chip_version>
    <fpga_input_delay>35</fpga_input_delay>
  </station>
  <station name="station600" serial="B201400" chip_version="4" board_version="1" host="spikey-ws02"/>
</workstations>
"""


def write_cfgs(d, files: dict[str, str]):
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_station_cfg_four_lines(tmp_path):
    cfg = write_cfgs(tmp_path / "cfg", {"station515.cfg": "B201335\n2\n5\n35\n"})
    st = parse_station_cfg(cfg / "station515.cfg")
    assert st == Station(number=515, serial="B201335", board_version=2, chip_version=5, fpga_input_delay=35)
    old = write_cfgs(tmp_path / "old", {"station501.cfg": "0\n1\n5\n35\n\n"})  # trailing blank line is fine
    assert parse_station_cfg(old / "station501.cfg").serial == "0"


@pytest.mark.parametrize("name,text,message", [
    ("station500.cfg", "B1\n2\n5\n", "expected 4 lines"),
    ("station500.cfg", "B1\n2\nfive\n35\n", "station500.cfg:3: chip version must be an integer"),
    ("station500.cfg", "B1\n2\n5\n35\nextra\n", "found 5"),
    ("stationX.cfg", "B1\n2\n5\n35\n", "named stationNNN.cfg"),
])
def test_station_cfg_errors(tmp_path, name, text, message):
    d = write_cfgs(tmp_path / "cfg", {name: text})
    with pytest.raises(ConfigError, match=message):
        parse_station_cfg(d / name)


def test_station_dir_ignores_other_files(tmp_path):
    d = write_cfgs(tmp_path / "cfg", {"station500.cfg": "A\n2\n4\n1\n", "station600.cfg": "B\n2\n5\n2\n",
                                      "README": "not a station", "param.dat": "0 1 2"})
    assert [s.number for s in import_stations(d)] == [500, 600]


def test_workstations_xml(tmp_path):
    (tmp_path / "workstations.xml").write_text(XML)
    stations = parse_workstations_xml(tmp_path / "workstations.xml")
    assert stations == [
        Station(number=500, serial="B201335", board_version=2, chip_version=5, fpga_input_delay=35, host="spikey-ws01"),
        Station(number=600, serial="B201400", board_version=1, chip_version=4, fpga_input_delay=0, host="spikey-ws02"),
    ]


@pytest.mark.parametrize("body,message", [
    ("<station number='500'><colour>red</colour></station>", "unknown element <colour>"),
    ("<station number='500' colour='red'/>", "unknown attribute 'colour'"),
    ("<station/>", "needs number="),
    ("<station number='500'/><station name='station500'/>", "listed twice"),
    ("<station number='500'><chip_version>x</chip_version></station>", "chip_version must be an integer"),
    ("<machine/>", "only <station> elements"),
    ("<station number='500'>", "not well-formed"),
])
def test_workstations_xml_errors(tmp_path, body, message):
    (tmp_path / "w.xml").write_text(f"<workstations>{body}</workstations>")
    with pytest.raises(ConfigError, match=message):
        parse_workstations_xml(tmp_path / "w.xml")


def test_cfg_and_xml_must_agree(tmp_path):
    d = write_cfgs(tmp_path / "cfg", {"station500.cfg": "B201335\n2\n5\n35\n"})
    (tmp_path / "w.xml").write_text(XML)
    merged = import_stations(d, tmp_path / "w.xml")
    assert merged[0].host == "spikey-ws01"  # the XML adds where it is attached
    write_cfgs(d, {"station500.cfg": "B999999\n2\n5\n35\n"})
    with pytest.raises(ConfigError, match="disagree"):
        import_stations(d, tmp_path / "w.xml")


def test_site_config_imports_and_overrides(tmp_path):
    d = write_cfgs(tmp_path / "cfg", {"station500.cfg": "B201335\n2\n5\n35\n", "station501.cfg": "B201336\n2\n5\n30\n"})
    data = {"job_root": str(tmp_path / "jobs"), "hardware": {"station_config_dir": str(d)},
            "stations": [{"number": 501, "serial": "NEW-SERIAL", "host": "ws9"}, {"number": 700, "serial": "X"}]}
    site = parse_config(data, env={"HOME": str(tmp_path)})
    assert sorted(site.stations) == [500, 501, 700]  # imported + explicit; no built-in defaults
    assert site.stations[500].serial == "B201335" and site.stations[500].fpga_input_delay == 35
    assert site.stations[501].serial == "NEW-SERIAL" and site.stations[501].host == "ws9"
    with pytest.raises(ConfigError, match="station config directory .* does not exist"):
        parse_config({"hardware": {"station_config_dir": str(tmp_path / "missing")}}, env={"HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"hardware": {"sysfs": "/sys"}}, env={"HOME": str(tmp_path)})


def test_to_toml_round_trip(tmp_path):
    (tmp_path / "w.xml").write_text(XML)
    stations = parse_workstations_xml(tmp_path / "w.xml")
    text = to_toml(stations)
    site = parse_config(tomllib.loads(text), env={"HOME": str(tmp_path)})
    assert list(site.stations.values()) == stations


def test_import_cli(hw_site, tmp_path):
    site = hw_site()
    d = write_cfgs(tmp_path / "cfg", {"station500.cfg": "B201335\n2\n5\n35\n"})
    (tmp_path / "w.xml").write_text(XML)
    out = site.cli("stations", "import", "--dir", str(d), "--xml", str(tmp_path / "w.xml"), check=True).stdout
    assert tomllib.loads(out)["stations"][1] == {"number": 600, "serial": "B201400", "board_version": 1,
                                                 "chip_version": 4, "fpga_input_delay": 0, "host": "spikey-ws02"}
    bad = site.cli("stations", "import")
    assert bad.returncode == 2 and "--dir" in bad.stderr
    broken = site.cli("stations", "import", "--xml", str(tmp_path / "nope.xml"))
    assert broken.returncode == 2 and "cannot read" in broken.stderr and "Traceback" not in broken.stderr


def test_stations_command(usb, hw_site):
    usb.add("SPIKEY-0500", port="1")
    usb.add("SPIKEY-0600", port="2")
    usb.add("B777777", port="3")  # attached, but no station has that serial
    site = hw_site()
    out = json.loads(site.cli("stations", "--json", "--no-slurm", check=True).stdout)
    rows = {r["station"] if r["number"] else r["serial"]: r for r in out["stations"]}
    assert set(rows) == {"station500", "station501", "station502", "station600", "B777777"}
    assert rows["station500"]["attached"] and rows["station500"]["permissions_ok"] is True
    assert rows["station500"]["device"]["node"].endswith("/bus/usb/001/002")
    assert rows["station600"]["chip_version"] == 5 and rows["station600"]["calibration"] == "-"
    assert rows["station501"]["attached"] is False and rows["station501"]["permissions_ok"] is None
    assert rows["B777777"]["number"] is None and "not configured" in rows["B777777"]["notes"][0]
    assert all(r["in_use_by"] == "" for r in out["stations"])
    table = site.cli("stations", "--no-slurm", check=True)
    for text in ("station500", "SPIKEY-0600", "yes (USB 1-1)", "ok", "station501"):
        assert text in table.stdout
    assert "B777777" in table.stderr and "not configured" in table.stderr


def test_udev_rule_command(hw_site):
    site = hw_site()
    out = site.cli("admin", "udev-rule", check=True).stdout
    rule = 'SUBSYSTEM=="usb", ATTR{idVendor}=="04b4", ATTR{idProduct}=="1003", GROUP="plugdev", MODE="0660"'
    assert out.splitlines()[-1] == rule and "usermod -aG plugdev" in out
    only = site.cli("admin", "udev-rule", "--rule-only", "--group", "spikey", check=True).stdout
    assert only.strip() == rule.replace("plugdev", "spikey")
    assert site.cli("admin", "udev-rule", "--mode", "rw").returncode == 2


def test_parse_scontrol_detail():
    """Lines as Slurm 22.05 prints them: JOB_GRES lists every type, with 0 for those not allocated."""
    text = (
        "JobId=384 JobName=wrap UserId=alice(1000) GroupId=alice(1000) JobState=RUNNING Reason=None "
        "Partition=spikey NodeList=vm TRES=cpu=1,node=1,billing=1 "
        "JOB_GRES=station:s500:0,station:s501:1,station:s502:0,station:s600:0   Nodes=vm CPU_IDs=0 Mem=0 "
        "GRES=station:s501(CNT:1) MinCPUsNode=1 TresPerNode=gres:station:1\n"
        "JobId=385 JobName=b UserId=bob(1001) JobState=PENDING TresPerNode=gres:station:s500:1\n"
        "JobId=386 JobName=c UserId=carol(1002) JobState=RUNNING JOB_GRES=station:s600:1 "
        "Nodes=vm CPU_IDs=1 Mem=0 GRES=station:s600:1(IDX:0) TresPerNode=gres:station:s600:1\n"
        "JobId=387 JobName=d UserId=dave(1003) JobState=RUNNING TresPerNode=gres:station:s502:1\n"
        "JobId=388 JobName=e UserId=erin(1004) JobState=RUNNING Licenses=W33F34 TresPerNode=(null)\n"
    )
    assert parse_scontrol_jobs(text) == {501: "Slurm job 384 (alice)", 600: "Slurm job 386 (carol)",
                                         502: "Slurm job 387 (dave)"}
    ours = ("JobId=390 JobName=nmc-12 UserId=fay(1005) JobState=RUNNING JOB_GRES=station:s503:1\n"
            "JobId=391 ArrayJobId=391 ArrayTaskId=2 JobName=nmc-20-24 UserId=fay(1005) JobState=RUNNING "
            "JOB_GRES=station:s504:1\n")
    assert parse_scontrol_jobs(ours) == {503: "Slurm job 390 (fay, nmcluster job 12)",
                                         504: "Slurm job 391 (fay, nmcluster job 22)"}

"""Wafer defects: the documented file format, rejection of requests touching unavailable FPGAs/HICANNs
(before anything is queued, exit code 2 through the CLI), whole-wafer requests without them, and
slurm-conf without their licences."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from nmcluster.config import parse_config
from nmcluster.errors import ConfigError, HardwareConfigError
from nmcluster.hwdrivers.slurmconf import render
from nmcluster.hwdrivers.wafer import geometry
from nmcluster.hwdrivers.wafer.defects import load_defects
from nmcluster.hwdrivers.wafer.licenses import available_fpgas
from nmcluster.partitions import get_partition

DEFECTS_33 = """\
# defects of wafer 33
wafer = 33
unavailable_fpgas = [3]
unavailable_hicanns = [13, 300]

[hicanns.297]
denmems = [0, 1, 45]
synapse_drivers = [3, 100]
note = "denmem 45 failed calibration"
"""


@pytest.fixture
def defects_dir(tmp_path):
    d = tmp_path / "defects"
    d.mkdir()
    (d / "wafer33.toml").write_text(DEFECTS_33)
    (d / "wafer37.json").write_text(json.dumps({"unavailable_fpgas": [0, 1]}))
    return d


@pytest.fixture
def site(tmp_path, defects_dir):
    return parse_config({"job_root": str(tmp_path / "jobs"), "hardware": {"defects_dir": str(defects_dir)}},
                        env={"HOME": str(tmp_path)}, source="test")


def test_file_format(site, defects_dir):
    d = load_defects(site, 33)
    assert d.unavailable_fpgas == {3} and d.unavailable_hicanns == {13, 300}
    assert d.hicanns[297].denmems == {0, 1, 45} and d.hicanns[297].synapse_drivers == {3, 100}
    assert d.source == str(defects_dir / "wafer33.toml")
    assert d.blocked_hicanns() == {13, 300} | set(geometry.hicanns_of_fpga(3))
    assert load_defects(site, 37).unavailable_fpgas == {0, 1}  # JSON works the same
    assert available_fpgas(site, 37) == tuple(range(2, 48))


@pytest.mark.parametrize("text,message", [
    ("unavailable_fpga = [3]\n", "unknown key"),
    ("unavailable_fpgas = [48]\n", "48 is out of range 0..47"),
    ("unavailable_hicanns = [384]\n", "out of range 0..383"),
    ("wafer = 37\n", "says wafer 37"),
    ("[hicanns.297]\ndenmems = [512]\n", "out of range 0..511"),
    ("[hicanns.297]\nsynapse_drivers = [224]\n", "out of range 0..223"),
    ("[hicanns.297]\nneurons = [1]\n", "unknown key"),
    ("[hicanns.x]\ndenmems = [1]\n", "HICANN enum"),
    ("unavailable_fpgas = 3\n", "list of integers"),
    ("unavailable_fpgas = [\n", "malformed"),
])
def test_bad_files(site, defects_dir, text, message):
    (defects_dir / "wafer33.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_defects(site, 33)


def test_two_files_for_one_wafer(site, defects_dir):
    (defects_dir / "wafer33.json").write_text("{}")
    with pytest.raises(ConfigError, match="two defects files"):
        load_defects(site, 33)


def test_no_file_means_no_defects(site):
    site_no = parse_config({"job_root": "/tmp/x"}, env={"HOME": "/tmp"})
    assert load_defects(site_no, 33).empty
    assert get_partition("wafer", site).validate({"WAFER": 33, "HICANNS": [297]}).hardware_config["HICANNS"] == [297]


@pytest.mark.parametrize("hw,message", [
    ({"WAFER": 33, "HICANNS": [300]}, "wafer 33: HICANN 300 is marked unavailable"),
    ({"WAFER": 33, "HICANNS": [297, 13]}, "HICANN 13 is marked unavailable"),
    ({"WAFER": 33, "HICANNS": [geometry.hicanns_of_fpga(3)[0]]}, "is served by FPGA 3, which is marked unavailable"),
    ({"WAFER": 33, "FPGAS": [3]}, "FPGA 3 is marked unavailable"),
    ({"WAFER": 33, "RETICLES": [geometry.reticle_of_fpga(3)]}, "FPGA 3 is marked unavailable"),
    ({"WAFER": 37, "FPGAS": [0, 1, 2]}, "FPGA 0, 1 are marked unavailable"),
])
def test_requests_touching_defects_are_rejected(site, hw, message):
    with pytest.raises(HardwareConfigError, match=message) as info:
        get_partition("wafer", site).validate(hw)
    assert "defects:" in str(info.value)  # says where the verdict comes from


def test_whole_wafer_and_fpga_requests_leave_defects_out(site, defects_dir):
    whole = get_partition("wafer", site).validate({"WAFER": 33})
    assert "W33F3" not in whole.slurm_args[0].split("=")[1].split(",")
    assert len(whole.lock_keys) == 47
    hicanns = whole.hardware_config["HICANNS"]
    assert 13 not in hicanns and 300 not in hicanns and not set(geometry.hicanns_of_fpga(3)) & set(hicanns)
    assert len(hicanns) == 384 - 8 - 2
    assert whole.environment["SLURM_DEFECTS_PATH"] == str(defects_dir)
    fpga12 = get_partition("wafer", site).validate({"WAFER": 33, "FPGAS": [12]})  # HICANN 13 is on FPGA 12
    assert fpga12.hardware_config["HICANNS"] == [0, 1, 2, 3, 12, 14, 15]
    assert "W33H13" not in fpga12.environment["SLURM_HICANNS"]
    assert "without unavailable HICANN(s) 13" in fpga12.description
    # the ESS emulates and claims nothing: no rejection, but it learns where the defects are
    ess = get_partition("ess", site).validate({"WAFER": 33, "HICANNS": [300]})
    assert ess.hardware_config["HICANNS"] == [300] and ess.environment["SLURM_DEFECTS_PATH"] == str(defects_dir)


def test_every_fpga_unavailable(site, defects_dir):
    (defects_dir / "wafer33.toml").write_text(f"unavailable_fpgas = {list(range(48))}\n")
    with pytest.raises(HardwareConfigError, match="every configured FPGA is marked unavailable"):
        get_partition("wafer", site).validate({"WAFER": 33})


def test_slurm_conf_has_no_licence_for_unavailable_fpgas(site):
    frag = render(site, ["h1"])
    names = dict(frag.licenses)
    assert "W33F3" not in names and "W33F4" in names
    assert "W37F0" not in names and "W37F1" not in names and "W37F2" in names
    assert len([n for n in names if n.startswith("W")]) == 96 - 3


def test_defect_rejection_through_the_cli(hw_site, defects_dir, experiment):
    """submit and run refuse a defective FPGA/HICANN before queueing: exit 2, one line, nothing left."""
    site = hw_site(extra=f'defects_dir = "{defects_dir}"\n')
    for args, message in [
        (["-p", "wafer", "--wafer", "33", "--hicann", "300"], "HICANN 300 is marked unavailable"),
        (["-p", "BrainScaleS", "--wafer", "33", "--fpga", "3"], "FPGA 3 is marked unavailable"),
        (["-p", "wafer", "--wafer", "33", "--hicann", "367,13"], "HICANN 13 is marked unavailable"),
    ]:
        sub = site.cli("submit", str(experiment), *args, "-c", "main.py {system}")
        assert sub.returncode == 2, sub.stderr
        assert message in sub.stderr and len(sub.stderr.strip().splitlines()) == 1
        run = site.cli("run", *args, "--", "python", "-c", "print('ran')")
        assert run.returncode == 2 and message in run.stderr and "ran" not in run.stdout
    assert site.records() == [] and site.job_dirs() == []
    # a neighbour that is fine goes through, and the job sees where the defects are
    job = int(site.cli("submit", str(experiment), "-p", "wafer", "--wafer", "33", "--hicann", "297", "-c",
                       "main.py {system}", check=True).stdout)
    rec = site.wait(job)
    assert rec["status"] == "finished", site.cli("log", str(job)).stdout
    out = site.root / "res"
    site.cli("results", str(job), "-o", str(out), check=True)
    # the runner points SLURM_DEFECTS_PATH at the job's own copy (site files + calibration store blacklists)
    seen = json.loads((out / "result.json").read_text())["defects"]
    assert seen == str(site.job_root / str(job) / "defects")
    from nmcluster.hwdrivers.wafer.defects import load_defects_file, parse_defects

    copy = load_defects_file(Path(seen) / "wafer33.json", 33)
    orig = parse_defects(tomllib.loads(DEFECTS_33), 33)
    assert (copy.unavailable_fpgas, copy.unavailable_hicanns) == (orig.unavailable_fpgas, orig.unavailable_hicanns)
    assert {h: b.denmems for h, b in copy.hicanns.items()} == {h: b.denmems for h, b in orig.hicanns.items()}
    slurm = site.cli("admin", "slurm-conf", "--node", "h1", "--only", "slurm", check=True).stdout
    licences = [line for line in slurm.splitlines() if line.startswith("Licenses=")][0]
    assert "W33F3:" not in licences and "W33F2:1" in licences

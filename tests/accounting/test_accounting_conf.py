"""What `nmcluster admin slurm-conf` renders for a site with Slurm accounting, and what each platform's
quota counts (no Slurm needed)."""

from __future__ import annotations

import subprocess
import sys

from nmcluster.config import parse_config
from nmcluster.partitions import get_partition


def test_quota_units_per_partition(tmp_path):
    site = parse_config({"job_root": str(tmp_path / "j"), "wafers": [{"id": 33, "fpgas": [0, 1]}]})
    units = {k: get_partition(k, site).quota_unit() for k in ("spikey", "wafer", "ess", "spinnaker")}
    assert units["ess"] is None  # an emulator costs no hardware time
    assert (units["spinnaker"].units, units["spinnaker"].minutes_per_unit, units["spinnaker"].weights) == \
        ("core-hours", 60.0, "CPU=1.0")
    assert (units["spikey"].units, units["spikey"].weights) == ("station-hours", "GRES/station=1.0")
    # a wafer-hour is 48 FPGA licences for an hour; every configured FPGA licence bills 1 per minute
    assert units["wafer"].minutes_per_unit == 2880.0
    assert units["wafer"].weights == "License/W33F0=1.0,License/W33F1=1.0"
    assert get_partition("wafer", site).tracked_tres() == ("license/W33F0", "license/W33F1")


def test_slurm_conf_renders_accounting(tmp_path):
    conf = tmp_path / "site.toml"
    conf.write_text(f'job_root = "{tmp_path / "j"}"\n[[wafers]]\nid = 33\nfpgas = [5]\n'
                    '[accounting]\nenabled = true\ndbd_port = 7031\n')
    proc = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "admin", "slurm-conf", "--site-config",
                           str(conf), "--node", "n1", "--only", "slurm"], capture_output=True, text=True, check=True)
    out = proc.stdout
    for line in ("AccountingStorageType=accounting_storage/slurmdbd", "AccountingStoragePort=7031",
                 "AccountingStorageEnforce=associations,limits,safe", "PriorityDecayHalfLife=0",
                 "PriorityUsageResetPeriod=NONE", "AccountingStorageTRES=gres/station,license/W33F5"):
        assert line in out.splitlines(), line
    parts = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("PartitionName=")}
    assert 'TRESBillingWeights="GRES/station=1.0"' in parts["PartitionName=spikey"]
    assert 'TRESBillingWeights="License/W33F5=1.0"' in parts["PartitionName=wafer"]
    assert 'TRESBillingWeights="CPU=1.0"' in parts["PartitionName=spinnaker"]
    assert "TRESBillingWeights" not in parts["PartitionName=batch"]
    # without [accounting] nothing of it is rendered
    conf.write_text(f'job_root = "{tmp_path / "j"}"\n')
    plain = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "admin", "slurm-conf", "--site-config",
                            str(conf), "--node", "n1", "--only", "slurm"], capture_output=True, text=True,
                           check=True).stdout
    assert "Accounting" not in plain and "TRESBillingWeights" not in plain

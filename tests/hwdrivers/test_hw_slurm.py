"""Driver layers against the real Slurm test cluster: the slurm-conf admins paste is what the cluster
runs with, defects keep licences out and requests out of the queue, ``nmcluster stations`` names the Slurm
job holding a station, and the hardware decision is taken (and recorded) inside the allocation."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from nmcluster.config import load_config

pytestmark = pytest.mark.slurm


def scontrol(cluster, *args: str) -> str:
    env = {**cluster.env, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, check=True, env=env,
                          timeout=30).stdout


def kv_lines(text: str) -> list[dict[str, str]]:
    return [dict(tok.split("=", 1) for tok in line.split() if "=" in tok) for line in text.splitlines() if line]


def cli_slurm_conf(site, cluster, *extra: str) -> str:
    args = ["admin", "slurm-conf", "--site-config", str(cluster.site_config_path)]
    for node in cluster.nodes:
        args += ["--node", node]
    return site.cli(*args, *extra, check=True).stdout


def test_admin_output_is_what_the_cluster_runs(slurm_cluster, hw_site):
    site = hw_site(tree=False)
    out = cli_slurm_conf(site, slurm_cluster)
    licences_line = next(line for line in out.splitlines() if line.startswith("Licenses="))
    printed = dict((name, int(count)) for name, count in
                   (item.rsplit(":", 1) for item in licences_line.split("=", 1)[1].split(",")))
    running = {kv["LicenseName"]: int(kv["Total"])
               for kv in kv_lines(scontrol(slurm_cluster, "show", "licenses", "-o"))}
    assert printed == running
    node_gres = {kv["NodeName"]: sorted(kv.get("Gres", "").split(",")) for kv in
                 kv_lines(scontrol(slurm_cluster, "show", "nodes", "-o"))}
    for line in out.splitlines():
        if line.startswith("NodeName=") and "Gres=station" in line:
            kv = dict(tok.split("=", 1) for tok in line.split())
            assert sorted(kv["Gres"].split(",")) == node_gres[kv["NodeName"]]
    deployed_gres = (slurm_cluster.slurm_conf.parent / "gres.conf").read_text()
    for line in out.splitlines():
        if line.startswith("NodeName=") and "Name=station" in line:
            assert line in deployed_gres


def test_defects_stay_out_of_licences_and_queue(slurm_cluster, hw_site, experiment, tmp_path):
    defects = tmp_path / "defects"
    defects.mkdir()
    (defects / "wafer33.toml").write_text("unavailable_fpgas = [34]\nunavailable_hicanns = [297]\n")
    site = hw_site(executor="slurm", tree=False,
                   extra=f'defects_dir = "{defects}"\n[slurm]\njobcomp_file = "{slurm_cluster.jobcomp_file}"\n')
    out = site.cli("admin", "slurm-conf", *sum((["--node", n] for n in slurm_cluster.nodes), []), "--only", "slurm",
                   check=True).stdout
    licences = next(line for line in out.splitlines() if line.startswith("Licenses=")).split("=", 1)[1].split(",")
    names = [item.rsplit(":", 1)[0] for item in licences]
    running = {kv["LicenseName"] for kv in kv_lines(scontrol(slurm_cluster, "show", "licenses", "-o"))}
    assert "W33F34" not in names and set(names) == running - {"W33F34"}  # Slurm knows every licence we would use
    before = scontrol(slurm_cluster, "show", "jobs", "-o")
    for args, message in [(["--hicann", "367"], "FPGA 34, which is marked unavailable"),
                          (["--hicann", "297"], "HICANN 297 is marked unavailable"),
                          (["--fpga", "34"], "FPGA 34 is marked unavailable")]:
        sub = site.cli("submit", str(experiment), "-p", "wafer", "--wafer", "33", *args, "-c", "main.py {system}")
        assert sub.returncode == 2 and message in sub.stderr
        run = site.cli("run", "-p", "wafer", "--wafer", "33", *args, "--", "true")
        assert run.returncode == 2 and message in run.stderr
    assert site.records() == [] and site.job_dirs() == []
    assert scontrol(slurm_cluster, "show", "jobs", "-o").count("JobId=") <= before.count("JobId=")


def test_stations_names_the_slurm_job(slurm_cluster, hw_site, experiment):
    site = hw_site(executor="slurm", extra=f'[slurm]\njobcomp_file = "{slurm_cluster.jobcomp_file}"\n')
    (experiment / "main.py").write_text("import time; time.sleep(30)\n")
    job = int(site.cli("submit", str(experiment), "-p", "spikey", "--station", "502", "-c", "main.py",
                       check=True).stdout)
    try:
        deadline = time.monotonic() + 30
        while site.record(job)["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        slurm_id = site.record(job)["external_id"]
        rows = {r["station"]: r for r in json.loads(site.cli("stations", "--json", check=True).stdout)["stations"]}
        assert rows["station502"]["in_use_by"].startswith(f"Slurm job {slurm_id} (")
        assert rows["station502"]["in_use_by"].endswith(f"nmcluster job {job})")  # its job id, not only Slurm's
        table = site.cli("stations", check=True).stdout
        assert "Slurm job" in table
    finally:
        site.cli("cancel", str(job))
        site.wait(job, timeout=60)


def test_decision_taken_inside_the_allocation(slurm_cluster, usb, hw_site, experiment):
    """The station is attached to the node the job lands on (the sysfs tree of this single-node cluster):
    the runner inside the Slurm allocation picks the hardware backend and the record says why."""
    usb.add("SPIKEY-0500", port="2")
    site = hw_site(executor="slurm", extra=f'[slurm]\njobcomp_file = "{slurm_cluster.jobcomp_file}"\n')
    assert load_config(site.path).hardware.sysfs_root == usb.sys
    hw = int(site.cli("submit", str(experiment), "-p", "spikey", "--station", "500", "-c", "main.py",
                      check=True).stdout)
    emu = int(site.cli("submit", str(experiment), "-p", "spikey", "--station", "501", "-c", "main.py {system}",
                       check=True).stdout)
    rec = site.wait(hw, timeout=60)
    assert rec["status"] == "finished", site.cli("log", str(hw)).stdout
    assert rec["backend"] == "hardware.spikey" and rec["emulated"] is False
    assert "station500: Spikey serial SPIKEY-0500 attached to node" in rec["backend_reason"]
    rec = site.wait(emu, timeout=60)
    assert rec["status"] == "finished" and rec["emulated"] is True
    assert "station501: no Spikey with serial SPIKEY-0501" in rec["backend_reason"]
    assert rec["backend_reason"] in site.cli("log", str(emu), check=True).stdout

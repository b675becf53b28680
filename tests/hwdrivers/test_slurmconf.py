"""slurm.conf / gres.conf rendering from the site config, and that the real test cluster runs on it."""

from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from nmcluster.config import parse_config
from nmcluster.errors import ConfigError
from nmcluster.hwdrivers.slurmconf import render
from nmcluster.hwdrivers.wafer.geometry import license_by_hicann


def lines(text: str, prefix: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(prefix)]


def test_defaults_single_node(site_config):
    frag = render(site_config, ["node1"])
    conf = frag.slurm_conf
    assert lines(conf, "GresTypes=") == ["GresTypes=station"]
    (licences,) = lines(conf, "Licenses=")
    entries = licences.removeprefix("Licenses=").split(",")
    assert len(entries) == 2 * 48 + 1
    assert entries[0] == "W33F0:1" and "W37F47:1" in entries and entries[-1] == "spinnaker_board:2"
    assert f"{license_by_hicann(33, 367)}:1" in entries  # W33F34
    assert lines(conf, "NodeName=") == [
        "NodeName=node1 Gres=station:s500:1,station:s501:1,station:s502:1,station:s600:1"]
    assert frag.gres_conf.splitlines()[1:] == [f"NodeName=node1 Name=station Type=s{n} Count=1"
                                               for n in (500, 501, 502, 600)]
    parts = lines(conf, "PartitionName=")
    assert [p.split()[0] for p in parts] == [f"PartitionName={n}" for n in ("batch", "spikey", "wafer", "spinnaker")]
    assert "Default=YES" in parts[0] and all("Default=YES" not in p for p in parts[1:])
    assert all("Nodes=ALL" in p for p in parts)


def test_custom_site_multi_node(tmp_path):
    config = parse_config({
        "job_root": str(tmp_path),
        "stations": [{"number": 510}, {"number": 503}, {"number": 666}],
        "wafers": [{"id": 21, "fpgas": [0, 3]}],
        "boards": [{"name": "b1"}, {"name": "b2"}, {"name": "b3"}],
        "partitions": {"wafer": {"slurm_partition": "nmpm"}, "spikey": {"slurm_partition": "spikey-exp"},
                       "spinnaker": {"board_license": "spinn"}},
        "slurm": {"default_partition": "compute"},
    }, env={"USER": "u", "HOME": str(tmp_path)})
    frag = render(config, ["n1", "n2", "n3", "n4"], node_extra={"n1": "CPUs=4"})
    conf = frag.slurm_conf
    assert lines(conf, "Licenses=") == ["Licenses=W21F0:1,W21F3:1,spinn:3"]
    assert lines(conf, "NodeName=") == ["NodeName=n1 CPUs=4 Gres=station:s503:1",
                                        "NodeName=n2 Gres=station:s510:1",
                                        "NodeName=n3 Gres=station:s666:1",
                                        "NodeName=n4"]
    assert frag.station_nodes == {503: "n1", 510: "n2", 666: "n3"}
    assert lines(conf, "PartitionName=") == [
        "PartitionName=compute Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        "PartitionName=spikey-exp Nodes=n1,n2,n3 MaxTime=INFINITE State=UP",
        "PartitionName=nmpm Nodes=ALL MaxTime=INFINITE State=UP",
        "PartitionName=batch Nodes=ALL MaxTime=INFINITE State=UP",  # the ess partition's
        "PartitionName=spinnaker Nodes=ALL MaxTime=INFINITE State=UP",
    ]


def test_station_hosts_from_site_config(tmp_path):
    config = parse_config({"job_root": str(tmp_path),
                           "stations": [{"number": 500, "host": "spikey02"}, {"number": 501},
                                        {"number": 502}]},
                          env={"USER": "u", "HOME": str(tmp_path)})
    frag = render(config, ["spikey01"])
    assert frag.station_nodes == {500: "spikey02", 501: "spikey01", 502: "spikey01"}
    assert lines(frag.slurm_conf, "NodeName=") == ["NodeName=spikey01 Gres=station:s501:1,station:s502:1",
                                                   "NodeName=spikey02 Gres=station:s500:1"]
    assert "NodeName=spikey02 Name=station Type=s500 Count=1" in frag.gres_conf


def test_no_stations_no_gres(tmp_path):
    config = parse_config({"job_root": str(tmp_path), "stations": [], "boards": []},
                          env={"USER": "u", "HOME": str(tmp_path)})
    frag = render(config, ["h"])
    assert not lines(frag.slurm_conf, "GresTypes=")
    assert lines(frag.slurm_conf, "NodeName=") == ["NodeName=h"]
    assert "spinnaker_board" not in frag.slurm_conf
    assert frag.gres_conf.count("\n") == 1


@pytest.mark.parametrize("nodes", [[], ["a b"], ["a,b"], [""], ["x=y"]])
def test_bad_node_names(site_config, nodes):
    with pytest.raises(ConfigError):
        render(site_config, nodes)


def test_admin_cli(tmp_path, monkeypatch):
    from nmcluster.cli.admin_slurm import slurm_conf

    monkeypatch.delenv("NMCLUSTER_CONFIG", raising=False)
    site = tmp_path / "site.toml"
    site.write_text(f'job_root = "{tmp_path}/jobs"\n'
                    'stations = [{number = 500}]\nwafers = [{id = 33, fpgas = [34]}]\n')
    runner = CliRunner()
    out = runner.invoke(slurm_conf, ["--site-config", str(site), "--node", "spikey01"])
    assert out.exit_code == 0, out.output
    assert "Licenses=W33F34:1,spinnaker_board:2" in out.output
    assert "NodeName=spikey01 Gres=station:s500:1" in out.output
    assert "NodeName=spikey01 Name=station Type=s500 Count=1" in out.output
    gres = runner.invoke(slurm_conf, ["--site-config", str(site), "--node", "x", "--only", "gres"])
    assert "Licenses" not in gres.output and "Type=s500" in gres.output
    written = runner.invoke(slurm_conf, ["--site-config", str(site), "--node", "x", "--output-dir",
                                         str(tmp_path / "out")])
    assert written.exit_code == 0
    assert "GresTypes=station" in (tmp_path / "out" / "slurm.conf.nmcluster").read_text()
    assert "Type=s500" in (tmp_path / "out" / "gres.conf.nmcluster").read_text()


def test_test_cluster_runs_on_the_rendered_config(slurm_cluster):
    """The running test cluster was started from render(): Slurm accepted and applied every line."""
    from nmcluster.config import load_config

    config = load_config(slurm_cluster.site_config_path)
    frag = render(config, list(slurm_cluster.nodes))
    env = {**slurm_cluster.env, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}

    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True, env=env, timeout=30).stdout

    licences = {}
    for line in run("scontrol", "show", "licenses", "-o").splitlines():
        kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        licences[kv["LicenseName"]] = int(kv["Total"])
    assert licences == dict(frag.licenses)
    partitions = set(run("sinfo", "-h", "-o", "%R").split())
    assert partitions == {name for name, _ in frag.partitions}
    assert run("sinfo", "-h", "-o", "%P").split()[0] == config.slurm.default_partition + "*"
    gres = {}
    for line in run("scontrol", "show", "nodes", "-o").splitlines():
        kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        gres[kv["NodeName"]] = sorted(kv.get("Gres", "").split(","))
    assert gres == {node: sorted(g) for node, g in frag.node_gres.items()}
    # every station is requestable by its typed GRES, on the partition named in the site config
    spikey = config.partition("spikey").slurm_partition
    for number in config.stations:
        out = run("srun", "-p", spikey, f"--gres=station:s{number}:1", "printenv", "SLURM_JOB_PARTITION")
        assert out.strip() == spikey

"""``job_submit.lua`` from ``nmcluster admin slurm-conf``: the site's hardware rules, enforced by slurmctld for
every job, also plain ``sbatch``/``srun``/``scontrol update`` that never went through nmcluster.

On the real test cluster (which runs with the rendered script and, unlike a site, exempts nobody, so every
Slurm test's own submissions go through the rules too) the hand-written requests are made as the
unprivileged user ``nobody`` (``setpriv``), and what nmcluster's partitions derive is submitted the same way
and must pass.  ``--test-only`` asks the controller (job_submit plugin included) without queueing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from click.testing import CliRunner

from nmcluster.config import load_config, parse_config
from nmcluster.errors import ConfigError
from nmcluster.hwdrivers.job_submit_lua import render_job_submit_lua
from nmcluster.hwdrivers.slurmconf import render
from nmcluster.partitions import get_partition


# ------------------------------------------------------------------------------------------- rendering
def test_rendered_tables(site_config):
    lua = render_job_submit_lua(site_config)
    assert 'local STATIONS = { ["s500"] = true, ["s501"] = true, ["s502"] = true, ["s600"] = true }' in lua
    assert lua.count("] = 33") == 48 and lua.count("] = 37") == 48 and '["W37F47"] = 37' in lua
    assert 'local BOARD_LICENSE = "spinnaker_board"' in lua and "local BOARDS = 2\n" in lua
    assert "local EXEMPT_UIDS = { [0] = true }" in lua
    assert 'local SPIKEY_PARTITION = "spikey"' in lua and 'local DEFAULT_PARTITION = "batch"' in lua
    assert "EXEMPT_UIDS = {  }" in render_job_submit_lua(site_config, exempt_uids=())
    assert "{ [0] = true, [64030] = true }" in render_job_submit_lua(site_config, exempt_uids=(64030, 0, 0))
    frag = render(site_config, ["n1"])
    assert frag.job_submit_lua == lua and "\nJobSubmitPlugins=lua\n" in frag.slurm_conf
    off = render(site_config, ["n1"], job_submit=False)
    assert off.job_submit_lua == "" and "JobSubmitPlugins" not in off.slurm_conf


def test_rendered_from_the_site_inventory(tmp_path):
    site = parse_config({"job_root": str(tmp_path / "j"), "stations": [{"number": 7}],
                         "wafers": [{"id": 5, "fpgas": [3, 4]}], "spalloc": {"host": "spalloc.example"}},
                        env={"HOME": str(tmp_path)}, source="t")
    lua = render_job_submit_lua(site)
    assert 'local STATIONS = { ["s7"] = true }' in lua
    assert 'local WAFER_LICENSES = { ["W5F3"] = 5, ["W5F4"] = 5 }' in lua
    assert 'local BOARD_LICENSE = ""' in lua and "local BOARDS = 0\n" in lua  # spalloc hands out boards
    shared = parse_config({"job_root": str(tmp_path / "j"), "partitions": {"spikey": {"slurm_partition": "batch"}}},
                          env={"HOME": str(tmp_path)}, source="t")
    with pytest.raises(ConfigError, match="spikey partition's Slurm partition 'batch' is shared"):
        render_job_submit_lua(shared)
    with pytest.raises(ConfigError, match="exempt uids must be >= 0"):
        render_job_submit_lua(site, exempt_uids=(-1,))


def test_admin_cli_renders_the_script(tmp_path, site_config):
    from nmcluster.cli.admin_slurm import slurm_conf

    site = tmp_path / "site.toml"
    site.write_text('[[stations]]\nnumber = 500\n')
    runner = CliRunner()
    only = runner.invoke(slurm_conf, ["--site-config", str(site), "--node", "x", "--only", "lua",
                                      "--exempt-uid", "0", "--exempt-uid", "64030"])
    assert only.exit_code == 0 and only.output.startswith("-- job_submit.lua")
    assert "{ [0] = true, [64030] = true }" in only.output and "function slurm_job_submit(" in only.output
    full = runner.invoke(slurm_conf, ["--site-config", str(site), "--node", "x"])
    assert "JobSubmitPlugins=lua" in full.output and "function slurm_job_modify(" in full.output
    written = runner.invoke(slurm_conf, ["--site-config", str(site), "--node", "x", "--output-dir",
                                         str(tmp_path / "out")])
    deployed = (tmp_path / "out" / "job_submit.lua").read_text()
    assert written.exit_code == 0 and "local EXEMPT_UIDS = { [0] = true }\n" in deployed  # root by default
    assert deployed.replace("{ [0] = true }", "{ [0] = true, [64030] = true }") == only.output
    bad = runner.invoke(slurm_conf, ["--site-config", str(site), "--only", "lua", "--no-job-submit"])
    assert bad.exit_code == 2


# --------------------------------------------------------------------------------- on the real cluster
@pytest.fixture(scope="module")
def as_nobody(slurm_cluster):
    """Run a Slurm client command as ``nobody`` (an unprivileged second user) against the test cluster."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to act as another user")
    env = {"PATH": "/usr/bin:/bin", "SLURM_CONF": str(slurm_cluster.slurm_conf), "LANG": "C.UTF-8"}
    lua = (slurm_cluster.slurm_conf.parent / "job_submit.lua").read_text()
    assert "EXEMPT_UIDS = {  }" in lua, "the test cluster must check every uid"

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv],
                              capture_output=True, text=True, env=env, cwd="/", timeout=60,
                              stdin=subprocess.DEVNULL)
    return run


def _queue(run) -> list[str]:
    return run("squeue", "-h", "-u", "nobody", "-o", "%i").stdout.split()


REFUSED = [
    (["-p", "batch", "-L", "W33F1"], "wafer licences (W33F1) are only for the wafer partition, not batch"),
    (["-L", "W33F1"], "wafer licences (W33F1) are only for the wafer partition, not batch"),
    (["-p", "spikey", "--gres=station:s999:1"], "station s999 is not a station of this site"),
    (["-p", "spikey", "--gres=station:s500:2"], "needs exactly one Spikey station"),
    (["-p", "spikey", "--gres=station:s500:1,station:s501:1"], "needs exactly one Spikey station"),
    (["-p", "spikey"], "needs exactly one Spikey station"),
    (["-p", "spikey", "-N", "2", "--gres=station:1"], "runs on one node"),
    (["-p", "spikey", "--gres=station:s500:1", "-L", "W33F1"], "wafer licences (W33F1) are only for the wafer"),
    (["-p", "batch", "--gres=station:s500:1"], "station GRES is only for the spikey partition, not batch"),
    (["-p", "wafer", "--gres=station:1", "-L", "W33F1"], "station GRES is only for the spikey partition"),
    (["-p", "spikey,batch", "--gres=station:1"], "must name only that partition (-p spikey)"),
    (["-p", "wafer"], "needs the licences of its FPGAs"),
    (["-p", "wafer", "-L", "W33F1,W37F2"], "FPGAs of one wafer only (33 and 37 requested)"),
    (["-p", "wafer", "-L", "W33F1:2"], "licence W33F1 is requested 2 times"),
    (["-p", "wafer", "-L", "W33F1,W33F1"], "licence W33F1 is requested 2 times"),
    (["-p", "wafer", "-L", "W33F1,spinnaker_board:1"], "board licences are only for the spinnaker partition"),
    (["-p", "spinnaker"], "needs -L spinnaker_board:N with N from 1 to 2"),
    (["-p", "spinnaker", "-L", "spinnaker_board:3"], "needs -L spinnaker_board:N with N from 1 to 2"),
    (["-p", "batch", "-L", "spinnaker_board:1"], "board licences are only for the spinnaker partition"),
]


@pytest.mark.parametrize("args, message", REFUSED)
def test_hand_written_requests_refused(as_nobody, args, message):
    rc_msg = as_nobody("sbatch", "--test-only", "--wrap=true", *args)
    assert rc_msg.returncode != 0, rc_msg.stderr
    assert "sbatch: error: nmcluster site rules: " in rc_msg.stderr and message in rc_msg.stderr, rc_msg.stderr


def test_refused_for_real_nothing_queued(as_nobody):
    """Without --test-only: sbatch and srun are refused with the rule's message and nothing is queued."""
    before = _queue(as_nobody)
    out = as_nobody("sbatch", "-p", "batch", "-L", "W33F1", "-o", "/dev/null", "--wrap=true")
    assert out.returncode == 1 and "nmcluster site rules: wafer licences (W33F1)" in out.stderr
    assert "Batch job submission failed: Access/permission denied" in out.stderr
    out = as_nobody("srun", "-p", "spikey", "--gres=station:s999:1", "true")
    assert out.returncode == 1 and "nmcluster site rules: station s999 is not a station" in out.stderr
    out = as_nobody("salloc", "-p", "batch", "--gres=station:1", "true")
    assert out.returncode == 1 and "station GRES is only for the spikey partition" in out.stderr
    assert _queue(as_nobody) == before


@pytest.mark.parametrize("platform, hw", [
    ("spikey", {"STATION": 500}), ("spikey", {}), ("wafer", {"WAFER": 33, "HICANNS": [297, 298]}),
    ("wafer", {"WAFER": 37}), ("wafer", {"WAFER": 33, "FPGAS": [0, 47]}), ("spinnaker", {"BOARDS": 2}),
    ("spinnaker", {"BOARDS": 1}), ("ess", {"WAFER": 33, "HICANNS": [1]}),
])
def test_what_nmcluster_derives_passes(as_nobody, slurm_cluster, platform, hw):
    """The Slurm arguments nmcluster's partitions derive (what the Slurm executor puts before sbatch/srun)."""
    site = load_config(slurm_cluster.site_config_path)
    request = get_partition(platform, site).validate(hw)
    args = [f"--partition={request.slurm_partition}", *request.slurm_args]
    out = as_nobody("sbatch", "--test-only", "--wrap=true", *args)
    assert out.returncode == 0 and "to start at" in out.stderr, (args, out.stderr)


def test_plain_srun_within_the_rules_runs(as_nobody):
    out = as_nobody("srun", "-p", "spikey", "--gres=station:s502:1", "printenv", "SLURM_JOB_PARTITION")
    assert out.returncode == 0 and out.stdout.strip() == "spikey", out.stderr


def test_updates_are_held_to_the_rules(as_nobody, slurm_cluster):
    """scontrol update of a pending job: the new values merged with the job's are checked (slurm_job_modify)."""
    out = as_nobody("sbatch", "--parsable", "--hold", "-p", "spikey", "--gres=station:s500:1", "-o", "/dev/null",
                    "--wrap=true")
    assert out.returncode == 0, out.stderr
    job = out.stdout.strip()
    try:
        for change in (["Partition=batch"], ["Licenses=W33F1"], ["Gres=station:s999:1"], ["Gres=station:2"]):
            upd = as_nobody("scontrol", "update", f"JobId={job}", *change)
            assert upd.returncode != 0 and "Access/permission denied" in upd.stderr, (change, upd.stderr)
        ok = as_nobody("scontrol", "update", f"JobId={job}", "TimeLimit=7")
        assert ok.returncode == 0, ok.stderr
        show = as_nobody("scontrol", "show", "job", job).stdout
        assert "Partition=spikey" in show and "TresPerNode=gres:station:s500:1" in show
        assert "TimeLimit=00:07:00" in show and "Licenses=(null)" in show
    finally:
        as_nobody("scancel", job)
    deadline = time.monotonic() + 10
    while job in _queue(as_nobody) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_script_is_the_rendered_one(slurm_cluster):
    """The cluster runs what admin slurm-conf renders for its site config (no uid exempt)."""
    site = load_config(slurm_cluster.site_config_path, env={**os.environ, "USER": "root"})
    deployed = (slurm_cluster.slurm_conf.parent / "job_submit.lua").read_text()
    assert deployed == render_job_submit_lua(site, exempt_uids=())
    assert "\nJobSubmitPlugins=lua\n" in slurm_cluster.slurm_conf.read_text()
    log = (slurm_cluster.slurm_conf.parent / "log" / "slurmctld.log").read_text()
    assert "nmcluster job_submit.lua loaded" in log


# --------------------------------------------------------------------- fuzz: the Lua against a model of the rules
def _model(site, partition: str | None, licences: str | None, gres: str | None, nodes: int | None) -> bool:
    """The rules of nmcluster/hwdrivers/job_submit_lua.py written again in Python: does a request keep them?"""
    from nmcluster.hwdrivers.wafer.geometry import license_name

    wafer_lic = {license_name(w, f): w for w in site.wafers for f in site.wafers[w].fpgas}
    hw = {"spikey": "spikey", "wafer": "wafer", "spinnaker": "spinnaker"}
    parts = [p for p in (partition or "batch").replace(" ", ",").split(",") if p] or ["batch"]
    kind = next((hw[p] for p in parts if p in hw), None)
    if kind and len(parts) > 1:
        return False
    counts: dict[str, int] = {}
    for tok in [t for t in (licences or "").replace(";", ",").split(",") if t]:
        name, _, n = tok.partition(":")
        counts[name] = counts.get(name, 0) + int(n or 1)
    wafers = {name: c for name, c in counts.items() if name in wafer_lic}
    boards = counts.get("spinnaker_board", 0)
    stations = []
    for tok in [t for t in (gres or "").split(",") if t]:
        f = tok.split(":")
        if f[0] == "station":
            stations.append((f[1] if len(f) >= 2 and not f[1].isdigit() else None,
                             int(f[-1]) if len(f) > 1 and f[-1].isdigit() else 1))
    if (kind != "spikey" and stations) or (kind != "wafer" and wafers) or (kind != "spinnaker" and boards):
        return False
    if kind == "spikey":
        return (len(stations) == 1 and stations[0][1] == 1 and (stations[0][0] is None or
                                                               stations[0][0] in {f"s{n}" for n in site.stations})
                and (nodes or 1) <= 1)
    if kind == "wafer":
        return bool(wafers) and all(c == 1 for c in wafers.values()) and len({wafer_lic[n] for n in wafers}) == 1
    if kind == "spinnaker":
        return 1 <= boards <= len(site.boards)
    return True


_LICENCES = ["W33F1", "W33F2", "W37F0", "W33F47", "W99F1", "spinnaker_board", "spinnaker_board:2",
             "spinnaker_board:3", "W33F1:2", "W33F1:0", "W37F0:1"]
_GRES = ["station:1", "station:s500:1", "station:s600:1", "station:s999:1", "station:2", "station:s501",
         "station", "station:s502:2"]


def test_fuzz_lua_against_the_model(as_nobody, slurm_cluster):
    """Random partitions, licence lists, station GRES and node counts (half of them near what a partition
    wants), as nobody with --test-only: the Lua refuses exactly what the model refuses (Slurm itself may
    refuse more, e.g. an unknown licence, and sbatch some GRES mixes before the controller sees them)."""
    import random

    site = load_config(slurm_cluster.site_config_path)
    rng = random.Random(20261204)
    reached = accepted = 0
    for _ in range(120):
        partition = rng.choice([None, "batch", "spikey", "wafer", "spinnaker", "spikey,batch", "batch,wafer"])
        pool_l, pool_g = _LICENCES, _GRES
        if rng.random() < 0.5:  # near a valid request of the partition
            pool_l = [x for x in _LICENCES if (x[0] == "W") == (partition == "wafer")]
            pool_g = _GRES if partition == "spikey" else []
        licences = rng.choice([None, (rng.choice([",", ";"])).join(rng.sample(pool_l, rng.randint(1, 2)))])
        gres = rng.choice([None, ",".join(rng.sample(pool_g, 1))]) if pool_g else None
        nodes = rng.choice([None, None, 1, 2])
        args = [*(["-p", partition] if partition else []), *(["-L", licences] if licences else []),
                *([f"--gres={gres}"] if gres else []), *(["-N", str(nodes)] if nodes else [])]
        out = as_nobody("sbatch", "--test-only", "--wrap=true", *args)
        if "to start at" not in out.stderr and "allocation failure" not in out.stderr:
            continue  # sbatch refused it itself (e.g. typed and untyped GRES mixed): the controller never saw it
        reached += 1
        ruled = "nmcluster site rules:" in out.stderr
        allowed = _model(site, partition, licences, gres, nodes)
        assert ruled != allowed, (args, allowed, out.stderr)
        if out.returncode == 0:
            assert allowed, (args, out.stderr)
        accepted += out.returncode == 0
    print(f"lua fuzz: {reached} of 120 reached the controller, {accepted} accepted")
    assert reached >= 80 and accepted >= 10, (reached, accepted)

"""``nmcluster admin slurm-conf``: print the slurm.conf / gres.conf lines for this site's hardware."""

from __future__ import annotations

import socket
from pathlib import Path

import click


@click.command("slurm-conf", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--node", "nodes", multiple=True, metavar="NAME",
              help="Compute node the Spikey stations are attached to (repeat for several; stations are "
                   "spread over them round-robin, unless the site config names a station's host).  "
                   "Default: the stations' hosts, else this host's short name.")
@click.option("--site-config", metavar="FILE", default=None,
              help="Site config (TOML) to render.  Default: $NMCLUSTER_CONFIG, /etc/nmcluster/site.toml, "
                   "the user's config, else the built-in defaults.")
@click.option("--only", type=click.Choice(["slurm", "gres", "lua"]), default=None,
              help="Print only the slurm.conf lines, only the gres.conf lines or only job_submit.lua.")
@click.option("--output-dir", metavar="DIR", default=None,
              help="Write slurm.conf.nmcluster, gres.conf.nmcluster and job_submit.lua into DIR instead of "
                   "printing.")
@click.option("--exempt-uid", "exempt_uids", multiple=True, type=click.IntRange(min=0), metavar="UID",
              help="Uid whose jobs job_submit.lua does not check (repeat; default: 0, root).  Add SlurmUser's.")
@click.option("--no-job-submit", is_flag=True,
              help="Leave out job_submit.lua and the JobSubmitPlugins=lua line.")
def slurm_conf(nodes: tuple[str, ...], site_config: str | None, only: str | None,
               output_dir: str | None, exempt_uids: tuple[int, ...] = (), no_job_submit: bool = False) -> int:
    """Print the Slurm configuration the site's neuromorphic hardware needs.

    slurm.conf: Licenses= (one W<wafer>F<fpga>:1 licence per configured FPGA of every wafer, plus the
    SpiNNaker board licence), GresTypes=station, the nodes' Gres=station:s<N>:1 entries and the
    batch (default), spikey, wafer and spinnaker partitions.  gres.conf: one
    "NodeName=<node> Name=station Type=s<N> Count=1" line per station.  Merge the Gres= entry into your
    existing NodeName= lines and add CPUs/memory as usual.  job_submit.lua (put it next to slurm.conf, with
    JobSubmitPlugins=lua; Debian's slurm-wlm-basic-plugins has the Lua plugin): the site's hardware rules
    for every job, plain sbatch/srun included -- a hardware partition's job names only that partition and
    carries the resource nmcluster derives for it (one station of the inventory on spikey, FPGA licences of
    one configured wafer on wafer, 1..N board licences on spinnaker), and no other partition gets station
    GRES or hardware licences.  The project's test cluster is started from exactly this output.
    With [accounting] enabled in the site config it adds the slurmdbd accounting lines and each hardware
    partition's TRESBillingWeights, so that slurmctld enforces collab quotas.

    \b
    Examples:
      nmcluster admin slurm-conf --node spikey01 --node spikey02
      nmcluster admin slurm-conf --only gres --node spikey01 >> /etc/slurm/gres.conf
      nmcluster admin slurm-conf --site-config /etc/nmcluster/site.toml --output-dir /tmp/conf
      nmcluster admin slurm-conf --only lua --exempt-uid 0 --exempt-uid 64030 > /etc/slurm/job_submit.lua
    """
    from nmcluster.calib.providers import site_blacklists
    from nmcluster.config import load_config
    from nmcluster.hwdrivers.slurmconf import render
    from nmcluster.hwdrivers.wafer.licenses import site_without_unavailable_fpgas

    config = load_config(site_config)
    # no licence for an FPGA the calibration store blacklists (render drops those of the defects files)
    config = site_without_unavailable_fpgas(config, site_blacklists(config))
    hosts = sorted({st.host for st in config.stations.values() if st.host})
    billing: dict[str, str] = {}
    if config.accounting.enabled:  # [accounting] enabled: quotas enforced by slurmctld (README "Quotas")
        from nmcluster.accounting.slurmconf import partition_billing

        billing = dict(partition_billing(config))
    fragment = render(config, nodes or hosts or [socket.gethostname().split(".")[0] or "localhost"],
                      job_submit=not no_job_submit, exempt_uids=exempt_uids or (0,), partition_params=billing)
    if only == "lua" and no_job_submit:
        raise click.UsageError("--only lua and --no-job-submit contradict each other")
    slurm_text = fragment.slurm_conf
    if config.accounting.enabled:
        from nmcluster.accounting.slurmconf import accounting_lines

        slurm_text += accounting_lines(config)
    header = f"# site config: {config.source}\n"
    if output_dir:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        if only in (None, "slurm"):
            (out / "slurm.conf.nmcluster").write_text(header + slurm_text)
            click.echo(f"wrote {out / 'slurm.conf.nmcluster'}")
        if only in (None, "gres"):
            (out / "gres.conf.nmcluster").write_text(header + fragment.gres_conf)
            click.echo(f"wrote {out / 'gres.conf.nmcluster'}")
        if only in (None, "lua") and fragment.job_submit_lua:
            (out / "job_submit.lua").write_text(fragment.job_submit_lua)
            click.echo(f"wrote {out / 'job_submit.lua'}")
        return 0
    if only == "lua":
        click.echo(fragment.job_submit_lua, nl=False)
        return 0
    if only in (None, "slurm"):
        click.echo((header if only else "# ===== slurm.conf =====\n" + header) + slurm_text, nl=False)
    if only in (None, "gres"):
        click.echo(("" if only else "\n# ===== gres.conf =====\n") + fragment.gres_conf, nl=False)
    if only is None and fragment.job_submit_lua:
        click.echo("\n-- ===== job_submit.lua (next to slurm.conf) =====\n" + fragment.job_submit_lua, nl=False)
    return 0

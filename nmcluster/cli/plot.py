"""``nmcluster plot``: a raster plot or membrane trace (PNG) of a neo data file or of a job's outputs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="FILE|JOB")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="PNG to write (default: <data file>_<kind>.png; for a JOB in the current directory).")
@click.option("--kind", type=click.Choice(["raster", "membrane"]), default="raster", show_default=True,
              help="raster: spikes, one row per neuron; membrane: recorded analog signals.")
def plot(target, output, kind) -> int:
    """Plot FILE (any format neo.io.get_io reads: PyNN's write_data files .nix (nix extra) or .pkl,
    NEST's .gdf spike files, NWB, ...) or the data files among finished JOB's outputs; prints the
    PNG written.  Needs the plot extra (matplotlib).

    \b
    Examples:
      nmcluster plot synfire_chain.nix
      nmcluster plot 12 --kind membrane -o v.png
    """
    from nmcluster import plotting

    plotting.require_matplotlib()
    path = Path(target)
    if path.is_file() or not target.isdigit():
        click.echo(str(plotting.plot_file(path, output, kind)))
        return 0
    for png in _plot_job(int(target), output, kind):
        click.echo(str(png))
    return 0


def _plot_job(job_id: int, output: str | None, kind: str) -> list[Path]:
    from nmcluster import plotting
    from nmcluster.executors.jobfile import WORK_DIR
    from nmcluster.jobs.service import JobService, result_names

    from nmcluster.errors import JobStateError

    with JobService() as service:
        rec = service.get(job_id)
    if not rec.final:  # its data files are not written yet: say so, not "no data file"
        raise JobStateError(f"job {rec.id} is {rec.status}: plot it once it has finished "
                            f"(nmcluster submit --wait, or nmcluster status {rec.id})")
    names = plotting.data_files(result_names(rec))
    if not names:
        what = ", ".join(rec.output_data) if rec.output_data else "none"
        raise plotting.PlotError(f"job {rec.id} ({rec.status}) has no neo data file among its outputs "
                                 f"(outputs: {what}); scripts write one with write_data('name.nix')")
    if output is not None and len(names) > 1:
        raise plotting.PlotError(f"job {rec.id} has {len(names)} data files ({', '.join(names)}): -o needs "
                                 f"one; fetch them with `nmcluster results {rec.id}` and plot a FILE")
    work = Path(rec.job_dir) / WORK_DIR
    made, errors = [], []
    for name in names:
        out = Path(output) if output else Path(f"job{rec.id}_{Path(name).stem}_{kind}.png")
        try:
            made.append(plotting.plot_file(work / name, out, kind))
        except plotting.PlotError as exc:
            errors.append(exc)
    if not made:
        raise errors[0]
    return made

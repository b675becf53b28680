"""``nmcluster submit``: queue a job in the platform's job format and print its id."""

from __future__ import annotations

import click

from nmcluster.cli.common import (build_hardware_config, echo_json, environment, hardware_options, make_service,
                                  resolve_partition)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@hardware_options
@click.argument("code")
@click.option("-c", "--command", default=None, metavar="CMD",
              help='Script and arguments to run, with {system} for the backend (default "run.py {system}").')
@click.option("-i", "--input", "inputs", multiple=True, metavar="PATH|URL",
              help="Input file copied into the job's working directory (repeatable).")
@click.option("-t", "--tag", "tags", multiple=True, help="Tag for the job (repeatable).")
@click.option("--collab", "collab_id", default=None, help="Collab/project id (Slurm account).")
@click.option("--wait", is_flag=True, help="Wait until the job has finished; exit with its exit code.")
@click.option("--json", "as_json", is_flag=True, help="Print the job record as JSON.")
def submit(partition, station, wafer, hicann, fpga, reticle, boards, hw_config, local, mode, slurm_opts,
           code, command, inputs, tags, collab_id, wait, as_json) -> int:
    """Queue CODE (a script, folder, git URL or .zip/.tar.gz archive) as a job; prints its id.

    The code is copied into the job's own directory now, so later edits never change a queued job.

    \b
    Examples:
      nmcluster submit ./my_experiment/ -p spikey --command "main.py --opt=1 {system}" \\
          --input data/stim.npy --config '{"STATION": "station500"}' --tag test
      nmcluster submit https://host/repo.git -p wafer --config @hw.json
      nmcluster submit experiment.py -p spinnaker --boards 1 --wait
    """
    from nmcluster.jobs.spec import JobSpec

    env = environment()
    kind = resolve_partition(partition, env)
    config = build_hardware_config(kind, hw_config, station, wafer, hicann, fpga, reticle, boards, env)
    spec = JobSpec.create(code=code, platform=kind, command=command, inputs=inputs, hardware_config=config,
                          tags=tags, collab_id=collab_id)
    with make_service(local) as service:
        record = service.submit(spec, mode=mode or "auto", slurm_options=slurm_opts)
        if wait:
            record = service.wait(record.id)
        if as_json:
            echo_json(record.to_dict())
        else:
            click.echo(record.id)
        if wait:
            return 0 if record.status == "finished" else (record.exit_code or 1)
    return 0

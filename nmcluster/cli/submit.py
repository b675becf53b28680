"""``nmcluster submit``: queue a job in the platform's job format and print its id."""

from __future__ import annotations

import click

from nmcluster.cli.common import (WaitProgress, build_hardware_config, echo_json, environment, hardware_options,
                                  make_service, resolve_partition)


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
@click.option("--array", "array", type=int, default=None, metavar="N",
              help="A sweep of N jobs (one Slurm job array); {task} in the command becomes 0..N-1. "
                   "Prints one job id per task.")
@click.option("--size-from-script", is_flag=True,
              help='SpiNNaker: derive the boards from the script before queueing (BOARDS "auto"): its network is '
                   "built once on the emulator in partition-only mode and the job asks for the chips its "
                   "partitioning report needs.")
@click.option("--code-label", default=None, hidden=True,
              help="What the job record shows as its code (remote submits: the name on the user's machine).")
@click.option("--input-label", "input_labels", multiple=True, hidden=True,
              help="What the job record shows for each input, in order (remote submits).")
def submit(partition, station, wafer, hicann, fpga, reticle, boards, hw_config, local, mode, slurm_opts,
           code, command, inputs, tags, collab_id, wait, as_json, array, size_from_script, code_label,
           input_labels) -> int:
    """Queue CODE (a script, folder, git URL or .zip/.tar.gz archive) as a job; prints its id.

    The code is copied into the job's own directory now, so later edits never change a queued job.

    \b
    Examples:
      nmcluster submit ./my_experiment/ -p spikey --command "main.py --opt=1 {system}" \\
          --input data/stim.npy --config '{"STATION": "station500"}' --tag test
      nmcluster submit https://host/repo.git -p wafer --config @hw.json
      nmcluster submit experiment.py -p spinnaker --boards 1 --wait
      nmcluster submit experiment.py -p spinnaker --size-from-script   # boards from the network's size
      nmcluster submit ./sweep/ -p spikey --command "main.py --seed {task} {system}" --array 100
      nmcluster --host alice@frontend submit ./my_experiment/ -p spikey   # from a laptop, over SSH
    """
    from nmcluster.jobs.spec import JobSpec

    env = environment()
    kind = resolve_partition(partition, env)
    config = build_hardware_config(kind, hw_config, station, wafer, hicann, fpga, reticle, boards, env)
    if size_from_script:
        from nmcluster.errors import UserInputError
        from nmcluster.partitions import partition_class

        sizing = partition_class(kind).SIZE_FROM_SCRIPT
        if not sizing or any(k in config for k in sizing):
            raise UserInputError("--size-from-script sizes SpiNNaker jobs (-p spinnaker) and replaces --boards")
        config.update(sizing)
    spec = JobSpec.create(code=code, platform=kind, command=command, inputs=inputs, hardware_config=config,
                          tags=tags, collab_id=collab_id)
    with make_service(local) as service:
        if array is not None:
            return _submit_array(service, spec, array, mode or "auto", slurm_opts, wait, as_json)
        record = service.submit(spec, mode=mode or "auto", slurm_options=slurm_opts, code_label=code_label,
                                input_labels=list(input_labels) if input_labels else None)
        if wait:
            with WaitProgress() as progress:
                record = service.wait(record.id, on_poll=progress.update)
        if as_json:
            echo_json(record.to_dict())
        else:
            click.echo(record.id)
        if wait:
            return 0 if record.status == "finished" else (record.exit_code or 1)
    return 0


def _submit_array(service, spec, count, mode, slurm_opts, wait, as_json) -> int:
    records = service.submit_array(spec, count, mode=mode, slurm_options=slurm_opts)
    if wait:
        with WaitProgress(len(records)) as progress:
            records = [service.wait(r.id, on_poll=progress.update) for r in records]
    if as_json:
        echo_json([r.to_dict() for r in records])
    else:
        click.echo("\n".join(str(r.id) for r in records))
    if wait and any(r.status != "finished" for r in records):
        return next((r.exit_code for r in records if r.status != "finished" and r.exit_code), 1)
    return 0


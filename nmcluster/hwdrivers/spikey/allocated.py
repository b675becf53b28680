"""Which station Slurm allocated to a job that asked for "any free station".

Slurm's ``station`` GRES has no device files, so Slurm exports nothing naming the station; the
allocation only shows in ``scontrol -d show job`` (``JOB_GRES=station:s500:1,station:s501:0,...``).
``python -m nmcluster.hwdrivers.spikey.allocated -- COMMAND...`` runs inside the allocation, sets
``MY_STAGE1_STATION`` for the chip software and execs the command.  It is the light path of
``nmcluster run`` (no job runner, few imports), so it stays small.
"""

from __future__ import annotations

import os
import re
import sys

_GRES_ENTRY = re.compile(r"^(?:gres[:/])?station:s(\d+)(?::(\d+))?(?:\((?:CNT:(\d+)|IDX:[^)]*)\))?$")


def stations_in(value: str) -> set[int]:
    """Stations with a non-zero count in a GRES list such as ``station:s500(CNT:1)``,
    ``station:s500:1(IDX:0)`` or ``station:s500:1,station:s501:0`` (Slurm lists the zero counts too)."""
    found: set[int] = set()
    for entry in value.split(","):
        m = _GRES_ENTRY.match(entry.strip())
        if not m:
            continue
        count = m.group(2) or m.group(3)
        if count is None or int(count) > 0:
            found.add(int(m.group(1)))
    return found


def allocated_station(job_id: str, env: dict[str, str] | None = None) -> str | None:
    """``station500`` for the job's allocated station GRES, or None."""
    from nmcluster.infra.slurmcli import SlurmCLI

    text = SlurmCLI(env=env).show_jobs_detail(job_id)
    found: set[int] = set()
    for tok in text.split():
        if tok.startswith("GRES="):
            found |= stations_in(tok[5:])
        elif tok.startswith("JOB_GRES=") and not found:
            found |= stations_in(tok[9:])
    return f"station{min(found)}" if found else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--" not in args or args.index("--") == len(args) - 1:
        print("usage: python -m nmcluster.hwdrivers.spikey.allocated -- COMMAND...", file=sys.stderr)
        return 2
    command = args[args.index("--") + 1:]
    env = dict(os.environ)
    if "MY_STAGE1_STATION" not in env and env.get("SLURM_JOB_ID"):
        from nmcluster.errors import NmclusterError

        try:
            station = allocated_station(env["SLURM_JOB_ID"], env)
        except NmclusterError as exc:
            print(f"nmcluster: error: cannot tell which station Slurm allocated: {exc}", file=sys.stderr)
            return 1
        if station:
            env["MY_STAGE1_STATION"] = station
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"nmcluster: error: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

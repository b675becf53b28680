"""SpiNNaker partition: whole boards, claimed through a spalloc server or counted by a Slurm licence.

``BOARDS`` (a count), ``CHIPS`` (a machine size) or ``CORES`` (what the network needs, e.g. from the
SpiNNaker emulator's partitioning report) are turned into boards of the site's inventory by
:mod:`nmcluster.hwdrivers.spinnaker.boards`; with a spalloc server configured spalloc arbitrates the
boards, otherwise the partition's board licence does (``--licenses=spinnaker_board:N``).  The job sees
``NMCLUSTER_SPINNAKER_BOARDS`` (and ``NMCLUSTER_SPALLOC_SERVER`` with spalloc).

``{"BOARDS": "auto"}`` (``nmcluster submit ... -p spinnaker --size-from-script``) sizes the job from the
script before it is queued (:func:`sized_hardware_config`, called by the job service at submit time): a
snapshot of the code runs once on the frontend with ``{system}`` = the SpiNNaker emulator in
"partition only" mode (``$NMCLUSTER_SPINNAKER_PARTITION_ONLY``: the network is built, its partitioning
report written at the first ``run()``, and the script exits without simulating); the report's chips
become the request (``CHIPS``), and a network larger than the site's boards is refused (exit code 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nmcluster.errors import HardwareConfigError, UserInputError
from nmcluster.partitions.base import Partition, QuotaUnit, ScriptRunner, int_value

AUTO = "auto"
SIZING_BACKEND = "nmcluster.spinnaker"
PARTITION_ONLY_ENV = "NMCLUSTER_SPINNAKER_PARTITION_ONLY"  # honoured by pyNN.nmcluster.spinnaker
SIZING_TIMEOUT_ENV = "NMCLUSTER_SIZING_TIMEOUT"  # seconds the sizing run may take (default 300)


def wants_sizing(hw: Mapping[str, Any]) -> bool:
    """Does the hardware config ask for the board count to be derived from the script?"""
    value = hw.get("BOARDS")
    return isinstance(value, str) and value.strip().lower() == AUTO


def size_from_script(run_script: ScriptRunner, env: Mapping[str, str] | None = None,
                     timeout: float | None = None) -> dict[str, Any]:
    """Run the script's network construction on the SpiNNaker emulator in partition-only mode and return
    its partitioning report.  ``run_script`` (given by the job service) runs a temporary snapshot of the
    job's code and inputs with ``{system}`` = the emulator and extra environment variables."""
    env = os.environ if env is None else env
    if timeout is None:
        timeout = float(env.get(SIZING_TIMEOUT_ENV, "") or 300)
    with tempfile.TemporaryDirectory(prefix="nmcluster-sizing-") as tmp:
        report = Path(tmp) / "partitioning.json"
        try:
            proc = run_script(SIZING_BACKEND, {PARTITION_ONLY_ENV: str(report), "NMCLUSTER_BACKEND": SIZING_BACKEND,
                                               "NMCLUSTER_EMULATED": "1"}, timeout)
        except subprocess.TimeoutExpired:
            raise UserInputError(f"sizing the job from the script: it did not reach run() within {timeout:g} s "
                                 f"(${SIZING_TIMEOUT_ENV} raises the limit)") from None
        except OSError as exc:
            raise UserInputError(f"sizing the job from the script: cannot run {exc.filename or 'it'}: "
                                 f"{exc.strerror}") from None
        if not report.is_file():
            lines = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
            if proc.returncode != 0:
                raise UserInputError(f"sizing the job from the script failed (exit code {proc.returncode})"
                                     + (f": {lines[-1].strip()}" if lines else ""))
            raise UserInputError("sizing the job from the script: it ended without calling run() on "
                                 "{system} (pyNN.nmcluster.spinnaker), so there is no partitioning report; "
                                 "give BOARDS, CHIPS or CORES instead")
        try:
            return json.loads(report.read_text())
        except ValueError as exc:
            raise UserInputError(f"sizing the job from the script: unreadable partitioning report: {exc}") from None


def sized_hardware_config(site, hw: Mapping[str, Any], run_script: ScriptRunner,
                          env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``hw`` with ``BOARDS: "auto"`` replaced by what the script's network needs (``CHIPS`` from the
    partitioning report), and the report.  Refused (HardwareConfigError, exit code 2) when the network
    needs more boards than the site has."""
    from nmcluster.hwdrivers.spinnaker.boards import boards_for_report, need_from_report

    others = sorted(k for k in ("CHIPS", "CORES") if k in hw)
    if others:
        raise HardwareConfigError(f'spinnaker hardware config: BOARDS "auto" sizes the job from the script; '
                                  f"do not give {' and '.join(others)} too")
    report = size_from_script(run_script, env)
    try:
        need = need_from_report(report)
        boards_for_report(site.boards, report)
    except HardwareConfigError as exc:
        what = (f"{report.get('cores')} cores on {report.get('chips')} chips, {report.get('boards')} board(s)"
                if isinstance(report, Mapping) else "?")
        raise HardwareConfigError(f"the script's network needs {what}: {exc}") from None
    out = {k: v for k, v in hw.items() if k != "BOARDS"}
    out.update(need)
    return out, report


class SpinnakerPartition(Partition):
    kind = "spinnaker"

    def quota_unit(self) -> QuotaUnit:
        # core-hours (guidebook): CPU minutes of jobs on the spinnaker partition, as the issue asks
        return QuotaUnit("core-hours", 60.0, "CPU=1.0")
    SCHEMA = {"BOARDS": 'integer >= 1, or "auto" (sized from the script at submit time)',
              "CHIPS": "integer >= 1 (machine size)", "CORES": "integer >= 1 (application cores needed)"}

    SIZE_FROM_SCRIPT = {"BOARDS": AUTO}

    def size_from_script(self, hw: Mapping[str, Any], run_script: ScriptRunner,
                         env: Mapping[str, str]) -> Mapping[str, Any]:
        """``BOARDS: "auto"``: the boards the script's network needs (:func:`sized_hardware_config`)."""
        if not wants_sizing(hw):
            return hw
        return sized_hardware_config(self.site, hw, run_script, env)[0]

    def resolve(self, hw: Mapping[str, Any]):
        from nmcluster.hwdrivers.spinnaker import allocation
        from nmcluster.hwdrivers.spinnaker.boards import select_boards

        if wants_sizing(hw):
            raise HardwareConfigError('spinnaker hardware config: BOARDS "auto" is resolved when the job is '
                                      "submitted (nmcluster submit --size-from-script); give a number here")
        values = {k.lower(): int_value(self.kind, k, hw[k]) for k in ("BOARDS", "CHIPS", "CORES") if k in hw}
        req = select_boards(self.site.boards, **values)
        names = [b.name for b in req.boards]
        env = {"NMCLUSTER_SPINNAKER_BOARDS": str(req.count),
               "NMCLUSTER_SPINNAKER_BOARD_NAMES": ",".join(names)}
        normalised: dict[str, Any] = {"BOARDS": req.count}  # what is claimed; the description keeps why
        args = allocation.slurm_licence_args(self.site, req.count)
        if self.site.spalloc.configured:
            env.update(allocation.job_environment(self.site.spalloc))
            return (args, env, normalised, f"spinnaker {req.describe()} via spalloc {self.site.spalloc.host}", [])
        return (args, env, normalised, f"spinnaker {req.describe()}", [f"spinnaker:{n}" for n in names])

    def hardware_present(self, request, env):
        """Ask the SpiNNaker driver: spalloc server answering, or the boards reachable from this node?"""
        from nmcluster.hwdrivers.spinnaker.presence import request_presence

        names = [n for n in request.environment.get("NMCLUSTER_SPINNAKER_BOARD_NAMES", "").split(",") if n]
        return request_presence(self.site, request.hardware_config, names)

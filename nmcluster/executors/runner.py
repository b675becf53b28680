"""The job runner: what executes inside the allocation (or locally), for both executors alike.

``python -m nmcluster.executors.runner batch JOBDIR`` runs a submitted job: it decides hardware or emulator on
the node where the job actually runs, substitutes ``{system}``, runs the command in the job's work
directory (the staged snapshot plus inputs) with the hardware environment, captures the log, and writes
``result.json`` (exit code, output files, backend) so the final state survives Slurm forgetting the job.

``python -m nmcluster.executors.runner exec --request JSON [--mode M] -- ARGV`` is the interactive path of
``nmcluster run``: same decision and substitution, then ``exec`` (no extra process, so output streams
and signals/exit codes are the command's own).

Imports are kept light: this sits on the critical path of every job start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmcluster.command import allowed_backends, build_argv, split_command, uses_system
from nmcluster.executors.jobfile import (JOB_FILE, LOG_FILE, RESULT_FILE, RUNNER_FILE, WORK_DIR,  # noqa: F401
                                        JobFile, write_json_atomic)
from nmcluster.partitions.base import BackendChoice, ResourceRequest, choose_backend

if TYPE_CHECKING:
    from nmcluster.partitions.base import Partition

def partition_of(request: ResourceRequest, env: Mapping[str, str]) -> "Partition":
    """The job's partition, looked up once per job inside the allocation (site config from ``env``)."""
    from nmcluster.config import load_config
    from nmcluster.partitions import get_partition

    return get_partition(request.kind, load_config(env=env))


def runtime_environment(partition: "Partition", request: ResourceRequest, env: Mapping[str, str]) -> dict[str, str]:
    """What only the node running the job knows (e.g. the station Slurm picked)."""
    return partition.runtime_environment(request, env) if partition.needs_runtime_environment(request) else {}


def decide_backend(request: ResourceRequest, mode: str, command: Sequence[str], env: Mapping[str, str],
                   partition: "Partition | None" = None) -> BackendChoice | None:
    """The backend ``{system}`` becomes here: the partition's choice among what ``{system=a,b}`` allows
    (:func:`nmcluster.partitions.base.choose_backend`).  Without ``{system}`` in the command a missing
    emulator is not an error (the script picks its own simulator), so None is returned then."""
    allowed = allowed_backends(command)
    if mode == "emulate" or request.always_emulate or \
            (allowed is not None and request.hardware_backend not in allowed):
        present = False  # the driver need not be asked
    else:
        present = (partition or partition_of(request, env)).hardware_present(request, env)
    try:
        return choose_backend(request, present, mode, allowed=allowed)
    except Exception:
        if uses_system(command) or mode == "hardware":
            raise
        return None


def job_environment(request: ResourceRequest, choice: BackendChoice | None, base: Mapping[str, str],
                    job_id: str = "") -> dict[str, str]:
    env = dict(base)
    env.update(request.environment)
    # pyNN.nmcluster.* for the job's Python even where nmcluster comes through PYTHONPATH (issue 26)
    from nmcluster._pynn_alias import pythonpath_with_hook

    env["PYTHONPATH"] = pythonpath_with_hook(env.get("PYTHONPATH"))
    if job_id:
        env["NMCLUSTER_JOB_ID"] = job_id
    if choice is not None:
        env["NMCLUSTER_BACKEND"] = choice.backend
        env["NMCLUSTER_EMULATED"] = "1" if choice.emulated else "0"
    env.update(compat_names_environment(choice))
    return env


def compat_names_environment(choice: BackendChoice | None) -> dict[str, str]:
    """Hook: the hardware software's import names (``pyhmf``, ``pyNN.hardware.spikey`` ...) resolve
    to the job's emulator (never over a real installation; each name used is told in the job log by
    the job itself): see :mod:`nmcluster._compat_names`."""
    from nmcluster._compat_names import ENV_VAR, job_names

    return {ENV_VAR: job_names(choice.backend if choice else None,
                               bool(choice and choice.emulated))}


def set_uncalibrated_policy(env: dict[str, str]) -> None:
    """Hook: ``$NMCLUSTER_UNCALIBRATED`` from the site's ``[hardware] uncalibrated`` (refuse, warn,
    allow), which the emulators obey for stations/HICANNs without calibration."""
    try:
        from nmcluster.config import load_config

        env["NMCLUSTER_UNCALIBRATED"] = load_config(env=env).hardware.uncalibrated
    except Exception:  # noqa: BLE001 - a broken site config was reported earlier; emulators warn
        env.pop("NMCLUSTER_UNCALIBRATED", None)


def run_exec(request: ResourceRequest, mode: str, command: list[str]) -> int:
    """Interactive path: decide, then replace this process with the command."""
    from nmcluster.errors import NmclusterError

    try:
        partition = partition_of(request, os.environ)
        choice = decide_backend(request, mode, command, os.environ, partition)
    except NmclusterError as exc:
        print(f"nmcluster: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if choice is not None and choice.emulated and os.environ.get("NMCLUSTER_QUIET") != "1":
        print(f"nmcluster: {choice.reason}", file=sys.stderr)
    argv = build_argv(command, choice.backend if choice else None)
    env = job_environment(request, choice, os.environ)
    env.update(runtime_environment(partition, request, env))
    set_uncalibrated_policy(env)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"nmcluster: error: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached


def _files(work: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for root, dirs, names in os.walk(work):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            p = Path(root) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            out[str(p.relative_to(work))] = (st.st_size, st.st_mtime_ns)
    return out


def _die_with_runner():
    """A ``preexec_fn`` for the job's command: the kernel sends it SIGKILL when the runner dies
    (``PR_SET_PDEATHSIG``), so a killed runner (OOM killer, ``kill -9``) never leaves the command running
    unsupervised, e.g. still driving a station whose lock died with the runner.  None where unsupported."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: nothing to import after it
    except (ImportError, OSError, AttributeError):
        return None
    runner = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != runner:  # the runner died before the line above
            os._exit(137)
    return preexec


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal a job's process group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_batch(job_dir: Path, lock_dir: Path | None = None) -> int:
    """Run one submitted job to completion; always leaves result.json unless SIGKILLed.  ``lock_dir``
    (the local executor's): take the request's exclusive resources as advisory locks there first."""
    import socket

    from nmcluster.executors.jobfile import JobFileError

    try:
        job = JobFile.read(job_dir)
    except JobFileError as exc:  # end with a result that says why, rather than a traceback in slurm.out
        now = time.time()
        write_json_atomic(job_dir / RESULT_FILE, {"start": now, "end": now, "exit_code": 2, "state": "error",
                                                  "reason": str(exc), "outputs": []})
        print(f"nmcluster: error: {exc}", file=sys.stderr)
        return 2
    request = job.request
    work = job_dir / WORK_DIR
    log_path = job_dir / LOG_FILE
    try:
        done = json.loads((job_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        done = None
    if done is not None:
        # This job already ran to its end and its record may be final: never run it a second time
        # (slurmctld restarted from state saved before the job ended re-queues it; measured after a
        # slurmctld SIGKILL).  A job whose first run died without a result (node failure) does run again.
        with open(log_path, "a") as log:
            log.write(f"[nmcluster {time.strftime('%Y-%m-%d %H:%M:%S')}] started again "
                      f"(Slurm job {os.environ.get('SLURM_JOB_ID', '?')}) although it already ended "
                      f"({done.get('state')}); not running it twice\n")
        return 0
    started = time.time()
    result: dict[str, Any] = {"start": started, "host": socket.gethostname()}
    lock_fds: list[int] = []
    child: subprocess.Popen | None = None
    cancelled = {"signal": 0}

    def on_signal(signum, _frame):  # scancel / local cancel: pass it on, remember why we stop
        cancelled["signal"] = signum
        if child is not None and child.poll() is None:
            _signal_group(child.pid, signum)  # the command and whatever it started (a shell's children)
        else:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open(log_path, "a", buffering=1) as log:
        def note(msg: str) -> None:
            log.write(f"[nmcluster {time.strftime('%Y-%m-%d %H:%M:%S')}] {msg}\n")

        try:
            keys, where = (job.lock_keys, job.lock_dir) if job.lock_keys else (request.lock_keys, lock_dir)
            if keys and where:
                from nmcluster.infra import locks

                lock_fds = locks.acquire(keys, Path(where), locks.describe_owner(str(job.id)), announce=note)
            command = split_command(job.command)
            partition = partition_of(request, os.environ)
            choice = decide_backend(request, job.mode, command, os.environ, partition)
            argv = build_argv(command, choice.backend if choice else None)
            env = job_environment(request, choice, os.environ, str(job.id))
            env.update(runtime_environment(partition, request, env))
            allocated = partition.allocated_config(request, env)
            prepared = partition.prepare_job(request, env, job_dir, note)
            calib_version = prepared.get("calib_version")
            coverage = prepared.get("calib_coverage") or {}
            state = {"state": "running", "start": time.time(), "host": result["host"], "pid": os.getpid(),
                     "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")}
            if calib_version is not None:
                state["calib_version"] = result["calib_version"] = calib_version
            if coverage:
                state["calib_coverage"] = result["calib_coverage"] = coverage
            if allocated:
                state["allocated"] = result["allocated"] = allocated
            if choice is not None:
                state.update(choice.to_dict())
                uncal = [u for u, v in coverage.items() if v is None]
                if uncal and env.get("NMCLUSTER_UNCALIBRATED") != "allow":
                    state["backend_reason"] = (state.get("backend_reason", "") +
                                               f"; uncalibrated: {', '.join(uncal[:8])}"
                                               + (" ..." if len(uncal) > 8 else ""))
                note(state.get("backend_reason") or choice.reason)  # as recorded, with what is uncalibrated
            got = "".join(f", got {k} {v}" for k, v in allocated.items())
            note(f"job {job.id} on {result['host']}: {request.description}{got}; running {' '.join(argv)}")
            write_json_atomic(job_dir / RUNNER_FILE, state)
            before = _files(work)
            try:
                # its own process group: a cancel reaches everything the command started, and nothing it
                # started outlives the job (Slurm's proctrack does the same for Slurm jobs)
                child = subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_runner(),
                                         process_group=0)
            except OSError as exc:
                note(f"cannot run {argv[0]}: {exc.strerror}")
                code = 127
            else:
                code = child.wait()
                if _signal_group(child.pid, signal.SIGKILL):
                    note("killed processes the command left running in its process group")
            after = _files(work)
            inputs = set(job.inputs)
            outputs = sorted(p for p, sig in after.items() if before.get(p) != sig and p not in inputs)
            if choice is not None:
                result.update(choice.to_dict())
                if "backend_reason" in state:
                    result["backend_reason"] = state["backend_reason"]
            result.update(end=time.time(), exit_code=code, outputs=outputs)
            if cancelled["signal"]:
                result.update(state="error", reason=f"cancelled (signal {cancelled['signal']})")
            elif code == 0:
                result.update(state="finished", reason="")
            else:
                reason = f"exit code {code}" if code > 0 else f"killed by signal {-code}"
                result.update(state="error", reason=reason)
            note(f"finished with {result['reason'] or 'exit code 0'}")
        except BaseException as exc:  # noqa: BLE001 - the job must end with a result, whatever happened
            code = 128 + cancelled["signal"] if cancelled["signal"] else 1
            reason = (f"cancelled (signal {cancelled['signal']})" if cancelled["signal"]
                      else f"runner failed: {exc}")
            note(reason)
            result.update(end=time.time(), exit_code=code, state="error", reason=reason, outputs=[])
        finally:
            from nmcluster.infra import locks

            locks.release(lock_fds)
    write_json_atomic(job_dir / RESULT_FILE, result)
    return int(result["exit_code"]) if result["exit_code"] >= 0 else 128 - int(result["exit_code"])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "batch":
        return run_batch(Path(args[1]))
    if len(args) == 4 and args[0] == "batch" and args[2] == "--lock-dir":
        return run_batch(Path(args[1]), Path(args[3]))
    if args and args[0] == "exec" and "--" in args:
        sep = args.index("--")
        opts, command = args[1:sep], args[sep + 1:]
        request_json, mode = None, "auto"
        for i, opt in enumerate(opts):
            if opt == "--request":
                request_json = opts[i + 1]
            elif opt == "--mode":
                mode = opts[i + 1]
        if request_json is None or not command:
            print("usage: runner exec --request JSON [--mode auto|hardware|emulate] -- COMMAND...", file=sys.stderr)
            return 2
        return run_exec(ResourceRequest.from_dict(json.loads(request_json)), mode, command)
    print("usage: python -m nmcluster.executors.runner batch JOBDIR [--lock-dir DIR] | "
          "exec --request JSON -- COMMAND...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""The job runner: what executes inside the allocation (or locally), for both executors alike.

``python -m nmcluster.jobs.runner batch JOBDIR`` runs a submitted job: it decides hardware or emulator on
the node where the job actually runs, substitutes ``{system}``, runs the command in the job's work
directory (the staged snapshot plus inputs) with the hardware environment, captures the log, and writes
``result.json`` (exit code, output files, backend) so the final state survives Slurm forgetting the job.

``python -m nmcluster.jobs.runner exec --request JSON [--mode M] -- ARGV`` is the interactive path of
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
from typing import Any

from nmcluster.jobs.spec import SYSTEM_RE, split_command, substitute_system
from nmcluster.partitions.base import BackendChoice, ResourceRequest, choose_backend

PYTHONS = ("python", "python3")
JOB_FILE = "job.json"
RUNNER_FILE = "runner.json"
RESULT_FILE = "result.json"
LOG_FILE = "job.log"
WORK_DIR = "work"


def write_json_atomic(path: Path, data: Mapping[str, Any], fsync: bool = True) -> None:
    """Readers see the old file or the new one, never half of it (``fsync``: and it survives a crash)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)  # a full disk must not leave a half-written temporary behind
        except OSError:
            pass
        raise


def hardware_present(request: ResourceRequest, env: Mapping[str, str]) -> bool:
    """Ask the partition's driver layer (loaded only when needed)."""
    from nmcluster.config import load_config
    from nmcluster.partitions import get_partition

    return get_partition(request.kind, load_config(env=env)).hardware_present(request, env)


def runtime_environment(request: ResourceRequest, env: Mapping[str, str]) -> dict[str, str]:
    """What only the node running the job knows (e.g. the station Slurm picked)."""
    from nmcluster.config import load_config
    from nmcluster.partitions import get_partition

    partition = get_partition(request.kind, load_config(env=env))
    return partition.runtime_environment(request, env) if partition.needs_runtime_environment(request) else {}


def decide_backend(request: ResourceRequest, mode: str, command: Sequence[str],
                   env: Mapping[str, str]) -> BackendChoice | None:
    """The backend ``{system}`` becomes here.  Without ``{system}`` in the command a missing emulator is
    not an error (the script picks its own simulator), so None is returned then."""
    present = False if mode == "emulate" or request.always_emulate else hardware_present(request, env)
    needs = any(SYSTEM_RE.search(a) for a in command)
    try:
        choice = choose_backend(request, present, mode)
    except Exception:
        if needs or mode == "hardware":
            raise
        return None
    restrictions = [m.group(1) for a in command for m in SYSTEM_RE.finditer(a) if m.group(1)]
    for allowed in restrictions:
        names = [n.strip() for n in allowed.split(",")]
        if choice.backend not in names:
            from nmcluster.errors import UserInputError

            raise UserInputError(f"the command allows only {{system={allowed}}}, but this job runs on "
                                 f"{choice.backend}")
    return choice


def build_argv(command: Sequence[str], backend: str | None) -> list[str]:
    """Substitute ``{system}``; ``x.py`` and a bare ``python`` run under nmcluster's own interpreter,
    which is where the emulator backends are installed."""
    argv = [substitute_system(a, backend) if backend else a for a in command]
    if argv and argv[0] in PYTHONS:
        argv[0] = sys.executable
    elif argv and argv[0].endswith(".py"):
        argv.insert(0, sys.executable)
    return argv


def job_environment(request: ResourceRequest, choice: BackendChoice | None, base: Mapping[str, str],
                    job_id: str = "") -> dict[str, str]:
    env = dict(base)
    env.update(request.environment)
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


def run_exec(request: ResourceRequest, mode: str, command: list[str]) -> int:
    """Interactive path: decide, then replace this process with the command."""
    from nmcluster.errors import NmclusterError

    try:
        choice = decide_backend(request, mode, command, os.environ)
    except NmclusterError as exc:
        print(f"nmcluster: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if choice is not None and choice.emulated and os.environ.get("NMCLUSTER_QUIET") != "1":
        print(f"nmcluster: {choice.reason}", file=sys.stderr)
    argv = build_argv(command, choice.backend if choice else None)
    env = job_environment(request, choice, os.environ)
    env.update(runtime_environment(request, env))
    set_uncalibrated_policy(env)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"nmcluster: error: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached


def pin_calibration(request: ResourceRequest, env: dict[str, str], note=None) -> int | None:
    """The calibration version this job uses (``CALIB_VERSION`` of the hardware config, passed as
    ``$NMCLUSTER_CALIB_VERSION``, else the target's current version now), pinned in ``env`` so that a
    version committed while the job runs does not change it; None when the target has none."""
    if request.kind not in ("spikey", "wafer", "ess"):
        return None
    try:
        from nmcluster.calib.store import ENV_VERSION, job_calibration_version

        version = job_calibration_version(request.kind, env)
    except Exception as exc:  # noqa: BLE001 - an unreadable store must not stop the job; say so
        if note is not None:
            note(f"calibration store not readable, running uncalibrated: {exc}")
        return None
    if version is not None:
        env[ENV_VERSION] = str(version)
    return version


def set_uncalibrated_policy(env: dict[str, str]) -> None:
    """Hook: ``$NMCLUSTER_UNCALIBRATED`` from the site's ``[hardware] uncalibrated`` (refuse, warn,
    allow), which the emulators obey for stations/HICANNs without calibration."""
    try:
        from nmcluster.config import load_config

        env["NMCLUSTER_UNCALIBRATED"] = load_config(env=env).hardware.uncalibrated
    except Exception:  # noqa: BLE001 - a broken site config was reported earlier; emulators warn
        env.pop("NMCLUSTER_UNCALIBRATED", None)


def env_version(env: Mapping[str, str]) -> int | None:
    """The version pinned in ``env`` (``$NMCLUSTER_CALIB_VERSION``), for the defects' blacklists."""
    v = env.get("NMCLUSTER_CALIB_VERSION", "").strip()
    return int(v) if v.isdigit() else None


def calibration_coverage(request: ResourceRequest, env: dict[str, str], version: int | None,
                         note=None) -> dict[str, int | None]:
    """Hook: what the pinned calibration covers, per HICANN (wafer/ESS) or station (Spikey).

    A store version covers only the HICANNs it measured (version 1 of ``wafer33`` may hold HICANNs
    297 and 298 alone), so the job's version is told per unit: the returned map (unit -> version or
    None) goes into runner.json/result.json, the uncovered units into the job log and the backend
    reason (``nmcluster status``).  Sets ``$NMCLUSTER_UNCALIBRATED`` from the site's
    ``[hardware] uncalibrated`` (refuse/warn/allow), which the emulators obey."""
    if request.kind not in ("spikey", "wafer", "ess"):
        return {}
    try:
        from nmcluster.calib.store import CalibStore, default_root
        from nmcluster.config import load_config

        site = load_config(env=env)
        env["NMCLUSTER_UNCALIBRATED"] = site.hardware.uncalibrated
        store = CalibStore(default_root(site, env))
        if request.kind == "spikey":
            station = env.get("MY_STAGE1_STATION", "")
            units = {station: version} if station else {}
        else:
            wafer = (env.get("NMCLUSTER_WAFER") or "").strip()
            names = [n.strip().upper() for n in env.get("SLURM_HICANNS", "").split(",") if n.strip()]
            if not wafer.isdigit() or not names:
                return {}
            covered: set[str] = set()
            if version is not None:
                cal = store.read(f"wafer{wafer}", version)
                covered = {k.split("/")[1] for k in cal.data if k.startswith("hicann/")}
            units = {n: (version if n.split("H", 1)[1] in covered else None) for n in names}
    except Exception as exc:  # noqa: BLE001 - the job runs; the log says what is unknown
        if note is not None:
            note(f"cannot tell which hardware the calibration covers: {exc}")
        return {}
    missing = [u for u, v in units.items() if v is None]
    if missing and note is not None and site.hardware.uncalibrated != "allow":
        note(f"uncalibrated ({'refused by the site' if site.hardware.uncalibrated == 'refuse' else 'nominal values'}): "
             f"{', '.join(missing[:20])}" + (f" (calibration version {version} covers "
                                              f"{', '.join(u for u, v in units.items() if v is not None) or 'none of them'})"
                                              if version is not None else " (no calibration in the store)"))
    return units


def job_defects(request: ResourceRequest, env: dict[str, str], job_dir: Path, version: int | None,
                note=None) -> None:
    """Wafer/ESS jobs: write the job's defects (site defects files + the calibration store's blacklists of
    the pinned ``version``) to ``<job_dir>/defects/wafer<W>.json`` and point ``SLURM_DEFECTS_PATH`` there,
    so the job (and the wafer emulator) skip what the store blacklists.  On failure the partition's
    ``SLURM_DEFECTS_PATH`` stays, and the log says why."""
    if request.kind not in ("wafer", "ess") or not (env.get("NMCLUSTER_WAFER") or "").isdigit():
        return
    try:
        from nmcluster.calib.store import default_root
        from nmcluster.config import load_config
        from nmcluster.hwdrivers.wafer.defects import job_defects_dir

        site = load_config(env=env)
        path = job_defects_dir(site, int(env["NMCLUSTER_WAFER"]), job_dir / "defects",
                               calib_root=default_root(site, env), version=version)
    except Exception as exc:  # noqa: BLE001 - say so, keep the site's defects
        if note is not None:
            note(f"cannot write the job's defects file, SLURM_DEFECTS_PATH stays "
                 f"{env.get('SLURM_DEFECTS_PATH') or 'unset'}: {exc}")
        return
    env["SLURM_DEFECTS_PATH"] = str(path)


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


def run_batch(job_dir: Path) -> int:
    """Run one submitted job to completion; always leaves result.json unless SIGKILLed."""
    import socket

    job = json.loads((job_dir / JOB_FILE).read_text())
    request = ResourceRequest.from_dict(job["request"])
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
            if job.get("lock_keys"):
                from nmcluster.jobs import locks

                lock_fds = locks.acquire(job["lock_keys"], Path(job["lock_dir"]),
                                         locks.describe_owner(str(job["id"])), announce=note)
            command = split_command(job["command"])
            choice = decide_backend(request, job.get("mode", "auto"), command, os.environ)
            argv = build_argv(command, choice.backend if choice else None)
            env = job_environment(request, choice, os.environ, str(job["id"]))
            env.update(runtime_environment(request, env))
            calib_version = pin_calibration(request, env, note)
            coverage = calibration_coverage(request, env, calib_version, note)
            if coverage and all(v is None for v in coverage.values()):
                calib_version = None  # the pinned version covers none of the job's hardware
            job_defects(request, env, job_dir, calib_version if calib_version is not None
                        else env_version(env), note)
            state = {"state": "running", "start": time.time(), "host": result["host"], "pid": os.getpid(),
                     "slurm_job_id": os.environ.get("SLURM_JOB_ID", "")}
            if calib_version is not None:
                state["calib_version"] = result["calib_version"] = calib_version
            if coverage:
                state["calib_coverage"] = result["calib_coverage"] = coverage
            if choice is not None:
                state.update(choice.to_dict())
                uncal = [u for u, v in coverage.items() if v is None]
                if uncal and env.get("NMCLUSTER_UNCALIBRATED") != "allow":
                    state["backend_reason"] = (state.get("backend_reason", "") +
                                               f"; uncalibrated: {', '.join(uncal[:8])}"
                                               + (" ..." if len(uncal) > 8 else ""))
                note(choice.reason)
            note(f"job {job['id']} on {result['host']}: {request.description}; running {' '.join(argv)}")
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
            inputs = set(job.get("inputs", ()))
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
            from nmcluster.jobs import locks

            locks.release(lock_fds)
    write_json_atomic(job_dir / RESULT_FILE, result)
    return int(result["exit_code"]) if result["exit_code"] >= 0 else 128 - int(result["exit_code"])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "batch":
        return run_batch(Path(args[1]))
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
    print("usage: python -m nmcluster.jobs.runner batch JOBDIR | exec --request JSON -- COMMAND...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

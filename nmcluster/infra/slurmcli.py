"""The one adapter between nmcluster and Slurm's command-line tools (sbatch, srun, squeue, scontrol, scancel).

Every call is an argument list run through :mod:`subprocess` (never a shell) with a timeout.  Failures are
turned into the project's exceptions:

* the controller does not answer (slurmctld down, no configuration, a tool missing or timing out) ->
  :class:`~nmcluster.errors.SlurmUnavailableError` ``"Slurm is not answering: <short reason>"``;
* anything else Slurm refuses -> :class:`~nmcluster.errors.SlurmError` carrying Slurm's own one-line message
  (``"Invalid generic resource (gres) specification"``, ``"Invalid partition name specified"``).

Job states come from three sources, in this order: ``squeue`` (every job slurmctld still remembers, whatever
its state), then Slurm's job-completion file (``JobCompType=jobcomp/filetxt``) for jobs slurmctld already
purged (``MinJobAge``).  Ids unknown everywhere are absent from :meth:`SlurmCLI.jobs`.

Slurm 22.05 facts this module relies on (verified against 22.05.8):

* ``squeue --json`` exists but ignores ``-j``/``-t`` (it always dumps every job, ~3 KB each), so the default
  query is ``squeue -h -t all -j <ids> -O <field>:|,...`` (``:|`` = no padding, ``|`` as delimiter, filtered
  by slurmctld); the JSON form is the fallback when the ``-O`` format is rejected;
* ``squeue``'s ``exit_code`` and the JSON ``exit_code`` are the raw wait status (``exit 3`` -> 768,
  ``SIGKILL`` -> 9); ``scontrol`` and the jobcomp file print ``ExitCode=<code>:<signal>``;
* ``squeue -j <one unknown id>`` fails with "Invalid job id specified"; several unknown ids print nothing;
* client tools retry an unreachable controller for ``MessageTimeout`` (10 s) before failing, while
  ``scontrol ping`` fails at once — hence the cheap ping before the first real call of a burst.

Import cost is kept to the standard library: this module is on the CLI's fast path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from nmcluster.errors import SlurmError, SlurmUnavailableError

class _LazyRegex:
    """A regex compiled on first use (module import stays cheap on the CLI's fast path)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags, self._rx = pattern, flags, None

    def __getattr__(self, name: str):
        if self._rx is None:
            self._rx = re.compile(self.pattern, self.flags)
        return getattr(self._rx, name)


#: Slurm base states after which a job never changes again.
FINAL_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
    "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED",
})
#: States whose exit code is already meaningful.
_EXITED_STATES = FINAL_STATES | {"COMPLETING"}

_UNAVAILABLE = _LazyRegex(
    r"Unable to contact slurm controller|Could not establish a configuration source|"
    r"Connection refused|Socket timed out|Communication connection failure|"
    r"Zero Bytes were transmitted or received|Unable to establish controller machine|"
    r"Slurm backup controller in standby mode|Transport endpoint is not connected|"
    r"Connection reset by peer|No route to host|Network is unreachable|"
    r"Unable to resolve .*controller|Invalid authentication credential|Munge encode failed|"
    r"Unable to (?:create|verify) .*credential|munged|Unable to process configuration file",
    re.IGNORECASE,
)
_IGNORABLE_CANCEL = _LazyRegex(r"already completing or completed|Invalid job id specified", re.IGNORECASE)
_INVALID_JOB_ID = _LazyRegex(r"Invalid job id specified", re.IGNORECASE)
_ERROR_PREFIX = _LazyRegex(r"^(?:\w+: )?(?:(?:error|fatal): )+", re.IGNORECASE)
_SUBMIT_PREFIX = _LazyRegex(r"^(?:Batch job submission failed|Job submit/allocate failed|"
                            r"slurm_load_\w+(?: error)?|Kill job error on job id \S+):\s*", re.IGNORECASE)

# squeue -O fields: ":|" means "no padding, '|' after the value"; the name goes last (it may contain '|').
_SQUEUE_FIELDS = ("JobID", "State", "Reason", "exit_code", "SubmitTime", "StartTime", "EndTime",
                  "Partition", "NodeList", "Name")
_SQUEUE_FORMAT = ",".join(f"{f}:|" for f in _SQUEUE_FIELDS)

_JOBCOMP_KEYS = ("JobId", "UserId", "GroupId", "Name", "JobState", "Partition", "TimeLimit", "StartTime",
                 "EndTime", "NodeList", "NodeCnt", "ProcCnt", "WorkDir", "ReservationName", "Tres",
                 "Account", "QOS", "WcKey", "Cluster", "SubmitTime", "EligibleTime", "ArrayJobId",
                 "ArrayTaskId", "HetJobId", "HetJobOffset", "DerivedExitCode", "ExitCode")
_JOBCOMP_KEY_RE = _LazyRegex(r"(?:^| )(" + "|".join(_JOBCOMP_KEYS) + r")=")
_EXIT_PAIR = _LazyRegex(r"^(-?\d+):(-?\d+)$")
_ARRAY_KEYS = _LazyRegex(r" ArrayJobId=\d+ ArrayTaskId=\d+ ")


class SlurmJobInfo(NamedTuple):
    """What Slurm says about one job.  Times are epoch seconds (None when Slurm has none).

    A NamedTuple rather than a dataclass: this module is imported by every ``nmcluster run`` and a
    frozen dataclass costs ~0.5 ms of class creation (its methods are generated with ``exec``)."""

    job_id: str
    state: str  # Slurm base state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, ...
    reason: str
    exit_code: int | None
    signal: int | None
    submit_time: float | None
    start_time: float | None
    end_time: float | None
    partition: str = ""
    name: str = ""
    nodes: str = ""
    source: str = "squeue"  # squeue | scontrol | jobcomp

    @property
    def final(self) -> bool:
        """True once the job can no longer change state."""
        return self.state in FINAL_STATES


class SlurmNodeInfo:
    """One node as ``scontrol -d -o show node`` shows it (a plain class: this module's import is on the
    CLI's fast path; a dataclass costs ~0.5 ms to create, see SlurmJobInfo)."""

    __slots__ = ("name", "state", "partitions", "gres", "gres_used")

    def __init__(self, name: str, state: str, partitions: tuple[str, ...], gres: str, gres_used: str) -> None:
        self.name, self.state, self.partitions, self.gres, self.gres_used = name, state, partitions, gres, gres_used

    @property
    def allocatable(self) -> bool:
        """Can Slurm start a new job here now?  IDLE or MIXED without DRAIN/DOWN/... flags."""
        flags = self.state.upper().split("+")
        return flags[0] in ("IDLE", "MIXED") and not set(flags[1:]) & {
            "DRAIN", "DRAINING", "DRAINED", "DOWN", "FAIL", "FAILING", "MAINT", "RESERVED", "NOT_RESPONDING",
            "POWERED_DOWN", "POWERING_DOWN", "POWERING_UP", "REBOOT_REQUESTED", "REBOOT_ISSUED", "PLANNED"}

    def __repr__(self) -> str:
        return f"SlurmNodeInfo({self.name!r}, {self.state!r}, {self.partitions!r})"


def base_state(state: str) -> str:
    """``"CANCELLED by 0"`` / ``"COMPLETING+"`` -> ``"CANCELLED"`` / ``"COMPLETING"``."""
    return re.split(r"[\s+]", state.strip(), maxsplit=1)[0].upper() if state.strip() else ""


def parse_time(text: str) -> float | None:
    """Slurm's local ``YYYY-MM-DDTHH:MM:SS`` (or an epoch integer) -> epoch seconds; None for none."""
    text = text.strip()
    if not text or text.upper() in ("N/A", "NONE", "UNKNOWN", "(NULL)", "0"):
        return None
    if text.isdigit():
        return float(text)
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def split_wait_status(raw: int) -> tuple[int, int]:
    """A raw wait status (what squeue reports) -> (exit code, signal)."""
    return (raw >> 8) & 0xFF, raw & 0x7F


def parse_exit_pair(text: str) -> tuple[int | None, int | None]:
    """``"3:0"`` -> (3, 0); anything else -> (None, None)."""
    m = _EXIT_PAIR.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def parse_key_values(line: str, keys: Sequence[str] = _JOBCOMP_KEYS) -> dict[str, str]:
    """Split a ``Key=value Key=value`` line on the given keys (so values may contain spaces, e.g. names)."""
    pattern = _JOBCOMP_KEY_RE if keys is _JOBCOMP_KEYS else \
        re.compile(r"(?:^| )(" + "|".join(map(re.escape, keys)) + r")=")
    matches = list(pattern.finditer(line))
    out: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        out.setdefault(m.group(1), line[m.end():end].strip())
    return out


def parse_jobcomp_line(line: str) -> SlurmJobInfo | None:
    """One ``jobcomp/filetxt`` line -> :class:`SlurmJobInfo` (None if it is not a job line)."""
    if not line.startswith("JobId="):
        return None
    kv = parse_key_values(line.rstrip("\n"))
    state = base_state(kv.get("JobState", ""))
    if not kv.get("JobId") or not state:
        return None
    code, sig = parse_exit_pair(kv.get("ExitCode", ""))
    nodes = kv.get("NodeList", "")
    job_id = kv["JobId"]
    if kv.get("ArrayJobId", "").isdigit() and kv.get("ArrayTaskId", "").isdigit():
        job_id = f"{kv['ArrayJobId']}_{kv['ArrayTaskId']}"  # an array task: named as sbatch --array names it
    return SlurmJobInfo(job_id=job_id, state=state, reason="", exit_code=code, signal=sig,
                        submit_time=parse_time(kv.get("SubmitTime", "")),
                        start_time=parse_time(kv.get("StartTime", "")),
                        end_time=parse_time(kv.get("EndTime", "")),
                        partition=kv.get("Partition", ""), name=kv.get("Name", ""),
                        nodes="" if nodes == "(null)" else nodes, source="jobcomp")


def _reverse_lines(path: Path, block: int = 1 << 20) -> Iterator[str]:
    """Lines of a file, last first, read in blocks (the jobs asked about are usually the recent ones)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        pos = fh.tell()
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step) + rest
            lines = chunk.split(b"\n")
            rest = lines.pop(0)
            for raw in reversed(lines):
                if raw:
                    yield raw.decode("utf-8", "replace")
        if rest:
            yield rest.decode("utf-8", "replace")


def _job_from_squeue_line(line: str) -> SlurmJobInfo | None:
    parts = line.split("|", len(_SQUEUE_FIELDS) - 1)
    if len(parts) != len(_SQUEUE_FIELDS):
        return None
    job_id, state, reason, raw_exit, submit, start, end, partition, nodes, name = (p.strip() for p in parts)
    if name.endswith("|"):
        name = name[:-1]
    state = base_state(state)
    if not job_id or not state:
        return None
    code = sig = None
    if state in _EXITED_STATES and raw_exit.lstrip("-").isdigit():
        code, sig = split_wait_status(int(raw_exit))
    return SlurmJobInfo(
        job_id=job_id, state=state, reason="" if reason == "None" else reason, exit_code=code, signal=sig,
        submit_time=parse_time(submit),
        start_time=None if state == "PENDING" else parse_time(start),
        end_time=parse_time(end) if state in FINAL_STATES else None,
        partition=partition, name=name, nodes="" if nodes in ("(null)", "n/a") else nodes, source="squeue")


def expand_task_ids(text: str) -> list[str]:
    """squeue's ArrayTaskID of a pending array record -> task ids: ``"0-2,7%4"`` -> 0, 1, 2, 7."""
    out: list[str] = []
    for part in text.split("%", 1)[0].strip("[]").split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            out.extend(str(t) for t in range(int(lo), int(hi or lo) + 1))
    return out


def _jobs_from_array_squeue_line(line: str) -> list[SlurmJobInfo]:
    """A line of ``squeue -O ArrayJobID:|,ArrayTaskID:|,<the usual fields>`` -> one info per array task
    (a pending array is one record standing for all its tasks not yet started)."""
    array_id, task_ids, rest = (line.split("|", 2) + ["", ""])[:3]
    info = _job_from_squeue_line(rest)
    if info is None or not array_id.strip().isdigit():
        return []
    tasks = expand_task_ids(task_ids.strip())
    return [info._replace(job_id=f"{array_id.strip()}_{t}") for t in tasks]


def _job_from_json(job: Mapping[str, object]) -> SlurmJobInfo | None:
    job_id = job.get("job_id")
    if job_id is None:
        return None
    if job.get("array_task_id") not in (None, "") and job.get("array_job_id"):
        job_id = f"{job['array_job_id']}_{job['array_task_id']}"
    state = base_state(str(job.get("job_state", "")))
    code = sig = None
    raw = job.get("exit_code")
    if state in _EXITED_STATES and isinstance(raw, int):
        code, sig = split_wait_status(raw)

    def epoch(key: str) -> float | None:
        value = job.get(key)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    reason = str(job.get("state_reason", "") or "")
    return SlurmJobInfo(
        job_id=str(job_id), state=state, reason="" if reason == "None" else reason, exit_code=code, signal=sig,
        submit_time=epoch("submit_time"), start_time=None if state == "PENDING" else epoch("start_time"),
        end_time=epoch("end_time") if state in FINAL_STATES else None,
        partition=str(job.get("partition", "") or ""), name=str(job.get("name", "") or ""),
        nodes=str(job.get("nodes", "") or ""), source="squeue")


class SlurmCLI:
    """Slurm's command-line tools behind one small API.

    ``env`` is the environment the tools run in (default: the process environment at call time, so a
    ``SLURM_CONF`` set later is honoured); ``timeout`` bounds every call; ``jobcomp_file`` is Slurm's
    ``JobCompLoc`` (``slurm.jobcomp_file`` in the site config) read for jobs slurmctld has forgotten.
    """

    #: how long a successful answer from slurmctld spares the next call its ping
    PING_TTL = 2.0
    #: upper bound for availability probes (auto-selection must stay fast when Slurm is absent)
    PROBE_TIMEOUT = 1.0
    #: job ids per squeue call (keeps the command line short for huge batches)
    SQUEUE_CHUNK = 1000

    def __init__(self, env: Mapping[str, str] | None = None, timeout: float = 15.0,
                 jobcomp_file: str = "") -> None:
        self._env = dict(env) if env is not None else None
        self.timeout = timeout
        self.jobcomp_file = jobcomp_file
        self._last_ok = 0.0

    # ------------------------------------------------------------------ plumbing
    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment Slurm tools run in (``extra`` on top)."""
        env = dict(os.environ) if self._env is None else dict(self._env)
        if extra:
            env.update(extra)
        return env

    def binary(self, name: str) -> str | None:
        """Full path of a Slurm tool, or None when it is not installed."""
        return shutil.which(name, path=self.environ().get("PATH", os.defpath))

    def _start(self, argv: Sequence[str], env: Mapping[str, str] | None = None
               ) -> tuple[subprocess.Popen[str], list[str]]:
        tool = argv[0]
        exe = self.binary(tool)
        if exe is None:
            raise SlurmUnavailableError(f"Slurm is not answering: {tool} is not installed (not on PATH)")
        environ = self.environ(env)
        conf = environ.get("SLURM_CONF")
        if conf and not os.path.isfile(conf):
            # the tools would retry reading it for 60 s
            raise SlurmUnavailableError(f"Slurm is not answering: SLURM_CONF names {conf}, which does not exist")
        cmd = [exe, *argv[1:]]
        try:
            # own process group: on timeout the whole group is killed, so no child keeps our pipes open
            popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, env=environ,
                                     start_new_session=True)
        except OSError as exc:
            raise SlurmUnavailableError(f"Slurm is not answering: cannot run {tool}: {exc.strerror or exc}"
                                        ) from None
        return popen, cmd

    @staticmethod
    def _kill(popen: subprocess.Popen[str]) -> None:
        try:
            os.killpg(popen.pid, 9)
        except OSError:
            popen.kill()
        popen.communicate()

    def _wait(self, started: tuple[subprocess.Popen[str], list[str]], limit: float
              ) -> subprocess.CompletedProcess[str]:
        popen, cmd = started
        try:
            stdout, stderr = popen.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            self._kill(popen)
            raise SlurmUnavailableError(f"Slurm is not answering: {os.path.basename(cmd[0])} gave no answer "
                                        f"within {limit:g} s") from None
        return subprocess.CompletedProcess(cmd, popen.returncode, stdout, stderr)

    def _run(self, argv: Sequence[str], *, timeout: float | None = None,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self._wait(self._start(argv, env), self.timeout if timeout is None else timeout)

    @staticmethod
    def _message(proc: subprocess.CompletedProcess[str]) -> str:
        """Slurm's own one-line message from a failed call (the last error line, prefixes stripped)."""
        lines = [ln.strip() for ln in (proc.stderr or "").splitlines() if ln.strip()]
        if not lines:
            lines = [ln.strip() for ln in (proc.stdout or "").splitlines() if ln.strip()]
        errors = [ln for ln in lines if re.search(r"\b(error|fatal)\b", ln, re.IGNORECASE)] or lines
        if not errors:
            return f"exit status {proc.returncode}"
        ruled = [ln for ln in errors if "nmcluster site rules:" in ln]
        if ruled:  # the site's job_submit.lua said why (the last line is only "Access/permission denied")
            return _ERROR_PREFIX.sub("", ruled[-1]).strip()
        text = _ERROR_PREFIX.sub("", errors[-1])
        text = _SUBMIT_PREFIX.sub("", text)
        return text.strip() or errors[-1]

    def _failure(self, tool: str, proc: subprocess.CompletedProcess[str]) -> Exception:
        message = self._message(proc)
        blob = (proc.stderr or "") + (proc.stdout or "")
        if _UNAVAILABLE.search(blob):
            # the reason as Slurm says it, e.g. "Unable to contact slurm controller (connect failure)"
            reason = next((_SUBMIT_PREFIX.sub("", _ERROR_PREFIX.sub("", ln.strip()))
                           for ln in blob.splitlines() if _UNAVAILABLE.search(ln)), message)
            if "configuration source" in reason:
                reason = "no Slurm configuration found (set SLURM_CONF or install /etc/slurm/slurm.conf)"
            exc: Exception = SlurmUnavailableError(f"Slurm is not answering: {reason}")
        else:
            exc = SlurmError(message)
        exc.command = tool  # type: ignore[attr-defined]
        exc.stderr = proc.stderr  # type: ignore[attr-defined]
        return exc

    def _call(self, argv: Sequence[str], *, timeout: float | None = None,
              env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a tool; raise on failure; remember that the controller answered."""
        return self._checked(argv[0], self._run(argv, timeout=timeout, env=env))

    def _checked(self, tool: str, proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
        if proc.returncode != 0:
            raise self._failure(tool, proc)
        self._last_ok = time.monotonic()
        return proc

    def _query(self, argv: Sequence[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """A read-only call.  When a ping is due it runs *alongside* the query instead of before it: the
        query alone would retry a dead controller for MessageTimeout, the ping fails at once, and a dead
        controller kills the query; a live one costs one round trip less (~5 ms on ``nmcluster run``)."""
        if time.monotonic() - self._last_ok <= self.PING_TTL:
            return self._call(argv, timeout=timeout)
        started = self._start(argv)
        try:
            self.check()
        except BaseException:
            self._kill(started[0])
            raise
        return self._checked(argv[0], self._wait(started, self.timeout if timeout is None else timeout))

    def _ensure_up(self) -> None:
        """Fail fast when the controller is down (tools would retry for MessageTimeout first)."""
        if time.monotonic() - self._last_ok > self.PING_TTL:
            self.check()

    def ensure_up(self) -> None:
        """:meth:`check`, unless a call moments ago (``PING_TTL``) showed the controller answering."""
        self._ensure_up()

    # ------------------------------------------------------------------ availability
    def _ping(self, timeout: float) -> tuple[bool, str]:
        try:
            proc = self._run(["scontrol", "ping"], timeout=timeout)
        except SlurmUnavailableError as exc:
            return False, str(exc)
        out = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode == 0 and re.search(r"\bis UP\b", out):
            self._last_ok = time.monotonic()
            return True, ""
        if proc.returncode != 0 and not re.search(r"\bis DOWN\b", out):
            return False, str(self._failure("scontrol", proc))
        m = re.search(r"Slurmctld\(\w+\) at (\S+) is DOWN", out)
        where = f" at {m.group(1)}" if m else ""
        return False, f"Slurm is not answering: slurmctld{where} is down"

    def available(self) -> bool:
        """Does a Slurm controller answer?  Returns within ~1 s when Slurm is absent or down."""
        if self.binary("scontrol") is None:
            return False
        return self._ping(min(self.PROBE_TIMEOUT, self.timeout))[0]

    def check(self) -> None:
        """Raise :class:`SlurmUnavailableError` unless the controller answers."""
        ok, why = self._ping(min(5.0, self.timeout))
        if not ok:
            raise SlurmUnavailableError(why if why.startswith("Slurm is not answering")
                                        else f"Slurm is not answering: {why}")

    # ------------------------------------------------------------------ jobs
    def sbatch(self, script: Path, args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """Submit ``script`` with ``sbatch --parsable <args>``; returns the job id.

        ``env`` is laid over the tools' environment (sbatch exports it to the job by default).
        """
        self._ensure_up()
        # a timeout here is ambiguous (the job may have been queued): give sbatch generous time
        proc = self._call(["sbatch", "--parsable", *args, str(script)], env=env,
                          timeout=max(self.timeout, 60.0))
        out = proc.stdout.strip().splitlines()
        job_id = out[-1].split(";", 1)[0].strip() if out else ""
        if not job_id:
            raise SlurmError(f"sbatch printed no job id (stdout {proc.stdout!r}, stderr {proc.stderr!r})")
        return job_id

    def srun_argv(self, args: Sequence[str], command: Sequence[str]) -> list[str]:
        """The argument list running ``command`` through ``srun <args>`` (for the caller to exec/stream)."""
        return [self.binary("srun") or "srun", *args, *command]

    def jobs(self, ids: Iterable[str]) -> dict[str, SlurmJobInfo]:
        """State of each job: squeue (one call), then the jobcomp file for jobs Slurm has forgotten."""
        wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
        if not wanted:
            return {}
        self._ensure_up()
        result: dict[str, SlurmJobInfo] = {}
        plain = [i for i in wanted if "_" not in i]
        tasks = [i for i in wanted if "_" in i]  # array tasks, "<array id>_<task>"
        for start in range(0, len(plain), self.SQUEUE_CHUNK):
            result.update(self._squeue(plain[start:start + self.SQUEUE_CHUNK]))
        for start in range(0, len(tasks), self.SQUEUE_CHUNK):
            result.update(self._squeue(tasks[start:start + self.SQUEUE_CHUNK], array=True))
        missing = [i for i in wanted if i not in result]
        if missing:
            result.update(self.read_jobcomp(missing))
        return {i: result[i] for i in wanted if i in result}

    def job(self, job_id: str) -> SlurmJobInfo | None:
        return self.jobs([job_id]).get(str(job_id))

    def _squeue(self, ids: Sequence[str], array: bool = False) -> dict[str, SlurmJobInfo]:
        fmt = f"ArrayJobID:|,ArrayTaskID:|,{_SQUEUE_FORMAT}" if array else _SQUEUE_FORMAT
        proc = self._run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-O", fmt])
        if proc.returncode != 0:
            blob = proc.stderr or ""
            if _INVALID_JOB_ID.search(blob) and not _UNAVAILABLE.search(blob):
                self._last_ok = time.monotonic()
                return {}
            if re.search(r"Invalid job format specification", blob, re.IGNORECASE):
                return self._squeue_json(ids)
            raise self._failure("squeue", proc)
        self._last_ok = time.monotonic()
        wanted = set(ids)
        out: dict[str, SlurmJobInfo] = {}
        for line in proc.stdout.splitlines():
            infos = _jobs_from_array_squeue_line(line) if array else [_job_from_squeue_line(line)]
            for info in infos:
                if info is not None and info.job_id in wanted:
                    out[info.job_id] = info
        return out

    def _squeue_json(self, ids: Sequence[str]) -> dict[str, SlurmJobInfo]:
        """``squeue --json`` (22.05 ignores filters and dumps every job: filtered here)."""
        import json

        proc = self._call(["squeue", "--json"])
        try:
            data = json.loads(proc.stdout)
        except ValueError as exc:
            raise SlurmError(f"squeue --json printed no JSON: {exc}") from None
        wanted = set(ids)
        out: dict[str, SlurmJobInfo] = {}
        for job in data.get("jobs", []):
            info = _job_from_json(job)
            if info is not None and info.job_id in wanted:
                out[info.job_id] = info
        return out

    def scontrol_job(self, job_id: str) -> SlurmJobInfo | None:
        """``scontrol show job -o`` for one job (None when slurmctld does not know it)."""
        self._ensure_up()
        proc = self._run(["scontrol", "show", "job", "-o", str(job_id)])
        if proc.returncode != 0:
            if _INVALID_JOB_ID.search(proc.stderr or "") and not _UNAVAILABLE.search(proc.stderr or ""):
                return None
            raise self._failure("scontrol", proc)
        self._last_ok = time.monotonic()
        for line in proc.stdout.splitlines():
            kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            if kv.get("JobId") != str(job_id):
                continue
            name = parse_key_values(line, ("JobName", "UserId")).get("JobName", kv.get("JobName", ""))
            state = base_state(kv.get("JobState", ""))
            code, sig = parse_exit_pair(kv.get("ExitCode", "")) if state in _EXITED_STATES else (None, None)
            reason = kv.get("Reason", "")
            return SlurmJobInfo(
                job_id=str(job_id), state=state, reason="" if reason == "None" else reason,
                exit_code=code, signal=sig, submit_time=parse_time(kv.get("SubmitTime", "")),
                start_time=None if state == "PENDING" else parse_time(kv.get("StartTime", "")),
                end_time=parse_time(kv.get("EndTime", "")) if state in FINAL_STATES else None,
                partition=kv.get("Partition", ""), name=name,
                nodes="" if kv.get("NodeList") in (None, "(null)") else kv["NodeList"], source="scontrol")
        return None

    def show_jobs_detail(self, job_id: str | None = None) -> str:
        """``scontrol -d -o show job [id]``: one line per job with the per-node GRES detail
        (``JOB_GRES=station:s500:1,...``), for who-uses-which-station questions."""
        argv = ["scontrol", "-d", "-o", "show", "job"] + ([str(job_id)] if job_id is not None else [])
        return self._query(argv).stdout

    def nodes(self) -> list[SlurmNodeInfo]:
        """``scontrol -d -o show node``: every node with its state, partitions and configured/used GRES
        (``GresUsed=station:s500:0,station:s501:1(IDX:0)``), for "which station is free right now"."""
        out: list[SlurmNodeInfo] = []
        for line in self._query(["scontrol", "-d", "-o", "show", "node"]).stdout.splitlines():
            kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            if "NodeName" not in kv:
                continue
            out.append(SlurmNodeInfo(name=kv["NodeName"], state=kv.get("State", ""),
                                     partitions=tuple(p for p in kv.get("Partitions", "").split(",") if p),
                                     gres=kv.get("Gres", ""), gres_used=kv.get("GresUsed", "")))
        return out

    def cancel(self, job_id: str) -> None:
        """``scancel <id>``; a job that already ended (or that Slurm forgot) is not an error."""
        self._ensure_up()
        proc = self._run(["scancel", str(job_id)])
        if proc.returncode != 0 or re.search(r"\berror\b", proc.stderr or "", re.IGNORECASE):
            blob = proc.stderr or ""
            if _IGNORABLE_CANCEL.search(blob) and not _UNAVAILABLE.search(blob):
                return
            if proc.returncode != 0:
                raise self._failure("scancel", proc)
        self._last_ok = time.monotonic()

    def licenses(self) -> dict[str, tuple[int, int]]:
        """Licences configured in Slurm: name -> (total, in use)."""
        proc = self._query(["scontrol", "show", "licenses", "-o"])
        out: dict[str, tuple[int, int]] = {}
        for line in proc.stdout.splitlines():
            kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            name = kv.get("LicenseName")
            if name and kv.get("Total", "").isdigit():
                used = kv.get("Used", "0")
                out[name] = (int(kv["Total"]), int(used) if used.isdigit() else 0)
        return out

    def read_jobcomp(self, ids: Iterable[str]) -> dict[str, SlurmJobInfo]:
        """Final states from the ``jobcomp/filetxt`` file (the last line per job wins; missing ids absent).

        Array tasks that never started: slurmctld keeps them as bits of the array's meta record, and
        cancelling such a task only clears its bit, so it gets no jobcomp line of its own; when the
        last pending bit goes, the meta record ends with one line ``JobId=<array id>`` *without*
        ``ArrayTaskId`` (Slurm 22.05 ``src/plugins/jobcomp/filetxt``: the array fields are printed only
        for a task's own record).  A task without a line of its own whose array's meta line says
        CANCELLED reads as cancelled; the same pass over the file collects both."""
        wanted = {str(i) for i in ids}
        path = Path(self.jobcomp_file) if self.jobcomp_file else None
        if not wanted or path is None or not path.is_file():
            return {}
        found: dict[str, SlurmJobInfo] = {}
        meta: dict[str, SlurmJobInfo] = {}  # array id -> its meta record's line
        prefixes = tuple(f"JobId={i} " for i in wanted if "_" not in i)
        arrays = {i.partition("_")[0] for i in wanted if "_" in i}
        meta_prefixes = tuple(f"JobId={a} " for a in arrays)
        tasks = {f" ArrayJobId={a} ArrayTaskId={t} " for a, _, t in (i.partition("_") for i in wanted if "_" in i)}
        try:
            for line in _reverse_lines(path):
                if arrays and line.startswith(meta_prefixes) and " ArrayTaskId=" not in line:
                    info = parse_jobcomp_line(line)
                    if info is not None and info.job_id not in meta:
                        meta[info.job_id] = info
                if not line.startswith(prefixes) and not (
                        tasks and " ArrayJobId=" in line and
                        (m := _ARRAY_KEYS.search(line)) is not None and m.group(0) in tasks):
                    continue
                info = parse_jobcomp_line(line)
                if info is not None and info.job_id in wanted and info.job_id not in found:
                    found[info.job_id] = info
                    if len(found) == len(wanted):
                        break
        except OSError:
            return found
        for i in wanted:
            info = meta.get(i.partition("_")[0]) if "_" in i and i not in found else None
            if info is not None and info.state == "CANCELLED":
                found[i] = info._replace(job_id=i, reason=info.reason or "cancelled before it started")
        return found


def slurm_configured(env: Mapping[str, str] | None = None) -> bool:
    """Is this machine part of a Slurm cluster?  (Client tools installed and a slurm.conf to use.)

    A configured Slurm whose controller does not answer is an error ("Slurm is not answering"), not a
    reason to run a hardware job on the frontend; only a machine without Slurm gets the local executor.
    """
    import os
    import shutil

    env = os.environ if env is None else env
    if shutil.which("sbatch", path=env.get("PATH")) is None:
        return False
    conf = env.get("SLURM_CONF") or "/etc/slurm/slurm.conf"
    return os.path.isfile(conf)

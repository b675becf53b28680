"""Slurm's own command-line parsing of ``sbatch``/``srun`` options, so that ``--slurm-opt`` is judged the
way Slurm will read it, and an allow-list of options that cannot change what hardware a job gets.

Why a parser of our own: ``sbatch`` and ``srun`` read their options with glibc's ``getopt_long`` (optstring
starting with ``+``), which accepts any unambiguous prefix of a long option (``--licens=W33F1``), bundled
short flags (``-vLW33F1`` is ``-v -L W33F1``), and a required argument either attached (``--time=10``,
``-t10``) or as the next word (``--time 10``, ``-t 10``), whatever that word looks like.  Comparing option
names as text lets all of these through.  :func:`parse` mirrors ``getopt_long`` over Slurm's real option
tables, and :func:`check_user_options` accepts only the options in :data:`ALLOWED` with values that Slurm
would accept too (``--time=abc`` is one line and exit code 2 here, before anything is queued, instead of an
``sbatch`` failure).  This is the friendly, early check; the enforcement that plain ``sbatch``/``srun``
cannot go around is the site's ``job_submit.lua`` (``nmcluster admin slurm-conf --only lua``).

Sources followed (Slurm 22.05.8, the version Debian 12 ships as ``slurm-wlm 22.05.8``; SchedMD/slurm at tag
``slurm-22-05-8-1``):

* ``src/common/slurm_opt.c``: every ``slurm_cli_opt_t`` (``.name``, ``.has_arg``, ``.val`` and whether it
  has ``.set_func``, ``.set_func_sbatch`` or ``.set_func_srun``), the order of ``common_options[]``, and
  ``slurm_option_table_create`` (optstring ``"+"`` plus each short option's letter and ``:``/``::``).
  :data:`OPTIONS` below is that table, in that order, for the two commands nmcluster calls.
* ``src/sbatch/opt.c`` ``process_options_first_pass``: ``getopt_long`` over argv with every ``":"``
  (het-job separator) removed first; the first non-option word is the batch script.
* glibc ``posix/getopt.c`` (``process_long_option``): an exact name wins; otherwise a prefix matching
  several options is ambiguous unless they all have the same ``has_arg`` and ``val``; ``--name=value`` on
  an option without argument, and a missing required argument, are errors.
* Values: ``src/common/parse_time.c`` ``time_str2secs``/``_is_valid_timespec`` (``--time``),
  ``src/common/proc_args.c`` ``str_to_mbytes`` (``--mem``, ``--mem-per-cpu``, ``--tmp``), ``parse_int``
  (``--cpus-per-task``, ``--mincpus``), ``parse_mail_type``; ``slurm_opt.c`` ``arg_set_nice``
  (``NICE_OFFSET - 3``).  Where Slurm is lax (``strtol`` accepting ``" +7"``, ``sscanf`` overflowing) we
  accept only the documented forms.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from nmcluster.errors import UserInputError

NO_ARGUMENT, REQUIRED_ARGUMENT, OPTIONAL_ARGUMENT = 0, 1, 2
COMMANDS = ("sbatch", "srun")

#: (long name, has_arg, val, commands) for every named option of ``common_options[]`` in Slurm 22.05.8's
#: src/common/slurm_opt.c, in table order; val is the short letter, or the LONG_OPT_* constant without its
#: prefix (two names with the same val are one option to getopt); commands: "sbatch", "srun" or "both"
#: (from .set_func / .set_func_sbatch / .set_func_srun; salloc- and scrontab-only options are left out).
OPTIONS: tuple[tuple[str, int, str, str], ...] = (
    ("accel-bind", 1, "ACCEL_BIND", "srun"),
    ("account", 1, "A", "both"),
    ("acctg-freq", 1, "ACCTG_FREQ", "both"),
    ("array", 1, "a", "sbatch"),
    ("batch", 1, "BATCH", "sbatch"),
    ("bcast", 2, "BCAST", "srun"),
    ("bcast-exclude", 1, "BCAST_EXCLUDE", "srun"),
    ("begin", 1, "b", "both"),
    ("bb", 1, "BURST_BUFFER_SPEC", "both"),
    ("bbf", 1, "BURST_BUFFER_FILE", "both"),
    ("cluster-constraint", 1, "CLUSTER_CONSTRAINT", "both"),
    ("chdir", 1, "D", "both"),
    ("cluster", 1, "CLUSTER", "both"),
    ("clusters", 1, "M", "both"),
    ("comment", 1, "COMMENT", "both"),
    ("compress", 2, "COMPRESS", "srun"),
    ("container", 1, "CONTAINER", "both"),
    ("context", 1, "CONTEXT", "both"),
    ("contiguous", 0, "CONTIGUOUS", "both"),
    ("constraint", 1, "C", "both"),
    ("core-spec", 1, "S", "both"),
    ("cores-per-socket", 1, "CORESPERSOCKET", "both"),
    ("cpu-bind", 1, "CPU_BIND", "srun"),
    ("cpu_bind", 1, "CPU_BIND", "srun"),
    ("cpu-freq", 1, "CPU_FREQ", "both"),
    ("cpus-per-gpu", 1, "CPUS_PER_GPU", "both"),
    ("cpus-per-task", 1, "c", "both"),
    ("deadline", 1, "DEADLINE", "both"),
    ("debugger-test", 0, "DEBUGGER_TEST", "srun"),
    ("delay-boot", 1, "DELAY_BOOT", "both"),
    ("dependency", 1, "d", "both"),
    ("disable-status", 0, "X", "srun"),
    ("distribution", 1, "m", "both"),
    ("epilog", 1, "EPILOG", "srun"),
    ("error", 1, "e", "both"),
    ("exact", 0, "EXACT", "srun"),
    ("exclude", 1, "x", "both"),
    ("exclusive", 2, "EXCLUSIVE", "both"),
    ("export", 1, "EXPORT", "both"),
    ("export-file", 1, "EXPORT_FILE", "sbatch"),
    ("extra-node-info", 1, "B", "both"),
    ("get-user-env", 2, "GET_USER_ENV", "sbatch"),
    ("gid", 1, "GID", "both"),
    ("gpu-bind", 1, "GPU_BIND", "both"),
    ("gpu-freq", 1, "GPU_FREQ", "both"),
    ("gpus", 1, "G", "both"),
    ("gpus-per-node", 1, "GPUS_PER_NODE", "both"),
    ("gpus-per-socket", 1, "GPUS_PER_SOCKET", "both"),
    ("gpus-per-task", 1, "GPUS_PER_TASK", "both"),
    ("gres", 1, "GRES", "both"),
    ("gres-flags", 1, "GRES_FLAGS", "both"),
    ("help", 0, "h", "both"),
    ("het-group", 1, "HET_GROUP", "srun"),
    ("hint", 1, "HINT", "both"),
    ("hold", 0, "H", "both"),
    ("ignore-pbs", 0, "IGNORE_PBS", "sbatch"),
    ("immediate", 2, "I", "srun"),
    ("input", 1, "i", "both"),
    ("interactive", 0, "INTERACTIVE", "srun"),
    ("jobid", 1, "JOBID", "srun"),
    ("job-name", 1, "J", "both"),
    ("kill-on-bad-exit", 2, "K", "srun"),
    ("kill-on-invalid-dep", 1, "KILL_INV_DEP", "sbatch"),
    ("label", 0, "l", "srun"),
    ("licenses", 1, "L", "both"),
    ("mail-type", 1, "MAIL_TYPE", "both"),
    ("mail-user", 1, "MAIL_USER", "both"),
    ("threads", 1, "T", "srun"),
    ("mcs-label", 1, "MCS_LABEL", "both"),
    ("mem", 1, "MEM", "both"),
    ("mem-bind", 1, "MEM_BIND", "both"),
    ("mem-per-cpu", 1, "MEM_PER_CPU", "both"),
    ("mem-per-gpu", 1, "MEM_PER_GPU", "both"),
    ("mincpus", 1, "MINCPUS", "both"),
    ("mpi", 1, "MPI", "srun"),
    ("msg-timeout", 1, "MSG_TIMEOUT", "srun"),
    ("multi-prog", 0, "MULTI", "srun"),
    ("network", 1, "NETWORK", "both"),
    ("nice", 2, "NICE", "both"),
    ("no-allocate", 0, "Z", "srun"),
    ("no-kill", 2, "k", "both"),
    ("no-requeue", 0, "NO_REQUEUE", "sbatch"),
    ("nodefile", 1, "F", "both"),
    ("nodelist", 1, "w", "both"),
    ("nodes", 1, "N", "both"),
    ("ntasks", 1, "n", "both"),
    ("ntasks-per-core", 1, "NTASKSPERCORE", "both"),
    ("ntasks-per-gpu", 1, "NTASKSPERGPU", "both"),
    ("ntasks-per-node", 1, "NTASKSPERNODE", "both"),
    ("ntasks-per-socket", 1, "NTASKSPERSOCKET", "both"),
    ("ntasks-per-tres", 1, "NTASKSPERTRES", "both"),
    ("open-mode", 1, "OPEN_MODE", "both"),
    ("output", 1, "o", "both"),
    ("overcommit", 0, "O", "both"),
    ("overlap", 2, "OVERLAP", "srun"),
    ("oversubscribe", 0, "s", "both"),
    ("pack-group", 1, "HET_GROUP", "srun"),
    ("parsable", 0, "PARSABLE", "sbatch"),
    ("partition", 1, "p", "both"),
    ("power", 1, "POWER", "both"),
    ("prefer", 1, "PREFER", "both"),
    ("preserve-env", 0, "E", "srun"),
    ("priority", 1, "PRIORITY", "both"),
    ("profile", 1, "PROFILE", "both"),
    ("prolog", 1, "PROLOG", "srun"),
    ("propagate", 2, "PROPAGATE", "both"),
    ("pty", 0, "PTY", "srun"),
    ("qos", 1, "q", "both"),
    ("quiet", 0, "Q", "both"),
    ("quit-on-interrupt", 0, "QUIT_ON_INTR", "srun"),
    ("reboot", 0, "REBOOT", "both"),
    ("relative", 1, "r", "srun"),
    ("requeue", 0, "REQUEUE", "sbatch"),
    ("reservation", 1, "RESERVATION", "both"),
    ("resv-ports", 2, "RESV_PORTS", "srun"),
    ("send-libs", 2, "SEND_LIBS", "srun"),
    ("signal", 1, "SIGNAL", "both"),
    ("slurmd-debug", 1, "SLURMD_DEBUG", "srun"),
    ("sockets-per-node", 1, "SOCKETSPERNODE", "both"),
    ("spread-job", 0, "SPREAD_JOB", "both"),
    ("switches", 1, "SWITCHES", "both"),
    ("task-epilog", 1, "TASK_EPILOG", "srun"),
    ("task-prolog", 1, "TASK_PROLOG", "srun"),
    ("tasks-per-node", 1, "NTASKSPERNODE", "both"),
    ("test-only", 0, "TEST_ONLY", "both"),
    ("thread-spec", 1, "THREAD_SPEC", "both"),
    ("threads-per-core", 1, "THREADSPERCORE", "both"),
    ("time", 1, "t", "both"),
    ("time-min", 1, "TIME_MIN", "both"),
    ("tmp", 1, "TMP", "both"),
    ("uid", 1, "UID", "both"),
    ("unbuffered", 0, "u", "srun"),
    ("use-min-nodes", 0, "USE_MIN_NODES", "both"),
    ("verbose", 0, "v", "both"),
    ("version", 0, "V", "both"),
    ("usage", 0, "USAGE", "both"),
    ("wait", 0, "W", "sbatch"),
    ("wait-all-nodes", 1, "WAIT_ALL_NODES", "sbatch"),
    ("wait", 1, "W", "srun"),
    ("wckey", 1, "WCKEY", "both"),
    ("whole", 0, "WHOLE", "srun"),
    ("wrap", 1, "WRAP", "sbatch"),
    ("x11", 2, "X11", "srun"),  # WITH_SLURM_X11, as Debian builds it (srun --x11 is accepted there)
)


class SlurmOption(NamedTuple):
    """One entry of a command's option table."""

    name: str
    has_arg: int
    val: str

    @property
    def short(self) -> str:
        return self.val if len(self.val) == 1 else ""


class ParsedOption(NamedTuple):
    """One option as Slurm reads it: the table entry, its argument (None: none given) and the words it
    was read from (``-vLW33F1`` yields two options from one word)."""

    option: SlurmOption
    value: str | None
    given: str

    @property
    def name(self) -> str:
        return self.option.name

    def canonical(self) -> str:
        """``--name=value`` (or ``--name``): one word whose meaning does not depend on its neighbours."""
        return f"--{self.option.name}" if self.value is None else f"--{self.option.name}={self.value}"


def option_table(command: str) -> tuple[SlurmOption, ...]:
    """The long options ``command`` ("sbatch" or "srun") hands to ``getopt_long``, in Slurm's order."""
    if command not in COMMANDS:
        raise ValueError(f"unknown Slurm command {command!r} (sbatch or srun)")
    return tuple(SlurmOption(name, has_arg, val) for name, has_arg, val, cmds in OPTIONS
                 if cmds in ("both", command))


def _canonical(table: Sequence[SlurmOption], found: SlurmOption) -> SlurmOption:
    """Two names with one val (``--tasks-per-node``/``--ntasks-per-node``, ``--cpu_bind``/``--cpu-bind``)
    are one option: Slurm handles the val, and names it after its first entry in the table."""
    return next(o for o in table if o.val == found.val)


def _shown(word: str, limit: int = 60) -> str:
    """A user's word made safe for a one-line message: control and odd characters escaped, long words cut."""
    text = word if len(word) <= limit else word[:limit] + "..."
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


class SlurmOptionError(UserInputError):
    """Slurm would refuse (or misread) the option list; exit code 2, nothing queued.  ``getopt`` is True when
    Slurm's own option parsing fails on it the same way (an unknown or ambiguous option, an argument where
    none is allowed); False for what we refuse although Slurm would read it (the allow-list, values, words
    that Slurm would take as the script, a missing last argument that Slurm would take from nmcluster's
    own next word)."""

    def __init__(self, message: str, getopt: bool = False) -> None:
        super().__init__(message)
        self.getopt = getopt
        self.partial: tuple[ParsedOption, ...] = ()  # what parse() had read before the error


def _error(command: str, text: str, getopt: bool = False) -> SlurmOptionError:
    return SlurmOptionError(f"--slurm-opt: {text}", getopt)


def _long(word: str, words: Sequence[str], i: int, table: Sequence[SlurmOption], command: str
          ) -> tuple[ParsedOption, int]:
    """glibc process_long_option for ``--name[=value]`` at ``words[i]``; returns the option and the next index."""
    body = word[2:]
    name, eq, attached = body.partition("=")
    found = next((o for o in table if o.name == name), None)
    if found is None:
        matches = [o for o in table if o.name.startswith(name)]
        if not matches:
            raise _error(command, f"{command} has no option '--{_shown(name)}'", getopt=True)
        first = matches[0]
        if any((o.has_arg, o.val) != (first.has_arg, first.val) for o in matches[1:]):
            names = ", ".join(f"--{o.name}" for o in matches[:6]) + (", ..." if len(matches) > 6 else "")
            raise _error(command, f"option '--{_shown(name)}' is ambiguous for {command} ({names})", getopt=True)
        found = first
    found = _canonical(table, found)
    if eq:
        if found.has_arg == NO_ARGUMENT:
            raise _error(command, f"option '--{found.name}' doesn't allow an argument", getopt=True)
        return ParsedOption(found, attached, word), i + 1
    if found.has_arg == REQUIRED_ARGUMENT:
        if i + 1 >= len(words):
            raise _error(command, f"option '--{found.name}' requires an argument (give it as "
                                  f"--slurm-opt=--{found.name}=VALUE)")
        return ParsedOption(found, words[i + 1], f"{word} {words[i + 1]}"), i + 2
    return ParsedOption(found, None, word), i + 1


def parse(words: Sequence[str], command: str = "sbatch") -> list[ParsedOption]:
    """Read ``words`` as ``command`` reads its options (see the module docstring).

    Everything must be an option: a non-option word (sbatch would take it as the batch script, srun as the
    program), ``--`` (end of options), ``:`` (a het-job separator, which sbatch removes before parsing)
    and a NUL byte (cannot be passed to a program) are refused.  Raises :class:`SlurmOptionError`.
    """
    table = option_table(command)
    shorts: dict[str, SlurmOption] = {}
    for o in table:
        if len(o.val) == 1:
            shorts.setdefault(o.val, o)
    out: list[ParsedOption] = []
    for w in words:
        if not isinstance(w, str):
            raise _error(command, f"option {w!r} is not text")
        if "\0" in w:
            raise _error(command, f"option '{_shown(w)}' contains a NUL byte")
        if w == ":":
            raise _error(command, "':' separates heterogeneous job components, which nmcluster does not "
                                  "submit")
    try:
        _parse_into(out, words, table, shorts, command)
    except SlurmOptionError as exc:
        exc.partial = tuple(out)
        raise
    return out


def _parse_into(out: list[ParsedOption], words: Sequence[str], table: Sequence[SlurmOption],
                shorts: dict[str, SlurmOption], command: str) -> None:
    """The getopt_long loop of :func:`parse`, appending to ``out`` as it reads."""
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            raise _error(command, "'--' ends Slurm's options; nmcluster adds the program itself")
        if word.startswith("--"):
            parsed, i = _long(word, words, i, table, command)
            out.append(parsed)
            continue
        if not word.startswith("-") or word == "-":
            raise _error(command, f"'{_shown(word)}' is not an option: {command} would take it as the "
                                  f"{'batch script' if command == 'sbatch' else 'program'} (give options "
                                  f"with their value, e.g. --slurm-opt=--time=10)")
        j = 1
        while j < len(word):  # a bundle of short options: -vLW33F1
            letter = word[j]
            opt = shorts.get(letter)
            if opt is None:
                raise _error(command, f"{command} has no option '-{_shown(letter)}' (in '{_shown(word)}')",
                             getopt=True)
            rest = word[j + 1:]
            if opt.has_arg == NO_ARGUMENT:
                out.append(ParsedOption(opt, None, word))
                j += 1
                continue
            if rest:
                out.append(ParsedOption(opt, rest, word))
            elif opt.has_arg == OPTIONAL_ARGUMENT:
                out.append(ParsedOption(opt, None, word))
            elif i + 1 < len(words):
                i += 1
                out.append(ParsedOption(opt, words[i], f"{word} {words[i]}"))
            else:
                raise _error(command, f"option requires an argument -- '{letter}' (give it as "
                                      f"--slurm-opt=--{opt.name}=VALUE)")
            break
        i += 1


# --------------------------------------------------------------------------------------------- values
_TIME_FORMS = (
    re.compile(r"(?P<m>\d{1,9})"),                                     # minutes
    re.compile(r"(?P<m>\d{1,9}):(?P<s>\d{1,9})"),                      # minutes:seconds
    re.compile(r"(?P<h>\d{1,9}):(?P<m>\d{1,9}):(?P<s>\d{1,9})"),       # hours:minutes:seconds
    re.compile(r"(?P<d>\d{1,6})-(?P<h>\d{1,9})"),                      # days-hours
    re.compile(r"(?P<d>\d{1,6})-(?P<h>\d{1,9}):(?P<m>\d{1,9})"),       # days-hours:minutes
    re.compile(r"(?P<d>\d{1,6})-(?P<h>\d{1,9}):(?P<m>\d{1,9}):(?P<s>\d{1,9})"),
)
INT_MAX = 2**31 - 1
NICE_OFFSET = 0x80000000  # src/common/slurm_protocol_defs.h


def time_seconds(text: str) -> int | None:
    """Slurm's time_str2secs for the documented forms (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``,
    ``D-H:M:S``); None for ``INFINITE``/``UNLIMITED``/``-1``.  A ValueError names what is wrong."""
    if text.lower() in ("-1", "infinite", "unlimited"):
        return None
    for form in _TIME_FORMS:
        m = form.fullmatch(text)
        if m:
            g = {k: int(v) for k, v in m.groupdict().items() if v is not None}
            total = g.get("d", 0) * 86400 + g.get("h", 0) * 3600 + g.get("m", 0) * 60 + g.get("s", 0)
            if total > INT_MAX:
                raise ValueError("is longer than Slurm can count (68 years)")
            return total
    raise ValueError("is not a Slurm time (minutes, minutes:seconds, hours:minutes:seconds, days-hours, "
                     "days-hours:minutes, days-hours:minutes:seconds, or UNLIMITED)")


def megabytes(text: str) -> int:
    """Slurm's str_to_mbytes: a count with an optional K, M, G or T (and B) unit, default megabytes."""
    m = re.fullmatch(r"(\d{1,15})(?:([KkMmGgTt])[Bb]?)?", text)
    if not m:
        raise ValueError("is not a size (a number with an optional K, M, G or T unit, e.g. 4G)")
    n, unit = int(m.group(1)), (m.group(2) or "M").upper()
    mb = {"K": (n + 1023) // 1024, "M": n, "G": n * 1024, "T": n * 1024 * 1024}[unit]
    if mb >= 2**63:
        raise ValueError("is larger than Slurm can count")
    return mb


def _positive(text: str) -> int:
    if not re.fullmatch(r"[1-9]\d{0,8}", text):
        raise ValueError("is not a positive whole number")
    return int(text)


MAIL_TYPES = ("NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT", "TIME_LIMIT",
              "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS")
def _text(limit: int, spaces: bool = True):
    def check(text: str) -> None:
        if not text:
            raise ValueError("is empty")
        if len(text) > limit:
            raise ValueError(f"is longer than {limit} characters")
        if not text.isprintable() or (not spaces and any(c.isspace() for c in text)):
            raise ValueError("contains control characters" + ("" if spaces else " or spaces"))
    return check


def _check_time(text: str) -> None:
    time_seconds(text)


def _check_mail_type(text: str) -> None:
    tokens = [t for t in text.split(",") if t]
    bad = [t for t in tokens if t.upper() not in MAIL_TYPES]
    if not tokens or bad:
        raise ValueError(f"is not a list of {', '.join(MAIL_TYPES)}")


def _check_nice(text: str | None) -> None:
    if text is None:
        return
    if not re.fullmatch(r"\d{1,10}", text) or int(text) > NICE_OFFSET - 3:
        raise ValueError(f"is not a whole number from 0 to {NICE_OFFSET - 3} (a negative nice value needs "
                         f"a Slurm operator)")


def _no_value(text: str | None) -> None:
    return None


#: The options a user may add (long name -> value check): they size the job, name it, or say when and
#: whom to tell, and none can change the partition, licences, GRES, account, QOS, reservation, nodes,
#: array shape, the job's environment, directory, output files or which program runs.  Everything else
#: (-p, -L, --gres, --gpus*, -A, -q, --reservation, -a, -w/-x/-C, --export, -D, -o/-e/-i, --wrap, -M,
#: --uid, --container, -N/-n, ...) is refused: the partition derives the hardware, nmcluster derives the rest.
#: ``--dependency`` is refused too: it names Slurm job ids, not nmcluster's, nmcluster's records would not
#: know why a job waits, a dependency that can never be met leaves the job pending for good, and an
#: unknown id fails only at ``sbatch`` (``expand:`` would even graft the job onto another one's resources).
ALLOWED = {
    "time": _check_time,
    "time-min": _check_time,
    "mem": megabytes,
    "mem-per-cpu": megabytes,
    "tmp": megabytes,
    "cpus-per-task": _positive,
    "mincpus": _positive,
    "job-name": _text(200),
    "comment": _text(1000),
    "mail-type": _check_mail_type,
    "mail-user": _text(256, spaces=False),
    "nice": _check_nice,
    "hold": _no_value,
    "no-requeue": _no_value,
}

#: refused options that choose hardware or where the job is accounted: named in their own message
RESOURCE_OPTIONS = frozenset({"partition", "licenses", "gres", "gres-flags", "gpus", "gpus-per-node",
                              "gpus-per-socket", "gpus-per-task", "cpus-per-gpu", "mem-per-gpu", "account",
                              "qos", "reservation", "array", "nodelist", "nodefile", "exclude", "constraint",
                              "prefer", "clusters", "cluster", "cluster-constraint", "ntasks-per-gpu",
                              "ntasks-per-tres", "wrap", "export", "export-file", "chdir", "uid", "gid"})


def check_user_options(words: Sequence[str], command: str = "sbatch", what: str = "the partition"
                       ) -> tuple[str, ...]:
    """Refuse user Slurm options that are not in :data:`ALLOWED` or whose value Slurm would reject.

    Returns the options in canonical one-word form (``--time=10``), in the order given.  ``what`` names
    who derives the resources, for the message (e.g. "the wafer partition").  Raises
    :class:`SlurmOptionError` (exit code 2) with one line.
    """
    parsed = parse(list(words), command)
    refused = [p for p in parsed if p.name not in ALLOWED]
    for p in sorted(refused, key=lambda p: p.name not in RESOURCE_OPTIONS):  # hardware options first
        given = _shown(p.given)
        if p.name in RESOURCE_OPTIONS:
            raise SlurmOptionError(
                f"Slurm option --{p.name} (given as '{given}') is not accepted here: {what} derives the Slurm "
                f"partition, licences, GRES and account from the hardware config (use --station, --wafer, "
                f"--hicann, --fpga, --boards, --collab, and nmcluster submit --array)")
        raise SlurmOptionError(
            f"Slurm option --{p.name} (given as '{given}') is not accepted here; accepted: "
            f"{', '.join('--' + n for n in ALLOWED)}")
    for p in parsed:
        try:
            ALLOWED[p.name](p.value)
        except ValueError as exc:
            raise SlurmOptionError(f"Slurm option --{p.name}: '{_shown(p.value or '')}' {exc}") from None
    last = {p.name: p.value for p in parsed}  # a repeated option: Slurm keeps the last one
    if last.get("time-min") is not None:
        # slurmctld (job_mgr.c _part_access_check) refuses a minimum time above the job's limit; "0" and
        # UNLIMITED are both INFINITE for --time-min (slurm_opt.c arg_set_time_min)
        low = time_seconds(last["time-min"])
        high = time_seconds(last["time"]) if last.get("time") is not None else None
        if not low:
            raise SlurmOptionError(f"Slurm option --time-min: '{_shown(last['time-min'])}' is unlimited; a "
                                   f"minimum time must be finite")
        if high and (low + 59) // 60 > (high + 59) // 60:
            raise SlurmOptionError(f"Slurm option --time-min={_shown(last['time-min'])} is longer than "
                                   f"--time={_shown(last['time'])}")
    return tuple(p.canonical() for p in parsed)

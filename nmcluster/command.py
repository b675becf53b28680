"""The platform's command language: ``{system}`` / ``{system=a,b}`` (the PyNN backend the job runs on)
and ``{task}`` (an array task's index) in a command string that is split like a shell would, but never
handed to one.  Pure string handling, below every other layer, so the job spec, the partitions (which
choose among a restriction's backends), the executors and the job runner share one reading of it."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence

from nmcluster.errors import UserInputError

SYSTEM_RE = re.compile(r"\{system(?:=([^}]*))?\}")
#: what looks like a placeholder: ``{name}`` or ``{name=...}`` (JSON, bash braces, ``{}`` and a shell
#: variable's ``${name}`` do not: the command is never run by a shell, they reach the program as written)
PLACEHOLDER_RE = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)(?:=[^{}]*)?\}")
PLACEHOLDERS = ("system", "task")
#: commands that run under nmcluster's own interpreter (where the emulator backends are installed)
PYTHONS = ("python", "python3")


def system_restrictions(command: str) -> list[tuple[str, ...] | None]:
    """Every ``{system}`` placeholder in ``command``: None for plain, the allowed names for ``{system=a,b}``."""
    out: list[tuple[str, ...] | None] = []
    for m in SYSTEM_RE.finditer(command):
        if m.group(1) is None:
            out.append(None)
        else:
            out.append(tuple(n.strip() for n in m.group(1).split(",") if n.strip()))
    return out


def allowed_backends(command: str | Sequence[str]) -> tuple[str, ...] | None:
    """The backends every ``{system=...}`` of the command allows (their intersection, in the order of
    the first); None when no placeholder restricts the backend."""
    text = command if isinstance(command, str) else " ".join(command)
    allowed: list[str] | None = None
    for names in system_restrictions(text):
        if names is None:
            continue
        allowed = list(names) if allowed is None else [n for n in allowed if n in names]
    return None if allowed is None else tuple(allowed)


def uses_system(command: str | Sequence[str]) -> bool:
    """Does the command contain a ``{system}`` placeholder at all?"""
    text = command if isinstance(command, str) else " ".join(command)
    return SYSTEM_RE.search(text) is not None


def check_placeholders(command: str, array: bool = False) -> None:
    """Refuse at submit what would fail (or silently do the wrong thing) in the queue: an unknown
    placeholder (``{sytem}``: the script would get the literal text), ``{system=}`` naming no backend,
    and ``--array`` without ``{task}`` (every task would compute the same thing)."""
    for m in PLACEHOLDER_RE.finditer(command):
        if m.group(1) not in PLACEHOLDERS:
            raise UserInputError(f"unknown placeholder {m.group(0)} in the command (known: {{system}}, "
                                 f"{{system=a,b}}, {{task}})")
    for names in system_restrictions(command):
        if names == ():
            raise UserInputError("{system=} names no backend (e.g. {system=nest} or {system=spiNNaker,nest})")
    if array and "{task}" not in command:
        raise UserInputError("--array needs {task} in the command (it becomes 0 .. N-1 in each task), "
                             "e.g. --command 'run.py {system} --seed {task}'")


def substitute_system(text: str, backend: str) -> str:
    """Replace every ``{system}`` / ``{system=...}`` in ``text`` with the backend name."""
    return SYSTEM_RE.sub(lambda _m: backend, text)


def split_command(command: str) -> list[str]:
    """Split a platform command string into an argument list (never handed to a shell)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UserInputError(f"cannot parse command {command!r}: {exc}") from None
    if not argv:
        raise UserInputError("the command is empty")
    return argv


def build_argv(command: Sequence[str], backend: str | None) -> list[str]:
    """Substitute ``{system}``; ``x.py`` and a bare ``python`` run under nmcluster's own interpreter,
    which is where the emulator backends are installed."""
    argv = [substitute_system(a, backend) if backend else a for a in command]
    if argv and argv[0] in PYTHONS:
        argv[0] = sys.executable
    elif argv and argv[0].endswith(".py"):
        argv.insert(0, sys.executable)
    return argv

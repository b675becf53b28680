"""The platform's job format as an immutable value: code + command + inputs + platform + hardware config.

A :class:`JobSpec` is what a user asks for; nothing in it has touched the file system or Slurm yet.
Parsing is strict (one readable :class:`~nmcluster.errors.UserInputError` per problem) because a job
that is rejected after it has waited in a queue for an hour costs the user far more than an early no.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmcluster.command import SYSTEM_RE, split_command, substitute_system, system_restrictions  # noqa: F401
from nmcluster.errors import HardwareConfigError, UserInputError
from nmcluster.partitions import PLATFORM_ALIASES, PLATFORM_NAMES, normalise_platform  # noqa: F401

DEFAULT_COMMAND = "run.py {system}"

def parse_hardware_config(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Accept a JSON object given as text, ``@file.json``, or an already parsed mapping."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return _json_safe(dict(raw))
    text = str(raw)
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise HardwareConfigError(f"cannot read hardware config file {path}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HardwareConfigError(f"hardware config is not valid JSON: {exc.msg} at line {exc.lineno} "
                                  f"column {exc.colno}") from None
    except RecursionError:  # '[[[[...' thousands deep: found by fuzzing
        raise HardwareConfigError("hardware config is nested too deeply to be a hardware config") from None
    except ValueError as exc:  # an integer of thousands of digits (Python's int conversion limit)
        raise HardwareConfigError(f"hardware config: {str(exc).split(';')[0]}") from None
    if not isinstance(value, dict):
        raise HardwareConfigError(f"hardware config must be a JSON object, got {type(value).__name__}")
    return _json_safe(value)


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """The config as it will be written to ``job.json``: refused now if it cannot be (an integer past
    Python's int-to-string limit, NaN, nesting too deep, a non-string key) rather than after staging."""
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise HardwareConfigError(f"hardware config cannot be stored as JSON: {str(exc).split(';')[0]}") from None
    return value


def merge_hardware_config(platform: str, config: str | Mapping[str, Any] | None,
                          flags: Mapping[str, Any] | None = None,
                          env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The hardware config a job asks for: ``config`` (JSON text, ``@file`` or a mapping), overridden by
    explicit ``flags`` (the CLI's ``--station`` etc.), with the module environment as the lowest layer
    (``MY_STAGE1_STATION`` for Spikey, ``NMCLUSTER_WAFER`` for the wafer).  Used by the CLI and the client."""
    merged = parse_hardware_config(config)
    merged.update(flags or {})
    from nmcluster.partitions import partition_class

    defaults = partition_class(platform).defaults_from_environment(env or {})
    return {**defaults, **merged}


@dataclass(frozen=True)
class JobSpec:
    """One job in the platform's format.

    ``code`` is a script path, a folder, a git URL or local repository, an archive path or URL, or the
    text of a script (anything with a newline).  ``platform`` is a partition kind or a platform name.
    """

    code: str
    platform: str
    command: str = DEFAULT_COMMAND
    inputs: tuple[str, ...] = ()
    hardware_config: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    collab_id: str | None = None

    @classmethod
    def create(cls, code: str, platform: str, command: str | None = None,
               inputs: Sequence[str] | None = None, hardware_config: Any = None,
               tags: Sequence[str] | None = None, collab_id: Any = None) -> "JobSpec":
        """Validate the platform-independent parts and normalise names."""
        if not code or not str(code).strip():
            raise UserInputError("no code given: pass a script, folder, git URL or archive")
        kind = normalise_platform(platform)
        cmd = DEFAULT_COMMAND if command is None or not str(command).strip() else str(command)
        split_command(cmd)
        return cls(code=str(code), platform=kind, command=cmd, inputs=tuple(str(i) for i in inputs or ()),
                   hardware_config=parse_hardware_config(hardware_config),
                   tags=tuple(str(t) for t in tags or ()),
                   collab_id=None if collab_id is None else str(collab_id))

    @property
    def platform_name(self) -> str:
        return PLATFORM_NAMES[self.platform]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "platform": self.platform, "command": self.command,
                "inputs": list(self.inputs), "hardware_config": dict(self.hardware_config),
                "tags": list(self.tags), "collab_id": self.collab_id}

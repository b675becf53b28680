"""One exception hierarchy for nmcluster.

Every error carries a message a user can act on.  The CLI maps :class:`UserInputError` (and its
subclasses) to exit code 2 and every other :class:`NmclusterError` to exit code 1, printing one line and
never a traceback.
"""

from __future__ import annotations

from typing import Any


class NmclusterError(Exception):
    """Base class: a failure with a message meant for the user."""

    exit_code = 1


class UserInputError(NmclusterError, ValueError):
    """The request itself is wrong (bad option, unknown station, malformed config).  Exit code 2."""

    exit_code = 2


class ConfigError(UserInputError):
    """The site configuration file is malformed."""


class UnsafePathError(UserInputError):
    """A directory or file nmcluster would keep data in could be read or replaced by another user (a link
    planted by someone else, a mode that lets others write, a relative path).  Exit code 2: the site config
    or the directory's mode must change; nothing was written."""


class HardwareConfigError(UserInputError):
    """A hardware config (the job's JSON object) is invalid for its partition."""


class StagingError(UserInputError):
    """The job's code or inputs cannot be staged (missing file, unsafe archive, unreachable git URL)."""


class JobNotFoundError(UserInputError):
    """No job with that id in the user's job store."""


class SlurmUnavailableError(NmclusterError):
    """Slurm's controller does not answer.  Exit code 1: nothing was queued."""


class SlurmError(NmclusterError):
    """A Slurm command failed for a reason other than the controller being down."""


class JobStateError(UserInputError):
    """The operation does not fit the job's state (cancelling a finished job, removing a running one,
    results of a running one): a user mistake, exit code 2 like the README says."""


class JobTimeoutError(JobStateError):
    """Waiting for a job ended at its timeout with the job still queued or running (nothing wrong with
    the request: exit code 1)."""

    exit_code = 1


class HardwareUnavailableError(NmclusterError):
    """``--hardware`` was requested but the hardware is absent or not usable here."""


class HardwareBusyError(NmclusterError):
    """Exclusive hardware (a Spikey station, an FPGA) is held by someone else outside Slurm.  Exit code 1:
    nothing is wrong with the request, it just has to wait or pick other hardware."""


class RemoteError(NmclusterError):
    """Working with a remote frontend over SSH failed (``--host`` / ``Client(host=...)``).  Exit code 1."""


class HostKeyError(RemoteError):
    """The frontend's SSH host key is unknown or differs from ``known_hosts``: never accepted silently."""


class RemoteAuthError(RemoteError):
    """SSH authentication failed (no usable key in the agent or the key files)."""


class RemoteConnectionError(RemoteError):
    """The SSH connection could not be made or was lost; nothing half-staged is registered as a job."""


class RemoteCommandError(RemoteError):
    """The remote ``nmcluster`` failed (its message is passed on)."""


class RemoteUserError(UserInputError):
    """The remote ``nmcluster`` rejected the request as bad input (its message is passed on).  Exit code 2."""


class StorageError(NmclusterError):
    """The job root or the job store cannot be written or read: disk full, quota, permissions, a job root
    that belongs to another user, a damaged store.  Exit code 1: nothing was queued or recorded."""


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters for messages (repr of a 5000-digit int raises)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's int-to-string limit, possibly inside a list or dict
        return "a value with a number of thousands of digits"
    return text if len(text) <= limit else text[:limit] + "..."

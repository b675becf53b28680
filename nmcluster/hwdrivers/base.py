"""What every driver layer answers: is the requested hardware present and usable here, and why not.

A :class:`Presence` is truthy exactly when the hardware can be used, so existing code that treats
``hardware_present`` as a bool keeps working, while :func:`nmcluster.partitions.base.choose_backend` copies
the ``reason`` into the job log, ``status`` and the job record.  The reason is written for the user who
reads "why did my job run on the emulator?": it names the station/wafer/board and the concrete cause
("station500: no Spikey with serial B201335 on node hel3").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Presence:
    """The driver's verdict on one request on one node."""

    present: bool
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.present

    @classmethod
    def yes(cls, reason: str, **details: Any) -> "Presence":
        return cls(True, reason, details)

    @classmethod
    def no(cls, reason: str, **details: Any) -> "Presence":
        return cls(False, reason, details)


def node_name() -> str:
    """Short host name of this node, as Slurm's NodeName usually is."""
    import socket

    return socket.gethostname().split(".", 1)[0]

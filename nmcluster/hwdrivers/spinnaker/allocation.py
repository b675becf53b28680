"""How SpiNNaker boards are claimed: a spalloc server when the site has one, else Slurm licences.

Without spalloc, boards are counted by the Slurm licence the spinnaker partition configures
(``--licenses=spinnaker_board:N``), which is what keeps two jobs from exceeding the inventory.

With ``[spalloc] host`` set, spalloc arbitrates the boards (it also powers and boots them), so no
licence is requested; the job learns the server through ``NMCLUSTER_SPALLOC_SERVER`` and a
``spynnaker.cfg`` ``[Machine]`` section (sPyNNaker then allocates itself), and :func:`allocate` requests
boards directly for tools that want an explicit allocation.  The ``spalloc`` client from PyPI is an
optional dependency, imported only here and only when used; where it is missing the error says how to
install it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from nmcluster.errors import HardwareUnavailableError

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig, SpallocSettings


def spalloc_client() -> ModuleType:
    """The spalloc client module (``spalloc_client`` in spalloc >= 7, ``spalloc`` before)."""
    import importlib

    for name in ("spalloc_client", "spalloc"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "Job"):
            return module
    raise HardwareUnavailableError("the site configures a spalloc server but the spalloc client is not "
                                   "installed here: pip install spalloc")


def server_answers(settings: "SpallocSettings", timeout: float | None = None) -> tuple[bool, str]:
    """Does something accept connections at the spalloc server's address?  (Cheap: one TCP connect.)"""
    limit = settings.timeout if timeout is None else timeout
    try:
        with socket.create_connection((settings.host, settings.port), timeout=limit):
            return True, f"spalloc server {settings.host}:{settings.port} answers"
    except OSError as exc:
        return False, (f"spalloc server {settings.host}:{settings.port} does not answer "
                       f"({exc.strerror or exc.__class__.__name__})")


def owner(settings: "SpallocSettings", user: str) -> str:
    return settings.owner or user


def job_environment(settings: "SpallocSettings") -> dict[str, str]:
    """What a spinnaker job needs to find the spalloc server."""
    return {"NMCLUSTER_SPALLOC_SERVER": f"{settings.host}:{settings.port}",
            **({"NMCLUSTER_SPALLOC_MACHINE": settings.machine} if settings.machine else {})}


def spynnaker_cfg(settings: "SpallocSettings", user: str) -> str:
    """A ``spynnaker.cfg`` ``[Machine]`` section that makes sPyNNaker allocate through spalloc."""
    lines = ["[Machine]", "machineName = None", "version = None", f"spalloc_server = {settings.host}",
             f"spalloc_port = {settings.port}", f"spalloc_user = {owner(settings, user)}"]
    if settings.machine:
        lines.append(f"spalloc_machine = {settings.machine}")
    return "\n".join(lines) + "\n"


@dataclass
class SpallocAllocation:
    """Boards held through spalloc; :meth:`release` (or leaving ``with``) gives them back."""

    job_id: int | None
    hostname: str
    width: int | None
    height: int | None
    machine: str
    boards: list[Any] = field(default_factory=list)
    _job: Any = None

    def release(self, reason: str = "nmcluster job finished") -> None:
        if self._job is not None:
            try:
                self._job.destroy(reason)
            finally:
                self._job = None

    def __enter__(self) -> "SpallocAllocation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def allocate(settings: "SpallocSettings", boards: int, user: str,
             ready_timeout: float | None = 300.0) -> SpallocAllocation:
    """Request ``boards`` boards from the spalloc server and wait until they are powered and ready."""
    if not settings.configured:
        raise HardwareUnavailableError("no spalloc server is configured ([spalloc] host in the site config)")
    module = spalloc_client()
    kwargs: dict[str, Any] = dict(hostname=settings.host, port=settings.port, owner=owner(settings, user),
                                  keepalive=settings.keepalive, timeout=settings.timeout, config_filenames=[])
    if settings.machine:
        kwargs["machine"] = settings.machine
    try:
        job = module.Job(boards, **kwargs)
    except (OSError, ValueError) as exc:
        raise HardwareUnavailableError(f"spalloc server {settings.host}:{settings.port} refused or failed the "
                                       f"request for {boards} board(s): {exc}") from None
    try:
        job.wait_until_ready(timeout=ready_timeout)
    except Exception as exc:  # noqa: BLE001 - spalloc raises its own classes; give the boards back first
        try:
            job.destroy(f"nmcluster: not ready ({exc})")
        except Exception:  # noqa: BLE001
            pass
        raise HardwareUnavailableError(f"spalloc job for {boards} board(s) did not become ready: {exc}") from None
    return SpallocAllocation(job_id=getattr(job, "id", None), hostname=str(job.hostname), width=job.width,
                             height=job.height, machine=str(getattr(job, "machine_name", "") or ""),
                             boards=list(getattr(job, "boards", None) or []), _job=job)


def slurm_licence_args(site: "SiteConfig", boards: int) -> list[str]:
    """Slurm arguments claiming ``boards`` boards (none when spalloc arbitrates)."""
    if site.spalloc.configured:
        return []
    lic = site.partition("spinnaker").board_license
    return [f"--licenses={lic}:{boards}"] if lic else []

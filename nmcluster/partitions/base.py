"""What every partition does: validate a hardware config, turn it into Slurm resources and a job
environment, and pick the PyNN backend (hardware or emulator) that ``{system}`` becomes.

A :class:`ResourceRequest` is plain data (JSON round-trip) because it travels from the submitting
process to the job runner inside the allocation.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from nmcluster.config import PartitionConfig, SiteConfig
from nmcluster.errors import HardwareConfigError, HardwareUnavailableError, UserInputError, shown

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

    from nmcluster.hwdrivers.base import Presence

#: runs a temporary snapshot of a job's code with ``{system}`` = the given backend and extra environment
#: variables, within a timeout (s); the job service provides it to :meth:`Partition.size_from_script`
ScriptRunner = Callable[[str, Mapping[str, str], float], "subprocess.CompletedProcess[str]"]


class ResourceRequest(NamedTuple):
    """The validated, resolved hardware request of one job."""

    kind: str
    slurm_partition: str
    slurm_args: tuple[str, ...]
    environment: Mapping[str, str]
    hardware_config: Mapping[str, Any]
    description: str
    lock_keys: tuple[str, ...] = ()  # exclusive resources, for executors without Slurm's bookkeeping
    backends: tuple[str, ...] = ()
    hardware_backend: str = ""
    emulator_backends: tuple[str, ...] = ()
    always_emulate: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = self._asdict()
        d["environment"] = dict(self.environment)
        d["hardware_config"] = dict(self.hardware_config)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ResourceRequest":
        return cls(kind=d["kind"], slurm_partition=d["slurm_partition"], slurm_args=tuple(d["slurm_args"]),
                   environment=dict(d["environment"]), hardware_config=dict(d["hardware_config"]),
                   description=d["description"], lock_keys=tuple(d.get("lock_keys", ())),
                   backends=tuple(d.get("backends", ())), hardware_backend=d.get("hardware_backend", ""),
                   emulator_backends=tuple(d.get("emulator_backends", ())),
                   always_emulate=bool(d.get("always_emulate", False)))


class BackendChoice(NamedTuple):
    """Which PyNN backend a job uses and why; stored in the job record and printed in the log."""

    backend: str
    emulated: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "emulated": self.emulated, "backend_reason": self.reason}


def backend_importable(name: str) -> bool:
    """Is ``pyNN.<name>`` importable here?  (Finds the module without importing the backend.)"""
    try:
        return importlib.util.find_spec(f"pyNN.{name}") is not None
    except (ImportError, ValueError):
        return False


def check_allowed(request: ResourceRequest, allowed: Sequence[str] | None) -> None:
    """``{system=a,b}`` must name at least one backend this partition can provide (checked at submit,
    before anything is queued)."""
    if allowed is not None and not set(allowed) & set(request.backends):
        raise UserInputError(f"{{system={','.join(allowed)}}} lists no backend of the {request.kind} "
                             f"partition (its backends: {', '.join(request.backends)})")


def choose_backend(request: ResourceRequest, hardware_present: bool, mode: str = "auto",
                   importable=backend_importable, allowed: Sequence[str] | None = None) -> BackendChoice:
    """Hardware backend when the hardware is present (and not ``mode == "emulate"``), else the first
    importable emulator backend.  ``mode == "hardware"`` makes absence an error.

    ``allowed`` (the command's ``{system=a,b}``) narrows the choice: the hardware backend only if it is
    allowed, and the first allowed importable emulator otherwise (``{system=nest}`` on Spikey runs on
    NEST, whether or not the chip is attached), like the guidebook's benchmark placeholder expects."""
    if mode not in ("auto", "hardware", "emulate"):
        raise UserInputError(f"unknown backend mode {mode!r} (auto, hardware or emulate)")
    if request.always_emulate and mode == "hardware":
        raise UserInputError(f"the {request.kind} partition is an emulator; --hardware does not apply")
    # the driver's answer may carry why (a hwdrivers.base.Presence); a plain bool says nothing more
    detail = str(getattr(hardware_present, "reason", "") or "")
    if allowed is not None:
        check_allowed(request, allowed)
        if request.hardware_backend not in allowed:
            if mode == "hardware":
                raise UserInputError(f"--hardware was given, but the command allows only "
                                     f"{{system={','.join(allowed)}}}, not the hardware backend "
                                     f"{request.hardware_backend}")
            emulators = [n for n in request.emulator_backends if n in allowed]
            for name in emulators:
                if importable(name):
                    return BackendChoice(name, True, f"{request.description}: the command allows only "
                                                     f"{{system={','.join(allowed)}}}, using emulator {name}")
            raise HardwareUnavailableError(f"{request.description}: the command allows only "
                                           f"{{system={','.join(allowed)}}} and none of them is importable here "
                                           f"(tried {', '.join(emulators) or 'none'})")
    if mode != "emulate" and not request.always_emulate:
        if hardware_present:
            return BackendChoice(request.hardware_backend, False,
                                 f"{request.description}: hardware present" + (f" ({detail})" if detail else ""))
        if mode == "hardware":
            raise HardwareUnavailableError(f"{request.description}: " + (
                f"{detail}, and --hardware was given" if detail else
                "hardware not present or not usable on this node, and --hardware was given"))
    why = ("emulation forced" if mode == "emulate" else
           "partition always emulates" if request.always_emulate else
           f"hardware not present ({detail})" if detail else "hardware not present")
    for name in request.emulator_backends:
        if importable(name) and (allowed is None or name in allowed):
            return BackendChoice(name, True, f"{request.description}: {why}, using emulator {name}")
    raise HardwareUnavailableError(f"{request.description}: {why} and no emulator backend is importable "
                                   f"(tried {', '.join(request.emulator_backends)})")


def check_keys(kind: str, config: Mapping[str, Any], schema: Mapping[str, str]) -> None:
    """Unknown keys are errors: a misspelt ``STATON`` must not silently run on any station."""
    unknown = sorted(set(config) - set(schema))
    if unknown:
        allowed = ", ".join(f"{k} ({t})" for k, t in schema.items())
        raise HardwareConfigError(f"unknown hardware config key(s) {', '.join(unknown)} for the {kind} "
                                  f"partition (allowed: {allowed})")


def int_value(kind: str, key: str, value: Any, lo: int = -2**31, hi: int = 2**31 - 1) -> int:
    """An integer of the hardware config in ``lo..hi`` (by default 32 bits: never so large that rendering
    it into Slurm options or file names could fail later; partitions check their own ranges after)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise HardwareConfigError(f"{kind} hardware config: {key} must be an integer, got {shown(value)}")
    if not lo <= value <= hi:
        raise HardwareConfigError(f"{kind} hardware config: {key} must lie in {lo}..{hi}, got {shown(value)}")
    return value


def int_list(kind: str, key: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise HardwareConfigError(f"{kind} hardware config: {key} must be a non-empty list of integers, "
                                  f"got {shown(value)}")
    return tuple(int_value(kind, key, v) for v in value)


class QuotaUnit(NamedTuple):
    """How a platform's quota maps onto Slurm's accounting (issue 21).

    Each collab has one Slurm sub-account per platform, limited by ``GrpTRESMins=billing=N``; the
    partition's ``TRESBillingWeights`` (``weights``) make its "billing" TRES count exactly the resource the
    guidebook's quota counts, so slurmctld itself enforces the quota.  ``minutes_per_unit`` converts a
    quota unit into billing minutes (a wafer-hour = 48 FPGA licences x 60 minutes)."""

    units: str
    minutes_per_unit: float
    weights: str


class Partition(ABC):
    """One hardware partition.  Subclasses fill ``kind``, ``SCHEMA`` and :meth:`resolve`."""

    kind: str = ""
    #: hardware config key -> human description of its type, for error messages
    SCHEMA: Mapping[str, str] = {}

    def quota_unit(self) -> QuotaUnit | None:
        """What this platform's quota counts and how Slurm bills it; None = no quota (an emulator-only
        partition such as the ESS costs no hardware time)."""
        return None

    def tracked_tres(self) -> tuple[str, ...]:
        """The TRES that ``AccountingStorageTRES`` must track for :meth:`quota_unit`'s weights."""
        return ()

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.config: PartitionConfig = site.partition(self.kind)

    def validate(self, hardware_config: Mapping[str, Any]) -> ResourceRequest:
        """Check the hardware config and resolve it into a :class:`ResourceRequest`."""
        if not isinstance(hardware_config, Mapping):
            raise HardwareConfigError("hardware config must be a JSON object")
        check_keys(self.kind, hardware_config, self.SCHEMA)
        slurm_args, env, normalised, description, locks = self.resolve(hardware_config)
        return ResourceRequest(kind=self.kind, slurm_partition=self.config.slurm_partition,
                               slurm_args=tuple(slurm_args), environment=dict(env),
                               hardware_config=normalised, description=description, lock_keys=tuple(locks),
                               backends=self.config.backends, hardware_backend=self.config.hardware_backend,
                               emulator_backends=self.config.emulator_backends,
                               always_emulate=self.config.always_emulate)

    @abstractmethod
    def resolve(self, hw: Mapping[str, Any]) -> tuple[Sequence[str], Mapping[str, str], dict[str, Any], str,
                                                      Sequence[str]]:
        """Return (slurm args, job environment, normalised config, description, exclusive lock keys)."""

    def hardware_present(self, request: ResourceRequest, env: Mapping[str, str]) -> "Presence":
        """Is the requested hardware attached and usable where the job runs?

        The driver layers answer this (spikey, wafer and spinnaker override it) with a
        :class:`nmcluster.hwdrivers.base.Presence`: truthy when usable, with a ``reason`` that
        :func:`choose_backend` puts into the job log and record.  A partition without a driver says no,
        so the job falls back to the emulator and says so in its log.
        """
        from nmcluster.hwdrivers.base import Presence

        return Presence.no(f"no hardware driver for the {self.kind} partition")

    def runtime_environment(self, request: ResourceRequest, env: Mapping[str, str]) -> dict[str, str]:
        """Environment only known once the job runs (e.g. which of several stations Slurm picked)."""
        return {}

    #: module run as ``python -m MODULE -- COMMAND`` inside an allocation to complete the environment
    #: cheaply when the full job runner is not needed (see :meth:`needs_runtime_environment`)
    RUNTIME_HELPER = ""

    def needs_runtime_environment(self, request: ResourceRequest) -> bool:
        """Must the environment be completed inside the allocation (runner or RUNTIME_HELPER)?"""
        return False

    def pin_free_now(self, request: ResourceRequest, nodes: Sequence[Any]) -> ResourceRequest | None:
        """For an interactive run that asks for "any" resource: the same request pinned to one that is free
        right now (``nodes``: :meth:`nmcluster.infra.slurmcli.SlurmCLI.nodes`), so its environment is
        known before ``srun`` and nothing has to be completed inside the allocation; None to keep the
        request as it is (nothing free now: the job queues for any resource as asked)."""
        return None

    # -- hooks the generic job code calls instead of testing a hardware's name ------------------------
    @classmethod
    def defaults_from_environment(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """Hardware config values the loaded environment module supplies (the lowest layer under the
        user's config and flags), e.g. ``MY_STAGE1_STATION`` for Spikey; none by default."""
        return {}

    #: the hardware config that asks for sizing from the script (``--size-from-script``); empty: unsupported
    SIZE_FROM_SCRIPT: Mapping[str, Any] = {}

    def size_from_script(self, hw: Mapping[str, Any], run_script: ScriptRunner,
                         env: Mapping[str, str]) -> Mapping[str, Any]:
        """The hardware config with anything "sized from the script" resolved (at submit time, before
        validation); ``run_script`` runs a snapshot of the job's code.  Unchanged by default."""
        return hw

    def allocated_config(self, request: ResourceRequest, env: Mapping[str, str]) -> dict[str, Any]:
        """Hardware config values the job got inside its allocation that its request left open (the
        station Slurm picked for "any free station"): recorded with the job, so ``status`` and the log
        name them.  None by default."""
        return {}

    #: is the hardware calibrated (a calibration store target per job, the site's uncalibrated policy)?
    calibrated: bool = False

    def calibration_target(self, request: ResourceRequest, env: Mapping[str, str]) -> str | None:
        """The calibration store target this job's hardware uses (``station500``, ``wafer33``), known
        inside the allocation (``env``: the job's environment); None when the hardware has none."""
        return None

    def calibration_coverage(self, request: ResourceRequest, env: Mapping[str, str], store: Any,
                             version: int | None) -> dict[str, int | None]:
        """What the pinned ``version`` covers, per unit of the job's hardware (a station, a HICANN):
        unit -> version, or None for a unit the version has no calibration of.  ``store`` is the
        calibration store.  By default the target as one unit."""
        target = self.calibration_target(request, env)
        return {target: version} if target else {}

    def prepare_job(self, request: ResourceRequest, env: dict[str, str], job_dir: "Path",
                    note: Callable[[str], None]) -> dict[str, Any]:
        """Prepare the job inside its allocation, just before the command starts: pin the calibration
        version (``$NMCLUSTER_CALIB_VERSION``, so that a version committed while the job runs does not
        change it), tell what it covers (:meth:`calibration_coverage`; uncovered units in the log, the
        site's ``[hardware] uncalibrated`` policy as ``$NMCLUSTER_UNCALIBRATED`` for the emulators), and
        whatever the hardware needs besides (the wafer's defects file).  Changes ``env``; returns what
        the job record keeps (``calib_version``: none when the version covers none of the hardware;
        ``calib_coverage``; ``pinned_version``).  Failures are noted, not raised: an unreadable store
        must not stop the job."""
        if not self.calibrated:
            return {}
        policy = self.site.hardware.uncalibrated
        env["NMCLUSTER_UNCALIBRATED"] = policy  # the emulators obey it for units without calibration
        target = self.calibration_target(request, env)
        if target is None:
            return {}
        from nmcluster.calib.store import ENV_VERSION

        try:
            from nmcluster.calib.store import CalibStore, default_root

            store = CalibStore(default_root(self.site, env))
            if env.get(ENV_VERSION, "").strip():
                version: int | None = int(env[ENV_VERSION])
            else:
                version = store.current(target)
        except Exception as exc:  # noqa: BLE001 - say so, run uncalibrated
            note(f"calibration store not readable, running uncalibrated: {exc}")
            return {}
        if version is not None:
            env[ENV_VERSION] = str(version)
        try:
            coverage = self.calibration_coverage(request, env, store, version)
        except Exception as exc:  # noqa: BLE001 - the job runs; the log says what is unknown
            note(f"cannot tell which hardware the calibration covers: {exc}")
            coverage = {}
        missing = [u for u, v in coverage.items() if v is None]
        if missing and policy != "allow":
            covered = ", ".join(u for u, v in coverage.items() if v is not None) or "none of them"
            note(f"uncalibrated ({'refused by the site' if policy == 'refuse' else 'nominal values'}): "
                 f"{', '.join(missing[:20])}" + (f" (calibration version {version} covers {covered})"
                                                  if version is not None else " (no calibration in the store)"))
        info: dict[str, Any] = {"pinned_version": version}
        if coverage:
            info["calib_coverage"] = coverage
        if version is not None and not (coverage and not any(v is not None for v in coverage.values())):
            info["calib_version"] = version
        return info

    def check_slurm_options(self, options: Sequence[str], command: str = "sbatch") -> tuple[str, ...]:
        """Refuse hand-written resource options (the original site's submit plugin did the same) and values
        Slurm would reject; ``command`` is the Slurm command the options go to ("sbatch" or "srun": their
        option tables differ).  Options are read the way Slurm reads them (long-option prefixes, bundled
        short flags, separate arguments: :mod:`nmcluster.slurmopts`), and only an allow-list passes.
        Returns the options in canonical one-word form (``--time=10``)."""
        from nmcluster.slurmopts import check_user_options

        return check_user_options(options, command, what=f"the {self.kind} partition")

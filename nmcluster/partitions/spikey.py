"""Spikey partition: one USB-attached chip per station, claimed through the ``station`` GRES.

``STATION`` 500 (or ``"station500"``) -> ``--gres=station:s500:1`` and ``MY_STAGE1_STATION=station500``,
which the chip software reads.  Without a station any free station is requested (``--gres=station:1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nmcluster.errors import HardwareConfigError
from nmcluster.hwdrivers.spikey.stations import parse_station
from nmcluster.partitions.base import Partition, QuotaUnit, int_value


class SpikeyPartition(Partition):
    kind = "spikey"

    def quota_unit(self) -> QuotaUnit:
        # station-hours: one station GRES held for a minute bills 1 (the guidebook names no Spikey unit;
        # hours of a station is what a Spikey user books)
        return QuotaUnit("station-hours", 60.0, "GRES/station=1.0")

    def tracked_tres(self) -> tuple[str, ...]:
        return ("gres/station",)
    SCHEMA = {"STATION": 'station number or "stationNNN"', "CALIB_VERSION": "integer"}
    calibrated = True

    @classmethod
    def defaults_from_environment(cls, env):
        """The station the ``spikey`` environment module selected (``MY_STAGE1_STATION``)."""
        return {"STATION": env["MY_STAGE1_STATION"]} if env.get("MY_STAGE1_STATION") else {}

    def allocated_config(self, request, env):
        """The station a job without ``STATION`` got (``MY_STAGE1_STATION`` inside its allocation)."""
        station = env.get("MY_STAGE1_STATION", "")
        return {"STATION": station} if station and "STATION" not in request.hardware_config else {}

    def calibration_coverage(self, request, env, store, version):
        """The job's station, by its name as the job sees it (``MY_STAGE1_STATION``)."""
        station = env.get("MY_STAGE1_STATION", "")
        return {station: version} if station else {}

    def calibration_target(self, request, env):
        """``station<N>``: the station the job got (pinned, or the one Slurm picked)."""
        try:
            return f"station{parse_station(env.get('MY_STAGE1_STATION', ''))}"
        except HardwareConfigError:
            return None

    def resolve(self, hw: Mapping[str, Any]):
        normalised: dict[str, Any] = {}
        calib_env: dict[str, str] = {}
        if "CALIB_VERSION" in hw:
            normalised["CALIB_VERSION"] = int_value(self.kind, "CALIB_VERSION", hw["CALIB_VERSION"],
                                                    lo=1, hi=2**31 - 1)  # the store's bound (calib.safety)
            # the job runner and the emulator's calibration provider (nmcluster.calib) read it
            calib_env["NMCLUSTER_CALIB_VERSION"] = str(normalised["CALIB_VERSION"])
        if "STATION" not in hw or hw["STATION"] in (None, ""):
            return (["--gres=station:1"], calib_env, normalised, "spikey (any free station)", [])
        number = parse_station(hw["STATION"])
        station = self.site.stations.get(number)
        if station is None:
            known = ", ".join(str(n) for n in sorted(self.site.stations)) or "none"
            raise HardwareConfigError(f"station {number} is not configured at this site (stations: {known})")
        normalised["STATION"] = station.name
        return ([f"--gres=station:{station.gres_type}:1"], {"MY_STAGE1_STATION": station.name, **calib_env},
                normalised,
                f"spikey {station.name}", [station.name])

    def hardware_present(self, request, env):
        """Ask the Spikey driver: is the station's chip attached to this node and usable by this user?"""
        from nmcluster.hwdrivers.spikey.presence import request_presence

        return request_presence(self.site, request.hardware_config)

    RUNTIME_HELPER = "nmcluster.hwdrivers.spikey.allocated"

    def needs_runtime_environment(self, request):
        return "MY_STAGE1_STATION" not in request.environment

    def pin_free_now(self, request, nodes):
        """"Any free station" for ``nmcluster run``: the lowest-numbered configured station that Slurm shows
        unused on an allocatable node of this partition.  Pinning it here sets ``MY_STAGE1_STATION`` before
        ``srun``, instead of asking Slurm inside the allocation which one it picked (a Python start plus an
        ``scontrol`` call, ~40 ms of every run).  Should another job take that station in the few
        milliseconds before ``srun`` reaches the controller, this job waits for that station."""
        if "MY_STAGE1_STATION" in request.environment:
            return None
        from nmcluster.hwdrivers.spikey.allocated import stations_in

        free = [number for node in nodes
                if request.slurm_partition in node.partitions and node.allocatable
                for number in stations_in(node.gres) - stations_in(node.gres_used)
                if number in self.site.stations]
        if not free:
            return None
        return self.validate({**request.hardware_config, "STATION": min(free)})

    def runtime_environment(self, request, env):
        """For "any free station" requests, tell the chip software which station it got: Slurm's
        allocated ``station`` GRES inside an allocation, else the attached station the driver found."""
        if "MY_STAGE1_STATION" in request.environment:
            return {}
        job_id = env.get("SLURM_JOB_ID")
        if job_id:
            from nmcluster.hwdrivers.spikey.allocated import allocated_station

            station = allocated_station(job_id, dict(env))
            return {"MY_STAGE1_STATION": station} if station else {}
        presence = self.hardware_present(request, env)
        station = dict(getattr(presence, "details", {}) or {}).get("station")
        return {"MY_STAGE1_STATION": str(station)} if presence and station else {}

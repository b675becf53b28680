"""Wafer partition: BrainScaleS wafer modules, claimed through one Slurm licence per FPGA.

HICANNs, reticles or FPGAs of one wafer are resolved through the wafer geometry to the FPGA licences
``W<wafer>F<fpga>`` the original site used; the job sees ``SLURM_HICANNS``, ``SLURM_HARDWARE_LICENSES``
and ``SLURM_FPGA_IPS`` like there.  Without HICANNs/FPGAs/reticles the whole wafer (all of its
configured FPGAs) is requested.

Known defects (:mod:`nmcluster.hwdrivers.wafer.defects`) are applied on the wafer partition: a request
naming an unavailable FPGA or HICANN is rejected before queueing with the reason; an FPGA or reticle
request drops the unavailable HICANNs of its FPGAs from ``SLURM_HICANNS``; the whole wafer leaves out
unavailable FPGAs and HICANNs.  The ESS emulates the wafer and claims nothing physical, so it is not
restricted (it still gets ``SLURM_DEFECTS_PATH`` to emulate the blacklists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nmcluster.errors import HardwareConfigError
from nmcluster.hwdrivers.wafer import geometry
from nmcluster.partitions.base import Partition, QuotaUnit, int_list, int_value


class WaferPartition(Partition):
    kind = "wafer"

    def quota_unit(self) -> QuotaUnit:
        """Wafer-hours (guidebook, "Requesting access"): every FPGA licence held for a minute bills 1, so a
        whole wafer (48 FPGAs) for an hour bills 2880 and a job on 2 HICANNs of one FPGA bills 1/48 of that."""
        from nmcluster.hwdrivers.wafer.geometry import license_name

        weights = ",".join(f"License/{license_name(w, f)}=1.0" for w in sorted(self.site.wafers)
                           for f in self.site.wafers[w].fpgas)
        return QuotaUnit("wafer-hours", 48 * 60.0, weights)

    def tracked_tres(self) -> tuple[str, ...]:
        from nmcluster.hwdrivers.wafer.geometry import license_name

        return tuple(f"license/{license_name(w, f)}" for w in sorted(self.site.wafers)
                     for f in self.site.wafers[w].fpgas)
    SCHEMA = {"WAFER": "integer", "HICANNS": "list of integers 0..383", "FPGAS": "list of integers 0..47",
              "RETICLES": "list of integers 0..47", "CALIB_VERSION": "integer"}
    uses_licences = True

    def _wafer(self, hw: Mapping[str, Any]) -> int:
        if "WAFER" not in hw:
            if len(self.site.wafers) == 1:
                return next(iter(self.site.wafers))
            raise HardwareConfigError(f"the {self.kind} partition needs a WAFER (configured wafers: "
                                      f"{', '.join(str(w) for w in sorted(self.site.wafers)) or 'none'})")
        wafer = int_value(self.kind, "WAFER", hw["WAFER"])
        if wafer not in self.site.wafers:
            raise HardwareConfigError(f"wafer {wafer} is not configured at this site (wafers: "
                                      f"{', '.join(str(w) for w in sorted(self.site.wafers)) or 'none'})")
        return wafer

    def resolve(self, hw: Mapping[str, Any]):
        wafer_id = self._wafer(hw)
        available = set(self.site.wafers[wafer_id].fpgas)
        hicanns: set[int] = set()
        fpgas: set[int] = set()
        explicit: set[int] = set()
        try:
            if "HICANNS" in hw:
                explicit.update(geometry.check_hicann(h) for h in int_list(self.kind, "HICANNS", hw["HICANNS"]))
                hicanns.update(explicit)
                fpgas.update(geometry.fpga_of_hicann(h) for h in hicanns)
            if "RETICLES" in hw:
                for r in int_list(self.kind, "RETICLES", hw["RETICLES"]):
                    hs = geometry.hicanns_of_reticle(r)
                    hicanns.update(hs)
                    fpgas.add(geometry.fpga_of_reticle(r))
            if "FPGAS" in hw:
                for f in int_list(self.kind, "FPGAS", hw["FPGAS"]):
                    fpgas.add(geometry.check_fpga(f))
                    hicanns.update(geometry.hicanns_of_fpga(f))
        except ValueError as exc:  # range errors from the geometry
            if isinstance(exc, HardwareConfigError):
                raise
            raise HardwareConfigError(f"wafer {wafer_id}: {exc}") from None
        whole = not fpgas
        from nmcluster.hwdrivers.wafer.defects import defect_source

        source = defect_source(self.site)
        defects = source.load(wafer_id)
        dropped: set[int] = set()
        if self.uses_licences and not defects.empty:
            if not whole:
                defects.check_request(hicanns=explicit, fpgas=fpgas)
            else:
                fpgas = set(available) - defects.unavailable_fpgas
                if not fpgas:
                    raise HardwareConfigError(f"wafer {wafer_id}: every configured FPGA is marked unavailable "
                                              f"(defects: {defects.source})")
                hicanns = {h for f in fpgas for h in geometry.hicanns_of_fpga(f)}
            dropped = hicanns & defects.blocked_hicanns()
            hicanns -= dropped
            if not hicanns:
                raise HardwareConfigError(f"wafer {wafer_id}: every HICANN of the request is marked unavailable "
                                          f"(defects: {defects.source})")
        elif whole:
            fpgas = set(available)
            hicanns = {h for f in fpgas for h in geometry.hicanns_of_fpga(f)}
        missing = sorted(fpgas - available)
        if missing:
            raise HardwareConfigError(f"wafer {wafer_id}: FPGA(s) {', '.join(map(str, missing))} are not "
                                      f"available at this site")
        fpga_list = sorted(fpgas)
        licences = [geometry.license_name(wafer_id, f) for f in fpga_list]
        env = {
            "SLURM_HICANNS": ",".join(geometry.hicann_name(wafer_id, h) for h in sorted(hicanns)),
            "SLURM_HARDWARE_LICENSES": ",".join(licences),
            "SLURM_FPGA_IPS": ",".join(geometry.fpga_ip(wafer_id, f) for f in fpga_list),
            "NMCLUSTER_WAFER": str(wafer_id),
        }
        if source.location(wafer_id):
            env["SLURM_DEFECTS_PATH"] = source.location(wafer_id)
        normalised: dict[str, Any] = {"WAFER": wafer_id, "HICANNS": sorted(hicanns), "FPGAS": fpga_list}
        if "CALIB_VERSION" in hw:
            normalised["CALIB_VERSION"] = int_value(self.kind, "CALIB_VERSION", hw["CALIB_VERSION"],
                                                    lo=1, hi=2**31 - 1)  # the store's bound (calib.safety)
            env["NMCLUSTER_CALIB_VERSION"] = str(normalised["CALIB_VERSION"])  # nmcluster.calib pins it
        what = "whole wafer" if whole else f"FPGA {','.join(map(str, fpga_list))}"
        if dropped:
            what += f", without unavailable HICANN(s) {','.join(map(str, sorted(dropped)))}"
        slurm_args = [f"--licenses={','.join(licences)}"] if self.uses_licences else []
        return (slurm_args, env, normalised, f"wafer {wafer_id} ({what})",
                licences if self.uses_licences else [])

    def hardware_present(self, request, env):
        """Ask the wafer driver: is the wafer real here and are its FPGAs reachable from this node?"""
        from nmcluster.hwdrivers.wafer.presence import request_presence

        return request_presence(self.site, request.hardware_config)

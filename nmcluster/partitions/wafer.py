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
    calibrated = True
    uses_licences = True

    @classmethod
    def defaults_from_environment(cls, env):
        """The wafer the ``brainscales`` environment module selected (``NMCLUSTER_WAFER``)."""
        value = env.get("NMCLUSTER_WAFER", "")
        return {"WAFER": int(value)} if value.isdigit() else {}

    def default_wafer(self) -> int:
        """The wafer of a job that names none: the site's default wafer (``default = true`` in its
        ``[[wafers]]`` entry), else the only configured one."""
        configured = sorted(self.site.wafers)
        marked = [w for w in configured if self.site.wafers[w].default]
        if marked or len(configured) == 1:
            return (marked or configured)[0]
        raise HardwareConfigError(f"the {self.kind} partition needs a WAFER: this site names no default wafer "
                                  f"(configured wafers: {', '.join(map(str, configured)) or 'none'}; an admin "
                                  f"marks one with default = true in its [[wafers]] entry)")

    def calibration_target(self, request, env):
        """``wafer<W>`` of the job's wafer."""
        value = env.get("NMCLUSTER_WAFER") or ""
        return f"wafer{value}" if value.isdigit() else None

    def calibration_coverage(self, request, env, store, version):
        """Per HICANN of the job (``SLURM_HICANNS``): a store version covers only the HICANNs it measured
        (version 1 of ``wafer33`` may hold HICANNs 297 and 298 alone)."""
        wafer = (env.get("NMCLUSTER_WAFER") or "").strip()
        names = [n.strip().upper() for n in env.get("SLURM_HICANNS", "").split(",") if n.strip()]
        if not wafer.isdigit() or not names:
            return {}
        covered: set[str] = set()
        if version is not None:
            cal = store.read(f"wafer{wafer}", version)
            covered = {k.split("/")[1] for k in cal.data if k.startswith("hicann/")}
        return {n: (version if n.split("H", 1)[1] in covered else None) for n in names}

    def prepare_job(self, request, env, job_dir, note):
        """Pin the calibration, then write the job's defects (the site's defects files + the calibration
        store's blacklists of the pinned version) to ``<job_dir>/defects/wafer<W>.json`` and point
        ``SLURM_DEFECTS_PATH`` there, so the job (and the wafer emulator) skip what the store blacklists.
        On failure the partition's ``SLURM_DEFECTS_PATH`` stays, and the log says why."""
        info = super().prepare_job(request, env, job_dir, note)
        wafer = env.get("NMCLUSTER_WAFER") or ""
        if not wafer.isdigit():
            return info
        try:
            from nmcluster.calib.providers import site_blacklists
            from nmcluster.hwdrivers.wafer.defects import job_defects_dir

            path = job_defects_dir(self.site, int(wafer), job_dir / "defects",
                                   site_blacklists(self.site, env, info.get("pinned_version")))
        except Exception as exc:  # noqa: BLE001 - say so, keep the site's defects
            note(f"cannot write the job's defects file, SLURM_DEFECTS_PATH stays "
                 f"{env.get('SLURM_DEFECTS_PATH') or 'unset'}: {exc}")
            return info
        env["SLURM_DEFECTS_PATH"] = str(path)
        return info

    def _wafer(self, hw: Mapping[str, Any]) -> int:
        if "WAFER" not in hw:
            return self.default_wafer()
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
        from nmcluster.calib.providers import site_blacklists
        from nmcluster.hwdrivers.wafer.defects import defect_source

        source = defect_source(self.site, site_blacklists(self.site))
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

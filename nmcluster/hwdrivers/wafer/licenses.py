"""Slurm licences of wafer FPGAs: names, parsing, and which FPGAs a site can actually hand out.

One licence ``W<wafer>F<fpga>`` per FPGA (count 1): Slurm's licence bookkeeping is what keeps two jobs
off one FPGA.  An FPGA is licensable when the site config lists it for the wafer and the wafer's defects
do not mark it unavailable.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nmcluster.hwdrivers.wafer.geometry import check_fpga, license_name

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig

_LICENSE = re.compile(r"^W(\d+)F(\d+)$")

__all__ = ["license_name", "parse_license", "available_fpgas", "site_without_unavailable_fpgas"]


def parse_license(name: str) -> tuple[int, int]:
    """``"W33F34"`` -> (33, 34); anything else is a ValueError."""
    m = _LICENSE.match(name.strip())
    if not m:
        raise ValueError(f"{name!r} is not a wafer FPGA licence (W<wafer>F<fpga>, e.g. W33F34)")
    return int(m.group(1)), check_fpga(int(m.group(2)))


def available_fpgas(site: "SiteConfig", wafer: int, blacklists=None) -> tuple[int, ...]:
    """FPGAs of ``wafer`` a job may get: configured for the site and not marked unavailable (by the
    defects files, or by ``blacklists``: the calibration store's, passed in by the caller)."""
    from nmcluster.hwdrivers.wafer.defects import load_defects

    unavailable = load_defects(site, wafer, blacklists).unavailable_fpgas
    return tuple(f for f in site.wafers[wafer].fpgas if f not in unavailable)


def site_without_unavailable_fpgas(site: "SiteConfig", blacklists=None) -> "SiteConfig":
    """The site config with every wafer's FPGA list reduced to :func:`available_fpgas`.

    What ``slurm-conf`` renders from, so Slurm has no licence for a broken FPGA.
    """
    if site.hardware.defects_dir is None and blacklists is None:
        return site
    wafers = {w: wf._replace(fpgas=available_fpgas(site, w, blacklists)) for w, wf in site.wafers.items()}
    return site._replace(wafers=wafers)

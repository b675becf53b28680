"""Is the Spikey station a job asks for attached to this node and usable by this user?

Asked by the job runner on the node where the job runs (inside the Slurm allocation, or on the
workstation for ``--local``).  The answer's reason goes into the job log and record, so it names the
station and the cause: not attached here, attached but the device node is not ours (with the plugdev /
udev cure), or present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nmcluster.hwdrivers.base import Presence, node_name
from nmcluster.hwdrivers.spikey.access import check_node
from nmcluster.hwdrivers.spikey.discovery import spikey_devices, unspecified_serial
from nmcluster.hwdrivers.spikey.stations import assign_devices

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig, Station


def _seen(devices, assigned: Mapping[int, Any]) -> str:
    by_dev = {id(d): n for n, d in assigned.items()}
    parts = [f"{d.serial or '(no serial)'} ({'station' + str(by_dev[id(d)]) if id(d) in by_dev else 'not configured'})"
             for d in devices]
    return ", ".join(parts)


def station_presence(site: "SiteConfig", station: "Station") -> Presence:
    """Presence of one configured station on this node."""
    hw = site.hardware
    node = node_name()
    devices = spikey_devices(hw.sysfs_root)
    assigned, _ = assign_devices(list(site.stations.values()), devices)
    dev = assigned.get(station.number)
    where = f" (it is attached to {station.host})" if station.host and station.host != node else ""
    if dev is None:
        serial = "an unspecified serial" if unspecified_serial(station.serial) else f"serial {station.serial}"
        if not devices:
            return Presence.no(f"{station.name}: no Spikey (USB 04b4:1003) is attached to node {node}{where}",
                               node=node)
        return Presence.no(f"{station.name}: no Spikey with {serial} on node {node}{where}; attached here: "
                           f"{_seen(devices, assigned)}", node=node)
    node_path = dev.node(hw.dev_root)
    access = check_node(node_path, hw.udev_group)
    if not access.ok:
        return Presence.no(f"{station.name}: Spikey serial {dev.serial or '?'} is attached to node {node} (USB "
                           f"{dev.busport}) but not usable: {access.message}", node=node, device=str(node_path))
    return Presence.yes(f"{station.name}: Spikey serial {dev.serial or '?'} attached to node {node} at USB "
                        f"{dev.busport} ({node_path})", node=node, device=str(node_path), busport=dev.busport)


def request_presence(site: "SiteConfig", hardware_config: Mapping[str, Any]) -> Presence:
    """Presence for a spikey request: its ``STATION``, or any configured station usable here."""
    from nmcluster.hwdrivers.spikey.stations import parse_station

    value = hardware_config.get("STATION")
    if value not in (None, ""):
        number = parse_station(value)
        station = site.stations.get(number)
        if station is None:
            return Presence.no(f"station{number} is not configured at this site")
        return station_presence(site, station)
    reasons = []
    for station in site.stations.values():
        p = station_presence(site, station)
        if p:
            return Presence.yes(f"any free station: {p.reason}", **dict(p.details), station=station.name)
        reasons.append(p.reason)
    if not site.stations:
        return Presence.no("no Spikey stations are configured at this site")
    return Presence.no(f"no configured Spikey station is usable on node {node_name()} "
                       f"({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''})")

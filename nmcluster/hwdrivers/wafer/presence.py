"""Is the wafer a job asks for present and reachable from this node?

A wafer is hardware only where the site says so (``hardware = true`` in its ``[[wafers]]`` entry); the
built-in defaults describe emulated wafers.  For a real wafer the node must be on the wafer's FPGA
network: every requested FPGA's address (``192.168.<wafer>.<...>``) must route through a local interface
inside ``192.168.<wafer>.0/24``.  The check is a routing lookup (a UDP ``connect`` sends nothing), so it
costs microseconds and never disturbs a running experiment.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nmcluster.hwdrivers.base import Presence, node_name
from nmcluster.hwdrivers.wafer.geometry import fpga_ip

if TYPE_CHECKING:
    from nmcluster.config import SiteConfig

_PROBE_PORT = 1234  # any port: connect() on UDP only selects the route


def fpga_route(ip: str) -> tuple[bool, str]:
    """(reachable, explanation) for one FPGA address, by asking the kernel which source address it would use."""
    net = ipaddress.ip_network(ip.rsplit(".", 1)[0] + ".0/24")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((ip, _PROBE_PORT))
        local = sock.getsockname()[0]
    except OSError as exc:
        return False, f"no route to {ip} ({exc.strerror or exc})"
    finally:
        sock.close()
    if ipaddress.ip_address(local) not in net:
        return False, f"{ip} is not on a local network of this node (no interface in {net}; would go via {local})"
    return True, f"{ip} via {local}"


def wafer_presence(site: "SiteConfig", wafer: int, fpgas: Sequence[int]) -> Presence:
    node = node_name()
    cfg = site.wafers.get(wafer)
    if cfg is None:
        return Presence.no(f"wafer {wafer} is not configured at this site")
    if not cfg.hardware:
        return Presence.no(f"wafer {wafer}: no wafer hardware at this site (wafers[].hardware is not set in "
                           f"{site.source})")
    for f in fpgas:
        ok, why = fpga_route(fpga_ip(wafer, f))
        if not ok:
            return Presence.no(f"wafer {wafer}: FPGA {f} is not reachable from node {node}: {why}", fpga=f)
    return Presence.yes(f"wafer {wafer}: FPGA(s) {','.join(map(str, fpgas))} reachable from node {node}")


def request_presence(site: "SiteConfig", hardware_config: Mapping[str, Any]) -> Presence:
    """Presence for a validated wafer request (normalised config with ``WAFER`` and ``FPGAS``)."""
    return wafer_presence(site, int(hardware_config["WAFER"]), [int(f) for f in hardware_config.get("FPGAS", ())])

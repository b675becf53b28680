"""Is SpiNNaker hardware for a job reachable from this node?

With a spalloc server: the client must be installed and the server must answer.  Without: the site must
mark enough boards as hardware (``hardware = true`` in ``[[boards]]``) and their hosts must resolve and
route from this node.  The default site config describes emulated boards only, so the answer there is
"no" with that reason.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nmcluster.hwdrivers.base import Presence, node_name

if TYPE_CHECKING:
    from nmcluster.config import Board, SiteConfig


def board_route(board: "Board") -> tuple[bool, str]:
    host = board.host or board.name
    try:
        infos = socket.getaddrinfo(host, 17893, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        return False, f"board {board.name}: host {host} does not resolve ({exc.strerror or exc})"
    ip = infos[0][4][0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((ip, 17893))  # SCP port; UDP connect only selects a route
    except OSError as exc:
        return False, f"board {board.name}: no route to {host} ({ip}): {exc.strerror or exc}"
    finally:
        sock.close()
    return True, f"board {board.name} at {ip}"


def request_presence(site: "SiteConfig", hardware_config: Mapping[str, Any],
                     board_names: Sequence[str] = ()) -> Presence:
    """Presence for a validated spinnaker request (``BOARDS``; ``board_names`` the partition picked)."""
    n = int(hardware_config.get("BOARDS", 1))
    if site.spalloc.configured:
        from nmcluster.errors import HardwareUnavailableError
        from nmcluster.hwdrivers.spinnaker.allocation import server_answers, spalloc_client

        try:
            spalloc_client()
        except HardwareUnavailableError as exc:
            return Presence.no(f"spinnaker: {exc}")
        ok, why = server_answers(site.spalloc, timeout=min(site.spalloc.timeout, 3.0))
        return Presence(ok, f"spinnaker: {why}")
    real = [b for b in site.boards if b.hardware]
    if not real:
        return Presence.no(f"spinnaker: no SpiNNaker hardware at this site (no spalloc server and no "
                           f"boards[].hardware in {site.source})")
    if len(real) < n:
        return Presence.no(f"spinnaker: {n} board(s) requested but only {len(real)} are hardware")
    wanted = [b for b in real if b.name in set(board_names)] or real[:n]
    for board in wanted:
        ok, why = board_route(board)
        if not ok:
            return Presence.no(f"spinnaker: {why} (node {node_name()})")
    return Presence.yes(f"spinnaker: {', '.join(b.name for b in wanted)} reachable from node {node_name()}")

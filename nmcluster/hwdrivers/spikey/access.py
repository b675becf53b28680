"""May this user open a Spikey's USB device node?  And if not, what exactly must an admin do?

libusb opens ``/dev/bus/usb/BBB/DDD`` read-write.  Out of the box udev creates these nodes ``root:root
0664``, so only root can drive the chip.  The original site's fix (guidebook, "Allow access to USB
device") is a udev rule that hands 04b4:1003 devices to group ``plugdev`` with mode 0660, plus the user's
membership in ``plugdev``.  The checks here tell the two failure modes apart, because the cure differs:
the node is not in ``plugdev`` -> the rule is missing (admin installs it and re-plugs the station); the
node is in ``plugdev`` but the user is not -> ``usermod -aG plugdev`` and a new login.

The verdict itself comes from the kernel (:func:`os.access` with the real uid/gids), never from our own
reading of mode bits, so ACLs, root and capabilities are honoured; the mode bits only explain it.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from nmcluster.hwdrivers.spikey.discovery import SPIKEY_PRODUCT, SPIKEY_VENDOR

DEFAULT_GROUP = "plugdev"
DEFAULT_MODE = "0660"
RULE_FILE = "/etc/udev/rules.d/60-spikey.rules"


def udev_rule(group: str = DEFAULT_GROUP, mode: str = DEFAULT_MODE) -> str:
    """The single rule line: Spikey USB devices belong to ``group`` with ``mode``.

    Both values are checked here, where they are rendered, whatever the caller checked: a quote or comma in
    either would add udev keys of the caller's choosing (``RUN+=...`` runs a program as root)."""
    from nmcluster.config import valid_group_name
    from nmcluster.errors import UserInputError

    if not valid_group_name(group):
        raise UserInputError(f"udev group must be a group name (letters, digits, _ and -), got {group!r}")
    if not (mode.isdigit() and len(mode) in (3, 4) and all(c <= "7" for c in mode)):
        raise UserInputError(f"udev mode must be an octal mode like 0660, got {mode!r}")
    return (f'SUBSYSTEM=="usb", ATTR{{idVendor}}=="{SPIKEY_VENDOR}", ATTR{{idProduct}}=="{SPIKEY_PRODUCT}", '
            f'GROUP="{group}", MODE="{mode}"')


def udev_rule_file(group: str = DEFAULT_GROUP, mode: str = DEFAULT_MODE) -> str:
    """Content for :data:`RULE_FILE`, with the commands that activate it as comments."""
    return (f"# Spikey neuromorphic stations (USB {SPIKEY_VENDOR}:{SPIKEY_PRODUCT}): members of {group} may use "
            f"them.\n"
            f"# Install as {RULE_FILE}, then: udevadm control --reload-rules && udevadm trigger "
            f"--subsystem-match=usb --attr-match=idVendor={SPIKEY_VENDOR}\n"
            f"# (or re-plug the stations).  Users: sudo usermod -aG {group} USERNAME, then log in again.\n"
            f"{udev_rule(group, mode)}\n")


@dataclass(frozen=True)
class AccessCheck:
    """Result of checking one device node for the current process."""

    ok: bool
    node: str
    message: str  # "" when ok; else one actionable sentence
    mode: str = ""  # "crw-rw-r--"
    owner: str = ""
    group: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "node": self.node, "message": self.message, "mode": self.mode,
                "owner": self.owner, "group": self.group}


def _name(lookup, ident: int) -> str:
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def current_user() -> str:
    return _name(pwd.getpwuid, os.getuid())


def user_in_group(group: str) -> bool:
    """Does this *process* carry ``group``?  (A fresh ``usermod -aG`` only counts after a new login,
    which is why we look at the process's groups, not at /etc/group.)"""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return False
    return gid == os.getgid() or gid in os.getgroups()


def check_node(node: Path | str, group: str = DEFAULT_GROUP) -> AccessCheck:
    """Can this process open ``node`` read-write (what libusb needs)?"""
    node = Path(node)
    try:
        st = node.stat()
    except FileNotFoundError:
        return AccessCheck(False, str(node), f"device node {node} does not exist (is udev running, and is "
                                             f"usbfs mounted under /dev/bus/usb?)")
    except OSError as exc:
        return AccessCheck(False, str(node), f"cannot inspect {node}: {exc.strerror or exc}")
    mode = stat.filemode(st.st_mode)
    owner, node_group = _name(pwd.getpwuid, st.st_uid), _name(grp.getgrgid, st.st_gid)
    if os.access(node, os.R_OK | os.W_OK):
        return AccessCheck(True, str(node), "", mode, owner, node_group)
    user = current_user()
    rule = udev_rule(group)
    if node_group != group:
        why = (f"{node} is {mode} {owner}:{node_group}, not group {group}: the udev rule is missing. "
               f"An admin must install it (`nmcluster admin udev-rule > {RULE_FILE}`, then `udevadm control "
               f"--reload-rules` and re-plug the station): {rule}")
        if not user_in_group(group):
            why += f"; user {user} must also be in group {group} (sudo usermod -aG {group} {user}, then log in again)"
    elif not user_in_group(group):
        why = (f"{node} is {mode} {owner}:{node_group} and user {user} is not in group {group}: ask an admin to "
               f"run `sudo usermod -aG {group} {user}`, then log in again (udev rule: {rule})")
    else:
        why = (f"{node} is {mode} {owner}:{node_group}, which does not give group {group} read-write access: "
               f"the udev rule must set MODE=\"{DEFAULT_MODE}\" ({rule})")
    return AccessCheck(False, str(node), why, mode, owner, node_group)

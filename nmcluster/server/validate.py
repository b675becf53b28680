"""What a job from the network may name as its code and inputs (the server and the bridge share it; no
web framework needed here).

Only a script's text, or an http(s) URL of a git repository or an archive: a local path would make the
service account copy its own files (its token database, other users' jobs) into a job whose outputs the
caller can download, and ``file://``/``ssh://``/``git://`` URLs reach the same files or the site's network.
"""

from __future__ import annotations

#: code that only EBRAINS can fetch (the real client uploads a folder to the Drive: ``drive://<collab>/...``)
EBRAINS_ONLY = ("drive://", "bucket://", "collab://")


def check_public(url: str, internal_hosts: tuple[str, ...] = (), what: str = "code URL") -> str:
    """Refuse a URL whose host is, or resolves to, an address inside the site (loopback, private, link-local,
    reserved, multicast) unless the site lists the host in ``[server] internal_hosts``: the service account
    fetches it, so a user could otherwise make the server read internal services (request forgery).  The
    check resolves the name now; a name whose DNS answer changes between this check and the fetch is the
    limit of a check at this layer (a site that needs more puts the server behind an egress proxy)."""
    import ipaddress
    import socket
    from urllib.parse import urlparse

    from nmcluster.errors import UserInputError

    host = (urlparse(url).hostname or "").lower()
    if not host:
        raise UserInputError(f"{what} {url[:80]!r} names no host")
    if host in internal_hosts:
        return url
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise UserInputError(f"{what} {url[:80]!r}: host {host!r} does not resolve") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if not addr.is_global or addr.is_multicast:
            raise UserInputError(f"{what} {url[:80]!r}: {host} is an address inside the site ({addr}); only "
                                 f"public hosts, or those the site lists in [server] internal_hosts")
    return url


def check_code(code: str, internal_hosts: tuple[str, ...] = ()) -> str:
    """What ``code`` may be (see :data:`EBRAINS_ONLY`): script text, or an http(s) URL of a public host (or one
    of ``internal_hosts``); one-line errors."""
    from nmcluster.errors import UserInputError

    stripped = code.strip()
    if stripped.startswith(EBRAINS_ONLY):
        raise UserInputError(f"code from EBRAINS Drive/Bucket ({stripped.split('://')[0]}://) cannot be fetched "
                             "by this site: give the script's text, a git URL or an archive URL (http/https)")
    if "\n" not in stripped and "://" in stripped:
        if not stripped.startswith(("https://", "http://")):
            raise UserInputError(f"code URL {stripped[:80]!r}: only http(s) URLs of a git repository or an "
                                 "archive are accepted here")
        return check_public(stripped, internal_hosts)
    if "\n" not in code:
        if len(stripped) < 200 and (stripped.startswith(("/", "~", ".")) or stripped.endswith((".py", ".zip", ".tar.gz"))) \
                and " " not in stripped:
            raise UserInputError(f"code {stripped[:80]!r} looks like a file name: send the script's text (the "
                                 "client reads a local .py file for you), a git URL or an archive URL")
        code += "\n"  # script text (one line): never taken for a path on this server
    return code


def check_input_url(url: str, internal_hosts: tuple[str, ...] = ()) -> str:
    from nmcluster.errors import UserInputError

    if not url.startswith(("https://", "http://")):
        raise UserInputError(f"input_data url {url[:80]!r}: only http(s) URLs are accepted here")
    return check_public(url, internal_hosts, "input_data url")

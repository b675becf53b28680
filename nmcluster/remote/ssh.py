"""One SSH connection to a frontend, made the way OpenSSH would make it, with paramiko.

- Target: ``[user@]host[:port]`` (or ``ssh://...``, ``[v6addr]:port``); ``~/.ssh/config`` supplies
  HostName, User, Port, IdentityFile, IdentitiesOnly, UserKnownHostsFile, ConnectTimeout, ProxyJump (a
  chain of jump hosts, each verified like the target) and ProxyCommand.
- Host keys are checked against ``/etc/ssh/ssh_known_hosts`` and the user's known_hosts.  An unknown key
  is an error unless the caller explicitly accepts new keys (then it is appended to the user's file, like
  ``StrictHostKeyChecking=accept-new``); a *changed* key is always an error.
- Authentication uses the ssh-agent and key files only.  No password is asked for, logged or stored.
- Every network failure surfaces as a :class:`~nmcluster.errors.RemoteError` subclass with the host in the
  message, never a paramiko traceback.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nmcluster.errors import (HostKeyError, RemoteAuthError, RemoteConnectionError, RemoteError,
                              UserInputError)

DEFAULT_PORT = 22
SYSTEM_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


@dataclass(frozen=True)
class HostSpec:
    """What the user typed: ``[user@]host[:port]``."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> "HostSpec":
        raw = str(text).strip()
        if raw.startswith("ssh://"):
            raw = raw[len("ssh://"):].rstrip("/")
        bad = UserInputError(f"--host {text!r} is not [USER@]HOST[:PORT]")
        if not raw or raw.startswith("-") or any(c.isspace() for c in raw):
            raise bad
        user, sep, hostport = raw.rpartition("@")
        if sep and not user:
            raise bad
        port_text = None
        if hostport.startswith("["):
            end = hostport.find("]")
            if end < 0:
                raise bad
            host, rest = hostport[1:end], hostport[end + 1:]
            if rest:
                if not rest.startswith(":"):
                    raise bad
                port_text = rest[1:]
        elif hostport.count(":") == 1:
            host, port_text = hostport.split(":")
        else:
            host = hostport
        if not host:
            raise bad
        port = None
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise UserInputError(f"--host {text!r}: port must be a number in 1..65535")
            port = int(port_text)
        return cls(host=host, user=user or None, port=port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"{self.user}@" if self.user else "") + host + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class SshOptions:
    """How to connect; ``None`` means: as ``~/.ssh/config`` and OpenSSH's defaults say."""

    accept_new_host_key: bool = False
    username: str | None = None  # used when neither the target nor ~/.ssh/config names a user
    ssh_config: str | None = None  # default ~/.ssh/config
    known_hosts: str | None = None  # default: UserKnownHostsFile, else ~/.ssh/known_hosts
    identity_files: tuple[str, ...] = ()
    connect_timeout: float = 20.0
    keepalive_s: int = 30


@dataclass(frozen=True)
class Target:
    """A fully resolved destination."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    identities_only: bool
    proxy_jump: str | None
    proxy_command: str | None
    known_hosts: tuple[str, ...]  # the user's files; new keys are added to the first
    accept_new: bool
    connect_timeout: float

    @property
    def label(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}" + (f":{self.port}" if self.port != DEFAULT_PORT else "")

    @property
    def host_key_name(self) -> str:
        """The name known_hosts uses: ``host`` or ``[host]:port``."""
        return self.hostname if self.port == DEFAULT_PORT else f"[{self.hostname}]:{self.port}"


def _paramiko() -> Any:
    """paramiko, imported on first use (it costs ~150 ms; commands without --host never pay it)."""
    try:
        import paramiko
    except ImportError:
        raise RemoteError("working over SSH needs paramiko: pip install 'nmcluster[ssh]'") from None
    return paramiko


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def _ssh_config(options: SshOptions) -> Any:
    paramiko = _paramiko()
    path = Path(_expand(options.ssh_config or "~/.ssh/config"))
    if not path.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except Exception as exc:  # parse errors, Match exec without `invoke`
        raise RemoteError(f"cannot read SSH config {path}: {exc}") from None


def resolve(target: str | HostSpec, options: SshOptions) -> Target:
    """Combine the target, ``~/.ssh/config`` and the options (explicit beats config beats defaults)."""
    spec = target if isinstance(target, HostSpec) else HostSpec.parse(target)
    cfg = _ssh_config(options).lookup(spec.host)
    try:
        port = spec.port or int(cfg.get("port", DEFAULT_PORT))
    except ValueError:
        raise RemoteError(f"SSH config: Port of {spec.host} is not a number: {cfg.get('port')!r}") from None
    user = spec.user or cfg.get("user") or options.username or getpass.getuser()
    identities = tuple(_expand(p) for p in options.identity_files) + tuple(
        _expand(p) for p in cfg.get("identityfile", ()))
    if options.known_hosts:
        known = (_expand(options.known_hosts),)
    elif cfg.get("userknownhostsfile"):
        known = tuple(_expand(p) for p in str(cfg["userknownhostsfile"]).split())
    else:
        known = (_expand("~/.ssh/known_hosts"),)
    accept_new = options.accept_new_host_key or str(cfg.get("stricthostkeychecking", "")).lower() in (
        "accept-new", "no", "off")  # "no" is treated as accept-new: a changed key is never accepted
    timeout = options.connect_timeout
    if str(cfg.get("connecttimeout", "")).isdigit():
        timeout = float(cfg["connecttimeout"])
    jump = cfg.get("proxyjump")
    command = cfg.get("proxycommand")
    return Target(alias=spec.host, hostname=cfg.get("hostname", spec.host), port=port, user=user,
                  identity_files=identities,
                  identities_only=str(cfg.get("identitiesonly", "no")).lower() == "yes",
                  proxy_jump=None if not jump or jump.lower() == "none" else jump,
                  proxy_command=None if not command or command.lower() == "none" else command,
                  known_hosts=known, accept_new=accept_new, connect_timeout=timeout)


def fingerprint(key: Any) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _policy(target: Target) -> Any:
    paramiko = _paramiko()

    class Policy(paramiko.MissingHostKeyPolicy):
        """Unknown host key: refuse, or (accept-new) append it to the user's known_hosts and go on."""

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            desc = f"{key.get_name()} {fingerprint(key)}"
            file = target.known_hosts[0]
            if not target.accept_new:
                raise HostKeyError(
                    f"the host key of {hostname} is unknown ({desc}; not in {file}). Check the fingerprint "
                    f"with your admins, then connect once with --accept-new-host-key (Client: "
                    f"accept_new_host_key=True) or with `ssh -p {target.port} {target.user}@{target.hostname}`")
            path = Path(file)
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                needs_newline = path.is_file() and path.stat().st_size > 0 and \
                    not path.read_bytes().endswith(b"\n")
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a") as fh:
                    fh.write(("\n" if needs_newline else "") + f"{hostname} {key.get_name()} {key.get_base64()}\n")
            except OSError as exc:
                raise HostKeyError(f"cannot record the host key of {hostname} in {file}: {exc.strerror}") from None
            client.get_host_keys().add(hostname, key.get_name(), key)
            print(f"nmcluster: added the host key of {hostname} ({desc}) to {file}", file=sys.stderr)

    return Policy()


class Connection:
    """One authenticated SSH connection; commands and SFTP share it."""

    def __init__(self, target: str | HostSpec | Target, options: SshOptions | None = None,
                 sock: Any = None) -> None:
        self.options = options or SshOptions()
        self.target = target if isinstance(target, Target) else resolve(target, self.options)
        self._sock = sock
        self.client: Any = None
        self._jumps: list[Connection] = []
        self._sftp: Any = None

    @property
    def label(self) -> str:
        return self.target.label

    # -- connecting -----------------------------------------------------------------------------
    def open(self) -> "Connection":
        paramiko = _paramiko()
        t = self.target
        client = paramiko.SSHClient()
        try:
            for path in SYSTEM_KNOWN_HOSTS:
                if os.path.isfile(path):
                    client.load_system_host_keys(path)
            for path in t.known_hosts:
                if os.path.isfile(path):
                    client.load_host_keys(path)
        except OSError as exc:
            raise HostKeyError(f"cannot read known hosts: {exc}") from None
        client.set_missing_host_key_policy(_policy(t))
        try:
            sock = self._sock if self._sock is not None else self._proxy_sock()
            keys = [p for p in t.identity_files if os.path.isfile(p)]
            client.connect(t.hostname, port=t.port, username=t.user, key_filename=keys or None,
                           allow_agent=not t.identities_only, look_for_keys=not (t.identities_only and keys),
                           timeout=t.connect_timeout, banner_timeout=t.connect_timeout,
                           auth_timeout=t.connect_timeout, channel_timeout=t.connect_timeout, sock=sock,
                           password=None, passphrase=None)
        except BaseException as exc:
            client.close()
            self._close_jumps()
            raise self._connect_error(exc) from None
        self.client = client
        transport = client.get_transport()
        if transport is not None and self.options.keepalive_s:
            transport.set_keepalive(self.options.keepalive_s)
        if transport is not None and isinstance(transport.sock, socket.socket):
            try:  # small request/answer packets: without this, Nagle + delayed ACK add ~40 ms per command
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        return self

    def _connect_error(self, exc: BaseException) -> BaseException:
        paramiko = _paramiko()
        t = self.target
        if isinstance(exc, (RemoteError, KeyboardInterrupt, UserInputError)):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyError(
                f"HOST KEY CHANGED for {t.host_key_name}: it offered {exc.key.get_name()} "
                f"{fingerprint(exc.key)}, known_hosts has {fingerprint(exc.expected_key)}. Someone may be "
                f"intercepting the connection; refusing. If the frontend was really re-installed, remove the "
                f"old key with `ssh-keygen -R '{t.host_key_name}'` after checking the new fingerprint.")
        if isinstance(exc, paramiko.PasswordRequiredException):
            return RemoteAuthError(f"{t.label}: the key needs a passphrase; load it into your agent with "
                                   f"`ssh-add` (nmcluster never asks for passwords)")
        if isinstance(exc, paramiko.AuthenticationException):
            return RemoteAuthError(
                f"{t.label}: authentication failed ({exc}). nmcluster logs in with your ssh-agent or key files "
                f"(~/.ssh/id_*, IdentityFile in ~/.ssh/config), never with a password: set up key login "
                f"(ssh-copy-id) or `ssh-add` your key")
        if isinstance(exc, socket.gaierror):
            return RemoteConnectionError(f"cannot resolve host name {t.hostname!r}: {exc.strerror or exc}")
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return RemoteConnectionError(f"connecting to {t.label} timed out after {t.connect_timeout:g} s")
        if isinstance(exc, (paramiko.SSHException, EOFError, OSError)):
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            return RemoteConnectionError(f"cannot connect to {t.label}: {detail}")
        return exc

    def _proxy_sock(self) -> Any:
        t = self.target
        if t.proxy_jump:
            hops = [Connection(HostSpec.parse(h.strip()), replace(self.options, username=None))
                    for h in t.proxy_jump.split(",") if h.strip()]
            sock = None
            for i, hop in enumerate(hops):
                hop._sock = sock
                hop.open()
                self._jumps.append(hop)
                nxt = hops[i + 1].target if i + 1 < len(hops) else t
                try:
                    sock = hop.client.get_transport().open_channel(
                        "direct-tcpip", (nxt.hostname, nxt.port), ("127.0.0.1", 0), timeout=t.connect_timeout)
                except Exception as exc:
                    raise RemoteConnectionError(f"jump host {hop.label} cannot reach {nxt.hostname}:{nxt.port}: "
                                                f"{exc}") from None
            return sock
        if t.proxy_command:
            return _paramiko().ProxyCommand(t.proxy_command)
        return None

    # -- state ----------------------------------------------------------------------------------
    def alive(self) -> bool:
        if self.client is None:
            return False
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    @property
    def transport(self) -> Any:
        if self.client is None:
            raise RemoteConnectionError(f"not connected to {self.label}")
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise RemoteConnectionError(f"the connection to {self.label} was lost")
        return transport

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:
                pass
            self._sftp = None
        if self.client is not None:
            self.client.close()
            self.client = None
        self._close_jumps()

    def _close_jumps(self) -> None:
        for hop in reversed(self._jumps):
            hop.close()
        self._jumps = []

    def __enter__(self) -> "Connection":
        return self if self.client is not None else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn paramiko/socket failures while ``what`` into clear RemoteErrors."""
        paramiko = _paramiko()

        try:
            yield
        except (RemoteError, UserInputError):
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            if isinstance(exc, OSError) and not isinstance(exc, (socket.timeout, TimeoutError)) \
                    and exc.errno is not None and self.alive():
                raise RemoteError(f"{self.label}: {what}: {detail}") from None
            raise RemoteConnectionError(f"the connection to {self.label} was lost while {what} ({detail})") from None

    # -- work -----------------------------------------------------------------------------------
    def sftp(self) -> Any:
        if self._sftp is None or self._sftp.get_channel().closed:
            self.transport  # noqa: B018 - raises when not connected
            with self.guard("opening SFTP"):
                self._sftp = self.client.open_sftp()
                self._sftp.get_channel().settimeout(max(self.target.connect_timeout, 120.0))
        return self._sftp

    def run(self, command: str, timeout: float | None = 300.0) -> tuple[int, bytes, bytes]:
        """Run ``command`` (a string for the remote user's shell); returns (exit status, stdout, stderr).
        Exit status -1: the command ended without one (killed by a signal)."""
        with self.guard("running a command"):
            chan = self.transport.open_session(timeout=self.target.connect_timeout)
            try:
                wake = threading.Event()  # set by paramiko when stdout/stderr get data or are closed
                chan.in_buffer.set_event(wake)
                chan.in_stderr_buffer.set_event(wake)
                chan.exec_command(command)
                chan.shutdown_write()
                out, err = bytearray(), bytearray()
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    wake.clear()
                    while chan.recv_ready():
                        out += chan.recv(1 << 16)
                    while chan.recv_stderr_ready():
                        err += chan.recv_stderr(1 << 16)
                    if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                        break
                    if not self.alive():
                        raise RemoteConnectionError(f"the connection to {self.label} was lost during a command")
                    if deadline is not None and time.monotonic() > deadline:
                        raise RemoteConnectionError(f"{self.label} did not answer within {timeout:g} s")
                    wake.wait(0.2)
                return chan.recv_exit_status(), bytes(out), bytes(err)
            finally:
                chan.close()

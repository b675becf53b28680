"""Who is calling: bearer tokens for users, ``x-api-key`` for provider bridges.

Users: ``Authorization: Bearer <token>`` as the real client sends it (``nmpi_user.py``: ``EBRAINSAuth``).
A token is either a site token issued by ``nmcluster admin token create USER`` (stored as its sha256 only,
revocable, with an optional expiry) or, where the site sets ``[server] oidc_userinfo``, an OpenID Connect
access token that the provider's userinfo endpoint accepts - the way the real job-queue service checks
EBRAINS IAM tokens (ebrains-neuromorphic-job-queue-api ``api/simqueue/oauth.py``: ``User`` from
``userinfo``); ``preferred_username`` is then the user name.

Providers: ``x-api-key: <key>`` (``oauth.py``: ``APIKeyHeader(name="x-api-key")``), a key issued by
``nmcluster admin token create NAME --provider PLATFORM`` and bound to that platform, as
``utils.check_provider_matches_platform`` binds the real providers' keys.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from typing import Any, NamedTuple

from nmcluster.server.store import ServerStore

#: what a user name may look like (a Unix login name: it is also shown in listings and used as an owner)
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
OIDC_CACHE_S = 60.0
OIDC_CACHE_MAX = 1000


class Identity(NamedTuple):
    user: str
    source: str  # "token" or "oidc"


class Provider(NamedTuple):
    name: str
    platform: str


class Authenticator:
    """Maps a bearer token to a user (site tokens first, then the OIDC userinfo endpoint, cached briefly)."""

    def __init__(self, store: ServerStore, oidc_userinfo: str = "") -> None:
        self.store = store
        self.oidc_userinfo = oidc_userinfo
        self._cache: dict[str, tuple[float, Identity | None]] = {}
        self._lock = threading.Lock()

    def user(self, authorization: str | None) -> Identity | None:
        token = bearer(authorization)
        if token is None:
            return None
        row = self.store.lookup_token(token, "user")
        if row is not None:
            return Identity(row["name"], "token")
        if self.oidc_userinfo:
            return self._oidc(token)
        return None

    def provider(self, api_key: str | None) -> Provider | None:
        if not api_key or len(api_key) > 200:
            return None
        row = self.store.lookup_token(api_key, "provider")
        return Provider(row["name"], row["platform"]) if row else None

    def _oidc(self, token: str) -> Identity | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > now:
                return hit[1]
        ident = None
        try:
            import httpx

            r = httpx.get(self.oidc_userinfo, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
            if r.status_code == 200:
                name = str(r.json().get("preferred_username") or "")
                if USER_RE.match(name):
                    ident = Identity(name, "oidc")
        except Exception:  # noqa: BLE001 - an unreachable identity provider means: not authenticated
            ident = None
        with self._lock:
            if len(self._cache) >= OIDC_CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (now + OIDC_CACHE_S, ident)
        return ident


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 4096:
        return None
    return token


def parse_expiry(text: str | None) -> float | None:
    """``--expires``: ``30d``, ``12h``, ``90m`` or ``never``/None; seconds since the epoch."""
    from nmcluster.errors import UserInputError

    if text is None or text == "never":
        return None
    m = re.fullmatch(r"(\d{1,6})([dhm])", text.strip())
    if not m:
        raise UserInputError(f"--expires takes a duration like 30d, 12h or 90m (or never), got {text!r}")
    return time.time() + int(m.group(1)) * {"d": 86400, "h": 3600, "m": 60}[m.group(2)]


def describe_tokens(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Token rows for ``token list`` (never the hash)."""
    now = time.time()
    out = []
    for r in rows:
        state = "revoked" if r["revoked"] else ("expired" if r["expires"] and r["expires"] < now else "active")
        out.append({"id": r["id"], "kind": r["kind"], "name": r["name"], "platform": r["platform"],
                    "created": r["created"], "expires": r["expires"], "state": state})
    return out

"""``nmcluster admin token``: bearer tokens of the platform server's users and API keys of provider
bridges.  Only the sha256 of a token is stored; the token is printed once."""

from __future__ import annotations

import click

CTX = {"help_option_names": ["-h", "--help"]}


def _store(site_config: str | None):
    import os

    from nmcluster.config import load_config
    from nmcluster.server.store import ServerStore

    site = load_config(site_config, env=os.environ) if site_config else load_config(env=os.environ)
    return ServerStore(site.server.state_dir or site.job_root / ".server")


@click.group(context_settings=CTX)
def token() -> None:
    """Create, list and revoke the platform server's tokens.

    \b
    Examples:
      nmcluster admin token create alice --expires 90d
      nmcluster admin token create manchester --provider SpiNNaker
      nmcluster admin token list
      nmcluster admin token revoke 3
    """


@token.command("create", context_settings=CTX)
@click.argument("user")
@click.option("--expires", default=None, metavar="30d|12h|90m|never", help="Lifetime (default: never).")
@click.option("--provider", "platform", default=None, metavar="PLATFORM",
              help="An x-api-key for a provider bridge of PLATFORM instead of a user token.")
@click.option("--site-config", type=click.Path(dir_okay=False), default=None)
def create(user: str, expires: str | None, platform: str | None, site_config: str | None) -> int:
    """Issue a token for USER (printed once; only its hash is kept)."""
    from nmcluster.errors import UserInputError
    from nmcluster.server.auth import USER_RE, parse_expiry

    if not USER_RE.match(user):
        raise UserInputError(f"{user[:40]!r} is not a user name (lower-case letters, digits, _ . -)")
    when = parse_expiry(expires)
    if platform is not None:
        from nmcluster.jobs.spec import normalise_platform

        normalise_platform(platform)
    with_store = _store(site_config)
    try:
        token_id, secret = with_store.create_token("provider" if platform else "user", user, platform or "", when)
    finally:
        with_store.close()
    click.echo(secret)
    click.echo(f"token {token_id} for {'provider ' if platform else ''}{user}"
               f"{' (' + platform + ')' if platform else ''}: keep it secret; revoke with "
               f"`nmcluster admin token revoke {token_id}`", err=True)
    return 0


@token.command("list", context_settings=CTX)
@click.option("--json", "as_json", is_flag=True)
@click.option("--site-config", type=click.Path(dir_okay=False), default=None)
def list_tokens(as_json: bool, site_config: str | None) -> int:
    """Every token: id, kind, user, expiry, state (never the token)."""
    import datetime as dt

    from nmcluster.server.auth import describe_tokens

    st = _store(site_config)
    try:
        rows = describe_tokens(st.list_tokens())
    finally:
        st.close()
    if as_json:
        from nmcluster.cli.common import echo_json

        echo_json(rows)
        return 0
    for r in rows:
        exp = dt.datetime.fromtimestamp(r["expires"]).isoformat(timespec="minutes") if r["expires"] else "never"
        click.echo(f"{r['id']:>4}  {r['kind']:<8} {r['name']:<20} {r['platform'] or '-':<12} expires {exp:<16} "
                   f"{r['state']}")
    return 0


@token.command("revoke", context_settings=CTX)
@click.argument("token_id", type=int)
@click.option("--site-config", type=click.Path(dir_okay=False), default=None)
def revoke(token_id: int, site_config: str | None) -> int:
    """Revoke a token by its id (from `token list`): it stops working at once."""
    from nmcluster.errors import UserInputError

    st = _store(site_config)
    try:
        if not st.revoke_token(token_id):
            raise UserInputError(f"no active token {token_id} (see nmcluster admin token list)")
    finally:
        st.close()
    click.echo(f"token {token_id} revoked")
    return 0

"""``nmcluster quota``, ``nmcluster request ...``, ``nmcluster admin collab ...``, ``nmcluster admin requests ...``:
collabs, quotas and resource requests (thin commands over :mod:`nmcluster.accounting.quotas`)."""

from __future__ import annotations

import click

from nmcluster.cli.common import echo_json

CTX = {"help_option_names": ["-h", "--help"]}


def _accounting():
    from nmcluster.accounting.quotas import Accounting
    from nmcluster.cli.common import environment
    from nmcluster.config import load_config

    env = environment()
    return Accounting(load_config(env=env), env)


def _amounts(values: tuple[str, ...]) -> dict[str, float]:
    from nmcluster.errors import UserInputError

    out: dict[str, float] = {}
    for item in values:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise UserInputError(f"--amount takes RESOURCE=NUMBER (spinnaker, wafer, spikey, storage), got {item!r}")
    return out


def _fmt(x: float | None) -> str:
    return "unlimited" if x is None else f"{x:.4g}"


@click.command("quota", context_settings=CTX)
@click.option("--collab", "collab", default=None, help="Only this collab (default: all of yours).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def quota(collab: str | None, as_json: bool) -> int:
    """Show your collabs' quotas: limit, usage (what Slurm charged, from sacct) and what is left, per
    platform (SpiNNaker core-hours, BrainScaleS wafer-hours, Spikey station-hours) and storage (GB).

    \b
    Examples:
      nmcluster quota
      nmcluster quota --collab c563 --json | jq '.[] | select(.platform=="spinnaker").left'
    """
    acct = _accounting()
    collabs = [collab] if collab else acct.my_collabs()
    # collabs read from the user's own associations need no second membership query each
    rows = [q for c in collabs for q in acct.quotas(c, check_member=bool(collab))]
    if as_json:
        echo_json([q.to_dict() for q in rows])
        return 0
    if not rows:
        click.echo("you are a member of no collab (ask an admin: nmcluster admin collab add-member)")
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="quotas")
    for col in ("collab", "platform", "units", "limit", "used", "left"):
        table.add_column(col, justify="right" if col in ("limit", "used", "left") else "left")
    for q in rows:
        left = q.left
        style = "red" if left is not None and left <= 0 else ""
        table.add_row(Text(q.collab), q.platform, q.units, _fmt(q.limit), f"{q.usage:.4g}", Text(_fmt(left), style=style))
    Console().print(table)
    return 0


@click.group("request", context_settings=CTX)
def request() -> None:
    """Resource requests for a collab (the platform's access tiers: test, preparatory, project).

    \b
    Examples:
      nmcluster request create --collab c563 --title "Synfire study" --abstract "..." --tier test --submit
      nmcluster request create --collab c563 --title "Big" --abstract "..." --tier project --amount spinnaker=1e6
      nmcluster request edit 3f2a9c1b0d4e --abstract "better text" --submit
      nmcluster request list --collab c563
    """


def _show(req, as_json: bool) -> None:
    if as_json:
        echo_json(req.to_dict())
    else:
        amounts = ", ".join(f"{k}={v:g}" for k, v in req.amounts.items()) or "tier defaults"
        click.echo(f"{req.id}  {req.collab}  {req.tier}  {req.status}  ({amounts})  {req.title}"
                   + (f"  [{req.decision_reason}]" if req.decision_reason else ""))


def _show_all(reqs, as_json: bool) -> None:
    if as_json:
        echo_json([r.to_dict() for r in reqs])
    else:
        for r in reqs:
            _show(r, False)


@request.command("create", context_settings=CTX)
@click.option("--collab", required=True)
@click.option("--title", required=True)
@click.option("--abstract", required=True)
@click.option("--description", default="")
@click.option("--tier", type=click.Choice(["test", "preparatory", "project"]), default="test", show_default=True)
@click.option("--amount", "amounts", multiple=True, metavar="RESOURCE=N",
              help="For a project: spinnaker (core-hours), wafer (wafer-hours), spikey (station-hours), storage (GB).")
@click.option("--submit", is_flag=True, help="Submit for review now (otherwise: in preparation).")
@click.option("--json", "as_json", is_flag=True)
def request_create(collab, title, abstract, description, tier, amounts, submit, as_json) -> int:
    """Create a resource request (printed with its id)."""
    req = _accounting().requests().create(collab, title, abstract, description, tier, _amounts(amounts), submit)
    _show(req, as_json)
    return 0


@request.command("edit", context_settings=CTX)
@click.argument("request_id")
@click.option("--title", default=None)
@click.option("--abstract", default=None)
@click.option("--description", default=None)
@click.option("--amount", "amounts", multiple=True, metavar="RESOURCE=N")
@click.option("--submit", is_flag=True, help="Submit it for review.")
@click.option("--json", "as_json", is_flag=True)
def request_edit(request_id, title, abstract, description, amounts, submit, as_json) -> int:
    """Edit (and/or submit) one of your requests while it is in preparation."""
    req = _accounting().requests().edit(request_id, title, abstract, description,
                                        _amounts(amounts) if amounts else None, submit)
    _show(req, as_json)
    return 0


@request.command("submit", context_settings=CTX)
@click.argument("request_id")
def request_submit(request_id) -> int:
    """Submit a request in preparation for review."""
    _show(_accounting().requests().edit(request_id, submit=True), False)
    return 0


@request.command("list", context_settings=CTX)
@click.option("--collab", default=None, help="Only this collab (default: all of yours).")
@click.option("--status", default=None, help="in preparation, under review, accepted or rejected.")
@click.option("--json", "as_json", is_flag=True)
def request_list(collab, status, as_json) -> int:
    """Your collabs' requests (admins: all)."""
    acct = _accounting()
    collabs = None if acct.is_admin() and not collab else set([collab] if collab else acct.my_collabs())
    _show_all(acct.requests().list(collabs, status), as_json)
    return 0


# ---------------------------------------------------------------------------------------- admin side
@click.group("collab", context_settings=CTX)
def admin_collab() -> None:
    """Collabs (Slurm accounts with one sub-account per platform) and their members.

    \b
    Examples:
      nmcluster admin collab create c563 --tier test --member alice --member bob
      nmcluster admin collab add-member c563 carol
      nmcluster admin collab set-quota c563 --amount spinnaker=20000 --amount storage=5
    """


@admin_collab.command("create", context_settings=CTX)
@click.argument("collab")
@click.option("--tier", type=click.Choice(["test", "preparatory", "project"]), default="test", show_default=True)
@click.option("--amount", "amounts", multiple=True, metavar="RESOURCE=N")
@click.option("--member", "members", multiple=True)
def collab_create(collab, tier, amounts, members) -> int:
    """Create a collab with a tier's quotas (or --amount for a project)."""
    for q in _accounting().create_collab(collab, tier, _amounts(amounts), members):
        click.echo(f"{q.collab} {q.platform}: {_fmt(q.limit)} {q.units}")
    return 0


@admin_collab.command("add-member", context_settings=CTX)
@click.argument("collab")
@click.argument("users", nargs=-1, required=True)
def collab_add_member(collab, users) -> int:
    """Make Unix users members of a collab (associations with its Slurm accounts)."""
    _accounting().add_members(collab, users)
    click.echo(f"{', '.join(users)} may now charge collab {collab}")
    return 0


@admin_collab.command("set-quota", context_settings=CTX)
@click.argument("collab")
@click.option("--amount", "amounts", multiple=True, required=True, metavar="RESOURCE=N")
def collab_set_quota(collab, amounts) -> int:
    """Set a collab's quotas (Slurm GrpTRESMins per platform; storage in the site directory)."""
    from nmcluster.accounting.requests import check_amounts, check_collab

    _accounting().set_limits(check_collab(collab), check_amounts(_amounts(amounts)))
    return 0


@click.group("requests", context_settings=CTX)
def admin_requests() -> None:
    """Review resource requests: list, approve (sets the Slurm limits), reject.

    \b
    Examples:
      nmcluster admin requests init
      nmcluster admin requests list --status "under review"
      nmcluster admin requests approve 3f2a9c1b0d4e
      nmcluster admin requests reject 3f2a9c1b0d4e --reason "please describe the network size"
    """


@admin_requests.command("init", context_settings=CTX)
def requests_init() -> int:
    """Create the site's request directory ([accounting] requests_dir) with safe modes."""
    acct = _accounting()
    acct._require_admin("create the request directory")
    acct.requests().initialise()
    return 0


@admin_requests.command("list", context_settings=CTX)
@click.option("--status", default=None)
@click.option("--json", "as_json", is_flag=True)
def requests_list(status, as_json) -> int:
    """Every request (admins)."""
    acct = _accounting()
    acct._require_admin("list every request")
    _show_all(acct.requests().list(None, status), as_json)
    return 0


@admin_requests.command("approve", context_settings=CTX)
@click.argument("request_id")
def requests_approve(request_id) -> int:
    """Accept a request: the collab gets the tier's quotas (or the amounts asked) in Slurm."""
    from nmcluster.accounting.requests import TIERS

    acct = _accounting()
    acct._require_admin("approve requests")
    store = acct.requests()
    req = store.get(request_id)
    if req.status != "under review":
        from nmcluster.errors import UserInputError

        raise UserInputError(f"request {request_id} is {req.status}: only a submitted request can be approved")
    if req.collab not in [a for a in acct.db.accounts()]:
        acct.create_collab(req.collab, req.tier, dict(req.amounts), [req.owner])
    else:
        acct.set_limits(req.collab, {**TIERS[req.tier], **dict(req.amounts)}, req.tier)
    _show(store.decide(request_id, True), False)
    return 0


@admin_requests.command("reject", context_settings=CTX)
@click.argument("request_id")
@click.option("--reason", required=True)
def requests_reject(request_id, reason) -> int:
    """Reject a request with a reason the user sees."""
    acct = _accounting()
    acct._require_admin("reject requests")
    _show(acct.requests().decide(request_id, False, reason), False)
    return 0

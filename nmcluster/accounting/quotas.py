"""Collabs and quotas on Slurm's accounting database: the library behind ``nmcluster quota``, ``request``,
``admin collab`` and ``admin requests`` and the checks at submit.

A collab is a Slurm account; each platform with a quota (the partitions whose :meth:`quota_unit` is not
None) is a sub-account ``<collab>_<platform>`` with its own ``GrpTRESMins=billing`` limit, so that a job
on the spinnaker partition can only use up the SpiNNaker quota.  Members are Slurm users associated with
every sub-account.  slurmctld enforces the limits (``AccountingStorageEnforce=associations,limits,safe``);
nmcluster refuses early where it can say more (not a member, storage over quota) and explains Slurm's
pending reasons in one line.  Usage is read from ``sacct`` (what Slurm charged), never from our job store.
"""

from __future__ import annotations

import grp
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from nmcluster.accounting.requests import TIERS, RequestStore, check_amounts, check_collab
from nmcluster.accounting.slurmdb import SlurmDB
from nmcluster.config import SiteConfig
from nmcluster.errors import NmclusterError, UserInputError
from nmcluster.identity import current_uid, user_name

STORAGE_UNITS = "GB"


class QuotaNotAllowed(NmclusterError):
    """The caller may not do this (not an admin, not a member).  Exit code 2: nothing was changed."""

    exit_code = 2


class Quota(NamedTuple):
    """One platform's quota of a collab, in the job-queue API's quota shape (limit, usage, units,
    platform) plus the Slurm account that carries it."""

    collab: str
    platform: str
    units: str
    limit: float | None
    usage: float
    account: str

    @property
    def left(self) -> float | None:
        return None if self.limit is None else max(self.limit - self.usage, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"collab": self.collab, "platform": self.platform, "units": self.units, "limit": self.limit,
                "usage": round(self.usage, 6), "left": self.left, "account": self.account}


#: Slurm's pending reasons for association limits (src/common/slurm_protocol_defs.c, job_state_reason)
_LIMIT_REASONS = ("AssocGrpBillingMinutes", "AssocGrpBillingRunMinutes", "AssocGrpCPUMinutesLimit",
                  "AssocGrpCpuMinutesLimit", "AssocGrpGRESMinutes", "AssocGrpLicenseMinutes")


def sub_account(collab: str, kind: str) -> str:
    return f"{check_collab(collab)}_{kind}"


def admin_uids(site: SiteConfig) -> set[int]:
    """root and the members of ``[accounting] admin_group`` (by the group database, not the environment)."""
    import pwd

    uids = {0}
    try:
        group = grp.getgrnam(site.accounting.admin_group)
    except KeyError:
        return uids
    for name in group.gr_mem:
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    uids.update(p.pw_uid for p in pwd.getpwall() if p.pw_gid == group.gr_gid)
    return uids


class Accounting:
    """One site's collabs, quotas and requests for the calling (real) user."""

    def __init__(self, site: SiteConfig, env: Mapping[str, str] | None = None) -> None:
        self.site = site
        self.env = dict(os.environ if env is None else env)
        self.db = SlurmDB(self.env)
        self.user = user_name()

    # -- what exists -------------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.site.accounting.enabled

    def _require(self) -> None:
        if not self.enabled:
            raise UserInputError("quotas are off at this site: no Slurm accounting is configured "
                                 "([accounting] enabled = true in the site config, see README \"Quotas\")")

    def platforms(self) -> dict[str, Any]:
        """partition kind -> its QuotaUnit, for the platforms that have a quota."""
        from nmcluster.partitions import get_partition

        out = {}
        for kind in self.site.partitions:
            unit = get_partition(kind, self.site).quota_unit()
            if unit is not None:
                out[kind] = unit
        return out

    def is_admin(self) -> bool:
        return current_uid() in admin_uids(self.site)

    def _require_admin(self, what: str) -> None:
        if not self.is_admin():
            raise QuotaNotAllowed(f"only admins (root or group {self.site.accounting.admin_group}) may {what}")

    def requests(self) -> RequestStore:
        self._require()
        if self.site.accounting.requests_dir is None:
            raise UserInputError("this site takes no resource requests ([accounting] requests_dir is not set)")
        return RequestStore(self.site.accounting.requests_dir, admin_uids(self.site))

    # -- collabs and members -----------------------------------------------------------------------
    def my_collabs(self, user: str | None = None) -> list[str]:
        """Collabs the user belongs to (has an association with one of its platform sub-accounts)."""
        self._require()
        suffixes = tuple(f"_{k}" for k in self.platforms())
        out = set()
        for account in self.db.member_accounts(user or self.user):
            for suffix in suffixes:
                if account.endswith(suffix):
                    out.add(account[: -len(suffix)])
        return sorted(out)

    def create_collab(self, collab: str, tier: str = "test", limits: Mapping[str, Any] | None = None,
                      members: Sequence[str] = ()) -> list[Quota]:
        """Admin: the collab's accounts, the tier's limits (or ``limits`` for a project), members."""
        self._require()
        self._require_admin("create collabs")
        collab = check_collab(collab)
        if tier not in TIERS:
            raise UserInputError(f"unknown access tier {tier!r} (tiers: {', '.join(TIERS)})")
        amounts = {**TIERS[tier], **check_amounts(limits or {})}
        existing = self.db.accounts()  # one query for all of the collab's accounts
        self.db.ensure_account(collab, "root", f"collab {collab}", existing)
        for kind in self.platforms():
            self.db.ensure_account(sub_account(collab, kind), collab, f"collab {collab} on {kind}", existing)
        self.set_limits(collab, amounts, tier)
        if members:
            self.add_members(collab, members)
        return self.quotas(collab, check_member=False)

    def add_members(self, collab: str, users: Sequence[str]) -> None:
        self._require()
        self._require_admin("add collab members")
        collab = check_collab(collab)
        accounts = [sub_account(collab, k) for k in self.platforms()]
        existing = self.db.accounts()
        missing = [a for a in accounts if a not in existing]
        if missing:
            raise UserInputError(f"collab {collab} does not exist (create it: nmcluster admin collab create {collab})")
        import pwd

        for u in users:
            try:
                pwd.getpwnam(u)
            except KeyError:
                raise UserInputError(f"no Unix user {u!r} on this host") from None
            self.db.add_member(u, accounts)

    def set_limits(self, collab: str, amounts: Mapping[str, float], tier: str = "project") -> None:
        """Admin: Slurm's GrpTRESMins per platform sub-account, the storage limit in the site directory."""
        self._require_admin("set quotas")
        for kind, unit in self.platforms().items():
            if kind in amounts:
                self.db.set_billing_limit(sub_account(collab, kind), round(amounts[kind] * unit.minutes_per_unit))
        if self.site.accounting.requests_dir is not None and "storage" in amounts:
            store = self.requests()
            merged = {**store.collab_limits(collab), **{k: v for k, v in amounts.items()}}
            store.set_collab_limits(collab, merged, tier)

    # -- quotas -------------------------------------------------------------------------------------
    def quotas(self, collab: str, check_member: bool = True) -> list[Quota]:
        """Limits and usage per platform (and storage) of one collab; usage = what ``sacct`` reports."""
        self._require()
        collab = check_collab(collab)
        if check_member and not self.is_admin() and collab not in self.my_collabs():
            raise QuotaNotAllowed(f"you are not a member of collab {collab}")
        units = self.platforms()
        accounts = {kind: sub_account(collab, kind) for kind in units}
        if not set(accounts.values()) <= set(self.db.accounts()):
            raise UserInputError(f"no collab {collab} at this site (admins: nmcluster admin collab create {collab})")
        limits = self.db.billing_limits(list(accounts.values()))
        used: dict[str, float] = {a: 0.0 for a in accounts.values()}
        for rec in self.db.usage(list(accounts.values())):
            if rec.account in used:
                used[rec.account] += rec.billing_minutes
        out = []
        for kind, unit in units.items():
            acct = accounts[kind]
            limit = limits.get(acct)
            out.append(Quota(collab, kind, unit.units, None if limit is None else limit / unit.minutes_per_unit,
                             used[acct] / unit.minutes_per_unit, acct))
        storage_limit = None
        if self.site.accounting.requests_dir is not None:
            storage_limit = self.requests().collab_limits(collab).get("storage")
        out.append(Quota(collab, "storage", STORAGE_UNITS, storage_limit, self.storage_gb(collab), ""))
        return out

    def storage_gb(self, collab: str) -> float:
        """GB that this user's jobs of ``collab`` hold under the job root (job directories are private to
        each user, so a frontend measures each user's part; the limit applies to that part)."""
        from nmcluster.jobs.store import JobStore

        root = self.site.job_root
        db = root / "jobs.sqlite"
        if not db.exists():
            return 0.0
        total = 0
        with JobStore(db) as store:
            for rec in store.list(collab_id=collab):
                total += _tree_bytes(Path(rec.job_dir)) if rec.job_dir else 0
        return total / 1e9

    # -- at submit ------------------------------------------------------------------------------------
    def charge_account(self, collab: str | None, kind: str) -> tuple[str, str] | None:
        """(collab, Slurm account) a job on ``kind`` is charged to, or None when the platform has no quota.
        Refuses (exit 2, nothing queued) a collab the user is not a member of, and storage over quota."""
        if not self.enabled or kind not in self.platforms():
            return None
        mine = self.my_collabs()
        if collab is None:
            default = self.db.default_account(self.user) or ""
            collab = next((c for c in mine if default.startswith(f"{c}_") or default == c), None) \
                or (mine[0] if len(mine) == 1 else None)
            if collab is None:
                raise QuotaNotAllowed("this job needs a collab to charge (--collab; you are a member of "
                                      f"{', '.join(mine) or 'none'})")
        collab = check_collab(collab)
        if collab not in mine:
            raise QuotaNotAllowed(f"you ({self.user}) are not a member of collab {collab}: its quota cannot be "
                                  f"charged (your collabs: {', '.join(mine) or 'none'})")
        if self.site.accounting.requests_dir is not None:
            limit = self.requests().collab_limits(collab).get("storage")
            used = self.storage_gb(collab)
            if limit is not None and used >= limit:
                raise QuotaNotAllowed(f"collab {collab} has used its storage quota ({used:.3f} of {limit:g} GB "
                                      f"under the job root): remove finished jobs (nmcluster remove) first")
        return collab, sub_account(collab, kind)


def charged(site: SiteConfig, env: Mapping[str, str], external_id: str, platform: str) -> str | None:
    """What Slurm charged one finished job, in its platform's quota unit ("0.0021 core-hours to c563"),
    or None when accounting is off, the platform has no quota or Slurm has no record of the job."""
    if not site.accounting.enabled or not external_id:
        return None
    acct = Accounting(site, env)
    unit = acct.platforms().get(platform)
    if unit is None:
        return None
    try:
        recs = acct.db.job_usage([external_id])
    except NmclusterError:
        return None
    if not recs:
        return None
    rec = recs[0]
    collab = rec.account.rpartition("_")[0] or rec.account
    return f"{rec.billing_minutes / unit.minutes_per_unit:.4g} {unit.units} to collab {collab}"


def explain_reason(reason: str, account: str) -> str | None:
    """One line for a job Slurm holds because a quota ran out; None for other reasons."""
    if not any(r.lower() in reason.lower() for r in _LIMIT_REASONS):
        return None
    collab, _, platform = account.rpartition("_")
    return (f"held by Slurm: the {platform} quota of collab {collab} is used up ({reason}); "
            f"ask for more with `nmcluster request create --collab {collab}`")


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path, followlinks=False):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total

"""Slurm's accounting database through its command-line tools (``sacctmgr``, ``sacct --json``).

Why the command-line tools: ``pyslurm`` matches only Slurm 25.11, which no Debian release ships, and
slurmdbd speaks a private binary protocol; ``sacctmgr -P`` (parsable, ``|``-separated) and ``sacct --json``
are the stable interfaces admins use too.  Every call is an argument list (never a shell) with a time
limit; every failure becomes one :class:`~nmcluster.errors.SlurmError` line naming the tool.

Slurm itself is the gate: a user without Slurm's operator/admin level cannot change limits or
associations whatever nmcluster thinks, so nothing here is trusted to be the only check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from nmcluster.errors import SlurmError, SlurmUnavailableError, UserInputError


class UsageRecord(NamedTuple):
    """One finished or running job as ``sacct`` reports it: its account, the billing TRES it holds and how
    long it ran, so that ``billing * elapsed`` is what Slurm charged."""

    job_id: str
    account: str
    user: str
    partition: str
    state: str
    elapsed_s: int
    billing: float

    @property
    def billing_minutes(self) -> float:
        return self.billing * self.elapsed_s / 60.0


class SlurmDB:
    """A thin adapter over sacctmgr/sacct.  ``env`` carries ``SLURM_CONF`` (tests, several clusters)."""

    def __init__(self, env: Mapping[str, str] | None = None, timeout: float = 30.0) -> None:
        import os

        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout

    # -- plumbing -------------------------------------------------------------------------------
    def _run(self, tool: str, args: Sequence[str]) -> str:
        binary = shutil.which(tool, path=self.env.get("PATH"))
        if binary is None:
            raise SlurmUnavailableError(f"{tool} is not installed: Slurm accounting is not available here")
        try:
            proc = subprocess.run([binary, *args], capture_output=True, text=True, env=self.env,
                                  timeout=self.timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SlurmUnavailableError(f"{tool} did not answer in {self.timeout:.0f} s: is slurmdbd running?") \
                from None
        out = (proc.stdout or "") + (proc.stderr or "")
        low = out.lower()
        if proc.returncode != 0 or " error" in f" {low}" and "nothing new added" not in low:
            msg = " ".join(out.split())[:300]
            if "connection refused" in low or "unable to connect" in low or "slurmdbd" in low and "down" in low:
                raise SlurmUnavailableError(f"{tool}: the accounting database does not answer ({msg})")
            if "access/permission denied" in low or "permission denied" in low or "not authorized" in low:
                raise SlurmError(f"{tool}: Slurm refused the change: you are not a Slurm operator or "
                                 f"administrator ({msg})")
            raise SlurmError(f"{tool} {' '.join(args[:3])}: {msg}")
        return proc.stdout

    def _sacctmgr(self, *args: str) -> str:
        return self._run("sacctmgr", ["-i", *args])

    def _show(self, *args: str) -> list[list[str]]:
        text = self._run("sacctmgr", ["-n", "-P", "show", *args])
        return [line.split("|") for line in text.splitlines() if line.strip()]

    # -- accounts and members -------------------------------------------------------------------
    def accounts(self) -> dict[str, str]:
        """account -> description."""
        return {row[0]: row[1] for row in self._show("account", "format=Account,Descr") if row}

    def ensure_account(self, name: str, parent: str = "root", description: str = "",
                       existing: Mapping[str, str] | None = None) -> bool:
        """Create the account when missing (``existing``: :meth:`accounts` already read); True if created."""
        _check_name(name)
        if name in (self.accounts() if existing is None else existing):
            return False
        self._sacctmgr("add", "account", name, f"parent={parent}",
                       f"description={description or name}", "organization=nmcluster")
        return True

    def add_member(self, user: str, accounts: Sequence[str]) -> None:
        """Associate ``user`` with each account (idempotent)."""
        _check_name(user)
        for a in accounts:
            _check_name(a)
        self._sacctmgr("add", "user", user, f"account={','.join(accounts)}")

    def member_accounts(self, user: str) -> set[str]:
        """The accounts ``user`` has an association with."""
        _check_name(user)
        return {row[0] for row in self._show("assoc", "where", f"users={user}", "format=Account") if row[0]}

    def default_account(self, user: str) -> str | None:
        _check_name(user)
        rows = self._show("user", user, "format=DefaultAccount")
        return rows[0][0] or None if rows else None

    # -- limits ---------------------------------------------------------------------------------
    def set_billing_limit(self, account: str, minutes: int | None) -> None:
        """``GrpTRESMins=billing=minutes`` on the account's own association (None or -1 = no limit)."""
        _check_name(account)
        value = -1 if minutes is None else int(minutes)
        self._sacctmgr("modify", "account", "where", f"name={account}", "set", f"GrpTRESMins=billing={value}")

    def billing_limits(self, accounts: Sequence[str]) -> dict[str, int | None]:
        """account -> its GrpTRESMins billing limit in minutes (None = unlimited)."""
        if not accounts:
            return {}
        for a in accounts:
            _check_name(a)
        out: dict[str, int | None] = {a: None for a in accounts}
        for row in self._show("assoc", "where", f"accounts={','.join(accounts)}", "users=",
                              "format=Account,User,GrpTRESMins"):
            if len(row) >= 3 and not row[1]:
                out[row[0]] = _tres_value(row[2], "billing")
        return out

    # -- usage ----------------------------------------------------------------------------------
    def usage(self, accounts: Sequence[str], users: Sequence[str] = ()) -> list[UsageRecord]:
        """Every job charged to ``accounts`` (all users, or only ``users``), from ``sacct --json``."""
        if not accounts:
            return []
        for a in accounts:
            _check_name(a)
        args = ["--json", "-X", "-S", "1970-01-02", "-E", "now", "-A", ",".join(accounts)]
        args += ["-u", ",".join(users)] if users else ["-a"]
        try:
            data = json.loads(self._run("sacct", args) or "{}")
        except ValueError as exc:
            raise SlurmError(f"sacct --json printed something that is not JSON: {exc}") from None
        return [r for r in (_usage_record(j) for j in data.get("jobs", [])) if r is not None]


    def job_usage(self, job_ids: Sequence[str]) -> list[UsageRecord]:
        """The accounting records of these Slurm job ids (array tasks as ``123_4``)."""
        ids = [str(j) for j in job_ids if str(j).replace("_", "").isdigit()]
        if not ids:
            return []
        try:
            data = json.loads(self._run("sacct", ["--json", "-X", "-j", ",".join(ids)]) or "{}")
        except ValueError as exc:
            raise SlurmError(f"sacct --json printed something that is not JSON: {exc}") from None
        return [r for r in (_usage_record(j) for j in data.get("jobs", [])) if r is not None]


def _check_name(name: str) -> None:
    """Slurm account/user names: no separators sacctmgr would split on, nothing that reads as an option."""
    if not name or len(name) > 64 or name.startswith("-") or any(c in name for c in " \t\n|,=;'\"\\"):
        raise UserInputError(f"{name!r} is not a valid Slurm account or user name")


def _tres_value(text: str, name: str) -> int | None:
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key == name and value.lstrip("-").isdigit():
            v = int(value)
            return None if v < 0 else v
    return None


def _usage_record(job: Mapping[str, Any]) -> UsageRecord | None:
    """One ``sacct --json`` job (data_parser of Slurm 22.05: ``time.elapsed``, ``tres.allocated``)."""
    try:
        tres = job.get("tres", {}).get("allocated", []) or []
        billing = next((float(t.get("count", 0)) for t in tres if t.get("type") == "billing"), 0.0)
        state = job.get("state", {})
        return UsageRecord(job_id=str(job.get("job_id", "")), account=str(job.get("account", "")),
                           user=str(job.get("user", "")), partition=str(job.get("partition", "")),
                           state=str(state.get("current", "") if isinstance(state, Mapping) else state),
                           elapsed_s=int(job.get("time", {}).get("elapsed", 0) or 0), billing=billing)
    except (TypeError, ValueError, AttributeError):
        return None

"""Resource requests (the guidebook's "Requesting access to the platform") as files in a site directory.

Layout under ``[accounting] requests_dir`` (created by the admin, see README "Quotas")::

    requests/<id>.json      one per request, written by the user who created it (directory 1777: anyone may
                            create, nobody may replace another user's file)
    decisions/<id>.json     approvals and rejections, written by admins only (directory 0755, root-owned)
    collabs/<collab>.json   a collab's tier and storage limit, written by admins only

Why files and not a database of our own: a frontend's users are not trusted by each other, so whatever
they can write must be theirs alone (the sticky directory and ``O_EXCL``/``O_NOFOLLOW``), and what decides
(approval, limits) must be writable only by admins; the limits that matter are in Slurm's own database.
A request's state is derived: ``in preparation`` or ``under review`` from the user's file, ``accepted`` or
``rejected`` from an admin's decision file (a user editing their file afterwards changes nothing).
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from nmcluster.errors import UnsafePathError, UserInputError
from nmcluster.identity import describe_uid, user_name

#: the job-queue API's statuses (ebrains-neuromorphic-job-queue-api, api/simqueue/data_models.py)
STATUSES = ("in preparation", "under review", "accepted", "rejected")
#: tiers from the guidebook's "Requesting access to the platform"; units: core-hours (SpiNNaker),
#: wafer-hours (BrainScaleS), station-hours (Spikey: the guidebook names none, chosen like wafer-hours),
#: GB of storage.  "project" takes what the request asks for.
TIERS: Mapping[str, Mapping[str, float]] = {
    "test": {"spinnaker": 5000.0, "wafer": 0.1, "spikey": 10.0, "storage": 1.0},
    "preparatory": {"spinnaker": 500000.0, "wafer": 10.0, "spikey": 100.0, "storage": 10.0},
    "project": {},
}
RESOURCES = ("spinnaker", "wafer", "spikey", "storage")
_ID_RE = re.compile(r"^[0-9a-f]{12}$")
_COLLAB_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def check_collab(collab: Any) -> str:
    """A collab id usable as a Slurm account name (lower case, digits, ``-``, ``_``)."""
    text = str(collab).strip().lower() if isinstance(collab, (str, int)) and not isinstance(collab, bool) else ""
    if not _COLLAB_RE.match(text):
        raise UserInputError(f"collab {str(collab)[:60]!r} is not a valid collab id (letters, digits, - and _, "
                             f"at most 40)")
    return text


def check_amounts(amounts: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in amounts.items():
        if key not in RESOURCES:
            raise UserInputError(f"unknown resource {key!r} (known: {', '.join(RESOURCES)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= float(value) < 1e12:
            raise UserInputError(f"{key} must be a non-negative number, got {value!r}")
        out[key] = float(value)
    return out


class ResourceRequest(NamedTuple):
    id: str
    collab: str
    title: str
    abstract: str
    description: str
    tier: str
    amounts: Mapping[str, float]
    owner: str
    status: str
    submission_date: float | None = None
    decision_date: float | None = None
    decision_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The job-queue API's project shape (id, collab, title, abstract, description, status,
        submission_date, decision_date, resource_uri) plus nmcluster's tier, amounts and owner."""
        d = self._asdict()
        d["amounts"] = dict(self.amounts)
        d["resource_uri"] = f"/projects/{self.id}"
        return d


def _write_new(path: Path, data: Mapping[str, Any], mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)


def _replace_own(path: Path, data: Mapping[str, Any]) -> None:
    """Rewrite a file this user owns: a new file beside it, renamed over it (never through a link)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _write_new(tmp, data)
    os.replace(tmp, path)


def _read_json(path: Path, trusted_uids: set[int] | None = None) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafePathError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd) as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20:
            raise UnsafePathError(f"{path} is not a regular file of at most 1 MiB")
        if trusted_uids is not None and (st.st_uid not in trusted_uids or st.st_mode & 0o022):
            raise UnsafePathError(f"{path} is owned by {describe_uid(st.st_uid)} or writable by others: only "
                                  f"admins may write decisions; ignoring it is not safe, so refusing")
        try:
            data = json.load(fh)
        except ValueError:
            raise UserInputError(f"{path} is not valid JSON") from None
    return data if isinstance(data, dict) else None


class RequestStore:
    """The requests directory of one site."""

    def __init__(self, root: Path, admin_uids: set[int]) -> None:
        self.root = root
        self.admin_uids = admin_uids | {0}

    @property
    def requests(self) -> Path:
        return self.root / "requests"

    @property
    def decisions(self) -> Path:
        return self.root / "decisions"

    @property
    def collabs(self) -> Path:
        return self.root / "collabs"

    def initialise(self) -> None:
        """Create the layout (admins, once): requests/ 1777, decisions/ and collabs/ 0755."""
        for d, mode in ((self.root, 0o755), (self.requests, 0o1777), (self.decisions, 0o755), (self.collabs, 0o755)):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, mode)

    def _check_layout(self) -> None:
        for d, sticky in ((self.requests, True), (self.decisions, False), (self.collabs, False)):
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                raise UserInputError(f"the site has no resource-request directory {d}: an admin runs "
                                     f"`nmcluster admin requests init`") from None
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid not in self.admin_uids:
                raise UnsafePathError(f"{d} must be a directory owned by root or an admin")
            if sticky and not st.st_mode & stat.S_ISVTX:
                raise UnsafePathError(f"{d} must have the sticky bit (chmod 1777)")
            if not sticky and st.st_mode & 0o022:
                raise UnsafePathError(f"{d} must not be writable by others (chmod 0755)")

    # -- users ------------------------------------------------------------------------------------
    def create(self, collab: str, title: str, abstract: str, description: str = "", tier: str = "test",
               amounts: Mapping[str, Any] | None = None, submit: bool = False) -> ResourceRequest:
        self._check_layout()
        collab = check_collab(collab)
        if tier not in TIERS:
            raise UserInputError(f"unknown access tier {tier!r} (tiers: {', '.join(TIERS)})")
        if not title.strip() or not abstract.strip():
            raise UserInputError("a resource request needs a title and an abstract")
        asked = check_amounts(amounts or {})
        if tier == "project" and not asked:
            raise UserInputError("a project request says how much it needs, e.g. --amount spinnaker=100000")
        req_id = os.urandom(6).hex()
        now = time.time()
        data = {"id": req_id, "collab": collab, "title": title.strip()[:200], "abstract": abstract[:5000],
                "description": description[:20000], "tier": tier, "amounts": asked, "owner": user_name(),
                "status": "under review" if submit else "in preparation",
                "submission_date": now if submit else None}
        _write_new(self.requests / f"{req_id}.json", data)
        return self.get(req_id)

    def edit(self, req_id: str, title: str | None = None, abstract: str | None = None,
             description: str | None = None, amounts: Mapping[str, Any] | None = None,
             submit: bool = False) -> ResourceRequest:
        req = self.get(req_id)
        if req.owner != user_name():
            raise UserInputError(f"request {req_id} belongs to {req.owner}; only they may edit it")
        if req.status != "in preparation":
            raise UserInputError(f"request {req_id} is {req.status}: only a request in preparation can be edited")
        data = req.to_dict()
        data.pop("resource_uri")
        for key, value in (("title", title), ("abstract", abstract), ("description", description)):
            if value is not None:
                data[key] = value
        if amounts is not None:
            data["amounts"] = check_amounts(amounts)
        if submit:
            data.update(status="under review", submission_date=time.time())
        _replace_own(self.requests / f"{req_id}.json", data)
        return self.get(req_id)

    def get(self, req_id: str) -> ResourceRequest:
        if not _ID_RE.match(str(req_id)):
            raise UserInputError(f"{str(req_id)[:40]!r} is not a resource-request id")
        self._check_layout()
        data = _read_json(self.requests / f"{req_id}.json")
        if data is None:
            raise UserInputError(f"no resource request {req_id}")
        st = os.lstat(self.requests / f"{req_id}.json")
        owner = user_name(st.st_uid)  # the file's owner, whatever the file says
        decision = _read_json(self.decisions / f"{req_id}.json", self.admin_uids) or {}
        status = decision.get("status") if decision.get("status") in ("accepted", "rejected") else \
            ("under review" if data.get("status") == "under review" else "in preparation")
        try:
            return ResourceRequest(
                id=req_id, collab=check_collab(data.get("collab")), title=str(data.get("title", "")),
                abstract=str(data.get("abstract", "")), description=str(data.get("description", "")),
                tier=str(data.get("tier", "test")), amounts=check_amounts(dict(data.get("amounts") or {})),
                owner=owner, status=status, submission_date=data.get("submission_date"),
                decision_date=decision.get("decision_date"), decision_reason=str(decision.get("reason", "")))
        except (UserInputError, TypeError, ValueError) as exc:
            raise UserInputError(f"resource request {req_id} is malformed: {exc}") from None

    def list(self, collabs: set[str] | None = None, status: str | None = None) -> list[ResourceRequest]:
        """Requests of ``collabs`` (None = all, for admins); a malformed file is skipped, never fatal."""
        self._check_layout()
        if status is not None and status not in STATUSES:
            raise UserInputError(f"unknown status {status!r} (statuses: {', '.join(STATUSES)})")
        out = []
        for f in sorted(self.requests.glob("*.json")):
            try:
                req = self.get(f.stem)
            except UserInputError:
                continue
            if (collabs is None or req.collab in collabs) and (status is None or req.status == status):
                out.append(req)
        return sorted(out, key=lambda r: r.submission_date or 0)

    # -- admins -----------------------------------------------------------------------------------
    def decide(self, req_id: str, accept: bool, reason: str = "") -> ResourceRequest:
        req = self.get(req_id)
        if req.status != "under review":
            raise UserInputError(f"request {req_id} is {req.status}: only a submitted request can be decided")
        _write_new(self.decisions / f"{req_id}.json",
                   {"status": "accepted" if accept else "rejected", "decision_date": time.time(),
                    "reason": reason, "by": user_name(), "tier": req.tier, "amounts": dict(req.amounts)})
        return self.get(req_id)

    def collab_limits(self, collab: str) -> dict[str, float]:
        """The limits admins recorded for a collab (tier defaults plus approved amounts)."""
        self._check_layout()
        data = _read_json(self.collabs / f"{check_collab(collab)}.json", self.admin_uids) or {}
        return check_amounts(dict(data.get("limits") or {}))

    def set_collab_limits(self, collab: str, limits: Mapping[str, float], tier: str) -> None:
        path = self.collabs / f"{check_collab(collab)}.json"
        data = {"collab": collab, "tier": tier, "limits": check_amounts(limits), "updated": time.time(),
                "by": user_name()}
        if path.exists():
            _replace_own(path, data)
        else:
            _write_new(path, data)

"""``nmcluster serve``: the platform's job-queue API (v3) over this site's job service.

Paths, fields and status codes follow the real service, github HumanBrainProject/ebrains-neuromorphic-job-
queue-api: ``api/simqueue/data_models.py`` (``SubmittedJob``, ``Job``, ``DataSet``/``DataItem``,
``Comment``, ``Tag``, ``Project``, ``Quota``, ``JobPatch``), ``resources/for_users.py`` (``/jobs/``,
``/jobs/{id}``, ``/jobs/{id}/log``, ``/jobs/{id}/output_data``, comments, tags, ``/collabs/``,
``/projects/``, ``/projects/{id}/quotas/``; "Either there is no job with id N, or you do not have access to
it" is a 404 whatever the reason) and ``resources/for_providers.py`` (``GET /jobs/next/{platform}``,
``PUT /jobs/{id}``, ``x-api-key``).  The real client (PyPI ``hbp-neuromorphic-platform`` 0.11,
``nmpi/nmpi_user.py``) works against it unchanged: it calls ``user_info_endpoint`` (answered at
``/userinfo``), ``<job_service host>/jobs/...`` and ``<job_service>/projects/...``, and downloads output
files with ``urlretrieve`` - without its token - so output URLs carry an expiring HMAC signature.

A job submitted here is an ordinary nmcluster job of the service account (same validation, staging, Slurm
path, emulator fallback, collab account); the REST layer adds who submitted it, its collab, tags and
comments (:mod:`nmcluster.server.store`).  A user sees and changes only jobs of their collabs and their own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, StringConstraints
from typing import Annotated

from nmcluster.config import SiteConfig
from nmcluster.errors import NmclusterError
from nmcluster.server.auth import Authenticator, Identity, Provider
from nmcluster.server.store import ServerStore
from nmcluster.server.validate import check_code, check_input_url

FINAL = ("finished", "error")
URL_LIFETIME_S = 7 * 86400

# -- request bodies (data_models.py) ----------------------------------------------------------------
Tag = Annotated[str, StringConstraints(min_length=2, max_length=100, strip_whitespace=True)]


class DataItem(BaseModel):
    url: str = Field(max_length=2000)
    path: str | None = Field(default=None, max_length=1000)
    content_type: str | None = None
    size: int | None = None
    hash: str | None = None


class DataSet(BaseModel):
    repository: str = Field(max_length=200)
    files: list[DataItem] = Field(max_length=10000)


class SubmittedJob(BaseModel):
    code: str = Field(min_length=1)
    command: str | None = Field(default=None, max_length=10000)
    collab: str = Field(min_length=1, max_length=40)
    input_data: list[DataItem] | None = Field(default=None, max_length=100)
    hardware_platform: str = Field(min_length=1, max_length=100)
    hardware_config: dict[str, Any] | None = None
    tags: list[Tag] | None = Field(default=None, max_length=100)


class ResourceUsage(BaseModel):
    value: float
    units: str = Field(max_length=40)


class JobPatch(BaseModel):
    status: str | None = Field(default=None, pattern="^(submitted|validated|running|mapped|finished|error|removed)$")
    output_data: DataSet | None = None
    provenance: dict[str, Any] | None = None
    resource_usage: ResourceUsage | None = None
    log: str | None = None


class CommentBody(BaseModel):
    content: str = Field(min_length=1, max_length=10000)


class ProjectSubmission(BaseModel):
    collab: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=200)
    abstract: str = Field(min_length=1, max_length=5000)
    description: str | None = Field(default=None, max_length=20000)
    status: str = Field(default="in preparation", pattern="^(in preparation|under review)$")


class ProjectUpdate(BaseModel):
    title: str | None = Field(default=None, max_length=200)
    abstract: str | None = Field(default=None, max_length=5000)
    description: str | None = Field(default=None, max_length=20000)
    status: str | None = Field(default=None, pattern="^(in preparation|under review|accepted|rejected)$")


def not_found(job_id: int) -> HTTPException:
    return HTTPException(404, f"Either there is no job with id {job_id}, or you do not have access to it")


class ServerState:
    """Everything a request needs; one per app (no module-level state)."""

    def __init__(self, site: SiteConfig, env: Mapping[str, str]) -> None:
        self.site = site
        self.env = dict(env)
        self.settings = site.server
        state_dir = self.settings.state_dir or site.job_root / ".server"
        self.store = ServerStore(state_dir)
        self.auth = Authenticator(self.store, self.settings.oidc_userinfo)
        self.secret = self.store.secret()
        self._local = threading.local()
        self._collab_cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()
        self.provider_kinds = {self.kind(p) for p in self.settings.provider_platforms}

    # -- services --------------------------------------------------------------------------------
    def service(self):
        """A JobService per worker thread (its sqlite connection belongs to the thread that opened it)."""
        svc = getattr(self._local, "service", None)
        if svc is None:
            from nmcluster.jobs.service import JobService

            svc = self._local.service = JobService(site=self.site, env=self.env)
        return svc

    def accounting(self):
        from nmcluster.accounting.quotas import Accounting

        return Accounting(self.site, self.env)

    @staticmethod
    def kind(platform: str) -> str:
        from nmcluster.jobs.spec import normalise_platform

        return normalise_platform(platform)

    # -- identity ----------------------------------------------------------------------------------
    def collabs_of(self, user: str) -> list[str]:
        """The user's collabs: ``[server] collabs`` members, plus Slurm associations when accounting is on
        (cached 30 s: ``sacctmgr`` per status poll would be the server's bottleneck)."""
        now = time.monotonic()
        with self._lock:
            hit = self._collab_cache.get(user)
            if hit and hit[0] > now:
                return hit[1]
        out = {c for c, members in self.settings.collabs.items() if user in members}
        if self.site.accounting.enabled:
            try:
                out |= set(self.accounting().my_collabs(user))
            except NmclusterError:
                pass
        result = sorted(out)
        with self._lock:
            self._collab_cache[user] = (now + 30.0, result)
        return result

    def is_admin(self, user: str) -> bool:
        return user in self.settings.admin_users

    # -- jobs --------------------------------------------------------------------------------------
    def visible_job(self, job_id: int, ident: Identity) -> dict[str, Any]:
        row = self.store.get_job(job_id)
        if row is None or not (row["user"] == ident.user or row["collab"] in self.collabs_of(ident.user)):
            raise not_found(job_id)
        return row

    def refresh(self, row: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """Bring a local job's row up to date from its nmcluster record; returns (row, record or None)."""
        if row["local_id"] is None:
            return row, None
        try:
            rec = self.service().get(row["local_id"], refresh=row["status"] not in FINAL)
        except NmclusterError:
            return row, None
        if rec.status != row["status"] and row["status"] not in FINAL:
            values: dict[str, Any] = {"status": rec.status}
            if rec.final:
                values["timestamp_completion"] = rec.timestamp_completion or time.time()
            self.store.update_job(row["id"], **values)
            row = {**row, **values}
        return row, rec

    def output_dir(self, row: dict[str, Any], rec: Any) -> Path | None:
        from nmcluster.executors.jobfile import WORK_DIR

        if row["provider"]:
            return self.store.dir / "outputs" / str(row["id"])
        return Path(rec.job_dir) / WORK_DIR if rec is not None and rec.job_dir else None

    def output_names(self, row: dict[str, Any], rec: Any) -> list[str]:
        from nmcluster.jobs.service import safe_relative_name

        if row["provider"]:
            names = [str(f.get("path") or "") for f in (row["output_data"] or {}).get("files", [])]
        else:
            names = list(rec.output_data) if rec is not None and rec.final else []
        out_dir = self.output_dir(row, rec)
        if out_dir is None:
            return []
        real = out_dir.resolve()
        # only plain files inside the job's directory: a link the job made (-> /etc/passwd, another job) is not
        return [n for n in names if safe_relative_name(n) and (out_dir / n).resolve().is_relative_to(real)
                and (out_dir / n).resolve().is_file()]

    def sign(self, job_id: int, name: str, expires: int) -> str:
        return hmac.new(self.secret, f"{job_id}\0{name}\0{expires}".encode(), hashlib.sha256).hexdigest()

    def file_url(self, base: str, job_id: int, name: str) -> str:
        import urllib.parse

        expires = int(time.time()) + URL_LIFETIME_S
        return (f"{base}/jobs/{job_id}/files/{urllib.parse.quote(name)}?expires={expires}"
                f"&sig={self.sign(job_id, name, expires)}")

    def job_dict(self, row: dict[str, Any], base: str, with_log: bool = False,
                 with_comments: bool = False) -> dict[str, Any]:
        """The ``Job`` shape of data_models.py (``Job.from_db``), plus nmcluster's provenance."""
        from nmcluster.jobs.store import iso

        row, rec = self.refresh(row)
        job: dict[str, Any] = {
            "id": row["id"], "code": row["code"], "command": row["command"], "collab": row["collab"],
            "input_data": row["input_data"] or None, "hardware_platform": row["platform"],
            "hardware_config": row["hardware_config"] or None, "tags": row["tags"], "user_id": row["user"],
            "status": row["status"], "resource_uri": f"/jobs/{row['id']}",
            "timestamp_submission": _iso_utc(row["timestamp_submission"]),
            "timestamp_completion": _iso_utc(row["timestamp_completion"]),
            "output_data": None, "provenance": row["provenance"], "resource_usage": None,
        }
        if row["resource_usage"] is not None:
            job["resource_usage"] = {"value": row["resource_usage"], "units": _units(row["platform"])}
        names = self.output_names(row, rec)
        sizes = {}
        out_dir = self.output_dir(row, rec)
        for n in names:
            try:
                sizes[n] = (out_dir / n).stat().st_size if out_dir else None
            except OSError:
                sizes[n] = None
        if row["status"] in FINAL:  # an empty DataSet, not None: the client's download_data reads ["files"]
            job["output_data"] = {"repository": "nmcluster", "files": [
                {"url": self.file_url(base, row["id"], n), "path": f"job_{row['id']}/{n}",
                 "content_type": None, "size": sizes.get(n), "hash": None} for n in names]}
        if rec is not None:
            job["provenance"] = {"nmcluster_job_id": rec.id, "backend": rec.backend, "emulated": rec.emulated,
                                 "backend_reason": rec.backend_reason, "exit_code": rec.exit_code,
                                 "reason": rec.reason, "executor": rec.executor,
                                 "slurm_job_id": rec.external_id if rec.executor == "slurm" else "",
                                 "timestamp_start": iso(rec.timestamp_start)}
        if with_log:
            job["log"] = self.log(row)
        if with_comments:
            job["comments"] = [comment_dict(c) for c in self.store.comments(row["id"])]
        return job

    def log(self, row: dict[str, Any]) -> str:
        if row["local_id"] is None:
            return row["log"] or ""
        try:
            return self.service().log(row["local_id"])
        except NmclusterError:
            return ""


def comment_dict(c: Mapping[str, Any]) -> dict[str, Any]:
    """``Comment.from_db`` of data_models.py."""
    return {"id": c["id"], "job_id": c["job_id"], "content": c["content"], "user_id": c["user"],
            "timestamp": _iso_utc(c["created"]), "resource_uri": f"/jobs/{c['job_id']}/comments/{c['id']}"}


def _iso_utc(ts: float | None) -> str | None:
    import datetime as dt

    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def _units(platform: str) -> str:
    """``RESOURCE_USAGE_UNITS`` of the real service's globals.py."""
    return {"SpiNNaker": "core-hours", "BrainScaleS": "wafer-hours", "BrainScaleS-2": "chip-hours",
            "Spikey": "hours", "BrainScaleS-ESS": "hours"}.get(platform, "hours")


# -- the app ------------------------------------------------------------------------------------------

class BodyLimit:
    """ASGI middleware: refuse bodies over the limit with 413 before the app reads them (by Content-Length
    when given, else by reading the chunked body here, at most ``limit`` bytes)."""

    def __init__(self, app, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_limit if "/output_files/" in scope.get("path", "") else self.limit
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _drain(receive, 8 * limit)  # so that the client, still sending, reads the 413
                    return await _send_413(send, limit)
        if any(key == b"content-length" for key, _ in scope.get("headers", ())):
            return await self.app(scope, receive, send)  # the server reads no more than Content-Length
        # no length given (chunked): read it here, up to the limit, then hand it on; an exception raised
        # inside the app would already have become a 500
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                return await _send_413(send, limit)
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _drain(receive, cap: int) -> None:
    """Read and drop a refused body (at most ``cap`` bytes; past that the connection is simply closed)."""
    seen = 0
    while seen <= cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _send_413(send, limit: int) -> None:
    import json

    body = json.dumps({"detail": f"request body too large (limit {limit} bytes)"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(site: SiteConfig | None = None, env: Mapping[str, str] | None = None):
    """The ASGI app (wrapped in the body-size limit)."""
    from nmcluster.config import load_config

    env = dict(os.environ if env is None else env)
    site = site or load_config(env=env)
    state = ServerState(site, env)
    app = FastAPI(title="nmcluster job queue", version="3", docs_url="/docs", redoc_url=None)
    app.state.nm = state

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        # one line naming the field(s), e.g. "body.collab: Field required"
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            if err.get("type") == "json_invalid":
                parts.append(f"request body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})")
            else:
                parts.append(f"{loc}: {err.get('msg')}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.exception_handler(NmclusterError)
    async def _nmcluster(request: Request, exc: NmclusterError):
        from nmcluster.accounting.quotas import QuotaNotAllowed

        code = 403 if isinstance(exc, QuotaNotAllowed) else 400 if exc.exit_code == 2 else 409 \
            if type(exc).__name__ == "JobStateError" else 503
        return JSONResponse({"detail": str(exc)}, status_code=code)

    def user(authorization: str | None = Header(default=None)) -> Identity:
        ident = state.auth.user(authorization)
        if ident is None:
            raise HTTPException(401, "You must provide a valid token (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        return ident

    def provider(x_api_key: str | None = Header(default=None)) -> Provider:
        prov = state.auth.provider(x_api_key)
        if prov is None:
            # oauth.py: a missing header is refused by APIKeyHeader(auto_error=True), a wrong key with 403
            raise HTTPException(403 if x_api_key else 401, "Could not validate API key")
        return prov

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # -- about, identity ------------------------------------------------------------------------
    @app.get("/about")
    def about() -> dict[str, Any]:
        from nmcluster import __version__

        return {"about": "This is the nmcluster implementation of the Neuromorphic Computing Job Queue API.",
                "version": "3", "status": "ok", "nmcluster": __version__, "links": {"documentation": "/docs"}}

    @app.get("/userinfo")
    def userinfo(ident: Identity = Depends(user)) -> dict[str, Any]:
        """OIDC-userinfo-shaped: the real client takes ``preferred_username`` and derives ``my_collabs()``
        from ``roles.team`` entries ``collab-<id>-<role>``."""
        return {"sub": ident.user, "preferred_username": ident.user, "name": ident.user,
                "given_name": ident.user, "family_name": "",
                "roles": {"team": [f"collab-{c}-editor" for c in state.collabs_of(ident.user)]}}

    @app.get("/collabs/")
    def collabs(ident: Identity = Depends(user)) -> list[str]:
        return state.collabs_of(ident.user)

    # -- jobs (for_users.py) ----------------------------------------------------------------------
    @app.get("/jobs/")
    def query_jobs(request: Request, ident: Identity = Depends(user),
                   status: list[str] | None = Query(None), collab: list[str] | None = Query(None),
                   user_id: list[str] | None = Query(None), hardware_platform: list[str] | None = Query(None),
                   tags: list[str] | None = Query(None),
                   size: int = Query(10, ge=1, le=100000), from_index: int = Query(0, ge=0)) -> list[dict[str, Any]]:
        mine = state.collabs_of(ident.user)
        if user_id and any(u != ident.user for u in user_id):
            raise HTTPException(403, f"User id provided ({user_id[0]}) does not match authentication token "
                                     f"({ident.user})")
        for c in collab or ():
            if c not in mine:
                raise HTTPException(403, f"You do not have permission to view collab {c}")
        wanted = list(collab) if collab else mine
        rows = state.store.list_jobs(wanted, ident.user, (), hardware_platform or (), size=100000)
        if collab:
            rows = [r for r in rows if r["collab"] in collab]
        if user_id:
            rows = [r for r in rows if r["user"] == ident.user]
        # status is refreshed first: a job polled as "submitted" may have finished meanwhile
        rows = [state.refresh(r)[0] for r in rows]
        if status:
            rows = [r for r in rows if r["status"] in status]
        if tags:
            rows = [r for r in rows if set(tags) & set(r["tags"])]
        rows = rows[from_index:from_index + size]
        return [state.job_dict(r, base(request)) for r in rows]

    @app.post("/jobs/", status_code=201)
    def create_job(job: SubmittedJob, request: Request, ident: Identity = Depends(user)) -> dict[str, Any]:
        if job.collab not in state.collabs_of(ident.user):
            raise HTTPException(404, "You do not have access to this collab or there is no collab with this id")
        return state.job_dict(state.store.get_job(submit(state, job, ident)), base(request))

    @app.get("/jobs/{job_id}")
    def get_job(job_id: int, request: Request, ident: Identity = Depends(user), with_log: bool = False,
                with_comments: bool = False) -> dict[str, Any]:
        return state.job_dict(state.visible_job(job_id, ident), base(request), with_log, with_comments)

    @app.delete("/jobs/{job_id}")
    def delete_job(job_id: int, ident: Identity = Depends(user)) -> dict[str, Any]:
        """Cancel a queued or running job and remove it (status ``removed``, data_models.JobStatus)."""
        row, rec = state.refresh(state.visible_job(job_id, ident))
        if rec is not None:
            svc = state.service()
            if rec.final:
                svc.remove(rec.id)  # record and files
            else:
                try:  # the executor ends it; its directory stays for the site's clean-up
                    svc.cancel(rec.id)
                except NmclusterError:
                    pass
        state.store.update_job(job_id, status="removed", timestamp_completion=row["timestamp_completion"] or time.time())
        return {"id": job_id, "status": "removed"}

    @app.get("/jobs/{job_id}/log", response_class=PlainTextResponse)
    def get_log(job_id: int, ident: Identity = Depends(user)) -> str:
        return state.log(state.visible_job(job_id, ident))

    @app.get("/jobs/{job_id}/output_data")
    def get_output_data(job_id: int, request: Request, ident: Identity = Depends(user)) -> dict[str, Any]:
        job = state.job_dict(state.visible_job(job_id, ident), base(request))
        if not job["output_data"]:
            raise not_found(job_id)
        return job["output_data"]

    @app.put("/jobs/{job_id}/output_data")
    def copy_output_data(job_id: int, ident: Identity = Depends(user)) -> dict[str, Any]:
        state.visible_job(job_id, ident)
        raise HTTPException(406, "copying output data to EBRAINS Drive/Bucket is not available at this site: "
                                 "download the files (client.download_data) instead")

    @app.get("/jobs/{job_id}/files/{name:path}")
    def download(job_id: int, name: str, expires: int | None = None, sig: str | None = None,
                 authorization: str | None = Header(default=None)):
        """One output file: with a valid signature (from ``output_data``) or the caller's token; only a
        file the job lists as output, inside its directory (no ``..``, no link leading out)."""
        ident = state.auth.user(authorization)
        if ident is not None:
            row = state.visible_job(job_id, ident)
        else:
            if not (expires and sig and expires > time.time()
                    and hmac.compare_digest(sig, state.sign(job_id, name, expires))):
                raise HTTPException(401, "a signed link or a valid token is needed")
            row = state.store.get_job(job_id)
            if row is None:
                raise not_found(job_id)
        row, rec = state.refresh(row)
        if name not in state.output_names(row, rec):
            raise HTTPException(404, f"job {job_id} has no output file {name[:200]!r}")
        out_dir = state.output_dir(row, rec)
        path = (out_dir / name).resolve() if out_dir else None
        if path is None or not path.is_relative_to(out_dir.resolve()) or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no output file {name[:200]!r}")
        return FileResponse(path, filename=PurePosixPath(name).name)

    # -- comments, tags -----------------------------------------------------------------------------
    @app.get("/jobs/{job_id}/comments")
    def get_comments(job_id: int, ident: Identity = Depends(user)) -> list[dict[str, Any]]:
        state.visible_job(job_id, ident)
        return [comment_dict(c) for c in state.store.comments(job_id)]

    @app.post("/jobs/{job_id}/comments/", status_code=201)
    def add_comment(job_id: int, body: CommentBody, ident: Identity = Depends(user)) -> dict[str, Any]:
        state.visible_job(job_id, ident)
        return comment_dict(state.store.add_comment(job_id, ident.user, body.content))

    @app.get("/jobs/{job_id}/tags/")
    def get_tags(job_id: int, ident: Identity = Depends(user)) -> list[str]:
        return state.visible_job(job_id, ident)["tags"]

    @app.post("/jobs/{job_id}/tags/")
    def add_tags(job_id: int, tags: list[Tag], ident: Identity = Depends(user)) -> list[str]:
        row = state.visible_job(job_id, ident)
        new = list(dict.fromkeys([*row["tags"], *tags]))[:100]
        state.store.update_job(job_id, tags=new)
        return new

    @app.delete("/jobs/{job_id}/tags/")
    def remove_tags(job_id: int, tags: list[Tag], ident: Identity = Depends(user)) -> list[str]:
        row = state.visible_job(job_id, ident)
        new = [t for t in row["tags"] if t not in set(tags)]
        state.store.update_job(job_id, tags=new)
        return new

    @app.get("/tags/")
    def query_tags(collab: str = Query(...), ident: Identity = Depends(user)) -> list[str]:
        if collab not in state.collabs_of(ident.user):
            raise HTTPException(403, f"You do not have permission to view collab {collab}")
        rows = state.store.list_jobs([collab], ident.user, size=100000)
        return sorted({t for r in rows if r["collab"] == collab for t in r["tags"]})

    # -- projects and quotas (for_users.py /projects/, on the accounting layer of issue 21) -------------
    def project_dict(req: Any) -> dict[str, Any]:
        import datetime as dt

        d = req.to_dict()
        day = (lambda ts: None if ts is None else dt.date.fromtimestamp(ts).isoformat())
        owner = state.store.project_owner(req.id) or req.owner
        out = {"id": req.id, "context": req.id, "collab": req.collab, "title": req.title, "abstract": req.abstract,
               "description": req.description, "owner": owner, "status": req.status,
               "submission_date": day(req.submission_date), "decision_date": day(req.decision_date),
               "resource_uri": d["resource_uri"], "tier": req.tier, "amounts": d["amounts"], "quotas": []}
        if req.status == "accepted":
            out["quotas"] = quotas_of(req.collab, req.id)
        return out

    def quotas_of(collab: str, project: str) -> list[dict[str, Any]]:
        """``Quota`` of data_models.py (limit, platform, units, usage, project, resource_uri); nmcluster's
        quotas are per collab, so each accepted request of a collab shows the collab's quotas."""
        out = []
        for q in state.accounting().quotas(collab, check_member=False):
            d = q.to_dict()
            out.append({"limit": d.get("limit"), "usage": d.get("usage"), "units": d.get("units"),
                        "platform": d.get("platform"), "project": f"/projects/{project}",
                        "resource_uri": f"/projects/{project}/quotas/{d.get('platform')}"})
        return out

    def visible_project(project_id: str, ident: Identity):
        req = state.accounting().requests().get(project_id)
        if not state.is_admin(ident.user) and req.collab not in state.collabs_of(ident.user):
            raise HTTPException(404, f"Either there is no project with id {project_id}, or you do not have "
                                     "access to it")
        return req

    @app.get("/projects/")
    def query_projects(ident: Identity = Depends(user), status: str | None = None,
                       collab: list[str] | None = Query(None)) -> list[dict[str, Any]]:
        mine = set(state.collabs_of(ident.user))
        for c in collab or ():
            if c not in mine and not state.is_admin(ident.user):
                raise HTTPException(403, f"You do not have permission to view collab {c}")
        wanted = set(collab) if collab else (None if state.is_admin(ident.user) else mine)
        return [project_dict(r) for r in state.accounting().requests().list(wanted, status)]

    @app.post("/projects/", status_code=201)
    def create_project(body: ProjectSubmission, ident: Identity = Depends(user)) -> dict[str, Any]:
        if body.collab not in state.collabs_of(ident.user):
            raise HTTPException(403, f"You do not have permission to create projects in collab {body.collab}")
        req = state.accounting().requests().create(body.collab, body.title, body.abstract, body.description or "",
                                                   submit=body.status == "under review")
        state.store.set_project_owner(req.id, ident.user)
        return project_dict(req)

    @app.get("/projects/{project_id}")
    def get_project(project_id: str, ident: Identity = Depends(user)) -> dict[str, Any]:
        return project_dict(visible_project(project_id, ident))

    @app.put("/projects/{project_id}")
    def update_project(project_id: str, body: ProjectUpdate, ident: Identity = Depends(user)) -> dict[str, Any]:
        req = visible_project(project_id, ident)
        store = state.accounting().requests()
        if body.status in ("accepted", "rejected"):
            if not state.is_admin(ident.user):
                raise HTTPException(403, "only the site's admins ([server] admin_users) may accept or reject")
            if body.status == "accepted":
                acct = state.accounting()
                if req.collab not in acct.db.accounts():
                    acct.create_collab(req.collab, req.tier, dict(req.amounts))
                else:
                    from nmcluster.accounting.requests import TIERS

                    acct.set_limits(req.collab, {**TIERS.get(req.tier, {}), **dict(req.amounts)}, req.tier)
            return project_dict(store.decide(project_id, body.status == "accepted"))
        if (state.store.project_owner(project_id) or req.owner) != ident.user:
            raise HTTPException(403, f"request {project_id} belongs to another user; only they may edit it")
        return project_dict(store.edit(project_id, body.title, body.abstract, body.description,
                                       submit=body.status == "under review"))

    @app.get("/projects/{project_id}/quotas/")
    def get_quotas(project_id: str, ident: Identity = Depends(user)) -> list[dict[str, Any]]:
        req = visible_project(project_id, ident)
        return quotas_of(req.collab, req.id) if req.status == "accepted" else []

    # -- providers (for_providers.py) -------------------------------------------------------------
    @app.get("/jobs/next/{hardware_platform}")
    def next_job(hardware_platform: str, request: Request, prov: Provider = Depends(provider)) -> dict[str, Any]:
        check_provider(state, prov, hardware_platform)
        row = state.store.next_provider_job([p for p in state.settings.provider_platforms
                                             if state.kind(p) == state.kind(hardware_platform)])
        if row is None:
            raise HTTPException(404, f"No queued job for {hardware_platform}")
        return state.job_dict(row, base(request))

    @app.put("/jobs/{job_id}")
    def update_job(job_id: int, patch: JobPatch, prov: Provider = Depends(provider)) -> dict[str, Any]:
        row = state.store.get_job(job_id)
        if row is None or not row["provider"]:
            raise not_found(job_id)
        check_provider(state, prov, row["platform"])
        values: dict[str, Any] = {}
        if patch.status is not None:
            if row["status"] in FINAL and patch.status != row["status"]:
                raise HTTPException(409, f"job {job_id} has already ended ({row['status']})")
            values["status"] = patch.status
            if patch.status in FINAL:
                values["timestamp_completion"] = time.time()
        if patch.output_data is not None:
            from nmcluster.jobs.service import safe_relative_name

            files = [f.model_dump() for f in patch.output_data.files]
            bad = [f["path"] for f in files if not safe_relative_name(str(f.get("path") or ""))]
            if bad:
                raise HTTPException(422, f"output_data.files.path: not a relative file name: {str(bad[0])[:100]!r}")
            values["output_data"] = {"repository": patch.output_data.repository, "files": files}
        if patch.provenance is not None:
            values["provenance"] = patch.provenance
        if patch.resource_usage is not None:
            values["resource_usage"] = patch.resource_usage.value
        if patch.log is not None:
            values["log"] = patch.log
        if values:
            state.store.update_job(job_id, **values)
        return {"id": job_id, **{k: v for k, v in values.items() if k != "log"}}

    @app.put("/jobs/{job_id}/output_files/{name:path}")
    async def upload_output(job_id: int, name: str, request: Request,
                            prov: Provider = Depends(provider)) -> dict[str, Any]:
        """nmcluster's extension for bridges: store one output file of a provider job (size-limited by
        ``[server] max_upload_bytes``) so that users download it from here."""
        from nmcluster.jobs.service import safe_relative_name

        row = state.store.get_job(job_id)
        if row is None or not row["provider"]:
            raise not_found(job_id)
        check_provider(state, prov, row["platform"])
        if not safe_relative_name(name) or len(name) > 500:
            raise HTTPException(422, f"path: not a relative file name: {name[:100]!r}")
        out = state.store.dir / "outputs" / str(job_id)
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        size = 0
        try:
            with open(tmp, "wb") as f:
                async for chunk in request.stream():  # the size limit can stop this half-way (413)
                    size += len(chunk)
                    f.write(chunk)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return {"path": name, "size": size}

    from nmcluster.server.pages import add_pages

    add_pages(app, state, submit, about, SubmittedJob)
    return BodyLimit(app, state.settings.max_body_bytes, state.settings.max_upload_bytes)


def check_provider(state: ServerState, prov: Provider, platform: str) -> None:
    """``utils.check_provider_matches_platform``: a key works for its own platform only."""
    try:
        same = state.kind(prov.platform) == state.kind(platform)
    except NmclusterError:
        same = False
    if not same:
        raise HTTPException(403, f"The provider key is for {prov.platform}, not {platform[:40]}")


def submit(state: ServerState, job: SubmittedJob, ident: Identity) -> int:
    """Validate and queue a job: held for a provider bridge, or submitted to this site's job service as an
    ordinary nmcluster job charged to its collab.  Returns the REST job id."""
    from nmcluster.jobs.spec import JobSpec, merge_hardware_config

    internal = state.site.server.internal_hosts
    code = check_code(job.code, internal)
    inputs = [check_input_url(d.url, internal) for d in job.input_data or ()]
    kind = state.kind(job.hardware_platform)
    common = dict(user=ident.user, collab=job.collab, platform=job.hardware_platform, code=job.code,
                  command=job.command or "", hardware_config=job.hardware_config or {},
                  input_data=[d.model_dump() for d in job.input_data or ()], tags=list(job.tags or ()),
                  timestamp_submission=time.time())
    if kind in state.provider_kinds:
        JobSpec.create(code=code, platform=job.hardware_platform, command=job.command, inputs=inputs,
                       hardware_config=job.hardware_config, tags=job.tags, collab_id=job.collab)
        return state.store.insert_job(status="submitted", provider=1, **common)
    hardware = merge_hardware_config(kind, job.hardware_config, None, {})  # the site's defaults, not the server's env
    spec = JobSpec.create(code=code, platform=job.hardware_platform, command=job.command, inputs=inputs,
                          hardware_config=hardware, tags=job.tags, collab_id=job.collab)
    rec = state.service().submit(spec)
    return state.store.insert_job(status=rec.status, local_id=rec.id, **common)

"""The Python client, with the methods, arguments and return shapes of the platform's ``nmpi.Client``.

Scripts written for the platform run unchanged (``import nmpi`` after ``eval "$(nmcluster shell-env)"``,
or ``import nmcluster.client as nmpi``)::

    c = Client("myusername")                      # no password: this site's accounts are Unix accounts
    job_id = c.submit_job(source="~/dev/IF_cond_exp.py", platform=nmpi.SPIKEY, collab_id=563)
    while c.job_status(job_id) not in ("finished", "error"):
        time.sleep(2)
    job = c.get_job(job_id, with_log=True)
    filenames = c.download_data(job, local_dir=".")

Jobs go to this site's Slurm partitions (or the local executor where there is no Slurm), or, with
``Client(host="alice@frontend")`` or ``$NMCLUSTER_HOST``, to a frontend over SSH.  ``collab_id`` becomes
the job's Slurm account.  Every method is a thin layer over the same service methods the ``nmcluster``
CLI uses (:class:`~nmcluster.jobs.service.JobService` / :class:`~nmcluster.remote.remote.RemoteService`).

Differences from the platform, on purpose: no password or token is needed (``password``/``token``/
``job_service``/``quotas_service``/``verify`` are accepted and ignored, and a password is never kept);
job records carry a ``provenance`` dict saying which backend really ran (hardware or emulator);
``download_data`` does not modify the job dict it is given.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nmcluster.config import SiteConfig, load_config
from nmcluster.jobs.spec import DEFAULT_COMMAND, JobSpec, merge_hardware_config, normalise_platform
from nmcluster.jobs.store import JobRecord, iso

#: the platform's names, as in the ``nmpi`` package (the lower-case partition names work too)
SPIKEY = "Spikey"
BRAINSCALES = "BrainScaleS"
BRAINSCALES1 = "BrainScaleS"
ESS = "BrainScaleS-ESS"
SPINNAKER = "SpiNNaker"

API_PREFIX = "/api/v2"


def _job_id(value: Any) -> int:
    from nmcluster.remote.remote import parse_job_id

    if isinstance(value, Mapping):
        value = value.get("id")
    return parse_job_id(value)


def resource_uri(record: JobRecord) -> str:
    """The platform's URI of a job: ``/api/v2/queue/<id>`` while queued, ``/api/v2/results/<id>`` after."""
    return f"{API_PREFIX}/{'results' if record.final else 'queue'}/{record.id}"


class Client:
    """Submit and follow jobs like ``nmpi.Client`` does, on this site or on a frontend over SSH.

    *Arguments* (the platform's, accepted for compatibility):
        :username: on a remote frontend, the login name when neither ``host`` nor ``~/.ssh/config`` gives one.
        :password, token, job_service, quotas_service, verify: ignored (no web service, no passwords).

    *nmcluster's own* (keyword only):
        :host: ``[user@]frontend[:port]`` to work over SSH (default ``$NMCLUSTER_HOST``; ``""``: never).
        :site_config: path of a site TOML file (or a loaded SiteConfig) instead of the usual lookup.
        :executor: ``"slurm"`` or ``"local"`` instead of the site's choice.
        :accept_new_host_key: first contact with ``host``: record its unknown key in ``~/.ssh/known_hosts``.
        :remote_command: the ``nmcluster`` program on the frontend (default ``nmcluster`` in a login shell).
    """

    def __init__(self, username: str | None = None, password: str | None = None, job_service: str | None = None,
                 quotas_service: str | None = None, token: str | None = None, verify: bool = True, *,
                 host: str | None = None, site_config: str | os.PathLike | SiteConfig | None = None,
                 executor: str | None = None, accept_new_host_key: bool = False,
                 remote_command: str | None = None, env: Mapping[str, str] | None = None) -> None:
        del password  # never kept anywhere
        self._env = dict(os.environ if env is None else env)
        if host is None:
            host = self._env.get("NMCLUSTER_HOST") or None
        self.host = host or None
        self.token = token
        self.verify = verify
        self.job_service = job_service
        self.quotas_service = quotas_service
        if self.host:
            from nmcluster.remote.remote import RemoteService

            self._service: Any = RemoteService(self.host, accept_new_host_key=accept_new_host_key,
                                               executor=executor, remote_command=remote_command,
                                               username=username, env=self._env)
            self.username = username or self._service.target.user
        else:
            from nmcluster.jobs.service import JobService

            site = site_config if isinstance(site_config, SiteConfig) or site_config is None \
                else load_config(site_config, env=self._env)
            self._service = JobService(site=site, env=self._env, executor=executor)
            from nmcluster.identity import user_name

            self.username = username or user_name()

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the job store / SSH connection (reopened when the client is used again)."""
        self._service.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def service(self) -> Any:
        """The JobService (or RemoteService) behind the client, for anything beyond the platform's API."""
        return self._service

    # -- the platform's API ---------------------------------------------------------------------
    def submit_job(self, source: str, platform: str, collab_id: Any = None, config: Any = None,
                   inputs: Sequence[str] | None = None, command: str = DEFAULT_COMMAND,
                   tags: Sequence[str] | str | None = None, wait: bool = False) -> int | dict[str, Any]:
        """Submit a job; returns its id (an int), or with ``wait=True`` the finished job's dict.

        *Arguments*:
            :source: a Python script (path, or its text), a folder, a git URL or a .zip/.tar.gz archive.
                The code is copied now: editing it later never changes the job.
            :platform: ``nmpi.SPIKEY``, ``BRAINSCALES``, ``ESS``, ``SPINNAKER`` (or their strings).
            :collab_id: the collab/project; becomes the job's Slurm account.
            :config: the hardware config, a dict (or JSON text), e.g. ``{"STATION": "station500"}``.
            :inputs: paths or URLs of files copied into the job's working directory.
            :command: the script to run and its arguments; ``{system}`` becomes the PyNN backend.
            :tags: a list of strings.
            :wait: block until the job has finished.
        """
        if isinstance(tags, str):
            tags = [tags]
        env = {} if self.host else self._env  # the module environment of *this* machine is no default there
        hardware = merge_hardware_config(normalise_platform(platform), config, None, env)
        spec = JobSpec.create(code=os.path.expanduser(source) if "\n" not in str(source) else source,
                              platform=platform, command=command, inputs=inputs, hardware_config=hardware,
                              tags=tags, collab_id=collab_id)
        record = self._service.submit(spec, code_label=str(source))
        if wait:
            record = self._service.wait(record.id)
            return self._job_dict(record, with_log=True)
        return record.id

    def job_status(self, job_id: Any) -> str:
        """``"submitted"``, ``"running"``, ``"finished"`` or ``"error"``."""
        return self._service.get(_job_id(job_id)).status

    def get_job(self, job_id: Any, with_log: bool = True) -> dict[str, Any]:
        """The job's record as the platform shows it (``with_log``: include its log)."""
        return self._job_dict(self._service.get(_job_id(job_id)), with_log=with_log)

    def download_data(self, job: Mapping[str, Any] | Any, local_dir: str | os.PathLike = ".",
                      include_input_data: bool = False) -> list[str]:
        """Copy the job's output files (and with ``include_input_data`` its inputs) to
        ``<local_dir>/job_<id>/``; returns the local file names.  ``job`` is a dict from :meth:`get_job`
        (only the files it lists are fetched) or a job id."""
        if not isinstance(job, Mapping):
            job = self.get_job(job, with_log=False)
        items = list(job.get("output_data") or [])
        if include_input_data:
            items += list(job.get("input_data") or [])
        if not items:
            return []
        names = [item.get("name") or _url_name(item.get("url", "")) for item in items if isinstance(item, Mapping)]
        job_id = _job_id(job)
        dest = Path(local_dir) / f"job_{job_id}"
        # the platform's client replaces what it downloaded before: so does this one (the CLI does not)
        files = self._service.results(job_id, dest, include_inputs=include_input_data, names=names, force=True)
        # spelled like the platform's client: os.path.join(local_dir, "job_<id>", name)
        return [os.path.join(os.fspath(local_dir), f"job_{job_id}", *f.relative_to(dest).parts) for f in files]

    def remove_completed_job(self, job_id: Any) -> None:
        """Delete a finished (or failed) job's record and files."""
        self._service.remove(_job_id(job_id))

    def remove_queued_job(self, job_id: Any) -> None:
        """Cancel a job that has not started yet and delete it."""
        self._service.remove(_job_id(job_id), cancel_queued=True)

    def queued_jobs(self, verbose: bool = False) -> list[Any]:
        """Your jobs waiting in the queue (status ``submitted``): their URIs, or with ``verbose`` their dicts."""
        records = [r for r in self._service.list(include_final=False) if r.status == "submitted"]
        return [self._job_dict(r, with_log=False) if verbose else resource_uri(r) for r in records]

    def completed_jobs(self, collab_id: Any = None, verbose: bool = False) -> list[Any]:
        """Your finished and failed jobs (of one collab if given): URIs, or with ``verbose`` their dicts."""
        records = [r for r in self._service.list(include_final=True,
                                                 collab_id=None if collab_id is None else str(collab_id))
                   if r.final]
        return [self._job_dict(r, with_log=False) if verbose else resource_uri(r) for r in records]

    # -- collabs, quotas, resource requests (nmpi 0.11 names and shapes; issue 21) ---------------------
    def _accounting(self) -> Any:
        if self.host:
            from nmcluster.errors import UserInputError

            raise UserInputError("quotas and resource requests are read on the frontend itself "
                                 "(run there, or `nmcluster --host ... ` is not available for them yet)")
        from nmcluster.accounting.quotas import Accounting

        return Accounting(self._service.site, self._env)

    def my_collabs(self) -> list[str]:
        """Collabs of which you are a member (Slurm associations)."""
        return self._accounting().my_collabs()

    def quotas(self, collab_id: Any) -> list[dict[str, Any]]:
        """A collab's quotas: ``limit``, ``usage`` (what Slurm charged), ``units``, ``platform``."""
        return [q.to_dict() for q in self._accounting().quotas(str(collab_id))]

    def list_quotas(self, collab_id: Any) -> list[dict[str, Any]]:
        """Deprecated name of :meth:`quotas` in nmpi 0.11, kept for old scripts."""
        return self.quotas(collab_id)

    def create_resource_request(self, title: str, collab_id: Any, abstract: str, description: str | None = None,
                                submit: bool = False, *, tier: str = "test",
                                amounts: Mapping[str, float] | None = None) -> str:
        """Create a request (status "in preparation", or "under review" with ``submit``); returns its
        resource URI ``/projects/<id>`` like nmpi."""
        req = self._accounting().requests().create(str(collab_id), title, abstract, description or "", tier,
                                                   amounts, submit)
        return req.to_dict()["resource_uri"]

    def edit_resource_request(self, request_id: str, title: str | None = None, abstract: str | None = None,
                              description: str | None = None, submit: bool = False) -> dict[str, Any]:
        """Edit and/or submit a request in preparation; returns the changed fields like nmpi."""
        rid = str(request_id).rstrip("/").rsplit("/", 1)[-1]
        req = self._accounting().requests().edit(rid, title, abstract, description, submit=submit)
        data = {"status": req.status}
        data.update({k: v for k, v in (("title", title), ("abstract", abstract), ("description", description))
                     if v is not None})
        return data

    def resource_requests(self, collab_id: Any, status: str | None = None) -> list[dict[str, Any]]:
        """A collab's requests (the job-queue API's project dicts)."""
        acct = self._accounting()
        collab = str(collab_id)
        if not acct.is_admin() and collab not in acct.my_collabs():
            from nmcluster.accounting.quotas import QuotaNotAllowed

            raise QuotaNotAllowed(f"you are not a member of collab {collab}")
        return [r.to_dict() for r in acct.requests().list({collab}, status)]

    def list_resource_requests(self, collab_id: Any, status: str | None = None) -> list[dict[str, Any]]:
        """Deprecated name of :meth:`resource_requests` in nmpi 0.11."""
        return self.resource_requests(collab_id, status)

    # -- shapes ---------------------------------------------------------------------------------
    def _job_dict(self, rec: JobRecord, with_log: bool) -> dict[str, Any]:
        from nmcluster.jobs.staging import input_name

        service = self._service
        job: dict[str, Any] = {
            "id": rec.id,
            "status": rec.status,
            "code": rec.code,
            "command": rec.command,
            "hardware_platform": rec.hardware_platform,
            "hardware_config": dict(rec.hardware_config),
            "input_data": [{"url": service.file_url(rec, input_name(i)), "name": input_name(i), "source": i}
                           for i in rec.input_data],
            "output_data": [{"url": service.file_url(rec, name), "name": name} for name in rec.output_data],
            "timestamp_submission": iso(rec.timestamp_submission),
            "timestamp_completion": iso(rec.timestamp_completion),
            "user": rec.user,
            "tags": list(rec.tags),
            "collab_id": int(rec.collab_id) if rec.collab_id and rec.collab_id.isdigit() else rec.collab_id,
            "resource_uri": resource_uri(rec),
            "provenance": {
                "backend": rec.backend, "emulated": rec.emulated, "backend_reason": rec.backend_reason,
                "exit_code": rec.exit_code, "reason": rec.reason, "executor": rec.executor,
                "slurm_job_id": rec.external_id if rec.executor == "slurm" else "",
                "timestamp_start": iso(rec.timestamp_start), "job_dir": rec.job_dir,
                **({"host": service.label} if self.host else {}),
            },
        }
        if with_log:
            job["log"] = service.log(rec.id)
        return job


def _url_name(url: str) -> str:
    return posixpath.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path))

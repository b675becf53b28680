"""The provider bridge: take jobs from an NMPI job queue and run them as nmcluster jobs on this site.

Protocol of the real queue (github HumanBrainProject/ebrains-neuromorphic-job-queue-api,
``api/simqueue/resources/for_providers.py``): ``GET /jobs/next/{platform}`` with the provider's
``x-api-key`` returns the oldest submitted job *without taking it off the queue*; the provider then
``PUT /jobs/{id}`` with ``{"status": "running"}`` and, at the end, the final status, ``log``,
``output_data`` (a ``DataSet``) and ``resource_usage`` (``JobPatch`` of data_models.py).

Never lost, never run twice: what the bridge took is written to its journal (one fsync'd JSON file per
queue job) *before* it submits anything, and the local job carries a tag naming the queue job, so that
after a crash or SIGKILL at any point the restarted bridge either finds the local job (and follows it) or
submits it then - never a second time.  A job the queue hands out again is recognised by its journal
entry.  One bridge per platform and queue (like the real providers: ``GET next`` does not lock).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from nmcluster.errors import NmclusterError, UserInputError

FINAL = ("finished", "error")


class QueueError(NmclusterError):
    """The queue did not answer as expected (network, HTTP error): retried on the next round."""


class Queue:
    """The queue's provider API over HTTP(S) (stdlib only: a bridge host needs no web framework)."""

    def __init__(self, url: str, api_key: str, timeout: float = 30.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise UserInputError(f"--queue takes an http(s) URL, got {url[:80]!r}")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _call(self, method: str, path: str, body: bytes | None = None,
              content_type: str = "application/json") -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"x-api-key": self.api_key, "Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError as e:
            raise QueueError(f"queue {self.url} unreachable: {e}") from None

    def next_job(self, platform: str) -> dict[str, Any] | None:
        status, body = self._call("GET", f"/jobs/next/{urllib.parse.quote(platform)}")
        if status == 404:
            return None
        if status != 200:
            raise QueueError(f"GET /jobs/next/{platform}: HTTP {status} {body[:200]!r}")
        return json.loads(body)

    def update(self, job_id: int, patch: dict[str, Any]) -> None:
        status, body = self._call("PUT", f"/jobs/{job_id}", json.dumps(patch).encode())
        if status not in (200, 409):  # 409: already final with that status (a repeated final report)
            raise QueueError(f"PUT /jobs/{job_id}: HTTP {status} {body[:200]!r}")

    def upload(self, job_id: int, name: str, path: Path) -> bool:
        """nmcluster's output upload; False where the queue does not offer it (another implementation)."""
        status, body = self._call("PUT", f"/jobs/{job_id}/output_files/{urllib.parse.quote(name)}",
                                  path.read_bytes(), "application/octet-stream")
        if status in (404, 405):
            return False
        if status != 200:
            raise QueueError(f"upload of {name} for job {job_id}: HTTP {status} {body[:200]!r}")
        return True


class Bridge:
    """One queue, one platform; the journal lives in ``state_dir``."""

    def __init__(self, queue: Queue, platform: str, service: Any, state_dir: Path, collab: str | None = None,
                 max_running: int = 4) -> None:
        from nmcluster.identity import secure_private_dir
        from nmcluster.jobs.spec import normalise_platform

        normalise_platform(platform)
        self.queue = queue
        self.platform = platform
        self.service = service
        self.collab = collab
        self.max_running = max_running
        self.key = hashlib.sha256(f"{queue.url}\0{platform}".encode()).hexdigest()[:12]
        self.journal = secure_private_dir(state_dir / "bridge" / self.key, "bridge journal")

    # -- journal ------------------------------------------------------------------------------------
    def _path(self, job_id: int) -> Path:
        return self.journal / f"{int(job_id)}.json"

    def _write(self, entry: dict[str, Any]) -> None:
        path = self._path(entry["job"]["id"])
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(entry, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(self.journal, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.journal.glob("*.json"), key=lambda p: int(p.stem)):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        return out

    def marker(self, job_id: int) -> str:
        return f"nmpi-{self.key}-{int(job_id)}"

    # -- one round ----------------------------------------------------------------------------------
    def round(self) -> tuple[int, int]:
        """Advance every journal entry, then take new jobs while fewer than ``max_running`` are in
        flight.  Returns (in flight, taken now)."""
        open_entries = [e for e in self.entries() if e["state"] != "done"]
        for entry in open_entries:
            self.advance(entry)
        in_flight = sum(1 for e in self.entries() if e["state"] != "done")
        taken = 0
        while in_flight < self.max_running:
            job = self.queue.next_job(self.platform)
            if job is None:
                break
            if self._path(job["id"]).exists():  # handed out again: follow what we already have
                entry = json.loads(self._path(job["id"]).read_text())
                if entry["state"] == "done":
                    self.report(entry)  # our final report did not arrive: send it again
                    continue
                break
            entry = {"job": job, "state": "taken", "taken": time.time(), "local_id": None}
            self._write(entry)  # recorded before anything else happens
            taken += 1
            in_flight += 1
            self.advance(entry)
        return in_flight, taken

    def advance(self, entry: dict[str, Any]) -> None:
        job = entry["job"]
        if entry["state"] == "taken":
            found = [r for r in self.service.list(include_final=True) if self.marker(job["id"]) in r.tags]
            if found:
                entry.update(state="submitted", local_id=found[-1].id)  # submitted before a crash
            else:
                try:
                    rec = self.service.submit(self.spec(job))
                except UserInputError as exc:  # the job itself is invalid here: it ends in error, once
                    entry.update(state="final", status="error", log=f"nmcluster: {exc}\n")
                    self._write(entry)
                    self.report(entry)
                    return
                entry.update(state="submitted", local_id=rec.id)
            self._write(entry)
            self.queue.update(job["id"], {"status": "running"})
        if entry["state"] == "submitted":
            rec = self.service.get(entry["local_id"])
            if not rec.final:
                return
            entry.update(state="final", status=rec.status)
            self._write(entry)
        if entry["state"] == "final":
            self.report(entry)

    def spec(self, job: dict[str, Any]):
        from nmcluster.jobs.spec import JobSpec, merge_hardware_config, normalise_platform
        from nmcluster.server.validate import check_code, check_input_url

        internal = self.service.site.server.internal_hosts  # the site's own [server] settings
        code = check_code(str(job.get("code") or ""), internal)
        inputs = [check_input_url(str(d.get("url", "")), internal) for d in job.get("input_data") or ()]
        kind = normalise_platform(job.get("hardware_platform") or self.platform)
        hardware = merge_hardware_config(kind, job.get("hardware_config") or {}, None, {})
        tags = [t for t in job.get("tags") or () if isinstance(t, str)][:50] + [self.marker(job["id"])]
        return JobSpec.create(code=code, platform=kind, command=job.get("command") or None, inputs=inputs,
                              hardware_config=hardware, tags=tags, collab_id=self.collab)

    def report(self, entry: dict[str, Any]) -> None:
        """Upload the outputs and send the final status (repeatable: a second report changes nothing)."""
        job_id = entry["job"]["id"]
        patch: dict[str, Any] = {"status": entry.get("status", "error")}
        if entry.get("local_id") is not None:
            from nmcluster.executors.jobfile import WORK_DIR
            from nmcluster.jobs.service import safe_relative_name

            rec = self.service.get(entry["local_id"])
            work = Path(rec.job_dir) / WORK_DIR
            files = []
            for name in rec.output_data:
                path = work / name
                if not safe_relative_name(name) or path.is_symlink() or not path.is_file():
                    continue
                if not self.queue.upload(job_id, name, path):
                    break
                files.append({"url": f"{self.queue.url}/jobs/{job_id}/files/{urllib.parse.quote(name)}",
                              "path": name, "size": path.stat().st_size,
                              "hash": hashlib.sha1(path.read_bytes()).hexdigest(), "content_type": None})
            patch["log"] = self.service.log(rec.id)
            if files:
                patch["output_data"] = {"repository": "nmcluster", "files": files}
            start, end = rec.timestamp_start or rec.timestamp_submission, rec.timestamp_completion or time.time()
            patch["resource_usage"] = {"value": round(max(0.0, end - start) / 3600.0, 6), "units": "hours"}
            patch["provenance"] = {"nmcluster_job_id": rec.id, "backend": rec.backend, "emulated": rec.emulated,
                                   "exit_code": rec.exit_code, "executor": rec.executor}
        else:
            patch["log"] = entry.get("log", "")
        self.queue.update(job_id, patch)
        entry["state"] = "done"
        self._write(entry)

    def run(self, once: bool = False, interval: float = 5.0, log=print) -> int:
        """Rounds until stopped; ``once``: until nothing is queued and nothing is in flight."""
        while True:
            try:
                in_flight, taken = self.round()
                if taken:
                    log(f"took {taken} job(s) from {self.queue.url} ({self.platform}); {in_flight} in flight")
            except QueueError as exc:
                log(f"nmcluster provider: {exc}; retrying")
                in_flight, taken = 1, 0
                if once:
                    raise
            if once and in_flight == 0 and taken == 0:
                return 0
            time.sleep(min(interval, 0.5) if once else interval)

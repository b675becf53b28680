"""The guidebook's client workflow with the REAL ``nmpi`` client against ``nmcluster serve``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server.conftest import run_client

SCRIPT = '''\
import json, sys
json.dump({"argv": sys.argv[1:], "n": 42}, open("result.json", "w"))
open("spikes.txt", "w").write("0 1.5\\n1 2.5\\n")
print("experiment ran with", sys.argv[1:])
'''


def test_real_client_submit_status_get_download(server, client_python, tmp_path: Path):
    work = tmp_path / "alice"
    work.mkdir()
    (work / "experiment.py").write_text(SCRIPT)
    out = run_client(client_python, server, "alice", '''
job_id = c.submit_job(source="experiment.py", platform=nmpi.SPINNAKER, collab_id="563", tags=["first"])
states = []
for _ in range(600):
    s = c.job_status(job_id)
    states.append(s)
    if s in ("finished", "error"):
        break
    time.sleep(0.1)
job = c.get_job(job_id, with_log=True)
files = c.download_data(job, local_dir="downloads")
c.add_tags(job_id, ["second"])
tags = c.get_job(job_id, with_log=False)["tags"]
done = c.completed_jobs("563")
queued = c.queued_jobs()
print(json.dumps({"job_id": job_id, "final": states[-1], "job": job, "files": files, "tags": tags,
                  "done": done, "queued": queued, "collabs": c.my_collabs(),
                  "contents": {f: open(f).read() for f in files}}))
''', work)
    job = out["job"]
    assert out["job_id"] == f"/jobs/{job['id']}"
    assert out["final"] == "finished", job.get("log")
    assert job["collab"] == "563" and job["user_id"] == "alice" and job["hardware_platform"] == "SpiNNaker"
    assert "experiment ran with" in job["log"]
    assert sorted(f["path"] for f in job["output_data"]["files"]) == [f"job_{job['id']}/result.json",
                                                                      f"job_{job['id']}/spikes.txt"]
    # the downloaded files are the job's files, byte for byte
    assert sorted(out["files"]) == [f"downloads/job_{job['id']}/result.json", f"downloads/job_{job['id']}/spikes.txt"]
    result = json.loads(out["contents"][f"downloads/job_{job['id']}/result.json"])
    assert result == {"argv": ["nmcluster.spinnaker"], "n": 42}  # {system}: the emulated SpiNNaker backend
    assert out["contents"][f"downloads/job_{job['id']}/spikes.txt"] == "0 1.5\n1 2.5\n"
    assert out["tags"] == ["first", "second"]
    assert out["done"] == [f"/jobs/{job['id']}"] and out["queued"] == []
    assert out["collabs"] == ["563", "shared"]


def test_quotas_off_says_so(server, client_python, tmp_path: Path):
    out = run_client(client_python, server, "alice", '''
res = {}
for name, call in (("quotas", lambda: c.list_quotas("563")),
                   ("create", lambda: c.create_resource_request("t", "563", "a")),
                   ("list", lambda: c.list_resource_requests("563"))):
    try:
        call(); res[name] = "no error"
    except Exception as e:
        res[name] = str(e)
print(json.dumps(res))
''', tmp_path / "c")
    for msg in out.values():
        assert msg.startswith("Error 400: quotas are off at this site"), msg


class GitAndFiles(__import__("http.server").server.SimpleHTTPRequestHandler):
    """Static files, and ``*.git/...`` through ``git http-backend`` as CGI (git-http-backend(1))."""

    def log_message(self, *args) -> None:
        pass

    def _git(self) -> None:
        import subprocess

        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"GIT_PROJECT_ROOT": self.directory, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
               "QUERY_STRING": query, "REQUEST_METHOD": self.command, "PATH": "/usr/bin:/bin",
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "REMOTE_ADDR": "127.0.0.1"}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if ".git/" in self.path:
            return self._git()
        return super().do_GET()

    def do_POST(self) -> None:
        return self._git()


def test_real_client_git_and_archive_urls(server, client_python, tmp_path: Path):
    """``source`` as an archive URL and as a git URL, served on 127.0.0.1: a tarball, and a bare repository
    through ``git http-backend`` (git's smart HTTP: nmcluster clones shallowly, which dumb HTTP cannot)."""
    import functools
    import http.server
    import subprocess
    import tarfile
    import threading

    web = tmp_path / "web"
    src = tmp_path / "src"
    src.mkdir(parents=True)
    (src / "run.py").write_text("import sys\nopen('from.txt', 'w').write(open('origin.txt').read())\n")
    (src / "origin.txt").write_text("archive")
    web.mkdir()
    with tarfile.open(web / "exp.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="exp-main")
    (src / "origin.txt").write_text("git")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(src)], check=True)
    subprocess.run([*git, "-C", str(src), "add", "."], check=True)
    subprocess.run([*git, "-C", str(src), "commit", "-qm", "exp"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(web / "exp.git")], check=True)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(GitAndFiles, directory=str(web)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        out = run_client(client_python, server, "alice", f'''
res = {{}}
for kind, url in (("archive", "{base}/exp.tar.gz"), ("git", "{base}/exp.git")):
    job = c.submit_job(source=url, platform="SpiNNaker", collab_id="563", wait=False)
    for _ in range(600):
        if c.job_status(job) in ("finished", "error"):
            break
        time.sleep(0.1)
    j = c.get_job(job)
    files = c.download_data(j, local_dir=kind)
    res[kind] = {{"status": j["status"], "code": j["code"], "log": j.get("log"),
                  "from": [open(f).read() for f in files if f.endswith("from.txt")]}}
print(json.dumps(res))
''', tmp_path / "client")
    finally:
        httpd.shutdown()
    assert out["archive"]["status"] == "finished", out["archive"]["log"]
    assert out["archive"]["from"] == ["archive"] and out["archive"]["code"].endswith("/exp.tar.gz")
    assert out["git"]["status"] == "finished", out["git"]["log"]
    assert out["git"]["from"] == ["git"]


def test_comments_cancel_and_remove(server, tmp_path: Path):
    """Comments on a finished job; DELETE cancels a running job (its process ends) and removes a finished
    one (record and files); a removed job is gone for everyone (404)."""
    import time

    alice = server.tokens["alice"]
    status, quick = server.json("POST", "/jobs/", alice, {"code": "open('x.txt','w').write('x')\n", "collab": "563",
                                                          "hardware_platform": "SpiNNaker"})
    for _ in range(300):
        if server.json("GET", f"/jobs/{quick['id']}", alice)[1]["status"] == "finished":
            break
        time.sleep(0.1)
    # (submitted after the quick one: the emulated board runs one job at a time)
    status, slow = server.json("POST", "/jobs/", alice, {"code": "import time\ntime.sleep(60)\n", "collab": "563",
                                                         "hardware_platform": "SpiNNaker"})
    assert status == 201
    status, comment = server.json("POST", f"/jobs/{quick['id']}/comments/", alice, {"content": "looks right"})
    assert status == 201 and comment["user_id"] == "alice" and comment["resource_uri"].startswith(f"/jobs/{quick['id']}/")
    status, job = server.json("GET", f"/jobs/{quick['id']}?with_comments=true", alice)
    assert [c["content"] for c in job["comments"]] == ["looks right"]
    job_dir = Path(server.tmp / "jobs" / str(job["provenance"]["nmcluster_job_id"]))
    assert job_dir.is_dir()
    assert server.json("DELETE", f"/jobs/{quick['id']}", alice) == (200, {"id": quick["id"], "status": "removed"})
    assert not job_dir.exists()
    assert server.json("GET", f"/jobs/{quick['id']}", alice)[0] == 404
    for _ in range(100):
        if server.json("GET", f"/jobs/{slow['id']}", alice)[1]["status"] == "running":
            break
        time.sleep(0.1)
    assert server.json("DELETE", f"/jobs/{slow['id']}", alice)[0] == 200
    assert server.json("GET", "/jobs/?size=100", alice)[1] == []

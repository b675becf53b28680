"""What the server refuses: no or a bad token (401, nothing seen), other collabs' jobs (404), downloads
leaving the job's directory, oversize bodies (413), bad JSON or fields (422 naming the field), local paths as
code, revoked and expired tokens."""

from __future__ import annotations

import json
import os
import time
import urllib.parse

import pytest

from tests.server.conftest import nmc

SCRIPT = "import os\nopen('out.txt', 'w').write('secret of alice')\nos.symlink('/etc/passwd', 'link.txt')\n"


def submit(server, user: str, collab: str = "563", code: str = SCRIPT) -> dict:
    status, job = server.json("POST", "/jobs/", server.tokens[user],
                              {"code": code, "collab": collab, "hardware_platform": "SpiNNaker"})
    assert status == 201, job
    return job


def wait_final(server, user: str, job_id: int) -> dict:
    for _ in range(300):
        status, job = server.json("GET", f"/jobs/{job_id}?with_log=true", server.tokens[user])
        assert status == 200, job
        if job["status"] in ("finished", "error"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_no_or_invalid_token_is_401_and_sees_nothing(server):
    job = submit(server, "alice")
    for token in (None, "nmct_not-a-token", server.tokens["alice"] + "x"):
        for method, path in (("GET", "/jobs/"), ("GET", f"/jobs/{job['id']}"), ("GET", "/userinfo"),
                             ("GET", f"/jobs/{job['id']}/log"), ("DELETE", f"/jobs/{job['id']}"),
                             ("POST", f"/jobs/{job['id']}/tags/"), ("GET", "/projects/")):
            status, body = server.request(method, path, token, b'["xx"]' if method == "POST" else None)
            assert status == 401, (method, path, status, body)
            assert b"secret" not in body and b"alice" not in body
    # a malformed Authorization header is no token either
    status, _ = server.request("GET", "/jobs/", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert status == 401


def test_other_collab_job_is_404_and_unchanged(server):
    job = submit(server, "alice")
    final = wait_final(server, "alice", job["id"])
    assert final["status"] == "finished", final.get("log")
    bob = server.tokens["bob"]
    for method, path, body in (("GET", f"/jobs/{job['id']}", None), ("GET", f"/jobs/{job['id']}/log", None),
                               ("GET", f"/jobs/{job['id']}/output_data", None),
                               ("POST", f"/jobs/{job['id']}/tags/", b'["evil"]'),
                               ("POST", f"/jobs/{job['id']}/comments/", b'{"content": "x"}'),
                               ("DELETE", f"/jobs/{job['id']}", None),
                               ("GET", f"/jobs/{job['id']}/files/out.txt", None)):
        status, resp = server.request(method, path, bob, body)
        assert status == 404, (method, path, status, resp)
        assert b"secret of alice" not in resp
    status, listing = server.json("GET", "/jobs/?size=100", bob)
    assert status == 200 and listing == []
    status, _ = server.json("GET", "/jobs/?collab=563", bob)
    assert status == 403
    status, _ = server.json("POST", "/jobs/", bob, {"code": SCRIPT, "collab": "563", "hardware_platform": "SpiNNaker"})
    assert status == 404
    # alice's job is untouched: still there, tags unchanged
    status, again = server.json("GET", f"/jobs/{job['id']}", server.tokens["alice"])
    assert status == 200 and again["tags"] == [] and again["status"] == "finished"
    # a job of a collab both are in is visible to both
    shared = submit(server, "alice", "shared")
    assert server.json("GET", f"/jobs/{shared['id']}", bob)[0] == 200


def test_download_stays_in_the_job_directory(server):
    job = wait_final(server, "alice", submit(server, "alice")["id"])
    files = {f["path"].split("/", 1)[1]: f["url"] for f in job["output_data"]["files"]}
    # the job made link.txt -> /etc/passwd: it is not offered, and not served when asked for
    assert sorted(files) == ["out.txt"]
    url = urllib.parse.urlsplit(files["out.txt"])
    status, body = server.request("GET", f"{url.path}?{url.query}")  # the signed link, without a token
    assert (status, body) == (200, b"secret of alice")
    alice = server.tokens["alice"]
    for name in ("../job.json", "..%2Fjob.json", "%2Fetc%2Fpasswd", "link.txt", "work/../../jobs.sqlite",
                 "does-not-exist"):
        status, body = server.request("GET", f"/jobs/{job['id']}/files/{name}", alice)
        assert status == 404, (name, status, body)
        assert b"root:" not in body
    # a signature is bound to its file, job and expiry
    q = urllib.parse.parse_qs(url.query)
    for path in (f"/jobs/{job['id']}/files/link.txt?{url.query}",
                 f"/jobs/{job['id']}/files/out.txt?expires={int(q['expires'][0]) + 1}&sig={q['sig'][0]}",
                 f"/jobs/{job['id']}/files/out.txt?expires=1&sig={q['sig'][0]}"):
        status, body = server.request("GET", path)
        assert status in (401, 404) and b"secret" not in body, (path, status)


def test_oversize_body_is_413(server):
    big = json.dumps({"code": "x = 1\n" * 400_000, "collab": "563", "hardware_platform": "SpiNNaker"}).encode()
    assert len(big) > 2_000_000
    status, body = server.request("POST", "/jobs/", server.tokens["alice"], big)
    assert status == 413 and b"too large" in body
    status, listing = server.json("GET", "/jobs/", server.tokens["alice"])
    assert listing == []


def test_bad_json_and_fields_are_422_naming_the_field(server):
    alice = server.tokens["alice"]
    status, body = server.json("POST", "/jobs/", alice, {"code": "print(1)\n", "hardware_platform": "SpiNNaker"})
    assert status == 422 and "collab" in body["detail"] and "required" in body["detail"].lower()
    status, body = server.json("POST", "/jobs/", alice, {"code": "x\n", "collab": "563",
                                                         "hardware_platform": "SpiNNaker", "tags": "notalist"})
    assert status == 422 and "tags" in body["detail"]
    status, raw = server.request("POST", "/jobs/", alice, b'{"code": "x", ')
    assert status == 422 and b"JSON" in raw
    # the nmcluster validation: same one-line message as the CLI, HTTP 400
    status, body = server.json("POST", "/jobs/", alice, {"code": "x = 1\n", "collab": "563",
                                                         "hardware_platform": "NoSuchMachine"})
    assert status == 400 and "NoSuchMachine" in body["detail"] and "\n" not in body["detail"]
    status, body = server.json("POST", "/jobs/", alice, {"code": "x = 1\n", "collab": "563",
                                                         "hardware_platform": "Spikey",
                                                         "hardware_config": {"STATION": "station9999"}})
    assert status == 400 and "9999" in body["detail"]
    status, listing = server.json("GET", "/jobs/", alice)
    assert listing == []  # nothing queued


def test_local_paths_and_ebrains_storage_are_refused(server, tmp_path):
    alice = server.tokens["alice"]
    secret = tmp_path / "server-secret.py"
    secret.write_text("print('server file')\n")
    for code, word in ((str(secret), "file name"), ("file:///etc/passwd", "http"), ("drive://563/source_code", "git URL"),
                       ("/etc/passwd", "file name")):
        status, body = server.json("POST", "/jobs/", alice, {"code": code, "collab": "563",
                                                             "hardware_platform": "SpiNNaker"})
        assert status == 400 and word in body["detail"], (code, body)
    status, body = server.json("POST", "/jobs/", alice, {"code": "x = 1\n", "collab": "563", "hardware_platform": "SpiNNaker",
                                                         "input_data": [{"url": "/etc/shadow"}]})
    assert status == 400 and "http" in body["detail"]
    assert server.json("GET", "/jobs/", alice)[1] == []


def test_revoked_and_expired_tokens_stop_working(server):
    token = server.token("carol")
    assert server.json("GET", "/userinfo", token)[0] == 200
    listing = json.loads(nmc(["admin", "token", "list", "--json"], server.env).stdout)
    carol = [t for t in listing if t["name"] == "carol"][0]
    assert carol["state"] == "active" and "hash" not in carol
    nmc(["admin", "token", "revoke", str(carol["id"])], server.env)
    assert server.json("GET", "/userinfo", token)[0] == 401
    # stored hashed: the database never contains the token
    db = (server.tmp / "jobs" / ".server" / "server.sqlite").read_bytes()
    assert token.encode() not in db and server.tokens["alice"].encode() not in db
    bad = nmc(["admin", "token", "create", "carol", "--expires", "soon"], server.env, check=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    bad = nmc(["admin", "token", "create", "../root"], server.env, check=False)
    assert bad.returncode == 2
    assert oct(os.stat(server.tmp / "jobs" / ".server").st_mode & 0o777) == "0o700"


def test_oidc_tokens_are_checked_at_the_userinfo_endpoint(tmp_path):
    """``[server] oidc_userinfo``: a token the identity provider accepts names its user (preferred_username);
    one it refuses, or a provider that is down, is 401."""
    import http.server
    import threading

    from tests.server.conftest import start_server, stop_server

    seen = []

    class IdP(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            ok = self.headers.get("Authorization") == "Bearer good-oidc-token"
            body = json.dumps({"sub": "x1", "preferred_username": "oidcuser"} if ok else {"error": "invalid_token"})
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

    idp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IdP)
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    srv = start_server(tmp_path / "srv", extra=f'oidc_userinfo = "http://127.0.0.1:{idp.server_address[1]}/userinfo"\n')
    try:
        status, info = srv.json("GET", "/userinfo", "good-oidc-token")
        assert status == 200 and info["preferred_username"] == "oidcuser"
        assert srv.json("GET", "/userinfo", "bad-oidc-token")[0] == 401
        assert srv.json("GET", "/jobs/", "good-oidc-token") == (200, [])
        calls = len(seen)
        srv.json("GET", "/jobs/", "good-oidc-token")  # cached: not asked again at once
        assert len(seen) == calls
        idp.shutdown()
        idp.server_close()
        assert srv.json("GET", "/userinfo", "another-token")[0] == 401
    finally:
        stop_server(srv)


def test_job_manager_pages_keep_collabs_apart(server):
    """The pages use the same checks: another collab's job page and plots are 404; a bad hardware config in
    the form is shown again with the error, nothing queued; HTML in a job's fields is escaped."""
    import re
    import urllib.parse

    job = submit(server, "alice", code="print('<script>alert(1)</script>')\n")
    wait_final(server, "alice", job["id"])

    def get(path, user):
        return server.request("GET", path, headers={"Cookie": f"nmc_token={server.tokens[user]}",
                                                    "Accept": "text/html"})

    status, page = get(f"/job/{job['id']}", "alice")
    assert status == 200 and b"<script>alert" not in page and b"&lt;script&gt;alert" in page
    assert get(f"/job/{job['id']}", "bob")[0] == 404
    assert get(f"/job/{job['id']}/plot/raster/out.txt", "bob")[0] == 404
    assert get(f"/job/{job['id']}/plot/raster/../../jobs.sqlite", "alice")[0] == 404
    status, form = get("/new", "bob")
    csrf = re.search(rb'name="csrf" value="([0-9a-f]+)"', form).group(1).decode()
    body = urllib.parse.urlencode({"csrf": csrf, "platform": "SpiNNaker", "collab": "777", "code": "x = 1\n",
                                   "hardware_config": "{not json"}).encode()
    status, page = server.request("POST", "/new", body=body, headers={
        "Cookie": f"nmc_token={server.tokens['bob']}", "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 422 and b"hardware config" in page and b"{not json" in page
    body = urllib.parse.urlencode({"csrf": csrf, "platform": "SpiNNaker", "collab": "563", "code": "x = 1\n"}).encode()
    status, page = server.request("POST", "/new", body=body, headers={
        "Cookie": f"nmc_token={server.tokens['bob']}", "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 403 and b"not a member of collab 563" in page
    assert server.json("GET", "/jobs/", server.tokens["bob"])[1] == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/repo.git", "http://localhost/x.tar.gz",
                                 "http://10.1.2.3/code.zip", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/x.tar.gz", "https://192.168.0.10/r.git"])
def test_code_urls_inside_the_site_are_refused(url):
    """The service account fetches a job's code: a URL of an internal service (the cloud metadata address, a
    database on loopback, the site's private network) is refused unless [server] internal_hosts lists it."""
    from nmcluster.errors import UserInputError
    from nmcluster.server.validate import check_code, check_input_url

    with pytest.raises(UserInputError, match="inside the site"):
        check_code(url)
    with pytest.raises(UserInputError, match="inside the site"):
        check_input_url(url)
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]") if "[" not in url else "::1"
    assert check_code(url, (host,)) == url  # listed by the site: allowed


def test_public_code_url_passes_without_dns():
    from nmcluster.server.validate import check_code

    assert check_code("https://93.184.215.14/bench.tar.gz") == "https://93.184.215.14/bench.tar.gz"

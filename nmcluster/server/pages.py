"""The Job Manager at ``/``: server-rendered HTML, no CDN, no JavaScript needed.

Pages: sign-in with a token (kept in an HttpOnly, SameSite=Strict cookie; every form also carries a CSRF
field derived from it), the job list with states, a submit form (platform, collab, code, command,
hardware config, tags), and a job page with its log, output files (signed links) and the raster and
membrane plots that ``nmcluster plot`` draws from the job's neo data files.  A job page refreshes itself
(``<meta http-equiv="refresh">``) until the job has ended.

Plots are drawn by ``nmcluster plot`` in a subprocess, never in the server: reading a neo pickle runs
code that the job wrote, and matplotlib is heavy and not thread-safe.  The subprocess runs as the service
account, as the job did, so it can do nothing the job could not.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from fastapi import Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse

from nmcluster.errors import NmclusterError

COOKIE = "nmc_token"
PLATFORMS = ("SpiNNaker", "BrainScaleS", "BrainScaleS-ESS", "Spikey")
PLOT_TIMEOUT_S = 120
STYLE = """
body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.finished{color:#070}.error{color:#b00}.running{color:#a60}.submitted{color:#555}
pre{background:#f4f4f4;padding:1em;overflow:auto;max-height:40em}
textarea{width:100%;font-family:monospace}label{display:block;margin-top:.8em;font-weight:bold}
nav a{margin-right:1em}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def add_pages(app, state, submit: Callable, about: Callable, SubmittedJob: type) -> None:  # noqa: N803
    """Register the pages on ``app`` (``submit`` is the API's submission function, ``about`` its "/"
    answer for clients that do not ask for HTML, ``SubmittedJob`` the API's job model: passed in, so that
    the pages never import the app that imports them)."""

    def csrf(token: str) -> str:
        return hmac.new(state.secret, b"csrf\0" + hashlib.sha256(token.encode()).digest(), hashlib.sha256).hexdigest()

    def who(request: Request):
        token = request.cookies.get(COOKIE)
        ident = state.auth.user(f"Bearer {token}") if token else None
        return ident, token

    def page(title: str, body: str, ident=None, refresh: int | None = None, status: int = 200) -> HTMLResponse:
        meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
        nav = ""
        if ident is not None:
            nav = (f'<nav><a href="/">Jobs</a><a href="/new">Submit a job</a> signed in as <b>{esc(ident.user)}</b> '
                   f'<form method="post" action="/logout" style="display:inline"><input type="hidden" name="csrf" '
                   f'value="{{csrf}}"><button id="logout">Sign out</button></form></nav>')
        return HTMLResponse(f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
                            f'<link rel="icon" href="data:,"><title>{esc(title)} - nmcluster Job Manager</title>'
                            f'<style>{STYLE}</style></head><body>{nav}<h1>{esc(title)}</h1>{body}</body></html>',
                            status_code=status, headers={"Content-Security-Policy": "default-src 'self'; "
                                                         "style-src 'unsafe-inline'; img-src 'self' data:",
                                                         "X-Frame-Options": "DENY", "Cache-Control": "no-store"})

    def render(title: str, body: str, ident, token: str, **kw) -> HTMLResponse:
        resp = page(title, body, ident, **kw)
        resp.body = resp.body.replace(b"{csrf}", csrf(token).encode())
        resp.headers["content-length"] = str(len(resp.body))
        return resp

    def login_page(message: str = "", status: int = 200) -> HTMLResponse:
        note = f'<p class="error">{esc(message)}</p>' if message else ""
        return page("Sign in", f'{note}<form method="post" action="/login"><label for="token">Access token '
                               f'(from your site admin: nmcluster admin token create)</label>'
                               f'<input id="token" name="token" type="password" size="60" autocomplete="off">'
                               f'<button id="signin">Sign in</button></form>', status=status)

    def check_csrf(token: str, value: str) -> None:
        if not hmac.compare_digest(value or "", csrf(token)):
            raise HTTPException(403, "the form is stale or came from another site: reload the page")

    @app.get("/")
    def index(request: Request):
        if "text/html" not in request.headers.get("accept", ""):
            # for_users.py ``about_this_api`` at "/": what the client's get_server_info() reads
            return JSONResponse(about())
        ident, token = who(request)
        if ident is None:
            return login_page()
        rows = state.store.list_jobs(state.collabs_of(ident.user), ident.user, size=200)
        lines = []
        for r in rows:
            r = state.refresh(r)[0]
            lines.append(f'<tr><td><a href="/job/{r["id"]}">{r["id"]}</a></td><td class="{esc(r["status"])}">'
                         f'{esc(r["status"])}</td><td>{esc(r["platform"])}</td><td>{esc(r["collab"])}</td>'
                         f'<td>{esc(r["user"])}</td><td>{esc(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["timestamp_submission"])))}</td>'
                         f'<td>{esc(", ".join(r["tags"]))}</td></tr>')
        table = ('<table id="jobs"><tr><th>Job</th><th>Status</th><th>Platform</th><th>Collab</th><th>User</th>'
                 '<th>Submitted</th><th>Tags</th></tr>' + "".join(lines) + "</table>") if lines else "<p>No jobs yet.</p>"
        pending = any(state.refresh(r)[0]["status"] not in ("finished", "error") for r in rows[:50])
        return render("Jobs", table, ident, token, refresh=5 if pending else None)

    @app.post("/login")
    def login(request: Request, token: str = Form("", max_length=4096)):
        if state.auth.user(f"Bearer {token.strip()}") is None:
            return login_page("That token is not valid (expired or revoked?).", status=401)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=8 * 3600)  # https behind the proxy
        return resp

    @app.post("/logout")
    def logout(request: Request, csrf_field: str = Form("", alias="csrf")):
        ident, token = who(request)
        if ident is not None:
            check_csrf(token, csrf_field)
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    def form_page(ident, token, values: dict[str, str], error: str = "", status: int = 200) -> HTMLResponse:
        collabs = state.collabs_of(ident.user)
        opts = "".join(f'<option{" selected" if p == values.get("platform") else ""}>{esc(p)}</option>' for p in PLATFORMS)
        copts = "".join(f'<option{" selected" if c == values.get("collab") else ""}>{esc(c)}</option>' for c in collabs)
        note = f'<p class="error" id="form-error">{esc(error)}</p>' if error else ""
        body = (f'{note}<form method="post" action="/new"><input type="hidden" name="csrf" value="{{csrf}}">'
                f'<label for="platform">Platform</label><select id="platform" name="platform">{opts}</select>'
                f'<label for="collab">Collab</label><select id="collab" name="collab">{copts}</select>'
                f'<label for="code">Code: the script, or the URL of a git repository or an archive</label>'
                f'<textarea id="code" name="code" rows="16">{esc(values.get("code", ""))}</textarea>'
                f'<label for="command">Command</label><input id="command" name="command" size="60" '
                f'value="{esc(values.get("command", "run.py {system}"))}">'
                f'<label for="hardware_config">Hardware config (JSON)</label><textarea id="hardware_config" '
                f'name="hardware_config" rows="3">{esc(values.get("hardware_config", ""))}</textarea>'
                f'<label for="tags">Tags (comma-separated)</label><input id="tags" name="tags" size="60" '
                f'value="{esc(values.get("tags", ""))}"><p><button id="submit">Submit</button></p></form>')
        return render("Submit a job", body, ident, token, status=status)

    @app.get("/new", response_class=HTMLResponse)
    def new_form(request: Request):
        ident, token = who(request)
        if ident is None:
            return RedirectResponse("/", status_code=303)
        return form_page(ident, token, {})

    @app.post("/new")
    def new_submit(request: Request, csrf_field: str = Form("", alias="csrf"), platform: str = Form(...),
                   collab: str = Form(...), code: str = Form(...), command: str = Form(""),
                   hardware_config: str = Form(""), tags: str = Form("")):
        ident, token = who(request)
        if ident is None:
            return RedirectResponse("/", status_code=303)
        check_csrf(token, csrf_field)
        values = dict(platform=platform, collab=collab, code=code, command=command,
                      hardware_config=hardware_config, tags=tags)
        try:
            hw = json.loads(hardware_config) if hardware_config.strip() else None
            if hw is not None and not isinstance(hw, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            return form_page(ident, token, values, f"hardware config: {exc}", 422)
        if collab not in state.collabs_of(ident.user):
            return form_page(ident, token, values, f"you are not a member of collab {collab}", 403)
        try:
            job = SubmittedJob(code=code.replace("\r\n", "\n"), command=command or None, collab=collab,
                               hardware_platform=platform, hardware_config=hw,
                               tags=[t.strip() for t in tags.split(",") if t.strip()] or None)
            job_id = submit(state, job, ident)
        except NmclusterError as exc:
            return form_page(ident, token, values, str(exc), 400)
        except ValueError as exc:  # pydantic's ValidationError
            return form_page(ident, token, values, str(exc).splitlines()[0], 422)
        return RedirectResponse(f"/job/{job_id}", status_code=303)

    @app.get("/job/{job_id}", response_class=HTMLResponse)
    def job_page(job_id: int, request: Request):
        ident, token = who(request)
        if ident is None:
            return RedirectResponse("/", status_code=303)
        row = state.visible_job(job_id, ident)
        job = state.job_dict(row, str(request.base_url).rstrip("/"), with_log=True)
        final = job["status"] in ("finished", "error")
        files = (job["output_data"] or {}).get("files", [])
        items = "".join(f'<li><a class="output" href="{esc(f["url"])}">{esc(f["path"].split("/", 1)[-1])}</a>'
                        f' ({esc(f["size"])} bytes)</li>' for f in files)
        plots = ""
        if final:
            for name in data_names(state, row)[:5]:
                for kind in ("raster", "membrane"):
                    if plot_path(state, row, name, kind) is not None:
                        plots += (f'<figure><img class="plot" alt="{esc(kind)} plot of {esc(name)}" '
                                  f'src="/job/{job_id}/plot/{kind}/{esc(urllib.parse.quote(name))}"><figcaption>{esc(kind)}: '
                                  f'{esc(name)}</figcaption></figure>')
        prov = job.get("provenance") or {}
        body = (f'<table id="details"><tr><th>Status</th><td id="status" class="{esc(job["status"])}">'
                f'{esc(job["status"])}</td></tr><tr><th>Platform</th><td>{esc(job["hardware_platform"])}</td></tr>'
                f'<tr><th>Collab</th><td>{esc(job["collab"])}</td></tr><tr><th>User</th><td>{esc(job["user_id"])}</td></tr>'
                f'<tr><th>Command</th><td><code>{esc(job["command"])}</code></td></tr>'
                f'<tr><th>Hardware config</th><td><code>{esc(json.dumps(job["hardware_config"] or {}))}</code></td></tr>'
                f'<tr><th>Backend</th><td>{esc(prov.get("backend"))}{" (emulated)" if prov.get("emulated") else ""}</td></tr>'
                f'<tr><th>Tags</th><td>{esc(", ".join(job["tags"]))}</td></tr>'
                f'<tr><th>Submitted</th><td>{esc(job["timestamp_submission"])}</td></tr>'
                f'<tr><th>Completed</th><td>{esc(job["timestamp_completion"])}</td></tr></table>'
                f'<h2>Output files</h2><ul id="outputs">{items or "<li>none yet</li>"}</ul>'
                f'<h2>Plots</h2><div id="plots">{plots or "<p>none</p>"}</div>'
                f'<h2>Log</h2><pre id="log">{esc(job.get("log") or "")}</pre>'
                f'<h2>Code</h2><pre id="code">{esc(job["code"])}</pre>')
        return render(f"Job {job_id}", body, ident, token, refresh=None if final else 2)

    @app.get("/job/{job_id}/plot/{kind}/{name:path}")
    def plot(job_id: int, kind: str, name: str, request: Request):
        ident, _ = who(request)
        if ident is None:
            raise HTTPException(401, "sign in first")
        row = state.visible_job(job_id, ident)
        if kind not in ("raster", "membrane") or name not in data_names(state, row):
            raise HTTPException(404, f"no {kind[:20]} plot of {name[:100]!r}")
        path = plot_path(state, row, name, kind)
        if path is None:
            raise HTTPException(404, f"no {kind} plot of {name[:100]!r} (nothing recorded?)")
        return FileResponse(path, media_type="image/png")


def data_names(state, row: dict[str, Any]) -> list[str]:
    from nmcluster.plotting import DATA_SUFFIXES

    row, rec = state.refresh(row)
    return [n for n in state.output_names(row, rec) if n.lower().endswith(DATA_SUFFIXES)]


def plot_path(state, row: dict[str, Any], name: str, kind: str) -> Path | None:
    """The PNG of one data file (drawn once by ``nmcluster plot`` in a subprocess, then cached); None when
    it cannot be drawn (e.g. no membrane recorded)."""
    row, rec = state.refresh(row)
    out_dir = state.output_dir(row, rec)
    if out_dir is None:
        return None
    cache = state.store.dir / "plots" / str(row["id"])
    key = hashlib.sha256(name.encode()).hexdigest()[:16]
    png, failed = cache / f"{kind}-{key}.png", cache / f"{kind}-{key}.failed"
    if png.exists():
        return png
    if failed.exists():
        return None
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        proc = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "plot", str(out_dir / name), "-o", str(png),
                               "--kind", kind], env=state.env, capture_output=True, text=True, timeout=PLOT_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
        ok = proc.returncode == 0 and png.exists()
    except subprocess.TimeoutExpired:
        ok = False
    if not ok:
        failed.write_text("")
        return None
    return png

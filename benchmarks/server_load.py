#!/usr/bin/env python3
"""Load on ``nmcluster serve``: 20 clients polling job status and 5 submitting jobs for 60 s, over HTTP on
127.0.0.1 with the local executor; requests per second, p50/p99 latency, and that nothing is lost (every job
whose submission got 201 is listed afterwards and ends ``finished``).

    python benchmarks/server_load.py [--duration 60] [--pollers 20] [--submitters 5] [--submit-interval 2]
                                     [--json out.json]

Bounded: each submitter waits ``--submit-interval`` s between jobs (each job is a Python process on this
machine), pollers poll as fast as the server answers.  The server runs in a fresh temporary directory.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "import sys\nopen('out.txt', 'w').write(' '.join(sys.argv[1:]))\n"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--pollers", type=int, default=20)
    ap.add_argument("--submitters", type=int, default=5)
    ap.add_argument("--submit-interval", type=float, default=2.0)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nmcluster-server-load-"))
    (tmp / "site.toml").write_text(f'job_root = "{tmp / "jobs"}"\nexecutor = "local"\n[server]\n'
                                   f'collabs = {{ "563" = ["alice"] }}\n')
    env = {**os.environ, "NMCLUSTER_CONFIG": str(tmp / "site.toml"), "HOME": str(tmp),
           "XDG_DATA_HOME": str(tmp / "data"), "PYTHONPATH": str(REPO)}
    env.pop("SLURM_CONF", None)
    nmc = [sys.executable, "-m", "nmcluster.cli.main"]
    token = subprocess.run([*nmc, "admin", "token", "create", "alice"], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*nmc, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(tmp / "server.log", "w"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(conn, method, path, body=None):
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, data, time.perf_counter() - t0

    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            call(c, "GET", "/about")
            break
        except OSError:
            time.sleep(0.1)
    submitted: list[int] = []
    poll_lat: list[float] = []
    submit_lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + args.duration
    body = json.dumps({"code": SCRIPT, "collab": "563", "hardware_platform": "SpiNNaker"})

    def submitter():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop:
            status, data, dt = call(conn, "POST", "/jobs/", body)
            with lock:
                if status == 201:
                    submitted.append(json.loads(data)["id"])
                    submit_lat.append(dt)
                else:
                    errors.append(f"POST {status} {data[:100]!r}")
            time.sleep(args.submit_interval)

    def poller():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop:
            with lock:
                ids = list(submitted[-50:])
            path = f"/jobs/{random.choice(ids)}" if ids and random.random() < 0.8 else "/jobs/?size=10"
            status, data, dt = call(conn, "GET", path)
            with lock:
                if status == 200:
                    poll_lat.append(dt)
                else:
                    errors.append(f"GET {path} {status}")

    threads = [threading.Thread(target=submitter) for _ in range(args.submitters)] + \
              [threading.Thread(target=poller) for _ in range(args.pollers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    # nothing lost: every accepted job is listed and ends finished
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    deadline = time.monotonic() + 300
    while True:
        _, data, _ = call(conn, "GET", "/jobs/?size=100000")
        listed = {j["id"]: j["status"] for j in json.loads(data)}
        pending = [i for i in submitted if listed.get(i) not in ("finished", "error")]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    server.terminate()
    server.wait(30)
    lost = [i for i in submitted if i not in listed]
    result = {
        "duration_s": round(elapsed, 1), "pollers": args.pollers, "submitters": args.submitters,
        "requests": len(poll_lat) + len(submit_lat), "requests_per_s": round((len(poll_lat) + len(submit_lat)) / elapsed, 1),
        "poll_p50_ms": round(pct(poll_lat, 50) * 1000, 1), "poll_p99_ms": round(pct(poll_lat, 99) * 1000, 1),
        "submit_p50_ms": round(pct(submit_lat, 50) * 1000, 1), "submit_p99_ms": round(pct(submit_lat, 99) * 1000, 1),
        "jobs_submitted": len(submitted), "jobs_lost": len(lost),
        "jobs_finished": sum(1 for i in submitted if listed.get(i) == "finished"),
        "jobs_not_final": len(pending), "errors": len(errors), "first_errors": errors[:5],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if not lost and not errors and not pending else 1


if __name__ == "__main__":
    sys.exit(main())

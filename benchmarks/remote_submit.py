#!/usr/bin/env python3
"""Remote submit latency over SSH against a local ``nmcluster submit``, measured in one run.

Starts the tests' throw-away OpenSSH server on 127.0.0.1 (``tests/remote/sshd_server.py``: own host key,
own client key, private remote HOME and site config, local executor), so it needs ``sshd`` and root (as
the tests do) but touches nothing of the user's.  Measured, median of ``--repeat`` runs each:

* ``nmcluster --host H submit exp -p spikey --input stim.txt``: the whole CLI (Python start, paramiko
  import, connect, ``info``, SFTP upload, remote submit) against its peer, the same command without
  ``--host``;
* ``RemoteService.submit`` on a fresh connection each time (connect + stage + submit, no Python start),
  against ``JobService.submit`` in-process;
* status on an open connection (``RemoteService.get``: one SSH channel running the frontend's
  ``nmcluster status --json`` in a login shell) against the floor of an SSH round trip (``true`` on the
  same connection), a local ``nmcluster status --json`` process and an in-process ``JobService.get``.

    python benchmarks/remote_submit.py [--repeat 10]

The loopback has no network latency: on a real link add about 4 round trips per submit (connect
handshake and authentication excluded) and 1 per status.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_sshd_server():
    spec = importlib.util.spec_from_file_location("nmcluster_bench_sshd", REPO / "tests" / "remote" / "sshd_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def run_cli(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    sshd_server = load_sshd_server()
    if sshd_server.find_sshd() is None:
        raise SystemExit("sshd is not installed (apt-get install openssh-server)")
    base = Path(tempfile.mkdtemp(prefix="nmcluster-bench-ssh-"))
    server = sshd_server.TestSshd(base / "sshd").start()
    try:
        work = base / "work"
        (work / "exp").mkdir(parents=True)
        (work / "exp" / "run.py").write_text("import sys\nopen('out.txt', 'w').write(sys.argv[1])\n")
        (work / "stim.txt").write_text("stimulus\n")
        local_config = base / "local-site.toml"
        local_config.write_text(f'job_root = "{base / "local-jobs"}"\nexecutor = "local"\n')
        cli = [sys.executable, "-m", "nmcluster.cli.main"]
        remote_env = server.client_env()
        local_env = dict(remote_env, NMCLUSTER_CONFIG=str(local_config))
        for var in ("MY_STAGE1_STATION", "NMCLUSTER_PARTITION", "NMCLUSTER_WAFER", "SLURM_CONF"):
            local_env.pop(var, None)
        submit_args = ["submit", "exp", "-p", "spikey", "--input", "stim.txt"]

        # in-process services (this process is the SSH client: its HOME is the test client's)
        os.environ.update(HOME=str(server.client_home))
        os.environ.pop("SSH_AUTH_SOCK", None)
        from nmcluster.config import load_config
        from nmcluster.jobs.service import JobService
        from nmcluster.jobs.spec import JobSpec
        from nmcluster.remote.remote import RemoteService

        spec = JobSpec.create(str(work / "exp"), "spikey", inputs=[str(work / "stim.txt")])
        local_service = JobService(site=load_config(local_config), executor="local")

        def remote_submit_fresh() -> None:
            with RemoteService(server.target) as s:
                s.submit(spec)

        # warm-up of every path (page cache, sshd, imports)
        run_cli([*cli, "--host", server.target, *submit_args], remote_env, work)
        run_cli([*cli, *submit_args], local_env, work)
        remote_submit_fresh()
        local_service.submit(spec)

        cli_remote = timed(lambda: run_cli([*cli, "--host", server.target, *submit_args], remote_env, work),
                           args.repeat)
        cli_local = timed(lambda: run_cli([*cli, *submit_args], local_env, work), args.repeat)
        api_remote = timed(remote_submit_fresh, args.repeat)
        api_local = timed(lambda: local_service.submit(spec), args.repeat)

        with RemoteService(server.target) as open_service:
            job = open_service.submit(spec).id
            open_service.get(job)
            status_remote = timed(lambda: open_service.get(job), args.repeat * 3)
            conn = open_service.connection
            ssh_floor = timed(lambda: conn.run("true"), args.repeat * 3)
            connect = timed(lambda: RemoteService(server.target).connection.close(), args.repeat)
        local_job = local_service.submit(spec).id
        status_local = timed(lambda: local_service.get(local_job), args.repeat * 3)
        status_cli = timed(lambda: run_cli([*cli, "status", str(local_job), "--json"], local_env, work), args.repeat)
        local_service.close()

        rows = [
            ("nmcluster --host H submit (whole CLI)", median_ms(cli_remote),
             f"{median_ms(cli_remote) / median_ms(cli_local):.2f}x local CLI, "
             f"+{median_ms(cli_remote) - median_ms(cli_local):.0f} ms"),
            ("nmcluster submit (local CLI, peer)", median_ms(cli_local), ""),
            ("RemoteService.submit, fresh connection", median_ms(api_remote),
             f"{median_ms(api_remote) / median_ms(api_local):.1f}x in-process JobService.submit"),
            ("  of which: connect + authenticate", median_ms(connect), ""),
            ("JobService.submit in-process (peer)", median_ms(api_local), ""),
            ("status on an open connection", median_ms(status_remote),
             f"{median_ms(status_remote) / median_ms(ssh_floor):.1f}x an SSH round trip"),
            ("  SSH exec `true` on the open connection", median_ms(ssh_floor), ""),
            ("nmcluster status N --json (local CLI, peer)", median_ms(status_cli),
             f"remote status is {median_ms(status_remote) / median_ms(status_cli):.2f}x this"),
            ("JobService.get in-process (peer)", median_ms(status_local), ""),
        ]
        print(f"repeat={args.repeat}, sshd on 127.0.0.1 (loopback, no network latency), local executor")
        print(f"{'measurement':<44} {'median ms':>10}  vs peer")
        for name, ms, note in rows:
            print(f"{name:<44} {ms:>10.1f}  {note}")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

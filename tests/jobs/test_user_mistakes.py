"""User mistakes on the job path exit 2 with one line and change nothing; ``results`` never overwrites."""

from __future__ import annotations

import time

import pytest

from nmcluster.errors import JobStateError, JobTimeoutError


def _one_line_exit_2(proc, text: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_results_default_dir_and_never_overwrite(local_site, experiment):
    job = local_site.submit(str(experiment), "-p", "spikey", "-c", "run.py {system}")
    assert local_site.wait(job)["status"] == "finished"
    first = local_site.cli("results", str(job), check=True)
    target = local_site.root / f"job_{job}" / "ran.txt"  # like the client's download_data
    assert first.stdout.split() == [str(target.relative_to(local_site.root))]
    target.write_text("edited by the user")
    again = local_site.cli("results", str(job))
    _one_line_exit_2(again, "exists")
    assert target.read_text() == "edited by the user"
    local_site.cli("results", str(job), "--force", check=True)
    assert target.read_text() != "edited by the user" and target.read_text().startswith("nmcluster")


def test_state_mistakes_exit_2(local_site, experiment):
    running = local_site.submit(str(experiment), "-p", "spinnaker", "-c", "main.py {system}")
    done = local_site.submit(str(experiment), "-p", "spikey", "-c", "run.py {system}")
    env = {**local_site.env, "SLEEP": "30"}
    slow = int(local_site.cli("submit", str(experiment), "-p", "spinnaker", "-c", "main.py", check=True,
                              env=env).stdout)
    local_site.wait(done)
    _one_line_exit_2(local_site.cli("cancel", str(done)), "has already ended")
    deadline = time.monotonic() + 30
    while local_site.record(slow)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    _one_line_exit_2(local_site.cli("remove", str(slow)), "cancel it first")
    _one_line_exit_2(local_site.cli("results", str(slow)), "results are available once it has finished")
    _one_line_exit_2(local_site.cli("plot", str(slow)), "is running: plot it once it has finished")
    assert local_site.record(slow)["status"] == "running"  # none of it touched the job
    local_site.cli("cancel", str(slow), check=True)
    local_site.wait(running)


def test_exit_codes_of_state_errors():
    assert JobStateError("x").exit_code == 2 and JobTimeoutError("x").exit_code == 1


def test_waiting_backs_off():
    """``wait`` polls after 0.2 s, then 1.5 times longer each time up to 10 s: 2 s of waiting read the
    record 6 times, not 10 (the old fixed 0.2 s); a job still running at the timeout: JobTimeoutError."""
    from itertools import islice
    from types import SimpleNamespace

    from nmcluster.jobs.service import poll_intervals, wait_until_final

    pauses = list(islice(poll_intervals(), 12))
    assert pauses[:4] == pytest.approx([0.2, 0.3, 0.45, 0.675]) and pauses[-1] == 10.0
    calls = []

    def get(job_id):
        calls.append(time.monotonic())
        return SimpleNamespace(id=job_id, status="running", final=False)

    t0 = time.monotonic()
    try:
        wait_until_final(get, 5, timeout=2.0, interval=0.2)
    except JobTimeoutError as exc:
        assert "job 5 is still running after 2 s" in str(exc)
    else:
        raise AssertionError("no timeout")
    assert 2.0 <= time.monotonic() - t0 < 2.6 and 5 <= len(calls) <= 7


def test_wait_progress_on_a_terminal_only(local_site, experiment):
    """``submit --wait`` shows a live line on a terminal and nothing when piped."""
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from nmcluster.cli.common import WaitProgress

    out = io.StringIO()
    with WaitProgress(2, console=Console(file=out, force_terminal=True, width=120)) as progress:
        running = SimpleNamespace(id=7, status="submitted", reason="Resources", final=False)
        assert progress.text(running).startswith("job 7 submitted: Resources (0 of 2 done), ")
        progress.update(running)
        done = SimpleNamespace(id=7, status="finished", reason="", final=True)
        assert progress.text(done).startswith("job 7 finished (1 of 2 done)")
    assert "job 7" in out.getvalue()  # drawn on the terminal
    piped = local_site.cli("submit", str(experiment), "-p", "spikey", "-c", "run.py {system}", "--wait",
                           check=True)
    assert piped.stdout.strip().isdigit() and piped.stderr == ""

"""The Slurm adapter against the real test cluster (scripts/test-cluster), plus its parsers.

The job that checks the jobcomp fallback is submitted when the module starts and checked last, so waiting
for slurmctld to forget it (MinJobAge=2, purge every 10 s) overlaps with the other tests.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nmcluster.errors import SlurmError, SlurmUnavailableError
from nmcluster.infra.slurmcli import (
    SlurmCLI,
    SlurmJobInfo,
    _job_from_json,
    _job_from_squeue_line,
    parse_jobcomp_line,
    split_wait_status,
)

# ------------------------------------------------------------------------------------------ helpers


def script(tmp: Path, name: str, body: str) -> Path:
    path = tmp / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def wait_final(cli: SlurmCLI, ids: list[str], timeout: float = 20.0) -> dict[str, SlurmJobInfo]:
    deadline = time.monotonic() + timeout
    while True:
        infos = cli.jobs(ids)
        if all(i in infos and infos[i].final for i in ids):
            return infos
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs not final after {timeout} s: {infos}")
        time.sleep(0.1)


def wait_state(cli: SlurmCLI, job_id: str, state: str, timeout: float = 10.0) -> SlurmJobInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = cli.job(job_id)
        if info is not None and info.state == state:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not {state} after {timeout} s: {info}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cli(slurm_cluster) -> SlurmCLI:
    return SlurmCLI(jobcomp_file=str(slurm_cluster.jobcomp_file))


@pytest.fixture(scope="module")
def early_job(cli, tmp_path_factory) -> str:
    """A job that fails with exit code 7 at once; test_jobcomp_fallback checks it after Slurm forgot it."""
    tmp = tmp_path_factory.mktemp("early")
    return cli.sbatch(script(tmp, "seven.sh", "exit 7"), ["-J", "nm early job", "-D", str(tmp),
                                                           "-o", str(tmp / "out")])


@pytest.fixture
def submit(cli, tmp_path):
    """sbatch a shell body with extra args; every job is cancelled at the end of the test."""
    ids: list[str] = []

    def _submit(body: str, *args: str, name: str = "job.sh") -> str:
        job_id = cli.sbatch(script(tmp_path, name, body), ["-D", str(tmp_path), "-o", str(tmp_path / "%j.out"),
                                                            *args])
        ids.append(job_id)
        return job_id

    yield _submit
    for job_id in ids:
        cli.cancel(job_id)


# ------------------------------------------------------------------------------ real cluster tests


def test_available_and_check(cli, early_job):
    t0 = time.monotonic()
    assert cli.available()
    cli.check()
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("partition, resources", [
    ("batch", []),
    ("spikey", ["--gres=station:s500:1"]),
    ("spikey", ["--gres=station:1"]),  # any free station
    ("wafer", ["-L", "W33F34,W33F12"]),
    ("spinnaker", ["-L", "spinnaker_board:2"]),
])
def test_sbatch_each_partition(cli, submit, tmp_path, partition, resources):
    marker = tmp_path / "ran"
    job_id = submit(f'echo "$SLURM_JOB_PARTITION" > {marker}', "-p", partition, *resources)
    assert re.fullmatch(r"\d+", job_id)
    info = wait_final(cli, [job_id])[job_id]
    assert (info.state, info.exit_code, info.signal) == ("COMPLETED", 0, 0)
    assert info.partition == partition and info.nodes and info.source in ("squeue", "jobcomp")
    assert info.submit_time and info.start_time and info.end_time
    assert info.submit_time <= info.start_time <= info.end_time <= time.time() + 1
    assert marker.read_text().strip() == partition


def test_states_and_exit_code(cli, submit):
    job_id = submit("sleep 1; exit 3", "-p", "spikey", "--gres=station:s501:1", name="fail.sh")
    running = wait_state(cli, job_id, "RUNNING")
    assert running.exit_code is None and running.end_time is None and running.start_time
    info = wait_final(cli, [job_id])[job_id]
    assert (info.state, info.exit_code, info.signal, info.reason) == ("FAILED", 3, 0, "NonZeroExitCode")
    assert info.name == "fail.sh"
    via_scontrol = cli.scontrol_job(job_id)
    assert via_scontrol is not None and (via_scontrol.state, via_scontrol.exit_code) == ("FAILED", 3)


def test_pending_on_busy_licence_then_cancel(cli, submit):
    holder = submit("sleep 30", "-p", "wafer", "-L", "W37F47")
    wait_state(cli, holder, "RUNNING")
    waiter = submit("true", "-p", "wafer", "-L", "W37F47")
    pending = wait_state(cli, waiter, "PENDING")
    assert pending.start_time is None and pending.exit_code is None
    assert cli.licenses()["W37F47"] == (1, 1)
    cli.cancel(waiter)
    cli.cancel(holder)
    infos = wait_final(cli, [holder, waiter])
    assert infos[holder].state == infos[waiter].state == "CANCELLED"
    cli.cancel(holder)  # already ended: not an error
    cli.cancel("99999999")  # unknown to Slurm: not an error


def test_same_station_or_licence_never_overlaps(cli, submit, tmp_path):
    body = 'date +%s.%N > {out}.start; sleep 0.7; date +%s.%N > {out}.end'
    groups = {"station": ["-p", "spikey", "--gres=station:s502:1"], "fpga": ["-p", "wafer", "-L", "W33F7"]}
    ids = {}
    for group, args in groups.items():
        for k in range(2):
            out = tmp_path / f"{group}{k}"
            ids[(group, k)] = submit(body.format(out=out), *args)
    wait_final(cli, list(ids.values()), timeout=30)
    for group in groups:
        spans = sorted((float((tmp_path / f"{group}{k}.start").read_text()),
                        float((tmp_path / f"{group}{k}.end").read_text())) for k in range(2))
        assert spans[0][1] <= spans[1][0], f"two jobs on the same {group} overlapped: {spans}"


def test_jobs_unknown_ids_are_absent(cli, submit):
    job_id = submit("true")
    wait_final(cli, [job_id])
    assert set(cli.jobs([job_id, "99999998", "99999999"])) == {job_id}
    assert cli.jobs(["99999999"]) == {}
    assert cli.job("99999999") is None
    assert cli.jobs([]) == {}


def test_licences(cli, slurm_cluster):
    from nmcluster.config import load_config

    config = load_config(slurm_cluster.site_config_path)
    lic = cli.licenses()
    fpgas = sum(len(w.fpgas) for w in config.wafers.values())
    assert len(lic) == fpgas + 1
    assert lic["W33F34"][0] == 1 and lic["W37F0"][0] == 1
    assert lic["spinnaker_board"][0] == len(config.boards)


def test_invalid_requests_give_slurms_message(cli, tmp_path):
    job = script(tmp_path, "x.sh", "true")
    cases = {
        "Invalid generic resource (gres) specification": ["--gres=nosuchgres:1"],
        "Invalid partition name specified": ["-p", "nosuchpartition"],
        "Invalid license specification": ["-L", "W99F1"],
        # the site's job_submit.lua (scripts/test-cluster deploys it) explains what Slurm alone cannot
        "nmcluster site rules: station s999 is not a station of this site (s500, s501, s502, s600)":
            ["-p", "spikey", "--gres=station:s999:1"],
    }
    for message, args in cases.items():
        with pytest.raises(SlurmError) as err:
            cli.sbatch(job, args)
        assert not isinstance(err.value, SlurmUnavailableError)
        assert str(err.value) == message


def test_srun_argv(cli):
    argv = cli.srun_argv(["-p", "spikey", "--gres=station:s600:1"],
                         ["sh", "-c", 'echo "$SLURM_JOB_PARTITION"; exit 4'])
    assert Path(argv[0]).name == "srun"
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 4 and proc.stdout.strip() == "spikey"


def test_controller_down_is_unavailable(slurm_cluster, tmp_path):
    text = slurm_cluster.slurm_conf.read_text()
    down = tmp_path / "slurm.conf"
    down.write_text(re.sub(r"(?m)^SlurmctldPort=\d+", f"SlurmctldPort={free_port()}", text))
    cli = SlurmCLI(env={**os.environ, "SLURM_CONF": str(down)})
    t0 = time.monotonic()
    assert not cli.available()
    assert time.monotonic() - t0 < 1.0
    for call in (cli.check, lambda: cli.sbatch(script(tmp_path, "x.sh", "true"), []),
                 lambda: cli.jobs(["1"]), cli.licenses, lambda: cli.cancel("1")):
        with pytest.raises(SlurmUnavailableError, match=r"^Slurm is not answering: "):
            call()
    assert time.monotonic() - t0 < 5.0  # fails fast (no 10 s MessageTimeout retries)


def test_no_configuration_or_no_binaries_is_unavailable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    missing_conf = SlurmCLI(env={**env, "SLURM_CONF": str(tmp_path / "nope.conf")})
    assert not missing_conf.available()
    with pytest.raises(SlurmUnavailableError, match="^Slurm is not answering"):
        missing_conf.check()
    no_binaries = SlurmCLI(env={"PATH": str(tmp_path)})
    assert not no_binaries.available()
    with pytest.raises(SlurmUnavailableError, match=r"^Slurm is not answering: \w+ is not installed"):
        no_binaries.sbatch(tmp_path / "x.sh", [])


def test_hung_controller_times_out(tmp_path):
    """A tool that never answers (firewalled controller) must not hang auto-selection."""
    fake = tmp_path / "bin"
    fake.mkdir()
    script(fake, "scontrol", "sleep 30 & wait")
    cli = SlurmCLI(env={"PATH": f"{fake}:{os.environ['PATH']}"}, timeout=1.5)
    t0 = time.monotonic()
    assert not cli.available()
    assert time.monotonic() - t0 < 1.5
    with pytest.raises(SlurmUnavailableError, match="gave no answer within 1.5 s"):
        cli.check()


def test_jobcomp_fallback_after_slurm_forgot(cli, early_job):
    """Runs last: by now slurmctld has (almost) purged the early job (MinJobAge=2, purge every 10 s)."""
    deadline = time.monotonic() + 30
    while cli._squeue([early_job]):
        assert time.monotonic() < deadline, "slurmctld never forgot the job (MinJobAge)"
        time.sleep(0.25)
    assert cli.scontrol_job(early_job) is None
    info = cli.job(early_job)
    assert info is not None and info.source == "jobcomp"
    assert (info.state, info.exit_code, info.signal) == ("FAILED", 7, 0)
    assert info.name == "nm early job" and info.partition == "batch"
    assert info.start_time and info.end_time and info.submit_time
    without = SlurmCLI()  # no jobcomp file configured: a forgotten job is simply unknown
    assert without.job(early_job) is None


def test_cancelled_pending_array_tasks_read_as_cancelled(cli, submit):
    """Tasks of a held array never leave the array's meta record; cancelled, they get no jobcomp line of
    their own, only the meta record's ``JobId=<array>`` line without ``ArrayTaskId``: each reads as
    CANCELLED from it (before, an nmcluster array task cancelled while queued read as "lost")."""
    array = submit("exit 0", "--hold", "--array=0-2")
    cli.cancel(array)
    deadline = time.monotonic() + 30
    wanted = [f"{array}_{t}" for t in range(3)]
    while cli._squeue(wanted, array=True):
        assert time.monotonic() < deadline, "slurmctld never forgot the array (MinJobAge)"
        time.sleep(0.25)
    got = cli.jobs(wanted)
    assert sorted(got) == wanted and {i.state for i in got.values()} == {"CANCELLED"}
    assert {i.source for i in got.values()} == {"jobcomp"}


# -------------------------------------------------------------------------------- parsers (no Slurm)


def test_parse_jobcomp_line():
    line = ("JobId=310 UserId=root(0) GroupId=root(0) Name=my name|x y JobState=CANCELLED Partition=batch "
            "TimeLimit=UNLIMITED StartTime=2026-11-25T19:13:26 EndTime=2026-11-25T19:13:27 NodeList=vm "
            "NodeCnt=1 ProcCnt=1 WorkDir=/tmp/a b ReservationName= Tres=cpu=1,mem=1M,node=1,billing=1 "
            "Account= QOS= WcKey= Cluster=unknown SubmitTime=2026-11-25T19:13:25 EligibleTime=unknown "
            "DerivedExitCode=0:0 ExitCode=0:9 \n")
    info = parse_jobcomp_line(line)
    assert info is not None
    assert (info.job_id, info.state, info.name, info.partition, info.nodes) == \
        ("310", "CANCELLED", "my name|x y", "batch", "vm")
    assert (info.exit_code, info.signal, info.source) == (0, 9, "jobcomp")
    assert info.end_time - info.start_time == 1 and info.start_time - info.submit_time == 1
    assert parse_jobcomp_line("garbage\n") is None


def test_read_jobcomp_last_line_wins(tmp_path):
    f = tmp_path / "jobcomp.txt"
    lines = [f"JobId={i} UserId=u(1) GroupId=g(1) Name=n JobState=COMPLETED Partition=p StartTime=Unknown "
             f"EndTime=Unknown NodeList=(null) ExitCode=0:0" for i in range(1, 5000)]
    lines.append("JobId=12 UserId=u(1) GroupId=g(1) Name=n JobState=NODE_FAIL Partition=p ExitCode=1:0")
    f.write_text("\n".join(lines) + "\n")
    cli = SlurmCLI(jobcomp_file=str(f))
    got = cli.read_jobcomp(["12", "1", "4999", "123456"])
    assert set(got) == {"12", "1", "4999"}
    assert (got["12"].state, got["12"].exit_code) == ("NODE_FAIL", 1)
    assert got["1"].start_time is None and got["1"].nodes == ""
    assert SlurmCLI(jobcomp_file=str(tmp_path / "missing")).read_jobcomp(["1"]) == {}


def test_parse_squeue_line_and_wait_status():
    assert split_wait_status(768) == (3, 0) and split_wait_status(9) == (0, 9)
    info = _job_from_squeue_line("42|FAILED|NonZeroExitCode|512|2026-11-25T19:12:06|2026-11-25T19:12:06|"
                                 "2026-11-25T19:12:07|spikey|vm|a|b c|")
    assert info is not None
    assert (info.state, info.exit_code, info.signal, info.name, info.reason) == \
        ("FAILED", 2, 0, "a|b c", "NonZeroExitCode")
    running = _job_from_squeue_line("43|RUNNING|None|0|2026-11-25T19:12:06|2026-11-25T19:12:06|"
                                    "2026-11-25T20:12:06|batch|vm|x|")
    assert running.exit_code is None and running.end_time is None and running.reason == ""
    pending = _job_from_squeue_line("44|PENDING|Licenses|0|2026-11-25T19:12:06|2026-11-25T20:00:00|"
                                    "N/A|wafer|||")
    assert pending.start_time is None and pending.reason == "Licenses" and pending.nodes == ""


def test_parse_squeue_json_job():
    job = {"job_id": 3, "job_state": "FAILED", "state_reason": "NonZeroExitCode", "exit_code": 768,
           "submit_time": 1795633899, "start_time": 1795633899, "end_time": 1795633900,
           "partition": "spikey", "name": "wrap", "nodes": "vm", "array_task_id": None, "array_job_id": 0}
    info = _job_from_json(job)
    assert (info.job_id, info.state, info.exit_code, info.end_time) == ("3", "FAILED", 3, 1795633900.0)


def test_failure_classification():
    cli = SlurmCLI()

    def failed(stderr: str) -> Exception:
        return cli._failure("sbatch", subprocess.CompletedProcess(["sbatch"], 1, "", stderr))

    down = failed("sbatch: error: Batch job submission failed: Unable to contact slurm controller "
                  "(connect failure)\n")
    assert isinstance(down, SlurmUnavailableError)
    assert str(down) == "Slurm is not answering: Unable to contact slurm controller (connect failure)"
    gres = failed("sbatch: error: Invalid generic resource (gres) specification\n")
    assert type(gres) is SlurmError and str(gres) == "Invalid generic resource (gres) specification"
    part = failed("sbatch: error: invalid partition specified: x\n"
                  "sbatch: error: Batch job submission failed: Invalid partition name specified\n")
    assert type(part) is SlurmError and str(part) == "Invalid partition name specified"
    noconf = failed("squeue: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\n"
                    "squeue: fatal: Could not establish a configuration source\n")
    assert isinstance(noconf, SlurmUnavailableError) and "SLURM_CONF" in str(noconf)


def test_module_import_is_cheap():
    code = ("import sys, nmcluster.infra.slurmcli as m; "
            "bad = {'json', 'numpy', 'click', 'rich', 'asyncio'} & set(sys.modules); print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
